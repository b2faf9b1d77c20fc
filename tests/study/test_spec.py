"""The design record (StudySpec), the Study facade over it, and the engine that takes data."""

import ast
from pathlib import Path

import attrs
import pytest
from common import answer_book, make_study

from dataquality_thresholds import ConfigError
from dataquality_thresholds.backends import LocalStubBackend
from dataquality_thresholds.study import Study, StudyCell, StudySpec

SMALL = dict(fractions=(1.0, 0.1, 0.5), corruptions=("subtle",), replicates=1, size=16)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (dict(domains={}), "domains", "at least one domain"),
        (dict(fractions=(0.1, 0.5)), "fractions", "at least 3 distinct shares"),
        (dict(fractions=(0.1, 0.5, 0.5)), "fractions", "at least 3 distinct shares"),
        (dict(fractions=(0.1, 0.5, 1.5)), "fractions", "must be a share in \\[0, 1\\]"),
        (dict(corruptions=("typo",)), "corruptions", "unknown corruption 'typo'"),
        (dict(replicates=0), "replicates", "replicates must be >= 1"),
        (dict(size=10_000), "size", "larger than domain 'finance'"),
        (dict(budget_usd=-1.0), "budget_usd", "budget_usd must be a number >= 0"),
        (dict(budget_usd=float("nan")), "budget_usd", "budget_usd must be a number >= 0"),
        (dict(budget_usd=True), "budget_usd", "budget_usd must be a number >= 0"),
        (dict(fractions=(True, False, 0.5)), "fractions", "must be a share in \\[0, 1\\]"),
        (dict(fractions=("0.1", "0.5", "1")), "fractions", "must be a share in \\[0, 1\\]"),
        (dict(replicates=2.5), "replicates", "replicates must be a whole number"),
        (dict(size=True), "size", "size must be a whole number"),
        (dict(seed=1.5), "seed", "seed must be a whole number"),
        (dict(eval_temperature=float("nan")), "eval_temperature", "finite number >= 0"),
        (dict(design="greedy"), "design", "design must be 'grid' or 'adaptive'"),
        (dict(eval_temperature=-0.1), "eval_temperature", "eval_temperature must be a finite"),
        (dict(target_half_width=0.5), "target_half_width", "must be in \\(0, 0.5\\)"),
    ],
)
def test_bad_designs_are_refused_with_the_field(tmp_path, changes, field, message):
    spec = make_study(tmp_path / "run").spec
    with pytest.raises(ConfigError, match=message) as info:
        attrs.evolve(spec, **changes)
    assert info.value.field == field
    # the facade refuses the same arguments the same way
    kw = {k: v for k, v in changes.items() if k != "domains"}
    if "domains" in changes:
        with pytest.raises(ConfigError, match=message):
            Study(domains={}, backend=spec.backend, run_dir=tmp_path / "run")
    else:
        with pytest.raises(ConfigError, match=message) as again:
            make_study(tmp_path / "run", **kw)
        assert again.value.field == field


def test_the_spec_normalises_its_fields(tmp_path):
    study = make_study(tmp_path / "run", hyperparameters={"n_epochs": 2}, **SMALL)
    spec = study.spec
    assert spec.fractions == (0.1, 0.5, 1.0) and study.fractions == spec.fractions
    assert spec.run_dir == tmp_path / "run" and isinstance(study.run_dir, Path)
    assert spec.base_model == spec.backend.base_model == study.base_model
    assert spec.hyperparameters == {"n_epochs": 2}
    with pytest.raises(TypeError):
        spec.domains["other"] = spec.domains["finance"]  # read-only
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.size = 8
    assert "finance" in repr(spec) and "eval_items" not in repr(spec)
    # the design's pure functions are the facade's
    assert spec.cells() == study.cells() and len(spec.cells()) == 3
    assert spec.config() == study.config()
    cell = StudyCell("finance", "subtle", 0.5, 0)
    assert spec.job_key(study.mixture(cell)) == study.job_key(study.mixture(cell))
    assert spec.mixer("finance", 0).mix(0.5, "subtle").fingerprint == (
        study.mixture(cell).fingerprint
    )


def test_a_spec_without_base_model_takes_the_backends(tmp_path):
    backend = LocalStubBackend(answer_book())
    spec = make_study(tmp_path / "run").spec
    bare = StudySpec(domains=spec.domains, backend=backend, run_dir=tmp_path / "x", size=16)
    assert bare.base_model == backend.base_model
    explicit = StudySpec(
        domains=spec.domains, backend=backend, run_dir=tmp_path / "x", size=16, base_model=None
    )
    assert explicit.base_model is None


def test_setting_an_attribute_evolves_the_spec(tmp_path):
    study = make_study(tmp_path / "run", **SMALL)
    before = study.spec
    cell = study.cells()[0]
    mixture = study.mixture(cell)
    study.run_dir = tmp_path / "elsewhere"
    assert study.spec is not before and before.run_dir == tmp_path / "run"
    assert study.run_dir == tmp_path / "elsewhere" == study.spec.run_dir
    assert study.mixture(cell) is mixture  # same domains, size and seed: the memo is kept
    other = LocalStubBackend(answer_book())
    other.name = "another-stub"
    study.backend = other
    assert study.spec.backend is other and study.base_model == before.base_model
    assert study.job_key(mixture) != before.job_key(mixture)  # keys are derived again
    study.seed = 6
    assert study.mixture(cell).fingerprint != mixture.fingerprint
    with pytest.raises(ConfigError, match="replicates"):
        study.replicates = 0
    assert study.replicates == 1  # a refused change leaves the design as it was


def test_from_spec_and_the_engine_run_the_same_study(tmp_path):
    from dataquality_thresholds.study._run import run_study

    study = make_study(tmp_path / "a", **SMALL)
    res = study.run(progress=False)
    assert res.completed
    twin = Study.from_spec(attrs.evolve(study.spec, run_dir=tmp_path / "b"))
    assert twin.plan() == study.plan()
    again = run_study(attrs.evolve(study.spec, run_dir=tmp_path / "c"), progress=False)
    assert again.completed and again.rows == res.rows
    lines = []
    run_study(study.spec, log=lines.append, progress=False)  # a resume: nothing to do
    assert lines == []


def test_the_engine_refuses_a_memo_of_another_design(tmp_path):
    from dataquality_thresholds.study._run import run_study
    from dataquality_thresholds.study._state import Mixtures

    spec = make_study(tmp_path / "run", **SMALL).spec
    with pytest.raises(ConfigError, match="another design"):
        run_study(spec, Mixtures(attrs.evolve(spec, seed=1)), progress=False)


def test_engine_modules_never_import_the_facade():
    import dataquality_thresholds.study as face

    folder = Path(face.__file__).parent
    for path in sorted(folder.glob("_*.py")):
        if path.name in ("__init__.py", "_study.py"):
            continue
        tree = ast.parse(path.read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
        assert "dataquality_thresholds.study._study" not in imported, path.name
        assert "dataquality_thresholds.study" not in imported, path.name


def test_a_lone_corruption_name_is_one_corruption(tmp_path):
    assert make_study(tmp_path / "run", corruptions="obvious").corruptions == ("obvious",)
