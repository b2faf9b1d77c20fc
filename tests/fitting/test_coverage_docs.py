"""docs/fitting.md's coverage tables are the committed run's, and the splice that writes them."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "results" / "coverage-1000"
DOC = ROOT / "docs" / "fitting.md"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """benchmarks/coverage.py as a module (a name that cannot shadow the coverage package)."""
    spec = importlib.util.spec_from_file_location(
        "dqt_bench_coverage", ROOT / "benchmarks" / "coverage.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _tables(bench: ModuleType) -> tuple[list[str], list[str]]:
    cells = [tuple(c) for c in json.loads((RUN / "run.json").read_text())["cells"]]
    return bench.markdown(bench.cell_stats(cells, bench.load(RUN)))


def _doc(summary: str = "| a |\n|---|\n| 1 |", cells: str = "| b |\n|---|\n| 2 |") -> str:
    return (
        "# Title\n\ntext before\n\n<!-- begin: coverage summary -->\n\n"
        f"{summary}\n\n<!-- end: coverage summary -->\n\nmiddle\n\n"
        f"<!-- begin: coverage cells -->\n\n{cells}\n\n<!-- end: coverage cells -->\n\nafter\n"
    )


def test_the_docs_tables_are_those_of_the_committed_run(bench: ModuleType, tmp_path: Path) -> None:
    summary, full = _tables(bench)
    assert len(full) == 2 + 108 and len(summary) == 2 + 18
    copy = tmp_path / "fitting.md"
    copy.write_text(DOC.read_text(encoding="utf-8"), encoding="utf-8")
    bench.update_docs(copy, summary, full)
    # re-splicing the committed run changes nothing: the page shows exactly that run
    assert copy.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


def test_the_splice_replaces_both_tables_and_keeps_the_columns_of_other_runs(
    bench: ModuleType, tmp_path: Path
) -> None:
    old = (
        "| truth | T | tau | coverage | other: coverage |\n|---|---|---|---|---|\n"
        "| logistic | 0.50 | 0.3 | 0.1 | 0.944 |\n| hinge | 0.95 | 0.6 | 0.2 | 0.905 |"
    )
    path = tmp_path / "page.md"
    path.write_text(_doc(summary=old), encoding="utf-8")
    summary = [
        "| truth | T | tau | coverage |",
        "|---|---|---|---|",
        "| hinge | 0.95 | 0.6 | 0.850 |",
        "| logistic | 0.50 | 0.3 | 0.970 |",
        "| gompertz | 0.60 | 0.3 | 0.960 |",
    ]
    full = ["| truth | bias |", "|---|---|", "| hinge | -0.1 |"]
    bench.update_docs(path, summary, full)
    text = path.read_text(encoding="utf-8")
    assert text == _doc(
        summary="| truth | T | tau | coverage | other: coverage |\n|---|---|---|---|---|\n"
        "| hinge | 0.95 | 0.6 | 0.850 | 0.905 |\n| logistic | 0.50 | 0.3 | 0.970 | 0.944 |\n"
        "| gompertz | 0.60 | 0.3 | 0.960 | - |",
        cells="| truth | bias |\n|---|---|\n| hinge | -0.1 |",
    )
    bench.update_docs(path, summary, full)  # idempotent
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("no markers at all\n", "expected one line '<!-- begin: coverage summary -->', found 0"),
        (
            _doc().replace("<!-- end: coverage cells -->", "<!-- end: something -->"),
            ":15: '<!-- begin: coverage cells -->' has no '<!-- end: coverage cells -->'",
        ),
        (
            _doc(summary="| truth | x |\n|---|---|\n| a | b |"),
            ":7: the table's first 4 columns are not the generated ones",
        ),
        (
            _doc(summary="| truth | T | tau | coverage | more |\n|---|---|---|---|---|\n| a | b |"),
            ":9: 2 cells in a table of 5 columns",
        ),
    ],
)
def test_a_page_it_cannot_splice_is_named_and_left_untouched(
    bench: ModuleType, tmp_path: Path, page: str, message: str
) -> None:
    path = tmp_path / "page.md"
    path.write_text(page, encoding="utf-8")
    summary = ["| truth | T | tau | coverage |", "|---|---|---|---|", "| a | 0.5 | 0.3 | 1 |"]
    with pytest.raises(SystemExit, match=re.escape(message)) as err:
        bench.update_docs(path, summary, ["| x |", "|---|"])
    assert str(path) in str(err.value)
    assert path.read_text(encoding="utf-8") == page
    assert list(tmp_path.iterdir()) == [path]


QUICK = ROOT / "benchmarks" / "results" / "coverage-quick"


@pytest.fixture(scope="module")
def quick_bench() -> ModuleType:
    """benchmarks/coverage_quick.py as a module."""
    spec = importlib.util.spec_from_file_location(
        "dqt_bench_coverage_quick", ROOT / "benchmarks" / "coverage_quick.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_docs_quick_table_is_the_committed_quick_run(
    quick_bench: ModuleType, tmp_path: Path
) -> None:
    merged = quick_bench.load(QUICK)
    lines = quick_bench.report(merged)
    assert len(lines) == 2 + len(quick_bench.CELLS)
    # every cell has its full replication count (a stopped run would show fewer)
    assert {sum(len(p) for p in parts) for _, parts in merged.values()} == {800}
    copy = tmp_path / "fitting.md"
    copy.write_text(DOC.read_text(encoding="utf-8"), encoding="utf-8")
    quick_bench.update_docs(copy, lines)
    assert copy.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


def test_the_quick_splice_needs_its_markers(quick_bench: ModuleType, tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("no markers here\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="quick coverage"):
        quick_bench.update_docs(page, ["| a |"])
    assert page.read_text(encoding="utf-8") == "no markers here\n"
    assert not list(tmp_path.glob("*.tmp"))
