"""``precompile()`` for ``numopt compile``: fill the Numba cache with every kernel of numopt.atomic.

numopt.atomic has no Numba kernels: its work is dense LAPACK eigensolves and NumPy array expressions on a
few hundred points (measured: a cold first call costs no compile time, the same as a warm one). So there
is nothing to compile, and :func:`precompile` only imports the family (so that ``numopt compile`` checks
it loads) and returns.
"""

from __future__ import annotations

__all__ = ["precompile"]


def precompile() -> None:
    """Nothing to compile in numopt.atomic (no Numba kernels); imports the family and returns."""
    from . import _atom  # noqa: F401  (imports every module of the family)
