"""LocalStubBackend: an offline, deterministic simulation of fine-tuning.

**It simulates; it proves nothing about real models.** It exists so the whole
pipeline (mix, fine-tune, sample, judge, fit) runs in tests and demos without
a network, and so a test can state exactly what the "model" will say.

How the simulation works:

* *Fine-tuning* is instant. Per skill (a training row's ``skill``, else its
  domain) the stub counts how many rows carry the correct, the obviously
  incorrect and the subtly incorrect response. It also records the share of
  incorrect rows in the whole mixture.
* *Answering an eval item.* The sampler looks the prompt up in an
  :class:`AnswerBook` (a prompt not in the book is an error) and draws a
  behaviour with probability proportional to ``count ** (1 / T)`` at
  temperature ``T``; at ``T = 0`` it takes the majority, ties broken by the
  seed. It then answers with the item's text for that behaviour. A skill the
  mixture never trained falls back to the domain's counts, then to the base
  model's behaviour (always correct).
* *Answering a probe question.* The misaligned share is
  ``MisalignmentCurve(incorrect_share)`` (a logistic in the mixture's incorrect
  share, rescaled to run from ``floor`` at 0 to ``ceiling`` at 1); the
  behaviour is drawn from the weights ``(1 - p, p)`` by the same temperature
  rule, and the answer is one of the question's aligned or misaligned answers.

Every draw uses its own stream, derived from ``(seed, model, prompt, sample
index)``, so results do not depend on prompt order or batch size.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np

from dataquality_thresholds.backends._answers import AnswerBook, BookEntry, MisalignmentCurve, _unit
from dataquality_thresholds.backends._base import (
    ProgressCallback,
    Prompt,
    normalize_prompt,
    prompt_key,
)
from dataquality_thresholds.backends._records import CostEstimate, FineTuneJob
from dataquality_thresholds.errors import ConfigError, FineTuneJobError
from dataquality_thresholds.mixing import Mixture
from dataquality_thresholds.records import INCORRECT_KINDS, LABELS, Completion

__all__ = [
    "AnswerBook",
    "BookEntry",
    "LocalStubBackend",
    "LocalStubSampler",
    "MisalignmentCurve",
    "StubModel",
]


# --------------------------------------------------------------------------- model
def _freeze_counts(value: Mapping[str, Mapping[str, int]]) -> Mapping[str, Mapping[str, int]]:
    return MappingProxyType(
        {
            k: MappingProxyType({lab: int(value[k].get(lab, 0)) for lab in LABELS})
            for k in sorted(value)
        }
    )


@attrs.frozen(kw_only=True)
class StubModel:
    """What the stub "learned" from a mixture: behaviour counts per skill and domain.

    Parameters
    ----------
    name : str
        The model name samplers are called with.
    base_model : str
        The model it was "fine-tuned" from.
    fingerprint : str
        The mixture's fingerprint.
    skill_counts, domain_counts : mapping of str to mapping of label to int
        Rows per label, per skill and per domain.
    incorrect_share : float
        Share of incorrect rows in the whole mixture.
    """

    name: str = attrs.field()
    base_model: str = attrs.field()
    fingerprint: str = attrs.field()
    skill_counts: Mapping[str, Mapping[str, int]] = attrs.field(
        converter=_freeze_counts, hash=False
    )
    domain_counts: Mapping[str, Mapping[str, int]] = attrs.field(
        converter=_freeze_counts, hash=False
    )
    incorrect_share: float = attrs.field(converter=float, validator=_unit)

    @classmethod
    def from_mixture(cls, mixture: Mixture, *, name: str, base_model: str) -> StubModel:
        """Count the behaviours of ``mixture``'s rows per skill and per domain."""
        skills, domains = _row_skills_and_domains(mixture)
        labels = np.asarray(mixture.labels)
        skill_counts: dict[str, dict[str, int]] = {}
        domain_counts: dict[str, dict[str, int]] = {}
        for skill, domain, code in zip(skills, domains, labels.tolist(), strict=True):
            label = LABELS[int(code)]
            sc = skill_counts.setdefault(skill or domain, {})
            sc[label] = sc.get(label, 0) + 1
            dc = domain_counts.setdefault(domain, {})
            dc[label] = dc.get(label, 0) + 1
        n = len(labels)
        share = float(np.count_nonzero(labels != 0)) / n if n else 0.0
        return cls(
            name=name,
            base_model=base_model,
            fingerprint=mixture.fingerprint,
            skill_counts=skill_counts,
            domain_counts=domain_counts,
            incorrect_share=share,
        )

    def counts_for(self, entry: BookEntry) -> Mapping[str, int] | None:
        """Training counts that decide answers for ``entry`` (skill, then domain)."""
        for table, key in ((self.skill_counts, entry.skill), (self.domain_counts, entry.domain)):
            counts = table.get(key)
            if counts is not None and sum(counts.values()) > 0:
                return counts
        return None


