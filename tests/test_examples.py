import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))

# Scripts that take options instead of an output folder. The OpenAI study only plans
# (no --yes), which needs no network; the key is conftest's dummy one.
ARGS = {
    "openai_study.py": lambda tmp: ["--budget", "1000", "--run-dir", str(tmp / "run")],
    # the real SmolLM2 study takes ~30 min; CI runs the same code on a tiny random model
    "small_model_study.py": lambda tmp: ["--quick", str(tmp)],
}


# Examples that take more than a few seconds run in `make test-slow`.
SLOW = {"small_model_study.py", "offline_demo_study.py"}


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else [])
        for p in EXAMPLES
    ],
)
def test_example_runs(script, tmp_path):
    args = ARGS.get(script.name, lambda tmp: [str(tmp)])(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_openai_example_plans_without_paying(tmp_path):
    script = next(p for p in EXAMPLES if p.name == "openai_study.py")
    proc = subprocess.run(
        [sys.executable, str(script), *ARGS[script.name](tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "estimated fine-tuning cost" in proc.stdout and "plan only" in proc.stdout


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.slow
def test_notebook_cells_run_in_order(tmp_path):
    import json

    nb = json.loads(
        (Path(__file__).resolve().parents[1] / "examples" / "offline_demo.ipynb").read_text()
    )
    code = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    script = tmp_path / "nb.py"
    script.write_text(
        "import matplotlib\nmatplotlib.use('Agg')\n" + code + "\nprint('notebook ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert "notebook ok" in proc.stdout
