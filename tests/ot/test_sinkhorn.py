"""numopt.ot solvers: analytic oracles (hypothesis), POT cross-checks, errors, callbacks and statuses."""

import math
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

import numopt
from numopt import ConvergenceWarning, Status
from numopt.ot import OTResult, sinkhorn, sinkhorn2, sinkhorn_knopp, sinkhorn_log, sinkhorn_newton_sparse

SOLVERS = [sinkhorn_newton_sparse, sinkhorn_log]


def _marginal_error(P, a, b):
    return np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()


def _check_dual_optimality(res, a, b, M, tol):
    f, g = res.potentials
    with np.errstate(invalid="ignore"):
        P = np.exp((f[:, None] + g[None, :] - M) / res.reg)
    # entries below 1e-200 may be 0 (the scaling domain flushes kernel entries below 1e-300)
    np.testing.assert_allclose(res.plan, P, rtol=1e-11, atol=1e-200)
    assert _marginal_error(res.plan, a, b) <= tol * 1.01 + 1e-14
    np.testing.assert_allclose(res.marginal_error, _marginal_error(res.plan, a, b), rtol=1e-6, atol=1e-15)
    np.testing.assert_allclose(res.cost, (res.plan * M).sum(), rtol=1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.where(res.plan > 0, res.plan * np.log(res.plan), 0.0).sum()
    np.testing.assert_allclose(res.value, res.cost + res.reg * ent, rtol=1e-9, atol=1e-12)


def _points(draw, n):
    return np.array(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n, unique=True)))


# ---------------------------------------------------------------------------------------------------
# Analytic oracles
# ---------------------------------------------------------------------------------------------------


@settings(max_examples=15)
@given(data=st.data(), n=st.integers(2, 12), p=st.sampled_from([1, 2]), solver=st.sampled_from(SOLVERS))
def test_1d_entropic_cost_tends_to_sorted_coupling(data, n, p, solver):
    """Uniform weights on the line: W_p^p is the mean of |x_(i) - y_(i)|^p; 0 <= cost - W <= reg log n."""
    x, y = _points(data.draw, n), _points(data.draw, n)
    M = np.abs(x[:, None] - y[None, :]) ** p
    w = np.mean(np.abs(np.sort(x) - np.sort(y)) ** p)
    # Sinkhorn needs O(1/reg) sweeps or more (ties make W1 slow): it gets a larger reg
    reg = (1e-3 if solver is sinkhorn_newton_sparse else 1e-1) * max(M.max(), 1e-3)
    res = solver(None, None, M, reg, tol=1e-10, maxiter=100_000)
    assert res.success
    _check_dual_optimality(res, np.full(n, 1 / n), np.full(n, 1 / n), M, 1e-10)
    assert -1e-9 <= res.cost - w <= reg * math.log(n) + 1e-9


def _gaussian_entropic_ot(m1, s1, m2, s2, eps):
    """Closed form of min_pi E|x - y|^2 + eps KL(pi | alpha x beta), alpha = N(m1, s1^2), beta = N(m2, s2^2)."""
    sig2 = eps / 2
    D = math.sqrt(4 * s1**2 * s2**2 + sig2**2)
    return (m1 - m2) ** 2 + s1**2 + s2**2 - D + sig2 * (1 - math.log(2 * sig2)) + sig2 * math.log(D + sig2)


@settings(max_examples=10)
@given(m1=st.floats(-1, 1), m2=st.floats(-1, 1), s1=st.floats(0.5, 2), s2=st.floats(0.5, 2),
       eps=st.floats(0.1, 3))
@example(m1=0.0, m2=1.0, s1=1.0, s2=1.5, eps=2.0)  # 2.820638 (research brief, 1500-point grid)
@example(m1=0.0, m2=0.0, s1=2.0, s2=0.5, eps=1.0)  # b ~ 1e-223 in the tails: overflowed CG once
@example(m1=1.0, m2=-1.0, s1=0.5, s2=2.0, eps=0.1)  # the smallest l / h
def test_gaussian_entropic_ot_closed_form(m1, m2, s1, s2, eps):
    r"""Entropic OT between 1-D Gaussians (Janati, Muzellec, Peyre, Cuturi, NeurIPS 2020; Mallasto,
    Gerolin, Minh, Inf. Geom. 2022), for alpha = N(m1, A), beta = N(m2, B), A = s1^2, B = s2^2, squared
    cost and KL to the product measure, with sigma^2 = eps / 2 and D = sqrt(4 A B + sigma^4):

        OT_eps = (m1 - m2)^2 + A + B - D + sigma^2 (1 - log(2 sigma^2)) + sigma^2 log(D + sigma^2).

    Discretization: both Gaussians on one uniform grid of n = 400 points over the means +- 8 max(s),
    weights proportional to the densities. The discrete KL objective is the solver's ``value``
    (<P, M> + eps sum P log P) minus eps (sum a log a + sum b log b), since P has marginals a and b.
    Its error against the integral has two parts: the tails cut at 8 standard deviations, about
    exp(-32) relative, and the Riemann sum of smooth Gaussian integrands, which by Poisson summation is
    about exp(-2 pi^2 l^2 / h^2) for grid step h, l the smallest length scale (s1, s2 and the
    conditional standard deviations sqrt(B - C^2 / A), sqrt(A - C^2 / B) of the optimal Gaussian plan,
    C = (D - sigma^2) / 2). Here l / h >= 1.3 (eps = 0.1, s = (0.5, 2)), so both are below 1e-13; the tolerance is set by the solver's tol (1e-11 on
    the marginals) times the size of the potentials. Measured: relative errors 1e-15 to 6e-11.
    """
    n, width = 400, 8.0
    s = max(s1, s2)
    x = np.linspace(min(m1, m2) - width * s, max(m1, m2) + width * s, n)
    h = x[1] - x[0]
    sig2 = eps / 2
    D = math.sqrt(4 * s1**2 * s2**2 + sig2**2)
    C = (D - sig2) / 2
    ell = min(s1, s2, math.sqrt(s2**2 - C**2 / s1**2), math.sqrt(s1**2 - C**2 / s2**2))
    discretization = math.exp(-(width**2) / 2) + math.exp(-2 * math.pi**2 * ell**2 / h**2)
    assert discretization < 1e-13
    a = np.exp(-0.5 * ((x - m1) / s1) ** 2)
    b = np.exp(-0.5 * ((x - m2) / s2) ** 2)
    a, b = a / a.sum(), b / b.sum()
    res = sinkhorn_newton_sparse(a, b, (x[:, None] - x[None, :]) ** 2, eps, tol=1e-11)
    assert res.success
    with np.errstate(divide="ignore"):
        ent = sum(float(np.sum(p * np.where(p > 0, np.log(p), 0.0))) for p in (a, b))
    expected = _gaussian_entropic_ot(m1, s1, m2, s2, eps)
    np.testing.assert_allclose(res.value - eps * ent, expected, rtol=1e-8 + 100 * discretization)
    # the limit eps -> 0 is W2^2 = (m1 - m2)^2 + (s1 - s2)^2, the unregularized cost
    assert expected > (m1 - m2) ** 2 + (s1 - s2) ** 2 - 1e-12
    np.testing.assert_allclose(_gaussian_entropic_ot(m1, s1, m2, s2, 1e-12), (m1 - m2) ** 2 + (s1 - s2) ** 2,
                               atol=1e-9)


