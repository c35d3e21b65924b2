r"""Spectral elements on a radial mesh: basis tables, quadrature grids, assembly, radial Schrödinger
operator and the finite-element Poisson (Hartree) solver.

Discretization (featom, Čertík et al. 2024, §3)
----------------------------------------------
Each element :math:`[r_{e}, r_{e+1}]` carries the Lagrange polynomials of degree ``p`` on the ``p + 1``
Gauss–Lobatto–Legendre (GLL) nodes; neighbouring elements share their end node (:math:`C^0`). The
Schrödinger unknown :math:`u = rR` vanishes at both ends (``Ne p - 1`` DOFs); the Dirac unknowns
:math:`p, q` (:math:`P = r^\beta p`) are free at ``r = 0`` and vanish at ``r_max`` (``Ne p`` DOFs each).

Quadrature grids. A *grid* integrates :math:`\int_0^{r_{\max}} g(r)\, r^{\gamma} dr` for one exponent
:math:`\gamma` with ``nq`` points per element: Gauss–Jacobi with weight :math:`(1+\xi)^{\gamma}` on the
first element, Gauss–Legendre (weights times :math:`r^\gamma`) on the others. Schrödinger uses one grid
with :math:`\gamma = 0`; Dirac one grid per distinct :math:`|\kappa|` with
:math:`\gamma = 2\beta_\kappa - 2`, so that every matrix element whose only non-polynomial factor is
:math:`r^{2\beta - 2}` is integrated exactly. The *points* of all grids together are where the SCF
potential and density live.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..linalg._quadrature import gauss_jacobi, gauss_legendre, gauss_lobatto, lagrange_basis

__all__ = ["Discretization", "SchrodingerOperator", "PoissonSolver"]


class Grid:
    """Quadrature for :math:`\\int g(r) r^{\\gamma} dr` (flat arrays over all elements): points ``r``,
    weights ``w``, basis values ``B`` and physical derivatives ``D`` of shape (npts, p + 1), the element
    of each point ``elem``, per-element slices ``slices`` and ``idx`` into the union of points."""

    def __init__(self, gamma, r, w, B, D, counts):
        self.gamma = gamma
        self.r, self.w, self.B, self.D = r, w, B, D
        off = np.concatenate(([0], np.cumsum(counts)))
        self.slices = [slice(int(off[e]), int(off[e + 1])) for e in range(len(counts))]
        self.idx = None


class Discretization:
    """Mesh, polynomial order, DOF layout and quadrature grids.

    Parameters
    ----------
    mesh : ndarray
        Element boundaries, ``mesh[0] = 0``.
    p : int
        Polynomial degree.
    nq : int
        Gauss points per element.
    free_origin : bool
        False: Dirichlet at r = 0 and r_max (Schrödinger); True: natural at 0, Dirichlet at r_max (Dirac).
    gammas : sequence of float
        Weight exponents of the grids (``[0.0]`` for Schrödinger).
    graded : int
        Number of geometric refinement levels of the quadrature (not of the basis) on the first element:
        ``0`` is one Gauss rule; ``m > 0`` splits ``[0, h]`` at ``h sigma^j`` (``sigma = 0.15``,
        ``j = 1..m``), Gauss–Jacobi on the innermost piece and Gauss–Legendre on the others. The Dirac
        densities and potentials carry weak singularities :math:`r^{s}` beyond the weight
        :math:`r^{2\\beta-2}` (e.g. :math:`V_{xc} \\propto n^{1/3}`), which a single rule integrates only
        algebraically; the graded rule converges geometrically.
    """

    SIGMA = 0.15

    def __init__(self, mesh, p, nq, *, free_origin=False, gammas=(0.0,), graded=0, nq_graded=None):
        self.mesh = np.asarray(mesh, dtype=np.float64)
        self.p, self.nq = int(p), int(nq)
        self.graded = int(graded)
        self.nq_graded = int(nq_graded) if nq_graded else self.nq
        self.ne = len(self.mesh) - 1
        self.h = np.diff(self.mesh)
        self.nnodes = self.ne * self.p + 1
        self.free_origin = free_origin
        self.first = 0 if free_origin else 1  # first free global node
        self.nb = self.nnodes - 1 - self.first  # DOFs (the last node is always Dirichlet)
        xg, wg = gauss_lobatto(self.p + 1)
        self.gll_x, self.gll_w = xg, wg
        nodes = np.empty(self.nnodes)
        for e in range(self.ne):
            nodes[e * self.p:(e + 1) * self.p + 1] = self.mesh[e] + (xg + 1) * self.h[e] / 2
        self.nodes = nodes
        # lumped (GLL) mass: diagonal in the nodes
        lumped = np.zeros(self.nnodes)
        for e in range(self.ne):
            lumped[e * self.p:(e + 1) * self.p + 1] += wg * self.h[e] / 2
        self.lumped_mass = lumped[self.first:self.nnodes - 1]
        self.grids = [self._grid(float(g)) for g in gammas]
        self._union()
        self._legendre_inverse = None

    # ------------------------------------------------------------------ grids
    def _first_element_rule(self, gamma):
        """Points and weights of :math:`\\int_0^h g(r) r^\\gamma dr` on the first element."""
        h, nq = self.h[0], self.nq
        if self.graded == 0:
            if gamma == 0.0:
                x, w = gauss_legendre(nq)
                r = (x + 1) * h / 2
                return r, w * h / 2
            x, w = gauss_jacobi(nq, gamma)
            return (x + 1) * h / 2, w * (h / 2) ** (gamma + 1)
        m, ng = self.graded, self.nq_graded
        cuts = h * self.SIGMA ** np.arange(m, -1, -1.0)  # h s^m < ... < h
        rs, ws = [], []
        if gamma == 0.0:
            x, w = gauss_legendre(ng)
            rs.append((x + 1) * cuts[0] / 2)
            ws.append(w * cuts[0] / 2)
        else:
            x, w = gauss_jacobi(ng, gamma)
            rs.append((x + 1) * cuts[0] / 2)
            ws.append(w * (cuts[0] / 2) ** (gamma + 1))
        xl, wl = gauss_legendre(ng)
        for a, b in zip(cuts[:-1], cuts[1:]):
            r = a + (xl + 1) * (b - a) / 2
            rs.append(r)
            ws.append(wl * (b - a) / 2 * r**gamma)
        return np.concatenate(rs), np.concatenate(ws)

    def _grid(self, gamma):
        ne, nq = self.ne, self.nq
        xl, wl = gauss_legendre(nq)
        rs, ws, counts = [], [], []
        r1, w1 = self._first_element_rule(gamma)
        rs.append(r1)
        ws.append(w1)
        counts.append(len(r1))
        for e in range(1, ne):
            h = self.h[e]
            r = self.mesh[e] + (xl + 1) * h / 2
            rs.append(r)
            ws.append(wl * (h / 2) * r**gamma)
            counts.append(nq)
        B, D = [], []
        for e in range(ne):
            Be, De = lagrange_basis(self.gll_x, 2 * (rs[e] - self.mesh[e]) / self.h[e] - 1)
            B.append(Be)
            D.append(De * (2 / self.h[e]))
        return Grid(gamma, np.concatenate(rs), np.concatenate(ws), np.concatenate(B), np.concatenate(D), counts)

    def _union(self):
        """All grid points: the first-element points of every grid, then the shared points of elements
        2..Ne (identical for every grid); ``grid.idx`` maps each grid into this union."""
        firsts = [g.r[g.slices[0]] for g in self.grids]
        g0 = self.grids[0]
        common = g0.r[g0.slices[0].stop:]
        self.points = np.concatenate(firsts + [common])
        off = 0
        nfirst = sum(len(f) for f in firsts)
        for g, f in zip(self.grids, firsts):
            g.idx = np.concatenate((off + np.arange(len(f)), nfirst + np.arange(len(common))))
            off += len(f)
        # basis values of every DOF at every union point (dense; the mesh has a few hundred points)
        self.phi = np.zeros((len(self.points), self.nb))
        self.dphi = np.zeros((len(self.points), self.nb))
        for g in self.grids:
            for e, sl in enumerate(g.slices):
                cols = np.arange(e * self.p, (e + 1) * self.p + 1) - self.first
                keep = (cols >= 0) & (cols < self.nb)
                self.phi[np.ix_(g.idx[sl], cols[keep])] = g.B[sl][:, keep]
                self.dphi[np.ix_(g.idx[sl], cols[keep])] = g.D[sl][:, keep]

    def outer_derivative(self, coef):
        r"""Derivative at :math:`r_{\max}` of the finite-element functions with DOF coefficients ``coef``
        (shape (nb,) or (nb, k)): the last element's basis differentiated at its right end."""
        p = self.p
        _, D = lagrange_basis(self.gll_x, np.array([1.0]))
        cols = np.arange((self.ne - 1) * p, self.ne * p + 1) - self.first
        keep = (cols >= 0) & (cols < self.nb)
        return (2.0 / self.h[-1]) * (D[0, keep] @ coef[cols[keep]])

    def unresolved(self, coef, scale=None):
        """How badly the finite-element functions with DOF coefficients ``coef`` (nb, k) are resolved: the
        largest magnitude of the two highest Legendre modes on any element, relative to ``scale`` (default:
        the function's largest nodal value; about 1e-10..3e-5 for the calibrated meshes, 0.2 for H on one
        element [0, 1000]). Returns one number per column."""
        p = self.p
        coef = np.asarray(coef).reshape(self.nb, -1)  # a vector is one column
        full = np.zeros((self.nnodes, coef.shape[1]))
        full[self.first:self.first + self.nb] = coef
        if self._legendre_inverse is None:
            self._legendre_inverse = np.linalg.inv(np.polynomial.legendre.legvander(self.gll_x, p))
        # per element: nodal values (Ne, p + 1, k) -> Legendre coefficients
        idx = np.arange(self.ne)[:, None] * p + np.arange(p + 1)[None, :]
        modes = np.einsum("ij,ejk->eik", self._legendre_inverse[-2:], full[idx])
        if scale is None:
            scale = np.abs(full).max(axis=0)
        return np.abs(modes).max(axis=(0, 1)) / np.maximum(scale, 1e-300)

    # --------------------------------------------------------------- assembly
    def assemble(self, local):
        """Sum element matrices ``local`` (Ne, p + 1, p + 1) into the (nb, nb) matrix on the free DOFs."""
        p = self.p
        full = np.zeros((self.nnodes, self.nnodes))
        for e in range(self.ne):
            full[e * p:(e + 1) * p + 1, e * p:(e + 1) * p + 1] += local[e]
        return full[self.first:self.nnodes - 1, self.first:self.nnodes - 1]

    def _local(self, X, Y, wf, grid):
        out = np.empty((self.ne, self.p + 1, self.p + 1))
        for e, sl in enumerate(grid.slices):
            out[e] = X[sl].T @ (Y[sl] * wf[sl, None])
        return out

    def mass_like(self, grid, f):
        """:math:`\\int f B_i B_j r^{\\gamma} dr` with ``f`` given at the grid points."""
        return self.assemble(self._local(grid.B, grid.B, grid.w * f, grid))

    def stiffness_like(self, grid, f):
        """:math:`\\int f B_i' B_j' r^{\\gamma} dr`."""
        return self.assemble(self._local(grid.D, grid.D, grid.w * f, grid))

    def skew_like(self, grid, f):
        """:math:`\\int f (B_i' B_j - B_i B_j') r^{\\gamma} dr` (antisymmetric)."""
        X = self._local(grid.D, grid.B, grid.w * f, grid)
        return self.assemble(X - X.transpose(0, 2, 1))


