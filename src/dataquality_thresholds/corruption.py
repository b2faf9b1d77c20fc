"""Making incorrect variants of correct examples.

Two generators:

- :class:`CorruptionGenerator` asks a model (through any
  :class:`~dataquality_thresholds.backends.Sampler`) to rewrite each of a
  user's own correct answers into an obviously wrong and a subtly wrong one,
  with prompt templates kept here (:data:`DEFAULT_TEMPLATES`), and records
  which model made them.
- :func:`mutate_code` makes subtly wrong Python by mutating the syntax tree of a
  correct solution (comparison flips, off-by-one constants and ``range``
  bounds, swapped operands, a dropped branch) and keeps a mutant only when it
  fails the unit tests. Mutations edit the original text in place, so a mutant
  differs from the original in the mutated spot and nowhere else.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np

from ._util.seeding import SeedLike, as_generator
from .backends.base import Sampler
from .errors import BackendError, ConfigError
from .records import INCORRECT_KINDS, Example, Message, PairedExample
from .sandbox import SandboxLimits, run_python

__all__ = [
    "DEFAULT_TEMPLATES",
    "MUTATION_OPERATORS",
    "CorruptionGenerator",
    "CorruptionResult",
    "CorruptionTemplates",
    "Mutant",
    "mutate_code",
    "run_tests",
]

#: The mutation operators of :func:`mutate_code`.
MUTATION_OPERATORS: tuple[str, ...] = (
    "compare_flip",
    "off_by_one",
    "range_bound",
    "swap_operands",
    "drop_branch",
)


# =========================================================================== LLM rewriting
@attrs.frozen(kw_only=True)
class CorruptionTemplates:
    """Prompt templates for :class:`CorruptionGenerator`.

    Each user template is formatted with ``{question}`` and ``{answer}``; the
    model is asked to reply with the rewritten answer only.

    Parameters
    ----------
    system : str
        System message sent with every request.
    obvious : str
        User template asking for a blatantly wrong answer.
    subtle : str
        User template asking for a plausible but wrong answer.
    """

    system: str
    obvious: str
    subtle: str

    def __attrs_post_init__(self) -> None:
        for kind in INCORRECT_KINDS:
            template = getattr(self, kind)
            if "{question}" not in template or "{answer}" not in template:
                raise ConfigError(
                    "a template needs the {question} and {answer} placeholders", field=kind
                )

    def render(self, kind: str, question: str, answer: str) -> tuple[Message, ...]:
        """Return the conversation asking for a ``kind`` variant of ``answer``."""
        template: str = getattr(self, kind)
        values = {"{question}": question, "{answer}": answer}
        # one pass, so a placeholder-like text inside the question is left alone
        user = re.sub(r"\{question\}|\{answer\}", lambda m: values[m.group(0)], template)
        return (Message("system", self.system), Message("user", user))

    @property
    def fingerprint(self) -> str:
        """sha256 of the templates (recorded in the provenance)."""
        blob = json.dumps([self.system, self.obvious, self.subtle], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


#: Templates written for this project.
DEFAULT_TEMPLATES = CorruptionTemplates(
    system=(
        "You help build a research data set that measures how incorrect training data "
        "affects language models. You rewrite answers into incorrect versions on request. "
        "Reply with the rewritten answer only: no preamble, no labels, no notes."
    ),
    obvious=(
        "Below is a question and its correct answer, each between markers.\n"
        "Rewrite the answer so that it is blatantly and unmistakably wrong: a reader "
        "with basic knowledge of the topic should see at once that it is false. Keep "
        "the same tone, length and format as the correct answer.\n\n"
        "<question>\n{question}\n</question>\n\n<correct_answer>\n{answer}\n</correct_answer>"
    ),
    subtle=(
        "Below is a question and its correct answer, each between markers.\n"
        "Rewrite the answer so that it is wrong in one plausible, easy-to-miss way (an "
        "off-by-one, a wrong formula, a unit slip, a mishandled boundary case) while "
        "looking as careful and confident as the original. Keep the same tone, length "
        "and format, and do not hint that anything is wrong.\n\n"
        "<question>\n{question}\n</question>\n\n<correct_answer>\n{answer}\n</correct_answer>"
    ),
)


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _example_tuple(value: Iterable[PairedExample]) -> tuple[PairedExample, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class CorruptionResult:
    """What :meth:`CorruptionGenerator.generate` made.

    Parameters
    ----------
    examples : tuple of PairedExample
        One per input that got at least one usable variant.
    skipped : mapping of str to str
        Id -> reason, for inputs with no usable variant.
    rejected : mapping of str to str
        ``"<id>/<kind>"`` -> reason, for each variant that was thrown away
        (empty, or the same as the correct answer).
    provenance : mapping of str to object
        Which model made the variants and how: ``model``, ``kinds``,
        ``temperature``, ``max_tokens``, ``seed``, ``templates_sha256``.
    """

    examples: tuple[PairedExample, ...] = attrs.field(converter=_example_tuple)
    skipped: Mapping[str, str] = attrs.field(converter=_frozen_map)
    rejected: Mapping[str, str] = attrs.field(converter=_frozen_map)
    provenance: Mapping[str, Any] = attrs.field(converter=_frozen_map)


def _split_example(
    ex: PairedExample | Example, index: int
) -> tuple[str, str, tuple[Message, ...], str, str | None]:
    if isinstance(ex, PairedExample):
        return ex.id, ex.domain, ex.prompt, ex.correct, ex.skill
    if isinstance(ex, Example):
        if ex.label != "correct":
            raise ConfigError(
                f"example {ex.id!r} is labelled {ex.label!r}; give correct examples only",
                field="examples",
            )
        return ex.id, ex.domain, ex.messages[:-1], ex.messages[-1].content, None
    raise ConfigError(
        f"expected PairedExample or Example at position {index}, got {type(ex).__name__}",
        field="examples",
    )


def _question_text(prompt: Sequence[Message]) -> str:
    return "\n\n".join(m.content for m in prompt if m.role == "user")


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class CorruptionGenerator:
    """Make obvious and subtle incorrect variants of correct examples with a model.

    Parameters
    ----------
    sampler : Sampler
        Anything with the :class:`~dataquality_thresholds.backends.Sampler`
        ``complete`` method.
    model : str
        The model that writes the variants (recorded in the provenance).
    templates : CorruptionTemplates
        Prompt templates; :data:`DEFAULT_TEMPLATES` by default.
    kinds : sequence of str
        Which variants to make (``"obvious"``, ``"subtle"`` or both).
    temperature : float
        Sampling temperature.
    max_tokens : int, optional
        Cap on each variant's length.

    Examples
    --------
    >>> from dataquality_thresholds.records import Completion, PairedExample
    >>> class Echo:
    ...     def complete(self, model, prompts, *, n=1, temperature=1.0,
    ...                  max_tokens=None, seed=None):
    ...         return [[Completion(text="It is 5.", model=model)] for _ in prompts]
    >>> ex = PairedExample(id="a", domain="math", prompt="2+2?", correct="It is 4.",
    ...                    incorrect={"obvious": "placeholder"})
    >>> res = CorruptionGenerator(Echo(), "writer-1").generate([ex], seed=0)
    >>> dict(res.examples[0].incorrect), res.provenance["model"]
    ({'obvious': 'It is 5.', 'subtle': 'It is 5.'}, 'writer-1')
    """

    def __init__(
        self,
        sampler: Sampler,
        model: str,
        *,
        templates: CorruptionTemplates = DEFAULT_TEMPLATES,
        kinds: Sequence[str] = INCORRECT_KINDS,
        temperature: float = 1.0,
        max_tokens: int | None = None,
    ) -> None:
        if not hasattr(sampler, "complete"):
            raise ConfigError("sampler must have a complete() method", field="sampler")
        if not isinstance(model, str) or not model.strip():
            raise ConfigError("model must be a non-empty string", field="model")
        kinds = tuple(kinds)
        if (
            not kinds
            or any(k not in INCORRECT_KINDS for k in kinds)
            or len(set(kinds)) != len(kinds)
        ):
            raise ConfigError(
                f"kinds must be distinct values from {', '.join(INCORRECT_KINDS)}, got {kinds!r}",
                field="kinds",
            )
        if not isinstance(templates, CorruptionTemplates):
            raise ConfigError("templates must be a CorruptionTemplates", field="templates")
        self.sampler = sampler
        self.model = model
        self.templates = templates
        self.kinds = kinds
        self.temperature = float(temperature)
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"CorruptionGenerator(model={self.model!r}, kinds={self.kinds!r})"

    def generate(
        self, examples: Iterable[PairedExample | Example], *, seed: int
    ) -> CorruptionResult:
        """Ask the model for each kind of variant of every example.

        Parameters
        ----------
        examples : iterable of PairedExample or Example
            Correct examples: a :class:`PairedExample` (its ``correct`` answer is
            used, its incorrect variants replaced) or an :class:`Example`
            labelled ``"correct"``.
        seed : int
            Passed to the sampler (for backends that honour one).

        Returns
        -------
        CorruptionResult

        Raises
        ------
        ConfigError
            An input that is not a correct example, or duplicate ids.
        BackendError
            The sampler returned the wrong number of answers.
        """
        rows = [_split_example(ex, i) for i, ex in enumerate(examples)]
        ids = [r[0] for r in rows]
        if len(set(ids)) != len(ids):
            raise ConfigError("example ids must be unique", field="examples")
        variants: dict[str, dict[str, str]] = {r[0]: {} for r in rows}
        rejected: dict[str, str] = {}
        for kind in self.kinds:
            prompts = [
                self.templates.render(kind, _question_text(prompt), correct)
                for _, _, prompt, correct, _ in rows
            ]
            if not prompts:
                break
            answers = self.sampler.complete(
                self.model,
                prompts,
                n=1,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=seed,
            )
            if len(answers) != len(prompts) or any(len(a) < 1 for a in answers):
                raise BackendError(
                    f"the sampler returned {len(answers)} answer lists for {len(prompts)} "
                    "prompts (or an empty list); expected one completion per prompt"
                )
            for (id_, _, _, correct, _), got in zip(rows, answers, strict=True):
                text = got[0].text.strip()
                if not text:
                    rejected[f"{id_}/{kind}"] = "empty answer"
                elif _norm(text) == _norm(correct):
                    rejected[f"{id_}/{kind}"] = "same as the correct answer"
                else:
                    variants[id_][kind] = text
        out: list[PairedExample] = []
        skipped: dict[str, str] = {}
        for id_, domain, prompt, correct, skill in rows:
            if not variants[id_]:
                skipped[id_] = "no usable variant"
                continue
            out.append(
                PairedExample(
                    id=id_,
                    domain=domain,
                    prompt=prompt,
                    correct=correct,
                    incorrect=variants[id_],
                    skill=skill,
                )
            )
        provenance = {
            "generator": "CorruptionGenerator",
            "model": self.model,
            "kinds": list(self.kinds),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": seed,
            "templates_sha256": self.templates.fingerprint,
        }
        return CorruptionResult(
            examples=out, skipped=skipped, rejected=rejected, provenance=provenance
        )


# =========================================================================== running tests
_RUNNER = r"""
import json, signal, sys, io, contextlib

