r"""Differentiable entropic optimal transport for torch, on :mod:`numopt.ot`'s solvers.

The forward pass runs numopt's solver in float64 on the CPU. The backward passes never unroll the
iterations:

* the **entropic value** :math:`W_\varepsilon(a, b, M) = \min_{P \in U(a, b)} \langle P, M\rangle
  + \varepsilon\sum_{ij} P_{ij}\log P_{ij}` has, by the envelope theorem, the gradients
  :math:`\partial W/\partial M = P`, :math:`\partial W/\partial a = f`, :math:`\partial W/\partial b = g`
  (the dual potentials of ``OTResult.potentials``), so its backward costs nothing;
* the **plan** :math:`P = \exp((f \oplus g - M)/\varepsilon)` depends on :math:`(a, b, M)` through the
  marginal equations :math:`P\mathbf 1 = a`, :math:`P^\top\mathbf 1 = b`. Differentiating them gives, for an
  incoming gradient :math:`G = \partial L/\partial P` and :math:`\tilde G = G \odot P/\varepsilon`,

  .. math::

      H z = w, \quad H = \frac1\varepsilon\begin{pmatrix}\operatorname{diag}(P\mathbf 1) & P \\
      P^\top & \operatorname{diag}(P^\top\mathbf 1)\end{pmatrix}, \quad
      w = \begin{pmatrix}\tilde G\mathbf 1 \\ \tilde G^\top\mathbf 1\end{pmatrix},

      \frac{\partial L}{\partial M} = -\tilde G + \frac{P}{\varepsilon}\odot(z_1 \oplus z_2), \quad
      \frac{\partial L}{\partial a} = z_1, \quad \frac{\partial L}{\partial b} = z_2 .

  :math:`H` is the dual Hessian of the entropic problem; it is positive semidefinite with the null vector
  :math:`(\mathbf 1, -\mathbf 1)`, to which :math:`w` is orthogonal. It is solved once per backward, by
  conjugate gradients (:func:`numopt.linalg.cg`, Jacobi preconditioner) on the Schur complement of its
  larger diagonal block (a system of size :math:`\min(n, m)`), with the null direction removed by a rank-one
  gauge term. Each CG iteration costs two products with the plan.

Conventions chosen here (the papers leave them open):

* The gradients with respect to ``a`` and ``b`` are centred (mean zero over the support), as POT does: a
  balanced problem only sees perturbations that keep the two masses equal, so the constant part of each is
  not defined. Parametrize the weights on the simplex (e.g. ``softmax(logits)``) to use them.
* Entries of ``a`` or ``b`` with zero mass lie on the boundary of the domain (the derivative of the entropic
  value there is :math:`-\infty`): they receive a zero gradient, and their row or column of ``M`` too.
* The plan's backward uses the dense plan, not the sparsified one, so its accuracy is that of the forward
  solve (``tol``) and of CG (relative residual 1e-12).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["sinkhorn_loss", "sinkhorn_plan", "sinkhorn_divergence"]

_VALUES = ("entropic", "cost")
_CG_RTOL = 1e-12


def _as_float64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(device="cpu", dtype=torch.float64).contiguous().numpy()


def _back(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array), dtype=like.dtype, device=like.device)


def _check_tensor(value, name: str, func: str, ndims: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{func}: `{name}` must be a torch.Tensor; got {type(value).__name__}.")
    if value.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{func}: `{name}` must have dtype float32 or float64; got {value.dtype}.")
    if value.ndim not in ndims:
        rule = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{func}: `{name}` must be {rule}; got shape {tuple(value.shape)}.")
    return value


def _solve(a, b, M, reg, method, tol):
    """Run numopt.ot on float64 arrays; return (result, plan, f, g) with f, g finite (0 off the support)."""
    from .. import ot

    res = ot.sinkhorn(a, b, M, reg, method=method, tol=tol)
    f, g = (np.where(np.isfinite(p), p, 0.0) for p in res.potentials)
    return res, res.plan, f, g


def _centred(p: np.ndarray, support: np.ndarray) -> np.ndarray:
    out = np.zeros_like(p)
    if support.any():
        out[support] = p[support] - p[support].mean()
    return out


def _first_order_only(what: str = "OT"):
    """Refuse a second derivative: inside a backward, grad mode is on only under ``create_graph=True``, and
    the backward passes here treat the solver's output (plan, active set, argmin) as a constant."""
    if torch.is_grad_enabled():
        raise NotImplementedError(
            f"numopt.torch: {what} gradients are first order only; a second derivative (create_graph=True) "
            "would be silently wrong, so it is refused.")


