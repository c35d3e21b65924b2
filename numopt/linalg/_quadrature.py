"""Quadrature rules and Lagrange bases on the reference element [-1, 1].

The building blocks of spectral-element discretizations (Gauss–Legendre, Gauss–Lobatto–Legendre and
Gauss–Jacobi rules, barycentric Lagrange interpolation), used by :mod:`numopt.atomic`.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.special as sc

from .._validation import as_float_array, check_int, check_scalar, fail

__all__ = ["gauss_legendre", "gauss_lobatto", "gauss_jacobi", "lagrange_basis", "MAX_POINTS"]

#: Most points a rule may have. Every rule costs O(n^2) time and O(n) memory; the bound keeps a typo
#: such as ``10**9`` from running for days.
MAX_POINTS = 100_000
#: Rules up to this size are cached (read-only arrays); larger ones are recomputed on each call.
_CACHED_POINTS = 4096
#: Up to this size ``numpy.polynomial.legendre.leggauss`` (companion eigenvalues, O(n^3))
#: is used as before, so that the small rules of the spectral elements stay bit for bit the same;
#: above it, Newton's method on the recurrence (O(n^2)).
_EIGENVALUE_POINTS = 128


def _legendre_pair(n: int, x: np.ndarray):
    """``(P_n(x), P_{n-1}(x))`` by the three-term recurrence, vectorised over the points ``x``."""
    p_prev = np.ones_like(x)
    p = x.copy()
    for k in range(1, n):
        p_prev, p = p, ((2 * k + 1) * x * p - k * p_prev) / (k + 1)
    return p, p_prev


def _gauss_legendre_newton(n: int):
    """Gauss–Legendre nodes and weights by Newton's method on the recurrence, in the angle θ (x = cos θ).

    Tricomi's asymptotic formula starts every node within O(n^-4) of its root, so two or three Newton
    passes (each O(n^2) flops over the n/2 nonnegative nodes; the rule is symmetric) reach full accuracy.
    Working in θ keeps 1 - x^2 = sin^2 θ exact near the end points; the weight
    ``w = 2 sin^2 θ / G^2`` uses ``G = n (P_{n-1} - x P_n) = (1 - x^2) P_n'``, which is stationary at a
    root of ``P_n``, so rounding ``x`` does not spoil it (dropping the ``x P_n`` term, or forming
    ``P_n'`` from ``1 - x^2``, loses up to n^3 u near the ends).
    """
    half = (n + 1) // 2
    k = np.arange(1, half + 1, dtype=np.float64)
    theta = np.arccos((1.0 - (n - 1) / (8.0 * n**3)) * np.cos(np.pi * (4 * k - 1) / (4 * n + 2)))
    close = False
    for _ in range(20):  # 2-4 passes in practice; the bound only guards against a stall
        x = np.cos(theta)
        p, p_prev = _legendre_pair(n, x)
        g = n * (p_prev - x * p)
        step = p * np.sin(theta) / g
        theta = theta + step
        if close:  # the previous step was below 1e-7, so this one left theta at the rounding level
            break
        close = float(np.max(np.abs(step))) <= 1e-7
    x = np.cos(theta)
    w = 2.0 * np.sin(theta) ** 2 / g**2
    if n % 2:
        x[-1] = 0.0  # the middle node is a root by symmetry
    # the nonnegative half runs from the largest node down; mirror it to ascending order
    nodes = np.concatenate((-x, x[::-1][n % 2:]))
    weights = np.concatenate((w, w[::-1][n % 2:]))
    return nodes, weights


def _frozen(x: np.ndarray, w: np.ndarray):
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


@functools.lru_cache(maxsize=64)
def _gauss_legendre_cached(n: int):
    if n <= _EIGENVALUE_POINTS:
        return _frozen(*np.polynomial.legendre.leggauss(n))
    return _frozen(*_gauss_legendre_newton(n))


def gauss_legendre(n: int):
    """Gauss–Legendre rule with ``n`` points: exact for polynomials of degree ``2n - 1`` on [-1, 1].

    Nodes ascending. Above 128 points, Newton's method on the Legendre recurrence from asymptotic
    starting values: O(n^2) time and O(n) memory (no eigenvalue problem), accurate to a few ulps in the
    nodes and about ``n^2 u`` relative in the end weights. The returned arrays are read-only.

    Parameters
    ----------
    n : int
        Number of points, ``1 <= n <=`` :data:`MAX_POINTS`.

    Raises
    ------
    TypeError
        ``n`` is not an integer.
    ValueError
        ``n`` is out of range.

    >>> x, w = gauss_legendre(3)
    >>> round(float(np.dot(w, x**4)), 14)  # 2/5
    0.4
    """
    n = check_int(n, "n", "gauss_legendre", low=1, high=MAX_POINTS)
    if n <= _CACHED_POINTS:
        return _gauss_legendre_cached(n)
    return _frozen(*_gauss_legendre_newton(n))


@functools.lru_cache(maxsize=64)
def _gauss_lobatto(n: int):
    if n == 2:
        x = np.array([-1.0, 1.0])
    else:
        # interior nodes: zeros of P'_{n-1}, i.e. of the Jacobi polynomial P^{(1,1)}_{n-2}
        inner, _ = sc.roots_jacobi(n - 2, 1.0, 1.0)
        x = np.concatenate(([-1.0], np.sort(inner), [1.0]))
        # one Newton polish of the interior nodes on P'_{n-1} (its derivative: P''_{n-1})
        m = n - 1
        for _ in range(2):
            xi = x[1:-1]
            p = sc.eval_legendre(m, xi)
            pm1 = sc.eval_legendre(m - 1, xi)
            dp = m * (pm1 - xi * p) / (1 - xi**2)
            d2p = (2 * xi * dp - m * (m + 1) * p) / (1 - xi**2)
            x[1:-1] = xi - dp / d2p
    w = 2.0 / (n * (n - 1) * sc.eval_legendre(n - 1, x) ** 2)
    return _frozen(x, w)


def gauss_lobatto(n: int):
    """Gauss–Lobatto–Legendre rule with ``n >= 2`` points (both end points included).

    Exact for polynomials of degree ``2n - 3``; the nodes are the interpolation nodes of the spectral
    elements and the rule gives their lumped (diagonal) mass matrix. ``n`` is an integer in
    ``[2,`` :data:`MAX_POINTS` ``]`` (TypeError / ValueError otherwise). The returned arrays are read-only.

    >>> x, w = gauss_lobatto(4)
    >>> np.round(x**2, 12).tolist(), round(float(w.sum()), 14)
    ([1.0, 0.2, 0.2, 1.0], 2.0)
    """
    return _gauss_lobatto(check_int(n, "n", "gauss_lobatto", low=2, high=MAX_POINTS))


@functools.lru_cache(maxsize=256)
def _gauss_jacobi(n: int, gamma: float):
    return _frozen(*sc.roots_jacobi(n, 0.0, gamma))


def gauss_jacobi(n: int, gamma: float):
    """Gauss–Jacobi rule for the weight ``(1 + x)**gamma`` on [-1, 1] (``gamma > -1``), ``n`` points.

    ``sum(w * f(x))`` integrates ``(1 + x)**gamma * f(x)`` exactly for polynomials ``f`` of degree
    ``2n - 1`` (Golub–Welsch, :func:`scipy.special.roots_jacobi`). Used on the first element of the
    Dirac mesh, where the integrands carry the factor ``r**(2 beta - 2)``. ``n`` is an integer in
    ``[1,`` :data:`MAX_POINTS` ``]`` and ``gamma`` a finite real ``> -1`` (TypeError / ValueError
    otherwise). The returned arrays are read-only.

    >>> x, w = gauss_jacobi(5, -0.5)
    >>> round(float(w.sum()), 12) == round(2**0.5 / 0.5, 12)
    True
    """
    func = "gauss_jacobi"
    n = check_int(n, "n", func, low=1, high=MAX_POINTS)
    gamma = check_scalar(gamma, "gamma", func, low=-1.0, low_inclusive=False)
    return _gauss_jacobi(n, gamma)


def lagrange_basis(nodes: np.ndarray, x: np.ndarray):
    """Values and first derivatives of the Lagrange polynomials on ``nodes`` at the points ``x``.

    Returns ``(B, D)`` of shape ``(len(x), len(nodes))`` with ``B[q, i] = L_i(x_q)`` and
    ``D[q, i] = L_i'(x_q)``, computed in the barycentric form (stable for the GLL nodes up to the
    degrees used here). Points that coincide with a node are handled exactly.

    Parameters
    ----------
    nodes : array_like, shape (m,)
        Distinct finite interpolation nodes, ``m >= 1``.
    x : array_like, shape (q,)
        Finite evaluation points.

    Raises
    ------
    TypeError
        A non-real or non-numeric input.
    ValueError
        An input that is not 1-D or not finite, no node, or two equal nodes.
    """
    func = "lagrange_basis"
    nodes = as_float_array(nodes, "nodes", func, ndim=1)
    x = as_float_array(x, "x", func, ndim=1)
    m = len(nodes)
    if m == 0:
        raise fail(func, "nodes", "hold at least one node", "an empty array")
    order = np.argsort(nodes, kind="stable")
    equal = np.flatnonzero(np.diff(nodes[order]) == 0.0)
    if equal.size:
        i, j = sorted((int(order[equal[0]]), int(order[equal[0] + 1])))
        raise fail(func, "nodes", "be distinct", f"nodes[{i}] = nodes[{j}] = {float(nodes[i])!r}")
    diff = nodes[:, None] - nodes[None, :]
    np.fill_diagonal(diff, 1.0)
    # barycentric weights 1 / prod_j (x_i - x_j), up to a common factor (which cancels in B and D)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        lam = 1.0 / diff.prod(axis=1)
    if not (np.isfinite(lam).all() and lam.all()):
        # many or clustered nodes: the products over/underflow, so form them from logarithms
        log_lam = -np.log(np.abs(diff)).sum(axis=1)
        sign = np.where(np.count_nonzero(diff < 0, axis=1) % 2, -1.0, 1.0)
        lam = sign * np.exp(log_lam - log_lam.max())
    # differentiation matrix on the nodes: Dn[i, j] = L_j'(x_i)
    Dn = (lam[None, :] / lam[:, None]) / diff
    np.fill_diagonal(Dn, 0.0)
    np.fill_diagonal(Dn, -Dn.sum(axis=1))
    B = np.empty((len(x), m))
    dx = x[:, None] - nodes[None, :]
    hit = dx == 0.0
    on_node = hit.any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = lam[None, :] / dx
        B[:] = t / t.sum(axis=1, keepdims=True)
    if on_node.any():
        B[on_node] = hit[on_node].astype(np.float64)
    # derivative of the interpolant of each basis function: B @ (values of L_j' at the nodes)
    D = B @ Dn
    return B, D
