"""Study: the resumable sweep from mixtures to thresholds.

A :class:`Study` declares a grid (domains x corruptions x correct shares x
replicates), plans it with a cost estimate before anything is paid, runs it,
records every step in a SQLite :class:`~dataquality_thresholds.study.Ledger`
in ``run_dir``, resumes after a crash without submitting any job twice, and
stops at a budget. :meth:`Study.results` gives a
:class:`~dataquality_thresholds.study.StudyResults`.

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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataquality_thresholds._version import __version__
from dataquality_thresholds.backends import FineTuneJob
from dataquality_thresholds.errors import BudgetExceededError, ConfigError
from dataquality_thresholds.evaluation import MisalignmentProbe
from dataquality_thresholds.mixing import CorruptionMixer, Mixture
from dataquality_thresholds.study import _adaptive as _study_adaptive
from dataquality_thresholds.study import _measure as _study_measure
from dataquality_thresholds.study import _plan as _study_plan
from dataquality_thresholds.study import _run as _study_run
from dataquality_thresholds.study._design import BASE, DomainSpec, PlannedCell, StudyCell, StudyPlan
from dataquality_thresholds.study._design import derived_seed as _derived_seed
from dataquality_thresholds.study._ledger import Ledger

if TYPE_CHECKING:
    from dataquality_thresholds.backends import FineTuneBackend
    from dataquality_thresholds.study._results import StudyResults

__all__ = ["DomainSpec", "PlannedCell", "Study", "StudyCell", "StudyPlan"]


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
    design : {"grid", "adaptive"}
        ``"grid"`` runs ``fractions`` x ``replicates`` once. ``"adaptive"`` runs that
        grid as its first round, then adds runs around each curve's threshold
        interval while its half-width exceeds ``target_half_width`` (see
        docs/study.md; it does not yet save fine-tunes over the grid).
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
        return _study_plan.plan_cells(self, cells, seen)

    def plan(self) -> StudyPlan:
        """Every fine-tune with its tokens and estimated cost, the sampling volume, the total.

        For ``design="adaptive"`` this is the initial grid; later rounds are
        chosen from its results and stay within ``budget_usd`` and ``max_fine_tunes``.
        """
        return _study_plan.build_plan(self)

    # ------------------------------------------------------------------ run
    def _open_ledger(self) -> Ledger:
        return _study_run.open_ledger(self)

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
                stopped = _study_adaptive.run_rounds(self, ledger, plan, progress, say)
            if not stopped:
                ledger.set_meta("completed", True)
        return self.results()

    def _run_cells(
        self, ledger: Ledger, planned: list[PlannedCell], progress: bool, say: Callable[[str], None]
    ) -> bool:
        """Record, submit, wait for and measure ``planned`` cells.

        Returns True if the budget stopped it.
        """
        return _study_run.run_cells(self, ledger, planned, progress, say)

    # ------------------------------------------------------------------ adaptive
    def _within(self, cells: list[StudyCell], seen: set[str], limit: int) -> list[StudyCell]:
        """Return the first ``cells`` that fit in ``limit`` distinct fine-tunes.

        Cells that share a job already counted are free.
        """
        return _study_adaptive.within(self, cells, seen, limit)

    def _next_cells(self, done: Sequence[StudyCell]) -> list[StudyCell]:
        """Adaptive design: new runs where each curve's threshold interval is still too wide."""
        return _study_adaptive.next_cells(self, done)

    def _spent(self, ledger: Ledger) -> float:
        """Fine-tuning spend so far: each recorded job's cost (actual where known)."""
        return _study_run.spent(ledger)

    def _bar(self, items: Iterable[Any], progress: bool, desc: str) -> Iterator[Any]:
        return _study_run.progress_bar(items, progress, desc)

    # ------------------------------------------------------------------ measure
    def _index_measurements(self, ledger: Ledger) -> None:
        """Index recorded measurements by (kind, scope, model) so no model is measured twice."""
        _study_measure.index_measurements(self, ledger)

    def _record(
        self, ledger: Ledger, cell: StudyCell, kind: str, model: str, payload: dict[str, Any]
    ) -> None:
        _study_measure.record(self, ledger, cell, kind, model, payload)

    def _measure(self, ledger: Ledger, cell: StudyCell, model: str) -> None:
        """Score the domain and run the probe for one model, recording each when complete."""
        _study_measure.measure(self, ledger, cell, model)

    # ------------------------------------------------------------------ results
    def results(self) -> StudyResults:
        """Return what the ledger holds (works on a partial or finished run)."""
        from dataquality_thresholds.study._results import StudyResults

        return StudyResults.from_run_dir(self.run_dir)
