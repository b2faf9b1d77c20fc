"""Judges that need no model: against a reference, and by running unit tests."""

from __future__ import annotations

import asyncio
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.evaluation._judge import (
    JudgedPrompt,
    Judgment,
    SyncJudgeMixin,
    question_text,
)
from dataquality_thresholds.records import EvalItem
from dataquality_thresholds.sandbox import SandboxLimits, run_python

__all__ = ["CodeTestJudge", "ReferenceJudge", "extract_code"]

_NUMBER = re.compile(r"(?<![\w.])[-\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_PUNCT_EDGES = " \t\r\n.,;:!?\"'`*_()[]{}"


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\s+", " ", text)
    return text.strip(_PUNCT_EDGES)


def _numbers(text: str) -> list[float]:
    out = []
    for m in _NUMBER.finditer(text):
        raw = m.group(0).replace(",", "").replace("\u2212", "-")
        out.append(float(raw))
    return out


def _contains(text: str, phrase: str) -> bool:
    """``phrase`` occurs in ``text`` as whole words ("no" is not in "know" or "cannot")."""
    if not phrase:
        return False
    return re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text) is not None


def _require_item(prompt: JudgedPrompt, judge: str, what: str) -> EvalItem:
    if not isinstance(prompt, EvalItem):
        raise ConfigError(
            f"{judge} needs an EvalItem with a {what}, got {type(prompt).__name__}",
            field="prompt",
        )
    return prompt


class ReferenceJudge(SyncJudgeMixin):
    """Score an answer offline against an :class:`EvalItem`'s reference.

    The rule, in order:

    1. **exact**: the normalised answer (NFKC, case-folded, whitespace
       collapsed, punctuation trimmed at the ends) equals the normalised
       reference -> 100, label ``"correct"``; equals a known incorrect answer
       (``item.incorrect``) -> 0, label ``"incorrect"``.
    2. **numeric** (when the reference contains numbers that are not in the
       prompt): the *distinctive* numbers of a text are its numbers that appear
       neither in the prompt nor in any of the other candidate texts (reference
       or incorrect variants). The answer is correct when it contains a
       distinctive number of the reference (within ``rel_tol``/``abs_tol``) and
       none of an incorrect variant; it is recognised as incorrect in the
       reverse case; both -> score None, label ``"ambiguous"``.
    3. **contains** (otherwise): the normalised reference occurs in the
       normalised answer as whole words -> 100 (so a reference "no" is not found
       in "I don't know"); a known incorrect answer occurs -> 0.

    Anything else scores 0 with label ``"no_match"``. ``raw`` says which rule
    decided and what matched.

    Parameters
    ----------
    rel_tol, abs_tol : float
        Tolerances for numeric matching (as :func:`math.isclose`).
    """

    def __init__(self, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
        if rel_tol < 0 or abs_tol < 0:
            raise ConfigError("tolerances must be >= 0", field="rel_tol")
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol

    def __repr__(self) -> str:
        return f"ReferenceJudge(rel_tol={self.rel_tol!r}, abs_tol={self.abs_tol!r})"

    def _has(self, numbers: Sequence[float], x: float) -> bool:
        return any(math.isclose(x, y, rel_tol=self.rel_tol, abs_tol=self.abs_tol) for y in numbers)

    def _distinctive(
        self, text: str, others: Sequence[str], prompt_numbers: Sequence[float]
    ) -> list[float]:
        exclude = list(prompt_numbers)
        for o in others:
            exclude.extend(_numbers(o))
        return [x for x in _numbers(text) if not self._has(exclude, x)]

    def score(self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None) -> Judgment:
        """Judge ``answer`` against ``prompt.reference`` (see the class docstring).

        Parameters
        ----------
        prompt : EvalItem
            Must have a ``reference``.
        answer : str
            The answer.
        rubric : str, optional
            Ignored (kept for the :class:`Judge` protocol).

        Returns
        -------
        Judgment

        Raises
        ------
        ConfigError
            ``prompt`` is not an EvalItem with a reference.
        """
        item = _require_item(prompt, "ReferenceJudge", "reference")
        if item.reference is None:
            raise ConfigError(f"EvalItem {item.id!r} has no reference", field="reference")
        reference = item.reference
        incorrect = list(item.incorrect)
        norm_answer = _normalise(answer)
        if norm_answer == _normalise(reference):
            return Judgment(score=100.0, label="correct", raw={"rule": "exact"})
        for i, wrong in enumerate(incorrect):
            if norm_answer == _normalise(wrong):
                return Judgment(
                    score=0.0, label="incorrect", raw={"rule": "exact", "incorrect_index": i}
                )
        prompt_numbers = _numbers(question_text(item))
        ref_key = self._distinctive(reference, incorrect, prompt_numbers)
        if ref_key:
            got = _numbers(answer)
            hit_ref = [x for x in ref_key if self._has(got, x)]
            hit_wrong: list[int] = []
            for i, wrong in enumerate(incorrect):
                others = [reference] + [w for j, w in enumerate(incorrect) if j != i]
                keys = self._distinctive(wrong, others, prompt_numbers)
                if any(self._has(got, x) for x in keys):
                    hit_wrong.append(i)
            raw: dict[str, Any] = {
                "rule": "numeric",
                "reference_numbers": ref_key,
                "matched_reference": hit_ref,
                "matched_incorrect": hit_wrong,
            }
            if hit_ref and hit_wrong:
                return Judgment(score=None, label="ambiguous", raw=raw)
            if hit_ref:
                return Judgment(score=100.0, label="correct", raw=raw)
            if hit_wrong:
                return Judgment(score=0.0, label="incorrect", raw=raw)
            return Judgment(score=0.0, label="no_match", raw=raw)
        if _contains(norm_answer, _normalise(reference)):
            return Judgment(score=100.0, label="correct", raw={"rule": "contains"})
        for i, wrong in enumerate(incorrect):
            if _contains(norm_answer, _normalise(wrong)):
                return Judgment(
                    score=0.0, label="incorrect", raw={"rule": "contains", "incorrect_index": i}
                )
        return Judgment(score=0.0, label="no_match", raw={"rule": "contains"})


_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)

