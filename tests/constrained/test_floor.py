"""Rounding floors (issue 11, item 1): the inner accuracy target never goes below what the inner solver can
attain, and a KKT residual at its own rounding level ends the run with ROUNDING_FLOOR (a success) or, when `tol`
is out of reach, an honest STAGNATION, never 1000 iterations of rounding noise."""

import warnings

import numpy as np
import pytest

import numopt
from numopt.constrained import minimize
from numopt.constrained._hs import hs_problem
from numopt.constrained._inner import DirectInner, KKTSystem, MinresInner
from numopt.constrained._problems import semilinear_control


def _tiny_theta(k, kkt, kkt0):
    """A forcing term far below any rounding floor: the inner target theta delta ||b|| is ~1e-15 ||b||."""
    return 1e-14


@pytest.mark.parametrize("sketch", ["direct", "minres"])
@pytest.mark.parametrize("name", ["HS26", "HS40", "HS49", "HS52", "HS61"])
def test_forcing_term_floored_at_attainable_accuracy(name, sketch):
    """HS49 with MINRES asked for ||r|| <= 3.9e-19 where its floor was 3e-16 and stopped with STAGNATION (red on
    a fresh machine). With theta = 1e-14 every inner target is below the floor at every iteration, on every BLAS:
    the direction is kept once the paper's accuracy delta ||b|| (theta = 1) holds."""
    p = hs_problem(name)
    res = minimize(**p.kwargs(), sketch=sketch, theta=_tiny_theta)
    assert res.success, res.message
    assert res.kkt_residual <= 1e-8
    assert abs(res.fun - p.fstar) <= 1e-6 * (1 + abs(p.fstar))


def test_forcing_term_floored_schur_cg():
    p = semilinear_control(8)
    res = minimize(**p.kwargs(), sketch="schur_cg", theta=_tiny_theta, tol=1e-10)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, p.xstar, atol=1e-8)


def _hs49_final_system():
    """A KKT system of HS49's degenerate end game: B = H(x) with x 2e-4 from the quartic minimiser (cond ~ 1e8)."""
    p = hs_problem("HS49")
    x = np.ones(5) + np.array([-2.3e-4, -2.3e-4, 0.0, 1.2e-4, 0.0])
    G = p.cons_jac(x)
    b = -np.concatenate([p.grad(x), 3e-8 * np.ones(2)])
    return KKTSystem(p.hess(x), G), b


def test_minres_reports_its_floor_instead_of_burning_the_budget():
    system, b = _hs49_final_system()
    inner = MinresInner("splu")
    inner.prepare(system)
    out = inner.solve(np.zeros(7), b, 0.0, 1000)
    assert out.ok or out.reason == "floor"
    assert out.steps < 200  # the old loop ran to the budget when its recurrences stopped at 1e-15
    K = np.column_stack([system.matvec(e) for e in np.eye(7)])
    exact = np.linalg.solve(K, b)
    # the floored solve is as good a direction as the exact one to the accuracy the outer test needs
    assert out.residual <= 1e-6 * np.linalg.norm(b)
    np.testing.assert_allclose(out.z, exact, rtol=1e-4, atol=1e-8 * np.linalg.norm(exact))


def test_direct_solve_meets_a_zero_target_at_its_floor():
    system, b = _hs49_final_system()
    inner = DirectInner()
    inner.prepare(system)
    out = inner.solve(np.zeros(7), b, 0.0, 1)
    assert out.ok, (out.residual, out.reason)
    assert out.residual <= system.floor(out.z, b)


def test_kkt_system_norm_bounds_the_two_norm():
    system, _ = _hs49_final_system()
    K = np.column_stack([system.matvec(e) for e in np.eye(7)])
    two = np.linalg.norm(K, 2)
    assert two <= system.norm() <= np.sqrt(7) * two * 1.0000001
    from scipy.sparse.linalg import aslinearoperator

    op = KKTSystem(aslinearoperator(system.B), system.G)
    assert 0.5 * two <= op.norm() <= 1.2 * two


@pytest.mark.parametrize("sketch", ["direct", "minres"])
@pytest.mark.parametrize("name", ["HS9", "HS40", "HS42", "HS52"])
def test_tol_below_the_rounding_floor(name, sketch):
    """tol = 1e-16: the residual stalls at a few 1e-16 (or reaches 0 by luck); either way a success within
    1000 tol. tol = 1e-30: out of reach, an honest failure within a few dozen iterations (was 1000 iterations of
    MAXITER, or STAGNATION 'line search failed')."""
    p = hs_problem(name)
    res = minimize(**p.kwargs(), sketch=sketch, tol=1e-16)
    assert res.success and res.status in (numopt.Status.ROUNDING_FLOOR, numopt.Status.SUCCESS), res.message
    assert res.kkt_residual <= 1e-13
    if res.kkt_residual > 0:
        with pytest.warns(numopt.ConvergenceWarning, match="out of reach in double precision"):
            bad = minimize(**p.kwargs(), sketch=sketch, tol=1e-30)
        assert bad.status is numopt.Status.STAGNATION and bad.nit <= 60
        assert bad.kkt_residual <= 1e-8


def test_stall_near_the_floor_is_honest():
    """HS49 with MINRES at tol 1e-15: the shifted end game of the quartic minimiser creeps to KKT 2.07e-12 (f is
    at its rounding level); it used to run all 1000 iterations, now it stops as soon as 10 iterations gain < 0.1%."""
    p = hs_problem("HS49")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        res = minimize(**p.kwargs(), sketch="minres", tol=1e-15)
    assert res.nit <= 60 and res.kkt_residual <= 1e-10
    if not res.success:  # (a BLAS whose rounding lets MINRES finish would be fine too)
        assert res.status is numopt.Status.STAGNATION
        assert len(seen) == 1 and "decreased by less than" in str(seen[0].message)


def test_rounding_floor_message():
    p = hs_problem("HS52")
    res = minimize(**p.kwargs(), tol=1e-17)
    if res.status is numopt.Status.ROUNDING_FLOOR:
        assert res.message.startswith(numopt.Status.ROUNDING_FLOOR.value)
        assert "rounding level" in res.message and "minimize" not in res.message
