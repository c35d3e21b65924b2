"""A flattened, counted and checked view of a :class:`BilevelProblem`, and the a-posteriori bound of Thm 2.1.

Everything the outer loop of :func:`numopt.bilevel.maid` needs from a problem goes through :class:`Oracle`:
it reshapes between the user's shapes and flat vectors, counts lower-level and CG iterations against the
budget, checks shapes once and finiteness always, and supplies the constants of the error bound
(exact when the problem gives them, estimated -- and then flagged as not certified -- when it does not).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._result import Status
from .._validation import fail
from ..linalg._cg import cg_core
from ._problem import BilevelProblem, fista

__all__ = ["Oracle", "Stop", "error_bound", "EPS_FLOOR_FACTOR"]

FUNC = "maid"
_U = float(np.finfo(np.float64).eps)
#: The lower solver's rounding level: ε is never asked below ``EPS_FLOOR_FACTOR · u · L ‖x‖ / μ`` (u the unit
#: roundoff), since the computed gradient ∇ₓh = Hx - b carries an error of about u L ‖x‖ (times a modest
#: dimension factor) and the certificate ‖x̃ - x̂‖ ≤ ‖∇ₓh‖/μ cannot certify below it. The adjoint accuracy δ is
#: floored at ``EPS_FLOOR_FACTOR · u · (L ‖q‖ + ‖∇g‖)`` for the same reason.
EPS_FLOOR_FACTOR = 100.0
#: Power iterations (with central differences of ``lower_grad`` in θ) when ‖J‖ must be estimated.
_POWER_STEPS = 6


class Stop(Exception):
    """Raised inside the outer loop to end the run with ``status`` and ``detail``."""

    def __init__(self, status: Status, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Lower(NamedTuple):
    """A lower-level iterate at some θ: x (flat) and μ·(its certified distance to x̂), i.e. ‖∇ₓh(x, θ)‖."""

    x: np.ndarray
    grad: np.ndarray
    grad_norm: float


class Upper(NamedTuple):
    """g(x), ∇g(x) (flat) and ‖∇g(x)‖."""

    value: float
    grad: np.ndarray
    grad_norm: float


def _constant(value, theta, name):
    if value is None:
        return None
    v = value(theta) if callable(value) else value
    v = float(v)
    if not (math.isfinite(v) and v >= 0.0):
        raise fail(FUNC, f"problem.{name}", "be a nonnegative finite number (or None to estimate it)", repr(v))
    return v


def error_bound(eps: float, delta: float, *, mu: float, J_norm: float, L_g: float, L_H: float, L_J: float,
                g_grad_norm: float) -> float:
    r"""The a-posteriori bound ω of Thm 2.1 on :math:`\|z - \nabla f(\theta)\|`.

    With :math:`\|\tilde x - \hat x\| \le \varepsilon`, :math:`\|H(\tilde x) q - \nabla g(\tilde x)\| \le \delta`,
    :math:`L_{H^{-1}} = L_H/\mu^2` and :math:`\|\nabla g(\hat x)\| \le \|\nabla g(\tilde x)\| + L_g \varepsilon`:

    .. math::
        \omega = \varepsilon\Big(\frac{L_g\|J\|}{\mu} + L_{H^{-1}}\|J\|\|\nabla g\| + \frac{L_J\|\nabla g\|}{\mu}\Big)
        + \varepsilon^2 L_g\Big(L_{H^{-1}}\|J\| + \frac{L_J}{\mu}\Big) + \frac{\|J\|}{\mu}\delta .

    The :math:`\varepsilon^2 L_g L_{H^{-1}}\|J\|` term comes from bounding :math:`\|\nabla g(\hat x)\|` by
    :math:`\|\nabla g(\tilde x)\|`; it vanishes for quadratic lower levels (:math:`L_H = 0`).

    >>> error_bound(1e-3, 1e-3, mu=1.0, J_norm=2.0, L_g=1.0, L_H=0.0, L_J=0.0, g_grad_norm=5.0)
    0.004
    """
    L_Hinv = L_H / mu**2
    first = L_g * J_norm / mu + L_Hinv * J_norm * g_grad_norm + L_J * g_grad_norm / mu
    second = L_g * (L_Hinv * J_norm + L_J / mu)
    return eps * first + eps * eps * second + J_norm * delta / mu


class Oracle:
    """The problem seen by the outer loop: flat vectors, counters, budget, checks, constants."""

    def __init__(self, problem: BilevelProblem, theta_shape, x_shape, budget: float):
        self.problem = problem
        self.theta_shape = tuple(theta_shape)
        self.x_shape = tuple(x_shape)
        self.n = int(np.prod(self.x_shape, dtype=np.int64))
        self.budget = budget
        self.n_lower = 0
        self.n_linear = 0
        self.upper_convex = bool(getattr(problem, "upper_convex", False))
        self.custom_solver = type(problem).solve_lower is not BilevelProblem.solve_lower
        self.estimated: set[str] = set()
        self._L_H_est = 0.0
        self._L_J_est = 0.0
        self._power_u = None
        self._rng = np.random.default_rng(0)
        maxit = getattr(problem, "cg_maxiter", None)
        self.cg_maxiter = 10 * max(self.n, 1) if maxit is None else int(maxit)
        self.lower_maxiter = int(getattr(problem, "lower_maxiter", 100_000))

    # -- shapes and checks ----------------------------------------------------------------------------
    def _x(self, v):
        return v.reshape(self.x_shape)

    def _t(self, v):
        return v.reshape(self.theta_shape)

    def _vector(self, out, shape, name, theta=None):
        arr = np.asarray(out, dtype=np.float64)
        if arr.shape != shape:
            raise fail(FUNC, f"problem.{name}", f"return an array of shape {shape}", f"shape {arr.shape}")
        flat = arr.reshape(-1)
        if not np.isfinite(flat).all():
            where = f" at theta = {_brief(theta)}" if theta is not None else ""
            raise Stop(Status.NONFINITE, f"The oracle problem.{name} returned a NaN or inf entry{where}; check it and "
                                         "the range of theta (the log of the weights in the ready-made problems).")
        return flat

    def _scalar(self, out, name, theta=None):
        try:
            v = float(out)
        except (TypeError, ValueError) as exc:
            raise fail(FUNC, f"problem.{name}", "return a real number", repr(out)[:60]) from exc
        if not math.isfinite(v):
            where = f" at theta = {_brief(theta)}" if theta is not None else ""
            raise Stop(Status.NONFINITE, f"The oracle problem.{name} returned {v}{where}; check it and the range "
                                         "of theta.")
        return v

    def remaining(self) -> float:
        return self.budget - self.n_lower - self.n_linear

    def _budget_check(self):
        if self.remaining() < 0:
            raise Stop(Status.BUDGET, f"{self.n_lower} lower-level + {self.n_linear} CG iterations used of "
                                      f"{self.budget:.0f}; raise `budget` or loosen `tol`.")

    # -- constants ------------------------------------------------------------------------------------
    def mu(self, theta) -> float:
        v = self.problem.lower_mu(self._t(theta))
        v = float(v)
        if not (math.isfinite(v) and v > 0.0):
            raise fail(FUNC, "problem.lower_mu", "return a positive finite strong-convexity bound",
                       f"{v!r} at theta = {_brief(theta)}")
        return v

    def L(self, theta, mu) -> float:
        v = float(self.problem.lower_L(self._t(theta)))
        if not (math.isfinite(v) and v >= mu):
            raise fail(FUNC, "problem.lower_L", f"return a finite smoothness bound >= lower_mu = {mu:.6g}",
                       f"{v!r} at theta = {_brief(theta)}")
        return v

    def L_g(self) -> float:
        v = getattr(self.problem, "upper_L", None)
        if v is None:
            raise fail(FUNC, "problem.upper_L", "be set to a Lipschitz constant of upper_grad", "None")
        v = float(v)
        if not (math.isfinite(v) and v >= 0.0):
            raise fail(FUNC, "problem.upper_L", "be a nonnegative finite number", repr(v))
        return v

    def eps_floor(self, theta, x) -> float:
        mu = self.mu(theta)
        return EPS_FLOOR_FACTOR * _U * self.L(theta, mu) * float(np.linalg.norm(x)) / mu

    # -- the lower level ------------------------------------------------------------------------------
    def grad_lower(self, x, theta):
        return self._vector(self.problem.lower_grad(self._x(x), self._t(theta)), self.x_shape, "lower_grad", theta)

    def solve(self, theta, x0, eps: float) -> Lower:
        """Lower level at θ to ‖∇ₓh‖ ≤ μ·ε from the warm start x0 (Alg. 3.2, step 1)."""
        mu = self.mu(theta)
        L = self.L(theta, mu)
        tol = mu * eps
        if self.custom_solver:
            out = self.problem.solve_lower(self._t(theta), self._x(x0).copy(), tol)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise fail(FUNC, "problem.solve_lower", "return a tuple (x, nit)", repr(type(out).__name__))
            x = self._vector(out[0], self.x_shape, "solve_lower", theta)
            nit = int(out[1])
            r = self.grad_lower(x, theta)
            gnorm = float(np.linalg.norm(r))
            self.n_lower += nit + 1
            self._budget_check()
            reached = gnorm <= tol
        else:
            theta_s = self._t(theta)
            grad = lambda v: self.problem.lower_grad(v, theta_s)  # noqa: E731
            if self.remaining() < 1:
                self._budget_check_strict()
            maxiter = int(max(1, min(self.lower_maxiter, self.remaining())))
            res = fista(grad, self._x(x0), mu, L, tol, maxiter)
            self.n_lower += res.nit
            x = np.asarray(res.x, dtype=np.float64).reshape(-1)
            if res.x.shape != self.x_shape:
                raise fail(FUNC, "problem.lower_grad", f"return an array of shape {self.x_shape}",
                           f"shape {res.x.shape}")
            gnorm = res.grad_norm
            r = np.asarray(res.grad, dtype=np.float64).reshape(-1)
            if not math.isfinite(gnorm) or not np.isfinite(x).all():
                raise Stop(Status.NONFINITE, f"The lower-level gradient became NaN or inf at theta = {_brief(theta)}; "
                                             "check problem.lower_grad and the lower_L bound (FISTA steps 1/L).")
            reached = res.reached
            if not reached and self.remaining() <= 0:
                self._budget_check_strict()
        if not reached:
            raise Stop(Status.INNER_SOLVER,
                       f"The lower-level solver stopped at |grad_x h| = {gnorm:.3g} > mu*eps = {tol:.3g} "
                       f"(eps = {eps:.3g}, mu = {mu:.3g}) at theta = {_brief(theta)}; raise problem.lower_maxiter "
                       f"(now {self.lower_maxiter}), check that lower_mu/lower_L bound h's curvature, or supply "
                       "a faster solve_lower.")
        return Lower(x, r, gnorm)

    def _budget_check_strict(self):
        raise Stop(Status.BUDGET, f"{self.n_lower} lower-level + {self.n_linear} CG iterations used of "
                                  f"{self.budget:.0f}; raise `budget` or loosen `tol`.")

    # -- the upper level ------------------------------------------------------------------------------
    def upper(self, x) -> Upper:
        value = self._scalar(self.problem.upper_fun(self._x(x)), "upper_fun")
        grad = self._vector(self.problem.upper_grad(self._x(x)), self.x_shape, "upper_grad")
        return Upper(value, grad, float(np.linalg.norm(grad)))

    # -- the adjoint and the hypergradient ------------------------------------------------------------
    def hessp(self, x, theta, v):
        return self._vector(self.problem.lower_hessp(self._x(x), self._t(theta), self._x(v)), self.x_shape,
                            "lower_hessp", theta)

    def adjoint(self, x, theta, rhs, delta: float, q0):
        """CG on H(x̃, θ) q = ∇g(x̃) to the absolute residual δ (Alg. 3.2, step 2); returns (q, true residual)."""
        matvec = lambda v: self.hessp(x, theta, v)  # noqa: E731
        # the warm start's residual and the final true residual are two more products: keep them in the budget
        extra = 1 + (1 if q0 is not None else 0)
        if self.remaining() < extra + 1:
            self._budget_check_strict()
        maxiter = int(max(1, min(self.cg_maxiter, self.remaining() - extra)))
        res = cg_core(matvec, rhs, x0=q0, rtol=0.0, atol=delta, maxiter=maxiter)
        self.n_linear += res.nit + (1 if q0 is not None else 0)
        if res.status is Status.ZERO_RHS:
            return res.x, 0.0
        q = res.x
        residual = float(np.linalg.norm(matvec(q) - rhs))  # the certificate uses the true residual
        self.n_linear += 1
        if res.status in (Status.NONFINITE, Status.NOT_POSITIVE_DEFINITE) or not math.isfinite(residual):
            if res.status is Status.NOT_POSITIVE_DEFINITE:
                raise Stop(Status.INNER_SOLVER, "The adjoint CG met a direction p with p'Hp <= 0 at theta = "
                                                f"{_brief(theta)}: problem.lower_hessp is not positive definite, "
                                                "so h is not strongly convex in x there.")
            raise Stop(Status.NONFINITE, f"problem.lower_hessp produced NaN or inf at theta = {_brief(theta)}.")
        if res.status is Status.MAXITER and residual > delta:
            if self.remaining() <= 0:
                self._budget_check_strict()
            raise Stop(Status.INNER_SOLVER, f"The adjoint CG stopped at residual {residual:.3g} > delta = {delta:.3g} "
                                            f"after {res.nit} iterations; raise problem.cg_maxiter (now "
                                            f"{self.cg_maxiter}).")
        self._budget_check()
        return q, residual

    def cross(self, x, theta, v):
        return self._vector(self.problem.lower_cross(self._x(x), self._t(theta), self._x(v)), self.theta_shape,
                            "lower_cross", theta)

    # -- constants of Thm 2.1 -------------------------------------------------------------------------
    def constants(self, x, theta, eps: float):
        """(‖J‖, L_H, L_J) at (x̃, θ): the problem's values, or estimates (recorded in ``estimated``)."""
        p = self.problem
        theta_s = self._t(theta)
        J_norm = p.lower_cross_norm(self._x(x), theta_s)
        if J_norm is None:
            self.estimated.add("lower_cross_norm")
            J_norm = self._estimate_J_norm(x, theta)
        else:
            J_norm = float(J_norm)
            if not (math.isfinite(J_norm) and J_norm >= 0):
                raise fail(FUNC, "problem.lower_cross_norm", "return a nonnegative finite bound or None", repr(J_norm))
        L_H = self.L_H(x, theta, eps)
        L_J = _constant(p.lower_cross_lipschitz, theta_s, "lower_cross_lipschitz")
        if L_J is None:
            self.estimated.add("lower_cross_lipschitz")
            L_J = self._estimate_L_J(x, theta, eps)
        return J_norm, L_H, L_J

    def L_H(self, x, theta, eps) -> float:
        """The Lipschitz constant in x of the lower Hessian (given, or a running-max estimate)."""
        L_H = _constant(self.problem.lower_hess_lipschitz, self._t(theta), "lower_hess_lipschitz")
        if L_H is None:
            self.estimated.add("lower_hess_lipschitz")
            L_H = self._estimate_L_H(x, theta, eps)
        return L_H

    def residual(self, x, theta, q, rhs) -> float:
        """‖H(x, θ) q - rhs‖ (one Hessian-vector product, counted as a CG iteration)."""
        if self.remaining() < 1:
            self._budget_check_strict()
        self.n_linear += 1
        return float(np.linalg.norm(self.hessp(x, theta, q) - rhs))

    def _jvp(self, x, theta, u):
        """J u by central differences of lower_grad in θ (only for estimating ‖J‖)."""
        t = 1e-6 * max(1.0, float(np.linalg.norm(theta)))
        return (self.grad_lower(x, theta + t * u) - self.grad_lower(x, theta - t * u)) / (2 * t)

    def _estimate_J_norm(self, x, theta) -> float:
        d = theta.size
        u = self._power_u if self._power_u is not None else self._rng.standard_normal(d)
        u = u / np.linalg.norm(u)
        est = 0.0
        for _ in range(_POWER_STEPS):
            w = self._jvp(x, theta, u)
            est = max(est, float(np.linalg.norm(w)))
            u = self.cross(x, theta, w)
            nu = float(np.linalg.norm(u))
            if nu == 0.0:
                break
            u = u / nu
        self._power_u = u
        return 1.1 * est

    def _perturbation(self, x, eps):
        p = self._rng.standard_normal(x.size)
        size = max(eps, 1e-4 * float(np.linalg.norm(x)), 1e-8)
        return p * (size / np.linalg.norm(p)), size

    def _estimate_L_H(self, x, theta, eps) -> float:
        p, size = self._perturbation(x, eps)
        v = self._rng.standard_normal(x.size)
        v /= np.linalg.norm(v)
        diff = self.hessp(x + p, theta, v) - self.hessp(x, theta, v)
        self._L_H_est = max(self._L_H_est, float(np.linalg.norm(diff)) / size)
        return self._L_H_est

    def _estimate_L_J(self, x, theta, eps) -> float:
        p, size = self._perturbation(x, eps)
        v = self._rng.standard_normal(x.size)
        v /= np.linalg.norm(v)
        diff = self.cross(x + p, theta, v) - self.cross(x, theta, v)
        self._L_J_est = max(self._L_J_est, float(np.linalg.norm(diff)) / size)
        return self._L_J_est


def _brief(theta) -> str:
    if theta is None:
        return "?"
    t = np.asarray(theta).reshape(-1)
    if t.size <= 4:
        return np.array2string(t, precision=4, separator=", ")
    return f"[{t.size} values in [{t.min():.3g}, {t.max():.3g}]]"
