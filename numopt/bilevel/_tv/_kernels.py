"""Numba kernels of :mod:`numopt.bilevel`: the smoothed-TV lower level's gradient and Hessian products.

Kernels assume clean input (built by :func:`numopt.bilevel.tv_denoising_problem`): C-contiguous float64 stacks
of shape ``(m, H, W)`` and preallocated outputs. Differences are forward, with Neumann boundary (the last
column/row has none), so ``D_hᵀp`` subtracts p at the left pixel and adds it at the right one; one pass over
the pixels replaces the ten NumPy passes (and their temporaries) of the array form.
"""

from __future__ import annotations

import math

from ..._numba import jit


@jit
def tv_grad(x, y, half_a, nu2, out):
    """out = x - y + ½α (D_hᵀ φ'(D_h x) + D_vᵀ φ'(D_v x)) with φ'(t) = t/√(t² + ν²); ``half_a`` = ½α, ``nu2`` = ν²."""
    m, H, W = x.shape
    for k in range(m):
        for i in range(H):
            for j in range(W):
                out[k, i, j] = x[k, i, j] - y[k, i, j]
        for i in range(H):
            for j in range(W - 1):
                d = x[k, i, j + 1] - x[k, i, j]
                t = half_a * d / math.sqrt(d * d + nu2)
                out[k, i, j] -= t
                out[k, i, j + 1] += t
        for i in range(H - 1):
            for j in range(W):
                d = x[k, i + 1, j] - x[k, i, j]
                t = half_a * d / math.sqrt(d * d + nu2)
                out[k, i, j] -= t
                out[k, i + 1, j] += t


@jit
def tv_weights(x, nu2, wh, wv):
    """The Hessian weights φ''(D x) = ν²/(t² + ν²)^{3/2} on the horizontal (wh) and vertical (wv) differences."""
    m, H, W = x.shape
    for k in range(m):
        for i in range(H):
            for j in range(W - 1):
                d = x[k, i, j + 1] - x[k, i, j]
                s = d * d + nu2
                wh[k, i, j] = nu2 / (s * math.sqrt(s))
        for i in range(H - 1):
            for j in range(W):
                d = x[k, i + 1, j] - x[k, i, j]
                s = d * d + nu2
                wv[k, i, j] = nu2 / (s * math.sqrt(s))


@jit
def tv_hessp(v, wh, wv, half_a, out):
    """out = v + ½α (D_hᵀ diag(wh) D_h v + D_vᵀ diag(wv) D_v v)."""
    m, H, W = v.shape
    for k in range(m):
        for i in range(H):
            for j in range(W):
                out[k, i, j] = v[k, i, j]
        for i in range(H):
            for j in range(W - 1):
                t = half_a * wh[k, i, j] * (v[k, i, j + 1] - v[k, i, j])
                out[k, i, j] -= t
                out[k, i, j + 1] += t
        for i in range(H - 1):
            for j in range(W):
                t = half_a * wv[k, i, j] * (v[k, i + 1, j] - v[k, i, j])
                out[k, i, j] -= t
                out[k, i + 1, j] += t
