"""Every way `minimize` stops has its own Status (or its own detail) with advice that fits (issue 11, item 8), and
the penalty update: the paper's mu <- phi^2 mu, nu <- nu / phi, delta <- delta / phi^4 under accuracy="paper";
by default (issue 12) mu or nu sized from the direction taken."""

import numpy as np
import pytest

import numopt
from numopt import Status
from numopt.constrained import minimize
from numopt.constrained import _adasketch
from numopt.constrained._hs import hs_problem
from numopt.constrained._merit import merit_gradient


def _ratios_as_updates(hist, base):
    """log_base of consecutive ratios of ``hist``, checked to be whole numbers (the count of updates)."""
    j = np.log(hist[1:] / hist[:-1]) / np.log(base)
    np.testing.assert_allclose(j, np.round(j), atol=1e-9)
    return np.round(j).astype(int)


@pytest.mark.parametrize("name,sketch,factor", [("HS27", "direct", 1.5), ("HS40", "direct", 1.5),
                                                ("HS42", "direct", 1.5), ("HS27", "direct", 2.0)])
def test_penalty_update_is_phi_squared(name, sketch, factor):
    """accuracy="paper": mu <- phi^2 mu, nu <- nu/phi, phi = `factor`, one power per update (delta is also capped
    by the paper's delta_trial there). mu <- phi mu (or nu <- nu/phi^2) gives ratios that are no whole power."""
    res = minimize(**hs_problem(name).kwargs(), sketch=sketch, factor=factor, accuracy="paper")
    assert res.success
    k_mu = _ratios_as_updates(res.mu_history, factor**2)
    k_nu = _ratios_as_updates(res.nu_history, 1 / factor)
    assert k_mu.sum() >= 1, "no penalty update happened: the pin would be vacuous"
    np.testing.assert_array_equal(k_mu, k_nu)


@pytest.mark.parametrize("accuracy", ["paper", "practical"])
def test_penalty_update_delta_min_clamp(accuracy):
    res = minimize(**hs_problem("HS27").kwargs(), sketch="direct", delta_min=1e-2, accuracy=accuracy)
    assert res.success and res.delta_history.min() == 1e-2
    assert np.any(res.mu_history > 1)


def test_default_penalty_update_moves_one_parameter_from_the_direction():
    """Default (practical) rule: each refused descent test raises mu or lowers nu (not both), past the value at which
    the test on that direction holds, by at least the paper's factor; delta follows the paper's rule."""
    factor = 1.5
    res = minimize(**hs_problem("HS27").kwargs(), sketch="direct", factor=factor)
    assert res.success
    up = res.mu_history[1:] > res.mu_history[:-1]
    down = res.nu_history[1:] < res.nu_history[:-1]
    assert up.sum() >= 1
    assert not np.any(up & down)
    assert np.all(res.mu_history[1:][up] >= factor**2 * res.mu_history[:-1][up] * (1 - 1e-12))
    assert np.all(res.nu_history[1:][down] <= res.nu_history[:-1][down] / factor * (1 + 1e-12))


def test_penalty_update_solves_the_descent_test():
    """_penalty_update returns parameters under which the refused direction passes the descent test; with c = 0
    (mu has no effect) it lowers nu and leaves mu alone: the paper's joint rule drove mu to 1.3e8 there (COPS elec
    np = 50 from its feasible start under a first Hessian shift of 2e6: 149 iterations)."""
    rng = np.random.default_rng(1)
    n, m = 6, 2
    H = rng.standard_normal((n, n))
    H = H + H.T
    G = rng.standard_normal((m, n))
    for c in (np.zeros(m), rng.standard_normal(m)):
        gl = rng.standard_normal(n)
        gl -= G.T @ np.linalg.lstsq(G.T, gl, rcond=None)[0]  # least-squares multipliers: grad L orthogonal to G's rows
        parts = _adasketch._MeritParts.at(gl, c, H, G)
        # a step with a large shift: B = H + 1e4 I
        K = np.block([[H + 1e4 * np.eye(n), G.T], [G, np.zeros((m, m))]])
        z = np.linalg.solve(K, -np.concatenate([gl, c]))
        dx, dl = z[:n], z[n:]
        bnorm = float(np.hypot(np.linalg.norm(gl), np.linalg.norm(c)))
        mu, nu = 1.0, 0.1
        gx, glam = merit_gradient(c, gl, H, G, mu, nu)
        np.testing.assert_allclose(_adasketch._dmerit(dx, dl, gl, c, parts, mu, nu), gx @ dx + glam @ dl, rtol=1e-12)
        assert _adasketch._dmerit(dx, dl, gl, c, parts, mu, nu) > -0.5 * nu * bnorm**2
        mu2, nu2 = _adasketch._penalty_update(dx, dl, gl, c, parts, bnorm, mu, nu, 1.5)
        assert _adasketch._dmerit(dx, dl, gl, c, parts, mu2, nu2) <= -0.5 * nu2 * bnorm**2
        if not c.any():
            assert mu2 == mu and nu2 < 1e-3


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
    true = _adasketch._dmerit_terms
    monkeypatch.setattr(_adasketch, "_dmerit_terms", lambda *a: tuple(-v for v in true(*a)))
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
