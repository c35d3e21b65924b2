"""Bad input, failing oracles and the stopping statuses of maid."""

import io
import contextlib

import numpy as np
import pytest

from numopt import ConvergenceWarning, Status
from numopt.bilevel import BilevelProblem, maid, quadratic_problem, ridge_problem, tikhonov_fourier_problem

from .conftest import Shrinkage, make_ridge, shrinkage


def test_non_finite_theta0():
    with pytest.raises(ValueError, match=r"maid: `theta0` must be finite; got theta0\[1\] = nan"):
        maid(shrinkage(), np.array([0.0, np.nan]))


@pytest.mark.parametrize("kw, match", [
    ({"tol": 0.0}, r"maid: `tol` must be > 0; got 0.0"),
    ({"tol": -1.0}, r"`tol` must be > 0"),
    ({"budget": 0}, r"maid: `budget` must be >= 1; got 0"),
    ({"eps0": 0.0}, r"`eps0` must be > 0"),
    ({"delta0": np.inf}, r"`delta0` must be finite"),
    ({"step0": -1.0}, r"`step0` must be > 0"),
    ({"maxiter": -1}, r"`maxiter` must be >= 0"),
    ({"memory": -1}, r"maid: `memory` must be >= 0; got -1"),
])
def test_bad_scalars(kw, match):
    with pytest.raises(ValueError, match=match):
        maid(shrinkage(), np.zeros(1), **kw)


def test_bad_types():
    with pytest.raises(TypeError, match="`problem` must be a numopt.bilevel.BilevelProblem"):
        maid(object(), np.zeros(1))
    with pytest.raises(TypeError, match="`verbose` must be True or False"):
        maid(shrinkage(), np.zeros(1), verbose="no")
    with pytest.raises(TypeError, match="`budget` must be an integer"):
        maid(shrinkage(), np.zeros(1), budget=1.5)
    with pytest.raises(TypeError, match="`memory` must be an integer"):
        maid(shrinkage(), np.zeros(1), memory=2.5)


class _Broken(Shrinkage):
    def __init__(self, mode):
        p = shrinkage()
        super().__init__(p.y, p.clean)
        self.mode = mode

    def lower_mu(self, theta):
        return -1.0 if self.mode == "mu" else super().lower_mu(theta)

    def lower_grad(self, x, theta):
        g = super().lower_grad(x, theta)
        if self.mode == "shape":
            return g[:-1]
        if self.mode == "nan" and theta[0] < -0.5:
            return g * np.nan
        return g

    def lower_cross(self, x, theta, v):
        if self.mode == "cross_shape":
            return np.zeros(3)
        return super().lower_cross(x, theta, v)


def test_non_positive_mu_is_an_error():
    with pytest.raises(ValueError, match=r"`problem.lower_mu` must return a positive finite strong-convexity bound"):
        maid(_Broken("mu"), np.zeros(1))


def test_wrong_oracle_shapes_are_errors():
    with pytest.raises(ValueError, match=r"`problem.lower_grad` must return an array of shape \(60,\); got shape \(59"):
        maid(_Broken("shape"), np.zeros(1))
    with pytest.raises(ValueError, match=r"`problem.lower_cross` must return an array of shape \(1,\); got shape \(3"):
        maid(_Broken("cross_shape"), np.zeros(1))


def test_nan_oracle_gives_nonfinite_status():
    # the gradient is NaN for theta < -0.5: the run starts there
    with pytest.warns(ConvergenceWarning, match="The lower-level gradient became NaN or inf at theta"):
        res = maid(_Broken("nan"), np.array([-1.0]))
    assert res.status is Status.NONFINITE and not res.success and np.isnan(res.fun)
    assert "no lower-level solve succeeded" in res.message


def test_missing_x0():
    methods = {k: v for k, v in vars(Shrinkage).items() if k != "lower_x0"}
    NoStart = type("NoStart", (BilevelProblem,), methods)
    p = shrinkage()
    with pytest.raises(TypeError, match="`x0` must be given when the problem defines no lower_x0"):
        maid(NoStart(p.y, p.clean), np.zeros(1))
    res = maid(NoStart(p.y, p.clean), np.zeros(1), x0=np.zeros(60), tol=1e-9)
    np.testing.assert_allclose(np.exp(res.theta[0]), p.lam_star(), rtol=1e-6)