@settings(max_examples=10)
@given(data=st.data(), n=st.integers(1, 8), m=st.integers(1, 8))
def test_large_reg_plan_tends_to_product(data, n, m):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    a, b, M = rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, m), rng.uniform(size=(n, m))
    a /= a.sum()
    b /= b.sum()
    res = sinkhorn_newton_sparse(a, b, M, 1e4, tol=1e-12)
    np.testing.assert_allclose(res.plan, np.outer(a, b), rtol=1e-3)
    np.testing.assert_allclose(res.cost, a @ M @ b, rtol=1e-3)


@settings(max_examples=10)
@given(data=st.data(), n=st.integers(2, 9), m=st.integers(2, 9), solver=st.sampled_from(SOLVERS))
def test_equivariance_permutations_and_shift(data, n, m, solver):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    a, b, M = rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, m), rng.uniform(size=(n, m))
    a /= a.sum()
    b /= a.sum() * 0 + b.sum()
    reg, tol = 0.05, 1e-12
    ref = solver(a, b, M, reg, tol=tol)
    _check_dual_optimality(ref, a, b, M, tol)
    pi, sigma = rng.permutation(n), rng.permutation(m)
    perm = solver(a[pi], b[sigma], M[np.ix_(pi, sigma)], reg, tol=tol)
    np.testing.assert_allclose(perm.plan, ref.plan[np.ix_(pi, sigma)], atol=1e-9)
    np.testing.assert_allclose(perm.cost, ref.cost, rtol=1e-8)
    shifted = solver(a, b, M + 3.0, reg, tol=tol)
    np.testing.assert_allclose(shifted.plan, ref.plan, atol=1e-9)
    transposed = solver(b, a, M.T.copy(), reg, tol=tol)
    np.testing.assert_allclose(transposed.plan, ref.plan.T, atol=1e-9)


def test_assignment_plan_tends_to_permutation():
    rng = np.random.default_rng(0)
    n = 40
    M = rng.uniform(size=(n, n))
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(M)
    res = sinkhorn_newton_sparse(None, None, M, 1e-3, tol=1e-10)
    assert res.success and res.marginal_error <= 1e-10
    assert (res.plan.argmax(1) == cols).all()
    np.testing.assert_allclose(res.cost, M[rows, cols].mean(), atol=1e-3 * math.log(n))


