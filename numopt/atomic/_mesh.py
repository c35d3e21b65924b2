"""Radial meshes: element boundaries ``0 = r_0 < r_1 < ... < r_Ne = r_max``."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_int, check_scalar, fail

__all__ = ["exponential_mesh", "check_mesh", "extend_mesh", "MAX_ELEMENTS"]

#: Most elements a mesh may have (the finite-element matrices are dense; 2000 unknowns at most).
MAX_ELEMENTS = 2000


def exponential_mesh(r_max, a, n_elements, *, r0=None):
    r"""Element boundaries of featom's exponential mesh.

    With ``N = n_elements`` and :math:`\beta = \ln(a) / (N - 1)`,

    .. math:: r_i = r_{\max} \frac{e^{\beta i} - 1}{e^{\beta N} - 1}, \qquad i = 0, \dots, N,

    so that consecutive element lengths grow geometrically and the last element is ``a`` times as long as
    the first (``a = 1``: uniform). With ``r0`` the first element is ``[0, r0]`` and the remaining
    ``N - 1`` elements are exponential on ``[r0, r_max]`` (featom's Dirac mesh, whose first element
    carries the Gauss–Jacobi rule).

    Parameters
    ----------
    r_max : float
        Radius of the domain (Dirichlet condition there), > 0.
    a : float
        Ratio of the last to the first element length, > 0.
    n_elements : int
        Number of elements, 1..2000 (>= 2 with ``r0``).
    r0 : float, optional
        Length of the first element, ``0 < r0 < r_max``.

    Returns
    -------
    ndarray of shape (n_elements + 1,)

    Raises
    ------
    ValueError
        ``r_max``, ``a`` or ``r0`` not positive and finite, ``r0 >= r_max``, ``n_elements`` out of range, or
        a combination whose elements are not all of positive length in double precision (``a = 1e-300``).

    Examples
    --------
    >>> m = exponential_mesh(50.0, 200.0, 4)
    >>> round(float((m[4] - m[3]) / (m[1] - m[0])), 9), float(m[-1])
    (200.0, 50.0)
    """
    func = "exponential_mesh"
    r_max = check_scalar(r_max, "r_max", func, low=0.0, low_inclusive=False)
    a = check_scalar(a, "a", func, low=0.0, low_inclusive=False)
    n = check_int(n_elements, "n_elements", func, low=1 if r0 is None else 2, high=MAX_ELEMENTS)
    if r0 is None:
        mesh = _meshexp(0.0, r_max, a, n)
    else:
        r0 = check_scalar(r0, "r0", func, low=0.0, low_inclusive=False, high=r_max, high_inclusive=False)
        mesh = np.concatenate(([0.0], _meshexp(r0, r_max, a, n - 1)))
    h = np.diff(mesh)
    if not (np.isfinite(mesh).all() and (h > 0).all()):
        i = int(np.flatnonzero(~(h > 0))[0]) if np.isfinite(mesh).all() else 0
        given = f"a = {a!r}" + ("" if r0 is None else f", r0 = {r0!r}")
        where = f"element {i} is [{float(mesh[i])!r}, {float(mesh[i + 1])!r}]"
        raise fail(func, "a", f"leave every element a positive length (r_max = {r_max!r}, n_elements = {n}"
                   f"{'' if r0 is None else ', with r0'})", f"{given}: {where}")
    return mesh


def _meshexp(rmin: float, rmax: float, a: float, n: int) -> np.ndarray:
    i = np.arange(n + 1, dtype=np.float64)
    if a == 1.0 or n == 1:
        r = rmin + (rmax - rmin) * i / n
    else:
        beta = np.log(a) / (n - 1)
        with np.errstate(over="ignore", invalid="ignore"):  # a degenerate ratio is refused by the caller
            r = rmin + (rmax - rmin) * np.expm1(beta * i) / np.expm1(beta * n)
    r[0], r[-1] = rmin, rmax
    return r


def check_mesh(mesh, func: str, name: str = "mesh", *, Z: float | None = None) -> np.ndarray:
    """Validate element boundaries: 1-D, finite, starting at 0, strictly increasing, 1..MAX_ELEMENTS elements.

    With the nuclear charge ``Z`` the mesh must also fit the atom's length scale ``1/Z``: ``r_max`` within
    ``[1e-6, 1e6] / Z`` and every element longer than ``1e-12 r_max`` (beyond, ``1/r^2`` and the
    eigensolver's matrices overflow or the basis cannot see the orbitals at all).
    """
    m = as_float_array(mesh, name, func, ndim=1)
    if m.size < 2:
        raise fail(func, name, "hold at least two element boundaries (one element)", f"{m.size} value(s)")
    if m.size > MAX_ELEMENTS + 1:
        raise fail(func, name, f"have at most {MAX_ELEMENTS} elements", f"{m.size - 1}")
    if m[0] != 0.0:
        raise fail(func, name, "start at r = 0", f"{name}[0] = {float(m[0])!r}")
    h = np.diff(m)
    if (h <= 0).any():
        i = int(np.flatnonzero(h <= 0)[0])
        raise fail(func, name, "have positive element sizes (strictly increasing boundaries)",
                   f"{name}[{i + 1}] - {name}[{i}] = {float(h[i])!r}")
    if Z is not None:
        r_max = float(m[-1])
        if not 1e-6 <= Z * r_max <= 1e6:
            raise fail(func, name, f"end at r_max between 1e-6/Z and 1e6/Z bohr (the atom's length scale, Z = {Z:g})",
                       f"r_max = {r_max!r}")
        if (h < 1e-12 * r_max).any():
            i = int(np.flatnonzero(h < 1e-12 * r_max)[0])
            raise fail(func, name, "have elements longer than 1e-12 r_max",
                       f"{name}[{i + 1}] - {name}[{i}] = {float(h[i])!r} with r_max = {r_max!r}")
    return m

def extend_mesh(mesh: np.ndarray, r_max: float, growth: float = 1.25) -> np.ndarray:
    """``mesh`` continued outwards to ``r_max`` (unchanged if it already reaches it).

    The new elements start ``growth`` times as long as the last one and grow by ``growth`` each; the last
    ends exactly at ``r_max`` (merged into its neighbour when it would be shorter than half a step). The
    inner elements, which resolve the nucleus, are kept as they are.

    >>> extend_mesh(np.array([0.0, 1.0, 3.0]), 7.0)
    array([0. , 1. , 3. , 5.5, 7. ])
    """
    m = list(np.asarray(mesh, dtype=np.float64))
    if r_max <= m[-1]:
        return np.asarray(m)
    h = m[-1] - m[-2]
    while True:
        h *= growth
        if r_max - m[-1] <= 1.5 * h:
            m.append(float(r_max))
            return np.asarray(m)
        m.append(m[-1] + h)
