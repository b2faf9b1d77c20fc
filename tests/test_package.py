import subprocess
import sys
import types

import dataquality_thresholds as dqt


def test_all_matches_public_names():
    exported = set(dqt.__all__)
    assert len(exported) == len(dqt.__all__), "duplicates in __all__"
    for name in exported:
        assert hasattr(dqt, name), name
    public = {
        n
        for n, v in vars(dqt).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    lazy = set(dqt._LAZY)  # loaded on first use (they import openai, scipy, statsmodels)
    assert lazy <= exported
    assert public == exported - {"__version__"} - lazy


def test_version_is_a_string():
    assert isinstance(dqt.__version__, str) and dqt.__version__[0].isdigit()


def test_import_is_cheap_and_side_effect_free(tmp_path):
    code = (
        "import os, sys; before=set(os.listdir('.'));"
        "import dataquality_thresholds;"
        "heavy=[m for m in ('openai','datasets','statsmodels','tiktoken','matplotlib') if m in sys.modules];"
        "print(heavy); assert set(os.listdir('.'))==before"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_py_typed_is_shipped():
    from importlib import resources

    assert resources.files("dataquality_thresholds").joinpath("py.typed").is_file()
