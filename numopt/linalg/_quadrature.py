"""Quadrature rules and Lagrange bases on the reference element [-1, 1].

The building blocks of spectral-element discretizations (Gauss–Legendre, Gauss–Lobatto–Legendre and
Gauss–Jacobi rules, barycentric Lagrange interpolation), used by :mod:`numopt.atomic`.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.special as sc

__all__ = ["gauss_legendre", "gauss_lobatto", "gauss_jacobi", "lagrange_basis"]


@functools.lru_cache(maxsize=64)
def _gauss_legendre(n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def gauss_legendre(n: int):
    """Gauss–Legendre rule with ``n`` points: exact for polynomials of degree ``2n - 1`` on [-1, 1].

    >>> x, w = gauss_legendre(3)
    >>> round(float(np.dot(w, x**4)), 14)  # 2/5
    0.4
    """
    return _gauss_legendre(int(n))


@functools.lru_cache(maxsize=64)
def _gauss_lobatto(n: int):
    if n < 2:
        raise ValueError(f"gauss_lobatto: `n` must be >= 2; got {n}.")
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
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def gauss_lobatto(n: int):
    """Gauss–Lobatto–Legendre rule with ``n >= 2`` points (both end points included).

    Exact for polynomials of degree ``2n - 3``; the nodes are the interpolation nodes of the spectral
    elements and the rule gives their lumped (diagonal) mass matrix.

    >>> x, w = gauss_lobatto(4)
    >>> np.round(x**2, 12).tolist(), round(float(w.sum()), 14)
    ([1.0, 0.2, 0.2, 1.0], 2.0)
    """
    return _gauss_lobatto(int(n))


@functools.lru_cache(maxsize=256)
def _gauss_jacobi(n: int, gamma: float):
    x, w = sc.roots_jacobi(n, 0.0, gamma)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def gauss_jacobi(n: int, gamma: float):
    """Gauss–Jacobi rule for the weight ``(1 + x)**gamma`` on [-1, 1] (``gamma > -1``), ``n`` points.

    ``sum(w * f(x))`` integrates ``(1 + x)**gamma * f(x)`` exactly for polynomials ``f`` of degree
    ``2n - 1`` (Golub–Welsch, :func:`scipy.special.roots_jacobi`). Used on the first element of the
    Dirac mesh, where the integrands carry the factor ``r**(2 beta - 2)``.

    >>> x, w = gauss_jacobi(5, -0.5)
    >>> round(float(w.sum()), 12) == round(2**0.5 / 0.5, 12)
    True
    """
    return _gauss_jacobi(int(n), float(gamma))


def lagrange_basis(nodes: np.ndarray, x: np.ndarray):
    """Values and first derivatives of the Lagrange polynomials on ``nodes`` at the points ``x``.

    Returns ``(B, D)`` of shape ``(len(x), len(nodes))`` with ``B[q, i] = L_i(x_q)`` and
    ``D[q, i] = L_i'(x_q)``, computed in the barycentric form (stable for the GLL nodes up to the
    degrees used here). Points that coincide with a node are handled exactly.
    """
    nodes = np.asarray(nodes, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    m = len(nodes)
    diff = nodes[:, None] - nodes[None, :]
    np.fill_diagonal(diff, 1.0)
    lam = 1.0 / diff.prod(axis=1)  # barycentric weights
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
