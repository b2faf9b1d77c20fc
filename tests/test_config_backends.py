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


OPENAI = BASE + (
    '[backend]\nkind = "openai"\nbase_model = "gpt-4o-mini-2024-07-18"\n'
    'suffix = "dqt"\npoll_interval = 5\nmax_poll_interval = 60\nbackoff = 2\njitter = 0.2\n'
    "max_active_jobs = 3\nrate_limit_wait = 120\ncreate_attempts = 2\nfile_poll_interval = 1\n"
    'file_timeout = 600\nmax_poll_failures = 4\nrejection_pattern = "policy"\nwork_dir = "tmp"\n'
    "price_date = 2025-09-01\n"
    'prices = { "gpt-4o-mini-2024-07-18" = 6.0 }\n'
    'sampling_prices = { "gpt-4o-mini-2024-07-18" = [0.2, 0.8] }\n'
    'fine_tuned_sampling_prices = { "gpt-4o-mini-2024-07-18" = [0.4, 1.6] }\n'
    '[probe]\njudge = "openai"\nsamples = 3\nmax_tokens = 300\naligned_below = 25\n'
    "coherent_above = 60\n"
)


def test_every_openai_setting_and_price_override_reaches_the_study(tmp_path):
    study = build_study(parse_config(tomllib.loads(OPENAI), source="study.toml", base=tmp_path))
    b = study.backend
    settings = (b.suffix, b.poll_interval, b.max_poll_interval, b.backoff, b.jitter)
    assert settings == ("dqt", 5.0, 60.0, 2.0, 0.2)
    assert (b.max_active_jobs, b.rate_limit_wait, b.create_attempts) == (3, 120.0, 2)
    assert (b.file_poll_interval, b.file_timeout, b.max_poll_failures) == (1.0, 600.0, 4)
    assert b._rejection.pattern == "policy" and b.work_dir == tmp_path / "tmp"
    table = b.price_table
    model = "gpt-4o-mini-2024-07-18"
    assert table.date == "2025-09-01" and table.price(model) == 6.0
    assert table.sampling_price(model) == (0.2, 0.8)
    assert table.sampling_price(model, fine_tuned=True) == (0.4, 1.6)
    assert table.price("gpt-4o-2024-08-06") == 25.0  # the bundled table under the overrides
    assert study.probe_max_tokens == 300 and study.spec.probe_cap == 300
    assert (study.probe.aligned_below, study.probe.coherent_above) == (25.0, 60.0)
    # the plan prices with the overrides: twice the training price, twice the cost
    cheap = OPENAI.replace('"gpt-4o-mini-2024-07-18" = 6.0', '"gpt-4o-mini-2024-07-18" = 3.0')
    other = build_study(parse_config(tomllib.loads(cheap), source="study.toml", base=tmp_path))
    plan, half = study.plan(), other.plan()
    assert plan.finetune_usd == pytest.approx(2 * half.finetune_usd)
    assert plan.price_date == "2025-09-01" and "at most 300 tokens" in plan.summary()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("rate_limit_wait = 120", "rate_limit_wait = -1"), "backend.rate_limit_wait"),
        (("rate_limit_wait = 120", 'rate_limit_wait = "1h"'), "backend.rate_limit_wait"),
        (("poll_interval = 5", "poll_interval = 0"), "backend.poll_interval"),
        (("backoff = 2", "backoff = 0.5"), "backend.backoff"),
        (("jitter = 0.2", "jitter = 2"), "backend.jitter"),
        (("max_active_jobs = 3", "max_active_jobs = 0"), "backend.max_active_jobs"),
        (("create_attempts = 2", "create_attempts = true"), "backend.create_attempts"),
        (('rejection_pattern = "policy"', 'rejection_pattern = "("'), "backend.rejection_pattern"),
        (("price_date = 2025-09-01", 'price_date = "soon"'), "backend.price_date"),
        (("= 6.0 }", '= "cheap" }'), "backend.prices.gpt-4o-mini-2024-07-18"),
        (("= 6.0 }", "= -6.0 }"), "backend.prices.gpt-4o-mini-2024-07-18"),
        (("= [0.2, 0.8] }", "= [0.2] }"), "backend.sampling_prices.gpt-4o-mini-2024-07-18"),
        (
            ("= [0.4, 1.6] }", "= [0.4, nan] }"),
            "backend.fine_tuned_sampling_prices.gpt-4o-mini-2024-07-18",
        ),
        (
            (
                '\nsampling_prices = { "gpt-4o-mini-2024-07-18" = [0.2, 0.8] }',
                "\nsampling_prices = 3",
            ),
            "backend.sampling_prices",
        ),
        (("suffix = ", 'api_key = "sk-secret"\nsuffix = '), "backend.api_key"),
        (("suffix = ", "colour = 1\nsuffix = "), "backend.colour"),
        (("max_tokens = 300", "max_tokens = 0"), "probe.max_tokens"),
        (("aligned_below = 25", "aligned_below = 101"), "probe.aligned_below"),
        (("coherent_above = 60", "coherent_above = true"), "probe.coherent_above"),
    ],
)
def test_bad_settings_are_typed_errors_naming_the_file_and_field(tmp_path, change, field):
    with pytest.raises(ConfigError) as err:
        parse_config(tomllib.loads(OPENAI.replace(*change)), source="study.toml", base=tmp_path)
    assert err.value.field == field and "study.toml" in str(err.value)
    if field == "backend.api_key":
        assert "sk-secret" not in str(err.value) and "OPENAI_API_KEY" in str(err.value)


def test_price_overrides_apply_to_the_openai_backend_only(tmp_path):
    stub = BASE + '[backend]\nkind = "stub"\nrate_limit_wait = 5\n'
    with pytest.raises(ConfigError) as err:
        parse_config(tomllib.loads(stub), source="study.toml", base=tmp_path)
    assert err.value.field == "backend.rate_limit_wait" and "does not apply" in str(err.value)
