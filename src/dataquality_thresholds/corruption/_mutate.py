"""Mutation operators: subtly wrong Python from single-point edits of a correct solution.

Private: :func:`mutate_code`, :class:`Mutant` and :data:`MUTATION_OPERATORS` are
imported from :mod:`dataquality_thresholds.corruption`, which re-exports them
under their public module path.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import attrs
import numpy as np

from dataquality_thresholds._util.seeding import SeedLike, as_generator
from dataquality_thresholds.corruption._runner import run_tests
from dataquality_thresholds.errors import ConfigError

__all__ = ["MUTATION_OPERATORS", "Mutant", "mutate_code"]

#: The mutation operators of :func:`mutate_code`.
MUTATION_OPERATORS: tuple[str, ...] = (
    "compare_flip",
    "off_by_one",
    "range_bound",
    "swap_operands",
    "drop_branch",
)


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
