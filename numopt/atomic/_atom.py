r"""Public solvers: :func:`hydrogen_like` and :func:`solve_atom` (featom, Čertík et al., CPC 2024)."""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from .._blas import single_blas_thread
from .._result import IterationPrinter, Result, Status, call_callback, finish
from .._validation import check_callable, check_int, check_scalar, fail
from ._config import SYMBOLS, configuration, parse_shell, shell_label
from ._dirac import DiracOperator
from ._fem import Discretization, SchrodingerOperator
from ._mesh import check_mesh, exponential_mesh
from ._scf import Anderson, KohnSham, dirac_alpha, thomas_fermi_screening
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
    history : dict of ndarray
        Per SCF iteration: ``energy``, ``eigenvalue_change``, ``energy_change``.
    Z, relativistic, c, tol, scf_tol, mesh, order
        The problem, the requested accuracy and the discretization chosen.
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
    if abs(total - Z) > 1e-10 * max(1.0, Z):
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


def _check_order(order, func):
    return None if order is None else check_int(order, "order", func, low=1)


def _check_relativistic_Z(Z, c, func):
    limit = c * math.sqrt(3.0) / 2.0
    if Z >= limit:
        raise fail(func, "Z", f"be < c sqrt(3)/2 = {limit:.4g} for the Dirac equation (beta_1 > 1/2)", repr(Z))


# ---------------------------------------------------------------------------------- hydrogen-like
@single_blas_thread()
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
        Nuclear charge, > 0 (Dirac: :math:`Z < c\sqrt3/2`).
    n_max : int, default 7
        Highest principal quantum number.
    relativistic : bool, default False
        Dirac instead of Schrödinger.
    c : float, default 137.0359895
        Speed of light (a.u.), the value NIST used.
    mesh : array_like, optional
        Element boundaries ``0 = r_0 < ... < r_max`` (see :func:`exponential_mesh`). Default: 4
        elements, ratio 30, :math:`r_{\max} = 20 n_{\max}^2 / Z` (the problem scales exactly with
        :math:`1/Z`, so every Z gets the same relative accuracy).
    order : int, optional
        Polynomial degree (default 26, plus 2 per ``n_max`` above 7).

    Returns
    -------
    HydrogenLikeResult
        ``orbitals`` (``n, l, j, kappa, energy``), ``r``, ``weights``, ``P``, ``Q``.

    Raises
    ------
    ValueError
        Non-positive ``Z`` or ``c``, ``n_max < 1``, ``order < 1``, a mesh that does not start at 0 or
        has non-positive element sizes, Dirac with :math:`Z \ge c\sqrt3/2`.

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
    n_max = check_int(n_max, "n_max", func, low=1)
    relativistic = bool(relativistic)
    c = check_scalar(c, "c", func, low=0.0, low_inclusive=False)
    if relativistic:
        _check_relativistic_Z(Z, c, func)
    order = _check_order(order, func)
    if order is None:
        order = 26 + 2 * max(0, n_max - 7)
    if mesh is None:
        mesh = exponential_mesh(20.0 * n_max**2 / Z, 30.0, 4)
    else:
        mesh = check_mesh(mesh, func)
    nq = 2 * order + 1
    orbitals, P, Q = [], [], []
    if not relativistic:
        disc = Discretization(mesh, order, nq)
        op = SchrodingerOperator(disc)
        g = disc.grids[0]
        V = -Z / g.r
        for l in range(n_max):
            E, coef = op.solve(V, l, n_max - l)
            vals = disc.phi[g.idx] @ coef
            for i in range(n_max - l):
                orbitals.append(Orbital(l + 1 + i, l, None, None, None, float(E[i])))
                P.append(vals[:, i])
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
            j = l + 0.5 if kappa < 0 else l - 0.5
            for i in range(n_max - l):
                orbitals.append(Orbital(l + 1 + i, l, j, kappa, None, float(E[i])))
                P.append(pv[:, i])
                Q.append(qv[:, i])
        order_idx = sorted(range(len(orbitals)), key=lambda i: (orbitals[i].n, orbitals[i].l, orbitals[i].j))
        Qarr = np.array([Q[i] for i in order_idx])
    orbitals = tuple(orbitals[i] for i in order_idx)
    Parr = np.array([P[i] for i in order_idx])
    energies = np.array([o.energy for o in orbitals])
    status = Status.SUCCESS if np.isfinite(energies).all() else Status.NONFINITE
    res = HydrogenLikeResult(x=energies, status=status, nit=1, Z=Z, relativistic=relativistic, c=c,
                             orbitals=orbitals, r=r.copy(), weights=w.copy(), P=Parr, Q=Qarr, mesh=mesh,
                             order=order)
    return finish(res, func)


