"""Shared linear-algebra layer: Krylov solvers, sketching operators, sketch-and-project, sketched
least squares, quadrature rules and sparse kernels used by the solver families."""

from ._cg import CGResult, cg
from ._kaczmarz import SketchProjectResult, kaczmarz_contraction_rate, sketch_and_project
from ._lstsq import LstsqResult, lstsq_sketched
from ._problems import ill_conditioned_lstsq
from ._quadrature import gauss_jacobi, gauss_legendre, gauss_lobatto, lagrange_basis
from ._sketch import SRHT, CountSketch, GaussianSketch, Sketch, SparseSignSketch, make_sketch
from ._sparse import csr_matvec

__all__ = [
    "cg",
    "CGResult",
    "csr_matvec",
    "gauss_jacobi",
    "gauss_legendre",
    "gauss_lobatto",
    "ill_conditioned_lstsq",
    "kaczmarz_contraction_rate",
    "lagrange_basis",
    "lstsq_sketched",
    "LstsqResult",
    "make_sketch",
    "Sketch",
    "GaussianSketch",
    "SparseSignSketch",
    "CountSketch",
    "SRHT",
    "sketch_and_project",
    "SketchProjectResult",
]
