"""numopt.torch.implicit_argmin and TorchBilevelProblem: closed forms, gradcheck, maid numpy vs torch."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from numopt import ConvergenceWarning  # noqa: E402
from numopt.bilevel import maid, ridge_problem  # noqa: E402
from numopt.torch import TorchBilevelProblem, implicit_argmin  # noqa: E402

F64 = torch.float64


def _data(n=30, p=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=g, dtype=F64)
    w = torch.randn(p, generator=g, dtype=F64)
    y = X @ w + 0.5 * torch.randn(n, generator=g, dtype=F64)
    return X, y


def _ridge(X, y):
    return lambda w, t: 0.5 * ((X @ w - y) ** 2).sum() + 0.5 * (t.exp() * w * w).sum()


def _logistic(X, y):
    labels = (y > 0).to(F64)

    def h(w, t):
        z = X @ w
        return (torch.nn.functional.softplus(z) - labels * z).sum() + 0.5 * (t.exp() * w * w).sum()

    return h


def test_ridge_solution_and_hypergradient_match_the_closed_form():
    X, y = _data()
    Xv, yv = _data(12, seed=1)
    theta = torch.tensor([0.1, -0.5, 1.0, 0.3], dtype=F64, requires_grad=True)
    w = implicit_argmin(_ridge(X, y), torch.zeros(4, dtype=F64), theta, tol=1e-12)
    loss = 0.5 * ((Xv @ w - yv) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, theta)
    w_ref = torch.linalg.solve(X.T @ X + torch.diag(theta.exp()), X.T @ y)
    (grad_ref,) = torch.autograd.grad(0.5 * ((Xv @ w_ref - yv) ** 2).sum(), theta)
    np.testing.assert_allclose(w.detach().numpy(), w_ref.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grad.numpy(), grad_ref.numpy(), rtol=1e-10, atol=1e-12)
    assert w.info.success and w.info.grad_norm <= 1e-12 and w.info.nit <= 6
    assert w.info.cg_residual <= 1e-11 and w.info.cg_nit >= 1


def test_gradcheck_through_a_logistic_lower_level_with_tuple_theta():
    X, y = _data(25, 3, seed=2)
    h0 = _logistic(X, y)
    log_lam = torch.tensor([0.2, -0.3, 0.5], dtype=F64, requires_grad=True)
    shift = torch.tensor([0.1, 0.0, -0.2], dtype=F64, requires_grad=True)

    def h(w, theta):
        lam, s = theta
        return h0(w - s, lam)      # the minimizer moves with both parameters

    def f(log_lam, shift):
        return implicit_argmin(h, torch.zeros(3, dtype=F64), (log_lam, shift), tol=1e-13)

    assert torch.autograd.gradcheck(f, (log_lam, shift), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_forward_nonconvergence_warns_and_is_visible():
    X, y = _data()
    theta = torch.zeros(4, dtype=F64, requires_grad=True)
    with pytest.warns(ConvergenceWarning, match="implicit_argmin: Stopped at `maxiter`.*Newton steps"):
        w = implicit_argmin(_logistic(X, y), torch.zeros(4, dtype=F64), theta, maxiter=1)
    assert not w.info.success and w.info.nit == 1 and w.info.grad_norm > 1e-10


def test_backward_cg_failure_warns_and_reports_its_residual():
    theta = torch.tensor([0.5, -1.0], dtype=F64, requires_grad=True)
    # x0 is a stationary point of a concave lower level: the forward stops there, the Hessian is -I
    w = implicit_argmin(lambda x, t: -0.5 * ((x - t) ** 2).sum(), theta.detach().clone(), theta)
    assert w.info.success
    with pytest.warns(ConvergenceWarning, match="implicit_argmin: Stopped: the operator is not positive definite.*"
                                                "backward CG on the Hessian of `lower`"):
        w.sum().backward()
    assert w.info.cg_residual > 0.5


def test_dtype_device_zero_gradient_and_second_order():
    X, y = _data()
    theta = torch.zeros(4, dtype=torch.float32, requires_grad=True)
    w = implicit_argmin(_ridge(X, y), torch.zeros(4, dtype=torch.float32), theta)
    assert w.dtype == torch.float32 and w.device == theta.device
    (w * 0).sum().backward()
    assert torch.equal(theta.grad, torch.zeros_like(theta)) and w.info.cg_residual == 0.0
    theta64 = theta.detach().double().requires_grad_()
    w = implicit_argmin(_ridge(X, y), torch.zeros(4, dtype=F64), theta64)
    with pytest.raises(NotImplementedError, match="first order"):
        torch.autograd.grad(w.sum(), theta64, create_graph=True)


def test_implicit_argmin_bad_input():
    X, y = _data()
    theta = torch.zeros(4, dtype=F64)
    with pytest.raises(TypeError, match="`lower` must be callable"):
        implicit_argmin(None, torch.zeros(4, dtype=F64), theta)
    with pytest.raises(TypeError, match="`x0` must be a torch.Tensor"):
        implicit_argmin(_ridge(X, y), np.zeros(4), theta)
    with pytest.raises(TypeError, match=r"`lower` must return a 1-element tensor .*got shape \(4,\)"):
        implicit_argmin(lambda w, t: w * w, torch.zeros(4, dtype=F64), theta)
    with pytest.raises(ValueError, match="`tol` must be > 0"):
        implicit_argmin(_ridge(X, y), torch.zeros(4, dtype=F64), theta, tol=0.0)
    with pytest.raises(TypeError, match=r"`theta\[1\]` must be a torch.Tensor"):
        implicit_argmin(_ridge(X, y), torch.zeros(4, dtype=F64), (theta, 1.0))


def _torch_ridge_problem(p, exact=True):
    X, y, Xv, yv = (torch.tensor(a) for a in (p.X, p.y, p.X_val, p.y_val))

    def lower(w, t):
        return 0.5 * ((X @ w - y) ** 2).sum() + 0.5 * (t.exp() * w * w).sum()

    def upper(w):
        return 0.5 * ((Xv @ w - yv) ** 2).sum()

    if not exact:
        return TorchBilevelProblem(lower, upper, (p.p,), upper_convex=True)
    return TorchBilevelProblem(lower, upper, (p.p,), mu=p.lower_mu, L=p.lower_L, upper_L=p.upper_L,
                               lower_cross_norm=p.lower_cross_norm, lower_hess_lipschitz=0.0,
                               lower_cross_lipschitz=p.lower_cross_lipschitz, upper_convex=True)


def _noisy_ridge(seed):
    """A ridge problem whose validation loss has an interior optimum (noisy data, few training rows)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 5))
    y = X @ rng.standard_normal(5) + 2.0 * rng.standard_normal(60)
    return ridge_problem(X[:25], y[:25], X[25:], y[25:])