class SchrodingerOperator:
    r"""Radial Schrödinger operator on :math:`u = rR`, :math:`u(0) = u(r_{\max}) = 0`:

    .. math:: \int_0^{r_{\max}} \tfrac12 u' v' + \Big(\frac{l(l+1)}{2r^2} + V\Big) u v \, dr
              = \varepsilon \int_0^{r_{\max}} u v \, dr .

    The right-hand side uses the GLL-lumped (diagonal) mass :math:`S`, so each solve is the standard
    symmetric eigenproblem :math:`S^{-1/2} H S^{-1/2} y = \varepsilon y`, of which only the lowest
    ``k`` pairs are computed (LAPACK ``?syevr`` with an index range). Eigenvectors are then normalized
    with the consistent quadrature, :math:`\int u^2 dr = 1`, so that densities integrate to the
    occupation numbers exactly.
    """

    def __init__(self, disc: Discretization):
        self.disc = disc
        g = disc.grids[0]
        self.grid = g
        r = g.r
        self.K = disc.stiffness_like(g, np.full_like(r, 0.5))
        self.C = disc.mass_like(g, 0.5 / r**2)   # times l(l+1)
        self.s = 1.0 / np.sqrt(disc.lumped_mass)
        self.ss = np.outer(self.s, self.s)

    def solve(self, V, l, k):
        """Lowest ``k`` eigenpairs for angular momentum ``l`` in the potential ``V`` (values at the grid
        points, the nuclear attraction included).

        Returns ``(eps, coef)``: eigenvalues (k,) and DOF coefficients (nb, k) with ∫u² dr = 1.

        The eigenvalues are the Rayleigh quotients of the computed vectors,
        :math:`\\varepsilon = \\int [\\frac12 u'^2 + (\\frac{l(l+1)}{2r^2} + V) u^2] dr / c^T S c`, evaluated
        at the quadrature points rather than taken from the eigensolver: they are the same Galerkin
        eigenvalues, but the eigensolver's error :math:`\\epsilon \\|S^{-1/2}HS^{-1/2}\\| \\sim \\epsilon
        p^4/h_1^2` (1e-8 Ha for p = 34 on a first element of 0.11) becomes quadratic in the eigenvector
        error this way.
        """
        disc, g = self.disc, self.grid
        H = self.K + l * (l + 1) * self.C + disc.mass_like(g, V)
        H *= self.ss
        _, y = sla.eigh(H, subset_by_index=[0, k - 1], driver="evr", overwrite_a=True, check_finite=False)
        if y.shape[1] < k:  # LAPACK returns fewer pairs when H holds NaN/inf: report NaN, the SCF stops
            y = np.full((H.shape[0], k), np.nan)
        coef = y * self.s[:, None]
        u = disc.phi[g.idx] @ coef
        du = disc.dphi[g.idx] @ coef
        w = g.w[:, None]
        num = (w * (0.5 * du * du + (l * (l + 1) / (2 * g.r * g.r) + V)[:, None] * u * u)).sum(0)
        eps = num / (disc.lumped_mass @ (coef * coef))
        norm = (w * u * u).sum(0)
        return eps, coef / np.sqrt(norm)