class _EntropicValue(torch.autograd.Function):
    """W_eps(a, b, M) with the envelope gradient (P, f - mean f, g - mean g)."""

    @staticmethod
    def forward(ctx, a, b, M, reg, method, tol):
        res, P, f, g = _solve(_as_float64(a), _as_float64(b), _as_float64(M), reg, method, tol)
        ctx.save_for_backward(_back(P, M), _back(_centred(f, _as_float64(a) > 0), a),
                              _back(_centred(g, _as_float64(b) > 0), b))
        return torch.as_tensor(res.value, dtype=M.dtype, device=M.device)

    @staticmethod
    def backward(ctx, grad_out):
        _first_order_only()
        P, fa, gb = ctx.saved_tensors
        need_a, need_b, need_M = ctx.needs_input_grad[:3]
        return (grad_out * fa if need_a else None, grad_out * gb if need_b else None,
                grad_out * P if need_M else None, None, None, None)


def _plan_vjp(P: np.ndarray, G: np.ndarray, reg: float):
    """(dL/da, dL/db, dL/dM) for dL/dP = G, by one CG solve with the dual Hessian (module docstring)."""
    from ..linalg import cg

    rows, cols = P.sum(1), P.sum(0)
    I, J = rows > 0, cols > 0
    Ps, Gt = P[np.ix_(I, J)], (G * P)[np.ix_(I, J)] / reg
    d1, d2 = rows[I] / reg, cols[J] / reg
    B = Ps / reg
    w1, w2 = Gt.sum(1), Gt.sum(0)
    transpose = B.shape[0] < B.shape[1]          # eliminate the larger diagonal block
    if transpose:
        B, d1, d2, w1, w2 = B.T, d2, d1, w2, w1
    # Schur complement S = D2 - B' D1^{-1} B (size m), null vector 1; the gauge term kappa 11'/m removes it.
    kappa = float(d2.mean())
    rhs = w2 - B.T @ (w1 / d1)
    rhs -= rhs.mean()

    def schur(v):
        return d2 * v - B.T @ ((B @ v) / d1) + kappa * v.mean()

    diag = d2 - np.einsum("ij,ij->j", B, B / d1[:, None]) + kappa / d2.size
    diag = np.maximum(diag, 1e-14 * d2)
    if np.any(rhs):
        sol = cg(schur, rhs, rtol=_CG_RTOL, maxiter=20 * rhs.size + 100, M=1.0 / diag)
        z2 = sol.x - sol.x.mean()
    else:
        z2 = np.zeros_like(rhs)
    z1 = (w1 - B @ z2) / d1
    if transpose:
        z1, z2 = z2, z1
    dM = np.zeros_like(P)
    dM[np.ix_(I, J)] = -Gt + (Ps / reg) * (z1[:, None] + z2[None, :])
    da, db = np.zeros(P.shape[0]), np.zeros(P.shape[1])
    da[I], db[J] = z1 - z1.mean(), z2 - z2.mean()
    return da, db, dM


class _Plan(torch.autograd.Function):
    """The entropic plan P(a, b, M) with the implicit-function backward."""

    @staticmethod
    def forward(ctx, a, b, M, reg, method, tol):
        _, P, _, _ = _solve(_as_float64(a), _as_float64(b), _as_float64(M), reg, method, tol)
        ctx.P, ctx.reg = P, reg
        return _back(P, M)

    @staticmethod
    def backward(ctx, grad_P):
        _first_order_only()
        need_a, need_b, need_M = ctx.needs_input_grad[:3]
        if not (need_a or need_b or need_M):
            return (None,) * 6
        G = _as_float64(grad_P)
        if not np.any(G):
            da, db, dM = np.zeros(ctx.P.shape[0]), np.zeros(ctx.P.shape[1]), np.zeros_like(ctx.P)
        else:
            da, db, dM = _plan_vjp(ctx.P, G, ctx.reg)
        return (_back(da, grad_P) if need_a else None, _back(db, grad_P) if need_b else None,
                _back(dM, grad_P) if need_M else None, None, None, None)


