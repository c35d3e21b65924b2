r"""Kohn–Sham self-consistency for spherical atoms (LDA on the Schrödinger equation, RLDA on Dirac).

One SCF *step* maps the screening potential :math:`U_{in} = V_H + V_{xc}` (values at the quadrature
points) to the orbitals, the density and :math:`U_{out} = V_H[n] + V_{xc}[n]`; Anderson (Pulay) mixing
drives the residual :math:`U_{out} - U_{in}` to zero.

Energies are evaluated in the variational ("Harris–Foulkes", quadratically convergent) form of featom:

.. math:: T_s = \sum_i f_i\varepsilon_i - \int (V_{nuc} + U_{in})\, n\, d^3r, \qquad
          E = T_s + E_{en} + E_H + E_{xc},

:math:`E_{en} = -Z\int n/r\,d^3r`, :math:`E_H = \frac12\int V_H[n] n\,d^3r`,
:math:`E_{xc} = \int \varepsilon_{xc}(n) n\,d^3r`, with :math:`n` the output density.

Stopping rule. First-order perturbation theory gives the change of every occupied eigenvalue if the
output potential were used instead of the input one, :math:`\delta\varepsilon_i = \int n_i (U_{out} -
U_{in})`; since the Coulomb response screens, this bounds the distance of :math:`\varepsilon_i` from its
self-consistent value in practice. The SCF stops when :math:`\max_i|\delta\varepsilon_i|` and the change
of :math:`E` since the previous step are both below ``scf_tol``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._dirac import DiracOperator, kappa_beta
from ._fem import Discretization, PoissonSolver, SchrodingerOperator, basis_at
from ..linalg._quadrature import gauss_lobatto
from ._xc import lda_kernel

__all__ = ["KohnSham", "Anderson", "thomas_fermi_screening", "thomas_fermi_density", "dirac_alpha"]

FOUR_PI = 4.0 * np.pi


def dirac_alpha(kappa: int, Z: float, c: float) -> float:
    r"""Exponent of the factor :math:`r^\alpha` taken out of :math:`P, Q` for this :math:`\kappa`.

    :math:`\alpha = \beta_\kappa` for :math:`|\kappa| \le 2` (featom's choice) and
    :math:`\alpha = \beta_\kappa - (|\kappa| - 2)` beyond: the remaining :math:`r^{|\kappa| - 2}` is a
    polynomial factor the basis represents exactly, whereas the weight :math:`r^{2\beta}` with
    :math:`\beta` up to 7 makes the mass matrix numerically singular (measured: Cholesky fails at
    :math:`|\kappa| = 7`; at Z = 92 the error of the :math:`|\kappa| = 3` states grows to 4e-8 Ha).
    """
    return kappa_beta(kappa, Z, c) - max(0, abs(kappa) - 2)


def thomas_fermi_screening(r, Z):
    r"""Screening part :math:`U_0 = V_{TF} + Z/r` of the generalized Thomas–Fermi potential.

    :math:`V_{TF} = -Z_{eff}(r)/r` with :math:`Z_{eff} = Z(1 + a\sqrt x + b x e^{-g\sqrt x})^2 e^{-2a\sqrt x}`,
    :math:`x = r (128 Z / 9\pi^2)^{1/3}`, :math:`a = 0.7280642371`, :math:`b = -0.5430794693`,
    :math:`g = 0.3612163121` (Oulne, arXiv:physics/0511017; dftatom's initial potential).
    """
    x = r * (128.0 * Z / (9.0 * np.pi**2)) ** (1.0 / 3.0)
    sx = np.sqrt(x)
    a, b, g = 0.7280642371, -0.5430794693, 0.3612163121
    zeff = Z * (1 + a * sx + b * x * np.exp(-g * sx)) ** 2 * np.exp(-2 * a * sx)
    return (Z - zeff) / r


def thomas_fermi_density(r, Z):
    r"""Density of the generalized Thomas–Fermi start, :math:`n = (-2V_{TF})^{3/2} / (3\pi^2)`."""
    V = thomas_fermi_screening(r, Z) - Z / r
    return np.maximum(-2.0 * V, 0.0) ** 1.5 / (3.0 * np.pi**2)


@dataclasses.dataclass
class Orb:
    n: int
    l: int
    kappa: int | None
    occupation: float
    channel: int
    index: int  # position among the channel's computed states


class Channel:
    def __init__(self, key, l, kappa, grid_index, op, alpha):
        self.key, self.l, self.kappa = key, l, kappa
        self.grid_index, self.op, self.alpha = grid_index, op, alpha
        self.orbs: list[int] = []
        self.k = 0


class KohnSham:
    """The discretized Kohn–Sham problem of one atom: channels (l or kappa), grids, Poisson solver."""

    def __init__(self, Z, shells, *, relativistic, mesh, p, nq, c, q=None, graded=0, nq_graded=None):
        self.Z, self.relativistic, self.c = float(Z), bool(relativistic), float(c)
        self.p, self.nq = int(p), int(nq)
        Z = self.Z
        orbs = []
        if relativistic:
            for n, l, f in shells:
                if l > 0:
                    orbs.append((n, l, l, f * 2 * l / (4 * l + 2)))
                orbs.append((n, l, -(l + 1), f * (2 * l + 2) / (4 * l + 2) if l > 0 else f))
            kappas = sorted({o[2] for o in orbs}, key=lambda k: (abs(k) if k < 0 else k, k > 0))
            absk = sorted({abs(k) for k in kappas} | {1})
            alphas = {a: dirac_alpha(a, Z, c) for a in absk}
            self.disc = Discretization(mesh, p, nq, free_origin=True, gammas=[2 * alphas[a] - 2 for a in absk],
                                       graded=graded, nq_graded=nq_graded)
            keys = kappas
        else:
            for n, l, f in shells:
                orbs.append((n, l, None, f))
            self.disc = Discretization(mesh, p, nq)
            keys = sorted({o[1] for o in orbs})
        disc = self.disc
        self.poisson = PoissonSolver(disc, q if q is not None else 2 * p)
        self.channels = []
        sop = None if relativistic else SchrodingerOperator(disc)
        self.schrodinger = sop
        for key in keys:
            if relativistic:
                kappa = key
                l = kappa if kappa > 0 else -kappa - 1
                gi = absk.index(abs(kappa))
                alpha = alphas[abs(kappa)]
                op = DiracOperator(disc, disc.grids[gi], kappa, Z, c, alpha)
                self.channels.append(Channel(key, l, kappa, gi, op, alpha))
            else:
                self.channels.append(Channel(key, key, None, 0, sop, 0.0))
        index = {ch.key: i for i, ch in enumerate(self.channels)}
        self.orbs = []
        for n, l, kappa, f in sorted(orbs, key=lambda o: (o[0], o[1], -(o[2] or 0) if o[2] and o[2] > 0 else 0)):
            ci = index[kappa if relativistic else l]
            ch = self.channels[ci]
            pos = n - l - 1
            ch.k = max(ch.k, pos + 1)
            ch.orbs.append(len(self.orbs))
            self.orbs.append(Orb(n, l, kappa, f, ci, pos))
        # order orbitals as n, l, then j (j = l - 1/2 first)
        self.occ = np.array([o.occupation for o in self.orbs])
        self.points = disc.points
        self.nuc = -Z / self.points
        # per-channel factor r^alpha at the union points (Dirac)
        for ch in self.channels:
            ch.ralpha = self.points ** ch.alpha if relativistic else None
        g0 = disc.grids[0]
        self.xc_weight = (g0.w / g0.r**g0.gamma).ravel()  # plain dr weights on grid 0
        self.grid0_idx = g0.idx.ravel()
        # weights of the mixing inner product: 3-D volume element, on the union points
        wu = np.zeros(len(self.points))
        for g in disc.grids:
            wu[g.idx.ravel()] = (g.w / g.r**g.gamma).ravel()
        self.union_weight = wu
        self.mix_weight = wu * self.points**2

    # ------------------------------------------------------------------ one step
    def step(self, U, *, xc_relativistic=None):
        """Orbitals and output potential for the input screening potential ``U`` (union points)."""
        disc, Z = self.disc, self.Z
        rel = self.relativistic
        xrel = rel if xc_relativistic is None else xc_relativistic
        norb = len(self.orbs)
        eps = np.empty(norb)
        rho_orb = np.empty((norb, len(self.points)))  # 4 pi r^2 n_i, full, at union points
        gred = [None] * norb  # reduced density on own grid (Ne, nq): rho_i / r^gamma
        coefs = [None] * norb
        for ch in self.channels:
            g = disc.grids[ch.grid_index]
            Ug = U[g.idx]
            if rel:
                E, cp, cq, nb = ch.op.solve(Ug, ch.k)
                fp = disc.phi @ cp
                fq = disc.phi @ cq
                dens = (fp * fp + fq * fq)
                for oi in ch.orbs:
                    o = self.orbs[oi]
                    eps[oi] = E[o.index]
                    d = dens[:, o.index]
                    rho_orb[oi] = d * ch.ralpha**2
                    gred[oi] = d[g.idx] * g.r**2
                    coefs[oi] = (cp[:, o.index], cq[:, o.index])
            else:
                E, cu = ch.op.solve(Ug - Z / g.r, ch.l, ch.k)
                fu = disc.phi @ cu
                for oi in ch.orbs:
                    o = self.orbs[oi]
                    eps[oi] = E[o.index]
                    d = fu[:, o.index] ** 2
                    rho_orb[oi] = d
                    gred[oi] = d[g.idx]
                    coefs[oi] = (cu[:, o.index], None)
        occ = self.occ
        rho = occ @ rho_orb
        n = rho / (FOUR_PI * self.points**2)
        parts = [None] * len(disc.grids)
        for oi, o in enumerate(self.orbs):
            k = self.channels[o.channel].grid_index
            parts[k] = gred[oi] * occ[oi] if parts[k] is None else parts[k] + gred[oi] * occ[oi]
        VH, charge, xH = self.poisson.solve(parts)
        exc, vxc = lda_kernel(n, xrel, self.c)
        Uout = VH + vxc
        # energies
        sum_fe = float(occ @ eps)
        int_U = E_en = E_H = 0.0
        deps = np.empty(norb)
        dU = Uout - U
        for oi, o in enumerate(self.orbs):
            g = disc.grids[self.channels[o.channel].grid_index]
            wg = g.w * gred[oi]
            f = occ[oi]
            int_U += f * float((wg * U[g.idx]).sum())
            E_en -= f * Z * float((wg / g.r).sum())
            E_H += 0.5 * f * float((wg * VH[g.idx]).sum())
            deps[oi] = float((wg * dU[g.idx]).sum())
        i0 = self.grid0_idx
        E_xc = float((self.xc_weight * exc[i0] * rho[i0]).sum())
        T_s = sum_fe - E_en - int_U
        return Step(eps=eps, U=U, Uout=Uout, n=n, rho=rho, rho_orb=rho_orb, VH=VH, xH=xH, charge=charge,
                    T_s=T_s, E_en=E_en, E_H=E_H, E_xc=E_xc, E=T_s + E_en + E_H + E_xc, sum_fe=sum_fe,
                    deps=deps, coefs=coefs)

    # ------------------------------------------------------------ the wall at r_max
    def truncation_error(self, step):
        r"""Estimated error of every eigenvalue, and of the total energy, caused by the wall at :math:`r_{\max}`.

        On :math:`[0, R]` with :math:`u(R) = 0` an eigenvalue moves as :math:`d\varepsilon/dR = -\frac12
        u'(R)^2` (Hadamard's formula; :math:`u` normalized). Beyond the outermost node :math:`u'` decays
        like :math:`e^{-\kappa R}`, :math:`\kappa = \sqrt{-2\varepsilon}`, so
        :math:`\varepsilon(R) - \varepsilon(\infty) \approx u'(R)^2 / (4\kappa)`; the total energy
        moves by :math:`\sum_i f_i\, d\varepsilon_i/dR` (Hellmann–Feynman: the orbitals are stationary),
        estimated by :math:`\sum_i f_i u_i'(R)^2 / (4\kappa_i)`. Dirac uses :math:`P'(R)^2 + Q'(R)^2`
        (the tail is nonrelativistic). An orbital with :math:`\varepsilon \ge 0` is held only by the
        wall: its estimate is inf.

        Returns ``(per_orbital, total)``.
        """
        disc = self.disc
        R = float(disc.mesh[-1])
        d2 = np.empty(len(self.orbs))
        for i, o in enumerate(self.orbs):
            cu, cq = step.coefs[i]
            du = float(disc.outer_derivative(cu))
            if cq is None:
                d2[i] = du * du
            else:
                ra = R ** self.channels[o.channel].alpha
                dq = float(disc.outer_derivative(cq))
                d2[i] = (du * ra) ** 2 + (dq * ra) ** 2
        bound = step.eps < 0.0
        kappa = np.sqrt(np.where(bound, -2.0 * step.eps, 1.0))
        est = np.where(bound, d2 / (4.0 * kappa), np.inf)
        return est, float(self.occ @ est)

    def unresolved(self, step):
        """Per orbital, :meth:`Discretization.unresolved` of its radial function (Dirac: the worse of p and q,
        both relative to the larger of the two, so that the tiny q of a large c is not judged on its noise)."""
        out = np.empty(len(self.orbs))
        for i in range(len(self.orbs)):
            cu, cq = step.coefs[i]
            if cq is None:
                out[i] = self.disc.unresolved(cu)[0]
            else:
                scale = max(np.abs(cu).max(), np.abs(cq).max())
                out[i] = max(self.disc.unresolved(cu, scale)[0], self.disc.unresolved(cq, scale)[0])
        return out

    # --------------------------------------------------------- evaluation elsewhere
    def screening_at(self, step, points, *, relativistic_xc=None):
        """The *output* screening potential of ``step`` evaluated at arbitrary ``points`` (used to start
        RLDA from a converged LDA potential, or a larger mesh from a smaller one): V_H from its
        finite-element coefficients, V_xc from the orbitals evaluated at ``points``. Beyond this mesh's
        r_max there is no density: V_H = N / r and V_xc = 0."""
        disc = self.disc
        out = np.empty(len(points))
        inside = points <= disc.mesh[-1]
        out[~inside] = step.charge / points[~inside]
        pts = points[inside]
        xg, _ = gauss_lobatto(self.poisson.q + 1)
        VH = basis_at(disc.mesh, xg, pts, 0, self.poisson.nn) @ step.xH / pts
        Phi = basis_at(disc.mesh, disc.gll_x, pts, disc.first, disc.nb)
        rho = np.zeros(len(pts))
        for oi, o in enumerate(self.orbs):
            cu, cq = step.coefs[oi]
            v = Phi @ cu
            d = v * v
            if cq is not None:
                w = Phi @ cq
                d = (d + w * w) * pts ** (2 * self.channels[o.channel].alpha)
            rho += self.occ[oi] * d
        rel = self.relativistic if relativistic_xc is None else relativistic_xc
        _, vxc = lda_kernel(rho / (FOUR_PI * pts**2), rel, self.c)
        out[inside] = VH + vxc
        return out


@dataclasses.dataclass
class Step:
    eps: np.ndarray
    U: np.ndarray
    Uout: np.ndarray
    n: np.ndarray
    rho: np.ndarray
    rho_orb: np.ndarray
    VH: np.ndarray
    xH: np.ndarray
    charge: float
    T_s: float
    E_en: float
    E_H: float
    E_xc: float
    E: float
    sum_fe: float
    deps: np.ndarray
    coefs: list


class Anderson:
    r"""Anderson (Pulay/DIIS) mixing of a fixed-point map :math:`x \mapsto g(x)` with residual
    :math:`f = g(x) - x`:

    .. math:: \gamma = \arg\min_\gamma \|f_k - \Delta F\gamma\|_W, \qquad
              x_{k+1} = x_k + \alpha f_k - (\Delta X + \alpha\Delta F)\gamma,

    with the last ``history`` differences :math:`\Delta X, \Delta F` and the weighted norm ``W``.

    Safeguards (numopt's addition; featom's fixed Pulay parameters fail for Dy–Tm): when the residual
    grows by more than a factor ``restart`` over the best one seen, the history is cleared; when the best
    residual has not improved by 1 % for ``patience`` steps (a limit cycle, as when an open 4f shell
    unbinds and rebinds on alternate iterations), :math:`\alpha` is halved (down to ``min_alpha``) and
    the history cleared.
    """

    #: Steps without a 1 % improvement of the best residual before alpha is halved.
    PATIENCE = 8

    def __init__(self, weight, alpha=0.5, history=5, restart=10.0, patience=None, min_alpha=0.05):
        self.sw = np.sqrt(weight)
        self.alpha, self.history, self.restart = float(alpha), int(history), float(restart)
        self.patience = int(self.PATIENCE if patience is None else patience)
        self.min_alpha = float(min_alpha)
        self.xs, self.fs = [], []
        self.best = np.inf
        self.stall = 0

    def next(self, x, f):
        nf = float(np.linalg.norm(self.sw * f))
        if nf > self.restart * self.best:
            self.xs, self.fs = [], []
        if nf < 0.99 * self.best:
            self.best, self.stall = nf, 0
        else:
            self.stall += 1
            if self.stall >= self.patience and self.alpha > self.min_alpha:
                self.alpha = max(self.min_alpha, 0.5 * self.alpha)
                self.xs, self.fs = [], []
                self.stall = 0
        self.xs.append(x.copy())
        self.fs.append(f.copy())
        if len(self.xs) > self.history + 1:
            self.xs.pop(0)
            self.fs.pop(0)
        a = self.alpha
        if len(self.xs) == 1 or self.history == 0:
            return x + a * f
        dX = np.array([self.xs[i + 1] - self.xs[i] for i in range(len(self.xs) - 1)]).T
        dF = np.array([self.fs[i + 1] - self.fs[i] for i in range(len(self.fs) - 1)]).T
        gamma = np.linalg.lstsq(dF * self.sw[:, None], f * self.sw, rcond=1e-12)[0]
        return x + a * f - (dX + a * dF) @ gamma