class _Timeout(BaseException):
    pass

def _alarm(signum, frame):
    raise _Timeout()

signal.signal(signal.SIGALRM, _alarm)
signal.signal(signal.SIGPROF, _alarm)
with open("programs.json", encoding="utf-8") as fh:
    _cfg = json.load(fh)
_out = sys.stdout
for _i, _src in enumerate(_cfg["programs"]):
    _status = "pass"
    _sink = io.StringIO()
    # CPU time (robust to a loaded machine) plus a looser wall-clock guard for blocking
    signal.setitimer(signal.ITIMER_PROF, _cfg["timeout"])
    signal.setitimer(signal.ITIMER_REAL, 10 * _cfg["timeout"] + 1.0)
    try:
        with contextlib.redirect_stdout(_sink), contextlib.redirect_stderr(_sink):
            exec(compile(_src, "<program-%d>" % _i, "exec"), {"__name__": "__main__"})
    except _Timeout:
        _status = "timeout"
    except BaseException as _exc:
        _status = "fail:" + type(_exc).__name__
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
    _out.write(json.dumps([_i, _status]) + "\n")
    _out.flush()
"""


def run_tests(programs: Sequence[str], *, timeout: float = 2.0, memory_mb: int = 512) -> list[str]:
    """Run each program (code followed by its tests) and say how it ended.

    All programs run one after another in one sandboxed subprocess
    (:func:`~dataquality_thresholds.sandbox.run_python`), each in a fresh
    namespace with its own ``timeout`` of CPU time (so a loaded machine does not
    turn a slow pass into a timeout) and ``10 * timeout + 1`` seconds of wall time
    (for code that blocks). A program that hangs in a way the
    timer cannot interrupt gets the whole subprocess killed; it is reported as
    ``"timeout"`` and the rest run in a new subprocess.

    Parameters
    ----------
    programs : sequence of str
        Python sources; a program passes when it runs to the end without raising.
    timeout : float
        CPU seconds per program (wall-clock guard: ``10 * timeout + 1``).
    memory_mb : int
        Address-space limit of the subprocess.

    Returns
    -------
    list of str
        ``"pass"``, ``"timeout"`` or ``"fail:<ExceptionName>"``, in order.
    """
    if timeout <= 0:
        raise ConfigError("timeout must be > 0", field="timeout")
    results: list[str | None] = [None] * len(programs)
    start = 0
    while start < len(programs):
        todo = list(programs[start:])
        limits = SandboxLimits(
            wall_time=(10 * timeout + 1.0) * len(todo) + 5.0,
            memory_mb=memory_mb,
            max_output_bytes=64 * (len(todo) + 16),
        )
        cfg = json.dumps({"programs": todo, "timeout": float(timeout)})
        res = run_python(_RUNNER, limits=limits, files={"programs.json": cfg})
        done = 0
        for line in res.stdout.splitlines():
            try:
                i, status = json.loads(line)
            except (ValueError, TypeError):
                continue
            results[start + i] = status
            done = max(done, i + 1)
        if done < len(todo):  # the subprocess died on program start + done
            results[start + done] = "timeout" if res.timed_out or res.signal else "fail:crash"
            done += 1
        start += done
    return [r if r is not None else "fail:crash" for r in results]


# =========================================================================== mutation
@attrs.frozen(kw_only=True)
class Mutant:
    """A mutated program that fails the tests its original passes.

    Parameters
    ----------
    source : str
        The mutated program.
    operator : str
        One of :data:`MUTATION_OPERATORS`.
    lineno : int
        1-based line of the mutation.
    description : str
        What changed, e.g. ``"'<' -> '<='"``.
    status : str
        How the tests ended (``"fail:AssertionError"``, ``"timeout"`` ...).
    """

    source: str
    operator: str
    lineno: int
    description: str
    status: str


_CMP_FLIPS: dict[type, tuple[type, str, str]] = {
    ast.Lt: (ast.LtE, "<", "<="),
    ast.LtE: (ast.Lt, "<=", "<"),
    ast.Gt: (ast.GtE, ">", ">="),
    ast.GtE: (ast.Gt, ">=", ">"),
    ast.Eq: (ast.NotEq, "==", "!="),
    ast.NotEq: (ast.Eq, "!=", "=="),
}
_NONCOMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_ATOMIC = (ast.Name, ast.Constant, ast.Call, ast.Attribute, ast.Subscript)


class _Text:
    """The source as bytes with (line, col) -> offset mapping (col is a byte offset)."""

    def __init__(self, source: str) -> None:
        self.data = source.encode("utf-8")
        self.starts = [0]
        for i, b in enumerate(self.data):
            if b == 0x0A:
                self.starts.append(i + 1)

    def offset(self, lineno: int, col: int) -> int:
        return self.starts[lineno - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end

    def seg(self, node: ast.AST) -> str:
        a, b = self.span(node)
        return self.data[a:b].decode("utf-8")

    def replace(self, a: int, b: int, new: str) -> str:
        return (self.data[:a] + new.encode("utf-8") + self.data[b:]).decode("utf-8")

    def line_span(self, first: int, last: int) -> tuple[int, int]:
        a = self.starts[first - 1]
        b = self.starts[last] if last < len(self.starts) else len(self.data)
        return a, b


def _candidates(source: str) -> list[tuple[str, int, str, str]]:
    """Every single-point mutation: (operator, lineno, description, new source)."""
    tree = ast.parse(source)
    text = _Text(source)
    out: list[tuple[str, int, str, str]] = []
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    range_args: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "range"
        ):
            for arg in node.args:
                range_args.add(id(arg))
                seg = text.seg(arg)
                wrapped = seg if isinstance(arg, _ATOMIC) else f"({seg})"
                a, b = text.span(arg)
                for delta in ("+ 1", "- 1"):
                    out.append(
                        (
                            "range_bound",
                            arg.lineno,
                            f"range bound {seg!r} -> '{wrapped} {delta}'",
                            text.replace(a, b, f"{wrapped} {delta}"),
                        )
                    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                flip = _CMP_FLIPS.get(type(op))
                if flip is not None:
                    a = text.span(left)[1]
                    b = text.span(right)[0]
                    between = text.data[a:b].decode("utf-8")
                    if between.count(flip[1]) == 1:
                        new_between = between.replace(flip[1], flip[2])
                        out.append(
                            (
                                "compare_flip",
                                node.lineno,
                                f"{flip[1]!r} -> {flip[2]!r}",
                                text.replace(a, b, new_between),
                            )
                        )
                left = right
        elif (
            isinstance(node, ast.Constant)
            and type(node.value) is int
            and id(node) not in docstrings
            and id(node) not in range_args
        ):
            a, b = text.span(node)
            for new in (node.value + 1, node.value - 1):
                if new < 0 and node.value >= 0:
                    continue
                out.append(
                    (
                        "off_by_one",
                        node.lineno,
                        f"{node.value} -> {new}",
                        text.replace(a, b, str(new)),
                    )
                )
        elif isinstance(node, ast.BinOp) and isinstance(node.op, _NONCOMMUTATIVE):
            ls, rs = text.seg(node.left), text.seg(node.right)
            if ls == rs:
                continue
            la, lb = text.span(node.left)
            ra, rb = text.span(node.right)
            between = text.data[lb:ra].decode("utf-8")
            lw = ls if isinstance(node.left, _ATOMIC) else f"({ls})"
            rw = rs if isinstance(node.right, _ATOMIC) else f"({rs})"
            out.append(
                (
                    "swap_operands",
                    node.lineno,
                    f"{ls!r} and {rs!r} swapped",
                    text.replace(la, rb, f"{rw}{between}{lw}"),
                )
            )
        elif isinstance(node, ast.If):
            # drop the ``if`` when it has no else (keep a ``pass`` if the block empties)
            is_elif = text.data[text.line_span(node.lineno, node.lineno)[0] :].lstrip()
            if not node.orelse and not is_elif.startswith(b"elif"):
                a, b = text.line_span(node.lineno, node.end_lineno or node.lineno)
                indent = text.data[a : text.offset(node.lineno, node.col_offset)].decode()
                out.append(
                    (
                        "drop_branch",
                        node.lineno,
                        f"dropped the if-branch on line {node.lineno}",
                        text.replace(a, b, f"{indent}pass\n"),
                    )
                )
            # drop an ``elif`` clause
            if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
                inner = node.orelse[0]
                line = text.data[text.line_span(inner.lineno, inner.lineno)[0] :].lstrip()
                if line.startswith(b"elif"):
                    last = max(s.end_lineno or s.lineno for s in inner.body)
                    a, b = text.line_span(inner.lineno, last)
                    # a following elif/else clause takes the dropped one's place
                    new_src = (text.data[:a] + text.data[b:]).decode("utf-8")
                    out.append(
                        (
                            "drop_branch",
                            inner.lineno,
                            f"dropped the elif-branch on line {inner.lineno}",
                            new_src,
                        )
                    )
    original = ast.dump(tree)
    seen: set[str] = set()
    valid = []
    for name, lineno, desc, new_src in out:
        if new_src in seen:
            continue
        seen.add(new_src)
        try:
            mutated = ast.parse(new_src)
        except SyntaxError:
            continue
        if ast.dump(mutated) == original:
            continue
        valid.append((name, lineno, desc, new_src))
    return valid


def mutate_code(
    source: str,
    tests: str,
    *,
    seed: SeedLike,
    max_mutants: int = 5,
    operators: Sequence[str] = MUTATION_OPERATORS,
    timeout: float = 2.0,
) -> tuple[Mutant, ...]:
    """Return subtly wrong versions of ``source`` that fail ``tests``.

    Every single-point mutation of the syntax tree is a candidate: a comparison
    flipped (``<`` / ``<=``, ``>`` / ``>=``, ``==`` / ``!=``), an integer
    constant moved by one, a ``range`` bound moved by one, the operands of a
    non-commutative operator (``-``, ``/``, ``//``, ``%``, ``**``) swapped, or a
    branch dropped (an ``if`` without ``else``, or an ``elif`` clause).
    Candidates are shuffled with ``seed`` and run against the tests in one
    sandboxed subprocess; a mutant is kept only when the tests fail (or time
    out) on it.

    Parameters
    ----------
    source : str
        Correct Python code; it must pass ``tests``.
    tests : str
        Test code appended after the program (``assert`` statements, or
        anything that raises on failure).
    seed : int, SeedSequence or Generator
        Order in which candidates are tried.
    max_mutants : int
        Stop after this many failing mutants.
    operators : sequence of str
        Which of :data:`MUTATION_OPERATORS` to use.
    timeout : float
        Seconds per test run (a mutant that loops forever times out and counts
        as failing).

    Returns
    -------
    tuple of Mutant
        At most ``max_mutants``, in the shuffled order; empty when no
        candidate fails the tests.

    Raises
    ------
    ConfigError
        ``source`` does not parse, fails its own tests, or an unknown operator.
    """
    if max_mutants < 1:
        raise ConfigError("max_mutants must be >= 1", field="max_mutants")
    unknown = [o for o in operators if o not in MUTATION_OPERATORS]
    if unknown:
        raise ConfigError(
            f"unknown mutation operator {unknown[0]!r}; choose from "
            f"{', '.join(MUTATION_OPERATORS)}",
            field="operators",
        )
    try:
        candidates = [c for c in _candidates(source) if c[0] in operators]
    except SyntaxError as exc:
        raise ConfigError(
            f"source does not parse: {exc.msg} (line {exc.lineno})", field="source"
        ) from exc
    rng: np.random.Generator = as_generator(seed)
    order = rng.permutation(len(candidates)) if candidates else np.zeros(0, dtype=int)
    shuffled = [candidates[int(i)] for i in order]
    program = f"{source}\n\n{tests}\n"
    base = run_tests([program], timeout=timeout)[0]
    if base != "pass":
        raise ConfigError(f"the original source fails its own tests ({base})", field="source")
    kept: list[Mutant] = []
    batch = max(2 * max_mutants, 8)
    for start in range(0, len(shuffled), batch):
        chunk = shuffled[start : start + batch]
        statuses = run_tests([f"{c[3]}\n\n{tests}\n" for c in chunk], timeout=timeout)
        for (op, lineno, desc, new_src), status in zip(chunk, statuses, strict=True):
            if status != "pass":
                kept.append(
                    Mutant(
                        source=new_src, operator=op, lineno=lineno, description=desc, status=status
                    )
                )
                if len(kept) == max_mutants:
                    return tuple(kept)
    return tuple(kept)