# ------------------------------------------------------------------------------------- atoms (KS)
@single_blas_thread()
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
        Element boundaries ``0 = r_0 < ... < r_max`` instead of the automatic choice.
    order : int, optional
        Polynomial degree instead of the automatic choice.
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
        exceed a shell's capacity; non-positive ``tol``; a mesh with non-positive element sizes;
        ``order < 1``.
    TypeError
        Arguments of the wrong type, unknown ``mixing`` keys.

    Warns
    -----
    ConvergenceWarning
        When the SCF does not converge (``success=False``; the energies are those of the last iterate).

    Notes
    -----
    Energies use featom's variational form :math:`T_s = \sum_i f_i\varepsilon_i - \int V_{in} n`,
    :math:`E = T_s + E_H + E_{en} + E_{xc}`, which is quadratic in the SCF error. The initial potential
    is the generalized Thomas–Fermi one (LDA) or the converged LDA potential with relativistic exchange
    (RLDA). Dirac meshes have a small first element ``[0, r0]`` (the density and :math:`V_{xc}` carry
    non-analytic powers of r there) whose quadrature is geometrically graded. At ``tol=1e-8`` uranium LDA
    takes about 0.05 s and RLDA about 0.4 s of CPU on one core. The solve runs with BLAS limited to one
    thread (:func:`numopt._blas.single_blas_thread`): its matrices are a few hundred rows, where
    OpenBLAS's threads made uranium RLDA 3x slower in wall time (5x in CPU time).

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
    relativistic = bool(relativistic)
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
        mesh = check_mesh(mesh, func)
    opts = _check_mixing(mixing, func)
    callback = check_callable(callback, "callback", func)
    printer = IterationPrinter(["nit", "energy", "d_eig", "d_energy"]) if verbose else None

    params = choose_parameters(tol, relativistic)
    p = order if order is not None else params["order"]
    mesh_used = mesh if mesh is not None else params["mesh"]
    nq = _nq(p, relativistic)
    scf_tol = params["scf_tol"]
    floor = RLDA_FLOOR if relativistic else LDA_FLOOR

    if relativistic:
        # LDA start: converge the Schrödinger problem first (at the same tol, looser SCF), then
        # evaluate its screening potential (with relativistic exchange) at the Dirac points.
        lp = choose_parameters(max(tol, 1e-8), False)
        ks0 = KohnSham(Zv, shells, relativistic=False, mesh=lp["mesh"], p=lp["order"], nq=lp["nq"], c=c)
        U0 = thomas_fermi_screening(ks0.points, Zv)
        st0, _, _, _, _ = _scf(ks0, U0, max(scf_tol, 1e-7), opts, None, None, func)
        ks = KohnSham(Zv, shells, relativistic=True, mesh=mesh_used, p=p, nq=nq, c=c,
                      graded=params["graded"], nq_graded=p + 4)
        U0 = ks0.screening_at(st0, ks.points, relativistic_xc=True)
    else:
        ks = KohnSham(Zv, shells, relativistic=False, mesh=mesh_used, p=p, nq=nq, c=c)
        U0 = thomas_fermi_screening(ks.points, Zv)

    def make(step, nit, status, message="", hist=None):
        return _result(ks, step, nit, status, message, hist or {}, tol, scf_tol, mesh_used, p)

    step, nit, status, message, hist = _scf(ks, U0, scf_tol, opts, callback, printer, func, make)
    if status is Status.SUCCESS and tol < floor:
        status = Status.ROUNDING_FLOOR
    return finish(make(step, nit, status, message, hist), func)


def _scf(ks, U, scf_tol, opts, callback, printer, func, make=None):
    """The SCF loop. Returns (last finite step, nit, status, message, history)."""
    mixer = Anderson(ks.mix_weight, opts["alpha"], opts["history"])
    E_old = np.inf
    hist = {"energy": [], "eigenvalue_change": [], "energy_change": []}
    good = None
    status, message = Status.MAXITER, ""
    nit = 0
    for nit in range(1, opts["maxiter"] + 1):
        step = ks.step(U)
        finite = np.isfinite(step.E) and np.isfinite(step.eps).all() and np.isfinite(step.Uout).all()
        if not finite:
            status = Status.NONFINITE
            nit -= 1
            break
        good = step
        de = float(np.abs(step.deps).max())
        dE = abs(step.E - E_old)
        E_old = step.E
        hist["energy"].append(step.E)
        hist["eigenvalue_change"].append(de)
        hist["energy_change"].append(dE)
        if printer is not None:
            printer.row(nit, step.E, de, dE)
        if callback is not None and make is not None:
            if call_callback(callback, make(step, nit, Status.CALLBACK, "", _arrays(hist))):
                status = Status.CALLBACK
                break
        if de < scf_tol and dE < scf_tol:
            status = Status.SUCCESS
            break
        U = mixer.next(U, step.Uout - U)
    if status is Status.MAXITER:
        message = (f"The SCF did not reach scf_tol = {scf_tol:.1e} in {opts['maxiter']} iterations "
                   f"(last eigenvalue change {hist['eigenvalue_change'][-1]:.1e} Ha); try mixing={{'alpha': 0.3}}, "
                   f"a larger mixing['maxiter'] or a looser tol.")
    elif status is Status.NONFINITE:
        message = (f"The SCF produced NaN/inf at iteration {nit + 1}; the result is the last finite "
                   "iterate. Try mixing={'alpha': 0.2} or other occupations.")
    if good is None:  # the very first step was not finite: nothing to report
        raise FloatingPointError(f"{func}: the first SCF step is not finite (check `occupations` and `mesh`).")
    return good, nit, status, message, _arrays(hist)


def _arrays(hist):
    return {k: np.asarray(v, dtype=np.float64) for k, v in hist.items()}


def _result(ks, step, nit, status, message, hist, tol, scf_tol, mesh, order):
    disc = ks.disc
    g0 = disc.grids[0]
    idx = g0.idx
    r = g0.r
    w = g0.w / r**g0.gamma
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
        x=density, status=status, nit=nit, detail=message, Z=ks.Z, relativistic=ks.relativistic, c=ks.c,
        total_energy=float(step.E), kinetic_energy=float(step.T_s), hartree_energy=float(step.E_H),
        nuclear_energy=float(step.E_en), xc_energy=float(step.E_xc), orbitals=tuple(orbitals), r=r.copy(),
        weights=w, density=density, P=np.array(P), Q=np.array(Q) if Q else None, virial=float(virial),
        eigenvalue_change=float(np.abs(step.deps).max()), history=hist, tol=tol, scf_tol=scf_tol,
        mesh=np.asarray(mesh), order=order)


