"""Fixtures for the ThresholdFitter tests: reference fits and simulated studies."""

from __future__ import annotations

from typing import Any

import pytest
from fitsim import _case, simulate_study


@pytest.fixture
def reference_case() -> Any:
    """Load ``case.json`` and ``data.csv`` of a reference fit, or skip when absent."""
    return _case


@pytest.fixture
def study() -> Any:
    """A factory of simulated studies (see :func:`fitsim.simulate_study`)."""
    return simulate_study
