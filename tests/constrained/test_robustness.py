"""Scale robustness (lambda0 = 0 on constrained logistic regression), the step-length safeguard, the
extrapolated step at singular minimisers and the logistic oracles."""

import numpy as np
import pytest

from numopt.constrained import minimize
from numopt.constrained._adasketch import _acceptable_step, _aitken_step
from numopt.constrained._hs import HS_NAMES, hs_problem
from numopt.constrained._problems import constrained_logistic


def _scaled(p, s, **extra):
    """The problem with objective s * f (same constraints)."""
    kw = p.kwargs()
    f, g, h = kw["fun"], kw["jac"], kw["hess"]
    kw.update(fun=lambda x: s * f(x), jac=lambda x: s * g(x), hess=lambda x: s * h(x), **extra)
    return kw


@pytest.fixture(scope="module")
def logistic300():
    return constrained_logistic(300, 123, rng=0)


def test_lambda0_zero_sum_loss_logistic(logistic300):
    """Issue 4 reproducer: the SUM logistic loss (f scaled by N = 300) from w0 = 1, lambda0 = 0. Without the sphere
    term 2 lambda I the reduced Hessian is positive but tiny, the Newton step is ~1e6 long in null(G) and Armijo
    accepted alpha ~ 1e-9; before the step-length safeguard this took 60 iterations (and the mean loss on the
    a9a shape stalled at KKT 125)."""
    p = logistic300
    res = minimize(**_scaled(p, 300.0, lambda0=np.zeros(p.m)), tol=1e-8)
    assert res.success and res.kkt_residual <= 1e-8
    assert res.nit <= 20
    assert res.history["shifts"][0] > 0  # the safeguard is what moves the first step
    np.testing.assert_allclose(res.x @ res.x, 1.0, atol=1e-10)
    A, b = p.info["A"], p.info["b"]
    np.testing.assert_allclose(A @ res.x, b, atol=1e-10)
    # switched off, the same run crawls (the pre-fix behaviour)
    off = minimize(**_scaled(p, 300.0, lambda0=np.zeros(p.m)), tol=1e-8, shift_below=0.0)
    assert off.nit >= 3 * res.nit
    assert off.history["alpha"].min() < 1e-6


def test_small_objective_scale_logistic(logistic300):
    """f scaled by 1e-3 from lambda0 = 1: the old absolute test lambda_min(Z'HZ) < 1e-6 fired at every iterate near the
    solution and the shifted steps stalled at KKT 1.5e-4; the relative test does not."""
    res = minimize(**_scaled(logistic300, 1e-3, lambda0=np.ones(logistic300.m)), tol=1e-8, maxiter=200)
    assert res.success and res.kkt_residual <= 1e-8


def test_lambda0_zero_mean_loss_a9a_shape():
    """The full instance (32561 x 123, mean loss) from lambda0 = 0 (stalled at KKT 125 before)."""
    p = constrained_logistic()
    res = minimize(**p.kwargs(), tol=1e-8, lambda0=np.zeros(p.m))
    assert res.success and res.kkt_residual <= 1e-8
    assert res.nit <= 15
    # one shift round per iteration, sized by the power-law fit of the merit (was 5 + 1 + 1 rounds, nfev 37)
    assert res.nfev <= 25 and res.history["shifts"].max() <= 2
    ref = minimize(**p.kwargs(), tol=1e-8, lambda0=np.ones(p.m))
    np.testing.assert_allclose(res.x, ref.x, atol=1e-7)
    np.testing.assert_allclose(res.multipliers, ref.multipliers, atol=1e-7)


def test_shift_shortens_step_by_refused_factor():
    """With B = eps I the curvature along the step is q = dx'B dx/|dx|^2 = eps, and the shift q (1/alpha - 1)
    turns the solve B dx = -g into one whose step is exactly alpha times shorter."""
    from numopt.constrained._adasketch import _step_curvature

    eps = 1e-6
    B = eps * np.eye(3)
    dx = np.array([0.0, 3.0, 4.0])
    q = _step_curvature(B, dx, 1.0)
    assert q == pytest.approx(eps)
    alpha = 0.25
    shifted = (eps / (eps + q * (1 / alpha - 1))) * dx  # the reduced solve with B + omega I
    np.testing.assert_allclose(np.linalg.norm(shifted), alpha * np.linalg.norm(dx))
    assert _step_curvature(np.zeros((3, 3)), dx, 2.0) == pytest.approx(2.0 / 5.0)
    assert _step_curvature(B, np.zeros(3), 1.0) is None


def test_aitken_step_rule():
    d = np.array([1.0, -2.0, 0.5])
    r = 2.0 / 3.0
    assert _aitken_step([d, r * d], r * r * d) == pytest.approx(3.0)
    assert _aitken_step([r * d], r * r * d) is None  # two ratios needed
    assert _aitken_step([d, -r * d], r * r * d) is None  # oscillating (HS9-like)
    assert _aitken_step([d, 0.9 * d], 0.5 * 0.9 * d) is None  # unsteady ratio
    assert _aitken_step([d, 0.1 * d], 0.01 * d) is None  # fast (superlinear-ish) convergence: leave alone
    rot = np.array([1.0, -2.0, 0.9])
    assert _aitken_step([d, r * rot], r * r * d) is None  # direction changes