class PoissonSolver:
    r"""Hartree potential of a spherical charge by finite elements of degree ``q`` on the same elements.

    With :math:`\rho(r) = 4\pi r^2 n(r)` and :math:`y = r V_H`, the radial Poisson equation is
    :math:`-y'' = \rho / r`, :math:`y(0) = 0`, :math:`y(r_{\max}) = N = \int_0^{r_{\max}}\rho\,dr`
    (no charge outside the domain), in weak form

    .. math:: \int_0^{r_{\max}} y' v' \, dr = \int_0^{r_{\max}} \frac{\rho}{r}\, v\, dr .

    (The equivalent :math:`r^2`-weighted form for :math:`V_H` itself has a nearly free node at the
    origin and a badly conditioned matrix at high degree.) The stiffness matrix is factored once
    (Cholesky); each SCF step costs two triangular solves. The right-hand side is integrated on the
    SCF grids, so it needs :math:`\rho` only at their points; :math:`V_H = y / r` at the points.
    """

    def __init__(self, disc: Discretization, q: int):
        self.disc = disc
        self.q = int(q)
        mesh, ne = disc.mesh, disc.ne
        xg, _ = gauss_lobatto(self.q + 1)
        self.nn = ne * self.q + 1
        _, Dn = lagrange_basis(xg, xg)
        # exact stiffness of the GLL Lagrange basis: D^T diag(w_gll) D is exact (degree 2q - 2)
        _, wgll = gauss_lobatto(self.q + 1)
        A = np.zeros((self.nn, self.nn))
        for e in range(ne):
            h = disc.h[e]
            sl = slice(e * self.q, (e + 1) * self.q + 1)
            A[sl, sl] += (Dn.T * wgll) @ Dn * (2 / h)
        self.A_last = A[1:-1, -1].copy()
        self.cho = sla.cho_factor(A[1:-1, 1:-1], lower=False, check_finite=False)
        # basis of degree q at every grid's points (flat, per element) and at the union of points
        self.tables = []
        self.phi = np.zeros((len(disc.points), self.nn))
        for g in disc.grids:
            T = np.empty((len(g.r), self.q + 1))
            for e, sl in enumerate(g.slices):
                xi = 2 * (g.r[sl] - mesh[e]) / disc.h[e] - 1
                T[sl] = lagrange_basis(xg, xi)[0]
                self.phi[np.ix_(g.idx[sl], np.arange(e * self.q, (e + 1) * self.q + 1))] = T[sl]
            self.tables.append(T)
        self.inv_points = 1.0 / disc.points

    def solve(self, rho_parts):
        """``rho_parts[k]``: :math:`\\rho / r^{\\gamma_k}` at the points of grid ``k`` (the charge of
        the orbitals integrated on that grid), or None. Returns (V_H at the union points, total charge N,
        the nodal coefficients of y = r V_H)."""
        disc = self.disc
        b = np.zeros(self.nn)
        charge = 0.0
        for g, T, rho in zip(disc.grids, self.tables, rho_parts):
            if rho is None:
                continue
            wr = g.w * rho
            charge += wr.sum()
            wr = wr / g.r
            for e, sl in enumerate(g.slices):
                b[e * self.q:(e + 1) * self.q + 1] += wr[sl] @ T[sl]
        x = np.zeros(self.nn)
        x[-1] = charge
        x[1:-1] = sla.cho_solve(self.cho, b[1:-1] - self.A_last * charge, check_finite=False)
        return (self.phi @ x) * self.inv_points, charge, x


def basis_at(mesh, nodes_ref, points, first, ndof):
    """Dense matrix of the global C0 Lagrange basis (reference nodes ``nodes_ref``) at ``points``:
    columns are the global nodes ``first .. first + ndof - 1``."""
    mesh = np.asarray(mesh)
    p = len(nodes_ref) - 1
    ne = len(mesh) - 1
    e = np.clip(np.searchsorted(mesh, points, side="right") - 1, 0, ne - 1)
    out = np.zeros((len(points), ndof))
    for k in np.unique(e):
        sel = np.flatnonzero(e == k)
        h = mesh[k + 1] - mesh[k]
        B, _ = lagrange_basis(nodes_ref, 2 * (points[sel] - mesh[k]) / h - 1)
        cols = np.arange(k * p, (k + 1) * p + 1) - first
        keep = (cols >= 0) & (cols < ndof)
        out[np.ix_(sel, cols[keep])] = B[:, keep]
    return out