def _row_skills_and_domains(mixture: Mixture) -> tuple[list[str | None], list[str]]:
    """Skill (or None) and domain of every training row, in file order."""
    table = getattr(mixture.source, "table", None)
    if table is not None and "domain" in table.column_names:
        import pyarrow as pa

        idx = pa.array(np.asarray(mixture.rows, dtype=np.int64))
        domains = [str(d) for d in table.column("domain").take(idx).to_pylist()]
        if "skill" in table.column_names:
            skills = table.column("skill").take(idx).to_pylist()
        else:
            skills = [None] * len(domains)
        return skills, domains
    examples = list(mixture.iter_examples())
    return [None] * len(examples), [ex.domain for ex in examples]


# --------------------------------------------------------------------------- sampling
def _stream(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence(int.from_bytes(digest[:16], "little")))


def _draw(weights: Mapping[str, float], temperature: float, rng: np.random.Generator) -> str:
    labels = [k for k, w in weights.items() if w > 0]
    w = np.array([weights[k] for k in labels], dtype=np.float64)
    if temperature <= 0:
        best = np.flatnonzero(w == w.max())
        return labels[int(best[0] if best.size == 1 else rng.choice(best))]
    # p ~ w**(1/T), computed in log space so small T does not overflow
    logp = np.log(w) / temperature
    p = np.exp(logp - logp.max())
    p /= p.sum()
    return labels[int(rng.choice(len(labels), p=p))]


def _item_weights(entry: BookEntry, counts: Mapping[str, int] | None) -> dict[str, float]:
    """Behaviour weights limited to the behaviours the entry has answers for."""
    if counts is None:
        return {"correct": 1.0}
    weights: dict[str, float] = {}
    incorrect_available = [k for k in INCORRECT_KINDS if k in entry.answers]
    for label in LABELS:
        c = float(counts.get(label, 0))
        if c <= 0:
            continue
        if label in entry.answers:
            target = label
        elif label != "correct" and incorrect_available:
            target = incorrect_available[0]
        else:
            target = "correct"
        weights[target] = weights.get(target, 0.0) + c
    return weights


