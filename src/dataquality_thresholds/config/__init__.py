"""Study configuration files (TOML) for the ``dqt`` command.

A config names the grid, the backend, the domains and the probe::

    run_dir = "runs/finance-study"      # relative to the config file
    seed = 0
    fractions = [0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    corruptions = ["obvious", "subtle"]
    replicates = 2
    size = 200
    budget_usd = 400.0                  # optional

    [backend]
    kind = "openai"                     # or "stub" (offline), "together", "tinker"
    base_model = "gpt-4o-mini-2024-07-18"
    hyperparameters = { n_epochs = 3 }  # optional
    rate_limit_wait = 600               # seconds of 429 backoff (every OpenAI setting: docs/cli.md)
    price_date = 2025-09-01             # price overrides, merged over the bundled table
    prices = { "gpt-4o-mini-2024-07-18" = 3.0 }
    sampling_prices = { "gpt-4o-mini-2024-07-18" = [0.15, 0.60] }

    [probe]                             # optional; omit to skip the probe
    questions = "bundled"               # or a path to a Betley-format YAML / our JSONL
    samples = 20
    max_tokens = 600                    # the answers' cap, and their length in the plan
    judge = "openai"                    # or "known" (offline, the stub only)
    judge_model = "gpt-4o-2024-08-06"

    [[domain]]
    name = "finance"
    pool = "bundled"                    # or "sample", or a paired-example JSONL path
    eval = "bundled"                    # or "sample", or an eval-item JSONL path
    judge = "reference"                 # "reference", "code" or "openai"

``"sample"`` uses the small bundled sample set (its prompts double as eval
items: a smoke test, not a held-out evaluation). Every key is listed in
docs/cli.md; an unknown one is refused, and every error names the file and the
field (``domain[1].judge``). :func:`copy_config` copies a config into its run
directory and records where it came from, so the copy resolves relative paths as
the original did (:func:`config_base`, :func:`load_config`).
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.config._build import build_study
from dataquality_thresholds.config._copy import config_base, copy_config
from dataquality_thresholds.config._parse import StudyConfig, load_config, parse_config

__all__ = [
    "StudyConfig",
    "build_study",
    "config_base",
    "copy_config",
    "load_config",
    "parse_config",
]

publish(__name__, globals(), __all__)
