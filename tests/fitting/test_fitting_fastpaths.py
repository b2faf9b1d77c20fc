"""The profile's hot paths: scalar and single-vector shortcuts, and the barrier-aware minimiser."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fitsim import SPECS
from hypothesis import given, settings, strategies as st

from dataquality_thresholds.fitting import _logistic as lg
from dataquality_thresholds.fitting._data import prepare
from dataquality_thresholds.fitting._logistic import e_from_threshold
from dataquality_thresholds.fitting._optim import minimize_newton


@settings(max_examples=400, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    log_b=st.floats(-6.0, 8.0),
    T=st.floats(-1.0, 2.0),
)
def test_one_slope_gives_what_the_vectorised_midpoint_gives(spec, log_b, T) -> None:
    b = math.exp(log_b)
    one = float(e_from_threshold(b, T, spec))
    many = e_from_threshold(np.array([b, 2.0 * b]), T, spec)[0]
    # both NaN where the slope cannot reach T, otherwise the same number
    assert (math.isnan(one) and math.isnan(many)) or one == pytest.approx(
        many, rel=1e-12, abs=1e-12
    )


@settings(max_examples=100, deadline=None)
@given(
    b=st.floats(0.01, 400.0),
    c=st.floats(0.0, 1.0),
    d=st.floats(0.0, 1.0),
    m=st.floats(-5.0, 5.0),
)
def test_the_single_vector_curve_is_the_batched_one(b, c, d, m) -> None:
    x = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 2)
    k = np.arange(x.size) + 20.0
    data = prepare(x, k, n=np.full(x.size, 60.0))
    theta = np.array([b, c, d, m])
    obj = lg._Objective(data, data.x.copy(), theta, np.arange(4), firth=True)
    mu, J = obj.curve(theta)
    mu2, J2 = lg._mu_jac(theta, data.x)
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(J, J2)


def _barrier(shift: float):
    """A 1-D objective with a log barrier at 0 and 1 and its minimum near ``shift``."""

    def f(x):
        v = float(x[0])
        if not 0.0 < v < 1.0:
            return math.inf
        return 50.0 * (v - shift) ** 2 - math.log(v * (1.0 - v))

    def grad(x):
        v = float(x[0])
        return np.array([100.0 * (v - shift) - 1.0 / v + 1.0 / (1.0 - v)])

    return f, grad


def test_a_step_onto_the_barrier_is_shortened_when_marked_interior() -> None:
    # with a Hessian that leaves the barrier's curvature out (as the profile's does),
    # the Newton step from 0.3 overshoots past 1 and the box would clip it onto the
    # barrier, from which the iterate creeps back by halving its distance
    f, grad = _barrier(1.2)
    lower, upper = np.array([1e-10]), np.array([1.0 - 1e-10])
    start = np.array([0.3])
    kw = {"hess": lambda x: np.array([[100.0]])}
    plain = minimize_newton(f, grad, start, lower, upper, **kw)
    marked = minimize_newton(f, grad, start, lower, upper, interior=np.array([True]), **kw)
    assert marked.converged and plain.converged
    assert marked.x[0] == pytest.approx(plain.x[0], abs=1e-6)
    assert 0.9 < marked.x[0] < 1.0
    assert marked.n_iter <= plain.n_iter - 8  # 16 against 26 here


def test_interior_steps_never_reach_the_bound() -> None:
    f, grad = _barrier(1.2)
    seen = []

    def spy(x):
        seen.append(float(x[0]))
        return f(x)

    lower, upper = np.array([1e-10]), np.array([1.0 - 1e-10])
    res = minimize_newton(
        spy,
        grad,
        np.array([0.3]),
        lower,
        upper,
        hess=lambda x: np.array([[100.0]]),
        interior=np.array([True]),
    )
    assert res.converged
    assert max(seen) < 0.999
    assert not res.at_bound


def test_a_singular_information_gives_an_infinite_penalty_without_a_warning() -> None:
    # a floor at 1e-10 and a rise far past the data leave the information's entries
    # near 1e-300: numpy's slogdet then flags a division by zero (an error under this
    # suite's filterwarnings); a general optimiser probing the profile went there
    x = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 3)
    data = prepare(x, np.arange(x.size) + 200.0, n=np.full(x.size, 500.0))
    values = []
    for e in np.linspace(5.3, 5.7, 41):
        theta = np.array([80.0, 1e-10, 1.0, e])
        obj = lg._Objective(data, data.x.copy(), theta, np.arange(4), firth=True)
        values.append(obj.penalty(*obj.curve(theta)))
        # a NaN here would poison the optimiser's comparisons; inf rejects the point
        assert not math.isnan(values[-1])
        assert not math.isnan(obj.f(theta))
    assert math.inf in values
