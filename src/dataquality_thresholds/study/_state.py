"""What a study keeps beside its design: the mixture memo and the state of one run.

:class:`Mixtures` builds each cell's mixture and each mixture's fine-tuning key once
(planning needs them, without a ledger); :class:`RunState` is what one run holds while
it runs: the open ledger, the completion cache, the sampler, the cost model, the jobs,
the measurement index, the progress flag and the log. :meth:`RunState.reserve` is the
budget guard: it raises :class:`BudgetStop` before a job or a sampling batch that would
take the committed spend over ``budget_usd``. :func:`spent` and :func:`progress_bar`
are the run's spend and bars.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dataquality_thresholds.backends import CompletionCache, FineTuneJob, Sampler
from dataquality_thresholds.mixing import CorruptionMixer, Mixture
from dataquality_thresholds.study._design import StudyCell, StudySpec
from dataquality_thresholds.study._ledger import Ledger
from dataquality_thresholds.study._money import (
    CostModel,
    Spend,
    job_spend,
    judge_models,
    sampling_spend,
)

__all__ = ["BudgetStop", "Mixtures", "RunState", "progress_bar", "spent"]


class BudgetStop(Exception):
    """The next paid step would take the committed spend over the budget.

    Parameters
    ----------
    what : str
        The step refused ("fine-tune finance/subtle/f0.2500/r1", "probe sampling of ...").
    spent_usd : float
        The committed spend when it was refused.
    needed_usd : float
        The step's estimate.
    budget_usd : float
        The budget.
    """

    def __init__(self, what: str, *, spent_usd: float, needed_usd: float, budget_usd: float):
        super().__init__(what)
        self.what = what
        self.spent_usd = spent_usd
        self.needed_usd = needed_usd
        self.budget_usd = budget_usd

    def record(self) -> dict[str, Any]:
        """Return the ledger's ``stopped`` entry."""
        return {
            "reason": "budget",
            "spent_usd": self.spent_usd,
            "next": self.what,
            "next_usd": self.needed_usd,
            "budget_usd": self.budget_usd,
        }


class Mixtures:
    """The mixtures and fine-tuning keys of one design, each built once.

    Mixtures are deterministic (pool, size, seed), so the memo is only a saving: a
    plan and the run that follows it share one.

    Parameters
    ----------
    spec : StudySpec
        The design.
    """

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec
        self._mixers: dict[tuple[str, int], CorruptionMixer] = {}
        self._by_cell: dict[str, Mixture] = {}
        self._keys: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Mixtures({len(self._by_cell)} built, run_dir={str(self.spec.run_dir)!r})"

    def mixture(self, cell: StudyCell) -> Mixture:
        """Return the cell's mixture (built on first use).

        Parameters
        ----------
        cell : StudyCell
            A fine-tuned cell (not the base-model row).

        Returns
        -------
        Mixture
        """
        cached = self._by_cell.get(cell.key)
        if cached is not None:
            return cached
        key = (cell.domain, cell.replicate)
        if key not in self._mixers:
            self._mixers[key] = self.spec.mixer(cell.domain, cell.replicate)
        assert cell.fraction is not None
        mixture = self._mixers[key].mix(cell.fraction, cell.corruption)
        self._by_cell[cell.key] = mixture
        return mixture

    def job_key(self, mixture: Mixture) -> str:
        """Return the mixture's fine-tuning key (:meth:`StudySpec.job_key`, remembered).

        Parameters
        ----------
        mixture : Mixture
            The training set.

        Returns
        -------
        str
        """
        key = self._keys.get(mixture.fingerprint)
        if key is None:
            key = self._keys[mixture.fingerprint] = self.spec.job_key(mixture)
        return key

    def for_spec(self, spec: StudySpec) -> Mixtures:
        """Return the memo for ``spec``, keeping the mixtures when they cannot differ.

        Parameters
        ----------
        spec : StudySpec
            A design, usually an evolved copy of :attr:`spec`.

        Returns
        -------
        Mixtures
            ``self`` for the same design; otherwise a new memo that keeps the built
            mixtures when ``spec`` has the same domains (the same mapping object),
            size and seed. Job keys are always derived again.
        """
        if spec is self.spec:
            return self
        new = Mixtures(spec)
        old = self.spec
        if spec.domains is old.domains and spec.size == old.size and spec.seed == old.seed:
            new._mixers = dict(self._mixers)
            new._by_cell = dict(self._by_cell)
        return new


def _quiet(line: str) -> None:
    """Drop a log line."""


