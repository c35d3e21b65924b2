"""Equality-constrained nonlinear optimisation: AdaSketch-Newton on an exact augmented Lagrangian.

* :func:`minimize` -- Hong, Na, Mahoney & Kolar (ICML 2023, arXiv:2305.18379): inexact Newton–KKT steps by
  randomized iterative sketching (Kaczmarz, block, Gaussian sketch-and-project from :mod:`numopt.linalg`) or
  by preconditioned Krylov solvers under the same adaptive accuracy test, with adaptive penalties and an
  Armijo line search on the exact augmented Lagrangian merit.

Returns a :class:`ConstrainedResult` (``x``, ``multipliers``, ``kkt_residual``, penalty histories, counts).
"""

from ._adasketch import METHODS, SKETCHES, ConstrainedResult
from ._frontend import minimize

__all__ = ["minimize", "ConstrainedResult", "METHODS", "SKETCHES"]
