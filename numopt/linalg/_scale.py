"""Exact rescaling by powers of two, so that the solvers see data of magnitude about 1.

Multiplying by a power of two is exact (barring subnormal results) and commutes with rounding, so a
solver run on rescaled data computes, bit for bit, the rescaled iterates of the unscaled run whenever
that run neither overflows nor underflows; when it would, the rescaled run still works. Scaling the
problem once at the front door and unscaling the answer is how ``cg``, ``lstsq_sketched`` and
``sketch_and_project`` treat data of any magnitude (issue 11: ``1e-170 * b`` or ``1e160 * A``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["pow2_scale", "max_abs", "scale_system", "SAFE_EXPONENT"]


#: Magnitudes in [2**-SAFE_EXPONENT, 2**SAFE_EXPONENT] are left alone: their squares, norms and products
#: stay far from overflow and underflow, and leaving them avoids copying an ordinary matrix.
SAFE_EXPONENT = 128


def pow2_scale(magnitude: float) -> float:
    """The power of two ``2**-e`` that maps ``magnitude`` into [0.5, 1), or 1.0 when no scaling is needed.

    1.0 for 0, non-finite input and magnitudes within ``2**±SAFE_EXPONENT``. ``e`` is clipped to
    [-1021, 1022] so that both the factor and its inverse are normal numbers.
    """
    if not (magnitude > 0.0 and math.isfinite(magnitude)):
        return 1.0
    _, e = math.frexp(magnitude)
    if -SAFE_EXPONENT < e <= SAFE_EXPONENT:
        return 1.0
    return math.ldexp(1.0, -min(max(e, -1021), 1022))


def max_abs(values: np.ndarray) -> float:
    """Largest magnitude of a float array (0.0 when it is empty)."""
    return float(np.max(np.abs(values))) if values.size else 0.0


def scale_system(A, kind: str, b: np.ndarray):
    """``(a A, c b, a, c)`` with :func:`pow2_scale` factors ``a`` for ``A`` (dense array or scipy sparse,
    ``kind`` as from ``as_operator``) and ``c`` for ``b``; copies only what it scales. A solution of the
    scaled system gives ``x = x' a / c``."""
    a = pow2_scale(max_abs(A.data if kind == "sparse" else A))
    c = pow2_scale(max_abs(b))
    if a != 1.0:
        if kind == "sparse":
            A = A.copy()
            A.data *= a
        else:
            A = A * a
    if c != 1.0:
        b = b * c
    return A, b, a, c