class RunState:
    """What one run of a study holds while it runs.

    Parameters
    ----------
    ledger : Ledger
        The open ledger of the run.
    mixtures : Mixtures
        The design's mixture memo.
    sampler : callable
        Makes the run's sampler (``backend.sampler``); called once, on first use, so
        every model of a run shares one sampler (its cache and connections).
    progress : bool
        Show progress bars.
    log : callable, optional
        Receives one line per step.
    jobs : dict of str to FineTuneJob, optional
        Jobs this process already submitted or adopted, by key; updated in place
        (a facade passes the same dict to each of its runs).
    cache : CompletionCache, optional
        The run's completion cache (its stored usage is the sampling spend).
    costs : CostModel, optional
        Prices jobs' measurements and the cache's usage (a new one if None).

    Attributes
    ----------
    measured : dict
        Recorded measurements by (kind, scope, model), so no model is measured twice.
    """

    def __init__(
        self,
        ledger: Ledger,
        mixtures: Mixtures,
        *,
        sampler: Callable[[], Sampler],
        progress: bool = True,
        log: Callable[[str], None] | None = None,
        jobs: dict[str, FineTuneJob] | None = None,
        cache: CompletionCache | None = None,
        costs: CostModel | None = None,
    ) -> None:
        self.ledger = ledger
        self.mixtures = mixtures
        self.progress = progress
        self.log: Callable[[str], None] = log or _quiet
        self.jobs: dict[str, FineTuneJob] = {} if jobs is None else jobs
        self.measured: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.cache = cache
        self.costs = CostModel(mixtures.spec) if costs is None else costs
        self._judges = judge_models(mixtures.spec)
        self._make_sampler = sampler
        self._sampler: Sampler | None = None

    def __repr__(self) -> str:
        return (
            f"RunState(ledger={str(self.ledger.path)!r}, jobs={len(self.jobs)}, "
            f"measured={len(self.measured)})"
        )

    def sampler(self) -> Sampler:
        """Return the run's sampler, made on first use."""
        if self._sampler is None:
            self._sampler = self._make_sampler()
        return self._sampler

    def spent(self) -> float:
        """Return the committed spend so far (see :meth:`spend`)."""
        return self.spend().total

    def spend(self) -> Spend:
        """Return what the run has committed: jobs (actual or estimated) and completions."""
        actual, estimated = job_spend(self.ledger)
        sampling, unpriced = 0.0, tuple[str, ...]()
        if self.cache is not None:
            sampling, unpriced = sampling_spend(self.cache.usage(), self.costs.table, self._judges)
        return Spend(
            jobs_actual=actual, jobs_estimated=estimated, sampling=sampling, unpriced=unpriced
        )

    def reserve(self, usd: float, what: str) -> None:
        """Refuse a paid step that would take the committed spend over the budget.

        Parameters
        ----------
        usd : float
            The step's estimate.
        what : str
            The step, for the log and the ledger's ``stopped`` entry.

        Raises
        ------
        BudgetStop
            ``spent + usd`` exceeds ``budget_usd`` (nothing of the step was done).
        """
        budget = self.mixtures.spec.budget_usd
        if budget is None or usd <= 0:
            return
        so_far = self.spent()
        if so_far + usd > budget + 1e-9:
            self.log(
                f"budget reached: ${so_far:,.4f} committed, {what} needs ${usd:,.4f} "
                f"(budget ${budget:,.2f})"
            )
            raise BudgetStop(what, spent_usd=so_far, needed_usd=usd, budget_usd=budget)

    def bar(self, items: Iterable[Any], desc: str) -> Iterator[Any]:
        """Iterate over ``items`` behind a progress bar when the run shows them."""
        return progress_bar(items, self.progress, desc)


def spent(ledger: Ledger) -> float:
    """Return the fine-tuning spend committed so far (see :func:`~._money.job_spend`).

    Parameters
    ----------
    ledger : Ledger
        The open ledger of the run.

    Returns
    -------
    float
        US dollars: reported costs, plus the estimates of jobs not finished.
    """
    actual, estimated = job_spend(ledger)
    return actual + estimated


def progress_bar(items: Iterable[Any], progress: bool, desc: str) -> Iterator[Any]:
    """Iterate over ``items``, behind a tqdm bar when ``progress`` is set and tqdm imports.

    Parameters
    ----------
    items : iterable
        What to iterate over (read into a list first).
    progress : bool
        Show a bar.
    desc : str
        The bar's label.

    Returns
    -------
    iterator
    """
    seq = list(items)
    if progress and seq:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm comes with datasets
            return iter(seq)
        return iter(tqdm(seq, desc=desc, leave=False))
    return iter(seq)