def test_sns_and_sinkhorn_agree_and_sns_needs_few_iterations():
    rng = np.random.default_rng(1)
    X, Y = rng.uniform(size=(60, 2)), rng.uniform(size=(70, 2))
    M = ((X[:, None] - Y[None]) ** 2).sum(-1)
    M /= M.max()
    a, b = rng.uniform(0.5, 1, 60), rng.uniform(0.5, 1, 70)
    a /= a.sum()
    b /= b.sum()
    r1 = sinkhorn_newton_sparse(a, b, M, 1e-2, tol=1e-12, switch_sweeps=0)  # Newton right after 20 sweeps
    r2 = sinkhorn(a, b, M, 1e-2, method="sinkhorn", tol=1e-12)
    r3 = sinkhorn(a, b, M, 1e-2, method="log", tol=1e-12)
    assert r1.success and r2.success and r1.nit_newton > 0 and r1.nit < r2.nit
    np.testing.assert_allclose(r1.plan, r2.plan, atol=1e-10)
    # the scaling and log domains compute the same iterates (to rounding)
    assert r2.nit == r3.nit
    np.testing.assert_allclose(r2.plan, r3.plan, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(r2.history["marginal_error"], r3.history["marginal_error"], rtol=1e-6, atol=1e-14)
    np.testing.assert_allclose(r1.value, r2.value, rtol=1e-9)
    # the dual objective never decreases
    assert (np.diff(r1.history["dual"]) >= -1e-13).all()
    assert r1.history["newton"].sum() == r1.nit_newton and len(r1.history["marginal_error"]) == r1.nit


def test_topk_sparsity_and_no_sparsification():
    rng = np.random.default_rng(2)
    M = rng.uniform(size=(50, 50))
    ref = sinkhorn_newton_sparse(None, None, M, 1e-2, tol=1e-11)
    for kw in ({"sparsity": "topk"}, {"delta": 0.0}):
        res = sinkhorn_newton_sparse(None, None, M, 1e-2, tol=1e-11, **kw)
        assert res.success
        np.testing.assert_allclose(res.plan, ref.plan, atol=1e-9)


def test_small_reg_is_overflow_proof():
    rng = np.random.default_rng(3)
    M = rng.uniform(size=(30, 40)) * 1e3
    # switch_sweeps=0: Newton after the first sweeps of each stage (the counts below measure eps-scaling)
    res = sinkhorn_newton_sparse(None, None, M, 0.1, tol=1e-9, maxiter=400, switch_sweeps=0)  # reg = 1e-4 max(M)
    assert np.isfinite(res.plan).all() and np.isfinite(res.potentials[0]).all()
    assert res.success and res.marginal_error <= 1e-9
    # epsilon-scaling: stages 10, 1, 0.1 (1e-2, 1e-3, 1e-4 of the spread), ending at the requested reg
    regs = res.history["reg"]
    assert regs[0] > regs[-1] == 0.1 and (np.diff(regs) <= 0).all()
    assert res.nit <= 100  # measured 38 sweeps + 27 Newton steps
    off = sinkhorn_newton_sparse(None, None, M, 0.1, tol=1e-9, maxiter=400, reg_init=0.1, switch_sweeps=0)
    assert off.success and (off.history["reg"] == 0.1).all() and off.nit > 2 * res.nit  # 169 + 162
    np.testing.assert_allclose(res.plan, off.plan, atol=1e-9)


def _tiny_reg_problem(kind, n, m, seed):
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return None, None, rng.uniform(size=(n, m))
    if kind == "cloud":
        X, Y = rng.uniform(size=(n, 2)), rng.uniform(size=(m, 2))
        M = ((X[:, None] - Y[None]) ** 2).sum(-1)
        return None, None, M / M.max()
    # W1 on a grid, Gaussian-mixture marginals with a floor: non-unique optimal plans
    x = np.linspace(0, 1, n)
    a = np.exp(-(((x - 0.3) / 0.1) ** 2)) + 1e-3
    b = np.exp(-(((x - 0.6) / 0.2) ** 2)) + 1e-3
    return a / a.sum(), b / b.sum(), np.abs(x[:, None] - x[None])


@settings(max_examples=12)
@given(kind=st.sampled_from(["uniform", "cloud", "w1"]), n=st.integers(5, 120), m=st.integers(5, 120),
       seed=st.integers(0, 2**16), reg=st.sampled_from([1e-4, 3e-4, 1e-3]), scale=st.sampled_from([1.0, 1e3]))
def test_tiny_reg_converges_without_overflow(kind, n, m, seed, reg, scale):
    """The issue's range: reg down to 1e-4 max(M), costs of any scale; no NaN, no silent failure."""
    a, b, M = _tiny_reg_problem(kind, n, m, seed)
    res = sinkhorn_newton_sparse(a, b, M * scale, reg * scale, tol=1e-9, maxiter=1000)
    assert res.success, res.message
    assert np.isfinite(res.plan).all() and all(np.isfinite(p).all() for p in res.potentials)
    assert res.marginal_error <= 1e-9
    assert res.nit_newton <= 100  # measured at most 45 over 108 such problems


def test_zero_mass_entries():
    rng = np.random.default_rng(4)
    M = rng.uniform(size=(5, 6))
    a = np.array([0.2, 0.0, 0.3, 0.5, 0.0])
    b = np.array([0.0, 0.25, 0.25, 0.25, 0.25, 0.0])
    for solver in SOLVERS:
        res = solver(a, b, M, 0.1, tol=1e-12)
        assert res.success
        assert (res.plan[[1, 4]] == 0).all() and (res.plan[:, [0, 5]] == 0).all()
        f, g = res.potentials
        assert np.isneginf(f[[1, 4]]).all() and np.isneginf(g[[0, 5]]).all()
        _check_dual_optimality(res, a, b, M, 1e-12)
        sub = solver(a[[0, 2, 3]], b[1:5], M[np.ix_([0, 2, 3], [1, 2, 3, 4])], 0.1, tol=1e-12)
        np.testing.assert_allclose(res.plan[np.ix_([0, 2, 3], [1, 2, 3, 4])], sub.plan, rtol=1e-12)
        assert res.plan_sparse.shape == (5, 6)


def test_result_fields_and_sparse_plan():
    rng = np.random.default_rng(5)
    M = rng.uniform(size=(20, 30))
    for solver in SOLVERS:
        res = solver(None, None, M, 0.01, tol=1e-10)
        assert isinstance(res, OTResult) and res.x is res.plan
        assert res.nit == res.nit_sinkhorn + res.nit_newton
        assert isinstance(res.plan_sparse, sp.csr_array)
        dropped = res.plan.sum() - res.plan_sparse.sum()
        assert 0 <= dropped <= 1e-4 * res.plan.sum()
        np.testing.assert_allclose(res.plan_sparse.toarray()[res.plan_sparse.toarray() > 0],
                                   res.plan[res.plan_sparse.toarray() > 0])
        for key in ("marginal_error", "dual", "newton", "step", "cg_nit", "nnz_per_row"):
            assert len(res.history[key]) == res.nit
        assert "success" in repr(res)


def test_lazy_registration():
    assert "ot" in numopt.__all__
    assert numopt.ot.sinkhorn is sinkhorn


# ---------------------------------------------------------------------------------------------------
# Statuses, callbacks, verbose
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_callback_stop_iteration(solver):
    seen = []

    def cb(intermediate):
        assert isinstance(intermediate, OTResult) and intermediate.plan is None
        seen.append(intermediate.marginal_error)
        if len(seen) == 3:
            raise StopIteration

    M = np.random.default_rng(6).uniform(size=(30, 30))
    res = solver(None, None, M, 1e-3, tol=1e-12, callback=cb)
    assert res.status is Status.CALLBACK and not res.success and res.nit == 3 and len(seen) == 3


@pytest.mark.parametrize("solver", SOLVERS)
def test_maxiter_warns_and_fails(solver):
    M = np.random.default_rng(7).uniform(size=(30, 30))
    with pytest.warns(ConvergenceWarning, match="raise `maxiter`"):
        res = solver(None, None, M, 1e-3, tol=1e-12, maxiter=3)
    assert res.status is Status.MAXITER and not res.success and res.nit == 3
    assert res.marginal_error > 1e-12


def test_verbose_prints_a_table(capsys):
    sinkhorn_newton_sparse(None, None, np.random.default_rng(8).uniform(size=(10, 10)), 1e-2, verbose=True)
    out = capsys.readouterr().out
    assert "marg_err" in out and "newton" in out


# ---------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------

M3 = np.ones((3, 4))
A3, B4 = np.full(3, 1 / 3), np.full(4, 1 / 4)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((np.array([0.5, -0.1, 0.6]), B4, M3, 0.1), {}, ValueError, r"`a` must be nonnegative; got a\[1\] = -0\.1\."),
        ((A3, np.array([0.25, 0.25, np.nan, 0.5]), M3, 0.1), {}, ValueError, r"`b` must be finite; got b\[2\] = nan\."),
        ((A3, B4 * 2, M3, 0.1), {}, ValueError, r"`b` must have the total mass of `a`.*sum\(b\) = 2"),
        ((np.ones((3, 1)) / 3, B4, M3, 0.1), {}, ValueError, r"`a` must be 1-D; got an array of shape \(3, 1\)"),
        ((np.full(2, 0.5), B4, M3, 0.1), {}, ValueError,
         r"`M` must have shape \(len\(a\), len\(b\)\) = \(2, 4\); got shape \(3, 4\)\."),
        ((A3, B4, np.where(np.eye(3, 4) > 0, np.inf, 1.0), 0.1), {}, ValueError, r"`M` must be finite; got M\[0, 0\] = inf"),
        ((A3, B4, M3, 0.0), {}, ValueError, r"`reg` must be > 0; got 0\.0\."),
        ((A3, B4, M3, -1.0), {}, ValueError, r"`reg` must be > 0"),
        ((np.zeros(3), np.zeros(4), M3, 0.1), {}, ValueError, r"`a` must have a positive total mass"),
        ((A3, B4, M3, 0.1), {"tol": 0.0}, ValueError, r"`tol` must be > 0"),
        ((A3, B4, M3, 0.1), {"sparsity": "dense"}, ValueError, r"`sparsity` must be one of 'mass', 'topk'"),
        ((A3, B4, M3, 0.1), {"numItermax": 10}, TypeError, r"unexpected keyword argument\(s\) 'numItermax'"),
    ],
)
def test_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=r"^sinkhorn_newton_sparse: " + match):
        sinkhorn_newton_sparse(*args, **kwargs)


