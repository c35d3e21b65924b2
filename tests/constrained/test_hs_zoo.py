"""The Hock–Schittkowski zoo: every problem, every inner solver, several seeds."""


import numpy as np
import pytest

from numopt.constrained import minimize
from numopt.constrained._hs import HS_NAMES, hs_problem

#: Degenerate minimisers (reduced Hessian -> 0 at x*, so cond(K) grows about 5x per outer iteration):
#: the one-row/one-vector sketches cannot reach KKT 1e-8 in any reasonable number of steps there.
DEGENERATE = ("HS26", "HS49")
FAST_SKETCH = ("HS6", "HS7", "HS8", "HS28", "HS40", "HS42", "HS48", "HS51", "HS61")


def _check(p, res, tol=1e-8, ftol=1e-6):
    assert res.success, (p.name, res.message)
    assert res.kkt_residual <= tol
    assert abs(res.fun - p.fstar) <= ftol * (1 + abs(p.fstar)), (p.name, res.fun, p.fstar)
    assert np.isfinite(res.x).all() and np.isfinite(res.multipliers).all()


@pytest.mark.parametrize("name", HS_NAMES)
@pytest.mark.parametrize("sketch", ["auto", "direct", "minres"])
def test_zoo_deterministic(name, sketch):
    p = hs_problem(name)
    res = minimize(**p.kwargs(), sketch=sketch, rng=0)
    _check(p, res)
    if p.xstar is not None and name not in DEGENERATE + ("HS9",):
        np.testing.assert_allclose(res.x, p.xstar, atol=1e-6)


@pytest.mark.parametrize("name", FAST_SKETCH)
@pytest.mark.parametrize("sketch", ["kaczmarz", "block_kaczmarz", "gaussian"])
def test_zoo_sketch_quick(name, sketch):
    p = hs_problem(name)
    for seed in (0, 1):
        _check(p, minimize(**p.kwargs(), sketch=sketch, rng=seed))


#: Known limitations of the one-vector sketches, as the number of seeds 0-4 that pass (counted, not hidden by a
#: non-strict xfail: a fix or a further regression changes the count and fails the test). On HS27 one Newton system
#: has cond(K) ~ 1e3-4e3, either through lambda ~ 0 (eig B = 3e-3, 4e-3, 13: reduced curvature small but far above
#: any singularity threshold) or through the shift (1 + xi_B)||H|| I (Schur complement G B^-1 G' ~ 1/||B||);
#: one-vector Gaussian sketch-and-project contracts by about 1 - sigma_min(K)^2/||K||_F^2 ~ 1 - 6e-7 per step, so
#: one decade of residual takes ~4e6 steps and the 1e6-step budget is 4-30x too small for some seeds. The smallest
#: shift xi_B ||H|| - lambda_min was tried: HS27 passes 6/8 seeds instead of 3/8, but the sketches take 2x the
#: inner steps on the other problems and the LU zoo 3 more outer iterations. On HS49 (degenerate) Kaczmarz and
#: Gaussian mostly do not reach even 1e-4 within their default budgets.
#: Measured on this code (December 2026): gaussian-HS27 passes seed 1 only, kaczmarz-HS49 (tol 1e-4) seed 4 only,
#: gaussian-HS49 (tol 1e-4) no seed (strict xfail). Each pair costs 7-30 minutes on a loaded 2-core machine.
_KNOWN = {("gaussian", "HS27"): 1, ("kaczmarz", "HS49"): 1, ("gaussian", "HS49"): 0}
SEEDS = range(5)


def _cases(names):
    out = []
    for sketch in ("kaczmarz", "block_kaczmarz", "gaussian"):
        for name in names:
            expected = _KNOWN.get((sketch, name), len(SEEDS))
            marks = [pytest.mark.xfail(reason="fails for every seed, see _KNOWN", strict=True)] if expected == 0 else []
            out.append(pytest.param(sketch, name, expected, marks=marks, id=f"{sketch}-{name}"))
    return out


