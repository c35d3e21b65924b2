"""Properties of MAID's pieces (hypothesis): the bound ω, the descent certificate, monotone exact f."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numopt import ConvergenceWarning
from numopt.bilevel import CONSTANTS, hypergradient, maid

from .conftest import make_quadratic, make_ridge

accuracies = st.floats(min_value=1e-7, max_value=1e-1)


@settings(max_examples=20)
@given(eps=accuracies, delta=accuracies, seed=st.integers(0, 2**16), shift=st.floats(0.0, 3.0))
def test_omega_bounds_the_true_error_on_quadratics(eps, delta, seed, shift):
    p = make_quadratic(seed=seed % 7, cond=1.0 + seed % 30)
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(3)
    x0 = shift * rng.standard_normal(30)   # random warm start
    hg = hypergradient(p, theta, x0=x0, eps=eps, delta=delta)
    assert hg.certified
    assert np.linalg.norm(hg.z - p.exact_gradient(theta)) <= hg.omega * (1 + 1e-12) + 1e-13


@settings(max_examples=20)
@given(eps=accuracies, delta=accuracies, seed=st.integers(0, 2**16), per_feature=st.booleans())
def test_omega_bounds_the_true_error_on_ridge(eps, delta, seed, per_feature):
    p = make_ridge(seed=seed % 5, per_feature=per_feature)
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-2, 2, size=p.p if per_feature else 1)
    hg = hypergradient(p, theta, x0=rng.standard_normal(p.p), eps=eps, delta=delta)
    assert hg.certified
    assert np.linalg.norm(hg.z - p.exact_gradient(theta)) <= hg.omega * (1 + 1e-12) + 1e-13


@settings(max_examples=20)
@given(eps=accuracies, seed=st.integers(0, 2**16))
def test_accepted_gradient_is_a_descent_direction(eps, seed):
    """Whenever Alg. 3.2 would accept z (ω ≤ (1-η)‖z‖), ⟨∇f, z⟩ ≥ η‖z‖²."""
    p = make_ridge(seed=seed % 5, per_feature=True)
    theta = np.random.default_rng(seed).uniform(-2, 2, size=p.p)
    hg = hypergradient(p, theta, eps=eps, delta=eps)
    zz = float(hg.z @ hg.z)
    if hg.omega <= (1 - CONSTANTS.eta) * np.sqrt(zz):
        assert float(p.exact_gradient(theta) @ hg.z) >= CONSTANTS.eta * zz


@pytest.mark.parametrize("per_feature", [False, True])
def test_exact_f_never_increases_over_accepted_steps(per_feature):
    p = make_ridge(seed=1, per_feature=per_feature, noise=2.0)
    thetas = []
    res = maid(p, np.full(p.p if per_feature else 1, -3.0), tol=1e-7, maxiter=200,
               callback=lambda r: thetas.append(r.theta.copy()))
    assert len(thetas) == res.nit >= 3
    f = [p.upper_fun(p.exact_solution(t)) for t in [np.full_like(thetas[0], -3.0)] + thetas]
    assert np.all(np.diff(f) <= 1e-12 * abs(f[0]))


def test_exact_f_never_increases_on_a_quadratic():
    p = make_quadratic(seed=4, cond=20.0)
    thetas = [np.zeros(3)]
    maid(p, np.zeros(3), tol=1e-8, maxiter=300, callback=lambda r: thetas.append(r.theta.copy()))
    f = [p.upper_fun(np.linalg.solve(p.H, p.c - p.C @ t)) for t in thetas]
    assert len(f) > 10
    assert np.all(np.diff(f) <= 1e-12 * abs(f[0]))


@pytest.mark.parametrize("eps0", [1e-1, 1e-3, 1e-5])
def test_answer_does_not_depend_on_eps0_or_warm_start(eps0):
    p = make_ridge(seed=2, n=90, p=6, noise=1.5)
    ref = maid(p, np.zeros(1), tol=1e-9)
    res = maid(p, np.zeros(1), x0=np.full(6, 10.0), eps0=eps0, delta0=eps0, tol=1e-9)
    assert ref.success and res.success
    # |θ - θ*| ≤ |f'| / min f'' near θ*, and |f'| ≤ tol: a few tol apart at most
    np.testing.assert_allclose(res.theta, ref.theta, atol=1e-6)


def test_history_is_consistent():
    p = make_ridge(seed=0)
    res = maid(p, np.zeros(1), tol=1e-8)
    h = res.history
    assert set(h) == {"fun", "eps", "delta", "omega", "step", "accepted", "grad_norm", "n_lower", "n_linear"}
    assert len({len(v) for v in h.values()}) == 1
    assert h["accepted"].sum() == res.nit
    assert h["n_lower"][-1] == res.n_lower and h["n_linear"][-1] == res.n_linear
    assert np.all(np.diff(h["n_lower"]) >= 0)
    assert res.grad_norm + res.omega <= 1e-8


def test_default_first_step_is_problem_scaled():
    """step0=None: the first trial step is √d/‖z₀‖ (HOAG's rule), not a constant; accepted ones are ρ^j of it."""
    p = make_ridge(seed=3, per_feature=True)
    with pytest.warns(ConvergenceWarning, match="raise `maxiter`"):
        res = maid(p, np.zeros(p.p), maxiter=1)
    h = res.history
    first = np.flatnonzero(h["accepted"])[0]
    alpha0 = np.sqrt(p.p) / h["grad_norm"][0]
    j = np.log(h["step"][first] / alpha0) / np.log(CONSTANTS.rho)
    np.testing.assert_allclose(j, np.round(j), atol=1e-9)
    assert 0 <= round(j) < CONSTANTS.J0 + len(h["eps"])


def test_metric_reaches_tol_in_few_steps_on_an_ill_conditioned_quadratic():
    """The limited-memory BFGS metric (Constants.memory = 5): 14 certified steps where the paper's -z steps take 72
    and stop at the rounding floor (f is a least-squares quadratic in θ, cond(H) = 10)."""
    p = make_quadratic(seed=0, cond=10.0)
    thetas = [np.zeros(3)]
    res = maid(p, np.zeros(3), tol=1e-8, callback=lambda r: thetas.append(r.theta.copy()))
    assert res.success and res.grad_norm + res.omega <= 1e-8
    assert res.nit <= 25
    np.testing.assert_allclose(res.theta, p.theta_star(), rtol=1e-6)
    # every accepted step is a descent direction of the exact f, and f decreases
    for a, b in zip(thetas[:-1], thetas[1:]):
        assert float(p.exact_gradient(a) @ (a - b)) > 0
    f = [p.upper_fun(np.linalg.solve(p.H, p.c - p.C @ t)) for t in thetas]
    assert np.all(np.diff(f) <= 1e-12 * abs(f[0]))


def test_memory_zero_takes_the_papers_steps_along_z():
    """memory=0: θ_{k+1} - θ_k = -α_k z_k (so ‖θ_{k+1} - θ_k‖ = α_k‖z_k‖ on each accepted round)."""
    p = make_quadratic(seed=4, cond=20.0)
    thetas = [np.zeros(3)]
    with pytest.warns(ConvergenceWarning, match="raise `maxiter`"):
        res = maid(p, np.zeros(3), tol=1e-8, maxiter=20, memory=0, callback=lambda r: thetas.append(r.theta.copy()))
    h = res.history
    acc = np.flatnonzero(h["accepted"])
    moves = np.linalg.norm(np.diff(thetas, axis=0), axis=1)
    np.testing.assert_allclose(moves, h["step"][acc] * h["grad_norm"][acc], rtol=1e-8)
    assert maid(p, np.zeros(3), tol=1e-8, maxiter=20).success   # the default metric gets there within 20 steps
