"""Study: the resumable sweep from mixtures to thresholds.

A :class:`Study` declares a grid (domains x corruptions x correct shares x
replicates), plans it with a cost estimate before anything is paid, runs it,
records every step in a SQLite :class:`~dataquality_thresholds.study.Ledger`
in ``run_dir``, resumes after a crash without submitting any job twice, and
stops at a budget. :meth:`Study.results` gives a
:class:`~dataquality_thresholds.study.StudyResults`.

``Study`` is a thin facade over the engine: its arguments become a frozen
:class:`~dataquality_thresholds.study.StudySpec`, and :meth:`Study.plan` and
:meth:`Study.run` hand that design (with the study's mixture memo) to the plan and
run engine, which never sees this object.

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

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs

from dataquality_thresholds.backends import FineTuneBackend, FineTuneJob
from dataquality_thresholds.evaluation import MisalignmentProbe
from dataquality_thresholds.mixing import Mixture
from dataquality_thresholds.study._design import (
    DomainSpec,
    PlannedCell,
    StudyCell,
    StudyPlan,
    StudySpec,
)
from dataquality_thresholds.study._money import backend_prices
from dataquality_thresholds.study._plan import build_plan
from dataquality_thresholds.study._run import cancel_jobs, run_study
from dataquality_thresholds.study._state import Mixtures
from dataquality_thresholds.study._status import RunStatus, run_status

if TYPE_CHECKING:
    from dataquality_thresholds.study._results import StudyResults

__all__ = ["DomainSpec", "PlannedCell", "Study", "StudyCell", "StudyPlan", "StudySpec"]

_T = TypeVar("_T")


class _FromSpec(Generic[_T]):
    """A :class:`Study` attribute read from its design; setting it evolves the design."""

    name: str

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _FromSpec[_T]: ...

    @overload
    def __get__(self, obj: Study, owner: type | None = None) -> _T: ...

    def __get__(self, obj: Study | None, owner: type | None = None) -> _T | _FromSpec[_T]:
        if obj is None:
            return self
        value: _T = getattr(obj.spec, self.name)
        return value

    def __set__(self, obj: Study, value: _T) -> None:
        obj._evolve(**{self.name: value})


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
    probe_max_tokens : int, optional
        Cap on a probe answer's tokens, and the length the plan prices each probe
        answer at; None: the probe's ``max_tokens`` attribute, else 600.
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

    Attributes
    ----------
    spec : StudySpec
        The design built from the arguments above (what the engine runs).
    domains, backend, probe, fractions, corruptions, replicates, size, run_dir, \
budget_usd, seed, base_model, hyperparameters, eval_samples, probe_samples, \
probe_max_tokens, design, eval_temperature, target_half_width, max_fine_tunes, \
adaptive_metric, max_rounds
        Read from :attr:`spec` (``fractions`` sorted, ``run_dir`` a ``Path``,
        ``domains`` read-only). Setting one (``study.run_dir = path``) replaces
        :attr:`spec` with a copy evolved by :func:`attrs.evolve`, validated again.

    Raises
    ------
    ConfigError
        An argument is out of range (see :class:`StudySpec`).

    See Also
    --------
    StudySpec : the design record; :meth:`from_spec` makes a study of one.

    Notes
    -----
    ``Study`` is a facade: the plan, run, measurement and adaptive engine take the
    design record and a run state, not this object.

    .. versionchanged:: 0.1
       The design lives in a frozen :class:`StudySpec` (:attr:`spec`); the attributes
       read from it.
    """

    domains: _FromSpec[Mapping[str, DomainSpec]] = _FromSpec()
    backend: _FromSpec[FineTuneBackend] = _FromSpec()
    probe: _FromSpec[MisalignmentProbe | None] = _FromSpec()
    fractions: _FromSpec[tuple[float, ...]] = _FromSpec()
    corruptions: _FromSpec[tuple[str, ...]] = _FromSpec()
    replicates: _FromSpec[int] = _FromSpec()
    size: _FromSpec[int] = _FromSpec()
    run_dir: _FromSpec[Path] = _FromSpec()
    budget_usd: _FromSpec[float | None] = _FromSpec()
    seed: _FromSpec[int] = _FromSpec()
    base_model: _FromSpec[str | None] = _FromSpec()
    hyperparameters: _FromSpec[dict[str, Any]] = _FromSpec()
    eval_samples: _FromSpec[int] = _FromSpec()
    probe_samples: _FromSpec[int] = _FromSpec()
    probe_max_tokens: _FromSpec[int | None] = _FromSpec()
    design: _FromSpec[str] = _FromSpec()
    eval_temperature: _FromSpec[float] = _FromSpec()
    target_half_width: _FromSpec[float] = _FromSpec()
    max_fine_tunes: _FromSpec[int | None] = _FromSpec()
    adaptive_metric: _FromSpec[str] = _FromSpec()
    max_rounds: _FromSpec[int] = _FromSpec()

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
        probe_max_tokens: int | None = None,
        design: str = "grid",
        eval_temperature: float = 0.0,
        target_half_width: float = 0.05,
        max_fine_tunes: int | None = None,
        adaptive_metric: str = "domain_score",
        max_rounds: int = 12,
    ) -> None:
        self._start(
            StudySpec(
                domains=domains,
                backend=backend,
                probe=probe,
                fractions=fractions,
                corruptions=corruptions,
                replicates=replicates,
                size=size,
                run_dir=run_dir,
                budget_usd=budget_usd,
                seed=seed,
                base_model=base_model or getattr(backend, "base_model", None),
                hyperparameters=hyperparameters,
                eval_samples=eval_samples,
                probe_samples=probe_samples,
                probe_max_tokens=probe_max_tokens,
                design=design,
                eval_temperature=eval_temperature,
                target_half_width=target_half_width,
                max_fine_tunes=max_fine_tunes,
                adaptive_metric=adaptive_metric,
                max_rounds=max_rounds,
            )
        )

    @classmethod
    def from_spec(cls, spec: StudySpec) -> Study:
        """Return a study of a design record.

        Parameters
        ----------
        spec : StudySpec
            The design.

        Returns
        -------
        Study
        """
        study = cls.__new__(cls)
        study._start(spec)
        return study

    def _start(self, spec: StudySpec) -> None:
        self._spec = spec
        self._mixtures = Mixtures(spec)
        self._jobs: dict[str, FineTuneJob] = {}  # jobs this process has submitted or adopted

    def _evolve(self, **changes: Any) -> None:
        self._spec = attrs.evolve(self._spec, **changes)
        self._mixtures = self._mixtures.for_spec(self._spec)

    @property
    def spec(self) -> StudySpec:
        """The design: what :meth:`plan` prices and :meth:`run` runs."""
        return self._spec

    def __repr__(self) -> str:
        return (
            f"Study(domains={list(self.domains)}, corruptions={list(self.corruptions)}, "
            f"fractions={list(self.fractions)}, replicates={self.replicates}, size={self.size}, "
            f"run_dir={str(self.run_dir)!r})"
        )

    # ------------------------------------------------------------------ grid
    def cells(self) -> list[StudyCell]:
        """Every fine-tuned cell, in a fixed order."""
        return self._spec.cells()

    def config(self) -> dict[str, Any]:
        """Return the study's identity: what a resumed run must agree with."""
        return self._spec.config()

    def mixture(self, cell: StudyCell) -> Mixture:
        """Return the cell's mixture (deterministic; built once per study object)."""
        return self._mixtures.mixture(cell)

    def job_key(self, mixture: Mixture) -> str:
        """Return the fine-tuning key of a mixture under this study's backend settings."""
        return self._mixtures.job_key(mixture)

    # ------------------------------------------------------------------ plan and run
    def plan(self) -> StudyPlan:
        """Every fine-tune with its tokens and estimated cost, the sampling volume, the total.

        For ``design="adaptive"`` this is the initial grid; later rounds are
        chosen from its results and stay within ``budget_usd`` and ``max_fine_tunes``.
        """
        return build_plan(self._spec, self._mixtures)

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
        ConfigError
            ``run_dir`` holds a different study.
        RunLockedError
            Another process is running this ``run_dir``.
        DataError
            The ledger or completion cache is damaged, or ``run_dir`` is read-only
            or vanished.

        Notes
        -----
        The run keeps to ``budget_usd``: before each new job (with its
        measurement) and each paid sampling batch it adds the estimate to the
        committed spend (jobs' costs, actual or estimated while running, and the
        completions bought) and stops cleanly if that would cross the budget
        (``results.stopped``, ``results.completed`` False). Completions are cached
        in ``run_dir/completions.sqlite`` as they arrive, so a resumed run pays for
        none twice.
        """
        return run_study(self._spec, self._mixtures, progress=progress, log=log, jobs=self._jobs)

    def status(self) -> RunStatus:
        """Return where the run directory stands (jobs, spend, budget left, lock holder).

        Works while the study runs in another process (nothing is locked or written).
        """
        return run_status(self.run_dir, prices=backend_prices(self.backend, self.base_model))

    def cancel(self, *, log: Callable[[str], None] | None = None) -> list[FineTuneJob]:
        """Cancel the jobs still running at the provider (``dqt cancel RUN_DIR``).

        Raises
        ------
        RunLockedError
            The study is running in another process: stop it first.
        """
        return cancel_jobs(self._spec, log=log)

    def results(self) -> StudyResults:
        """Return what the ledger holds (works on a partial or finished run)."""
        from dataquality_thresholds.study._results import StudyResults

        return StudyResults.from_run_dir(self.run_dir)