def _passes(p, res, tol=1e-8, ftol=1e-6):
    return bool(res.success and res.kkt_residual <= tol and abs(res.fun - p.fstar) <= ftol * (1 + abs(p.fstar))
                and np.isfinite(res.x).all() and np.isfinite(res.multipliers).all())


def _run_seeds(p, sketch, tol, ftol):
    import warnings

    passed = 0
    for seed in SEEDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a failing seed warns; the count is what is checked
            res = minimize(**p.kwargs(), sketch=sketch, rng=seed, tol=tol)
        passed += _passes(p, res, tol, ftol)
    return passed


def _assert_count(passed, expected, name, sketch):
    """The exact count of passing seeds; for a pair that fails every seed (strict xfail) the body asserts that some
    seed passes, so a fix shows up as an XPASS, which strict=True turns into a failure."""
    if expected == 0:
        assert passed > 0, (name, sketch, "no seed passes")
    else:
        assert passed == expected, (name, sketch, passed, expected)


@pytest.mark.slow
@pytest.mark.parametrize("sketch,name,expected", _cases([n for n in HS_NAMES if n not in DEGENERATE]))
def test_zoo_sketch_five_seeds(name, sketch, expected):
    p = hs_problem(name)
    passed = _run_seeds(p, sketch, 1e-8, 1e-6)
    _assert_count(passed, expected, name, sketch)


@pytest.mark.slow
@pytest.mark.parametrize("sketch,name,expected", _cases(DEGENERATE))
def test_zoo_sketch_degenerate(name, sketch, expected):
    """At the paper's tolerance 1e-4 the sketches solve the degenerate problems too (most seeds)."""
    p = hs_problem(name)
    passed = _run_seeds(p, sketch, 1e-4, 1e-4)
    _assert_count(passed, expected, name, sketch)


def test_degenerate_sketch_fails_cleanly():
    """Kaczmarz at tol 1e-8 on HS26 with a small inner budget: success=False, a message, no NaN."""
    p = hs_problem("HS26")
    with pytest.warns(Warning, match="inner solver"):
        res = minimize(**p.kwargs(), sketch="kaczmarz", rng=0, inner_maxiter=20_000)
    assert not res.success
    assert "inner_maxiter" in res.message
    assert np.isfinite(res.x).all() and np.isfinite(res.kkt_residual)


def test_hs61_rank_deficient_start():
    """G(x0) = [[3,0,0],[4,0,0]] has rank 1 (SLSQP fails there): the dual regularisation carries it."""
    p = hs_problem("HS61")
    res = minimize(**p.kwargs(), sketch="direct")
    _check(p, res)
    assert res.history["rho"][0] > 0 and res.history["rho"][-1] == 0


def test_paper_accuracy_mode():
    for name in ("HS28", "HS40", "HS42"):
        p = hs_problem(name)
        res = minimize(**p.kwargs(), sketch="block_kaczmarz", accuracy="paper", rng=0, tol=1e-6)
        _check(p, res, tol=1e-6)


def test_superlinear_theta_sharpens_local_rate():
    p = hs_problem("HS40")
    res = minimize(**p.kwargs(), sketch="block_kaczmarz", rng=0, theta="superlinear", tol=1e-10)
    _check(p, res, tol=1e-10)
    k = res.kkt_history
    ratios = k[1:] / k[:-1]
    assert ratios[-1] <= 0.1
    const = minimize(**p.kwargs(), sketch="block_kaczmarz", rng=0, theta=1.0, tol=1e-10)
    assert res.nit <= const.nit


def test_hessian_modification_is_used_and_harmless():
    """HS7 starts where the reduced Hessian is negative: B is shifted on the first iterations only."""
    p = hs_problem("HS7")
    res = minimize(**p.kwargs(), sketch="direct")
    _check(p, res)
    mod = res.history["modified"]
    assert mod[0] > 0 and mod[-1] == 0
