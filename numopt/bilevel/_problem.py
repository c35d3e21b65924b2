"""The bilevel problem a user subclasses, and the default lower-level solver (FISTA, strongly convex momentum)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["BilevelProblem", "fista", "LowerSolve"]


class LowerSolve(NamedTuple):
    """What the default lower-level solver returns: the point, its gradient norm and the iterations spent."""

    x: np.ndarray
    grad: np.ndarray
    grad_norm: float
    nit: int
    reached: bool


def fista(grad, x0, mu: float, L: float, tol: float, maxiter: int) -> LowerSolve:
    r"""FISTA with the constant strongly convex momentum :math:`\beta = (\sqrt{L}-\sqrt{\mu})/(\sqrt{L}+\sqrt{\mu})`.

    Minimizes a μ-strongly convex, L-smooth function given its gradient, until
    :math:`\|\nabla h(y)\|_2 \le \mathrm{tol}` at the extrapolated point ``y`` -- which is then the point
    returned, so the returned gradient norm is the one that was tested (no extra gradient evaluation).
    One iteration is one gradient evaluation. A non-finite gradient stops at once (``reached=False``,
    ``grad_norm`` NaN).

    >>> import numpy as np
    >>> d = np.array([1.0, 10.0])
    >>> out = fista(lambda x: d * x - 1.0, np.zeros(2), 1.0, 10.0, 1e-10, 1000)
    >>> out.reached, np.round(out.x, 8)
    (True, array([1. , 0.1]))
    """
    beta = (math.sqrt(L) - math.sqrt(mu)) / (math.sqrt(L) + math.sqrt(mu))
    x_prev = np.array(x0, dtype=np.float64)
    y = x_prev.copy()
    nit = 0
    while True:
        g = grad(y)
        nit += 1
        gnorm = float(np.linalg.norm(g))
        if not math.isfinite(gnorm):
            return LowerSolve(y, g, math.nan, nit, False)
        if gnorm <= tol:
            return LowerSolve(y, g, gnorm, nit, True)
        if nit >= maxiter:
            return LowerSolve(y, g, gnorm, nit, False)
        x_new = y - g / L
        y = x_new + beta * (x_new - x_prev)
        x_prev = x_new


class BilevelProblem:
    r"""A bilevel problem :math:`\min_\theta f(\theta) = g(\hat x(\theta))`, :math:`\hat x = \arg\min_x h(x, \theta)`.

    Subclass it and implement the oracles below; ``x`` and ``theta`` are float64 arrays of any fixed
    shapes (vectors, images, weight matrices); every returned array must have the shape stated.
    :math:`h(\cdot, \theta)` must be μ-strongly convex and L-smooth in ``x`` and twice differentiable in
    (x, θ); g must be :math:`L_g`-smooth.

    .. rubric:: Oracles (required)

    ``lower_fun(x, theta)`` -> float, :math:`h(x, \theta)`.
    ``lower_grad(x, theta)`` -> shape of x, :math:`\nabla_x h`.
    ``lower_hessp(x, theta, v)`` -> shape of x, :math:`\nabla^2_{xx} h \, v`.
    ``lower_cross(x, theta, v)`` -> shape of theta, :math:`(\partial^2 h / \partial\theta\,\partial x)\, v
    = J^\top v` with :math:`J = \nabla^2_{x\theta} h`.
    ``upper_fun(x)`` -> float, :math:`g(x)`; ``upper_grad(x)`` -> shape of x.
    ``lower_mu(theta)`` -> a strong-convexity bound μ > 0; ``lower_L(theta)`` -> a smoothness bound L.
    ``upper_L`` (attribute) -> :math:`L_g`, a Lipschitz constant of :math:`\nabla g`.

    .. rubric:: Optional oracles

    ``solve_lower(theta, x0, tol)`` -> ``(x, nit)`` with :math:`\|\nabla_x h(x, \theta)\|_2 \le` ``tol``
    (default: :func:`fista` with the strongly convex momentum, at most ``lower_maxiter`` iterations).
    :func:`maid` re-checks the gradient norm of what a custom solver returns (one more gradient).
    ``lower_x0(theta)`` -> the default starting point when ``maid`` gets no ``x0``.
    ``lower_cross_norm(x, theta)`` -> an upper bound on :math:`\|J(x, \theta)\|_2`; None (the default)
    means it is estimated by power iteration with finite differences of ``lower_grad`` in θ.
    ``lower_hess_lipschitz``, ``lower_cross_lipschitz`` -> the Lipschitz constants in x of
    :math:`\nabla^2_{xx} h` and of J (numbers, or callables of theta); None (the default) means they are
    estimated from random perturbations, keeping a running maximum. Whenever one of these three is
    estimated, the error bound ω is reported as not certified (``BilevelResult.certified = False``).
    ``upper_convex`` -> True when g is convex (Remark 3.6 then drops one :math:`L_g\varepsilon^2/2` term
    from the sufficient-decrease test).

    Examples
    --------
    The shrinkage denoiser :math:`h = \tfrac12\|x-y\|^2 + \tfrac{e^\theta}2\|x\|^2`,
    :math:`g = \tfrac12\|x - x_{true}\|^2`, whose optimum is :math:`\lambda^* = \|y\|^2/\langle y, x_{true}\rangle - 1`:

    >>> import numpy as np
    >>> from numopt.bilevel import BilevelProblem, maid
    >>> class Shrink(BilevelProblem):
    ...     upper_L = 1.0
    ...     def __init__(self, y, clean): self.y, self.clean = y, clean
    ...     def lower_fun(self, x, t): return 0.5 * (x - self.y) @ (x - self.y) + 0.5 * np.exp(t[0]) * x @ x
    ...     def lower_grad(self, x, t): return x - self.y + np.exp(t[0]) * x
    ...     def lower_hessp(self, x, t, v): return (1.0 + np.exp(t[0])) * v
    ...     def lower_cross(self, x, t, v): return np.array([np.exp(t[0]) * x @ v])
    ...     def upper_fun(self, x): return 0.5 * (x - self.clean) @ (x - self.clean)
    ...     def upper_grad(self, x): return x - self.clean
    ...     def lower_mu(self, t): return 1.0 + np.exp(t[0])
    ...     def lower_L(self, t): return 1.0 + np.exp(t[0])
    ...     def lower_x0(self, t): return np.zeros_like(self.y)
    >>> rng = np.random.default_rng(0)
    >>> clean = rng.standard_normal(50); y = clean + 0.5 * rng.standard_normal(50)
    >>> res = maid(Shrink(y, clean), np.array([0.0]), tol=1e-8)
    >>> lam = np.exp(res.theta[0]); lam_star = y @ y / (y @ clean) - 1
    >>> res.success, bool(abs(lam - lam_star) < 1e-6 * lam_star)
    (True, True)
    """

    #: :math:`L_g`, a Lipschitz constant of the upper gradient (set it in the subclass).
    upper_L: float | None = None
    #: Whether g is convex (Remark 3.6: a tighter sufficient-decrease test).
    upper_convex: bool = False
    #: Lipschitz constant in x of the lower Hessian (number, callable of theta, or None = estimated).
    lower_hess_lipschitz = None
    #: Lipschitz constant in x of J = ∂²h/∂x∂θ (number, callable of theta, or None = estimated).
    lower_cross_lipschitz = None
    #: Iteration cap of one default lower-level solve.
    lower_maxiter: int = 100_000
    #: Iteration cap of one adjoint CG solve (None: 10 times the size of x).
    cg_maxiter: int | None = None

    # -- required oracles ---------------------------------------------------------------------------
    def lower_fun(self, x, theta):
        raise NotImplementedError("BilevelProblem.lower_fun must be implemented by the subclass.")

    def lower_grad(self, x, theta):
        raise NotImplementedError("BilevelProblem.lower_grad must be implemented by the subclass.")

    def lower_hessp(self, x, theta, v):
        raise NotImplementedError("BilevelProblem.lower_hessp must be implemented by the subclass.")

    def lower_cross(self, x, theta, v):
        raise NotImplementedError("BilevelProblem.lower_cross must be implemented by the subclass.")

    def upper_fun(self, x):
        raise NotImplementedError("BilevelProblem.upper_fun must be implemented by the subclass.")

    def upper_grad(self, x):
        raise NotImplementedError("BilevelProblem.upper_grad must be implemented by the subclass.")

    def lower_mu(self, theta):
        raise NotImplementedError("BilevelProblem.lower_mu must be implemented by the subclass.")

    def lower_L(self, theta):
        raise NotImplementedError("BilevelProblem.lower_L must be implemented by the subclass.")

    # -- optional -----------------------------------------------------------------------------------
    def lower_cross_norm(self, x, theta):
        """An upper bound on the spectral norm of J(x, theta); None means "estimate it"."""
        return None

    def solve_lower(self, theta, x0, tol):
        """Return ``(x, nit)`` with ``|lower_grad(x, theta)| <= tol`` (default: :func:`fista`)."""
        out = self._fista(theta, x0, tol, self.lower_maxiter)
        return out.x, out.nit

    def _fista(self, theta, x0, tol, maxiter) -> LowerSolve:
        return fista(lambda x: self.lower_grad(x, theta), x0, float(self.lower_mu(theta)), float(self.lower_L(theta)),
                     tol, maxiter)
