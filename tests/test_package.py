import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

import dataquality_thresholds as dqt

FACES = [
    "dataquality_thresholds.io",
    "dataquality_thresholds.mixing",
    "dataquality_thresholds.corruption",
    "dataquality_thresholds.backends",
    "dataquality_thresholds.backends.openai",
    "dataquality_thresholds.backends.hf",
    "dataquality_thresholds.backends.tinker",
    "dataquality_thresholds.backends.together",
    "dataquality_thresholds.evaluation",
    "dataquality_thresholds.fitting",
    "dataquality_thresholds.study",
    "dataquality_thresholds.config",
    "dataquality_thresholds.testing",
]


def test_all_is_the_export_table():
    assert len(set(dqt.__all__)) == len(dqt.__all__), "duplicates in __all__"
    # names that need an optional extra load lazily but stay out of __all__ (import *)
    assert set(dqt._NEEDS_EXTRA) <= set(dqt._EXPORTS)
    assert set(dqt.__all__) == {"__version__", *dqt._EXPORTS} - set(dqt._NEEDS_EXTRA)
    for name, module in dqt._EXPORTS.items():
        value = getattr(dqt, name)
        # the name comes from the module the table names, and is the same object there
        assert getattr(importlib.import_module(module, "dataquality_thresholds"), name) is value


def test_type_checking_imports_spell_out_the_same_table():
    tree = ast.parse(Path(dqt.__file__).read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    spelled = {
        alias.name: "." + node.module.removeprefix("dataquality_thresholds.")
        for node in block.body
        for alias in node.names
    }
    assert spelled == dqt._EXPORTS


BLOCK_EXTRAS = """
import sys
blocked = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
from dataquality_thresholds import *
import dataquality_thresholds as dqt
from dataquality_thresholds.errors import BackendUnavailableError
try:
    dqt.InspectSampler
except BackendUnavailableError as exc:
    print("typed:", "[inspect]" in str(exc))
print("ok", "ExamplePool" in dir())
"""


def test_star_import_works_without_optional_extras(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", BLOCK_EXTRAS, "inspect_ai,torch,transformers,peft,trl,matplotlib"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["typed:", "True", "ok", "True"]


def test_dir_lists_every_export():
    assert set(dqt._EXPORTS) <= set(dir(dqt))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dqt.nope  # noqa: B018


@pytest.mark.parametrize("face", FACES)
def test_faces_publish_their_names_under_their_own_path(face):
    mod = importlib.import_module(face)
    assert len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert not name.startswith("_"), name
        value = getattr(mod, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            # one loop per face sets __module__ (docs, reprs, pickles name the public path)
            assert value.__module__ in FACES, (face, name, value.__module__)


def test_attrs_annotations_stay_resolvable_after_publishing():
    from dataquality_thresholds.backends import FineTuneJob

    created = attrs.fields(FineTuneJob).created_at.type
    assert not isinstance(created, str)


def test_records_pickle_under_their_public_path():
    import pickle

    from dataquality_thresholds import Message

    blob = pickle.dumps(Message(role="user", content="hi"))
    assert b"dataquality_thresholds.records" in blob
    assert pickle.loads(blob) == Message(role="user", content="hi")


def test_version_is_a_string():
    assert isinstance(dqt.__version__, str) and dqt.__version__[0].isdigit()


def test_import_is_cheap_and_side_effect_free(tmp_path):
    code = (
        "import os, sys; before=set(os.listdir('.'));"
        "import dataquality_thresholds;"
        "heavy=[m for m in ('openai','datasets','statsmodels','tiktoken','matplotlib','scipy','pyarrow') if m in sys.modules];"
        "print(heavy); assert set(os.listdir('.'))==before"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_backends_face_does_not_import_provider_sdks(tmp_path):
    # the openai face loads the SDK with OpenAIBackend / OpenAISampler only, so config
    # (which checks hyperparameters with the face's rule) parses without it
    code = (
        "import sys; import dataquality_thresholds.backends, dataquality_thresholds.evaluation;"
        "import dataquality_thresholds.backends.openai, dataquality_thresholds.config;"
        "print([m for m in ('openai','torch','transformers') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_py_typed_is_shipped():
    from importlib import resources

    assert resources.files("dataquality_thresholds").joinpath("py.typed").is_file()
