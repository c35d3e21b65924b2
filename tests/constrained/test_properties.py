"""Property tests against closed forms (hypothesis)."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numopt.constrained import minimize
from numopt.constrained._hs import hs_problem
from numopt.constrained._merit import merit_gradient, merit_value

seeds = st.integers(0, 2**32 - 1)


def _qp(seed, n, m):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    Q = M.T @ M + np.eye(n)
    q = rng.standard_normal(n)
    A = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    return Q, q, A, b, rng


def _qp_kwargs(Q, q, A, b, x0):
    return dict(fun=lambda x: 0.5 * x @ Q @ x + q @ x, x0=x0, jac=lambda x: Q @ x + q, hess=lambda x: Q,
                constraints={"type": "eq", "fun": lambda x: A @ x - b, "jac": lambda x: A,
                             "hess": lambda x, v: np.zeros((len(x), len(x)))})


@settings(max_examples=15)
@given(seed=seeds, n=st.integers(2, 12), frac=st.floats(0.1, 0.9))
def test_qp_one_outer_step_with_exact_inner(seed, n, frac):
    m = max(1, int(frac * n))
    Q, q, A, b, rng = _qp(seed, n, m)
    K = np.block([[Q, A.T], [A, np.zeros((m, m))]])
    sol = np.linalg.solve(K, np.concatenate([-q, b]))
    for sketch, extra in (("direct", {}), ("gaussian", {"block_size": n + m})):
        res = minimize(**_qp_kwargs(Q, q, A, b, rng.standard_normal(n)), sketch=sketch, rng=seed, tol=1e-7, **extra)
        assert res.success and res.nit == 1
        np.testing.assert_allclose(res.x, sol[:n], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(res.multipliers, sol[n:], rtol=1e-6, atol=1e-6)


@settings(max_examples=15)
@given(seed=seeds, n=st.integers(2, 10), frac=st.floats(0.1, 0.9))
def test_affine_projection(seed, n, frac):
    m = max(1, int(frac * n))
    rng = np.random.default_rng(seed)
    A, b, v = rng.standard_normal((m, n)), rng.standard_normal(m), rng.standard_normal(n)
    # Block Kaczmarz on the KKT matrix contracts at a rate set by cond(K)^2: at cond(A) = 80 (seed 25785, n = 8,
    # frac = 0.75) ten million inner steps do not reach the descent test's accuracy and the run ends INNER_SOLVER
    # honestly. The property is about the answer when the inner solver can deliver it.
    assume(np.linalg.cond(A) < 20)
    res = minimize(**_qp_kwargs(np.eye(n), -v, A, b, np.zeros(n)), sketch="block_kaczmarz", rng=seed, tol=1e-9)
    lam = np.linalg.solve(A @ A.T, A @ v - b)
    np.testing.assert_allclose(res.x, v - A.T @ lam, atol=1e-7)
    np.testing.assert_allclose(res.multipliers, lam, atol=1e-6 * (1 + np.abs(lam).max()))


def _sphere(fun, jac, hess, x0, r=1.0):
    n = len(x0)
    return dict(fun=fun, x0=x0, jac=jac, hess=hess,
                constraints={"type": "eq", "fun": lambda x: np.array([x @ x - r * r]), "jac": lambda x: 2 * x[None, :],
                             "hess": lambda x, v: 2 * v[0] * np.eye(n)})


@settings(max_examples=15)
@given(seed=seeds, n=st.integers(2, 8), r=st.floats(0.5, 3.0))
def test_sphere_projection(seed, n, r):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(n) * 2
    x0 = rng.standard_normal(n)
    x0 *= r / np.linalg.norm(x0)
    kw = _sphere(lambda x: 0.5 * (x - v) @ (x - v), lambda x: x - v, lambda x: np.eye(n), x0, r)
    res = minimize(**kw, sketch="direct")
    assert res.success
    np.testing.assert_allclose(res.x, r * v / np.linalg.norm(v), atol=1e-7)
    np.testing.assert_allclose(res.multipliers[0], (np.linalg.norm(v) / r - 1) / 2, atol=1e-7)


@settings(max_examples=15)
@given(seed=seeds, n=st.integers(2, 8), sketch=st.sampled_from(["direct", "block_kaczmarz", "kaczmarz"]))
def test_linear_objective_on_sphere(seed, n, sketch):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal(n)
    x0 = rng.standard_normal(n)
    x0 /= np.linalg.norm(x0)
    if x0 @ c > 0.999 * np.linalg.norm(c):  # start away from the maximiser, a KKT point too
        x0 = -x0
    kw = _sphere(lambda x: c @ x, lambda x: c, lambda x: np.zeros((n, n)), x0)
    res = minimize(**kw, sketch=sketch, rng=seed)
    assert res.success
    np.testing.assert_allclose(res.x, -c / np.linalg.norm(c), atol=1e-7)
    np.testing.assert_allclose(res.fun, -np.linalg.norm(c), atol=1e-8)


@settings(max_examples=20)
@given(seed=seeds, name=st.sampled_from(["HS7", "HS26", "HS40", "HS42", "HS61"]), mu=st.floats(0.1, 10),
       nu=st.floats(0.01, 1))
def test_merit_gradient_matches_finite_differences(seed, name, mu, nu):
    p = hs_problem(name)
    rng = np.random.default_rng(seed)
    x = p.x0 + 0.3 * rng.standard_normal(p.n)
    lam = rng.standard_normal(p.m)

    def merit(z):
        xx, ll = z[:p.n], z[p.n:]
        g = p.grad(xx) + p.cons_jac(xx).T @ ll
        return merit_value(p.fun(xx), p.cons(xx), g, ll, mu, nu)

    G = p.cons_jac(x)
    gl = p.grad(x) + G.T @ lam
    H = p.hess(x) + p.cons_hess(x, lam)
    gx, glam = merit_gradient(p.cons(x), gl, H, G, mu, nu)
    z = np.concatenate([x, lam])
    h = 1e-6
    fd = np.array([(merit(z + h * e) - merit(z - h * e)) / (2 * h) for e in np.eye(len(z))])
    np.testing.assert_allclose(np.concatenate([gx, glam]), fd, rtol=1e-5, atol=1e-6 * (1 + np.abs(fd).max()))


def test_merit_gradient_needs_lagrangian_hessian():
    """With ∇²f in place of ∇²ₓL (the reference code's slip) the gradient is wrong on HS7."""
    p = hs_problem("HS7")
    x, lam = p.x0, np.array([0.7])
    G = p.cons_jac(x)
    gl = p.grad(x) + G.T @ lam
    right = merit_gradient(p.cons(x), gl, p.hess(x) + p.cons_hess(x, lam), G, 1.0, 0.1)[0]
    wrong = merit_gradient(p.cons(x), gl, p.hess(x), G, 1.0, 0.1)[0]
    assert np.abs(right - wrong).max() > 1e-2


def test_descent_identity_for_exact_newton_step():
    """∇L_{μ,ν}ᵀΔ = ∇ₓLᵀΔx + cᵀΔλ − ν‖∇ₓL‖² − μ‖c‖² for the exact Newton step (B = H)."""
    p = hs_problem("HS40")
    x, lam = p.x0, np.array([0.3, -0.2, 0.1])
    G, c = p.cons_jac(x), p.cons(x)
    gl = p.grad(x) + G.T @ lam
    H = p.hess(x) + p.cons_hess(x, lam)
    K = np.block([[H, G.T], [G, np.zeros((3, 3))]])
    d = np.linalg.solve(K, -np.concatenate([gl, c]))
    mu, nu = 2.0, 0.05
    gx, glam = merit_gradient(c, gl, H, G, mu, nu)
    lhs = gx @ d[:4] + glam @ d[4:]
    rhs = gl @ d[:4] + c @ d[4:] - nu * gl @ gl - mu * c @ c
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


@settings(max_examples=10)
@given(seed=seeds, name=st.sampled_from(["HS6", "HS27", "HS42", "HS52", "HS40"]),
       sketch=st.sampled_from(["kaczmarz", "block_kaczmarz", "direct"]))
def test_penalties_monotone(seed, name, sketch):
    res = minimize(**hs_problem(name).kwargs(), sketch=sketch, rng=seed)
    assert np.all(np.diff(res.mu_history) >= 0)
    assert np.all(np.diff(res.nu_history) <= 0)
    assert np.all(np.diff(res.delta_history) <= 0)
    assert len(res.mu_history) == res.nit + 1


@pytest.mark.parametrize("sketch", ["kaczmarz", "block_kaczmarz", "gaussian"])
def test_seeded_runs_bit_reproducible(sketch):
    p = hs_problem("HS42")
    a = minimize(**p.kwargs(), sketch=sketch, rng=7)
    b = minimize(**p.kwargs(), sketch=sketch, rng=np.random.default_rng(7))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.multipliers, b.multipliers)
    assert a.inner_iterations == b.inner_iterations and np.array_equal(a.kkt_history, b.kkt_history)
    c = minimize(**p.kwargs(), sketch=sketch, rng=8)
    assert c.inner_iterations != a.inner_iterations or not np.array_equal(c.x, a.x)
