"""The package's import rules (docs/architecture.md), checked on the real import graph.

import-linter's contracts in pyproject.toml (layers, private modules, no cycles) run here,
so `make test` and CI enforce them; grimp, the graph library under import-linter, checks
the one rule a contract cannot express: no ``_name`` imported from another wing.
"""

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = "dataquality_thresholds"
# Private to the package, shared by every wing by design.
PACKAGE_PRIVATE = {f"{PKG}._util", f"{PKG}._version"}


def wing(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def imported_names(module: str, line: int) -> list[str]:
    """Names a ``from ... import`` statement starting at ``line`` of ``module`` imports."""
    spec = importlib.util.find_spec(module)
    tree = ast.parse(Path(spec.origin).read_text())
    return [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.lineno == line
        for alias in node.names
    ]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(PKG, cache_dir=None)


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe) if exe.exists() else shutil.which("lint-imports"), "--no-cache"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout or "broken" not in out.stdout.split("Contracts:")[-1]


def test_no_private_name_crosses_a_wing(graph):
    crossings = []
    for importer in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(importer):
            if wing(importer) == wing(imported) or wing(imported) in PACKAGE_PRIVATE:
                continue
            for detail in graph.get_import_details(importer=importer, imported=imported):
                for name in imported_names(importer, detail["line_number"]):
                    if name.startswith("_") and not name.startswith("__"):
                        crossings.append(f"{importer}:{detail['line_number']}: {name}")
    assert crossings == []


def test_no_private_module_outside_its_package_by_name(graph):
    # import-linter's private_modules contract covers this too; kept as a direct check of
    # the graph so a contract typo cannot switch the rule off silently.
    bad = []
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            parts = imported.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    parent = ".".join(parts[:i])
                    if not (importer == parent or importer.startswith(parent + ".")):
                        bad.append((importer, imported))
                    break
    assert bad == []


def test_no_module_over_600_lines_unless_named_in_the_architecture_page():
    # Single-class modules allowed past 600 lines are named in docs/architecture.md.
    text = (ROOT / "docs" / "architecture.md").read_text()
    allowed = {
        line.split("`")[1]
        for line in text.splitlines()
        if line.startswith("- `") and "lines" in line
    }
    src = ROOT / "src" / PKG
    big = []
    for path in src.rglob("*.py"):
        rel = path.relative_to(src.parent).as_posix()
        if len(path.read_text().splitlines()) > 600 and rel not in allowed:
            big.append(rel)
    assert big == []
