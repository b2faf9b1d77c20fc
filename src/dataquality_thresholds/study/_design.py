"""Records of a study: its domains, grid cells and cost plan.

:class:`DomainSpec`, :class:`StudyCell`, :class:`PlannedCell` and
:class:`StudyPlan` are re-exported (and documented) by
:mod:`dataquality_thresholds.study`; :func:`derived_seed` gives the per-cell and
per-model seeds a study derives from its root seed.
"""

from __future__ import annotations

import zlib
from typing import Any

import attrs
import numpy as np

from dataquality_thresholds.mixing import ExamplePool
from dataquality_thresholds.records import EvalItem

__all__ = ["BASE", "DomainSpec", "PlannedCell", "StudyCell", "StudyPlan", "derived_seed"]

BASE = "base"


@attrs.frozen(kw_only=True)
class DomainSpec:
    """One domain of a study.

    Parameters
    ----------
    pool : ExamplePool
        Paired training examples to mix from.
    eval_items : tuple of EvalItem
        Held-out items for :class:`~dataquality_thresholds.evaluation.DomainScorer`.
    judge : Judge
        Scores answers to the eval items.
    """

    pool: ExamplePool
    eval_items: tuple[EvalItem, ...] = attrs.field(converter=tuple)
    judge: Any


@attrs.frozen
class StudyCell:
    """One point of the grid (``corruption == "base"`` for the base-model row).

    Parameters
    ----------
    domain, corruption : str
        Where.
    fraction : float or None
        Share of correct training data (None for the base model).
    replicate : int
        Replicate index (a new draw of prompts and corruption).
    """

    domain: str
    corruption: str
    fraction: float | None
    replicate: int

    @property
    def key(self) -> str:
        """Stable text key, e.g. ``finance/subtle/f0.2500/r1`` or ``finance/base``."""
        if self.fraction is None:
            return f"{self.domain}/{BASE}"
        return f"{self.domain}/{self.corruption}/f{self.fraction:.4f}/r{self.replicate}"


@attrs.frozen(kw_only=True)
class PlannedCell:
    """A cell with what its fine-tune will cost.

    Parameters
    ----------
    cell : StudyCell
        The cell.
    fingerprint : str
        sha256 of its training file.
    job_key : str
        The fine-tuning key (shared by cells with identical training data).
    tokens : int
        Training tokens per epoch.
    usd : float
        Estimated fine-tuning cost (0 when the job is shared with an earlier cell).
    """

    cell: StudyCell
    fingerprint: str
    job_key: str
    tokens: int
    usd: float


@attrs.frozen(kw_only=True)
class StudyPlan:
    """What a study will do and cost, before anything is paid.

    Parameters
    ----------
    cells : tuple of PlannedCell
        Every fine-tuned cell.
    n_fine_tunes : int
        Distinct fine-tuning jobs.
    training_tokens : int
        Tokens per epoch over all distinct jobs.
    finetune_usd : float
        Estimated fine-tuning cost (the backend's estimate).
    n_models : int
        Models evaluated (fine-tunes plus one base-model row per domain).
    domain_requests : int
        Answers sampled for domain evaluation.
    probe_requests : int
        Answers sampled for the misalignment probe.
    judge_calls : int
        Judgments requested.
    budget_usd : float or None
        The study's budget.
    """

    cells: tuple[PlannedCell, ...]
    n_fine_tunes: int
    training_tokens: int
    finetune_usd: float
    n_models: int
    domain_requests: int
    probe_requests: int
    judge_calls: int
    budget_usd: float | None

    @property
    def total_usd(self) -> float:
        """Estimated fine-tuning spend (sampling and judging are not priced here)."""
        return self.finetune_usd

    def summary(self) -> str:
        """Return a short text summary."""
        lines = [
            f"fine-tunes: {self.n_fine_tunes} distinct jobs for {len(self.cells)} cells, "
            f"{self.training_tokens:,} training tokens per epoch",
            f"estimated fine-tuning cost: ${self.finetune_usd:,.2f}"
            + (f" (budget ${self.budget_usd:,.2f})" if self.budget_usd is not None else ""),
            f"models evaluated: {self.n_models}; "
            f"sampled answers: {self.domain_requests:,} domain + "
            f"{self.probe_requests:,} probe; judge calls: {self.judge_calls:,}",
            "sampling and judging are not priced in this estimate",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def derived_seed(*parts: object) -> int:
    """Return a non-negative 32-bit seed derived from ``parts`` (stable across platforms)."""
    words = [zlib.crc32(str(p).encode("utf-8")) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])
