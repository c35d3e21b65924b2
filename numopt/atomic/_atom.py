r"""Public solvers: :func:`hydrogen_like` and :func:`solve_atom` (featom, Čertík et al., CPC 2024)."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import NamedTuple

import numpy as np

from .._blas import single_blas_thread
from .._result import IterationPrinter, Result, Status, call_callback, finish
from .._validation import check_bool, check_callable, check_int, check_scalar, fail
from ._config import SYMBOLS, configuration, parse_shell, shell_label
from ._dirac import DiracOperator
from ._fem import Discretization, SchrodingerOperator
from ._mesh import check_mesh, exponential_mesh, extend_mesh
from ._scf import Anderson, KohnSham, dirac_alpha, thomas_fermi_density, thomas_fermi_screening
from ._xc import C_NIST

__all__ = ["Orbital", "AtomResult", "HydrogenLikeResult", "hydrogen_like", "solve_atom", "choose_parameters"]


# ----------------------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class Orbital:
    """One computed orbital.

    Attributes
    ----------
    n, l : int
        Principal and orbital quantum numbers.
    j : float or None
        Total angular momentum ``l ± 1/2`` (Dirac), None for Schrödinger.
    kappa : int or None
        Dirac quantum number (``-(l+1)`` for ``j = l + 1/2``, ``l`` for ``j = l - 1/2``), None for Schrödinger.
    occupation : float or None
        Number of electrons in the orbital (None for :func:`hydrogen_like`).
    energy : float
        Eigenvalue in Hartree (Dirac: the rest mass ``c**2`` excluded).
    """

    n: int
    l: int
    j: float | None
    kappa: int | None
    occupation: float | None
    energy: float

    @property
    def label(self) -> str:
        """``"2p"`` or ``"2p3/2"``."""
        base = shell_label(self.n, self.l)
        if self.j is None or self.l == 0:
            return base
        return f"{base}{int(round(2 * self.j))}/2"


@dataclasses.dataclass(kw_only=True, repr=False)
class HydrogenLikeResult(Result):
    """Result of :func:`hydrogen_like`.

    Attributes
    ----------
    x : ndarray
        The eigenvalues, in the order of ``orbitals``.
    orbitals : tuple of Orbital
        Sorted by ``n``, ``l``, then ``j``.
    r, weights : ndarray
        Quadrature points and weights (``sum(weights * f(r))`` approximates the integral over
        ``[0, r_max]``) where the radial functions are given.
    P, Q : ndarray of shape (len(orbitals), len(r))
        Radial functions: ``P = r R`` (Schrödinger) or the large component; ``Q`` the small component
        (None for Schrödinger). Normalized, ``sum(weights * (P**2 + Q**2)) = 1``.
    Z, relativistic, c, mesh, order
        The problem and the discretization used.
    """

    Z: float
    relativistic: bool
    c: float
    orbitals: tuple
    r: np.ndarray
    weights: np.ndarray
    P: np.ndarray
    Q: np.ndarray | None
    mesh: np.ndarray
    order: int


@dataclasses.dataclass(kw_only=True, repr=False)
class AtomResult(Result):
    """Result of :func:`solve_atom` (energies in Hartree).

    Attributes
    ----------
    x : ndarray
        The self-consistent electron density ``n(r)`` at ``r`` (same as ``density``).
    total_energy : float
        :math:`E = T_s + E_H + E_{en} + E_{xc}`.
    kinetic_energy, hartree_energy, nuclear_energy, xc_energy : float
        :math:`T_s` (Dirac: including the relativistic kinetic energy), :math:`E_H`, the
        electron–nucleus energy :math:`E_{en}` and :math:`E_{xc}`.
    orbitals : tuple of Orbital
        Occupied orbitals with occupations and eigenvalues, sorted by ``n``, ``l``, ``j``.
    r, weights : ndarray
        Quadrature points and weights for :math:`\\int_0^{r_{\\max}} \\cdot\\,dr`.
    density : ndarray
        Electron density ``n(r)``; :math:`\\int 4\\pi r^2 n\\,dr = Z`.
    P, Q : ndarray of shape (len(orbitals), len(r))
        Normalized radial functions (``Q`` None for Schrödinger).
    virial : float
        Residual of the LDA virial identity
        :math:`-T_s - 2E_{en} - 5E_H + 3\\sum_i f_i\\varepsilon_i - 3E_{xc}` (exactly zero for the
        nonrelativistic Kohn–Sham LDA solution; not zero for Dirac).
    eigenvalue_change : float
        Final :math:`\\max_i |\\int n_i (U_{out} - U_{in})|` (SCF self-consistency of the eigenvalues).
    truncation_error : float
        Estimated change of the total energy had the domain no wall at ``r_max``:
        :math:`\\sum_i f_i u_i'(r_{\\max})^2 / (4\\kappa_i)` (see :meth:`KohnSham.truncation_error`; inf when an
        occupied orbital is held only by the wall). At most ``tol / 4`` when ``success``.
    history : dict of ndarray
        Per SCF iteration (over every mesh tried): ``energy``, ``eigenvalue_change``, ``energy_change`` and
        ``alpha``, the Anderson mixing parameter used (it drops when the safeguard halves it).
    Z, relativistic, c, tol, scf_tol, mesh, order
        The problem, the requested accuracy and the discretization used (``mesh`` as grown).
    """

    Z: float
    relativistic: bool
    c: float
    total_energy: float
    kinetic_energy: float
    hartree_energy: float
    nuclear_energy: float
    xc_energy: float
    orbitals: tuple
    r: np.ndarray
    weights: np.ndarray
    density: np.ndarray
    P: np.ndarray
    Q: np.ndarray | None
    virial: float
    eigenvalue_change: float
    truncation_error: float
    history: dict
    tol: float
    scf_tol: float
    mesh: np.ndarray
    order: int


# ----------------------------------------------------------------------------- parameter choice
#: (tol upper bound, n_elements, order, r_max, ratio a) for the Schrödinger (LDA) mesh. The finest level
#: uses p = 28, not featom's 26: with p = 26 the LDA virial residual of the actinides reached 1.03e-7
#: (Z = 91; 8e-8 for U), with 28 it is at most 5e-8, for the same CPU time within noise.
_LDA_LEVELS = (
    (1e-5, 4, 18, 35.0, 200.0),
    (1e-6, 4, 24, 50.0, 200.0),
    (0.0, 4, 28, 50.0, 200.0),
)
#: (tol upper bound, n_elements, order, r_max, ratio a, first element r0) for the Dirac (RLDA) mesh.
_RLDA_LEVELS = (
    (1e-6, 5, 20, 30.0, 200.0, 0.01),
    (1e-7, 5, 22, 30.0, 200.0, 0.005),
    (0.0, 5, 23, 30.0, 250.0, 0.004),
)
#: Accuracy floors (Hartree): below them rounding, not the discretization, limits the result.
LDA_FLOOR = 1e-10
RLDA_FLOOR = 2e-9


def choose_parameters(tol: float, relativistic: bool) -> dict:
    """Mesh, order and quadrature used by :func:`solve_atom` for the accuracy ``tol`` (Hartree).

    The levels were calibrated on the reference energies of the 11 atoms H, He, Be, N, Ne, Ar, Cu, Kr, Xe,
    Rn, U (the heaviest atoms need the finest meshes): the largest errors in total energy / eigenvalues
    were, LDA: 6e-7 / 5e-7 (tol >= 1e-5), 5e-8 / 3e-8 (tol >= 1e-6), 4e-9 / 1.1e-9 (finer); RLDA:
    1e-7 / 1e-8 (tol >= 1e-6), 9e-9 / 5e-9 (tol >= 1e-7), 4e-9 / 4e-9 (finer). The SCF tolerance is
    ``tol / 10`` on eigenvalues and total energy, floored at :data:`LDA_FLOOR` / :data:`RLDA_FLOOR`
    (the rounding noise of the eigenvectors; below it the SCF would not terminate).

    >>> sorted(choose_parameters(1e-8, False))
    ['graded', 'mesh', 'nq', 'order', 'scf_tol']
    """
    if relativistic:
        for bound, ne, p, rmax, a, r0 in _RLDA_LEVELS:
            if tol >= bound:
                break
        mesh = exponential_mesh(rmax, a, ne, r0=r0)
        return dict(mesh=mesh, order=p, nq=_nq(p, True), graded=4, scf_tol=max(tol / 10, RLDA_FLOOR))
    for bound, ne, p, rmax, a in _LDA_LEVELS:
        if tol >= bound:
            break
    return dict(mesh=exponential_mesh(rmax, a, ne), order=p, nq=_nq(p, False), graded=0,
                scf_tol=max(tol / 10, LDA_FLOOR))


def _nq(p: int, relativistic: bool) -> int:
    """Quadrature points per element: ``2p + 1`` (Schrödinger, featom's 53 for p = 26) or ``2.5p``
    (Dirac, whose integrands carry non-polynomial factors)."""
    return 2 * p + 1 if not relativistic else int(math.ceil(2.5 * p))


# -------------------------------------------------------------------------------------- validation
def _check_Z(Z, func, *, explicit_occupations):
    if isinstance(Z, str):
        sym = Z.strip().capitalize()
        if sym not in SYMBOLS:
            raise fail(func, "Z", "be an atomic number 1..92 or an element symbol H..U", repr(Z))
        return float(SYMBOLS.index(sym) + 1)
    if explicit_occupations:
        return check_scalar(Z, "Z", func, low=0.0, low_inclusive=False)
    if isinstance(Z, bool) or not isinstance(Z, (numbers.Integral, np.integer)):
        if isinstance(Z, (numbers.Real, np.floating)) and not isinstance(Z, bool):
            raise fail(func, "Z", "be an integer in 1..92 (or give `occupations`)", repr(Z))
        raise fail(func, "Z", "be an integer in 1..92 or an element symbol", repr(Z), error=TypeError)
    if not 1 <= int(Z) <= 92:
        raise fail(func, "Z", "be an integer in 1..92 (or give `occupations`)", repr(Z))
    return float(Z)


def _check_occupations(occupations, Z, func):
    """Normalize to a sorted list of (n, l, f)."""
    items = []
    if isinstance(occupations, dict):
        pairs = occupations.items()
    else:
        try:
            pairs = [((t[0], t[1]), t[2]) for t in occupations]
        except (TypeError, IndexError, KeyError):
            raise fail(func, "occupations", "be a dict {'1s': 2, ...} or {(n, l): f} or a list of (n, l, f)",
                       repr(occupations)[:60], error=TypeError) from None
    for key, f in pairs:
        shell = parse_shell(key) if isinstance(key, str) else None
        if not isinstance(key, str):
            try:
                n, l = key
                if isinstance(n, bool) or isinstance(l, bool):
                    raise TypeError
                n, l = int(n), int(l)
                if n != key[0] or l != key[1] or n < 1 or not 0 <= l < n:
                    raise ValueError
                shell = (n, l)
            except (TypeError, ValueError):
                shell = None
        if shell is None:
            raise fail(func, "occupations", "name shells as '4f' or (n, l) with 0 <= l < n", repr(key))
        if isinstance(f, bool) or not isinstance(f, (numbers.Real, np.floating, np.integer)) or not np.isfinite(f):
            raise fail(func, "occupations", "hold finite real occupation numbers",
                       f"{shell_label(*shell)}: {f!r}")
        cap = 2 * (2 * shell[1] + 1)
        if not 0 <= f <= cap:
            raise fail(func, "occupations", f"hold 0 <= f <= {cap} for shell {shell_label(*shell)} (its capacity)",
                       f"{f!r}")
        items.append((shell[0], shell[1], float(f)))
    if not items:
        raise fail(func, "occupations", "hold at least one shell", "an empty collection")
    shells = [(n, l) for n, l, _ in items]
    if len(set(shells)) != len(shells):
        raise fail(func, "occupations", "name each shell once", "a repeated shell")
    total = sum(f for _, _, f in items)
    if abs(total - Z) > 1e-10 * Z:
        raise fail(func, "occupations", f"sum to Z = {Z:g} (a neutral atom)", f"a sum of {total:.12g}")
    return sorted((n, l, f) for n, l, f in items if f > 0)


def _check_mixing(mixing, func):
    opts = {"alpha": 0.5, "history": 5, "maxiter": 100}
    if mixing is None:
        return opts
    if isinstance(mixing, (numbers.Real, np.floating)) and not isinstance(mixing, bool):
        mixing = {"alpha": mixing}
    if not isinstance(mixing, dict):
        raise fail(func, "mixing", "be None, a mixing parameter alpha or a dict", repr(mixing), error=TypeError)
    extra = sorted(set(mixing) - set(opts))
    if extra:
        raise fail(func, "mixing", "have only the keys 'alpha', 'history', 'maxiter'", f"key(s) {extra}",
                   error=TypeError)
    out = dict(opts)
    if "alpha" in mixing:
        out["alpha"] = check_scalar(mixing["alpha"], "mixing['alpha']", func, low=0.0, high=1.0, low_inclusive=False)
    if "history" in mixing:
        out["history"] = check_int(mixing["history"], "mixing['history']", func, low=0)
    if "maxiter" in mixing:
        out["maxiter"] = check_int(mixing["maxiter"], "mixing['maxiter']", func, low=1)
    return out


#: Highest polynomial degree: the Hartree solve uses twice it, and the barycentric Lagrange weights of
#: about 900 GLL nodes overflow (order 450 gave NaN); 200 is far beyond what any atom needs (28).
ORDER_MAX = 200


def _check_order(order, func):
    return None if order is None else check_int(order, "order", func, low=1, high=ORDER_MAX)


def _check_relativistic_Z(Z, c, func):
    limit = c * math.sqrt(3.0) / 2.0
    if Z >= limit:
        raise fail(func, "Z", f"be < c sqrt(3)/2 = {limit:.4g} for the Dirac equation (beta_1 > 1/2)", repr(Z))


# ---------------------------------------------------------------------------------- hydrogen-like
#: Largest speed of light :func:`hydrogen_like` accepts. Up to it the Dirac energies keep a relative
#: accuracy of 1e-15 (the squared Hamiltonian's entries grow like c^2 and the eigenvectors lose digits
#: beyond: 1e-12 relative at c = 1e16, 1e-8 at 1e20); at c = 1e12 the relativistic correction
#: (Z/c)^2 is already below double precision for every Z <= 92 (use ``relativistic=False``).
C_MAX = 1e12
#: Largest ``n_max`` of :func:`hydrogen_like` (its default order and mesh grow with it; 50 takes seconds).
N_MAX = 50


def hydrogen_like(Z, *, n_max=7, relativistic=False, c=C_NIST, mesh=None, order=None):
    r"""All bound states with :math:`n \le n_{\max}` of a point-nucleus one-electron ion.

    Schrödinger: :math:`-\frac12 u'' + (\frac{l(l+1)}{2r^2} - \frac{Z}{r}) u = E u`, exact
    :math:`E = -Z^2/(2n^2)`. Dirac (``relativistic=True``, squared Hamiltonian, see
    :mod:`numopt.atomic._dirac`), exact

    .. math:: E_{n\kappa} = c^2\Big(1 + \frac{(Z/c)^2}{(n - |\kappa| + \beta)^2}\Big)^{-1/2} - c^2,
              \qquad \beta = \sqrt{\kappa^2 - (Z/c)^2},

    with both :math:`\kappa = -(l+1)` (:math:`j = l + \frac12`) and :math:`\kappa = l`
    (:math:`j = l - \frac12`) for :math:`l > 0`.

    Parameters
    ----------
    Z : float
        Nuclear charge, 1e-6..1e6 (Dirac: :math:`Z < c\sqrt3/2`).
    n_max : int, default 7
        Highest principal quantum number, 1..50.
    relativistic : bool, default False
        Dirac instead of Schrödinger.
    c : float, default 137.0359895
        Speed of light (a.u.), the value NIST used; at most 1e12 (:data:`C_MAX`), where the Dirac
        energies equal the Schrödinger ones to double precision.
    mesh : array_like, optional
        Element boundaries ``0 = r_0 < ... < r_max`` (see :func:`exponential_mesh`). Default: 4
        elements, ratio 30, :math:`r_{\max} = 20 n_{\max}^2 / Z` (the problem scales exactly with
        :math:`1/Z`, so every Z gets the same relative accuracy).
    order : int, optional
        Polynomial degree, 1..200 (default 26, plus 2 per ``n_max`` above 7).

    Returns
    -------
    HydrogenLikeResult
        ``orbitals`` (``n, l, j, kappa, energy``), ``r``, ``weights``, ``P``, ``Q``.

    Raises
    ------
    ValueError
        Non-positive ``Z`` or ``c``, ``c > 1e12``, ``n_max < 1``, ``order < 1``, a mesh that does not
        start at 0 or has non-positive element sizes, Dirac with :math:`Z \ge c\sqrt3/2`.
    TypeError
        ``relativistic`` not a bool (a string such as ``"no"`` is refused, not read as True).

    Notes
    -----
    With the defaults the error is below 1e-10 Ha (Schrödinger) and 2e-11 Ha (Dirac) for every
    :math:`Z \le 92` and :math:`n \le 7`.

    References
    ----------
    O. Čertík, J. E. Pask, I. Fernando, R. Goswami, N. Sukumar, L. A. Collins, G. Manzini, J. Vackář,
    "High-order finite element method for atomic structure calculations", Comput. Phys. Commun. 297
    (2024) 109051, arXiv:2307.05856.

    Examples
    --------
    >>> res = hydrogen_like(92, n_max=2)
    >>> [(o.n, o.l, round(o.energy, 8)) for o in res.orbitals]
    [(1, 0, -4232.0), (2, 0, -1058.0), (2, 1, -1058.0)]
    >>> res = hydrogen_like(92, n_max=2, relativistic=True)
    >>> [o.label for o in res.orbitals], round(res.orbitals[0].energy, 6)
    (['1s', '2s', '2p1/2', '2p3/2'], -4861.198023)
    """
    func = "hydrogen_like"
    Z = check_scalar(Z, "Z", func, low=0.0, low_inclusive=False)
    Z = check_scalar(Z, "Z", func, low=1e-6, high=1e6)  # E = -Z^2/2 and the mesh 1/Z stay representable
    n_max = check_int(n_max, "n_max", func, low=1, high=N_MAX)
    relativistic = check_bool(relativistic, "relativistic", func)
    c = check_scalar(c, "c", func, low=0.0, low_inclusive=False, high=C_MAX)
    if relativistic:
        _check_relativistic_Z(Z, c, func)
    order = _check_order(order, func)
    if order is None:
        order = 26 + 2 * max(0, n_max - 7)
    if mesh is None:
        mesh = exponential_mesh(20.0 * n_max**2 / Z, 30.0, 4)
    else:
        mesh = check_mesh(mesh, func, Z=Z)
    _check_size(mesh, order, func, n_max)
    with single_blas_thread():
        res = _hydrogen_like(Z, n_max, relativistic, c, mesh, order)
    return finish(res, func)


def _hydrogen_like(Z, n_max, relativistic, c, mesh, order):
    nq = 2 * order + 1
    orbitals, P, Q, d2, coarse = [], [], [], [], []
    if not relativistic:
        disc = Discretization(mesh, order, nq)
        op = SchrodingerOperator(disc)
        g = disc.grids[0]
        V = -Z / g.r
        for l in range(n_max):
            E, coef = op.solve(V, l, n_max - l)
            vals = disc.phi[g.idx] @ coef
            slope = disc.outer_derivative(coef)
            rough = disc.unresolved(coef)
            for i in range(n_max - l):
                orbitals.append(Orbital(l + 1 + i, l, None, None, None, float(E[i])))
                P.append(vals[:, i])
                d2.append(slope[i] ** 2)
                coarse.append(rough[i])
        order_idx = sorted(range(len(orbitals)), key=lambda i: (orbitals[i].n, orbitals[i].l))
        r, w = g.r, g.w
        Qarr = None
    else:
        kappas = [k for l in range(n_max) for k in ((l, -(l + 1)) if l > 0 else (-1,))]
        absk = sorted({abs(k) for k in kappas})
        alphas = {a: dirac_alpha(a, Z, c) for a in absk}
        disc = Discretization(mesh, order, nq, free_origin=True, gammas=[2 * alphas[a] - 2 for a in absk])
        g0 = disc.grids[0]
        r = g0.r
        w = g0.w / r**g0.gamma
        phi0 = disc.phi[g0.idx]
        for kappa in kappas:
            l = kappa if kappa > 0 else -kappa - 1
            gi = absk.index(abs(kappa))
            op = DiracOperator(disc, disc.grids[gi], kappa, Z, c, alphas[abs(kappa)])
            E, cp, cq, _ = op.solve(None, n_max - l)
            ra = r ** alphas[abs(kappa)]
            pv, qv = (phi0 @ cp) * ra[:, None], (phi0 @ cq) * ra[:, None]
            Ra = float(mesh[-1]) ** alphas[abs(kappa)]
            slope2 = (disc.outer_derivative(cp) * Ra) ** 2 + (disc.outer_derivative(cq) * Ra) ** 2
            big = np.maximum(np.abs(cp).max(axis=0), np.abs(cq).max(axis=0))
            rough = np.maximum(disc.unresolved(cp, big), disc.unresolved(cq, big))
            j = l + 0.5 if kappa < 0 else l - 0.5
            for i in range(n_max - l):
                orbitals.append(Orbital(l + 1 + i, l, j, kappa, None, float(E[i])))
                P.append(pv[:, i])
                Q.append(qv[:, i])
                d2.append(slope2[i])
                coarse.append(rough[i])
        order_idx = sorted(range(len(orbitals)), key=lambda i: (orbitals[i].n, orbitals[i].l, orbitals[i].j))
        Qarr = np.array([Q[i] for i in order_idx])
    orbitals = tuple(orbitals[i] for i in order_idx)
    Parr = np.array([P[i] for i in order_idx])
    energies = np.array([o.energy for o in orbitals])
    status, detail = Status.SUCCESS, ""
    if not np.isfinite(energies).all():
        status = Status.NONFINITE
    else:
        # gross under-resolution (RESOLUTION_LIMIT), then the wall at r_max: the energy error of each state
        # is about u'(R)^2 / (4 kappa) (see KohnSham.truncation_error), flagged above 1e-6 relative (the
        # default mesh reaches 1e-10)
        coarse = np.array([coarse[i] for i in order_idx])
        d2 = np.array([d2[i] for i in order_idx])
        bound = energies < 0
        tail = np.where(bound, d2 / (4.0 * np.sqrt(np.where(bound, -2.0 * energies, 1.0))), np.inf)
        bad = TAIL_FACTOR * tail > 1e-6 * np.maximum(1.0, np.abs(energies))
        if coarse.max() > RESOLUTION_LIMIT:
            i = int(np.argmax(coarse))
            status = Status.DISCRETIZATION_ERROR
            detail = (f"The {orbitals[i].label} state is not resolved by the mesh: its two highest Legendre modes "
                      f"reach {coarse[i]:.1e} of its largest value on one element (resolved meshes stay below 1e-4); "
                      "use more elements or a higher `order`, or omit `mesh`.")
        elif bad.any():
            i = int(np.flatnonzero(bad)[np.argmax(tail[bad])])
            R = float(mesh[-1])
            status = Status.DISCRETIZATION_ERROR
            if not bound[i]:
                detail = (f"The {orbitals[i].label} state has energy {energies[i]:.3g} Ha >= 0 at r_max = "
                          f"{R:.4g} bohr: only the boundary holds it")
            else:
                detail = (f"The boundary at r_max = {R:.4g} bohr shifts the {orbitals[i].label} energy by about "
                          f"{tail[i]:.1e} Ha")
            detail += f"; pass a mesh that reaches further out (the default ends at 20 n_max^2 / Z = " \
                      f"{20.0 * n_max**2 / Z:.4g} bohr)."
    return HydrogenLikeResult(x=energies, status=status, nit=1, detail=detail, Z=Z, relativistic=relativistic, c=c,
                              orbitals=orbitals, r=r.copy(), weights=w.copy(), P=Parr, Q=Qarr, mesh=mesh,
                              order=order)


# ------------------------------------------------------------------------------------- atoms (KS)
def solve_atom(Z, *, relativistic=False, tol=1e-6, mesh=None, order=None, mixing=None, occupations=None,
               callback=None, verbose=False):
    r"""Kohn–Sham LDA (Schrödinger) or RLDA (Dirac) ground state of a spherical atom.

    Solves the radial Kohn–Sham equations with the featom high-order finite-element method:
    :math:`[-\frac12\frac{d^2}{dr^2} + \frac{l(l+1)}{2r^2} + V(r)]u_{nl} = \varepsilon_{nl}u_{nl}`
    (or the radial Dirac equation for :math:`(P, Q)` with :math:`\kappa`), with
    :math:`V = -Z/r + V_H[n] + V_{xc}[n]`, :math:`n = \sum_i f_i (P_i^2 + Q_i^2)/(4\pi r^2)`,
    Slater exchange + VWN5 correlation (relativistic: MacDonald–Vosko exchange correction),
    point nucleus, spherically averaged occupations (NIST ground-state configurations by default),
    :math:`c = 137.0359895`: the setting of the NIST atomic reference data.

    Parameters
    ----------
    Z : int or str
        Atomic number 1..92 or element symbol (``"U"``). Any real ``Z > 0`` with ``occupations``.
    relativistic : bool, default False
        RLDA (Dirac) instead of LDA (Schrödinger); started from the converged LDA potential.
    tol : float, default 1e-6
        Accuracy wanted in the total energy and in every eigenvalue (Hartree). It selects the mesh,
        the polynomial order (see :func:`choose_parameters`) and the SCF tolerance ``tol / 10`` on
        both the change of the total energy and the first-order eigenvalue error
        :math:`\max_i|\int n_i (U_{out} - U_{in})|`. Below about 1e-10 (LDA) or 1e-9 (RLDA) rounding
        limits the result; the status is then ``ROUNDING_FLOOR``.
    mesh : array_like, optional
        Element boundaries ``0 = r_0 < ... < r_max`` instead of the automatic choice; ``r_max`` within
        ``[1e-6, 1e6] / Z`` bohr. A user mesh is never changed: when its ``r_max`` cuts the orbitals off by
        more than ``tol`` (or its elements are grossly too coarse) the result says so
        (``Status.DISCRETIZATION_ERROR``). The automatic mesh (``mesh=None``) is the calibrated one,
        continued outwards with longer elements until the wall's error estimate is below ``tol / 4`` (for
        diffuse occupied shells such as H 7s: 141 bohr instead of 50; at most 4000 bohr).
    order : int, optional
        Polynomial degree (1..200) instead of the automatic choice.
    mixing : float or dict, optional
        Anderson mixing of the screening potential :math:`V_H + V_{xc}`: ``alpha`` (default 0.5, halved
        automatically when the residual stalls for 8 iterations), ``history`` (default 5), ``maxiter``
        (default 100). A float is ``alpha``.
    occupations : dict or list, optional
        ``{"1s": 2, "2s": 1, ...}``, ``{(n, l): f}`` or ``[(n, l, f), ...]`` (spherically averaged shells;
        Dirac splits ``f`` over ``j = l ± 1/2`` in proportion ``2l : 2l + 2``). Must sum to ``Z``.
    callback : callable, optional
        ``callback(intermediate_result)`` after every SCF iteration (an :class:`AtomResult`); raising
        ``StopIteration`` stops.
    verbose : bool, default False
        Print one line per SCF iteration.

    Returns
    -------
    AtomResult
        ``total_energy``, ``kinetic_energy``, ``hartree_energy``, ``nuclear_energy``, ``xc_energy``,
        ``orbitals``, ``r``, ``density``, ``nit``, ``success``, ``message``, ...

    Raises
    ------
    ValueError
        ``Z`` not an integer in 1..92 without ``occupations``; occupations that do not sum to ``Z`` or
        exceed a shell's capacity; non-positive ``tol``; a mesh with non-positive element sizes, more
        than 2000 elements, ``r_max`` outside ``[1e-6, 1e6] / Z`` or an element shorter than
        ``1e-12 r_max``; ``order < 1``, or ``order`` times the elements above 2000 or too few for the
        states asked.
    TypeError
        Arguments of the wrong type (``relativistic="no"`` is refused, not read as True), unknown
        ``mixing`` keys.

    Warns
    -----
    ConvergenceWarning
        When the SCF does not converge (``success=False``; the energies are those of the last iterate), or
        when the discretization cannot hold the solution to ``tol`` (``DISCRETIZATION_ERROR``).

    Notes
    -----
    Energies use featom's variational form :math:`T_s = \sum_i f_i\varepsilon_i - \int V_{in} n`,
    :math:`E = T_s + E_H + E_{en} + E_{xc}`, which is quadratic in the SCF error. The initial potential
    is the generalized Thomas–Fermi one (LDA) or the converged LDA potential with relativistic exchange
    (RLDA). Dirac meshes have a small first element ``[0, r0]`` (the density and :math:`V_{xc}` carry
    non-analytic powers of r there) whose quadrature is geometrically graded. The solve runs with BLAS
    limited to one thread (:func:`numopt._blas.single_blas_thread`): its matrices are a few hundred rows,
    where OpenBLAS's threads cost more than they bring.

    The domain. The orbitals vanish at ``r_max``; by Hadamard's formula an eigenvalue moves as
    :math:`d\varepsilon/dR = -\frac12 u'(R)^2`, which gives the estimate ``truncation_error`` (within a
    factor 2 of the true error for H on meshes ending at 8..12 bohr). A configuration with a single
    electron in a shell with radial nodes (H 7s) has a density with zeros, where :math:`n^{1/3}` has kinks:
    the finite elements then converge only algebraically, to about 1e-7 Ha for H 7s.

    References
    ----------
    O. Čertík et al., Comput. Phys. Commun. 297 (2024) 109051, arXiv:2307.05856. S. Kotochigova,
    Z. H. Levine, E. L. Shirley, M. D. Stiles, C. W. Clark, Phys. Rev. A 55, 191 (1997) (NIST data).

    Examples
    --------
    >>> res = solve_atom("Ne")
    >>> round(res.total_energy, 5), [(o.label, o.occupation, round(o.energy, 5)) for o in res.orbitals]
    (-128.23348, [('1s', 2.0, -30.30585), ('2s', 2.0, -1.32281), ('2p', 6.0, -0.49803)])
    """
    func = "solve_atom"
    relativistic = check_bool(relativistic, "relativistic", func)
    verbose = check_bool(verbose, "verbose", func)
    Zv = _check_Z(Z, func, explicit_occupations=occupations is not None)
    tol = check_scalar(tol, "tol", func, low=0.0, low_inclusive=False)
    if occupations is None:
        shells = [(n, l, f) for (n, l), f in configuration(int(Zv)).items()]
    else:
        shells = _check_occupations(occupations, Zv, func)
    c = C_NIST
    if relativistic:
        _check_relativistic_Z(Zv, c, func)
    order = _check_order(order, func)
    if mesh is not None:
        mesh = check_mesh(mesh, func, Z=Zv)
    opts = _check_mixing(mixing, func)
    callback = check_callable(callback, "callback", func)
    printer = IterationPrinter(["nit", "energy", "d_eig", "d_energy"]) if verbose else None

    params = choose_parameters(tol, relativistic)
    p = order if order is not None else params["order"]
    _check_size(mesh if mesh is not None else params["mesh"], p, func, max(n - l for n, l, _ in shells))
    nq = _nq(p, relativistic)
    scf_tol = params["scf_tol"]
    floor = RLDA_FLOOR if relativistic else LDA_FLOOR
    job = _Job(opts=opts, scf_tol=scf_tol, accuracy=max(tol, floor), grow=mesh is None, callback=callback,
               printer=printer, tol=tol, order=p)
    with single_blas_thread():
        if relativistic:
            # LDA start: converge the Schrödinger problem first (at the same tol, looser SCF, the automatic
            # mesh grown as needed), then evaluate its screening potential (with relativistic exchange) at
            # the Dirac points.
            lp = choose_parameters(max(tol, 1e-8), False)
            start = _Job(opts=opts, scf_tol=max(scf_tol, 1e-7), accuracy=max(tol, 1e-8), grow=True, callback=None,
                         printer=None, tol=tol, order=lp["order"])
            ks0, out0 = _converge(start, lambda m: KohnSham(Zv, shells, relativistic=False, mesh=m, p=lp["order"],
                                                            nq=lp["nq"], c=c),
                                  lp["mesh"], lambda ks: thomas_fermi_screening(ks.points, Zv))
            mesh_used = mesh if mesh is not None else extend_mesh(params["mesh"], ks0.disc.mesh[-1] * 0.6)

            def initial(ks):
                if out0.step is None:
                    return thomas_fermi_screening(ks.points, Zv)
                return ks0.screening_at(out0.step, ks.points, relativistic_xc=True)

            build = lambda m: KohnSham(Zv, shells, relativistic=True, mesh=m, p=p, nq=nq, c=c,  # noqa: E731
                                       graded=params["graded"], nq_graded=p + 4)
        else:
            mesh_used = mesh if mesh is not None else params["mesh"]
            build = lambda m: KohnSham(Zv, shells, relativistic=False, mesh=m, p=p, nq=nq, c=c)  # noqa: E731
            initial = lambda ks: thomas_fermi_screening(ks.points, Zv)  # noqa: E731
        ks, out = _converge(job, build, mesh_used, initial)
        status = out.status
        if status is Status.SUCCESS and tol < floor:
            status = Status.ROUNDING_FLOOR
        res = _result(ks, out._replace(status=status), job)
    return finish(res, func)


#: Safety factor of the truncation check: the estimated error of the wall at ``r_max``
#: (:meth:`KohnSham.truncation_error`, measured within a factor 4 of the true eigenvalue error for H 7s
#: and 5g) times this must not exceed the accuracy asked.
TAIL_FACTOR = 4.0
#: Largest ``r_max`` (bohr) the automatic mesh grows to; a shell still cut off there is reported
#: (``Status.DISCRETIZATION_ERROR``). A hydrogenic shell ``n`` spans about ``2 n^2`` bohr.
R_LIMIT = 4000.0
#: An orbital whose two highest Legendre modes on some element exceed this fraction of its largest value is
#: not resolved (the calibrated meshes stay below 3e-5; hydrogen on one element [0, 1000] bohr gives 0.2
#: and an energy 0.3 Ha too high, Dirac on one element [0, 1e5] 4e-3): only gross under-resolution is flagged.
RESOLUTION_LIMIT = 1e-3
#: At most this many finite-element unknowns per channel (``order`` times the number of elements): the
#: matrices are dense and their cost grows with the cube of it.
MAX_DOFS = 2000


def _check_size(mesh, p, func, states):
    """The discretization must hold ``states`` eigenvectors per channel and at most MAX_DOFS unknowns."""
    ne = len(mesh) - 1
    if ne * p > MAX_DOFS:
        raise fail(func, "order", f"be <= {max(1, MAX_DOFS // ne)} on a mesh of {ne} element(s) (at most "
                   f"{MAX_DOFS} unknowns: the matrices are dense)", repr(p))
    if ne * p - 1 < states:
        raise fail(func, "order", f"be >= {-(-(states + 1) // ne)} on a mesh of {ne} element(s) to hold {states} "
                   "states of one angular momentum", repr(p))


@dataclasses.dataclass
class _Job:
    """What one :func:`solve_atom` run asks of the SCF, and the iterations it has done so far (over every
    mesh the automatic sizing tried)."""

    opts: dict
    scf_tol: float
    accuracy: float
    grow: bool
    callback: object
    printer: object
    tol: float
    order: int
    nit: int = 0
    capped: bool = False  # the grown mesh would exceed MAX_DOFS
    history: dict = dataclasses.field(
        default_factory=lambda: {"energy": [], "eigenvalue_change": [], "energy_change": [], "alpha": []})


class _Outcome(NamedTuple):
    """How one SCF (or the whole run) ended: the last finite step (None if the first was not finite),
    the status, the detail text and the truncation estimates of that step."""

    step: object
    status: Status
    detail: str
    tail: np.ndarray | None = None
    tail_total: float = np.nan


def _converge(job, build, mesh, initial):
    """Run the SCF on ``mesh``; while the wall at ``r_max`` cuts the orbitals off by more than the accuracy
    asked and ``job.grow``, extend the mesh outwards and rerun from the potential reached.

    Returns ``(ks, outcome)`` of the last mesh.
    """
    ks = build(mesh)
    U = initial(ks)
    while True:
        out = _scf(ks, U, job)
        if out.step is None:
            return ks, out
        tail, total = ks.truncation_error(out.step)
        out = out._replace(tail=tail, tail_total=total)
        worst = max(total, float((tail * np.maximum(ks.occ, 1.0)).max()))
        if TAIL_FACTOR * worst <= job.accuracy:
            coarse = ks.unresolved(out.step)  # (a wall-confined orbital is steep at r_max: checked after)
            if coarse.max() > RESOLUTION_LIMIT:
                return ks, _coarse_failure(ks, out, coarse)
            return ks, out
        R = float(ks.disc.mesh[-1])
        if not job.grow or R >= R_LIMIT or out.status is not Status.SUCCESS:
            return ks, _tail_failure(ks, out, job)
        new = extend_mesh(mesh, _grown_radius(ks, out, job))
        if (len(new) - 1) * job.order > MAX_DOFS:
            job.capped = True
            return ks, _tail_failure(ks, out, job)
        nks = build(new)
        U = ks.screening_at(out.step, nks.points)
        ks, mesh = nks, new


def _coarse_failure(ks, out, coarse):
    """``out`` reported as DISCRETIZATION_ERROR (or a note appended): the elements are too coarse."""
    i = int(np.argmax(coarse))
    o = ks.orbs[i]
    text = (f"the {shell_label(o.n, o.l)} orbital is not resolved by the mesh: its two highest Legendre modes reach "
            f"{coarse[i]:.1e} of its largest value on one element (resolved meshes stay below 1e-4); use more "
            "elements (finer near the nucleus) or a higher `order`, or omit `mesh`.")
    if out.status is Status.SUCCESS:
        return out._replace(status=Status.DISCRETIZATION_ERROR, detail=text[0].upper() + text[1:])
    return out._replace(detail=f"{out.detail} Also, {text}")


def _grown_radius(ks, out, job):
    r"""The ``r_max`` at which every orbital's truncation estimate falls to ``accuracy / (10 TAIL_FACTOR)``:
    it decays like :math:`e^{-2\kappa r}`, so each needs :math:`\ln(\text{ratio}) / (2\kappa)` more
    (20 % margin for the power-law factor); an orbital held only by the wall doubles ``r_max``."""
    R = float(ks.disc.mesh[-1])
    eps = out.step.eps
    target = job.accuracy / (10.0 * TAIL_FACTOR)
    need = R * 1.25
    for e, t, f in zip(eps, out.tail, ks.occ):
        t = t * max(f, 1.0)
        if not np.isfinite(t):
            need = max(need, 2.0 * R)
        elif t > target:
            need = max(need, R + 1.2 * math.log(t / target) / (2.0 * math.sqrt(-2.0 * e)))
    return min(need, R_LIMIT)


def _tail_failure(ks, out, job):
    """``out`` with the truncation reported: DISCRETIZATION_ERROR if the SCF converged, else a note appended."""
    R = float(ks.disc.mesh[-1])
    i = int(np.argmax(np.where(np.isfinite(out.tail), out.tail, np.inf)))
    o = ks.orbs[i]
    label = shell_label(o.n, o.l)
    eps = float(out.step.eps[i])
    if not np.isfinite(out.tail[i]):
        what = (f"the {label} orbital has eigenvalue {eps:.3g} Ha >= 0 at r_max = {R:.4g} bohr: only the "
                "boundary holds it")
    else:
        what = (f"the boundary at r_max = {R:.4g} bohr shifts the total energy by about {out.tail_total:.1e} Ha "
                f"and the {label} eigenvalue by about {out.tail[i]:.1e} Ha (tol = {job.accuracy:.1e})")
    if not job.grow:
        advice = "pass a mesh that reaches further out (or omit `mesh` to size it automatically)."
    elif job.capped:
        advice = (f"the automatic mesh would need more than {MAX_DOFS} unknowns at order {job.order}; "
                  "lower `order`.")
    elif R >= R_LIMIT:
        advice = (f"the automatic mesh stops at r_max = {R_LIMIT:g} bohr; this configuration is too diffuse "
                  "(or unbound) for it.")
    else:
        advice = ""
    text = f"{what}; {advice}" if advice else f"{what}."
    if out.status is Status.SUCCESS:
        return out._replace(status=Status.DISCRETIZATION_ERROR, detail=text[0].upper() + text[1:])
    return out._replace(detail=f"{out.detail} Also, {text}")


def _scf(ks, U, job):
    """The SCF loop on one mesh; iterations and history accumulate in ``job``. Never raises on NaN/inf:
    a non-finite step ends the run with NONFINITE and the last finite step (None if there was none)."""
    opts, hist = job.opts, job.history
    mixer = Anderson(ks.mix_weight, opts["alpha"], opts["history"])
    E_old = np.inf
    good = None
    status, detail = Status.MAXITER, ""
    for _ in range(opts["maxiter"]):
        with np.errstate(all="ignore"):
            try:
                step = ks.step(U)
            except np.linalg.LinAlgError:  # LAPACK on NaN/inf input (a Cholesky or eigensolver failure)
                step = None
        if step is None or not (np.isfinite(step.E) and np.isfinite(step.eps).all() and np.isfinite(step.Uout).all()):
            status = Status.NONFINITE
            break
        job.nit += 1
        good = step
        de = float(np.abs(step.deps).max())
        dE = abs(step.E - E_old)
        E_old = step.E
        hist["energy"].append(step.E)
        hist["eigenvalue_change"].append(de)
        hist["energy_change"].append(dE)
        hist["alpha"].append(mixer.alpha)
        if job.printer is not None:
            job.printer.row(job.nit, step.E, de, dE)
        if job.callback is not None:
            if call_callback(job.callback, _result(ks, _Outcome(step, Status.CALLBACK, ""), job)):
                status = Status.CALLBACK
                break
        if de < job.scf_tol and dE < job.scf_tol:
            status = Status.SUCCESS
            break
        U = mixer.next(U, step.Uout - U)
    if status is Status.MAXITER:
        detail = (f"The SCF stopped after {opts['maxiter']} iterations with an eigenvalue change of "
                  f"{hist['eigenvalue_change'][-1]:.1e} Ha (it needs scf_tol = {job.scf_tol:.1e}); try "
                  "mixing={'alpha': 0.3}, a larger mixing['maxiter'] or a looser tol.")
    elif status is Status.NONFINITE:
        if good is None:
            detail = ("The first SCF step produced NaN/inf, so no orbitals were computed (x is the Thomas-Fermi "
                      "start density); check `mesh` (its r_max and element sizes) and `occupations`.")
        else:
            detail = (f"The SCF produced NaN/inf at iteration {job.nit + 1}; the result is the last finite "
                      "iterate. Try mixing={'alpha': 0.2} or other occupations.")
    return _Outcome(good, status, detail)


def _arrays(hist):
    return {k: np.asarray(v, dtype=np.float64) for k, v in hist.items()}


def _result(ks, out, job):
    disc = ks.disc
    g0 = disc.grids[0]
    idx = g0.idx
    r = g0.r
    w = g0.w / r**g0.gamma
    common = dict(status=out.status, nit=job.nit, detail=out.detail, Z=ks.Z, relativistic=ks.relativistic, c=ks.c,
                  r=r.copy(), weights=w, history=_arrays(job.history), tol=job.tol, scf_tol=job.scf_tol,
                  mesh=np.asarray(disc.mesh).copy(), order=job.order, truncation_error=float(out.tail_total))
    step = out.step
    if step is None:  # the first step was not finite
        nan = float("nan")
        density = thomas_fermi_density(r, ks.Z)
        return AtomResult(x=density, total_energy=nan, kinetic_energy=nan, hartree_energy=nan, nuclear_energy=nan,
                          xc_energy=nan, orbitals=(), density=density, P=np.empty((0, len(r))), Q=None,
                          virial=nan, eigenvalue_change=nan, **common)
    orbitals, P, Q = [], [], []
    for i, o in enumerate(ks.orbs):
        ch = ks.channels[o.channel]
        j = None if o.kappa is None else (o.l + 0.5 if o.kappa < 0 else o.l - 0.5)
        orbitals.append(Orbital(o.n, o.l, j, o.kappa, float(o.occupation), float(step.eps[i])))
        cu, cq = step.coefs[i]
        if cq is None:
            P.append(disc.phi[idx] @ cu)
        else:
            ra = r**ch.alpha
            P.append((disc.phi[idx] @ cu) * ra)
            Q.append((disc.phi[idx] @ cq) * ra)
    virial = -step.T_s - 2 * step.E_en - 5 * step.E_H + 3 * step.sum_fe - 3 * step.E_xc
    density = step.n[idx].copy()
    return AtomResult(
        x=density, total_energy=float(step.E), kinetic_energy=float(step.T_s), hartree_energy=float(step.E_H),
        nuclear_energy=float(step.E_en), xc_energy=float(step.E_xc), orbitals=tuple(orbitals), density=density,
        P=np.array(P), Q=np.array(Q) if Q else None, virial=float(virial),
        eigenvalue_change=float(np.abs(step.deps).max()), **common)