@pytest.mark.parametrize("name", ["HS26", "HS49", "HS50"])
def test_extrapolation_at_singular_minimisers(name):
    """Quartic terms make the reduced Hessian singular at x*: Newton is linear with ratio 2/3 and the extrapolated
    step alpha = 1/(1 - r) ~ 3 cuts the outer iterations (HS49: 20 -> 4)."""
    p = hs_problem(name)
    on = minimize(**p.kwargs())
    off = minimize(**p.kwargs(), extrapolate=False)
    for res in (on, off):
        assert res.success and res.kkt_residual <= 1e-8
        assert abs(res.fun - p.fstar) <= 1e-6 * (1 + abs(p.fstar))
    assert on.history["alpha"].max() > 2.5
    assert off.history["alpha"].max() <= 1.0
    assert on.nit < off.nit and on.nfev < off.nfev


def test_zoo_total_outer_iterations():
    """The bench target: total outer iterations <= 0.8 x scipy trust-constr's 136 (scipy 1.17, gtol 1e-8,
    xtol 1e-12; `python -m bench constrained` recomputes it). Deterministic (LU inner solves)."""
    its = {name: minimize(**hs_problem(name).kwargs()).nit for name in HS_NAMES}
    assert sum(its.values()) <= 0.8 * 136, its


def test_new_options_checked():
    kw = hs_problem("HS40").kwargs()
    with pytest.raises(ValueError, match="`shift_below` must be < 1"):
        minimize(**kw, shift_below=1.0)
    with pytest.raises(ValueError, match="`max_shifts` must be >= 0"):
        minimize(**kw, max_shifts=-1)
    with pytest.raises(TypeError, match="`extrapolate` must be True or False"):
        minimize(**kw, extrapolate="yes")
    with pytest.raises(ValueError, match="`hess_tol` must be >= 0"):
        minimize(**kw, hess_tol=-1e-8)


def test_logistic_oracles(logistic300):
    p = logistic300
    X, y = p.info["X"], p.info["y"]
    rng = np.random.default_rng(0)
    w1, w2 = 0.3 * rng.standard_normal(123), 0.3 * rng.standard_normal(123)
    z = y * (X @ w2)
    f_ref = np.mean(np.log1p(np.exp(-z)))
    s = 1 / (1 + np.exp(-z))
    g_ref = -(X.T @ (y * (1 - s))) / 300
    Xd = X.toarray()
    H_ref = Xd.T @ ((s * (1 - s) / 300)[:, None] * Xd)
    p.fun(w1)  # the margin cache must notice the new point
    np.testing.assert_allclose(p.grad(w2), g_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p.fun(w2), f_ref, rtol=1e-12)
    p.grad(w1)
    np.testing.assert_allclose(p.hess(w2), H_ref, rtol=1e-12, atol=1e-16)
    w3 = w2.copy()
    p.fun(w3)
    w3[0] += 1.0  # in-place change after a call: the cache keeps its own copy
    z3 = y * (X @ w3)
    np.testing.assert_allclose(p.fun(w3), np.mean(np.log1p(np.exp(-z3))), rtol=1e-12)
    # central differences of the gradient
    e = np.zeros(123)
    e[5] = 1e-6
    np.testing.assert_allclose((p.grad(w2 + e) - p.grad(w2 - e)) / 2e-6, H_ref[:, 5], rtol=1e-5, atol=1e-9)


def test_linear_objective_on_sphere_with_tiny_multiplier_kaczmarz():
    """min c'x on the unit circle (seed 8): an early iterate has lambda ~ -4e-3, so the Lagrangian Hessian 2 lambda I
    is tiny; a shift relative to it alone gave B = 8e-4 I, a KKT matrix of condition 4e3 and a Kaczmarz inner solve
    that did not converge in 1e7 steps. The curvature scale |grad f| / max(|x|, 1) keeps the shift at O(xi_B |c|)."""
    rng = np.random.default_rng(8)
    c = rng.standard_normal(2)
    x0 = rng.standard_normal(2)
    x0 /= np.linalg.norm(x0)
    con = {"type": "eq", "fun": lambda x: np.array([x @ x - 1.0]), "jac": lambda x: 2.0 * x[None, :],
           "hess": lambda x, v: 2.0 * v[0] * np.eye(2)}
    res = minimize(lambda x: c @ x, x0, jac=lambda x: c, hess=lambda x: np.zeros((2, 2)), constraints=con,
                   sketch="kaczmarz", rng=8)
    assert res.success
    np.testing.assert_allclose(res.x, -c / np.linalg.norm(c), atol=1e-7)


def test_acceptable_step_from_two_refusals():
    """phi(a) = phi0 + a dmerit + A a^p: two refused trials at 2a and a give p and A, and the estimate is the largest
    step the Armijo test accepts, ((1 - beta)|dmerit| / A)^(1/(p - 1)) (one shift round instead of five on the
    logistic problem from lambda0 = 0, where the merit grows like a^4)."""
    dmerit, beta = -4.4e4, 0.1
    for p, A in ((4.0, 7.5e16), (2.0, 3.0e3), (3.0, 1.0)):
        exc = lambda a: A * a**p  # noqa: E731
        est = _acceptable_step(exc(1.0), exc(0.5), 0.5, dmerit, beta)
        np.testing.assert_allclose(est, ((1 - beta) * -dmerit / A) ** (1 / (p - 1)), rtol=1e-12)
        np.testing.assert_allclose(A * est ** (p - 1), (1 - beta) * -dmerit, rtol=1e-10)
    assert _acceptable_step(None, 1.0, 0.5, dmerit, beta) is None
    assert _acceptable_step(1.5, 1.0, 0.5, dmerit, beta) is None  # p = 0.58 <= 1: no fit
    assert _acceptable_step(4.0, -1.0, 0.5, dmerit, beta) is None
    assert _acceptable_step(4.0, 1.0, 0.5, 1.0, beta) is None  # not a descent direction
