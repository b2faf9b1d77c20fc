"""Records of a study: its design, domains, grid cells and cost plan.

:class:`StudySpec` (the whole design: what the :class:`~dataquality_thresholds.study.Study`
constructor validates), :class:`DomainSpec`, :class:`StudyCell`, :class:`PlannedCell` and
:class:`StudyPlan` are re-exported (and documented) by
:mod:`dataquality_thresholds.study`; :func:`derived_seed` gives the per-cell and
per-model seeds a study derives from its root seed.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np

from dataquality_thresholds._util.validators import check_nonneg_number, check_share, str_tuple
from dataquality_thresholds._version import __version__
from dataquality_thresholds.backends import CostEstimate, FineTuneBackend
from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.evaluation import MisalignmentProbe
from dataquality_thresholds.mixing import CorruptionMixer, ExamplePool, Mixture
from dataquality_thresholds.records import EvalItem

__all__ = [
    "BASE",
    "PROBE_MAX_TOKENS",
    "DomainSpec",
    "PlannedCell",
    "StudyCell",
    "StudyPlan",
    "StudySpec",
    "derived_seed",
]

BASE = "base"
#: A probe answer's cap (and priced length) when neither the study (``probe_max_tokens``)
#: nor the probe (a ``max_tokens`` attribute) sets one: ``MisalignmentProbe.run``'s default.
PROBE_MAX_TOKENS = 600


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
    estimate : CostEstimate, optional
        The backend's estimate of the job (None when shared with an earlier cell).
    """

    cell: StudyCell
    fingerprint: str
    job_key: str
    tokens: int
    usd: float
    estimate: CostEstimate | None = None


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
    domain_usd : float
        Estimated cost of sampling every model on its domain's eval items
        (fine-tuned models at their inference price, the base model at its own).
    probe_usd : float
        Estimated cost of sampling the misalignment probe (answers priced at the
        probe's cap, ``probe_max_tokens``: an upper bound).
    judge_usd : float
        Estimated cost of the judge calls (LLM judges only; offline judges are free).
    sampling_priced : bool
        Whether the backend prices sampling (False for local backends, whose
        sampling costs compute, not money).
    notes : tuple of str
        What could not be priced (a model missing from the price table).
    price_date : str, optional
        The date of the price table used.
    probe_max_tokens : int
        The probe answers' cap, the length they are priced at.
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
    domain_usd: float = 0.0
    probe_usd: float = 0.0
    judge_usd: float = 0.0
    sampling_priced: bool = False
    notes: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    price_date: str | None = None
    probe_max_tokens: int = PROBE_MAX_TOKENS

    @property
    def total_usd(self) -> float:
        """Estimated spend: fine-tuning, domain and probe sampling, and judging."""
        return self.finetune_usd + self.domain_usd + self.probe_usd + self.judge_usd

    def summary_lines(self) -> list[str]:
        """Return the plan as lines of text: each priced part, then the total and budget.

        Returns
        -------
        list of str
            No prompt or question: a CLI prints them and asks for confirmation itself.
        """
        digits = 2 if self.total_usd >= 10 else 4

        def usd(value: float) -> str:
            return f"{'$' + format(value, f',.{digits}f'):>12}"

        notes = [f"prices of {self.price_date}"] if self.price_date else []
        if self.budget_usd is not None:
            notes.append(f"budget ${self.budget_usd:,.2f}")
        lines = [
            f"fine-tunes: {self.n_fine_tunes} distinct jobs for {len(self.cells)} cells, "
            f"{self.training_tokens:,} training tokens per epoch",
            f"estimated fine-tuning cost:     {usd(self.finetune_usd)}",
            f"estimated domain sampling cost: {usd(self.domain_usd)}  "
            f"({self.domain_requests:,} answers, {self.n_models} models)",
            f"estimated probe sampling cost:  {usd(self.probe_usd)}  "
            f"({self.probe_requests:,} answers, at most {self.probe_max_tokens:,} tokens each)",
            f"estimated judge cost:           {usd(self.judge_usd)}  ({self.judge_calls:,} calls)",
            f"estimated total:                {usd(self.total_usd)}"
            + (f"  ({'; '.join(notes)})" if notes else ""),
        ]
        if not self.sampling_priced:
            lines.append("  sampling the models is not charged by this backend (local)")
        lines += [f"  not priced: {note}" for note in self.notes]
        return lines

    def summary(self) -> str:
        """Return a short text summary (:meth:`summary_lines`, joined)."""
        return "\n".join(self.summary_lines())

    def __str__(self) -> str:
        return self.summary()


def derived_seed(*parts: object) -> int:
    """Return a non-negative 32-bit seed derived from ``parts`` (stable across platforms)."""
    words = [zlib.crc32(str(p).encode("utf-8")) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])