@pytest.mark.parametrize("seed", [0, 2])
def test_maid_gives_the_same_theta_on_numpy_and_torch_ridge(seed):
    p = _noisy_ridge(seed)
    ref = maid(p, np.zeros(1), tol=1e-10)
    ours = maid(_torch_ridge_problem(p), np.zeros(1), tol=1e-10)
    assert ref.success and ours.success and ref.certified and ours.certified
    np.testing.assert_allclose(ours.theta, ref.theta, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.x_lower, ref.x_lower, rtol=0, atol=1e-8)


def test_estimated_constants_are_not_certified():
    p = _noisy_ridge(3)
    rng = np.random.default_rng(1)
    prob = _torch_ridge_problem(p, exact=False)
    res = maid(prob, np.zeros(1), tol=1e-9)
    assert res.success and not res.certified
    np.testing.assert_allclose(res.theta, maid(p, np.zeros(1), tol=1e-9).theta, rtol=0, atol=1e-6)
    theta = np.array([0.3])
    lam = float(np.exp(theta[0]))
    np.testing.assert_allclose(prob.lower_mu(theta), 0.9 * p.lower_mu(theta), rtol=1e-10)
    np.testing.assert_allclose(prob.lower_L(theta), 1.1 * p.lower_L(theta), rtol=1e-10)
    np.testing.assert_allclose(prob.upper_L, 1.1 * p.upper_L, rtol=1e-10)
    w, v = rng.standard_normal(5), rng.standard_normal(5)
    np.testing.assert_allclose(prob.lower_hessp(w, theta, v), p.lower_hessp(w, theta, v), rtol=1e-12)
    np.testing.assert_allclose(prob.lower_cross(w, theta, v), p.lower_cross(w, theta, v), rtol=1e-12)
    np.testing.assert_allclose(prob.lower_grad(w, theta), p.lower_grad(w, theta), rtol=1e-12)
    assert lam > 0


