r"""Implicit differentiation and bilevel learning for lower-level problems written in torch.

* :func:`implicit_argmin` -- :math:`\hat x(\theta) = \arg\min_x h(x, \theta)` as a tensor whose backward is
  the implicit-function gradient (jaxopt / torchopt ``custom_root`` semantics): for an incoming gradient
  :math:`v`, solve :math:`\nabla^2_{xx} h\, u = v` by conjugate gradients (:func:`numopt.linalg.cg`'s core)
  on autograd Hessian-vector products, then return :math:`-(\partial^2 h/\partial\theta\,\partial x)\, u`.
  The forward solve is a Newton-CG method (the same CG, Armijo backtracking) to
  :math:`\|\nabla_x h\|_2 \le` ``tol``.
* :class:`TorchBilevelProblem` -- a :class:`numopt.bilevel.BilevelProblem` whose oracles (gradients,
  Hessian-vector and mixed products) come from two torch functions by autograd (double backward), so that
  :func:`numopt.bilevel.maid` learns the hyperparameters of a torch-defined model with its error bound.

Both evaluate the user's functions on float64 CPU tensors (numopt's convention); tensors the functions close
over (data) should be float64 CPU tensors too, and receive no gradient.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict

import numpy as np
import torch

from .._result import Result, Status, finish
from ..bilevel import BilevelProblem
from ..linalg._cg import cg_core
from ._ot import _back
from ._ot import _first_order_only

__all__ = ["implicit_argmin", "ImplicitArgminResult", "TorchBilevelProblem"]

_F64 = torch.float64


# ----------------------------------------------------------------------------------------------------------------
# autograd oracles on flat float64 NumPy vectors
# ----------------------------------------------------------------------------------------------------------------


def _scalar(out, name: str, func: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"{func}: `{name}` must return a 1-element tensor (a scalar loss); got {got}.")
    return out.reshape(())


def _tensor(v: np.ndarray, shape) -> torch.Tensor:
    return torch.tensor(np.asarray(v, dtype=np.float64).reshape(shape), dtype=_F64)


def _flat(t, like: torch.Tensor) -> np.ndarray:
    if t is None:
        return np.zeros(like.numel())
    return t.detach().reshape(-1).numpy().astype(np.float64, copy=False)


class _Lower:
    """h(x, θ) of a torch function, seen on flat float64 vectors: value, gradient, H v and Jᵀ v."""

    def __init__(self, fun, x_shape, name: str, func: str):
        self.fun, self.x_shape, self.name, self.func = fun, tuple(x_shape), name, func

    def value(self, x, theta) -> float:
        with torch.no_grad():
            return float(_scalar(self.fun(_tensor(x, self.x_shape), theta), self.name, self.func))

    def value_grad(self, x, theta):
        with torch.enable_grad():
            xt = _tensor(x, self.x_shape).requires_grad_()
            f = _scalar(self.fun(xt, theta), self.name, self.func)
            (g,) = torch.autograd.grad(f, xt, allow_unused=True)
        return float(f.detach()), _flat(g, xt)

    def _grad_graph(self, x, theta):
        xt = _tensor(x, self.x_shape).requires_grad_()
        f = _scalar(self.fun(xt, theta), self.name, self.func)
        (g,) = torch.autograd.grad(f, xt, create_graph=True, allow_unused=True)
        return xt, g

    def hessp(self, x, theta, v) -> np.ndarray:
        with torch.enable_grad():
            xt, g = self._grad_graph(x, theta)
            if g is None or not g.requires_grad:
                return np.zeros(xt.numel())
            (hv,) = torch.autograd.grad(g, xt, _tensor(v, self.x_shape), allow_unused=True)
        return _flat(hv, xt)

    def cross(self, x, theta_leaves, theta, v):
        """(∂²h/∂θ∂x) v for each leaf of θ (tensors with requires_grad), as tensors (zeros when unused)."""
        with torch.enable_grad():
            _, g = self._grad_graph(x, theta)
            if g is None or not g.requires_grad:
                return [torch.zeros_like(t) for t in theta_leaves]
            out = torch.autograd.grad(g, theta_leaves, _tensor(v, self.x_shape), allow_unused=True)
        return [torch.zeros_like(t) if o is None else o for t, o in zip(theta_leaves, out)]


# ----------------------------------------------------------------------------------------------------------------
# implicit_argmin
# ----------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True, repr=False)
class ImplicitArgminResult(Result):
    """What :func:`implicit_argmin` saw, attached to its output as ``x_hat.info``.

    Attributes
    ----------
    x : ndarray
        The minimizer (float64, the shape of ``x0``).
    grad_norm : float
        :math:`\\|\\nabla_x h(\\hat x, \\theta)\\|_2` at the returned point (``tol`` is on this).
    nit : int
        Newton steps of the forward solve.
    n_hessp : int
        Hessian-vector products of the forward solve.
    cg_residual : float
        After a backward pass: the true relative residual :math:`\\|Hu - v\\|/\\|v\\|` of its CG solve (NaN before).
    cg_nit : int
        After a backward pass: the CG iterations it took.
    """

    grad_norm: float = math.nan
    n_hessp: int = 0
    cg_residual: float = math.nan
    cg_nit: int = 0


def _newton_cg(low: _Lower, theta, x0: np.ndarray, tol: float, maxiter: int):
    """Newton-CG with Armijo backtracking to |grad| <= tol; returns (x, |grad|, nit, n_hessp, status, detail)."""
    x = x0.copy()
    f, g = low.value_grad(x, theta)
    nit = n_hessp = 0
    n = x.size
    while True:
        gnorm = float(np.linalg.norm(g))
        if not (math.isfinite(f) and math.isfinite(gnorm)):
            return x, gnorm, nit, n_hessp, Status.NONFINITE, (
                f"`lower` or its gradient is NaN or inf after {nit} Newton steps; check `lower` and `x0`.")
        if gnorm <= tol:
            return x, gnorm, nit, n_hessp, Status.SUCCESS, f"|grad_x lower| = {gnorm:.3g} after {nit} Newton steps."
        if nit >= maxiter:
            return x, gnorm, nit, n_hessp, Status.MAXITER, (
                f"|grad_x lower| = {gnorm:.3g} > tol = {tol:.3g} after {nit} Newton steps; raise `maxiter` or "
                "check that `lower` is strongly convex in x.")
        # inexact Newton direction: relative CG accuracy min(0.1, |g|) gives a quadratic local rate
        sol = cg_core(lambda v: low.hessp(x, theta, v), -g, rtol=min(0.1, gnorm), maxiter=10 * n + 20)
        n_hessp += sol.nit
        d = sol.x
        slope = float(g @ d)
        if sol.status in (Status.NONFINITE, Status.NOT_POSITIVE_DEFINITE) or not slope < 0.0:
            d, slope = -g, -gnorm * gnorm      # not a descent direction: steepest descent this step
        t = 1.0
        for _ in range(60):
            f_new, g_new = low.value_grad(x + t * d, theta)
            # Armijo, or (at the rounding level of f, where Armijo is noise) a smaller gradient
            if f_new <= f + 1e-4 * t * slope or (f_new <= f + 1e-12 * abs(f) and np.linalg.norm(g_new) < gnorm):
                break
            t *= 0.5
        else:
            return x, gnorm, nit, n_hessp, Status.ROUNDING_FLOOR if gnorm <= 1e3 * tol else Status.STAGNATION, (
                f"no step decreased `lower` at |grad_x lower| = {gnorm:.3g} (tol = {tol:.3g}): the rounding level "
                "of `lower` in double precision; loosen `tol` or rescale `lower`.")
        x = x + t * d
        f, g = f_new, g_new
        nit += 1


def _theta_leaves(theta):
    """θ as given (a tensor or a tuple/list of tensors) -> the list of tensors."""
    return list(theta) if isinstance(theta, (tuple, list)) else [theta]


class _Argmin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, low, x0, tol, maxiter, cg_rtol, info_box, *thetas):
        single = info_box["single"]
        th64 = [t.detach().to(device="cpu", dtype=_F64) for t in thetas]
        theta = th64[0] if single else type(info_box["kind"])(th64)
        x0n = x0.detach().to(device="cpu", dtype=_F64).reshape(-1).numpy().copy()
        x, gnorm, nit, n_hessp, status, detail = _newton_cg(low, theta, x0n, tol, maxiter)
        info = ImplicitArgminResult(x=x.reshape(low.x_shape), status=status, nit=nit, detail=detail,
                                    grad_norm=gnorm, n_hessp=n_hessp)
        info_box["info"] = info
        ctx.low, ctx.x, ctx.single, ctx.kind, ctx.cg_rtol, ctx.info = low, x, single, info_box["kind"], cg_rtol, info
        ctx.thetas = [(t.dtype, t.device) for t in thetas]
        ctx.th64 = th64
        return _back(x.reshape(low.x_shape), x0)

    @staticmethod
    def backward(ctx, grad_x):
        _first_order_only("implicit_argmin")
        need = ctx.needs_input_grad[6:]
        if not any(need):
            return (None,) * (6 + len(need))
        v = grad_x.detach().to(device="cpu", dtype=_F64).reshape(-1).numpy()
        info = ctx.info
        if not np.any(v):
            info.cg_residual, info.cg_nit = 0.0, 0
            grads = [torch.zeros(t.shape, dtype=dt, device=dev) for t, (dt, dev) in zip(ctx.th64, ctx.thetas)]
        else:
            low, x = ctx.low, ctx.x
            leaves = [t.clone().requires_grad_() for t in ctx.th64]
            theta = leaves[0] if ctx.single else type(ctx.kind)(leaves)
            hess = lambda p: low.hessp(x, theta, p)  # noqa: E731
            sol = cg_core(hess, v, rtol=ctx.cg_rtol, maxiter=10 * v.size + 20)
            residual = float(np.linalg.norm(hess(sol.x) - v) / np.linalg.norm(v))
            info.cg_residual, info.cg_nit = residual, sol.nit
            if not sol.success or residual > 10 * ctx.cg_rtol:
                status = sol.status if not sol.success else Status.STAGNATION
                finish(dataclasses.replace(sol, status=status, detail=(
                    f"the backward CG on the Hessian of `lower` stopped at relative residual {residual:.3g} "
                    f"(target {ctx.cg_rtol:.3g}) after {sol.nit} iterations; the gradient is inexact. Check that "
                    "`lower` is strongly convex in x at the solution.")), "implicit_argmin")
            cross = low.cross(x, leaves, theta, sol.x)
            grads = [(-c).to(dtype=dt, device=dev) for c, (dt, dev) in zip(cross, ctx.thetas)]
        return (None,) * 6 + tuple(g if n else None for g, n in zip(grads, need))


def implicit_argmin(lower, x0, theta, *, tol=1e-10, maxiter=100, cg_rtol=1e-12):
    r"""The minimizer :math:`\hat x(\theta) = \arg\min_x h(x, \theta)` as a tensor differentiable in θ.

    .. math::

        \frac{\partial L}{\partial\theta} = -\Big(\frac{\partial^2 h}{\partial\theta\,\partial x}\Big)
        \big(\nabla^2_{xx} h\big)^{-1}\frac{\partial L}{\partial \hat x}
        \qquad\text{(implicit function theorem at } \nabla_x h(\hat x, \theta) = 0).

    The forward solve is Newton-CG (autograd Hessian-vector products, :mod:`numopt.linalg`'s CG, Armijo
    backtracking) from ``x0`` to :math:`\|\nabla_x h\|_2 \le` ``tol``; the backward pass is one CG solve with
    the Hessian at :math:`\hat x` to the relative residual ``cg_rtol`` and one mixed product. Nothing is
    unrolled. ``h`` must be twice differentiable and strongly convex in x near :math:`\hat x`.

    Parameters
    ----------
    lower : callable
        ``lower(x, theta)`` -> a scalar tensor :math:`h(x, \theta)`, written in torch. It is called with
        float64 CPU tensors: ``x`` of ``x0``'s shape and ``theta`` as given (a tensor, or a tuple/list of
        tensors). Data it closes over receives no gradient.
    x0 : Tensor
        Starting point; fixes the shape, dtype and device of the result (no gradient flows to it).
    theta : Tensor or tuple of Tensors
        The parameters the result is differentiated in.
    tol : float
        Forward accuracy: :math:`\|\nabla_x h(\hat x, \theta)\|_2 \le` ``tol`` (absolute).
    maxiter : int
        Newton steps of the forward solve.
    cg_rtol : float
        Relative residual of the backward CG solve.

    Returns
    -------
    Tensor
        :math:`\hat x`, in ``x0``'s dtype and on its device. Its attribute ``info`` is an
        :class:`ImplicitArgminResult` (forward status, gradient norm, Newton steps; after a backward pass,
        the true relative residual ``cg_residual`` of the CG solve and ``cg_nit``).

    Warns
    -----
    numopt.ConvergenceWarning
        When the forward solve misses ``tol`` (``x_hat.info.success`` is False), or when a backward CG solve
        misses ``cg_rtol``.

    Examples
    --------
    Ridge regression, :math:`\hat w(\lambda) = (X^\top X + \lambda I)^{-1} X^\top y`:

    >>> import torch
    >>> from numopt.torch import implicit_argmin
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    >>> y = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    >>> lam = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    >>> def h(w, lam):
    ...     return 0.5 * ((X @ w - y) ** 2).sum() + 0.5 * lam * (w ** 2).sum()
    >>> w = implicit_argmin(h, torch.zeros(2, dtype=torch.float64), lam)
    >>> w.sum().backward()
    >>> exact = torch.linalg.solve(X.T @ X + 0.5 * torch.eye(2, dtype=torch.float64), X.T @ y)
    >>> bool(torch.allclose(w, exact, atol=1e-12)), w.info.success
    (True, True)
    >>> dw = -torch.linalg.solve(X.T @ X + 0.5 * torch.eye(2, dtype=torch.float64), exact)   # dw/dlam
    >>> bool(abs(lam.grad - dw.sum()) < 1e-10), w.info.cg_residual < 1e-11
    (True, True)
    """
    from .._validation import check_int, check_scalar
    from ._ot import _check_tensor

    func = "implicit_argmin"
    if not callable(lower):
        raise TypeError(f"{func}: `lower` must be callable as lower(x, theta); got {type(lower).__name__}.")
    x0 = _check_tensor(x0, "x0", func, tuple(range(0, 9)))
    leaves = _theta_leaves(theta)
    if not leaves:
        raise ValueError(f"{func}: `theta` must be a tensor or a non-empty tuple of tensors; "
                         f"got an empty {type(theta).__name__}.")
    for k, t in enumerate(leaves):
        _check_tensor(t, "theta" if len(leaves) == 1 and not isinstance(theta, (tuple, list)) else f"theta[{k}]",
                      func, tuple(range(0, 9)))
    tol = check_scalar(tol, "tol", func, low=0.0, low_inclusive=False)
    cg_rtol = check_scalar(cg_rtol, "cg_rtol", func, low=0.0, low_inclusive=False, high=1.0, high_inclusive=False)
    maxiter = check_int(maxiter, "maxiter", func, low=0)
    box = {"single": not isinstance(theta, (tuple, list)), "kind": theta if isinstance(theta, (tuple, list)) else None}
    low = _Lower(lower, x0.shape, "lower", func)
    out = _Argmin.apply(low, x0, tol, maxiter, cg_rtol, box, *leaves)
    out.info = box["info"]
    finish(out.info, func)
    return out


# ----------------------------------------------------------------------------------------------------------------
# TorchBilevelProblem
# ----------------------------------------------------------------------------------------------------------------


def _extreme_eigs(hessp, n: int):
    """(λ_min, λ_max) of the symmetric operator ``hessp`` (dense from n products when n <= 200, else Lanczos)."""
    if n <= 200:
        H = np.column_stack([hessp(e) for e in np.eye(n)])
        eig = np.linalg.eigvalsh(0.5 * (H + H.T))
        return float(eig[0]), float(eig[-1])
    from scipy.sparse.linalg import LinearOperator, eigsh

    op = LinearOperator((n, n), matvec=lambda v: hessp(np.asarray(v).reshape(-1)), dtype=np.float64)
    top = float(eigsh(op, k=1, which="LA", tol=1e-6, return_eigenvectors=False)[0])
    def shifted_product(v):
        v = np.asarray(v).reshape(-1)
        return top * v - hessp(v)

    shifted = LinearOperator((n, n), matvec=shifted_product, dtype=np.float64)
    gap = float(eigsh(shifted, k=1, which="LA", tol=1e-6, return_eigenvectors=False)[0])
    return top - gap, top


class TorchBilevelProblem(BilevelProblem):
    r"""A :class:`numopt.bilevel.BilevelProblem` built from two torch functions, for :func:`numopt.bilevel.maid`.

    .. math:: \min_\theta g(\hat x(\theta)), \qquad \hat x(\theta) = \arg\min_x h(x, \theta),

    with ``lower(x, theta)`` = h and ``upper(x)`` = g written in torch. Every oracle ``maid`` needs comes from
    autograd on float64 CPU tensors: :math:`\nabla_x h`, :math:`\nabla^2_{xx}h\,v` and
    :math:`(\partial^2 h/\partial\theta\,\partial x)\,v` by double backward, :math:`\nabla g` by backward. The
    lower level is solved by ``maid``'s default FISTA, the adjoint by its CG.

    The constants of MAID's error bound are taken from the arguments; each one left as None is estimated, and
    the run is then reported as not certified (``BilevelResult.certified = False``):

    * ``mu``, ``L`` (strong convexity and smoothness of h in x; numbers or callables of θ): estimated as
      0.9 λ_min and 1.1 λ_max of :math:`\nabla^2_{xx} h` at the latest lower iterate (a dense Hessian from
      HVPs up to 200 unknowns, Lanczos above), once per θ;
    * ``upper_L`` (Lipschitz constant of ∇g): 1.1 λ_max of g's Hessian at the first point asked;
    * ``lower_cross_norm`` (a bound on ‖∂²h/∂θ∂x‖; number or callable of (x, θ)), ``lower_hess_lipschitz``
      and ``lower_cross_lipschitz`` (numbers or callables of θ): estimated by ``maid`` itself.

    Parameters
    ----------
    lower : callable
        ``lower(x, theta)`` -> scalar tensor; ``x`` has shape ``x_shape``, ``theta`` the shape of ``maid``'s
        ``theta0``. μ-strongly convex and smooth in x, twice differentiable in (x, θ).
    upper : callable
        ``upper(x)`` -> scalar tensor.
    x_shape : tuple of int
        Shape of the lower-level variable.
    mu, L, upper_L, lower_cross_norm, lower_hess_lipschitz, lower_cross_lipschitz : optional
        The constants above (None: estimated, not certified).
    upper_convex : bool
        Whether g is convex (a tighter sufficient-decrease test in ``maid``).
    x0 : array_like, optional
        The default start of the lower level (``lower_x0``); zeros when omitted.

    Examples
    --------
    Ridge regression with a learned weight (θ = its log), constants estimated:

    >>> import numpy as np, torch
    >>> from numopt.bilevel import maid
    >>> from numopt.torch import TorchBilevelProblem
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.randn(40, 3, generator=g, dtype=torch.float64)
    >>> Xv = torch.randn(20, 3, generator=g, dtype=torch.float64)
    >>> w_true = torch.tensor([1.0, 0.0, -2.0], dtype=torch.float64)
    >>> noise = lambda n: 2.0 * torch.randn(n, generator=g, dtype=torch.float64)
    >>> y, yv = X @ w_true + noise(40), Xv @ w_true + noise(20)
    >>> prob = TorchBilevelProblem(lambda w, t: 0.5 * ((X @ w - y) ** 2).sum() + 0.5 * t.exp().sum() * (w * w).sum(),
    ...                            lambda w: 0.5 * ((Xv @ w - yv) ** 2).sum(), (3,), upper_convex=True)
    >>> res = maid(prob, np.zeros(1), tol=1e-6)
    >>> res.status.success, res.certified
    (True, False)
    """

    lower_hess_lipschitz = None
    lower_cross_lipschitz = None

    def __init__(self, lower, upper, x_shape, *, mu=None, L=None, upper_L=None, lower_cross_norm=None,
                 lower_hess_lipschitz=None, lower_cross_lipschitz=None, upper_convex=False, x0=None):
        from .._validation import as_float_array, check_bool, check_scalar

        func = "TorchBilevelProblem"
        for name, f in (("lower", lower), ("upper", upper)):
            if not callable(f):
                raise TypeError(f"{func}: `{name}` must be callable; got {type(f).__name__}.")
        try:
            shape = (int(x_shape),) if np.ndim(x_shape) == 0 else tuple(int(s) for s in x_shape)
        except (TypeError, ValueError):
            raise TypeError(f"{func}: `x_shape` must be a tuple of ints; got {x_shape!r}.") from None
        if any(s < 0 for s in shape) or int(np.prod(shape)) == 0:
            raise ValueError(f"{func}: `x_shape` must describe at least one entry; got {shape}.")
        self.x_shape = shape
        self.n = int(np.prod(shape))
        self._lower = _Lower(lower, shape, "lower", func)
        self._upper = upper
        for name, value in (("mu", mu), ("L", L)):
            if value is not None and not callable(value):
                check_scalar(value, name, func, low=0.0, low_inclusive=False)
        self._mu, self._L = mu, L
        self._upper_L = None if upper_L is None else check_scalar(upper_L, "upper_L", func, low=0.0)
        self._cross_norm = lower_cross_norm
        if lower_cross_norm is not None and not callable(lower_cross_norm):
            check_scalar(lower_cross_norm, "lower_cross_norm", func, low=0.0)
        self.lower_hess_lipschitz = lower_hess_lipschitz
        self.lower_cross_lipschitz = lower_cross_lipschitz
        self.upper_convex = check_bool(upper_convex, "upper_convex", func)
        self._x0 = np.zeros(shape) if x0 is None else as_float_array(x0, "x0", func).reshape(shape)
        self._x_ref = self._x0.reshape(-1).copy()
        self._eig_cache: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        #: True when some constant of the error bound is estimated (μ, L or L_g here; maid tracks the rest).
        self.estimated = mu is None or L is None or upper_L is None

    # -- conversions ----------------------------------------------------------------------------------------------
    def _theta(self, theta, grad=False):
        t = torch.tensor(np.asarray(theta, dtype=np.float64), dtype=_F64)
        return t.requires_grad_() if grad else t

    # -- lower level ----------------------------------------------------------------------------------------------
    def lower_fun(self, x, theta):
        return self._lower.value(x, self._theta(theta))

    def lower_grad(self, x, theta):
        self._x_ref = np.asarray(x, dtype=np.float64).reshape(-1)
        return self._lower.value_grad(x, self._theta(theta))[1].reshape(self.x_shape)

    def lower_hessp(self, x, theta, v):
        return self._lower.hessp(x, self._theta(theta), v).reshape(self.x_shape)

    def lower_cross(self, x, theta, v):
        t = self._theta(theta, grad=True)
        (out,) = self._lower.cross(x, [t], t, v)
        return out.detach().numpy().reshape(np.shape(theta))

    def lower_x0(self, theta):
        return self._x0.copy()

    def _eigs(self, theta):
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if key not in self._eig_cache:
            t = self._theta(theta)
            x = self._x_ref.copy()
            lo, hi = _extreme_eigs(lambda v: self._lower.hessp(x, t, v), self.n)
            if not lo > 0.0:
                raise ValueError(f"TorchBilevelProblem: `lower` must be strongly convex in x; its Hessian has the "
                                 f"eigenvalue {lo:.3g} at theta = {np.asarray(theta).reshape(-1)[:4]}; pass `mu` "
                                 "if it is known, or add a ridge to `lower`.")
            self._eig_cache[key] = (lo, hi)
            if len(self._eig_cache) > 256:
                self._eig_cache.popitem(last=False)
        return self._eig_cache[key]

    def lower_mu(self, theta):
        if self._mu is None:
            return 0.9 * self._eigs(theta)[0]
        return float(self._mu(theta)) if callable(self._mu) else float(self._mu)

    def lower_L(self, theta):
        if self._L is None:
            return 1.1 * self._eigs(theta)[1]
        return float(self._L(theta)) if callable(self._L) else float(self._L)

    def lower_cross_norm(self, x, theta):
        if self._cross_norm is None or self.estimated:
            return None        # estimated by maid (and any estimated constant makes the run uncertified)
        return float(self._cross_norm(x, theta)) if callable(self._cross_norm) else float(self._cross_norm)

    # -- upper level ----------------------------------------------------------------------------------------------
    def _upper_value_grad(self, x, create_graph=False):
        xt = _tensor(x, self.x_shape).requires_grad_()
        f = _scalar(self._upper(xt), "upper", "TorchBilevelProblem")
        (g,) = torch.autograd.grad(f, xt, create_graph=create_graph, allow_unused=True)
        return xt, f, g

    def upper_fun(self, x):
        with torch.no_grad():
            return float(_scalar(self._upper(_tensor(x, self.x_shape)), "upper", "TorchBilevelProblem"))

    def upper_grad(self, x):
        with torch.enable_grad():
            xt, _, g = self._upper_value_grad(x)
        return _flat(g, xt).reshape(self.x_shape)

    @property
    def upper_L(self):
        if self._upper_L is None:
            x = self._x_ref.copy()

            def hessp(v):
                with torch.enable_grad():
                    xt, _, g = self._upper_value_grad(x, create_graph=True)
                    if g is None or not g.requires_grad:
                        return np.zeros(self.n)
                    (hv,) = torch.autograd.grad(g, xt, _tensor(v, self.x_shape), allow_unused=True)
                return _flat(hv, xt)

            self._upper_L_est = getattr(self, "_upper_L_est", None) or 1.1 * max(_extreme_eigs(hessp, self.n)[1], 0.0)
            return self._upper_L_est
        return self._upper_L
