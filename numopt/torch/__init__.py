"""numopt.torch: autograd bridges so that torch code can call numopt's solvers.

The only module of numopt that imports torch (``pip install "numopt[torch]"``); ``import numopt`` never
imports it. Every function computes in float64 on the CPU with numopt's kernels, accepts float32/float64
tensors on any device and returns its result in the input's dtype and on its device. Backward passes are
first order: asking for a second derivative (``create_graph=True``) raises ``NotImplementedError`` rather
than returning a wrong Hessian.

Optimal transport (on :mod:`numopt.ot`): :func:`sinkhorn_loss` (the entropic OT value with its envelope
gradient, or the transport cost with the implicit gradient through the plan), :func:`sinkhorn_plan` (the
plan, implicit-function backward), :func:`sinkhorn_divergence` (the debiased divergence between point clouds);
:func:`sinkhorn_loss_op`, the entropic value as a ``torch.library.custom_op`` for ``torch.compile(fullgraph=True)``
(the autograd.Function versions compile only with graph breaks).

Bilevel (on :mod:`numopt.bilevel`): :func:`implicit_argmin` (the minimizer of a torch function, with the
implicit-function backward by CG on autograd Hessian-vector products) and :class:`TorchBilevelProblem` (a
``BilevelProblem`` from two torch functions, so that :func:`numopt.bilevel.maid` runs on a torch model).

Unmixing (on :mod:`numopt.unmixing`): :func:`fcls` (exact fully constrained least-squares abundances with the
active-set KKT backward, differentiable in the spectra and the endmembers).
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a test that hides torch
    raise ImportError(
        "numopt.torch needs PyTorch, which is not installed: install the extra with "
        "`pip install \"numopt[torch]\"` (or a CPU build, e.g. `pip install torch`)."
    ) from exc

from ._ot import sinkhorn_divergence, sinkhorn_loss, sinkhorn_plan
from ._ops import sinkhorn_loss_op
from ._bilevel import ImplicitArgminResult, TorchBilevelProblem, implicit_argmin
from ._unmixing import fcls

__all__ = ["sinkhorn_loss", "sinkhorn_plan", "sinkhorn_divergence", "sinkhorn_loss_op", "implicit_argmin",
           "ImplicitArgminResult",
           "TorchBilevelProblem", "fcls"]
