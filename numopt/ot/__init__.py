"""Entropic optimal transport: Sinkhorn-Newton-Sparse and Sinkhorn (scaling and log domain) on Numba kernels.

* :func:`sinkhorn_newton_sparse` -- Tang et al. (ICLR 2024): Sinkhorn, then Newton steps with a
  sparsified Hessian; tens of iterations to ``tol = 1e-9`` even at small ``reg``.
* :func:`sinkhorn_knopp` -- Sinkhorn in the scaling domain (BLAS sweeps, absorption: overflow-proof).
* :func:`sinkhorn_log` -- log-domain Sinkhorn (overflow-proof, exp-fused kernels).
* :func:`sinkhorn` -- any of them, by ``method=`` (POT's method names are aliases).
* :func:`empirical_sinkhorn` -- two point clouds, costs computed on the fly (no cost matrix).
* :func:`sinkhorn2` -- the loss :math:`\\langle P, M\\rangle` only, as POT's ``ot.sinkhorn2``.

All but :func:`sinkhorn2` return an :class:`OTResult` (``plan``, ``plan_sparse``, ``potentials``, ``cost``, ``value``,
``marginal_error``, iteration counts, ``history``). POT's vocabulary: ``a, b, M, reg``.
"""

from ._common import OTResult
from ._empirical import empirical_sinkhorn
from ._sinkhorn import METHOD_ALIASES, METHODS, sinkhorn, sinkhorn2, sinkhorn_knopp, sinkhorn_log
from ._sns import sinkhorn_newton_sparse

__all__ = ["empirical_sinkhorn", "sinkhorn", "sinkhorn2", "sinkhorn_knopp", "sinkhorn_log", "sinkhorn_newton_sparse", "OTResult", "METHODS",
           "METHOD_ALIASES"]
