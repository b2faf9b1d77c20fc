try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
import pytest

from dataquality_thresholds import ConfigError
from dataquality_thresholds.config import build_study, parse_config

BASE = """
run_dir = "run"
fractions = [0.1, 0.5, 1.0]
corruptions = ["obvious"]
size = 8
[[domain]]
name = "finance"
pool = "sample"
eval = "sample"
"""


@pytest.mark.parametrize(
    "backend,cls",
    [
        (
            '[backend]\nkind = "together"\nbase_model = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"\nserving = "serverless"\nhyperparameters = { n_epochs = 2, learning_rate = 1e-5 }\n',
            "TogetherBackend",
        ),
        (
            '[backend]\nkind = "tinker"\nbase_model = "Qwen/Qwen3-8B"\noutput_dir = "tinker-jobs"\nhyperparameters = { epochs = 2, lora_rank = 16 }\n',
            "TinkerBackend",
        ),
    ],
)
def test_config_builds_hosted_open_weight_backends(tmp_path, backend, cls):
    cfg = parse_config(tomllib.loads(BASE + backend), source="study.toml", base=tmp_path)
    study = build_study(cfg)
    assert type(study.backend).__name__ == cls


@pytest.mark.parametrize(
    "backend,field",
    [
        ('[backend]\nkind = "stub"\nbase_url = "http://127.0.0.1:1"\n', "backend.base_url"),
        ('[backend]\nkind = "openai"\noutput_dir = "x"\n', "backend.output_dir"),
        ('[backend]\nkind = "together"\nserving = "sometimes"\n', "backend.serving"),
        (
            '[backend]\nkind = "together"\nhyperparameters = { learning_rate_multiplier = 2 }\n',
            None,
        ),
        ('[backend]\nkind = "tinker"\nhyperparameters = { epochs = "many" }\n', None),
    ],
)
def test_config_refuses_backend_keys_that_do_not_apply(tmp_path, backend, field):
    with pytest.raises(ConfigError) as err:
        cfg = parse_config(tomllib.loads(BASE + backend), source="study.toml", base=tmp_path)
        build_study(cfg)
    assert "study.toml" in str(err.value)
    if field:
        assert err.value.field == field or field in str(err.value)


def test_adaptive_settings_reach_the_study_and_bad_ones_name_the_file(tmp_path):
    adaptive = (
        'design = "adaptive"\nmax_rounds = 3\nadaptive_metric = "domain_score"\n'
        "target_half_width = 0.1\nmax_fine_tunes = 20\neval_temperature = 0.5\n"
    )
    text = adaptive + BASE
    study = build_study(parse_config(tomllib.loads(text), source="study.toml", base=tmp_path))
    assert (study.max_rounds, study.target_half_width, study.max_fine_tunes) == (3, 0.1, 20)
    assert study.eval_temperature == 0.5
    bad = text.replace("target_half_width = 0.1", "target_half_width = 0.9")
    with pytest.raises(ConfigError) as err:
        build_study(parse_config(tomllib.loads(bad), source="study.toml", base=tmp_path))
    assert "study.toml" in str(err.value) and err.value.field == "target_half_width"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('eval_temperature = "warm"', "eval_temperature"),
        ("target_half_width = true", "target_half_width"),
        ("max_rounds = 0", "max_rounds"),
        ("max_fine_tunes = 2.5", "max_fine_tunes"),
        ("adaptive_metric = 5", "adaptive_metric"),
    ],
)
def test_adaptive_keys_are_checked_when_parsed(tmp_path, line, field):
    with pytest.raises(ConfigError) as err:
        parse_config(tomllib.loads(line + "\n" + BASE), source="study.toml", base=tmp_path)
    assert err.value.field == field