def _problem(a, b, M, reg, func):
    """Validate the tensors; return a list of (a_k, b_k, M_k) (one per batch entry) and whether batched."""
    from .._validation import check_scalar

    M = _check_tensor(M, "M", func, (2, 3))
    batched = M.ndim == 3
    reg = check_scalar(reg, "reg", func, low=0.0, low_inclusive=False)
    n, m = M.shape[-2:]
    out = []
    for name, w, size in (("a", a, n), ("b", b, m)):
        if w is None or (isinstance(w, torch.Tensor) and w.numel() == 0):
            w = torch.full(M.shape[:-2] + (size,), 1.0 / size, dtype=M.dtype, device=M.device)
        w = _check_tensor(w, name, func, (1, 2) if batched else (1,))
        if w.shape[-1] != size:
            raise ValueError(f"{func}: `{name}` has length {w.shape[-1]} but `M` has shape {tuple(M.shape)}.")
        if batched and w.ndim == 1:
            w = w.expand(M.shape[0], size)
        if batched and w.shape[0] != M.shape[0]:
            raise ValueError(f"{func}: `{name}` has batch size {w.shape[0]} but `M` has {M.shape[0]}.")
        out.append(w)
    a, b = out
    items = [(a[k], b[k], M[k]) for k in range(M.shape[0])] if batched else [(a, b, M)]
    return items, batched, reg


def sinkhorn_loss(a, b, M, reg, *, method="sns", tol=1e-9, value="entropic"):
    r"""Entropic OT loss between weights ``a`` and ``b`` under cost ``M``, differentiable in all three.

    .. math::

        W_\varepsilon(a, b, M) = \langle P^\star, M\rangle + \varepsilon\sum_{ij}P^\star_{ij}\log P^\star_{ij},
        \qquad P^\star = \operatorname*{arg\,min}_{P\mathbf 1 = a,\ P^\top\mathbf 1 = b}
        \langle P, M\rangle + \varepsilon\sum_{ij}P_{ij}\log P_{ij}.

    Parameters
    ----------
    a, b : Tensor of shape (n,) and (m,), or None
        Nonnegative weights of equal total mass (None or an empty tensor: uniform, as in POT). With a batch
        of costs, shape (B, n) / (B, m), or 1-D to share them across the batch.
    M : Tensor, shape (n, m) or (B, n, m)
        Cost matrix; a leading batch dimension solves the B problems one after the other (a NumPy loop).
    reg : float
        Entropic regularization :math:`\varepsilon > 0`.
    method : str
        The :func:`numopt.ot.sinkhorn` method of the forward solve (``"sns"``, ``"sinkhorn"``, ``"log"``).
    tol : float
        Forward accuracy: the marginal error of the plan (see :func:`numopt.ot.sinkhorn_newton_sparse`).
    value : {"entropic", "cost"}
        ``"entropic"``: :math:`W_\varepsilon` (``OTResult.value``) with its exact envelope gradient
        (:math:`\partial_M = P`, :math:`\partial_a = f - \bar f`, :math:`\partial_b = g - \bar g`; free).
        ``"cost"``: :math:`\langle P^\star, M\rangle`, differentiated through the plan by the implicit function
        theorem (one CG solve, see :func:`sinkhorn_plan`).

    Returns
    -------
    Tensor
        0-d (or shape (B,) for a batch), in ``M``'s dtype and on its device.

    Warns
    -----
    numopt.ConvergenceWarning
        When the forward solve does not reach ``tol`` (the loss is that of the last iterate).

    Examples
    --------
    >>> import torch
    >>> from numopt.torch import sinkhorn_loss
    >>> x = torch.linspace(0, 1, 5, dtype=torch.float64)
    >>> M = ((x[:, None] - x[None, :]) ** 2).requires_grad_()
    >>> loss = sinkhorn_loss(None, None, M, 0.1)
    >>> loss.backward()
    >>> round(float(M.grad.sum()), 9)       # the gradient in M is the plan, of mass 1
    1.0
    """
    func = "sinkhorn_loss"
    if value not in _VALUES:
        raise ValueError(f"{func}: `value` must be one of {', '.join(map(repr, _VALUES))}; got {value!r}.")
    items, batched, reg = _problem(a, b, M, reg, func)
    if value == "entropic":
        losses = [_EntropicValue.apply(ak, bk, Mk, reg, method, tol) for ak, bk, Mk in items]
    else:
        losses = [(_Plan.apply(ak, bk, Mk, reg, method, tol) * Mk).sum() for ak, bk, Mk in items]
    return torch.stack(losses) if batched else losses[0]


