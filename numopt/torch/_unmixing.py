r"""Differentiable fully constrained least squares (FCLS) for torch, on :func:`numopt.unmixing.fcls`.

The forward pass is numopt's exact active-set FCLS (Numba, float64, CPU). The backward pass differentiates
the KKT system on the active set: for a pixel :math:`y` with abundances :math:`a` and support
:math:`F = \{i : a_i > 0\}`, the solution is the equality-constrained least-squares solution on :math:`F`,

.. math::

    \begin{pmatrix} G_{FF} & \mathbf 1 \\ \mathbf 1^\top & 0 \end{pmatrix}
    \begin{pmatrix} a_F \\ -\nu \end{pmatrix} = \begin{pmatrix} b_F \\ 1 \end{pmatrix},
    \qquad G = M^\top M,\ b = M^\top y,\ a_{\bar F} = 0 .

For an incoming gradient :math:`v = \partial L/\partial a`, one symmetric solve of the same bordered matrix,
:math:`[G_{FF}\ \mathbf 1;\ \mathbf 1^\top\ 0]\,[u_F;\ \mu] = [v_F;\ 0]` (:math:`u = 0` off :math:`F`), gives

.. math::

    \frac{\partial L}{\partial Y} = M U, \qquad
    \frac{\partial L}{\partial M} = (Y - MA)\,U^\top - M\,U A^\top ,

with :math:`U = [u_1, \dots, u_N]`. Pixels sharing a support share one factorization (one solve with several
right-hand sides per distinct support pattern).

Conventions chosen here:

* The support is fixed in the derivative (the active set is locally constant away from degenerate points,
  where some :math:`a_i = 0` has a zero multiplier; there the gradient returned is the one-sided derivative
  that keeps :math:`a_i = 0`).
* A singular :math:`G_{FF}` (collinear endmembers) falls back to the minimum-norm least-squares solve.
"""

from __future__ import annotations

import numpy as np
import torch

from ._ot import _as_float64, _back, _check_tensor, _first_order_only

__all__ = ["fcls"]


def _fcls_vjp(M: np.ndarray, Y: np.ndarray, A: np.ndarray, V: np.ndarray):
    """(dL/dY, dL/dM, U) for dL/dA = V by the active-set KKT adjoint (module docstring)."""
    G = M.T @ M
    supp = A > 0
    U = np.zeros_like(A)
    K = A.shape[0]
    if K <= 62:   # one integer code per support pattern: a 1-D unique instead of a row-wise one
        codes = (supp.T.astype(np.int64) << np.arange(K, dtype=np.int64)).sum(axis=1)
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        patterns = supp.T[first]
    else:
        patterns, inverse = np.unique(supp.T, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(patterns) + 1))
    for p, pattern in enumerate(patterns):
        cols = order[bounds[p]:bounds[p + 1]]
        F = np.flatnonzero(pattern)
        k = F.size
        if k == 0:   # cannot happen for a feasible a; kept for safety
            continue
        S = np.zeros((k + 1, k + 1))
        S[:k, :k] = G[np.ix_(F, F)]
        S[:k, k] = 1.0
        S[k, :k] = 1.0
        rhs = np.zeros((k + 1, cols.size))
        rhs[:k] = V[np.ix_(F, cols)]
        try:
            sol = np.linalg.solve(S, rhs)
        except np.linalg.LinAlgError:
            sol = np.linalg.lstsq(S, rhs, rcond=None)[0]
        U[np.ix_(F, cols)] = sol[:k]
    gY = M @ U
    gM = (Y - M @ A) @ U.T - M @ (U @ A.T)
    return gY, gM