def test_bad_method_and_options():
    with pytest.raises(ValueError, match=r"^sinkhorn: `method` must be one of 'sns', 'sinkhorn', 'log' or POT's "
                                         r"'sinkhorn_knopp' \(= 'sinkhorn'\), 'sinkhorn_stabilized' \(= 'sinkhorn'\), "
                                         r"'sinkhorn_log' \(= 'log'\); got 'greenkhorn'"):
        sinkhorn(A3, B4, M3, 0.1, method="greenkhorn")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) 'delta'"):
        sinkhorn(A3, B4, M3, 0.1, method="log", delta=1e-3)
    with pytest.raises(ValueError, match=r"^sinkhorn_log: `a` must be nonnegative; got a\[0\] = -1"):
        sinkhorn(np.array([-1.0, 1.0, 1.0]), B4, M3, 0.1, method="log")


def test_mass_within_tolerance_is_accepted():
    res = sinkhorn_newton_sparse(A3, B4 * (1 + 1e-9), M3, 0.1)
    assert res.success
    np.testing.assert_allclose(res.plan.sum(), 1.0, rtol=1e-12)


# ---------------------------------------------------------------------------------------------------
# Against POT (optional)
# ---------------------------------------------------------------------------------------------------


def test_against_pot_sinkhorn_log_and_emd():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(40, 2)), rng.normal(size=(50, 2)) + 1
    M = ot.dist(X, Y)
    M /= M.max()
    a, b = ot.unif(40), ot.unif(50)
    reg = 2e-2
    P_pot = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-14, numItermax=100_000)
    for method in ("sns", "log"):
        res = sinkhorn(a, b, M, reg, method=method, tol=1e-12)
        np.testing.assert_allclose(res.plan, P_pot, atol=1e-10)
    exact = ot.emd2(a, b, M)
    gaps = []
    for reg in (1e-1, 1e-2, 1e-3):
        res = sinkhorn_newton_sparse(a, b, M, reg, tol=1e-10)
        assert res.success
        gaps.append(res.cost - exact)
        assert -1e-8 <= gaps[-1] <= reg * math.log(40) + 1e-8
    assert gaps[0] > gaps[1] > gaps[2]