class _SlowSolver(Shrinkage):
    def solve_lower(self, theta, x0, tol):
        return x0, 1            # never solves anything


def test_lower_solver_that_misses_its_eps():
    p = shrinkage()
    q = _SlowSolver(p.y, p.clean)
    with pytest.warns(ConvergenceWarning, match="lower-level solver stopped at"):
        res = maid(q, np.zeros(1))
    assert res.status is Status.INNER_SOLVER
    assert "solve_lower" in res.message


def test_default_solver_cap_gives_inner_failed():
    p = make_ridge()
    p.lower_maxiter = 2
    with pytest.warns(ConvergenceWarning, match=r"raise problem.lower_maxiter \(now 2\)"):
        res = maid(p, np.zeros(1), eps0=1e-8)
    assert res.status is Status.INNER_SOLVER


@pytest.mark.parametrize("per_feature", [False, True])
def test_budget_is_never_exceeded(per_feature):
    """The counted work stays within `budget` for every small budget (was 1-2 over: the FISTA call with no budget
    left, and the CG warm start's and true residual's products were not reserved)."""
    p = make_ridge(per_feature=per_feature)
    for budget in range(5, 60):
        with pytest.warns(ConvergenceWarning, match="the work budget `budget` was spent"):
            res = maid(p, np.zeros(p.p if per_feature else 1), budget=budget)
        assert res.status is Status.BUDGET and res.n_lower + res.n_linear <= budget, budget


def test_budget_and_maxiter_and_callback():
    p = make_ridge(per_feature=True)
    with pytest.warns(ConvergenceWarning, match="the work budget `budget` was spent"):
        res = maid(p, np.zeros(p.p), budget=50)
    assert res.status is Status.BUDGET and res.n_lower + res.n_linear <= 50
    with pytest.warns(ConvergenceWarning, match="raise `maxiter`"):
        res = maid(p, np.zeros(p.p), maxiter=2)
    assert res.status is Status.MAXITER and res.nit == 2

    def stop(r):
        raise StopIteration

    res = maid(p, np.zeros(p.p), callback=stop)
    assert res.status is Status.CALLBACK and res.nit == 1
    assert np.isfinite(res.fun)


def test_verbose_prints_a_table():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        maid(shrinkage(), np.zeros(1), verbose=True)
    assert "omega" in buf.getvalue().splitlines()[0]


def test_rounding_floor_is_success():
    # tol far below what double precision can certify for this scaling
    p = make_ridge(seed=0)
    res = maid(p, np.zeros(1), tol=1e-300)
    assert res.status is Status.ROUNDING_FLOOR and res.success
    assert "rounding level" in res.message


def test_problem_constructors_validate():
    with pytest.raises(ValueError, match="ridge_problem: `y_train` must have length 5"):
        ridge_problem(np.ones((5, 2)), np.ones(4), np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="ridge_problem: `X_val` must have 2 columns"):
        ridge_problem(np.ones((5, 2)), np.ones(5), np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="quadratic_problem: `A2` must have full column rank"):
        quadratic_problem(np.ones((3, 2)), np.ones(3), np.ones((4, 2)), np.ones((4, 1)), np.ones(4))
    with pytest.raises(ValueError, match="tikhonov_fourier_problem: `clean` must have the shape of `noisy`"):
        tikhonov_fourier_problem(np.ones((2, 8)), np.ones((2, 7)))
    with pytest.raises(TypeError, match="`per_feature` must be True or False"):
        ridge_problem(np.ones((5, 2)), np.ones(5), np.ones((3, 2)), np.ones(3), per_feature=1)


def test_base_class_oracles_must_be_implemented():
    class Empty(BilevelProblem):
        upper_L = 1.0

    with pytest.raises(NotImplementedError, match="lower_mu must be implemented"):
        maid(Empty(), np.zeros(1), x0=np.zeros(2))
