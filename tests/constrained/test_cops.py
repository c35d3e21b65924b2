"""The COPS / CUTEst / Lukšan–Vlček problem set (numopt/constrained/_cops.py): derivatives and known optima.

The reference solves use scipy's trust-constr, so that these tests check the problems, not numopt's solver.
"""

import dataclasses
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from numopt.constrained._cops import COPS_BUILDERS, _densify, chain, dtoc, elec, lukvle1, lukvle3, orthreg

#: small instances, one per builder (size argument, extra keywords)
SMALL = {
    "elec": lambda k: elec(3 + k, start="cutest" if k % 2 else "cops", rng=k),
    "chain": lambda k: chain(2 + k),
    "orthreg": lambda k: orthreg(5 + k, noise=0.1 * (k % 3)),
    "dtoc": lambda k: dtoc(2 + k, nx=1 + k % 3, ny=2 + k % 4, power=4 if k % 2 else 2),
    "lukvle1": lambda k: lukvle1(3 + k),
    "lukvle3": lambda k: lukvle3(4 + 2 * k),
}


def _dense(A):
    return A.toarray() if sp.issparse(A) else np.asarray(A)


def _central(fn, x, h=1e-6):
    cols = [(np.asarray(fn(x + h * e)) - np.asarray(fn(x - h * e))) / (2 * h) for e in np.eye(x.size)]
    return np.array(cols).T


def _trust_constr(p, gtol=1e-10):
    from scipy.optimize import minimize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return minimize(p.fun, p.x0, jac=p.grad, hess=p.hess, constraints=[p.scipy_constraint()],
                        method="trust-constr", options=dict(gtol=gtol, xtol=1e-14, maxiter=2000))


@pytest.mark.parametrize("name", sorted(SMALL))
@given(k=st.integers(0, 6), seed=st.integers(0, 2**32 - 1))
def test_derivatives_match_finite_differences(name, k, seed):
    p = SMALL[name](k)
    rng = np.random.default_rng(seed)
    x = p.x0 + 0.1 * rng.standard_normal(p.n)
    v = rng.standard_normal(p.m)
    scale = max(1.0, float(np.abs(p.grad(x)).max()))
    np.testing.assert_allclose(p.grad(x), _central(lambda z: [p.fun(z)], x)[0], rtol=1e-6, atol=1e-6 * scale)
    H = _dense(p.hess(x))
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12 * max(1.0, np.abs(H).max()))
    np.testing.assert_allclose(H, _central(p.grad, x), rtol=1e-5, atol=1e-6 * max(1.0, np.abs(H).max()))
    J = _dense(p.cons_jac(x))
    assert J.shape == (p.m, p.n) and p.cons(x).shape == (p.m,)
    np.testing.assert_allclose(J, _central(p.cons, x), rtol=1e-6, atol=1e-6 * max(1.0, np.abs(J).max()))
    C = _dense(p.cons_hess(x, v))
    np.testing.assert_allclose(C, _central(lambda z: _dense(p.cons_jac(z)).T @ v, x), rtol=1e-5,
                               atol=1e-6 * max(1.0, np.abs(C).max()))


@pytest.mark.parametrize("name", sorted(COPS_BUILDERS))
def test_sparse_and_dense_forms_agree(name):
    a = SMALL[name](3)
    before = dict(a.info)
    b = _densify(dataclasses.replace(a), sparse=False)  # the same oracles, returning dense arrays
    assert b.info["sparse"] is False and a.info == before
    x = a.x0 + 0.05
    v = np.arange(1.0, a.m + 1)
    for fa, fb, args in ((a.hess, b.hess, (x,)), (a.cons_jac, b.cons_jac, (x,)), (a.cons_hess, b.cons_hess, (x, v))):
        out = fb(*args)
        assert isinstance(out, np.ndarray)
        np.testing.assert_array_equal(_dense(fa(*args)), out)


def test_default_structures_are_sparse_where_natural():
    # the issue's cases hand CSR to every solver (chain, orthreg, dtoc, LV) and dense arrays for elec
    for p in (chain(10), orthreg(10), dtoc(5), lukvle1(10), lukvle3(10)):
        assert sp.issparse(p.cons_jac(p.x0)) and sp.issparse(p.hess(p.x0)), p.name
    p = elec(5)
    assert isinstance(p.hess(p.x0), np.ndarray) and isinstance(p.cons_jac(p.x0), np.ndarray)


def test_sizes_match_the_issue():
    assert (elec(100).n, elec(100).m) == (300, 100)
    assert (chain(100).n, chain(100).m) == (202, 103)
    assert (orthreg(2000).n, orthreg(2000).m) == (4005, 2000)
    p = dtoc(10000)
    assert (p.n, p.m) == (59994, 39996)
    assert lukvle1(100_000).m == 99_998


def test_chain_start_is_the_cops_start():
    p = chain(8)
    c = p.cons(p.x0)
    np.testing.assert_allclose(c[:8], 0, atol=1e-14)  # trapezoidal dynamics exact for the linear slope
    np.testing.assert_allclose(c[9:], 0, atol=1e-14)  # both ends
    assert c[8] < 0  # only the length is violated (the parabola is shorter than L = 4)


def test_known_solutions_are_kkt_points():
    for p in (lukvle1(50), orthreg(40, noise=0.0)):
        np.testing.assert_allclose(p.cons(p.xstar), 0, atol=1e-13)
        grad_lag = p.grad(p.xstar) + _dense(p.cons_jac(p.xstar)).T @ p.lamstar
        np.testing.assert_allclose(grad_lag, 0, atol=1e-13)
        assert p.fun(p.xstar) == p.fstar


def test_elec_reaches_the_best_known_energy():
    p = elec(25, start="cutest")
    r = _trust_constr(p)
    np.testing.assert_allclose(r.fun, p.info["fbest"], rtol=2e-9)
    np.testing.assert_allclose(np.linalg.norm(r.x.reshape(-1, 3), axis=1), 1, atol=1e-8)


def test_chain_energy_converges_to_the_catenary():
    # measured gaps 3.8e-3, 1.3e-3, 4.4e-4, 1.4e-4 at nh = 50..400: order about 1.6 (the slope is steep near t = 0)
    e = chain(50).info["f_continuous"]
    gaps = [_trust_constr(chain(nh)).fun - e for nh in (50, 100)]
    assert 0 < gaps[1] < 1.5e-3
    assert 2.5 < gaps[0] / gaps[1] < 4.5


def test_lukvle3_and_dtoc_optimal_values():
    np.testing.assert_allclose(_trust_constr(lukvle3(100)).fun, lukvle3(100).info["fbest"], rtol=2e-7)
    p = dtoc(100)
    np.testing.assert_allclose(_trust_constr(p).fun, p.info["f_sif"], rtol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda: elec(1), "at least 2"), (lambda: elec(5, start="x"), "`start`"), (lambda: chain(1), "`nh`"),
    (lambda: orthreg(4), "`N`"), (lambda: dtoc(5, power=3), "`power`"), (lambda: lukvle1(2), "`n`"),
    (lambda: lukvle3(7), "even"),
])
def test_bad_sizes_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