class _FCLS(torch.autograd.Function):
    """Abundances A(Y, M) (K x N) with the active-set KKT backward."""

    @staticmethod
    def forward(ctx, Y, M, like):
        from ..unmixing import fcls as np_fcls

        Yn, Mn = _as_float64(Y), _as_float64(M)
        N = Yn.shape[1]
        # numopt.unmixing.fcls needs at least two pixels: a single pixel is solved twice
        res = np_fcls(Yn if N >= 2 else np.repeat(Yn, 2, axis=1), Mn)  # warns itself when not converged
        A = np.ascontiguousarray(res.abundances[:, :N])
        ctx.Y, ctx.M, ctx.A = Yn, Mn, A
        ctx.Y_like = torch.empty(0, dtype=Y.dtype, device=Y.device)
        ctx.M_like = torch.empty(0, dtype=M.dtype, device=M.device)
        return _back(A, like)

    @staticmethod
    def backward(ctx, grad_A):
        _first_order_only("FCLS")
        need_Y, need_M = ctx.needs_input_grad[:2]
        if not (need_Y or need_M):
            return None, None, None
        V = _as_float64(grad_A)
        if not np.any(V):
            gY, gM = np.zeros_like(ctx.Y), np.zeros_like(ctx.M)
        else:
            gY, gM = _fcls_vjp(ctx.M, ctx.Y, ctx.A, V)
        return (_back(gY, ctx.Y_like) if need_Y else None, _back(gM, ctx.M_like) if need_M else None, None)


def fcls(Y, M):
    r"""Fully constrained least-squares abundances, differentiable with respect to ``Y`` and ``M``.

    .. math::

        \hat a_n = \arg\min_{a \ge 0,\ \mathbf 1^\top a = 1} \tfrac12 \|y_n - M a\|_2^2, \qquad n = 1, \dots, N,

    solved exactly by :func:`numopt.unmixing.fcls` (active set, KKT-checked) in float64 on the CPU. The
    backward pass differentiates the KKT system on each pixel's support (one bordered solve per distinct
    support pattern; see the module docstring), so it is exact wherever the support is locally constant: a
    physically constrained output layer for deep-unmixing networks.

    Parameters
    ----------
    Y : Tensor, shape (L, N) or (L,)
        Spectra, channels x pixels (numopt's layout), or one spectrum.
    M : Tensor, shape (L, K)
        Endmembers, ``K <= L``.

    Returns
    -------
    Tensor, shape (K, N) or (K,)
        The abundances (columns on the unit simplex), in the promoted dtype of ``Y`` and ``M`` and on
        ``Y``'s device.

    Warns
    -----
    numopt.ConvergenceWarning
        When the KKT residual of the forward solve exceeds 1e-10 (nearly collinear endmembers).

    Examples
    --------
    >>> import torch
    >>> from numopt.torch import fcls
    >>> M = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    >>> y = torch.tensor([0.3, 0.7, 1.0], dtype=torch.float64, requires_grad=True)
    >>> a = fcls(y, M)
    >>> [round(v, 12) for v in a.tolist()]
    [0.3, 0.7]
    >>> a[0].backward()
    >>> [round(v, 12) + 0.0 for v in y.grad.tolist()]     # da_0/dy = (e_0 - e_1) / 2 on the interior
    [0.5, -0.5, 0.0]
    """
    func = "fcls"
    Y = _check_tensor(Y, "Y", func, (1, 2))
    M = _check_tensor(M, "M", func, (2,))
    L, K = M.shape
    if Y.shape[0] != L:
        raise ValueError(f"{func}: `Y` has {Y.shape[0]} channels (shape {tuple(Y.shape)}) but `M` has shape "
                         f"{tuple(M.shape)} (L, K).")
    if K < 1 or K > L:
        raise ValueError(f"{func}: `M` must have shape (L, K) with 1 <= K <= L; got shape {tuple(M.shape)}.")
    if Y.ndim == 2 and Y.shape[1] == 0:
        raise ValueError(f"{func}: `Y` must have at least one pixel; got shape {tuple(Y.shape)}.")
    for name, t in (("Y", Y), ("M", M)):
        bad = ~torch.isfinite(t.detach())
        if bad.any():
            idx = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(f"{func}: `{name}` must be finite; got {name}[{', '.join(map(str, idx))}] = "
                             f"{float(t.detach()[idx])}.")
    like = torch.empty(0, dtype=torch.promote_types(Y.dtype, M.dtype), device=Y.device)
    single = Y.ndim == 1
    A = _FCLS.apply(Y[:, None] if single else Y, M, like)
    return A[:, 0] if single else A
