"""Helpers of the ThresholdFitter tests: reference-fit loading and simulated studies.

A module of its own (not conftest.py), so tests import it by a name no other
test folder uses."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import expit, logit

from dataquality_thresholds.fitting import _logistic as lg

# the shared folder is a sibling of the repository root
REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference_fits"
FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
#: Every threshold definition of the logistic, on x in [0.1, 1.0].
SPECS = [
    lg.ThresholdSpec("recovery", 0.9, 0.1, 1.0, "range", "value"),
    lg.ThresholdSpec("recovery", 0.8, 0.1, 1.0, "asymptote", "value"),
    lg.ThresholdSpec("recovery", 0.9, 0.1, 1.0, "range", "asymptote"),
    lg.ThresholdSpec("recovery", 0.7, 0.1, 1.0, "asymptote", "asymptote"),
    lg.ThresholdSpec("midpoint", 0.5, 0.1, 1.0, "range", "value"),
]


def _case(name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    folder = REFERENCE / name
    if not (folder / "case.json").is_file():
        pytest.skip(
            f"reference fit {name!r} not found at {folder} (the ../shared/reference_fits "
            "folder is not part of the repository; these checks run where it is present)"
        )
    case = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    with (folder / case.get("data_file", "data.csv")).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cols = {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}
    return case, cols


def simulate_study(
    seed: int,
    *,
    seeds_per_ratio: int = 3,
    items: int = 200,
    tau: float = 0.3,
    e: float = 0.45,
    slope: float = 10.0,
    floor: float = 0.35,
    top: float = 0.85,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-level counts from a logistic curve with a run-level logit random effect."""
    rng = np.random.default_rng(seed)
    x = np.repeat(np.array(FRACTIONS), seeds_per_ratio)
    mu = floor + (top - floor) * expit(slope * (x - e))
    k = rng.binomial(items, expit(logit(mu) + tau * rng.standard_normal(x.size)))
    return x, k.astype(float), np.full(x.size, float(items))