def test_problem_bad_input():
    with pytest.raises(TypeError, match="`lower` must be callable"):
        TorchBilevelProblem(None, lambda x: x.sum(), (3,))
    with pytest.raises(ValueError, match="`mu` must be > 0"):
        TorchBilevelProblem(lambda x, t: (x * x).sum(), lambda x: x.sum(), (3,), mu=0.0)
    prob = TorchBilevelProblem(lambda x, t: (x ** 3).sum(), lambda x: x.sum(), (3,))
    with pytest.raises(ValueError, match="must be strongly convex in x"):
        prob.lower_mu(np.zeros(1))


def test_docstring_examples():
    import doctest

    module = importlib.import_module("numopt.torch._bilevel")
    with warnings.catch_warnings():
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10 and result.failed == 0


def test_last_layer_of_a_small_network_hypergradient_and_maid():
    """Per-weight L2 on the last layer of a frozen-feature network: maid's hypergradient on the
    TorchBilevelProblem agrees with implicit_argmin + autograd, and maid decreases the validation loss
    (5 steps; a fixed ridge 0.05 keeps the lower level well conditioned when the learned weights vanish)."""
    from numopt.bilevel import hypergradient

    g = torch.Generator().manual_seed(8)
    W1 = torch.randn(3, 6, generator=g, dtype=F64)
    X, Xv = torch.randn(40, 3, generator=g, dtype=F64), torch.randn(30, 3, generator=g, dtype=F64)
    feats, feats_v = torch.tanh(X @ W1), torch.tanh(Xv @ W1)
    labels, labels_v = (X[:, 0] + 0.5 * X[:, 1] > 0).to(F64), (Xv[:, 0] + 0.5 * Xv[:, 1] > 0).to(F64)

    def lower(w, t):
        z = feats @ w
        return (torch.nn.functional.softplus(z) - labels * z).mean() + 0.5 * ((0.05 + t.exp()) * w * w).sum()

    def upper(w):
        z = feats_v @ w
        return (torch.nn.functional.softplus(z) - labels_v * z).mean()

    prob = TorchBilevelProblem(lower, upper, (6,), upper_convex=True)
    theta = np.full(6, -2.0)
    hg = hypergradient(prob, theta, eps=1e-10, delta=1e-10)
    t = torch.tensor(theta, requires_grad=True)
    w = implicit_argmin(lower, torch.zeros(6, dtype=F64), t, tol=1e-12)
    (ref,) = torch.autograd.grad(upper(w), t)
    np.testing.assert_allclose(hg.z, ref.numpy(), rtol=0, atol=1e-8)
    assert not hg.certified
    with pytest.warns(ConvergenceWarning, match="maid: Stopped at `maxiter`"):
        res = maid(prob, theta, maxiter=5)
    assert res.nit == 5 and res.fun < upper(w).item()


@pytest.mark.parametrize("n", [20, 260])
def test_extreme_eigenvalue_estimates_dense_and_lanczos(n):
    from numopt.torch._bilevel import _extreme_eigs

    rng = np.random.default_rng(n)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    eig = np.linspace(0.5, 40.0, n)
    H = (Q * eig) @ Q.T
    lo, hi = _extreme_eigs(lambda v: H @ v, n)
    np.testing.assert_allclose([lo, hi], [0.5, 40.0], rtol=1e-5)