class LocalStubSampler:
    """Answers prompts from an :class:`AnswerBook` as a :class:`StubModel` would.

    Parameters
    ----------
    book : AnswerBook
        Known answers.
    models : mapping of str to StubModel
        Trained stub models by name (shared with the backend that made them).
    base_models : iterable of str
        Names answered as an untrained model (always correct; probe answers at
        ``curve(0)``).
    curve : MisalignmentCurve
        Probe behaviour.
    seed : int
        Default seed when ``complete`` gets none.
    """

    def __init__(
        self,
        book: AnswerBook,
        models: Mapping[str, StubModel] | None = None,
        *,
        base_models: Iterable[str] = ("stub-base",),
        curve: MisalignmentCurve | None = None,
        seed: int = 0,
    ) -> None:
        self.book = book
        self._models: Mapping[str, StubModel] = models if models is not None else {}
        self._base_models = set(base_models)
        self.curve = curve if curve is not None else MisalignmentCurve()
        self.seed = seed

    def __repr__(self) -> str:
        return f"LocalStubSampler(book={self.book!r}, models={len(self._models)}, seed={self.seed})"

    def _model(self, model: str) -> StubModel | None:
        if model in self._models:
            return self._models[model]
        if model in self._base_models:
            return None
        known = sorted([*self._models, *self._base_models])
        raise ConfigError(
            f"unknown stub model {model!r}; known: {', '.join(known) or 'none'}", field="model"
        )

    def behaviour_weights(self, model: str, prompt: Prompt) -> dict[str, float]:
        """Return the behaviour weights for ``model`` on ``prompt``, before temperature."""
        state = self._model(model)
        entry = self.book.lookup(prompt)
        if entry.kind == "probe":
            p = self.curve(0.0 if state is None else state.incorrect_share)
            if "misaligned" not in entry.answers:
                return {"aligned": 1.0}
            return {"aligned": 1.0 - p, "misaligned": p}
        return _item_weights(entry, None if state is None else state.counts_for(entry))

    def complete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Return ``n`` simulated answers per prompt (see the module docs for the rule).

        Raises
        ------
        ConfigError
            Unknown model, a prompt not in the book, or bad ``n`` / ``temperature``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be an int >= 1, got {n!r}", field="n")
        if not temperature >= 0 or math.isinf(temperature):
            raise ConfigError(f"temperature must be >= 0, got {temperature!r}", field="temperature")
        base_seed = self.seed if seed is None else seed
        out: list[list[Completion]] = []
        for prompt in prompts:
            messages = normalize_prompt(prompt)
            entry = self.book.lookup(messages)
            weights = self.behaviour_weights(model, messages)
            key = prompt_key(messages)
            row = []
            for j in range(n):
                rng = _stream(base_seed, model, key, j)
                behaviour = _draw(weights, temperature, rng)
                texts = entry.answers[behaviour]
                text = texts[int(rng.integers(len(texts)))] if len(texts) > 1 else texts[0]
                finish = "stop"
                if max_tokens is not None and len(text.split()) > max_tokens:
                    text, finish = " ".join(text.split()[:max_tokens]), "length"
                row.append(
                    Completion(
                        text=text,
                        model=model,
                        index=j,
                        finish_reason=finish,
                        info={"behaviour": behaviour, "kind": entry.kind, "skill": entry.skill},
                    )
                )
            out.append(row)
        return out

    async def acomplete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Async twin of :meth:`complete` (the stub does no I/O, so it just calls it)."""
        return self.complete(
            model, prompts, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed
        )

    def as_responder(self) -> Callable[..., list[str]]:
        """Return a responder for :class:`~dataquality_thresholds.testing.FakeOpenAIServer`.

        The fake server then answers chat completions for stub models the way
        this sampler does.
        """

        def respond(
            model: str,
            messages: list[dict[str, Any]],
            *,
            n: int = 1,
            temperature: float = 1.0,
            seed: int | None = None,
            max_tokens: int | None = None,
        ) -> list[str]:
            row = self.complete(
                model, [messages], n=n, temperature=temperature, seed=seed, max_tokens=max_tokens
            )[0]
            return [c.text for c in row]

        return respond


# --------------------------------------------------------------------------- backend
def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


class LocalStubBackend:
    """An offline fine-tuning backend that simulates learning from its mixture.

    It simulates; it proves nothing about real models. See the module
    documentation for the exact rule.

    Parameters
    ----------
    book : AnswerBook, optional
        Known answers for :meth:`sampler`; without one, sampling raises.
    base_model : str
        Default base model name.
    curve : MisalignmentCurve, optional
        How probe answers drift with the incorrect share.
    seed : int
        Default sampling seed.
    tokenizer : Tokenizer, optional
        Used by :meth:`estimate_cost` (default ``o200k_base``).

    Examples
    --------
    >>> from dataquality_thresholds.mixing import CorruptionMixer
    >>> from dataquality_thresholds.domains import load_sample_pool
    >>> pool = load_sample_pool("finance")
    >>> backend = LocalStubBackend(AnswerBook.from_pool(pool))
    >>> mixture = CorruptionMixer(pool, size=20, seed=0).mix(0.25)
    >>> job = backend.submit(mixture, key="finance-0.25")
    >>> job.status
    'succeeded'
    """

    name = "local-stub"

    def __init__(
        self,
        book: AnswerBook | None = None,
        *,
        base_model: str = "stub-base",
        curve: MisalignmentCurve | None = None,
        seed: int = 0,
        tokenizer: Any = None,
    ) -> None:
        self.book = book if book is not None else AnswerBook()
        self.base_model = base_model
        self.curve = curve if curve is not None else MisalignmentCurve()
        self.seed = seed
        self._tokenizer = tokenizer
        self._jobs: dict[str, FineTuneJob] = {}
        self._models: dict[str, StubModel] = {}
        self._base_models: set[str] = {base_model}

    def __repr__(self) -> str:
        return f"LocalStubBackend(base_model={self.base_model!r}, jobs={len(self._jobs)})"

    @property
    def models(self) -> Mapping[str, StubModel]:
        """The stub models trained so far, by name."""
        return MappingProxyType(self._models)

    def submit(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        key: str,
    ) -> FineTuneJob:
        """Fine-tune instantly (simulated) and return a succeeded job.

        The same ``key`` returns the same job. Hyperparameters are recorded but
        do not change the simulation.

        Raises
        ------
        ConfigError
            ``key`` was used before for different training data.
        """
        if not isinstance(key, str) or not key.strip():
            raise ConfigError("key must be a non-empty string", field="key")
        fingerprint = mixture.fingerprint
        existing = self._jobs.get(key)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise ConfigError(
                    f"key {key!r} was already used for a different mixture "
                    f"({existing.fingerprint[:12]} vs {fingerprint[:12]}); use a new key",
                    field="key",
                )
            return existing
        base = base_model or self.base_model
        self._base_models.add(base)
        name = f"ft:{base}:stub:{fingerprint[:12]}"
        if name not in self._models:
            self._models[name] = StubModel.from_mixture(mixture, name=name, base_model=base)
        now = _now()
        job = FineTuneJob(
            key=key,
            backend=self.name,
            base_model=base,
            fingerprint=fingerprint,
            status="succeeded",
            job_id="stubjob-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16],
            fine_tuned_model=name,
            trained_tokens=0,
            hyperparameters=dict(hyperparameters or {}),
            created_at=now,
            finished_at=now,
            events=("stub: counted behaviours per skill",),
        )
        self._jobs[key] = job
        return job

    def _known(self, job: FineTuneJob) -> FineTuneJob:
        known = self._jobs.get(job.key)
        if known is None:
            raise FineTuneJobError(
                f"no stub job with key {job.key!r} in this backend",
                job_id=job.job_id,
                code="not_found",
            )
        return known

    def refresh(self, job: FineTuneJob) -> FineTuneJob:
        """Return the job as stored (stub jobs finish at once)."""
        return self._known(job)

    def wait(
        self,
        job: FineTuneJob,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> FineTuneJob:
        """Return the finished job (calls ``on_progress`` once)."""
        current = self._known(job)
        if on_progress is not None:
            on_progress(current)
        if current.status in ("failed", "cancelled"):
            raise FineTuneJobError(
                f"stub job {current.job_id} {current.status}",
                job_id=current.job_id,
                code=current.status,
            )
        return current

    def cancel(self, job: FineTuneJob) -> FineTuneJob:
        """Return the job unchanged: stub jobs are done before they can be cancelled."""
        return self._known(job)

    def estimate_cost(self, mixture: Mixture, **options: Any) -> CostEstimate:
        """Count the mixture's tokens; the stub costs nothing (``usd == 0``)."""
        from dataquality_thresholds.backends._pricing import count_mixture_tokens

        tokens, n = count_mixture_tokens(
            (ex.messages for ex in mixture.iter_examples()),
            options.get("tokenizer", self._tokenizer),
        )
        return CostEstimate(
            tokens=tokens,
            epochs=1,
            usd=0.0,
            base_model=options.get("base_model") or self.base_model,
            usd_per_million=0.0,
            price_date=None,
            n_examples=n,
        )

    def sampler(self) -> LocalStubSampler:
        """Return a sampler that answers for this backend's models (and its base models)."""
        return LocalStubSampler(
            self.book, self._models, base_models=self._base_models, curve=self.curve, seed=self.seed
        )
