r"""Radial Dirac operator in the squared-Hamiltonian formulation (featom, Čertík et al. 2024, §2.2–3).

With :math:`V` the potential (rest mass excluded from the energy :math:`E`), the radial Dirac
Hamiltonian acting on :math:`(P, Q)` is

.. math:: H = \begin{pmatrix} V + c^2 & c(-\frac{d}{dr} + \frac{\kappa}{r}) \\
                              c(\frac{d}{dr} + \frac{\kappa}{r}) & V - c^2 \end{pmatrix},
          \qquad H\psi = (E + c^2)\psi .

Its square has the bound states as its *lowest* eigenvalues :math:`\lambda = (E + c^2)^2 < c^4` (the
negative continuum maps above :math:`c^4`), so the Galerkin eigenvalues of :math:`H^2` are variational
and there are no spurious states. The weak form is the Gram form :math:`\langle H\phi_i, H\phi_j\rangle`.
With :math:`P = r^\beta p`, :math:`Q = r^\beta q`, :math:`\beta = \sqrt{\kappa^2 - (Z/c)^2}`, the
functions :math:`p, q` are smooth and nonzero at the origin (natural condition at 0, Dirichlet at
:math:`r_{\max}`). numopt takes out :math:`r^\alpha` with :math:`\alpha = \beta` for :math:`|\kappa| \le 2`
and :math:`\alpha = \beta - (|\kappa| - 2)` beyond (see :func:`numopt.atomic._scf.dirac_alpha`: the
weight :math:`r^{2\beta}` with :math:`\beta` up to 7 makes the mass matrix numerically singular). The
blocks below are written with :math:`\beta` standing for :math:`\alpha`; after integrating by parts
(all boundary terms vanish for :math:`\alpha > 1/2`, i.e. :math:`Z < c\sqrt3/2`) they are

.. math::
   A_{11} &= \int \big[c^2 B_i'B_j' + \big((V+c^2)^2 + c^2\frac{\kappa(\kappa+1) - \beta(\beta-1)}{r^2}\big)
             B_iB_j\big] r^{2\beta} dr \\
   A_{22} &= \int \big[c^2 B_i'B_j' + \big((V-c^2)^2 + c^2\frac{\kappa(\kappa-1) - \beta(\beta-1)}{r^2}\big)
             B_iB_j\big] r^{2\beta} dr \\
   A_{12} &= c\int V\big(B_i'B_j - B_iB_j' + \tfrac{2\kappa}{r} B_iB_j\big) r^{2\beta} dr,
   \qquad S = \operatorname{diag}(M, M),\ M = \int B_iB_j r^{2\beta} dr .

numopt subtracts :math:`c^4 S` exactly (the :math:`c^4` part of :math:`(V\pm c^2)^2`) and solves for
:math:`\mu = \lambda - c^4 = E(E + 2c^2)`; then :math:`E = \mu / (c^2 + \sqrt{c^4 + \mu})` has no
cancellation, and the bound states are exactly the negative :math:`\mu`. The parts that do not depend on
the screening potential :math:`U = V + Z/r` (including the :math:`Z^2/r^2` and :math:`c^2 Z/r` terms)
are integrated once with the Gauss–Jacobi grid of weight :math:`r^{2\beta - 2}` (exact); the mass matrix
is Jacobi-scaled by :math:`\mathrm{diag}(M)^{-1/2}` (without it the Cholesky factorization fails for large
:math:`|\kappa|`) and its Cholesky factor is cached, so each SCF step costs one standard symmetric
eigensolve (LAPACK ``?syevr``, lowest ``k`` pairs) of size ``2 Ne p``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

__all__ = ["DiracOperator", "kappa_beta"]


def kappa_beta(kappa: int, Z: float, c: float) -> float:
    r""":math:`\beta = \sqrt{\kappa^2 - (Z/c)^2}`."""
    return float(np.sqrt(kappa * kappa - (Z / c) ** 2))


class DiracOperator:
    """Squared radial Dirac operator for one :math:`\\kappa` on ``grid`` (the grid of weight
    :math:`r^{2\\beta - 2}` of this :math:`|\\kappa|`)."""

    def __init__(self, disc, grid, kappa: int, Z: float, c: float, alpha: float):
        self.disc, self.grid = disc, grid
        self.kappa, self.Z, self.c = int(kappa), float(Z), float(c)
        beta = float(alpha)
        self.beta = beta
        r = grid.r
        c2 = c * c
        one = np.ones_like(r)
        K = disc.stiffness_like(grid, r * r)
        M = disc.mass_like(grid, r * r)
        R2 = disc.mass_like(grid, one)
        R1 = disc.mass_like(grid, r)
        X1 = disc.skew_like(grid, r)
        k = self.kappa
        self.A11 = c2 * K + (c2 * (k * (k + 1) - beta * (beta - 1)) + Z * Z) * R2 - 2 * Z * c2 * R1
        self.A22 = c2 * K + (c2 * (k * (k - 1) - beta * (beta - 1)) + Z * Z) * R2 + 2 * Z * c2 * R1
        self.A12 = c * (-Z * X1 - 2 * k * Z * R2)
        d = 1.0 / np.sqrt(np.diag(M))
        self.d = d
        self.L = sla.cholesky(M * np.outer(d, d), lower=True, check_finite=False)
        self.M = M
        nb = disc.nb
        self.nb = nb
        self.dd = np.concatenate((d, d))

    def _reduce(self, A11, A12, A22):
        nb = self.nb
        A = np.empty((2 * nb, 2 * nb))
        A[:nb, :nb] = A11
        A[:nb, nb:] = A12
        A[nb:, :nb] = A12.T
        A[nb:, nb:] = A22
        A *= np.outer(self.dd, self.dd)
        L = self.L
        # C = blockdiag(L, L)^{-1} A blockdiag(L, L)^{-T}
        A[:nb] = sla.solve_triangular(L, A[:nb], lower=True, check_finite=False)
        A[nb:] = sla.solve_triangular(L, A[nb:], lower=True, check_finite=False)
        A[:, :nb] = sla.solve_triangular(L, A[:, :nb].T, lower=True, check_finite=False).T
        A[:, nb:] = sla.solve_triangular(L, A[:, nb:].T, lower=True, check_finite=False).T
        return A

    def matrices(self, U):
        """The three blocks with the screening potential ``U`` (values on the grid, shape (Ne, nq))."""
        if U is None:
            return self.A11, self.A12, self.A22
        disc, g, Z, c = self.disc, self.grid, self.Z, self.c
        r = g.r
        c2 = c * c
        base = (U * U - 2 * Z * U / r) * r * r
        S = disc.mass_like(g, base)
        T = disc.mass_like(g, 2 * c2 * U * r * r)
        A11 = self.A11 + S + T
        A22 = self.A22 + S - T
        A12 = self.A12 + c * (disc.skew_like(g, U * r * r) + 2 * self.kappa * disc.mass_like(g, U * r))
        return A11, A12, A22

    def solve(self, U, k):
        """Lowest ``k`` states. Returns ``(E, cp, cq, nbound)``: energies (rest mass excluded), the DOF
        coefficients of p and q (nb, k), normalized :math:`\\int (P^2 + Q^2) dr = 1`, and the number of
        bound states (negative :math:`\\mu`) found among the ``k``."""
        C = self._reduce(*self.matrices(U))
        mu, y = sla.eigh(C, subset_by_index=[0, k - 1], driver="evr", overwrite_a=True, check_finite=False)
        if y.shape[1] < k:  # LAPACK returns fewer pairs when C holds NaN/inf: report NaN, the SCF stops
            mu, y = np.full(k, np.nan), np.full((C.shape[0], k), np.nan)
        nb = self.nb
        x = np.empty_like(y)
        x[:nb] = sla.solve_triangular(self.L, y[:nb], lower=True, trans="T", check_finite=False)
        x[nb:] = sla.solve_triangular(self.L, y[nb:], lower=True, trans="T", check_finite=False)
        x *= self.dd[:, None]
        cp, cq = x[:nb], x[nb:]
        return self.energies(cp, cq, U), cp, cq, int((mu < 0).sum())

    def energies(self, cp, cq, U):
        r"""Energies :math:`E = \|H\psi\| / \|\psi\| - c^2` of the computed states.

        This is the Rayleigh quotient of :math:`H^2` (the Galerkin eigenvalue, so still an upper bound)
        evaluated as a sum of squares at the quadrature points instead of from the eigensolver's
        :math:`\mu`: the eigensolver's absolute error is :math:`\epsilon\|C\|`, which grows like
        :math:`p^4/h_1^2` on a small first element (measured 1e-6 Ha for h_1 = 0.005), whereas this
        expression is accurate to about :math:`\epsilon c^2` (1e-11 Ha) and quadratic in the eigenvector
        error.

        Without cancellation. :math:`\sqrt{\lambda} - c^2` loses every digit of :math:`E` once
        :math:`c^2 \gg |E|/\epsilon` (c = 1e7 gave -0.516 for the hydrogen 1s, c = 1e9 gave +128).
        With :math:`H\psi = (a_1 + c^2 p, a_2 - c^2 q)`, where :math:`a_1 = Vp + c(-q' + (\kappa-\alpha)q/r)`
        and :math:`a_2 = c(p' + (\alpha+\kappa)p/r) + Vq` carry no :math:`c^2` term,

        .. math:: \mu = \lambda - c^4 = \frac{\int [a_1(a_1 + 2c^2 p) + a_2(a_2 - 2c^2 q)] r^2 dr}
                                         {\int (p^2 + q^2) r^2 dr}, \qquad
                  E = \frac{\mu / c^2}{1 + \sqrt{1 + \mu / c^4}},

        where no term of size :math:`c^4` is ever formed, so :math:`E` keeps its relative accuracy for
        every ``c`` (and tends to the Schrödinger eigenvalue as :math:`c \to \infty`).
        """
        disc, g, c, k, a = self.disc, self.grid, self.c, self.kappa, self.beta
        phi, dphi = disc.phi[g.idx], disc.dphi[g.idx]
        r = g.r[:, None]
        p, q = phi @ cp, phi @ cq
        dp, dq = dphi @ cp, dphi @ cq
        V = -self.Z / g.r if U is None else U - self.Z / g.r
        V = V[:, None]
        c2 = c * c
        a1 = V * p + c * (-dq + (k - a) * q / r)
        a2 = c * (dp + (a + k) * p / r) + V * q
        wr = (g.w * g.r * g.r)[:, None]
        num = (wr * (a1 * (a1 + 2.0 * c2 * p) + a2 * (a2 - 2.0 * c2 * q))).sum(0)
        den = (wr * (p * p + q * q)).sum(0)
        mu_c2 = (num / den) / c2
        return mu_c2 / (1.0 + np.sqrt(1.0 + mu_c2 / c2))