def sinkhorn_plan(a, b, M, reg, *, method="sns", tol=1e-9):
    r"""The entropic transport plan :math:`P^\star(a, b, M)` as a tensor, with an implicit-function backward.

    The backward pass solves one linear system with the dual Hessian of the entropic problem (a Schur
    complement of size :math:`\min(n, m)`, by preconditioned CG from :mod:`numopt.linalg`); it never unrolls
    the Sinkhorn/Newton iterations, so its memory is :math:`O(nm)` whatever the number of iterations. See
    the module docstring for the formulas and conventions (centred weight gradients, zero-mass entries).

    Parameters
    ----------
    a, b, M, reg, method, tol
        As in :func:`sinkhorn_loss`.

    Returns
    -------
    Tensor, shape (n, m) or (B, n, m)
        The plan, in ``M``'s dtype and on its device.

    Examples
    --------
    >>> import torch
    >>> from numopt.torch import sinkhorn_plan
    >>> x = torch.linspace(0, 1, 4, dtype=torch.float64)
    >>> M = ((x[:, None] - x[None, :]) ** 2).requires_grad_()
    >>> P = sinkhorn_plan(None, None, M, 0.05, tol=1e-12)
    >>> (P * M).sum().backward()
    >>> round(float(M.grad.sum()), 9)       # rows and columns of the plan keep their sums
    1.0
    """
    items, batched, reg = _problem(a, b, M, reg, "sinkhorn_plan")
    plans = [_Plan.apply(ak, bk, Mk, reg, method, tol) for ak, bk, Mk in items]
    return torch.stack(plans) if batched else plans[0]


def _cost(x, y, p):
    sq = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    if p == 2:
        return sq
    positive = sq > 0
    # |x - y|^p with a zero (sub)gradient where x_i = y_j, instead of sqrt's NaN at 0
    return torch.where(positive, torch.where(positive, sq, torch.ones_like(sq)) ** (0.5 * p), torch.zeros_like(sq))


def sinkhorn_divergence(x, y, reg, *, a=None, b=None, p=2, method="sns", tol=1e-9):
    r"""Debiased Sinkhorn divergence between the point clouds ``x`` and ``y``, differentiable in x and y.

    .. math::

        S_\varepsilon(\alpha, \beta) = W_\varepsilon(a, b, C_{xy}) - \tfrac12 W_\varepsilon(a, a, C_{xx})
        - \tfrac12 W_\varepsilon(b, b, C_{yy}), \qquad C_{xy, ij} = \|x_i - y_j\|_2^p,

    with :math:`W_\varepsilon` the entropic value of :func:`sinkhorn_loss` (envelope gradients; the costs are
    built in torch, so the gradients reach the points through them). This is the quantity GeomLoss's
    ``SamplesLoss("sinkhorn")`` computes; the cost here is :math:`\|x - y\|^p` (POT's ``sqeuclidean`` for
    ``p = 2``), where GeomLoss uses :math:`\|x - y\|^p / p`. ``reg`` is in the units of the cost.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (m, d)
    reg : float
        Entropic regularization :math:`\varepsilon > 0`.
    a, b : Tensor, optional
        Weights of the points (default uniform); equal total masses.
    p : float
        Exponent of the Euclidean distance in the cost, p >= 1.
    method, tol
        As in :func:`sinkhorn_loss`.

    Returns
    -------
    Tensor
        0-d, in ``x``'s dtype and on its device.

    Examples
    --------
    >>> import torch
    >>> from numopt.torch import sinkhorn_divergence
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> abs(float(sinkhorn_divergence(x, x.clone(), 0.1))) < 1e-9     # zero between identical clouds
    True
    """
    func = "sinkhorn_divergence"
    x = _check_tensor(x, "x", func, (2,))
    y = _check_tensor(y, "y", func, (2,))
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{func}: `x` and `y` must have the same number of columns; got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}.")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p >= 1:
        raise ValueError(f"{func}: `p` must be a number >= 1; got {p!r}.")
    kw = dict(method=method, tol=tol, value="entropic")
    w_xy = sinkhorn_loss(a, b, _cost(x, y, p), reg, **kw)
    w_xx = sinkhorn_loss(a, a, _cost(x, x, p), reg, **kw)
    w_yy = sinkhorn_loss(b, b, _cost(y, y, p), reg, **kw)
    return w_xy - 0.5 * (w_xx + w_yy)
