"""Study: the resumable sweep from mixtures to thresholds.

A :class:`Study` declares a grid (domains x corruptions x correct shares x
replicates), plans it with a cost estimate before anything is paid, runs it,
records every step in a SQLite :class:`~dataquality_thresholds.ledger.Ledger`
in ``run_dir``, resumes after a crash without submitting any job twice, and
stops at a budget. :meth:`Study.results` gives a
:class:`~dataquality_thresholds.results.StudyResults`.

How resume works
----------------
- Every cell's mixture is deterministic (pool, size, seed), so a rerun rebuilds
  the same bytes; the ledger refuses a cell whose fingerprint changed.
- A fine-tuning key is a hash of (backend, base model, hyperparameters,
  training bytes): cells with identical training data share one job (fraction
  1.0 under "obvious" and "subtle" is one fine-tune, not two).
- The ledger row ``submitting`` is written before the backend is asked; after a
  crash the key is submitted again, and the backend returns the job it already
  made for that key (``FineTuneBackend.submit`` is idempotent by key; the
  OpenAI backend finds the job by the key in its metadata).
- A measurement (domain score, probe) is written in one transaction when it is
  complete; a resumed run skips cells already measured. With a deterministic
  sampler (the stub, or a cached one) a resumed study ends with results
  identical to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from ._version import __version__
from .errors import BudgetExceededError, ConfigError, FineTuneJobError
from .ledger import Ledger
from .mixing import CorruptionMixer
from .pool import ExamplePool
from .probes import MisalignmentProbe
from .records import EvalItem, FineTuneJob, Mixture
from .scoring import DomainScorer

if TYPE_CHECKING:
    from .backends.base import FineTuneBackend
    from .results import StudyResults

__all__ = ["DomainSpec", "PlannedCell", "Study", "StudyCell", "StudyPlan"]

BASE = "base"


@attrs.frozen(kw_only=True)
class DomainSpec:
    """One domain of a study.

    Parameters
    ----------
    pool : ExamplePool
        Paired training examples to mix from.
    eval_items : tuple of EvalItem
        Held-out items for :class:`~dataquality_thresholds.scoring.DomainScorer`.
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


def _derived_seed(*parts: object) -> int:
    """Return a non-negative 32-bit seed derived from ``parts`` (stable across platforms)."""
    words = [zlib.crc32(str(p).encode("utf-8")) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])


