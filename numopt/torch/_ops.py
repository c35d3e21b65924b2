r"""``torch.library.custom_op`` variant of the entropic OT value, for ``torch.compile(fullgraph=True)``.

:func:`numopt.torch.sinkhorn_loss` is a ``torch.autograd.Function`` around NumPy code: ``torch.compile`` runs
through it only with graph breaks (Dynamo traces into numopt's NumPy code, breaks at every data-dependent
branch and recompiles per call), and ``fullgraph=True`` fails. Registered as the opaque operator
``numopt::sinkhorn_entropic`` with a fake (meta) rule and an autograd rule, the same computation is one node
of the graph, so a model calling :func:`sinkhorn_loss_op` compiles with ``fullgraph=True``.
"""

from __future__ import annotations

import math

import torch

from ._ot import _as_float64, _back, _centred, _solve
from ._ot import _first_order_only

__all__ = ["sinkhorn_loss_op"]


@torch.library.custom_op("numopt::sinkhorn_entropic", mutates_args=())
def _sinkhorn_entropic(a: torch.Tensor, b: torch.Tensor, M: torch.Tensor, reg: float, method: str,
                       tol: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W_eps, P, f - mean f, g - mean g): the value and its envelope gradients (the last three for backward)."""
    an, bn = _as_float64(a), _as_float64(b)
    res, P, f, g = _solve(an, bn, _as_float64(M), reg, method, tol)
    value = torch.as_tensor(res.value, dtype=M.dtype, device=M.device)
    return value, _back(P, M), _back(_centred(f, an > 0), a), _back(_centred(g, bn > 0), b)


@_sinkhorn_entropic.register_fake
def _(a, b, M, reg, method, tol):
    return M.new_empty(()), torch.empty_like(M), torch.empty_like(a), torch.empty_like(b)


def _setup_context(ctx, inputs, output):
    _, P, fa, gb = output
    ctx.save_for_backward(P, fa, gb)


def _backward(ctx, grad_value, grad_P, grad_fa, grad_gb):
    _first_order_only("OT")
    P, fa, gb = ctx.saved_tensors
    return grad_value * fa, grad_value * gb, grad_value * P, None, None, None


_sinkhorn_entropic.register_autograd(_backward, setup_context=_setup_context)


def sinkhorn_loss_op(a, b, M, reg, *, method="sns", tol=1e-9):
    r"""The entropic OT value of :func:`numopt.torch.sinkhorn_loss` (``value="entropic"``) as a custom operator.

    Same value and envelope gradient, for 1-D ``a``, ``b`` (no None, no batch) and 2-D ``M``; usable inside
    ``torch.compile(..., fullgraph=True)``. The other conventions (float64 CPU compute, first order only,
    ``ConvergenceWarning`` from the forward solve) are those of :func:`numopt.torch.sinkhorn_loss`.

    Examples
    --------
    >>> import torch
    >>> from numopt.torch import sinkhorn_loss, sinkhorn_loss_op
    >>> x = torch.linspace(0, 1, 5, dtype=torch.float64)
    >>> M = (x[:, None] - x[None, :]) ** 2
    >>> a = torch.full((5,), 0.2, dtype=torch.float64)
    >>> bool(abs(sinkhorn_loss_op(a, a, M, 0.1) - sinkhorn_loss(a, a, M, 0.1)) < 1e-14)
    True
    """
    from ._ot import _check_tensor

    func = "sinkhorn_loss_op"
    M = _check_tensor(M, "M", func, (2,))
    a = _check_tensor(a, "a", func, (1,))
    b = _check_tensor(b, "b", func, (1,))
    if a.shape[0] != M.shape[0] or b.shape[0] != M.shape[1]:
        raise ValueError(f"{func}: `M` has shape {tuple(M.shape)} but len(a) = {a.shape[0]} and len(b) = {b.shape[0]}.")
    # plain-Python checks (numopt's check_scalar uses NumPy, which Dynamo cannot trace with fullgraph=True)
    if isinstance(reg, bool) or not isinstance(reg, (int, float)):
        raise TypeError(f"{func}: `reg` must be a real number; got {type(reg).__name__}.")
    if not (math.isfinite(reg) and reg > 0):
        raise ValueError(f"{func}: `reg` must be > 0; got {reg!r}.")
    return _sinkhorn_entropic(a, b, M, float(reg), method, float(tol))[0]


