"""Shared linear-algebra layer: Krylov solvers, sketching operators, sketch-and-project, sketched
least squares and sparse kernels used by every solver family."""

from ._sparse import csr_matvec

__all__ = [
    "csr_matvec",
]