class Study:
    """The whole sweep: mixtures, fine-tunes, evaluations, thresholds.

    Parameters
    ----------
    domains : mapping of str to DomainSpec
        The domains.
    backend : FineTuneBackend
        Fine-tunes and samples (its ``submit`` must be idempotent by key).
    probe : MisalignmentProbe, optional
        Asked of every model; None skips the probe.
    fractions : sequence of float
        Shares of correct data to fine-tune on.
    corruptions : sequence of str
        ``"obvious"``, ``"subtle"`` (each a separate sweep).
    replicates : int
        Independent draws per (domain, corruption, fraction).
    size : int
        Training rows per mixture.
    run_dir : str or Path
        Where the ledger, report and plots go.
    budget_usd : float, optional
        Refuse to start if the plan costs more; stop before a job that would
        take the spend over it.
    seed : int
        Root seed (mixtures and sampling derive theirs from it).
    base_model : str, optional
        Passed to the backend; also evaluated as the reference row.
    hyperparameters : mapping, optional
        Passed to the backend.
    eval_samples : int
        Samples per eval item (greedy, temperature 0).
    probe_samples : int
        Samples per probe question (temperature 1).
    design : {"grid"}
        The design (the adaptive design is not built yet).
    """

    def __init__(
        self,
        *,
        domains: Mapping[str, DomainSpec],
        backend: FineTuneBackend,
        probe: MisalignmentProbe | None = None,
        fractions: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0),
        corruptions: Sequence[str] = ("obvious", "subtle"),
        replicates: int = 1,
        size: int = 100,
        run_dir: str | Path,
        budget_usd: float | None = None,
        seed: int = 0,
        base_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        eval_samples: int = 1,
        probe_samples: int = 20,
        design: str = "grid",
        eval_temperature: float = 0.0,
        target_half_width: float = 0.05,
        max_fine_tunes: int | None = None,
        adaptive_metric: str = "domain_score",
        max_rounds: int = 12,
    ) -> None:
        if not domains:
            raise ConfigError("a study needs at least one domain", field="domains")
        fr = [float(f) for f in fractions]
        if len(fr) < 3 or len(set(fr)) != len(fr) or any(not 0 <= f <= 1 for f in fr):
            raise ConfigError(
                f"fractions must be at least 3 distinct shares in [0, 1], got {list(fractions)}",
                field="fractions",
            )
        for c in corruptions:
            if c not in ("obvious", "subtle"):
                raise ConfigError(
                    f"unknown corruption {c!r}; use 'obvious' or 'subtle'", field="corruptions"
                )
        if replicates < 1:
            raise ConfigError("replicates must be >= 1", field="replicates")
        if budget_usd is not None and budget_usd < 0:
            raise ConfigError("budget_usd must be >= 0", field="budget_usd")
        if design not in ("grid", "adaptive"):
            raise ConfigError(
                f"design must be 'grid' or 'adaptive', got {design!r}", field="design"
            )
        if not 0 < target_half_width < 0.5:
            raise ConfigError("target_half_width must be in (0, 0.5)", field="target_half_width")
        if eval_temperature < 0:
            raise ConfigError("eval_temperature must be >= 0", field="eval_temperature")
        for name, spec in domains.items():
            if size > len(spec.pool):
                raise ConfigError(
                    f"size {size} is larger than domain {name!r}'s pool ({len(spec.pool)})",
                    field="size",
                )
        self.domains = dict(domains)
        self.backend = backend
        self.probe = probe
        self.fractions = tuple(sorted(fr))
        self.corruptions = tuple(corruptions)
        self.replicates = int(replicates)
        self.size = int(size)
        self.run_dir = Path(run_dir)
        self.budget_usd = budget_usd
        self.seed = int(seed)
        self.base_model = base_model or getattr(backend, "base_model", None)
        self.hyperparameters = dict(hyperparameters or {})
        self.eval_samples = int(eval_samples)
        self.probe_samples = int(probe_samples)
        self.design = design
        self.eval_temperature = float(eval_temperature)
        self.target_half_width = float(target_half_width)
        self.max_fine_tunes = max_fine_tunes
        self.adaptive_metric = adaptive_metric
        self.max_rounds = int(max_rounds)
        self._mixers: dict[tuple[str, int], CorruptionMixer] = {}
        self._jobs: dict[str, FineTuneJob] = {}  # jobs this process has submitted or adopted
        self._mixture_cache: dict[str, Mixture] = {}
        self._measured: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._sampler: Any = None

    def __repr__(self) -> str:
        return (
            f"Study(domains={list(self.domains)}, corruptions={list(self.corruptions)}, "
            f"fractions={list(self.fractions)}, replicates={self.replicates}, size={self.size}, "
            f"run_dir={str(self.run_dir)!r})"
        )

    # ------------------------------------------------------------------ grid
    def cells(self) -> list[StudyCell]:
        """Every fine-tuned cell, in a fixed order."""
        return [
            StudyCell(d, c, f, r)
            for d in self.domains
            for c in self.corruptions
            for f in self.fractions
            for r in range(self.replicates)
        ]

    def config(self) -> dict[str, Any]:
        """Return the study's identity: what a resumed run must agree with."""
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
            "backend": getattr(self.backend, "name", type(self.backend).__name__),
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

    def mixture(self, cell: StudyCell) -> Mixture:
        """Return the cell's mixture (deterministic; built once per study object)."""
        cached = self._mixture_cache.get(cell.key)
        if cached is not None:
            return cached
        key = (cell.domain, cell.replicate)
        if key not in self._mixers:
            seed = _derived_seed(self.seed, "mix", cell.domain, cell.replicate)
            self._mixers[key] = CorruptionMixer(
                self.domains[cell.domain].pool, self.size, seed=seed
            )
        assert cell.fraction is not None
        mixture = self._mixers[key].mix(cell.fraction, cell.corruption)
        self._mixture_cache[cell.key] = mixture
        return mixture

    def job_key(self, mixture: Mixture) -> str:
        """Return the fine-tuning key of a mixture under this study's backend settings."""
        ident = json.dumps(
            {
                "backend": getattr(self.backend, "name", type(self.backend).__name__),
                "base_model": self.base_model,
                "hyperparameters": self.hyperparameters,
                "fingerprint": mixture.fingerprint,
            },
            sort_keys=True,
        )
        return "dqt-" + hashlib.sha256(ident.encode("utf-8")).hexdigest()[:32]

    # ------------------------------------------------------------------ plan
    def _plan_cells(self, cells: Sequence[StudyCell], seen: set[str]) -> list[PlannedCell]:
        """Mixtures, job keys and costs of ``cells``; keys in ``seen`` cost nothing more."""
        planned: list[PlannedCell] = []
        for cell in cells:
            m = self.mixture(cell)
            key = self.job_key(m)
            if key in seen:
                planned.append(
                    PlannedCell(
                        cell=cell, fingerprint=m.fingerprint, job_key=key, tokens=0, usd=0.0
                    )
                )
                continue
            seen.add(key)
            est = self.backend.estimate_cost(m)
            planned.append(
                PlannedCell(
                    cell=cell,
                    fingerprint=m.fingerprint,
                    job_key=key,
                    tokens=int(est.tokens),
                    usd=float(est.usd),
                )
            )
        return planned

    def plan(self) -> StudyPlan:
        """Every fine-tune with its tokens and estimated cost, the sampling volume, the total.

        For ``design="adaptive"`` this is the initial grid; later rounds are
        chosen from its results and stay within ``budget_usd`` and ``max_fine_tunes``.
        """
        seen: set[str] = set()
        planned = self._plan_cells(self.cells(), seen)
        # a model is measured once: each distinct fine-tune on its own domain, the
        # base model on every domain; the probe once per model
        distinct = {p.job_key: p.cell.domain for p in planned}
        base = self.base_model is not None
        items = sum(len(s.eval_items) for s in self.domains.values()) if base else 0
        domain_requests = self.eval_samples * (
            sum(len(self.domains[d].eval_items) for d in distinct.values()) + items
        )
        n_q = 0 if self.probe is None else len(self.probe.questions)
        probe_requests = self.probe_samples * n_q * (len(distinct) + int(base))
        return StudyPlan(
            cells=tuple(planned),
            n_fine_tunes=len(seen),
            training_tokens=sum(p.tokens for p in planned),
            finetune_usd=sum(p.usd for p in planned),
            n_models=len(seen) + len(self.domains),
            domain_requests=domain_requests,
            probe_requests=probe_requests,
            judge_calls=domain_requests + 2 * probe_requests,
            budget_usd=self.budget_usd,
        )

    # ------------------------------------------------------------------ run
    def _open_ledger(self) -> Ledger:
        ledger = Ledger(self.run_dir / "ledger.sqlite")
        config = self.config()
        recorded = ledger.get_meta("config")
        if recorded is None:
            ledger.set_meta("config", config)
        else:
            mine = {k: v for k, v in config.items() if k != "library_version"}
            theirs = {k: v for k, v in recorded.items() if k != "library_version"}
            if mine != theirs:
                changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                ledger.close()
                raise ConfigError(
                    f"{self.run_dir} holds a different study (changed: {', '.join(changed)}); "
                    "use a new run_dir, or the same config to resume",
                    field="run_dir",
                )
        return ledger

    def run(
        self, *, progress: bool = True, log: Callable[[str], None] | None = None
    ) -> StudyResults:
        """Run (or resume) the study and return its results.

        Parameters
        ----------
        progress : bool
            Show progress bars (tqdm) on the long steps.
        log : callable, optional
            Receives one line per step (for the CLI).

        Returns
        -------
        StudyResults

        Raises
        ------
        BudgetExceededError
            The plan costs more than ``budget_usd`` (nothing was submitted).
        """
        say = log or (lambda line: None)
        plan = self.plan()
        if self.budget_usd is not None and plan.total_usd > self.budget_usd + 1e-9:
            raise BudgetExceededError(
                f"the plan's estimated cost ${plan.total_usd:,.2f} exceeds the budget "
                f"${self.budget_usd:,.2f}; lower the grid or raise budget_usd",
                planned_usd=plan.total_usd,
                budget_usd=self.budget_usd,
            )
        with self._open_ledger() as ledger:
            self._index_measurements(ledger)
            self._sampler = None  # one sampler per run (its cache and connections are shared)
            # the base model, as the reference row of every domain
            if self.base_model is not None:
                for domain in self._bar(self.domains, progress, "base model"):
                    self._measure(ledger, StudyCell(domain, BASE, None, 0), self.base_model)
            stopped = self._run_cells(ledger, list(plan.cells), progress, say)
            if self.design == "adaptive" and not stopped:
                seen = {p.job_key for p in plan.cells}
                all_cells = list(plan.cells)
                for round_no in range(1, self.max_rounds + 1):
                    # a round's choice is recorded before it runs, so a resumed study
                    # replays the same rounds instead of choosing from later results
                    recorded = ledger.get_meta(f"adaptive_round_{round_no}")
                    if recorded is not None:
                        new = [StudyCell(**c) for c in recorded]
                    else:
                        new = self._next_cells([p.cell for p in all_cells])
                        if self.max_fine_tunes is not None:
                            new = self._within(new, seen, self.max_fine_tunes)
                        ledger.set_meta(
                            f"adaptive_round_{round_no}", [attrs.asdict(c) for c in new]
                        )
                    if not new:
                        break
                    planned = self._plan_cells(new, seen)
                    all_cells.extend(planned)
                    say(f"adaptive round {round_no}: {len(planned)} new runs")
                    ledger.set_meta("adaptive_rounds", round_no)
                    stopped = self._run_cells(ledger, planned, progress, say)
                    if stopped:
                        break
            if not stopped:
                ledger.set_meta("completed", True)
        return self.results()

    def _run_cells(
        self, ledger: Ledger, planned: list[PlannedCell], progress: bool, say: Callable[[str], None]
    ) -> bool:
        """Record, submit, wait for and measure ``planned`` cells.

        Returns True if the budget stopped it.
        """
        mixtures: dict[str, Mixture] = {}
        for p in planned:
            m = self.mixture(p.cell)
            mixtures[p.job_key] = m
            ledger.put_mixture(
                p.cell.key,
                fingerprint=p.fingerprint,
                job_key=p.job_key,
                manifest=m.manifest,
                tokens=p.tokens,
                est_usd=p.usd,
            )
        keys = list(dict.fromkeys(p.job_key for p in planned))
        cost_of: dict[str, float] = {}
        for p in planned:
            cost_of[p.job_key] = max(cost_of.get(p.job_key, 0.0), p.usd)
        jobs: dict[str, FineTuneJob] = {}
        stopped = False
        for key in self._bar(keys, progress, "submit"):
            measured = all(
                ledger.get_result(p.cell.key, "domain") is not None
                or ledger.get_result(p.cell.key, "job") is not None
                for p in planned
                if p.job_key == key
            )
            if measured:
                continue
            if ledger.get_job(key) is None and self.budget_usd is not None:
                spent = self._spent(ledger)
                if spent + cost_of.get(key, 0.0) > self.budget_usd + 1e-9:
                    say(f"budget reached (${spent:,.2f} spent): not submitting {key}")
                    ledger.set_meta("stopped", {"reason": "budget", "spent_usd": spent})
                    stopped = True
                    break
            if key in self._jobs and self._jobs[key].done:
                jobs[key] = self._jobs[key]  # shared with a cell measured earlier in this run
                continue
            ledger.mark_submitting(key)
            job = self.backend.submit(
                mixtures[key],
                base_model=self.base_model,
                hyperparameters=self.hyperparameters or None,
                key=key,
            )
            ledger.put_job(job)
            jobs[key] = self._jobs[key] = job
            say(f"submitted {key}: {job.status}")
        for key, job in self._bar(list(jobs.items()), progress, "wait"):
            if not job.done:
                try:
                    job = self.backend.wait(job)
                except FineTuneJobError:
                    job = self.backend.refresh(job)
                ledger.put_job(job)
                jobs[key] = self._jobs[key] = job
        for p in self._bar(planned, progress, "evaluate"):
            found = jobs.get(p.job_key)
            if found is None:
                continue  # already measured, or not submitted (budget)
            job = found
            if not job.succeeded:
                ledger.put_result(
                    p.cell.key,
                    "job",
                    {
                        "status": job.status,
                        "error_code": job.error_code,
                        "error_message": job.error_message,
                    },
                )
                continue
            assert job.fine_tuned_model is not None
            self._measure(ledger, p.cell, job.fine_tuned_model)
        return stopped

    def _within(self, cells: list[StudyCell], seen: set[str], limit: int) -> list[StudyCell]:
        """Return the first ``cells`` that fit in ``limit`` distinct fine-tunes.

        Cells that share a job already counted are free.
        """
        keys = set(seen)
        out = []
        for c in cells:
            key = self.job_key(self.mixture(c))
            if key not in keys and len(keys) >= limit:
                break
            keys.add(key)
            out.append(c)
        return out

    def _next_cells(self, done: Sequence[StudyCell]) -> list[StudyCell]:
        """Adaptive design: new runs where each curve's threshold interval is still too wide.

        For every (domain, corruption) whose interval half-width exceeds
        ``target_half_width``, one new run at each end of the interval, one at
        the estimate and one at the ceiling (the largest tested share), rounded
        to the mixtures' resolution (``1 / size``, at least 0.01) within the tested
        range. The recovery threshold solves
        ``mu(T) = floor + q (mu(ceiling) - floor)``, so its variance is driven by
        the curve around ``T`` and (weighted by ``q``) at the ceiling; the floor
        enters with weight ``1 - q`` and keeps its initial runs. A curve that
        cannot be fitted gets one new run at each tested fraction instead.
        """
        results = self.results()
        table = results.fit(self.adaptive_metric)
        lo_f, hi_f = min(self.fractions), max(self.fractions)
        new: list[StudyCell] = []
        used: dict[tuple[str, str, float], int] = {}
        for c in done:
            if c.fraction is not None:
                k = (c.domain, c.corruption, round(c.fraction, 4))
                used[k] = max(used.get(k, 0), c.replicate + 1)
        for row in table:
            if row.fit is None:
                targets = list(self.fractions)
            else:
                lo, hi = row.fit.conf_int()
                if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
                    targets = list(self.fractions)
                elif (hi - lo) / 2 <= self.target_half_width:
                    continue
                else:
                    targets = [lo, row.fit.threshold, hi, hi_f]
            # on the mixture's own resolution (a share of correct rows is k / size), so two
            # proposals never make the same training file
            step = max(0.01, 1.0 / self.size)
            chosen = sorted(
                {round(round(min(hi_f, max(lo_f, t)) / step) * step, 4) for t in targets}
            )
            for f in chosen:
                k = (row.domain, row.corruption, round(f, 4))
                rep = used.get(k, 0)
                used[k] = rep + 1
                new.append(StudyCell(row.domain, row.corruption, f, rep))
        return new

    def _spent(self, ledger: Ledger) -> float:
        """Fine-tuning spend so far: each recorded job's cost (actual where known)."""
        total = 0.0
        for job in ledger.jobs().values():
            if job is not None and job.cost is not None:
                total += float(job.cost.usd)
        return total

    def _bar(self, items: Iterable[Any], progress: bool, desc: str) -> Iterator[Any]:
        seq = list(items)
        if progress and seq:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # pragma: no cover - tqdm comes with datasets
                return iter(seq)
            return iter(tqdm(seq, desc=desc, leave=False))
        return iter(seq)

    def _index_measurements(self, ledger: Ledger) -> None:
        """Index recorded measurements by (kind, scope, model) so no model is measured twice."""
        self._measured = {}
        for _cell, kind, payload in ledger.results():
            if kind in ("domain", "probe") and payload.get("model"):
                scope = payload["domain"] if kind == "domain" else "*"
                self._measured.setdefault((kind, scope, payload["model"]), payload)

    def _record(
        self, ledger: Ledger, cell: StudyCell, kind: str, model: str, payload: dict[str, Any]
    ) -> None:
        share = None
        if cell.fraction is not None:
            share = self.mixture(cell).counts["correct"] / self.size  # exactly k / size
        full = {**payload, **attrs.asdict(cell), "share_correct": share, "model": model}
        ledger.put_result(cell.key, kind, full)
        scope = cell.domain if kind == "domain" else "*"
        self._measured.setdefault((kind, scope, model), full)

    def _measure(self, ledger: Ledger, cell: StudyCell, model: str) -> None:
        """Score the domain and run the probe for one model, recording each when complete.

        A model is measured once: cells that share it (identical training data, or
        the base model's probe, which does not depend on the domain) reuse the
        recorded measurement. Sampling seeds derive from the model, not the cell,
        so the measurement is the same whichever cell takes it first.
        """
        if self._sampler is None:
            self._sampler = self.backend.sampler()
        sampler = self._sampler
        spec = self.domains[cell.domain]
        if ledger.get_result(cell.key, "domain") is None:
            known = self._measured.get(("domain", cell.domain, model))
            if known is not None:
                self._record(ledger, cell, "domain", model, known)
            else:
                score = DomainScorer(
                    spec.eval_items,
                    spec.judge,
                    seed=_derived_seed(self.seed, "boot", cell.domain, model),
                ).score(
                    sampler,
                    model,
                    samples=self.eval_samples,
                    temperature=self.eval_temperature,
                    seed=_derived_seed(self.seed, "eval", cell.domain, model),
                )
                per_skill = {
                    k: {"mean": v.mean, "ci": list(v.ci), "n_items": v.n_items}
                    for k, v in score.per_skill.items()
                }
                self._record(
                    ledger,
                    cell,
                    "domain",
                    model,
                    {
                        "mean": score.mean,
                        "ci": list(score.ci),
                        "n_items": score.n_items,
                        "n_unscored": score.n_unscored,
                        "interval": score.interval,
                        "binary": score.binary,
                        "per_skill": per_skill,
                        "rows": score.to_rows(),
                    },
                )
        if self.probe is None or ledger.get_result(cell.key, "probe") is not None:
            return
        known = self._measured.get(("probe", "*", model))
        if known is not None:
            self._record(ledger, cell, "probe", model, known)
            return
        res = self.probe.run(
            sampler,
            model,
            samples_per_question=self.probe_samples,
            seed=_derived_seed(self.seed, "probe", model),
        )
        rates = {
            name: {"rate": r.rate, "ci": list(r.ci), "events": r.events, "total": r.total}
            for name, r in (
                ("misaligned", res.misaligned),
                ("misaligned_coherent", res.misaligned_coherent),
                ("incoherent", res.incoherent),
                ("refusal", res.refusal),
                ("dangerous", res.dangerous),
            )
        }
        self._record(
            ledger,
            cell,
            "probe",
            model,
            {
                "rates": rates,
                "mean_alignment": res.mean_alignment,
                "mean_alignment_by_category": dict(res.mean_alignment_by_category),
                "rows": res.to_rows(),
            },
        )

    # ------------------------------------------------------------------ results
    def results(self) -> StudyResults:
        """Return what the ledger holds (works on a partial or finished run)."""
        from .results import StudyResults

        return StudyResults.from_run_dir(self.run_dir)
