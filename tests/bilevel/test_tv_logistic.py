"""The TV-denoising and multinomial logistic problems: oracles against finite differences, ω, a short run."""

import numpy as np
import pytest

from numopt import ConvergenceWarning
from numopt.bilevel import hypergradient, logistic_problem, maid, tv_denoising_problem


def _images(seed=0, m=2, n=12):
    rng = np.random.default_rng(seed)
    clean = np.zeros((m, n, n))
    clean[:, 3:9, 2:7] = 1.0
    clean[1, 6:, 5:] -= 0.5
    return clean + 0.1 * rng.standard_normal(clean.shape), clean


def _fd_checks(p, x, theta, rng, h=1e-6):
    v, E = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    fd = (p.lower_fun(x + h * E, theta) - p.lower_fun(x - h * E, theta)) / (2 * h)
    np.testing.assert_allclose(np.sum(p.lower_grad(x, theta) * E), fd, rtol=1e-6)
    fd = (p.lower_grad(x + h * v, theta) - p.lower_grad(x - h * v, theta)) / (2 * h)
    np.testing.assert_allclose(p.lower_hessp(x, theta, v), fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())
    cross = p.lower_cross(x, theta, v)
    for k in range(theta.size):
        e = np.zeros(theta.size)
        e[k] = h
        e = e.reshape(theta.shape)
        fd = np.sum((p.lower_grad(x, theta + e) - p.lower_grad(x, theta - e)) / (2 * h) * v)
        np.testing.assert_allclose(cross.reshape(-1)[k], fd, rtol=1e-5, atol=1e-7)


def test_tv_oracles_match_finite_differences():
    noisy, clean = _images()
    p = tv_denoising_problem(noisy, clean)
    rng = np.random.default_rng(1)
    _fd_checks(p, noisy + 0.1 * rng.standard_normal(noisy.shape), np.array([-1.0, -2.0]), rng)


def test_tv_omega_bounds_the_error_and_a_run_gains_psnr():
    noisy, clean = _images()
    p = tv_denoising_problem(noisy, clean)
    theta = np.array([-2.0, -3.0])
    ref = hypergradient(p, theta, eps=1e-11, delta=1e-11)
    for eps in (1e-2, 1e-4):
        hg = hypergradient(p, theta, eps=eps, delta=eps)
        assert hg.certified and np.linalg.norm(hg.z - ref.z) <= hg.omega
    thetas = [np.array([-5.0, -5.0])]
    with pytest.warns(ConvergenceWarning, match="the work budget `budget` was spent"):
        res = maid(p, thetas[0], budget=3000, callback=lambda r: thetas.append(r.theta.copy()))
    assert res.nit >= 3

    from numopt.bilevel._problem import fista

    f = [p.upper_fun(fista(lambda x: p.lower_grad(x, t), noisy, 1.0, p.lower_L(t), 1e-10, 200_000).x) for t in thetas]
    assert np.all(np.diff(f) <= 1e-10 * f[0])          # certified descent on the exact loss
    assert 10 * np.log10(np.sum((noisy - clean) ** 2) / (2 * f[-1])) > 3.0   # PSNR gain above 3 dB


def test_logistic_oracles_and_hypergradient():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.argmax(X @ rng.standard_normal((3, 3)), axis=1)
    p = logistic_problem(X[:30], y[:30], X[30:], y[30:])
    theta = rng.uniform(-2, 0, size=p.theta_shape())
    _fd_checks(p, 0.3 * rng.standard_normal(p.shape), theta, rng)
    hg = hypergradient(p, theta, eps=1e-10, delta=1e-10)
    assert not hg.certified          # the Hessian's Lipschitz constant is estimated
    from numopt.bilevel._problem import fista

    def f(t):
        return p.upper_fun(fista(lambda W: p.lower_grad(W, t), np.zeros(p.shape), p.lower_mu(t), p.lower_L(t), 1e-12,
                                 100_000).x)

    h = 1e-5
    for idx in [(0, 1), (3, 2)]:
        e = np.zeros_like(theta)
        e[idx] = h
        np.testing.assert_allclose(hg.z[idx], (f(theta + e) - f(theta - e)) / (2 * h), rtol=1e-5, atol=1e-9)