# --------------------------------------------------------------------------------------------------
# Scaling-domain sweeps (absorption, log-domain fallback) and the Sinkhorn/Newton switch
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("absorb", [1e50, 1e3])
def test_scaling_domain_iterates_are_the_log_domain_ones(monkeypatch, absorb):
    """With frequent absorptions (bound 1e3: K formed again every few sweeps) the scaling domain still
    follows the log-domain iterates sweep by sweep."""
    from numopt.ot import _common

    monkeypatch.setattr(_common, "_ABSORB", absorb)
    rng = np.random.default_rng(5)
    M = rng.uniform(size=(40, 50))
    a, b = rng.uniform(0.5, 1, 40), rng.uniform(0.5, 1, 50)
    a, b = a / a.sum(), b / b.sum()
    with pytest.warns(ConvergenceWarning):
        fast = sinkhorn(a, b, M, 3e-3, method="sinkhorn", tol=1e-14, maxiter=60)
    with pytest.warns(ConvergenceWarning):
        ref = sinkhorn(a, b, M, 3e-3, method="log", tol=1e-14, maxiter=60)
    assert fast.nit == ref.nit == 60
    np.testing.assert_allclose(fast.history["marginal_error"], ref.history["marginal_error"], rtol=1e-8)
    np.testing.assert_allclose(fast.potentials[0], ref.potentials[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.plan, ref.plan, rtol=1e-9, atol=1e-18)


def test_scaling_domain_falls_back_to_the_log_domain_where_the_kernel_underflows():
    # reg = 1e-4 max(M) from the zero start: exp(-M / reg) underflows in whole rows
    rng = np.random.default_rng(6)
    M = rng.uniform(size=(30, 40)) * 1e3
    with pytest.warns(ConvergenceWarning):
        fast = sinkhorn(None, None, M, 0.1, method="sinkhorn", tol=1e-14, maxiter=40)
    with pytest.warns(ConvergenceWarning):
        ref = sinkhorn(None, None, M, 0.1, method="log", tol=1e-14, maxiter=40)
    assert np.isfinite(fast.plan).all() and np.isfinite(fast.potentials[1]).all()
    np.testing.assert_allclose(fast.history["marginal_error"], ref.history["marginal_error"], rtol=1e-6)
    np.testing.assert_allclose(fast.plan, ref.plan, rtol=1e-8, atol=1e-18)


def test_sns_stays_in_sinkhorn_when_it_predicts_tol_within_switch_sweeps():
    rng = np.random.default_rng(7)
    M = rng.uniform(size=(50, 60))
    stay = sinkhorn_newton_sparse(None, None, M, 0.02, tol=1e-11)  # measured: 83 sweeps predicted and run
    newton = sinkhorn_newton_sparse(None, None, M, 0.02, tol=1e-11, switch_sweeps=0)
    assert stay.success and newton.success
    assert stay.nit_newton == 0 and newton.nit_newton > 0
    assert newton.nit_sinkhorn == 20  # sinkhorn_maxiter, then Newton
    np.testing.assert_allclose(stay.plan, newton.plan, atol=1e-11)
    # at small reg the predicted sweeps exceed the budget: Newton takes over after the first 20
    small = sinkhorn_newton_sparse(None, None, M, 2e-3, tol=1e-11, reg_init=2e-3)
    assert small.success and small.nit_newton > 0 and small.nit_sinkhorn < 20 + 250


# --------------------------------------------------------------------------------------------------
# Hardening (issue 11): bounded epsilon-scaling schedules, scale invariance, the rounding floor
# --------------------------------------------------------------------------------------------------

# Run in a child process with a wall-clock timeout and a 3 GiB address-space limit: the schedules
# below never ended before the fix (an endless list of inf, or ~1e16 stages), so the test must fail
# rather than hang or eat the machine's memory.
_GUARDED = r"""
import resource, sys, warnings
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
import numpy as np
from numopt.ot import sinkhorn, sinkhorn_newton_sparse
warnings.simplefilter("ignore")
M = np.random.default_rng(0).uniform(size=(6, 7))
case = sys.argv[1]
if case == "overflowing-spread":
    M[0, 0], M[1, 1] = 1.7e308, -1.7e308
    res = sinkhorn(None, None, M, 1e306)
    assert res.success and np.isfinite(res.plan).all() and res.marginal_error <= 1e-9, res
    assert abs(res.plan[1, 1] - 1 / 7) < 1e-9 and res.plan[0, 0] < 1e-50, res
elif case == "reg-factor-near-one":
    res = sinkhorn_newton_sparse(None, None, M, 1e-3, reg_init=1.0, reg_factor=1 + 1e-15, maxiter=5)
    # the last 5 stages of the schedule (each takes at least one iteration of maxiter = 5)
    assert res.nit == 5 and res.reg == 1e-3 and res.history["reg"][0] < 1.51e-3 and not res.success, res
print("done")
"""


@pytest.mark.parametrize("case", ["overflowing-spread", "reg-factor-near-one"])
def test_epsilon_scaling_schedule_is_bounded(case):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _GUARDED, case], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr[-2000:]


def test_reg_schedule_keeps_the_last_maxiter_stages():
    from numopt.ot._sns import _reg_schedule

    assert _reg_schedule(1e-3, 1.0, 10.0, 1000) == pytest.approx([1.0, 0.1, 0.01, 1e-3])
    assert _reg_schedule(1e-3, 1.0, 10.0, 2) == pytest.approx([0.01, 1e-3])
    tail = _reg_schedule(1e-3, 1.0, 1 + 1e-15, 5)
    assert len(tail) == 5 and tail[-1] == 1e-3 and (np.diff(tail) < 0).all() and tail[0] < 1.51e-3
    assert _reg_schedule(1e-3, 1e-3, 10.0, 0) == [1e-3]
    huge = _reg_schedule(1e-300, 1e308, 10.0, 1000)  # reg_init / reg overflows
    assert len(huge) == 609 and huge[0] == 1e308 and huge[-1] == 1e-300