_RUN_TESTS = """

# --- added by CodeTestJudge: call test_* functions defined above ---
def __dqt_run_tests():
    for __name, __fn in list(globals().items()):
        if __name.startswith("test_") and callable(__fn):
            __fn()
    print("__DQT_TESTS_PASSED__")


__dqt_run_tests()
"""


def extract_code(answer: str) -> str:
    """Return the Python code in ``answer``.

    The contents of all fenced code blocks (python-tagged or untagged),
    joined, or the whole answer when it has no fence.
    """
    blocks = _FENCE.findall(answer)
    return "\n\n".join(b.rstrip() for b in blocks) if blocks else answer


class CodeTestJudge(SyncJudgeMixin):
    """Run an :class:`EvalItem`'s unit tests against the code in an answer.

    The program is the answer's code, then ``item.tests`` (plain ``assert``
    statements and/or ``test_*`` functions, which are called in order of
    definition). It runs in :func:`~dataquality_thresholds.sandbox.run_python`;
    score 100 (label ``"passed"``) when it exits 0 and every test ran, else 0
    with label ``"failed"``, ``"timeout"``, ``"killed"`` (a signal, e.g. the CPU
    limit) or ``"no_code"``. A sandbox that cannot run the code at all raises
    :class:`~dataquality_thresholds.sandbox.SandboxUnavailableError` instead of
    scoring 0; ``raw["isolation"]`` says which isolation each run had.

    Parameters
    ----------
    limits : SandboxLimits, optional
        Per-run limits; default 10 s wall time, 512 MiB.
    max_workers : int
        Parallel sandboxes in :meth:`score_many`.
    """

    def __init__(self, *, limits: SandboxLimits | None = None, max_workers: int = 2) -> None:
        if max_workers < 1:
            raise ConfigError("max_workers must be >= 1", field="max_workers")
        self.limits = limits or SandboxLimits()
        self.max_workers = max_workers

    def __repr__(self) -> str:
        return f"CodeTestJudge(limits={self.limits!r}, max_workers={self.max_workers})"

    def score(self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None) -> Judgment:
        """Run ``prompt.tests`` against the code in ``answer``.

        Parameters
        ----------
        prompt : EvalItem
            Must have ``tests``.
        answer : str
            The answer; code is taken from its fenced blocks (see :func:`extract_code`).
        rubric : str, optional
            Ignored.

        Returns
        -------
        Judgment
            ``raw`` holds the return code, signal, timing, isolation and the
            (capped) stdout and stderr tails.

        Raises
        ------
        ConfigError
            ``prompt`` is not an EvalItem with tests.
        SandboxUnavailableError
            The sandbox could not run the code at all (e.g. the interpreter cannot
            be started); raised rather than scored 0, since nothing was tested.
        """
        item = _require_item(prompt, "CodeTestJudge", "tests")
        if item.tests is None:
            raise ConfigError(f"EvalItem {item.id!r} has no tests", field="tests")
        code = extract_code(answer)
        if not code.strip():
            return Judgment(score=0.0, label="no_code", raw={})
        result = run_python(f"{code}\n\n{item.tests}\n{_RUN_TESTS}", limits=self.limits)
        passed = result.ok and "__DQT_TESTS_PASSED__" in result.stdout
        if passed:
            label = "passed"
        elif result.timed_out:
            label = "timeout"
        elif result.signal is not None:
            label = "killed"
        else:
            label = "failed"
        raw = {
            "returncode": result.returncode,
            "signal": result.signal,
            "timed_out": result.timed_out,
            "wall_time": result.wall_time,
            "isolation": list(result.isolation),
            "stdout": result.stdout[-2000:],
            "stderr": result.stderr[-2000:],
        }
        return Judgment(score=100.0 if passed else 0.0, label=label, raw=raw)

    async def ascore(
        self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None
    ) -> Judgment:
        """Async twin of :meth:`score` (the sandbox runs in a worker thread)."""
        return await asyncio.to_thread(self.score, prompt, answer, rubric=rubric)

    def score_many(
        self, pairs: Iterable[tuple[JudgedPrompt, str]], *, rubric: str | None = None
    ) -> list[Judgment]:
        """Judge many pairs, ``max_workers`` sandboxes at a time, results in order."""
        pairs = list(pairs)
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            return list(pool.map(lambda pa: self.score(pa[0], pa[1], rubric=rubric), pairs))
