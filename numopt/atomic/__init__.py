"""Atomic structure: high-order finite-element radial Schrödinger, Dirac and Kohn–Sham (LDA/RLDA) solvers.

The featom method (Čertík, Pask, Fernando, Goswami, Sukumar, Collins, Manzini, Vackář, CPC 297 (2024)
109051, arXiv:2307.05856): spectral elements on Gauss–Lobatto–Legendre nodes on an exponential mesh of a
few elements, lumped-mass Schrödinger eigenproblems, the squared Dirac Hamiltonian (no spurious states),
a finite-element Poisson solve for the Hartree potential, Slater + VWN5 LDA (MacDonald–Vosko relativistic
exchange for RLDA) and Anderson mixing of the potential.

* :func:`hydrogen_like` -- bound states of a point-nucleus one-electron ion (Schrödinger or Dirac).
* :func:`solve_atom` -- Kohn–Sham LDA or RLDA ground state of a neutral spherical atom (NIST setting).
* :func:`exponential_mesh`, :func:`choose_parameters`, :func:`configuration` -- meshes, the automatic
  discretization choice and the NIST ground-state configurations.
"""

from ._atom import AtomResult, HydrogenLikeResult, Orbital, choose_parameters, hydrogen_like, solve_atom
from ._config import SYMBOLS, configuration
from ._mesh import exponential_mesh
from ._xc import C_NIST, lda

__all__ = ["hydrogen_like", "solve_atom", "AtomResult", "HydrogenLikeResult", "Orbital", "exponential_mesh",
           "choose_parameters", "configuration", "lda", "SYMBOLS", "C_NIST"]