@pytest.mark.parametrize("solver", [sinkhorn_newton_sparse, sinkhorn_log, numopt.ot.sinkhorn_knopp])
@pytest.mark.parametrize("mass", [1e-300, 1e-12, 1e7, 1e150])
def test_tol_is_relative_to_the_mass(solver, mass):
    """Before: mass 1e-12 stopped after one sweep with 58% of the mass misplaced and success=True,
    mass 1e-300 gave an all-zero plan, mass 1e7 never converged in the log domain."""
    rng = np.random.default_rng(10)
    X, Y = rng.uniform(size=(30, 2)), rng.uniform(size=(40, 2))
    M = ((X[:, None] - Y[None]) ** 2).sum(-1)
    a, b = rng.uniform(0.1, 1, 30), rng.uniform(0.1, 1, 40)
    a, b = a / a.sum(), b / b.sum()
    ref = solver(a, b, M, 0.02, tol=1e-10)
    res = solver(a * mass, b * mass, M, 0.02, tol=1e-10)
    assert res.success and ref.success
    assert res.marginal_error <= 1e-10 * mass * (1 + 1e-6)
    # the plan returned is mass times the normalized one: one more rounding per entry
    np.testing.assert_allclose(res.marginal_error, _marginal_error(res.plan, a * mass, b * mass), rtol=1e-6,
                               atol=8 * np.finfo(float).eps * mass)
    np.testing.assert_allclose(res.plan / mass, ref.plan, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.cost / mass, ref.cost, rtol=1e-9)
    np.testing.assert_allclose(res.value, mass * (ref.value + 0.02 * math.log(mass)), rtol=1e-9)
    f, g = res.potentials
    with np.errstate(under="ignore"):
        np.testing.assert_allclose(np.exp((f[:, None] + g[None] - M) / 0.02), res.plan, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(res.history["marginal_error"] / mass, ref.history["marginal_error"], rtol=1e-6,
                               atol=1e-14)


@pytest.mark.parametrize("solver", SOLVERS)
def test_large_offset_of_M_converges(solver):
    """Before: at M + 1e8, reg 0.01, potentials of size 1e8 left a marginal error floor of ~1e-6
    (MAXITER, "raise `maxiter`"); min(M) is now subtracted internally."""
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(size=(40, 2)), rng.uniform(size=(50, 2))
    M = (((X[:, None] - Y[None]) ** 2).sum(-1) + 1e8) - 1e8  # exactly the data the shifted problem sees
    a, b = rng.uniform(0.1, 1.1, 40), rng.uniform(0.1, 1.1, 50)
    a, b = a / a.sum(), b / b.sum()
    ref = solver(a, b, M, 0.01)
    res = solver(a, b, M + 1e8, 0.01)
    assert res.status is Status.SUCCESS and res.marginal_error <= 1e-9
    np.testing.assert_allclose(res.plan, ref.plan, rtol=1e-6, atol=1e-13)
    # <P, M + 1e8> = <P, M> + 1e8 sum(P), and sum(P) is 1 to the marginal error
    np.testing.assert_allclose(res.cost, (res.plan * (M + 1e8)).sum(), rtol=1e-15)
    np.testing.assert_allclose(res.cost - 1e8 * res.plan.sum(), ref.cost, rtol=1e-6)
    f, g = res.potentials
    f0, g0 = ref.potentials
    np.testing.assert_allclose(f[:, None] + g[None] - (M + 1e8), f0[:, None] + g0[None] - M, atol=1e-7)


def test_tiny_reg_against_the_spread_is_refused():
    """Before: reg = 1e-100 gave NaN plans in the log and scaling domains (a fast-math rewrite of the
    shifted sums, and potentials whose last bit moves the plan by e^(1e84))."""
    M = np.random.default_rng(12).uniform(size=(5, 6))
    for solver in (sinkhorn_log, numopt.ot.sinkhorn_knopp, sinkhorn_newton_sparse):
        with pytest.raises(ValueError, match=r"`reg` must be at least 1e-12 \(max\(M\) - min\(M\)\).*got reg = 1e-100"):
            solver(None, None, M, 1e-100)


def test_shifted_log_sums_survive_huge_log_plans():
    """The fallback sums (shifted by the row/column maximum) at 1 / reg = 1e100 against the NumPy
    reference: fast-math had turned them into exp(-1e84) = 0 and the potentials into NaN."""
    from numopt.ot import _kernels

    M = np.random.default_rng(13).uniform(size=(4, 5))
    a, b = np.full(4, 0.25), np.full(5, 0.2)
    f, g = np.zeros(4), np.zeros(5)
    _kernels.sinkhorn_rows(M, f, g, a, np.log(a), 1e-100)
    np.testing.assert_allclose(f, M.min(1) + 1e-100 * np.log(a), rtol=1e-15)
    logc = np.empty(5)
    f = M.min(1) - 1e-3  # h = (f_i - M_ij) / reg <= -1e97: every plain sum underflows
    _kernels.sinkhorn_cols(M, f, g, b, 1e-100, logc)
    np.testing.assert_allclose(logc, ((f[:, None] - M) * 1e100).max(0), rtol=1e-15)


def test_sns_reports_the_rounding_floor():
    """At reg = 1e-9 max(M), one ulp of the potentials moves the plan by ~2e-7 relative: tol = 1e-12 is
    out of reach. Before: MAXITER after 1000 iterations with "raise `maxiter`"."""
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(size=(40, 2)), rng.uniform(size=(50, 2))
    M = ((X[:, None] - Y[None]) ** 2).sum(-1)
    a, b = rng.uniform(0.1, 1.1, 40), rng.uniform(0.1, 1.1, 50)
    a, b = a / a.sum(), b / b.sum()
    res = sinkhorn_newton_sparse(a, b, M, 1e-9, tol=1e-12)
    assert res.status is Status.ROUNDING_FLOOR and res.success and res.nit < 500
    assert 1e-12 < res.marginal_error < 1e-7
    assert "rounding alone leaves about" in res.message and "a larger `reg` lowers it" in res.message
    np.testing.assert_allclose(res.marginal_error, _marginal_error(res.plan, a, b), rtol=1e-6)


@settings(max_examples=12)
@given(data=st.data(), s=st.integers(-150, 150), t=st.integers(-150, 150), shift=st.sampled_from([0.0, -3.0, 1e6]),
       solver=st.sampled_from([sinkhorn_newton_sparse, sinkhorn_log, numopt.ot.sinkhorn_knopp]))
def test_scale_invariance(data, s, t, shift, solver):
    """a, b scaled by 10^s and M, reg by 10^t (M also shifted): the same plan times 10^s, or an honest
    success=False (the issue's +-150 decades)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    n, m = data.draw(st.integers(2, 12)), data.draw(st.integers(2, 12))
    a, b, M = rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, m), rng.uniform(size=(n, m))
    a, b = a / a.sum(), b / b.sum()
    reg, tol = 0.05, 1e-10
    ref = solver(a, b, M, reg, tol=tol)
    assert ref.success
    mass, unit = 10.0**s, 10.0**t
    res = solver(a * mass, b * mass, (M + shift) * unit, reg * unit, tol=tol)
    if not res.success:  # allowed only with the warning and an honest message
        assert res.marginal_error > tol * mass
        return
    assert res.marginal_error <= tol * mass * (1 + 1e-6)
    np.testing.assert_allclose(res.plan / mass, ref.plan, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(res.cost / (mass * unit), ref.cost + shift, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver, advice, not_advice", [
    (sinkhorn_newton_sparse, "`cg_maxiter`", "method='sns'"),
    (sinkhorn_log, "method='sns'", "cg_maxiter"),
    (numopt.ot.sinkhorn_knopp, "method='sns'", "cg_maxiter"),
])
def test_maxiter_advice_applies_to_the_method(solver, advice, not_advice):
    """Before: SNS at maxiter advised "use method='sns'" (itself)."""
    M = np.random.default_rng(7).uniform(size=(30, 30))
    with pytest.warns(ConvergenceWarning) as record:
        res = solver(None, None, M, 1e-3, tol=1e-12, maxiter=3)
    assert res.message.startswith(Status.MAXITER.value)
    assert advice in res.message and not_advice not in res.message
    assert f"The marginal error is {res.marginal_error:.3g} sum(a)" in res.message
    text = str(record[0].message)
    assert text.startswith(solver.__name__ + ": ") and text.count(solver.__name__) == 1


def test_ot_sources_hold_no_control_characters():
    """The sinkhorn_knopp docstring held \\x0b and TAB where \\varepsilon and \\top were meant."""
    import pathlib
    import re

    root = pathlib.Path(numopt.__file__).parent.parent
    files = sorted((root / "numopt" / "ot").glob("*.py")) + sorted((root / "tests" / "ot").glob("*.py"))
    files += [root / "bench" / "ot.py"] if (root / "bench" / "ot.py").exists() else []
    for path in files:
        text = path.read_text(encoding="utf-8")
        bad = re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text.replace("\r\n", "\n"))
        assert bad is None, f"{path.name}: control character {bad.group()!r} at offset {bad.start()}"
    for func in (numopt.ot.sinkhorn_knopp, sinkhorn_log, sinkhorn_newton_sparse, sinkhorn):
        assert "\\varepsilon" in func.__doc__ or func is sinkhorn_log
        assert re.search(r"[\x00-\x08\x0b-\x1f]", func.__doc__) is None


# ---------------------------------------------------------------------------------------------------
# POT's conventions: sinkhorn2, method aliases, a = [] (issue 16 section 3)
# ---------------------------------------------------------------------------------------------------


def test_sinkhorn2_is_the_cost_of_sinkhorns_plan():
    rng = np.random.default_rng(3)
    M = rng.random((6, 7))
    a, b = rng.random(6) + 0.1, rng.random(7) + 0.1
    b *= a.sum() / b.sum()
    for method in ("sns", "sinkhorn", "log"):
        res = sinkhorn(a, b, M, 0.05, method=method, tol=1e-12)
        loss = sinkhorn2(a, b, M, 0.05, method=method, tol=1e-12)
        assert type(loss) is float
        np.testing.assert_allclose(loss, (res.plan * M).sum(), rtol=1e-12)


def test_sinkhorn2_against_pot():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(30, 2)), rng.normal(size=(40, 2)) + 0.5
    M = ot.dist(X, Y)
    M /= M.max()
    a, b = ot.unif(30), ot.unif(40)
    for reg, method, ours in ((5e-2, "sinkhorn", "sinkhorn_knopp"), (2e-2, "sinkhorn_log", "sinkhorn_log")):
        ref = float(ot.sinkhorn2(a, b, M, reg, method=method, stopThr=1e-14, numItermax=100_000))
        for ours in ("sns", ours):
            np.testing.assert_allclose(sinkhorn2(a, b, M, reg, method=ours, tol=1e-12), ref, rtol=1e-9)
        np.testing.assert_allclose(sinkhorn2([], [], M, reg, tol=1e-12), ref, rtol=1e-9)


@pytest.mark.parametrize("alias, name", [("sinkhorn_knopp", "sinkhorn"), ("sinkhorn_stabilized", "sinkhorn"),
                                         ("sinkhorn_log", "log")])
def test_pot_method_names_are_aliases(alias, name):
    a, b = A3, B4
    res = sinkhorn(a, b, M3, 0.1, method=alias, tol=1e-12)
    ref = sinkhorn(a, b, M3, 0.1, method=name, tol=1e-12)
    assert res.method == ref.method
    np.testing.assert_array_equal(res.plan, ref.plan)
    assert res.nit == ref.nit


@pytest.mark.parametrize("empty", [[], (), np.empty(0)])
def test_empty_weights_mean_uniform(empty):
    """Before: a = [] was a shape error (POT reads it as uniform)."""
    M = np.random.default_rng(5).random((3, 4))
    b = np.array([0.1, 0.2, 0.3, 0.4])
    ref = sinkhorn_newton_sparse(None, None, M, 0.1, tol=1e-12)
    res = sinkhorn_newton_sparse(empty, empty, M, 0.1, tol=1e-12)
    np.testing.assert_array_equal(res.plan, ref.plan)
    res = sinkhorn(empty, b, M, 0.1, method="log", tol=1e-12)
    np.testing.assert_allclose(res.plan.sum(1), np.full(3, 1 / 3), atol=1e-12)
    np.testing.assert_allclose(res.plan.sum(0), b, atol=1e-12)
    # an empty 2-D array is still a shape error, and [] does not rescue an empty M
    with pytest.raises(ValueError, match=r"^sinkhorn_log: `a` must be 1-D"):
        sinkhorn_log(np.empty((0, 3)), B4, M3, 0.1)
    with pytest.raises(ValueError, match=r"`M` must have at least one row and one column"):
        sinkhorn_log([], [], np.empty((0, 3)), 0.1)


# ---------------------------------------------------------------------------------------------------
# Dense-plan overheads (issue 20 section 1): lazy plan_sparse, no n x m array besides the plan
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sns", "sinkhorn", "log"])
def test_plan_sparse_is_lazy_with_the_same_values(method):
    """Before: plan_sparse was built in every solve (1.5x the plan's memory on a dense plan)."""
    from numopt.ot import _common

    rng = np.random.default_rng(1)
    M = rng.random((40, 50))
    a, b = rng.random(40), rng.random(50)
    a[[3, 7]], b[[0, 10, 49]] = 0.0, 0.0
    b *= a.sum() / b.sum()
    res = sinkhorn(a, b, M, 0.05, method=method, tol=1e-12)
    assert isinstance(res.__dict__["_lazy_plan_sparse"], _common._Deferred)  # not built yet
    S = res.plan_sparse
    assert res.plan_sparse is S  # cached
    # the previous construction: select on the plan of the support, then map back to full indices
    rows, cols = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
    P = res.plan[np.ix_(rows, cols)]
    indptr, indices, data = _common.scaled_selection(P, np.ones(len(rows)), np.ones(len(cols)), "mass", 1e-4, {})
    old = sp.csr_array((data, (np.repeat(rows, np.diff(indptr)), cols[indices])), shape=M.shape)
    assert isinstance(S, sp.csr_array)
    np.testing.assert_array_equal(S.indptr, old.indptr)
    np.testing.assert_array_equal(S.indices, old.indices)
    np.testing.assert_array_equal(S.data, old.data)
    assert 0 < S.nnz < M.size
    import pickle

    again = pickle.loads(pickle.dumps(sinkhorn(a, b, M, 0.05, method=method, tol=1e-12)))
    np.testing.assert_array_equal(again.plan_sparse.toarray(), S.toarray())


@pytest.mark.parametrize("method", ["sns", "sinkhorn", "log"])
def test_dense_plan_is_the_only_n_by_m_allocation(method):
    """Before: peak traced memory 3.5x the plan's bytes (plan_sparse of a dense plan, its buffers)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    X, Y = rng.uniform(size=(300, 2)), rng.uniform(size=(300, 2))
    M = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    M /= M.max()
    sinkhorn(None, None, M, 0.1, method=method)  # compile outside the trace
    tracemalloc.start()
    try:
        res = sinkhorn(None, None, M, 0.1, method=method)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.success and res.plan.min() > 0  # a dense plan
    assert peak <= 1.3 * res.plan.nbytes


# --------------------------------------------------------------------------------------------------
# Issue 20: dense plans (exact Newton by BLAS products with the kernel) and the density-aware switch
# --------------------------------------------------------------------------------------------------


def _cloud_cost(n, seed=0, dim=2):
    rng = np.random.default_rng(seed)
    X, Y = rng.uniform(size=(n, dim)), rng.uniform(size=(n, dim))
    M = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    return M / M.max()


def test_sns_dense_plan_newton_is_exact_and_matches_sinkhorn():
    """A plan whose sparsified Hessian would keep > 30 % of its entries: the Newton steps use the exact
    Hessian through the kernel (nnz_per_row = m) and converge quadratically to Sinkhorn's plan."""
    M = _cloud_cost(150)[:, :120]
    res = sinkhorn_newton_sparse(None, None, M, 0.05, tol=1e-12, switch_sweeps=0, sinkhorn_maxiter=5)
    ref = sinkhorn_log(None, None, M, 0.05, tol=1e-13)
    assert res.success and res.nit_newton >= 1
    newton = res.history["newton"]
    np.testing.assert_array_equal(res.history["nnz_per_row"][newton], 120.0)
    assert res.nit_newton <= 4  # exact Newton: quadratic convergence from 5 sweeps
    np.testing.assert_allclose(res.plan, ref.plan, rtol=1e-9, atol=1e-14)
    # the transposed problem takes the Schur complement on the other block
    res_t = sinkhorn_newton_sparse(None, None, M.T, 0.05, tol=1e-12, switch_sweeps=0, sinkhorn_maxiter=5)
    np.testing.assert_allclose(res_t.plan, ref.plan.T, rtol=1e-9, atol=1e-14)


def test_sns_switches_to_newton_on_a_dense_plan_at_moderate_reg():
    """Before: reg 0.01 on 2-D clouds (n = 200) stayed in Sinkhorn for ~180 sweeps (predicted within the
    fixed budget of 250) although a Newton step on a dense plan costs a few sweeps: now the switch
    compares against the cost of a Newton phase on this plan's density."""
    M = _cloud_cost(200)
    res = sinkhorn_newton_sparse(None, None, M, 0.01, tol=1e-10)
    assert res.success and res.nit_newton >= 1
    assert res.nit_sinkhorn <= 60
    sk = sinkhorn_knopp(None, None, M, 0.01, tol=1e-10)
    assert sk.nit > 100  # what the switch saved
    np.testing.assert_allclose(res.plan, sk.plan, rtol=1e-6, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# Issue 16 section 3: several problems at once (b of shape (m, k), M of shape (B, n, m))
# --------------------------------------------------------------------------------------------------


def test_sinkhorn2_several_targets_against_pot():
    """POT's multiple targets: b of shape (m, k) gives the k losses (before: a TypeError/ValueError on b)."""
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(5)
    M = rng.uniform(size=(7, 6))
    a = rng.uniform(size=7)
    a /= a.sum()
    B = rng.uniform(size=(6, 3))
    B /= B.sum(0)
    losses = sinkhorn2(a, B, M, 0.1, tol=1e-12)
    assert losses.shape == (3,)
    ref = ot.sinkhorn2(a, B, M, 0.1, stopThr=1e-14, numItermax=100_000)
    np.testing.assert_allclose(losses, np.asarray(ref, dtype=float), rtol=1e-9)
    for j in range(3):
        np.testing.assert_allclose(losses[j], sinkhorn2(a, B[:, j], M, 0.1, tol=1e-12), rtol=1e-12)


def test_sinkhorn2_batch_of_cost_matrices():
    rng = np.random.default_rng(6)
    Ms = rng.uniform(size=(4, 5, 6))
    losses = sinkhorn2(None, None, Ms, 0.05, method="log", tol=1e-12)
    assert losses.shape == (4,)
    for i in range(4):
        np.testing.assert_allclose(losses[i], sinkhorn(None, None, Ms[i], 0.05, tol=1e-12).cost, rtol=1e-9)


@pytest.mark.parametrize("args, error, match", [
    (dict(b=np.ones((6, 0))), ValueError, r"`b` must have at least one column"),
    (dict(b=np.array([[0.5, -1.0]] * 3)), ValueError, r"`b` must be nonnegative; got b\[0, 1\] = -1"),
    (dict(M=np.ones((2, 3, 3)), b=np.ones((3, 2)) / 3), ValueError, r"`b` must be 1-D when `M` is a batch"),
    (dict(M=np.ones((0, 3, 3))), ValueError, r"`M` must hold at least one cost matrix"),
    (dict(b=np.ones((3, 2)) / 3, method="nope"), ValueError, r"`method` must be one of"),
])
def test_sinkhorn2_several_problems_bad_input(args, error, match):
    kw = dict(a=None, b=None, M=np.ones((3, 3)), method="sns")
    kw.update(args)
    with pytest.raises(error, match=match):
        sinkhorn2(kw["a"], kw["b"], kw["M"], 0.1, method=kw["method"])


def test_dense_newton_path_allocates_nothing_of_size_n_by_m():
    """Guard for the exact-Newton path on dense plans (reg 0.01 on clouds): besides the returned plan only
    O(n + m) vectors and the fixed histogram scratch (~1 MiB) are allocated."""
    import tracemalloc

    M = _cloud_cost(800, seed=1)
    sinkhorn_newton_sparse(None, None, M, 0.01, tol=1e-10)  # compile outside the trace
    tracemalloc.start()
    try:
        res = sinkhorn_newton_sparse(None, None, M, 0.01, tol=1e-10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.success and res.nit_newton >= 1 and np.nanmax(res.history["nnz_per_row"]) == 800
    assert peak <= 1.3 * res.plan.nbytes
