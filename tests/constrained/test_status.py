"""Every way `minimize` stops has its own Status (or its own detail) with advice that fits (issue 11, item 8), and
the penalty update is the paper's mu <- phi^2 mu, nu <- nu / phi, delta <- delta / phi^4."""

import numpy as np
import pytest

import numopt
from numopt import Status
from numopt.constrained import minimize
from numopt.constrained import _adasketch
from numopt.constrained._hs import hs_problem


def _ratios_as_updates(hist, base):
    """log_base of consecutive ratios of ``hist``, checked to be whole numbers (the count of updates)."""
    j = np.log(hist[1:] / hist[:-1]) / np.log(base)
    np.testing.assert_allclose(j, np.round(j), atol=1e-9)
    return np.round(j).astype(int)


@pytest.mark.parametrize("name,sketch,factor", [("HS27", "direct", 1.5), ("HS40", "direct", 1.5),
                                                ("HS42", "direct", 1.5), ("HS27", "direct", 2.0)])
def test_penalty_update_is_phi_squared(name, sketch, factor):
    """mu <- phi^2 mu, nu <- nu/phi and delta <- max(delta/phi^4, delta_min), phi = `factor`, one power per update.
    mu <- phi mu (or nu <- nu/phi^2, delta <- delta/phi^2) gives ratios that are no whole power and fail here."""
    res = minimize(**hs_problem(name).kwargs(), sketch=sketch, factor=factor)
    assert res.success
    k_mu = _ratios_as_updates(res.mu_history, factor**2)
    k_nu = _ratios_as_updates(res.nu_history, 1 / factor)
    k_delta = _ratios_as_updates(res.delta_history, factor**-4)
    assert k_mu.sum() >= 1, "no penalty update happened: the pin would be vacuous"
    np.testing.assert_array_equal(k_mu, k_nu)
    np.testing.assert_array_equal(k_mu, k_delta)  # delta stays above delta_min = 1e-6 on these runs
    assert res.delta_history[-1] > 1e-6


def test_penalty_update_delta_min_clamp():
    res = minimize(**hs_problem("HS27").kwargs(), sketch="direct", delta_min=1e-3)
    assert res.success and res.delta_history.min() == 1e-3
    assert np.any(res.mu_history > 1)


def _product_constraint():
    """H = I at lambda = 0 (given: the default least-squares lambda0 is not 0) is diagonal; the constraint Hessian
    [[0, 1], [1, 0]] makes it non-diagonal later."""
    con = {"type": "eq", "fun": lambda x: np.array([x[0] * x[1] - 1.0]), "jac": lambda x: np.array([[x[1], x[0]]]),
           "hess": lambda x, v: v[0] * np.array([[0.0, 1.0], [1.0, 0.0]])}
    return dict(fun=lambda x: 0.5 * x @ x, x0=np.array([2.0, 0.3]), jac=lambda x: x.copy(),
                hess=lambda x: np.eye(2), constraints=con, lambda0=np.zeros(1))


def test_schur_cg_losing_its_diagonal_is_an_inner_solver_failure():
    with pytest.warns(numopt.ConvergenceWarning, match="use sketch='minres'"):
        res = minimize(**_product_constraint(), sketch="schur_cg")
    assert res.status is Status.INNER_SOLVER and res.nit >= 1
    assert "no longer diagonal" in res.message
    good = minimize(**_product_constraint(), sketch="minres")
    assert good.success
    np.testing.assert_allclose(np.abs(good.x), [1.0, 1.0], atol=1e-8)


def test_inner_budget_failure():
    with pytest.warns(numopt.ConvergenceWarning, match="raise `inner_maxiter`"):
        res = minimize(**hs_problem("HS52").kwargs(), sketch="kaczmarz", inner_maxiter=5, rng=0)
    assert res.status is Status.INNER_SOLVER
    assert "budget of 5 iterations ran out" in res.message


def test_no_descent_at_penalty_limits(monkeypatch):
    """The merit gradient reversed (a stand-in for derivatives that disagree), penalties already at their limits:
    no descent direction can exist."""
    true = _adasketch.merit_gradient
    monkeypatch.setattr(_adasketch, "merit_gradient", lambda *a: tuple(-v for v in true(*a)))
    with pytest.warns(numopt.ConvergenceWarning, match="full row rank"):
        res = minimize(**hs_problem("HS40").kwargs(), mu0=2e8, nu0=1e-9, delta0=0.5, delta_min=1e-6)
    assert res.status is Status.NO_DESCENT and res.nit == 0


def test_line_search_failure_is_stagnation_with_its_own_detail():
    with pytest.warns(numopt.ConvergenceWarning, match="line search"):
        res = minimize(**hs_problem("HS7").kwargs(), max_backtracks=1)
    assert res.status is Status.STAGNATION and "refused every step" in res.message


def test_maxiter_detail():
    with pytest.warns(numopt.ConvergenceWarning, match="raise `maxiter`"):
        res = minimize(**hs_problem("HS26").kwargs(), maxiter=3)
    assert res.status is Status.MAXITER and "preconditioner" not in res.message


def test_messages_are_distinct_and_never_name_the_function():
    """The five former STAGNATION reasons now differ by status or by detail; none repeats 'minimize'."""
    import warnings

    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs.append(minimize(**_product_constraint(), sketch="schur_cg"))
        runs.append(minimize(**hs_problem("HS52").kwargs(), sketch="kaczmarz", inner_maxiter=5, rng=0))
        runs.append(minimize(**hs_problem("HS7").kwargs(), max_backtracks=1))
        runs.append(minimize(**hs_problem("HS26").kwargs(), maxiter=3))
    for r in runs:
        assert r.message.startswith(r.status.value) and "minimize" not in r.message
        assert r.detail and r.detail not in r.status.value
    assert len({r.message for r in runs}) == len(runs)