# ---------------------------------------------------------------------- the design record
def _domains(value: Mapping[str, DomainSpec]) -> Mapping[str, DomainSpec]:
    """Return a read-only copy of ``value`` (one already read-only is kept as it is)."""
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


def _domains_repr(value: Mapping[str, DomainSpec]) -> str:
    return repr(list(value))


def _fractions(value: Iterable[float]) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(
            f"fractions must be a sequence of shares, got {value!r}", field="fractions"
        )
    return tuple(sorted(check_share(f, "fractions") for f in value))


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _whole(value: Any, field: str) -> int:
    """Convert a whole number (an int, not a bool, a float or a string) or raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{field} must be a whole number, got {value!r}", field=field)
    return int(value)


# One named converter per field (mypy's attrs plugin takes named functions only).
def _replicates(value: Any) -> int:
    return _whole(value, "replicates")


def _size(value: Any) -> int:
    return _whole(value, "size")


def _seed(value: Any) -> int:
    return _whole(value, "seed")


def _eval_samples(value: Any) -> int:
    return _whole(value, "eval_samples")


def _probe_samples(value: Any) -> int:
    return _whole(value, "probe_samples")


def _max_rounds(value: Any) -> int:
    return _whole(value, "max_rounds")


def _probe_max_tokens(value: Any) -> int | None:
    if value is not None and _whole(value, "probe_max_tokens") < 1:
        raise ConfigError(f"probe_max_tokens must be >= 1, got {value!r}", field="probe_max_tokens")
    return None if value is None else int(value)


def _hyperparameters(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _backend_base_model(spec: StudySpec) -> str | None:
    return getattr(spec.backend, "base_model", None)


def _has_domains(
    inst: StudySpec, attribute: attrs.Attribute[Any], value: Mapping[str, DomainSpec]
) -> None:
    if not value:
        raise ConfigError("a study needs at least one domain", field="domains")


def _check_fractions(
    inst: StudySpec, attribute: attrs.Attribute[Any], value: tuple[float, ...]
) -> None:
    if len(value) < 3 or len(set(value)) != len(value) or any(not 0 <= f <= 1 for f in value):
        raise ConfigError(
            f"fractions must be at least 3 distinct shares in [0, 1], got {list(value)}",
            field="fractions",
        )


def _check_corruptions(
    inst: StudySpec, attribute: attrs.Attribute[Any], value: tuple[str, ...]
) -> None:
    for c in value:
        if c not in ("obvious", "subtle"):
            raise ConfigError(
                f"unknown corruption {c!r}; use 'obvious' or 'subtle'", field="corruptions"
            )


def _check_replicates(inst: StudySpec, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 1:
        raise ConfigError("replicates must be >= 1", field="replicates")


def _check_size(inst: StudySpec, attribute: attrs.Attribute[Any], value: int) -> None:
    for name, spec in inst.domains.items():
        if value > len(spec.pool):
            raise ConfigError(
                f"size {value} is larger than domain {name!r}'s pool ({len(spec.pool)})",
                field="size",
            )


def _check_budget(inst: StudySpec, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None:
        check_nonneg_number(value, "budget_usd")  # bools, NaN and infinity refused


def _check_design(inst: StudySpec, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("grid", "adaptive"):
        raise ConfigError(f"design must be 'grid' or 'adaptive', got {value!r}", field="design")


def _check_temperature(inst: StudySpec, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 <= value < float("inf"):  # NaN refused too
        raise ConfigError(
            f"eval_temperature must be a finite number >= 0, got {value!r}",
            field="eval_temperature",
        )


def _check_half_width(inst: StudySpec, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 < value < 0.5:
        raise ConfigError("target_half_width must be in (0, 0.5)", field="target_half_width")


@attrs.frozen(kw_only=True)
class StudySpec:
    """The design of a study: its grid, backend, probe, budget and sampling settings.

    What :class:`~dataquality_thresholds.study.Study` builds from its arguments and
    hands to the engine (plan, run, measure, adaptive rounds). It holds no run state;
    change it with :func:`attrs.evolve`, which validates again.

    Parameters
    ----------
    domains : mapping of str to DomainSpec
        The domains (kept as a read-only copy).
    backend : FineTuneBackend
        Fine-tunes and samples (its ``submit`` must be idempotent by key). Not
        compared by ``==``.
    probe : MisalignmentProbe, optional
        Asked of every model; None skips the probe. Not compared by ``==``.
    fractions : sequence of float
        Shares of correct data to fine-tune on (kept sorted).
    corruptions : sequence of str
        ``"obvious"``, ``"subtle"`` (each a separate sweep).
    replicates : int
        Independent draws per (domain, corruption, fraction).
    size : int
        Training rows per mixture (at most every domain's pool).
    run_dir : str or Path
        Where the ledger, report and plots go.
    budget_usd : float, optional
        Refuse to start if the plan costs more; stop before a job that would take
        the spend over it.
    seed : int
        Root seed (mixtures and sampling derive theirs from it).
    base_model : str, optional
        Passed to the backend; also evaluated as the reference row. Defaults to the
        backend's ``base_model`` attribute, if it has one.
    hyperparameters : mapping, optional
        Passed to the backend.
    eval_samples : int
        Samples per eval item.
    probe_samples : int
        Samples per probe question (temperature 1).
    probe_max_tokens : int, optional
        Cap on a probe answer's tokens (the ``max_tokens`` of the probe's requests),
        and the length the plan and the budget guard price each probe answer at. None:
        the probe's own ``max_tokens`` attribute if it has one, else
        :data:`PROBE_MAX_TOKENS` (600); see :attr:`probe_cap`.
    design : {"grid", "adaptive"}
        ``"grid"`` runs ``fractions`` x ``replicates`` once; ``"adaptive"`` runs that
        grid as its first round, then adds runs around each curve's threshold interval
        while its half-width exceeds ``target_half_width``.
    eval_temperature : float
        Sampling temperature of the domain evaluation.
    target_half_width : float
        Adaptive design: stop refining a curve once its threshold interval's
        half-width is at most this.
    max_fine_tunes : int, optional
        Adaptive design: the most fine-tunes in all rounds together.
    adaptive_metric : str
        Adaptive design: the metric whose threshold interval steers the rounds.
    max_rounds : int
        Adaptive design: the most rounds after the first.

    Raises
    ------
    ConfigError
        A field is out of range (``field`` names it): no domain, fewer than 3
        distinct fractions or one outside [0, 1], an unknown corruption,
        ``replicates < 1``, ``size`` larger than a domain's pool, a negative budget,
        an unknown design, a negative ``eval_temperature``, or
        ``target_half_width`` outside (0, 0.5).

    See Also
    --------
    dataquality_thresholds.study.Study : the facade that plans and runs a design.
    """

    domains: Mapping[str, DomainSpec] = attrs.field(
        converter=_domains, validator=_has_domains, repr=_domains_repr
    )
    backend: FineTuneBackend = attrs.field(eq=False)
    probe: MisalignmentProbe | None = attrs.field(default=None, eq=False)
    fractions: tuple[float, ...] = attrs.field(
        default=(0.1, 0.25, 0.5, 0.75, 0.9, 1.0), converter=_fractions, validator=_check_fractions
    )
    corruptions: tuple[str, ...] = attrs.field(
        default=("obvious", "subtle"), converter=_strings, validator=_check_corruptions
    )
    replicates: int = attrs.field(default=1, converter=_replicates, validator=_check_replicates)
    size: int = attrs.field(default=100, converter=_size, validator=_check_size)
    run_dir: Path = attrs.field(converter=Path)
    budget_usd: float | None = attrs.field(default=None, validator=_check_budget)
    seed: int = attrs.field(default=0, converter=_seed)
    base_model: str | None = attrs.field(
        default=attrs.Factory(_backend_base_model, takes_self=True)
    )
    hyperparameters: dict[str, Any] = attrs.field(factory=dict, converter=_hyperparameters)
    eval_samples: int = attrs.field(default=1, converter=_eval_samples)
    probe_samples: int = attrs.field(default=20, converter=_probe_samples)
    probe_max_tokens: int | None = attrs.field(default=None, converter=_probe_max_tokens)
    design: str = attrs.field(default="grid", validator=_check_design)
    eval_temperature: float = attrs.field(
        default=0.0, converter=float, validator=_check_temperature
    )
    target_half_width: float = attrs.field(
        default=0.05, converter=float, validator=_check_half_width
    )
    max_fine_tunes: int | None = None
    adaptive_metric: str = "domain_score"
    max_rounds: int = attrs.field(default=12, converter=_max_rounds)

    @property
    def probe_cap(self) -> int:
        """The probe answers' cap: ``probe_max_tokens``, the probe's, or the default (600)."""
        if self.probe_max_tokens is not None:
            return self.probe_max_tokens
        own = getattr(self.probe, "max_tokens", None)
        if isinstance(own, int) and not isinstance(own, bool) and own >= 1:
            return own
        return PROBE_MAX_TOKENS

    @property
    def backend_name(self) -> str:
        """The backend's ``name`` attribute (its class name when it has none)."""
        name: str = getattr(self.backend, "name", type(self.backend).__name__)
        return name

    def cells(self) -> list[StudyCell]:
        """Return every fine-tuned cell of the grid, in a fixed order.

        Returns
        -------
        list of StudyCell
            Domain x corruption x fraction x replicate, in that nesting.
        """
        return [
            StudyCell(d, c, f, r)
            for d in self.domains
            for c in self.corruptions
            for f in self.fractions
            for r in range(self.replicates)
        ]

    def config(self) -> dict[str, Any]:
        """Return the study's identity: what a resumed run must agree with.

        Returns
        -------
        dict
            JSON-safe; written to the ledger on the first run and compared on every
            later one (``library_version`` aside).
        """
        return {
            "schema": "study_config",
            "schema_version": 1,
            "library_version": __version__,
            "domains": {
                name: {
                    "pool_fingerprint": spec.pool.fingerprint,
                    "eval_items": [it.id for it in spec.eval_items],
                    "judge": type(spec.judge).__name__,
                }
                for name, spec in self.domains.items()
            },
            "backend": self.backend_name,
            "base_model": self.base_model,
            "hyperparameters": self.hyperparameters,
            "probe": None if self.probe is None else [q.id for q in self.probe.questions],
            "fractions": list(self.fractions),
            "corruptions": list(self.corruptions),
            "replicates": self.replicates,
            "size": self.size,
            "seed": self.seed,
            "budget_usd": self.budget_usd,
            "eval_samples": self.eval_samples,
            "probe_samples": self.probe_samples,
            "design": self.design,
            "eval_temperature": self.eval_temperature,
            # recorded only when not the default, so run directories made before it resume
            **({"probe_max_tokens": self.probe_cap} if self.probe_cap != PROBE_MAX_TOKENS else {}),
            **(
                {
                    "target_half_width": self.target_half_width,
                    "max_fine_tunes": self.max_fine_tunes,
                    "adaptive_metric": self.adaptive_metric,
                    "max_rounds": self.max_rounds,
                }
                if self.design == "adaptive"
                else {}
            ),
        }

    def mixer(self, domain: str, replicate: int) -> CorruptionMixer:
        """Return a new mixer for one replicate of a domain (its seed derives from ``seed``).

        Parameters
        ----------
        domain : str
            A key of ``domains``.
        replicate : int
            The replicate index.

        Returns
        -------
        CorruptionMixer
        """
        seed = derived_seed(self.seed, "mix", domain, replicate)
        return CorruptionMixer(self.domains[domain].pool, self.size, seed=seed)

    def job_key(self, mixture: Mixture) -> str:
        """Return the fine-tuning key of a mixture under this design's backend settings.

        Parameters
        ----------
        mixture : Mixture
            The training set.

        Returns
        -------
        str
            ``"dqt-"`` and 32 hex digits of a sha256 over the backend's name, the base
            model, the hyperparameters and the mixture's fingerprint: cells with
            identical training data share one key (and one fine-tune).
        """
        ident = json.dumps(
            {
                "backend": self.backend_name,
                "base_model": self.base_model,
                "hyperparameters": self.hyperparameters,
                "fingerprint": mixture.fingerprint,
            },
            sort_keys=True,
        )
        return "dqt-" + hashlib.sha256(ident.encode("utf-8")).hexdigest()[:32]
