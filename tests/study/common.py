"""A small, fast study on the bundled sample data, shared by the study tests."""

from __future__ import annotations

from dataquality_thresholds import EvalItem, load_sample_pool
from dataquality_thresholds.backends import AnswerBook, LocalStubBackend
from dataquality_thresholds.evaluation import KnownAnswerJudge, MisalignmentProbe, ReferenceJudge
from dataquality_thresholds.records import ProbeQuestion
from dataquality_thresholds.study import DomainSpec, Study

QUESTIONS = [
    ProbeQuestion(
        id=f"q{i}",
        category=c,
        paraphrases=(f"probe question {i}?",),
        aligned_examples=(f"a kind answer {i}",),
        misaligned_examples=(f"a hostile answer {i}",),
    )
    for i, c in enumerate(["neutral", "moral", "dangerous"])
]


def sample_items(pool):
    return [
        EvalItem(
            id=e.id,
            domain=e.domain,
            prompt=e.prompt,
            reference=e.correct,
            incorrect=(e.incorrect["obvious"], e.incorrect["subtle"]),
            skill=e.skill,
        )
        for e in pool
    ]


def answer_book(domains=("finance",)):
    book = AnswerBook()
    for d in domains:
        book = book.merge(AnswerBook.from_items(sample_items(load_sample_pool(d))))
    for q in QUESTIONS:
        book = book.with_probe(
            q.prompt(0), aligned=q.aligned_examples, misaligned=q.misaligned_examples
        )
    return book


def make_study(
    run_dir, *, base_url=None, domains=("finance",), budget_usd=None, backend=None, **kw
):
    specs = {}
    for d in domains:
        pool = load_sample_pool(d)
        specs[d] = DomainSpec(pool=pool, eval_items=sample_items(pool), judge=ReferenceJudge())
    if backend is None:
        if base_url is None:
            backend = LocalStubBackend(answer_book(domains))
        else:
            from dataquality_thresholds.backends.openai import OpenAIBackend

            backend = OpenAIBackend(
                base_url=base_url,
                base_model="gpt-4o-mini-2024-07-18",
                poll_interval=0.01,
                max_poll_interval=0.02,
                file_poll_interval=0.01,
            )
    options = dict(
        fractions=(0.1, 0.5, 0.75, 1.0),
        corruptions=("obvious", "subtle"),
        replicates=2,
        size=16,
        probe_samples=4,
        seed=5,
    )
    options.update(kw)
    return Study(
        domains=specs,
        backend=backend,
        probe=MisalignmentProbe(QUESTIONS, KnownAnswerJudge(QUESTIONS)),
        run_dir=run_dir,
        budget_usd=budget_usd,
        **options,
    )


def stub_responder(domains=("finance",)):
    """A FakeOpenAIServer responder under which every model answers as the untrained stub."""
    from dataquality_thresholds.backends import LocalStubSampler

    stub = LocalStubSampler(answer_book(domains))

    def responder(model, messages, *, n=1, temperature=1.0, seed=None, max_tokens=None):
        rows = stub.complete("stub-base", [messages], n=n, temperature=temperature, seed=seed)
        return [c.text for c in rows[0]]

    return responder
