"""MAID against closed-form optima and hypergradients."""

import numpy as np
import pytest
from scipy.optimize import brentq

from numopt.bilevel import hypergradient, maid, tikhonov_fourier_problem

from .conftest import make_quadratic, make_ridge, shrinkage


def _central_difference(problem, theta, h=1e-5):
    out = np.zeros_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        fp = problem.upper_fun(problem.exact_solution(theta + e))
        fm = problem.upper_fun(problem.exact_solution(theta - e))
        out[j] = (fp - fm) / (2 * h)
    return out


@pytest.mark.parametrize("per_feature", [False, True])
def test_ridge_hypergradient_matches_ift_and_central_differences(per_feature):
    p = make_ridge(per_feature=per_feature)
    theta = np.linspace(-1.0, 1.0, p.p) if per_feature else np.array([0.5])
    hg = hypergradient(p, theta, eps=1e-12, delta=1e-12)
    ift = p.exact_gradient(theta)
    np.testing.assert_allclose(hg.z, ift, rtol=1e-8, atol=1e-10 * np.linalg.norm(ift))
    assert np.linalg.norm(hg.z - ift) <= hg.omega
    np.testing.assert_allclose(hg.z, _central_difference(p, theta), rtol=1e-6, atol=1e-7 * np.linalg.norm(ift))
    assert hg.certified


def test_scalar_ridge_lambda_star_by_brentq():
    p = make_ridge(seed=3, n=90, p=10, noise=2.0)
    t_star = brentq(lambda t: p.exact_gradient(np.array([t]))[0], -8.0, 8.0, xtol=1e-14)
    res = maid(p, np.array([-2.0]), tol=1e-9)
    assert res.success and res.certified
    np.testing.assert_allclose(res.theta[0], t_star, atol=1e-6)
    np.testing.assert_allclose(res.fun, p.upper_fun(p.exact_solution(res.theta)), rtol=1e-12)


def test_quadratic_theta_star_by_least_squares():
    p = make_quadratic(cond=5.0)
    ts = p.theta_star()
    res = maid(p, np.zeros(3), tol=1e-9, maxiter=5000)
    assert res.success
    np.testing.assert_allclose(res.theta, ts, rtol=1e-6, atol=1e-6 * np.linalg.norm(ts))


def test_shrinkage_denoiser_user_subclass():
    p = shrinkage()
    res = maid(p, np.array([1.0]), tol=1e-10)
    assert res.success and res.certified
    np.testing.assert_allclose(np.exp(res.theta[0]), p.lam_star(), rtol=1e-6)


def test_per_frequency_tikhonov_lambda_star():
    # many signals, so that every frequency k >= 1 has an interior optimum 0 < s_k* < 1
    rng = np.random.default_rng(2)
    clean = np.cumsum(rng.standard_normal((64, 16)), axis=1)
    noisy = clean + 0.5 * rng.standard_normal(clean.shape)
    p = tikhonov_fourier_problem(noisy, clean)
    ts = p.theta_star()
    interior = np.isfinite(ts)
    assert interior[1:].all()
    res = maid(p, np.zeros(9), tol=1e-7, maxiter=5000)
    assert res.success
    fstar = p.optimal_value()
    np.testing.assert_allclose(res.fun, fstar, rtol=1e-10)
    # the interior frequencies reach their closed form; the others go towards +-infinity
    np.testing.assert_allclose(res.theta[interior], ts[interior], atol=1e-3)
    np.testing.assert_allclose(p.exact_value(res.theta), res.fun, rtol=1e-12)


def test_tikhonov_cross_products_match_finite_differences():
    rng = np.random.default_rng(0)
    clean = rng.standard_normal((2, 9))
    p = tikhonov_fourier_problem(clean + rng.standard_normal(clean.shape), clean)
    x, v, theta = rng.standard_normal((2, 9)), rng.standard_normal((2, 9)), rng.standard_normal(5)
    h = 1e-6
    for k in range(5):
        e = np.zeros(5)
        e[k] = h
        fd = (p.lower_grad(x, theta + e) - p.lower_grad(x, theta - e)) / (2 * h)
        np.testing.assert_allclose(p.lower_cross(x, theta, v)[k], np.sum(fd * v), rtol=1e-6, atol=1e-8)
    # gradient of lower_fun, and ‖J‖ against the dense J built column by column
    g = np.array([(p.lower_fun(x + h * E, theta) - p.lower_fun(x - h * E, theta)) / (2 * h)
                  for E in np.eye(18).reshape(18, 2, 9)]).reshape(2, 9)
    np.testing.assert_allclose(p.lower_grad(x, theta), g, rtol=1e-6, atol=1e-7)
    J = np.stack([p.lower_cross(x, theta, E) for E in np.eye(18).reshape(18, 2, 9)])
    np.testing.assert_allclose(p.lower_cross_norm(x, theta), np.linalg.norm(J, 2), rtol=1e-10)
