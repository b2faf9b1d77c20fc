"""What a study's paid calls cost: estimates before they are made, spend after.

:class:`CostModel` prices the calls one measurement makes (domain sampling and
its judge calls, probe sampling and its judge calls) from the backend's
:class:`~dataquality_thresholds.backends.PriceTable` (its ``price_table``
attribute; a backend without one, such as the local stub or a local GPU, is not
charged for sampling) and the judges' models. :func:`job_spend` and
:func:`sampling_spend` add up what a run has committed: each job's cost (actual
where the provider reported trained tokens, the estimate while it runs) and each
completion stored in the run's completion cache.

Token counts are estimates: prompts are counted with ``o200k_base`` (each probe
request's own paraphrase, as the probe spreads its samples over them); a domain
answer is taken as 1.5 x its item's reference (:data:`ANSWER_TOKENS` without
one); a probe answer at its cap (:attr:`StudySpec.probe_cap
<dataquality_thresholds.study.StudySpec.probe_cap>`: the study's
``probe_max_tokens``, the probe's ``max_tokens``, else :data:`PROBE_MAX_TOKENS`;
an upper bound); a judge call as its template (:data:`JUDGE_TEMPLATE_TOKENS`)
plus the question and the answer, with one output token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from dataquality_thresholds.backends import PriceTable
from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.records import EvalItem, Message
from dataquality_thresholds.study._design import PROBE_MAX_TOKENS, StudySpec
from dataquality_thresholds.study._ledger import Ledger

__all__ = [
    "ANSWER_TOKENS",
    "JUDGE_TEMPLATE_TOKENS",
    "PROBE_MAX_TOKENS",
    "Cost",
    "CostModel",
    "Spend",
    "backend_prices",
    "job_spend",
    "judge_models",
    "sampling_spend",
]

#: Assumed tokens of a domain answer whose item has no reference.
ANSWER_TOKENS = 256
# PROBE_MAX_TOKENS (600, ``MisalignmentProbe.run``'s default cap) lives with the design,
# whose ``probe_cap`` resolves the cap a study's probe answers are sampled and priced at.
#: Assumed tokens of a judge's template around the question and answer.
JUDGE_TEMPLATE_TOKENS = 250


@attrs.frozen(kw_only=True)
class Cost:
    """The estimated cost of a batch of paid calls.

    Parameters
    ----------
    sampling_usd : float
        Sampling the model measured.
    judge_usd : float
        Judging its answers.
    requests : int
        Sampling requests.
    judge_calls : int
        Judge calls.
    """

    sampling_usd: float = 0.0
    judge_usd: float = 0.0
    requests: int = 0
    judge_calls: int = 0

    @property
    def usd(self) -> float:
        """Sampling and judging together."""
        return self.sampling_usd + self.judge_usd

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            sampling_usd=self.sampling_usd + other.sampling_usd,
            judge_usd=self.judge_usd + other.judge_usd,
            requests=self.requests + other.requests,
            judge_calls=self.judge_calls + other.judge_calls,
        )


def backend_prices(backend: Any, base_model: str | None = None) -> PriceTable | None:
    """Return the backend's price table (None when it has none: it charges nothing).

    The backend's ``price_table`` attribute, or what that method returns for
    ``base_model`` (as the Together backend's does).
    """
    table = getattr(backend, "price_table", None)
    if callable(table) and not isinstance(table, PriceTable):
        try:
            table = table(base_model)
        except Exception:  # a backend's own lookup failing leaves sampling unpriced
            return None
    return table if isinstance(table, PriceTable) else None


def judge_models(spec: StudySpec) -> set[str]:
    """Return the models of the design's LLM judges (judges with a ``model`` string)."""
    judges: list[Any] = [d.judge for d in spec.domains.values()]
    if spec.probe is not None:
        judges += [spec.probe.judge, getattr(spec.probe, "coherence_judge", None)]
    return {m for j in judges if isinstance(m := getattr(j, "model", None), str)}


class CostModel:
    """Prices the paid calls of one design's measurements (memoised per domain).

    Parameters
    ----------
    spec : StudySpec
        The design: its backend's ``price_table`` prices sampling the base and
        fine-tuned models; LLM judges are priced from the same table (the bundled
        one when the backend has none) at their model's base sampling price.

    Attributes
    ----------
    table : PriceTable or None
        The backend's prices; None when the backend prices no sampling (local).
    notes : list of str
        What could not be priced (a model missing from the table), once each.
    """

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec
        self.table: PriceTable | None = backend_prices(spec.backend, spec.base_model)
        self.judge_table = self.table if self.table is not None else PriceTable.default()
        self.notes: list[str] = []
        self._tokenizer: Any = None
        self._domain: dict[tuple[str, bool], Cost] = {}
        self._probe: dict[bool, Cost] = {}

    def __repr__(self) -> str:
        priced = "unpriced" if self.table is None else f"prices of {self.table.date}"
        return f"CostModel({priced}, notes={len(self.notes)})"

    # ------------------------------------------------------------------ pieces
    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _tokens(self, messages: Iterable[Message]) -> int:
        from dataquality_thresholds.tokens import count_chat_tokens, get_tokenizer

        if self._tokenizer is None:
            self._tokenizer = get_tokenizer()
        return count_chat_tokens(list(messages), self._tokenizer)

    def _text_tokens(self, text: str) -> int:
        return self._tokens([Message("assistant", text)]) - 7  # the message and priming overhead

    def _answer_tokens(self, item: EvalItem) -> int:
        if item.reference:
            return max(16, round(1.5 * self._text_tokens(item.reference)))
        return ANSWER_TOKENS

    def sampling_usd(
        self, model: str | None, prompt: float, completion: float, tuned: bool
    ) -> float:
        """USD of sampling ``model`` (fine-tuned from it when ``tuned``); 0 when unpriced."""
        if self.table is None:
            return 0.0
        if model is None:
            self._note("sampling: the design names no base model, so none is priced")
            return 0.0
        try:
            return self.table.sampling_usd(model, prompt, completion, fine_tuned=tuned)
        except ConfigError:
            kind = "fine-tuned " if tuned else ""
            self._note(f"sampling {kind}{model}: no price in the table (counted as $0)")
            return 0.0

    def judge_usd(self, judge: Any, prompt: float, calls: int) -> float:
        """USD of ``calls`` judge calls with ``prompt`` input tokens in all (0 if offline)."""
        model = getattr(judge, "model", None)
        if not isinstance(model, str) or calls == 0:
            return 0.0
        try:
            inp, out = self.judge_table.sampling_price(model, fine_tuned=False)
        except ConfigError:
            self._note(f"judge {model}: no sampling price in the table (counted as $0)")
            return 0.0
        return (prompt * inp + calls * out) / 1e6

    # ------------------------------------------------------------------ measurements
    def domain(self, domain: str, *, tuned: bool) -> Cost:
        """Return the cost of one model's domain measurement: every eval item sampled and judged.

        Parameters
        ----------
        domain : str
            A domain of the design.
        tuned : bool
            A fine-tuned model (True) or the base model.
        """
        memo = self._domain.get((domain, tuned))
        if memo is not None:
            return memo
        spec = self.spec
        ds = spec.domains[domain]
        k = spec.eval_samples
        prompt = completion = judge_prompt = 0
        for item in ds.eval_items:
            p = self._tokens(item.prompt)
            a = self._answer_tokens(item)
            prompt += p  # one request asks for all k samples: its prompt is billed once
            completion += k * a
            judge_prompt += k * (JUDGE_TEMPLATE_TOKENS + p + a)
        n = len(ds.eval_items)
        cost = Cost(
            sampling_usd=self.sampling_usd(spec.base_model, prompt, completion, tuned),
            judge_usd=self.judge_usd(ds.judge, judge_prompt, n * k),
            requests=n,
            judge_calls=n * k,
        )
        self._domain[(domain, tuned)] = cost
        return cost

    def probe(self, *, tuned: bool) -> Cost:
        """Return the cost of one model's probe: its questions' samples, each judged twice."""
        memo = self._probe.get(tuned)
        if memo is not None:
            return memo
        spec = self.spec
        probe = spec.probe
        if probe is None:
            return Cost()
        k = spec.probe_samples
        cap = spec.probe_cap
        prompt = completion = judge_prompt = requests = answers = 0
        for q in probe.questions:
            n_para = len(q.paraphrases)
            for i in range(n_para):
                # the probe spreads k samples evenly over the paraphrases, one request each
                n = k // n_para + (1 if i < k % n_para else 0)
                if n == 0:
                    continue
                size = self._tokens(q.prompt(i))  # this request's own question
                requests += 1
                prompt += size  # one request asks for all n samples: billed once
                completion += n * cap
                judge_prompt += n * (JUDGE_TEMPLATE_TOKENS + size + cap)
            answers += k
        coherence = getattr(probe, "coherence_judge", None) or probe.judge
        cost = Cost(
            sampling_usd=self.sampling_usd(spec.base_model, prompt, completion, tuned),
            judge_usd=self.judge_usd(probe.judge, judge_prompt, answers)
            + self.judge_usd(coherence, judge_prompt, answers),
            requests=requests,
            judge_calls=2 * answers,
        )
        self._probe[tuned] = cost
        return cost

    def model(self, domain: str, *, tuned: bool = True) -> Cost:
        """Return the cost of everything measured of one model: its domain and its probe."""
        return self.domain(domain, tuned=tuned) + self.probe(tuned=tuned)


# ---------------------------------------------------------------------- spend
@attrs.frozen(kw_only=True)
class Spend:
    """What a run has committed, in US dollars.

    Parameters
    ----------
    jobs_actual : float
        Jobs whose cost the provider reported (trained tokens x price).
    jobs_estimated : float
        Jobs submitted (or being submitted) whose cost is not known yet: their
        estimates, so a running job's money is never free to spend twice.
    sampling : float
        Completions bought (the run's completion cache, priced), judge calls
        through the run's cache included.
    unpriced : tuple of str
        Models whose completions could not be priced.
    """

    jobs_actual: float = 0.0
    jobs_estimated: float = 0.0
    sampling: float = 0.0
    unpriced: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        """Everything committed."""
        return self.jobs_actual + self.jobs_estimated + self.sampling


def job_spend(ledger: Ledger) -> tuple[float, float]:
    """Return the jobs' committed spend: ``(actual, estimated)``.

    A job with a reported cost counts it; a job still running (or only marked
    ``submitting``) counts its estimate (the job's, else its mixture's); a job
    that failed or was rejected without a reported cost counts nothing; a
    cancelled one its estimate (it may have trained for a while).

    Parameters
    ----------
    ledger : Ledger
        The run's ledger.
    """
    est: dict[str, float] = {}
    for row in ledger.mixtures().values():
        est[row["job_key"]] = max(est.get(row["job_key"], 0.0), float(row["est_usd"] or 0.0))
    actual = estimated = 0.0
    for row in ledger.job_rows():
        job = row["job"]
        fallback = est.get(row["key"], 0.0)
        if job is None:
            estimated += fallback
            continue
        cost = job.cost
        if cost is not None and cost.actual:
            actual += float(cost.usd)
        elif job.status in ("failed", "rejected"):
            continue
        else:
            estimated += float(cost.usd) if cost is not None else fallback
    return actual, estimated


def sampling_spend(
    usage: Mapping[str, tuple[float, float, int]],
    table: PriceTable | None,
    judges: Iterable[str] = (),
) -> tuple[float, tuple[str, ...]]:
    """Price the completions of a run's cache.

    Parameters
    ----------
    usage : mapping
        ``model -> (prompt_tokens, completion_tokens, samples)``
        (:meth:`CompletionCache.usage <dataquality_thresholds.backends.CompletionCache.usage>`).
    table : PriceTable or None
        The backend's prices; None when sampling the study's models is free (local).
    judges : iterable of str
        The judges' models, priced at their base sampling price (the bundled
        table when ``table`` is None).

    Returns
    -------
    (float, tuple of str)
        US dollars, and the models that could not be priced.
    """
    judge_set = set(judges)
    judge_table = table if table is not None else PriceTable.default()
    usd = 0.0
    unpriced: list[str] = []
    for model, (prompt, completion, _n) in sorted(usage.items()):
        if model in judge_set:
            use = judge_table
        elif table is None:
            continue
        else:
            use = table
        try:
            usd += use.sampling_usd(model, prompt, completion)
        except ConfigError:
            unpriced.append(model)
    return usd, tuple(unpriced)
