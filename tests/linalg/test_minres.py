"""The one warm-started MINRES with the rounding floor (numopt.linalg._minres), used by numopt.constrained."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numopt.linalg._minres import FLOOR_C, minres_core, rounding_floor


def _kkt(rng, n=12, m=4):
    B = rng.standard_normal((n, n))
    B = B @ B.T + np.eye(n)
    G = rng.standard_normal((m, n))
    return np.block([[B, G.T], [G, np.zeros((m, m))]])


@settings(max_examples=20)
@given(seed=st.integers(0, 2**32 - 1))
def test_solves_indefinite_kkt_to_target(seed):
    rng = np.random.default_rng(seed)
    K = _kkt(rng)
    b = rng.standard_normal(K.shape[0])
    out = minres_core(K.__matmul__, b, x0=np.zeros_like(b), psolve=lambda r: r, target=1e-10 * np.linalg.norm(b),
                      maxiter=500, anorm=np.linalg.norm(K))
    assert out.ok and out.residual <= 1e-10 * np.linalg.norm(b)
    np.testing.assert_allclose(out.residual, np.linalg.norm(K @ out.x - b), rtol=1e-12, atol=0)
    np.testing.assert_allclose(out.x, np.linalg.solve(K, b), rtol=1e-6, atol=1e-8)


def test_warm_start_at_the_solution_takes_no_iteration():
    rng = np.random.default_rng(0)
    K = _kkt(rng)
    b = rng.standard_normal(K.shape[0])
    x = np.linalg.solve(K, b)
    out = minres_core(K.__matmul__, b, x0=x, psolve=lambda r: r, target=1e-8, maxiter=10, anorm=np.linalg.norm(K))
    assert out.ok and out.nit == 0


def test_target_below_the_floor_stops_at_the_floor():
    """A target of 0 cannot be met in floating point: the run stops (ok) at the rounding floor of its residual."""
    rng = np.random.default_rng(1)
    K = _kkt(rng)
    b = rng.standard_normal(K.shape[0])
    anorm = float(np.linalg.norm(K))
    out = minres_core(K.__matmul__, b, x0=np.zeros_like(b), psolve=lambda r: r, target=0.0, maxiter=1000, anorm=anorm)
    assert out.ok and 0 < out.nit < 1000
    assert out.residual <= rounding_floor(anorm, np.linalg.norm(out.x), np.linalg.norm(b))
    assert rounding_floor(2.0, 3.0, 4.0) == pytest.approx(FLOOR_C * np.finfo(float).eps / 2 * 10.0)


def test_indefinite_preconditioner_is_reported():
    K = np.diag([1.0, -2.0, 3.0])
    b = np.ones(3)
    out = minres_core(K.__matmul__, b, x0=np.zeros(3), psolve=lambda r: -r, target=1e-12, maxiter=10, anorm=3.0)
    assert not out.ok and out.reason == "preconditioner" and out.nit == 0


def test_budget_is_reported():
    rng = np.random.default_rng(2)
    K = _kkt(rng, n=40, m=10)
    b = rng.standard_normal(50)
    out = minres_core(K.__matmul__, b, x0=np.zeros(50), psolve=lambda r: r, target=1e-14, maxiter=3,
                      anorm=np.linalg.norm(K))
    assert not out.ok and out.reason == "budget" and out.nit == 3
    assert out.residual < np.linalg.norm(b)
