"""Numba kernels of :mod:`numopt.completion`: sorting the observations, the per-row batched
least-squares solves of one alternating-minimization half-step, and entrywise prediction.

Kernels assume clean input (validated by :func:`numopt.completion.complete_matrix`): C-contiguous
float64 factors and values, int64 ``indptr``, int32 or int64 indices, preallocated outputs.

One half-step solves, for every row ``i`` of the factor being updated, the ridge least-squares problem

    min_x  sum_{j in J_i} (y_ij - F_j . x)^2 + reg |x|^2

where ``J_i`` are the observed columns of row ``i`` and ``F`` the fixed factor. The rows are
independent; they are processed in blocks of rows, one serial kernel call per block, the blocks on
threads (:mod:`numopt.completion._threads`; the kernels release the GIL). Each row's
design ``B = F[J_i]`` is first gathered, transposed, into a contiguous ``(k, d_i)`` block ``BT`` (the
scattered reads of ``F`` are the largest single cost at small ``k``). Every later pass then runs over
the row's observations with unit stride: ``B v`` as ``k`` axpys of length ``d``, ``B^T r`` and the
Gram entries as dot products of length ``d``, which LLVM vectorises. The row-major ``(d, k)`` layout
runs those passes as a length-``k`` loop per observation, which LLVM does not vectorise as well.
"""

from __future__ import annotations

import math

import numpy as np

from .._numba import jit
from ..linalg._kernels import fwht_inplace

#: Per-row solver codes of a half-step plan.
EMPTY, EXACT, CG, SKETCH = 0, 1, 2, 3
#: Sketch families of the sketch solver.
SPARSE_SIGN, SRHT = 0, 1
#: A Cholesky pivot below this fraction of the largest diagonal entry of the Gram matrix (or an R factor
#: diagonal below this fraction of the largest) marks the row's least-squares problem as numerically
#: singular; the row then gets the minimum-norm solution (eigendecomposition).
SINGULAR_RTOL = 1e-12
#: Rounding floor of the inner (P)CG: a normal-equation residual below RTOL_FLOOR |B^T y| is rounding noise
#: and further steps can amplify it (seen: a row driven to 1e25 after 400 steps at rtol = 1e-15).
RTOL_FLOOR = 1e-13
#: Observations per tile of the Gram-matrix accumulation (a tile of the transposed design, k x GRAM_TILE
#: doubles, is re-read k/2 times: 128 keeps it within 64 KB up to k = 64).
GRAM_TILE = 128


# --------------------------------------------------------------------------------------------------
# Sorting the observations (COO -> CSR with sorted columns, and CSC with sorted rows)
# --------------------------------------------------------------------------------------------------


@jit
def counting_sort(keys, n_keys, other, vals, indptr, out_other, out_vals):
    """Stable counting sort of ``(other, vals)`` by ``keys`` in ``[0, n_keys)``; fills ``indptr``."""
    indptr[:] = 0
    n = keys.shape[0]
    for t in range(n):
        indptr[keys[t] + 1] += 1
    for i in range(n_keys):
        indptr[i + 1] += indptr[i]
    pos = indptr[:-1].copy()
    for t in range(n):
        key = keys[t]
        p = pos[key]
        out_other[p] = other[t]
        out_vals[p] = vals[t]
        pos[key] = p + 1


@jit
def expand_indptr(indptr, out):
    """The row index of every entry of a compressed structure (the inverse of a counting sort)."""
    for i in range(indptr.shape[0] - 1):
        for t in range(indptr[i], indptr[i + 1]):
            out[t] = i


@jit
def first_duplicate(indptr, idx):
    """Position of the first entry equal to its predecessor within a row of a structure whose rows hold
    sorted indices, or -1 when every (row, index) pair is distinct."""
    for i in range(indptr.shape[0] - 1):
        for t in range(indptr[i] + 1, indptr[i + 1]):
            if idx[t] == idx[t - 1]:
                return t
    return -1


# --------------------------------------------------------------------------------------------------
# Small dense helpers (one row's problem)
# --------------------------------------------------------------------------------------------------


@jit(inline="always")
def _gather(indptr, idx, val, F, i, BT, y):
    """BT[:, :d] = F[idx of row i]^T (the row's design, transposed), y[:d] = values of row i; returns d."""
    k = F.shape[1]
    start = indptr[i]
    d = indptr[i + 1] - start
    for t in range(d):
        Fj = F[np.uint64(idx[start + t])]
        y[t] = val[start + t]
        for a in range(k):
            BT[a, t] = Fj[a]
    return d


@jit(inline="always")
def _gather_residual(indptr, idx, val, F, i, BT, y, x, r):
    """:func:`_gather`, and r[:d] = y - B x in the same pass (the row of F is in registers: it saves the CG
    solve a pass over BT); returns |r[:d]|^2."""
    k = F.shape[1]
    start = indptr[i]
    d = indptr[i + 1] - start
    acc = 0.0
    for t in range(d):
        Fj = F[np.uint64(idx[start + t])]
        yt = val[start + t]
        y[t] = yt
        z = 0.0
        for a in range(k):
            v = Fj[a]
            BT[a, t] = v
            z += v * x[a]
        e = yt - z
        r[t] = e
        acc += e * e
    return acc


@jit(inline="always")
def _gram(BT, y, d, reg, G, rhs):
    """G = B^T B + reg I (both triangles), rhs = B^T y, with B = BT[:, :d]^T: one unit-stride dot product
    of length <= GRAM_TILE per pair (a, c <= a) and tile of observations, so the tile of BT in use stays in
    the L1 cache for large k."""
    k = BT.shape[0]
    G[:, :] = 0.0
    rhs[:] = 0.0
    for t0 in range(0, d, GRAM_TILE):
        t1 = min(d, t0 + GRAM_TILE)
        yt = y[t0:t1]  # slices, not range(t0, t1) loops: those are not vectorised (measured 9x slower)
        for a in range(k):
            Ba = BT[a, t0:t1]
            s = 0.0
            for t in range(t1 - t0):
                s += Ba[t] * yt[t]
            rhs[a] += s
            for c in range(a + 1):
                Bc = BT[c, t0:t1]
                s = 0.0
                for t in range(t1 - t0):
                    s += Ba[t] * Bc[t]
                G[a, c] += s
    for a in range(k):
        G[a, a] += reg
        for c in range(a):
            G[c, a] = G[a, c]


@jit(inline="always")
def _cholesky_solve(G, rhs, L, x):
    """Solve G x = rhs by Cholesky (L lower, k + 1 rows: its last row receives L^{-1} rhs, the forward
    substitution done by the factorization's own loop); False when a pivot is below SINGULAR_RTOL * max diag."""
    k = G.shape[0]
    dmax = 0.0
    for a in range(k):
        dmax = max(dmax, G[a, a])
    if not dmax > 0.0:
        return False
    floor = SINGULAR_RTOL * dmax
    for j in range(k):
        Lj = L[j]
        s = G[j, j]
        for p in range(j):
            s -= Lj[p] * Lj[p]
        if not s > floor:
            return False
        ljj = math.sqrt(s)
        Lj[j] = ljj
        for i in range(j + 1, k + 1):
            Li = L[i]
            s = G[i, j] if i < k else rhs[j]
            for p in range(j):
                s -= Li[p] * Lj[p]
            Li[j] = s / ljj
    z = L[k]
    for i in range(k - 1, -1, -1):  # L^T x = z
        s = z[i]
        for p in range(i + 1, k):
            s -= L[p, i] * x[p]
        x[i] = s / L[i, i]
    return True


#: Cyclic Jacobi sweeps of the minimum-norm fallback (quadratic convergence: k <= 200 needs fewer than 15).
JACOBI_SWEEPS = 50


@jit(inline="always")
def _min_norm_solve(G, rhs, x, A, Q):
    """x = G^+ rhs for a symmetric positive semidefinite k x k G: eigendecomposition by cyclic Jacobi
    rotations (Golub and Van Loan, Algorithm 8.5.3; a few loops instead of LAPACK's eigh, whose binding
    took longer to compile than the rest of the exact solver), eigenvalues below SINGULAR_RTOL times the
    largest cut. ``A`` and ``Q`` are k x k work arrays."""
    k = G.shape[0]
    total = 0.0
    for a in range(k):
        for b in range(k):
            A[a, b] = G[a, b]
            Q[a, b] = 1.0 if a == b else 0.0
            total += G[a, b] * G[a, b]
    for sweep in range(JACOBI_SWEEPS):
        off = 0.0
        for a in range(k):
            for b in range(a + 1, k):
                off += A[a, b] * A[a, b]
        if not off > 1e-32 * total:
            break
        for p in range(k - 1):
            for q in range(p + 1, k):
                apq = A[p, q]
                if apq == 0.0:
                    continue
                tau = (A[q, q] - A[p, p]) / (2.0 * apq)
                t = 1.0 / (abs(tau) + math.sqrt(1.0 + tau * tau))   # tau ~ 1e200: t = 0, no rotation
                if tau < 0.0:
                    t = -t
                c = 1.0 / math.sqrt(1.0 + t * t)
                s = t * c
                for r in range(k):   # A <- A J
                    arp = A[r, p]
                    arq = A[r, q]
                    A[r, p] = c * arp - s * arq
                    A[r, q] = s * arp + c * arq
                for r in range(k):   # A <- J^T A
                    apr = A[p, r]
                    aqr = A[q, r]
                    A[p, r] = c * apr - s * aqr
                    A[q, r] = s * apr + c * aqr
                for r in range(k):   # Q <- Q J
                    qrp = Q[r, p]
                    qrq = Q[r, q]
                    Q[r, p] = c * qrp - s * qrq
                    Q[r, q] = s * qrp + c * qrq
    wmax = 0.0
    for a in range(k):
        wmax = max(wmax, A[a, a])
    for a in range(k):
        x[a] = 0.0
    if not wmax > 0.0:
        return
    cut = SINGULAR_RTOL * wmax
    for a in range(k):
        w = A[a, a]
        if w > cut:
            c = 0.0
            for b in range(k):
                c += Q[b, a] * rhs[b]
            c /= w
            for b in range(k):
                x[b] += c * Q[b, a]


@jit(inline="always")
def _exact(BT, y, d, reg, G, L, rhs, x):
    """Row solve by the normal equations (Cholesky); False, with ``x`` untouched, when the Gram matrix is
    numerically singular (the caller then defers the row to :func:`rows_min_norm`)."""
    _gram(BT, y, d, reg, G, rhs)
    return _cholesky_solve(G, rhs, L, x)


@jit(inline="always")
def _apply_B(BT, d, v, out):
    """out[:d] = B v = sum_a v_a BT[a, :d] (k unit-stride passes over out); returns |out[:d]|^2."""
    k = BT.shape[0]
    for t in range(d):
        out[t] = 0.0
    for a in range(k):
        va = v[a]
        Ba = BT[a]
        for t in range(d):
            out[t] += va * Ba[t]
    acc = 0.0
    for t in range(d):
        acc += out[t] * out[t]
    return acc


@jit(inline="always")
def _residual(BT, y, d, x, r):
    """r[:d] = y - B x; returns |r[:d]|^2."""
    _apply_B(BT, d, x, r)
    acc = 0.0
    for t in range(d):
        e = y[t] - r[t]
        r[t] = e
        acc += e * e
    return acc


@jit(inline="always")
def _apply_Bt(BT, d, r, reg, x, out):
    """out = B^T r[:d] - reg x (k unit-stride dot products of length d)."""
    k = BT.shape[0]
    for a in range(k):
        Ba = BT[a]
        s = 0.0
        for t in range(d):
            s += Ba[t] * r[t]
        out[a] = s - reg * x[a]


@jit
def _householder_r(A, nr, R):
    """R (k x k, upper triangular) of the QR factorisation of A[:nr] (overwritten); False when a diagonal
    entry of R is below SINGULAR_RTOL times the largest (rank-deficient sketch)."""
    k = A.shape[1]
    v = np.empty(nr)
    w = np.empty(k)
    for j in range(k):
        norm2 = 0.0
        for i in range(j, nr):
            norm2 += A[i, j] * A[i, j]
        norm = math.sqrt(norm2)
        ajj = A[j, j]
        alpha = -norm if ajj >= 0.0 else norm
        # v = A[j:, j] - alpha e_1
        vv = 0.0
        for i in range(j, nr):
            v[i] = A[i, j]
        v[j] -= alpha
        for i in range(j, nr):
            vv += v[i] * v[i]
        A[j, j] = alpha
        for i in range(j + 1, nr):
            A[i, j] = 0.0
        if vv > 0.0 and j + 1 < k:
            for c in range(j + 1, k):
                w[c] = 0.0
            for i in range(j, nr):
                vi = v[i]
                Ai = A[i]
                for c in range(j + 1, k):
                    w[c] += vi * Ai[c]
            scale = 2.0 / vv
            for i in range(j, nr):
                f = scale * v[i]
                Ai = A[i]
                for c in range(j + 1, k):
                    Ai[c] -= f * w[c]
    rmax = 0.0
    for j in range(k):
        rmax = max(rmax, abs(A[j, j]))
    R[:, :] = 0.0
    for j in range(k):
        for c in range(j, k):
            R[j, c] = A[j, c]
    if not rmax > 0.0:
        return False
    for j in range(k):
        if not abs(A[j, j]) > SINGULAR_RTOL * rmax:
            return False
    return True


@jit(inline="always")
def _solve_R(R, b, out):
    """out = R^{-1} b (R upper triangular)."""
    k = R.shape[0]
    for i in range(k - 1, -1, -1):
        s = b[i]
        for c in range(i + 1, k):
            s -= R[i, c] * out[c]
        out[i] = s / R[i, i]


@jit(inline="always")
def _solve_Rt(R, b, out):
    """out = R^{-T} b."""
    k = R.shape[0]
    for i in range(k):
        s = b[i]
        for c in range(i):
            s -= R[c, i] * out[c]
        out[i] = s / R[i, i]


@jit
def _sketch_sparse_sign(indptr, idx, i, BT, d, sk_rows, sk_signs, SB, s):
    """SB[:s] = S_J B, B = BT[:, :d]^T, S_J = the columns J (the row's observed indices) of a sparse sign
    sketch."""
    k = BT.shape[0]
    zeta = sk_rows.shape[1]
    SB[:s, :] = 0.0
    start = indptr[i]
    bt = np.empty(k)
    for t in range(d):
        j = np.uint64(idx[start + t])
        for a in range(k):  # observation t's row of B, contiguous for the zeta scatters
            bt[a] = BT[a, t]
        for l in range(zeta):
            h = sk_rows[j, l]
            sg = sk_signs[j, l]
            row = SB[h]
            for a in range(k):
                row[a] += sg * bt[a]


@jit
def _sketch_srht(indptr, idx, i, BT, d, signs, selected, W, SB, s):
    """SB[:s] = (1/sqrt(s)) P H D B with B = BT[:, :d]^T zero-padded to p = next power of two >= max(d, s)
    rows: D the signs of the row's observed columns, H the unnormalised Walsh-Hadamard transform, P the
    ``s`` rows ``selected[log2 p]`` (uniform without replacement among the p)."""
    k = BT.shape[0]
    p = 1
    level = 0
    while p < d or p < s:
        p *= 2
        level += 1
    Wp = W[:p]
    start = indptr[i]
    for t in range(d):
        sg = signs[np.uint64(idx[start + t])]
        Wt = Wp[t]
        for a in range(k):
            Wt[a] = sg * BT[a, t]
    Wp[d:, :] = 0.0
    fwht_inplace(Wp)
    scale = 1.0 / math.sqrt(s)
    for l in range(s):
        src = Wp[selected[level, l]]
        dst = SB[l]
        for a in range(k):
            dst[a] = scale * src[a]


@jit(inline="always")
def _cgls(BT, y, d, reg, x, maxiter, rtol, r, rr, q, g, p, bty):
    """Warm-started CGLS (CG on the normal equations without forming them) on min |B x - y|^2 + reg |x|^2,
    B = BT[:, :d]^T, r[:d] = y - B x on entry (|r|^2 = rr). At most ``maxiter`` steps; stops early when the
    normal-equation residual g = B^T(y - Bx) - reg x has |g| <= rtol |g_0| (g_0 at the warm start: the
    forcing term of an inexact Newton method) or |g| <= RTOL_FLOOR |B^T y| (rounding level).
    Returns (steps, |y - B x|^2). Each step costs 2 d k; the last one skips the gradient (d k).
    (:func:`_pcgls` is the same iteration right-preconditioned by R^{-1}; kept apart so that a "cg" run does
    not compile the triangular solves.)"""
    k = BT.shape[0]
    for a in range(k):  # B^T r - reg x and B^T y, in one pass over BT
        Ba = BT[a]
        s1 = 0.0
        s2 = 0.0
        for t in range(d):
            s1 += Ba[t] * r[t]
            s2 += Ba[t] * y[t]
        g[a] = s1 - reg * x[a]
        bty[a] = s2
    gamma = 0.0
    bnorm2 = 0.0
    for a in range(k):
        gamma += g[a] * g[a]
        bnorm2 += bty[a] * bty[a]
        p[a] = g[a]
    stop2 = max(rtol * rtol * gamma, RTOL_FLOOR * RTOL_FLOOR * bnorm2)
    steps = 0
    while steps < maxiter and gamma > stop2:
        qq = _apply_B(BT, d, p, q)
        pp = 0.0
        for a in range(k):
            pp += p[a] * p[a]
        denom = qq + reg * pp
        if not denom > 0.0:
            break
        alpha = gamma / denom
        for a in range(k):
            x[a] += alpha * p[a]
        rr = 0.0
        for t in range(d):
            r[t] -= alpha * q[t]
            rr += r[t] * r[t]
        steps += 1
        if steps == maxiter:
            break
        _apply_Bt(BT, d, r, reg, x, g)
        gamma_new = 0.0
        for a in range(k):
            gamma_new += g[a] * g[a]
        beta = gamma_new / gamma
        gamma = gamma_new
        for a in range(k):
            p[a] = g[a] + beta * p[a]
    return steps, rr


@jit(inline="always")
def _pcgls(BT, y, d, reg, R, x, maxiter, rtol, r, rr, q, g, p, z, tvec, bty):
    """Warm-started CGLS right-preconditioned by R^{-1} (R from the QR of the sketched, ridge-augmented
    design): CG on R^{-T}(B^T B + reg I)R^{-1} u = R^{-T} B^T y, x = R^{-1} u, on
    min |B x - y|^2 + reg |x|^2, B = BT[:, :d]^T. At most ``maxiter`` steps; stops early when the
    preconditioned normal-equation residual g = R^{-T}(B^T(y - Bx) - reg x) has |g| <= rtol |g_0| (the forcing
    term) or |g| <= RTOL_FLOOR |R^{-T} B^T y| (rounding level). Returns (steps, |y - B x|^2).
    Each step costs 2 d k + 2 k^2; the last one skips the gradient (d k)."""
    k = BT.shape[0]
    for a in range(k):  # B^T r - reg x and B^T y, in one pass over BT
        Ba = BT[a]
        s1 = 0.0
        s2 = 0.0
        for t in range(d):
            s1 += Ba[t] * r[t]
            s2 += Ba[t] * y[t]
        tvec[a] = s1 - reg * x[a]
        bty[a] = s2
    _solve_Rt(R, tvec, g)  # preconditioned gradient
    _solve_Rt(R, bty, z)
    gamma = 0.0
    bnorm2 = 0.0
    for a in range(k):
        gamma += g[a] * g[a]
        bnorm2 += z[a] * z[a]
        p[a] = g[a]
    stop2 = max(rtol * rtol * gamma, RTOL_FLOOR * RTOL_FLOOR * bnorm2)
    steps = 0
    while steps < maxiter and gamma > stop2:
        _solve_R(R, p, tvec)  # search direction in x-space
        qq = _apply_B(BT, d, tvec, q)
        tt = 0.0
        for a in range(k):
            tt += tvec[a] * tvec[a]
        denom = qq + reg * tt
        if not denom > 0.0:
            break
        alpha = gamma / denom
        for a in range(k):
            x[a] += alpha * tvec[a]
        rr = 0.0
        for t in range(d):
            r[t] -= alpha * q[t]
            rr += r[t] * r[t]
        steps += 1
        if steps == maxiter:
            break
        _apply_Bt(BT, d, r, reg, x, z)
        _solve_Rt(R, z, g)
        gamma_new = 0.0
        for a in range(k):
            gamma_new += g[a] * g[a]
        beta = gamma_new / gamma
        gamma = gamma_new
        for a in range(k):
            p[a] = g[a] + beta * p[a]
    return steps, rr


# --------------------------------------------------------------------------------------------------
# One half-step, over a block of rows [lo, hi)
# --------------------------------------------------------------------------------------------------
#
# One kernel per solver path, so that a run compiles only what its plan uses (the "cg" path never compiles
# the Cholesky, neither compiles the sketches): ``rows_exact`` (EXACT and EMPTY rows), ``rows_cg`` (CG and
# EMPTY) and ``rows_sketch`` (SKETCH, EXACT and EMPTY: the plan of solver="auto"). The minimum-norm fallback
# for numerically singular rows is a kernel of its own, ``rows_min_norm``, compiled only when a run meets one.
# Each is serial; numopt.completion._threads runs blocks of rows on threads (the kernels release the GIL).
# ``stats`` (float64, length 5) receives the block's: squared residual on the observed entries after the
# update, |X_new - X_old|_F^2, minimum-norm fallbacks, inner CG/PCG steps, |X_new|_F^2.
#
# Compile time (issue 11 item 7): a helper compiled on its own is compiled again (linked, inlined and
# re-optimised by LLVM) inside every kernel that calls it, so helpers that call other helpers (``_exact``,
# ``_residual``, ``_cgls``, ``_pcgls``) and the leaf helpers are inlined as Numba IR: each is compiled once per
# kernel that uses it, inside it, and never on its own with a CPython wrapper. Measured (CPU seconds of
# Numba compiling, the tour's exact and cg paths, load ~15): 15.6 s before, 7.8 s after; the warm kernels
# are unchanged (k = 10 and 50, exact and cg, within the noise).


@jit(inline="always")
def _row_span(indptr, lo, hi):
    """The longest row in [lo, hi) (at least 1): the size of the per-block buffers."""
    dmax = 1
    for i in range(lo, hi):
        dmax = max(dmax, indptr[i + 1] - indptr[i])
    return dmax


@jit(inline="always")
def _zero_row(xi, stats):
    """An EMPTY row: its factor row is set to zero (the change is counted)."""
    for a in range(xi.shape[0]):
        stats[1] += xi[a] * xi[a]
        xi[a] = 0.0


@jit(inline="always")
def _row_done(xi, x_old, stats):
    """Accumulate the row's change and squared norm."""
    for a in range(xi.shape[0]):
        e = xi[a] - x_old[a]
        stats[1] += e * e
        stats[4] += xi[a] * xi[a]


@jit
def rows_exact_core(lo, hi, indptr, idx, val, F, X, reg, plan, stats, singular):
    """:func:`rows_exact` without the minimum-norm fallback: a row whose Gram matrix is numerically singular
    is left untouched (not counted in ``stats``) and listed in ``singular``; returns how many were listed."""
    k = X.shape[1]
    dmax = _row_span(indptr, lo, hi)
    BT = np.empty((k, dmax))
    y = np.empty(dmax)
    r = np.empty(dmax)
    G = np.empty((k, k))
    L = np.empty((k + 1, k))
    rhs = np.empty(k)
    x_old = np.empty(k)
    n_singular = 0
    for i in range(lo, hi):
        xi = X[i]
        d = indptr[i + 1] - indptr[i]
        if plan[i] == EMPTY or d == 0:
            _zero_row(xi, stats)
            continue
        for a in range(k):
            x_old[a] = xi[a]
        _gather(indptr, idx, val, F, i, BT, y)
        if not _exact(BT, y, d, reg, G, L, rhs, xi):
            singular[n_singular] = i
            n_singular += 1
            continue
        stats[0] += _residual(BT, y, d, xi, r)
        _row_done(xi, x_old, stats)
    return n_singular


@jit
def rows_min_norm(rows, indptr, idx, val, F, X, reg, stats):
    """The listed rows, whose ridge Gram matrix B^T B + reg I is numerically singular (fewer than k independent
    observations, reg = 0): the minimum-norm least-squares solution (:func:`_min_norm_solve`). A kernel of
    its own, so that the eigensolver is compiled only by a run that meets such a row (it was about a third
    of the exact solver's compile time)."""
    k = X.shape[1]
    dmax = 1
    for t in range(rows.shape[0]):
        i = rows[t]
        dmax = max(dmax, indptr[i + 1] - indptr[i])
    BT = np.empty((k, dmax))
    y = np.empty(dmax)
    r = np.empty(dmax)
    G = np.empty((k, k))
    A = np.empty((k, k))
    Q = np.empty((k, k))
    rhs = np.empty(k)
    x_old = np.empty(k)
    for t in range(rows.shape[0]):
        i = rows[t]
        xi = X[i]
        d = indptr[i + 1] - indptr[i]
        for a in range(k):
            x_old[a] = xi[a]
        _gather(indptr, idx, val, F, i, BT, y)
        _gram(BT, y, d, reg, G, rhs)
        _min_norm_solve(G, rhs, xi, A, Q)
        stats[2] += 1
        stats[0] += _residual(BT, y, d, xi, r)
        _row_done(xi, x_old, stats)


def rows_exact(lo, hi, indptr, idx, val, F, X, reg, plan, stats):
    """Rows [lo, hi) of a half-step whose plan is EXACT or EMPTY: normal equations (Cholesky; minimum-norm
    fallback when numerically singular). Two kernels: :func:`rows_exact_core`, then :func:`rows_min_norm` for
    the rows it found singular, if any (a plain function, so both release the GIL)."""
    singular = np.empty(hi - lo, dtype=np.int64)
    n_singular = rows_exact_core(lo, hi, indptr, idx, val, F, X, reg, plan, stats, singular)
    if n_singular:
        rows_min_norm(singular[:n_singular], indptr, idx, val, F, X, reg, stats)


@jit
def rows_cg(lo, hi, indptr, idx, val, F, X, reg, plan, cg_maxiter, cg_rtol, stats):
    """Rows [lo, hi) of a half-step whose plan is CG or EMPTY: warm-started CGLS (see :func:`_cgls`)."""
    k = X.shape[1]
    dmax = _row_span(indptr, lo, hi)
    BT = np.empty((k, dmax))
    y = np.empty(dmax)
    r = np.empty(dmax)
    q = np.empty(dmax)
    g = np.empty(k)
    p = np.empty(k)
    bty = np.empty(k)
    x_old = np.empty(k)
    for i in range(lo, hi):
        xi = X[i]
        d = indptr[i + 1] - indptr[i]
        if plan[i] == EMPTY or d == 0:
            _zero_row(xi, stats)
            continue
        for a in range(k):
            x_old[a] = xi[a]
        rr = _gather_residual(indptr, idx, val, F, i, BT, y, xi, r)
        nsteps, rr = _cgls(BT, y, d, reg, xi, cg_maxiter, cg_rtol, r, rr, q, g, p, bty)
        stats[3] += nsteps
        stats[0] += rr
        _row_done(xi, x_old, stats)


def rows_sketch(lo, hi, indptr, idx, val, F, X, reg, plan, cg_maxiter, cg_rtol, sketch_kind, sketch_size,
                sk_rows, sk_signs, srht_signs, srht_selected, stats):
    """Rows [lo, hi) of a half-step whose plan is SKETCH, EXACT or EMPTY: sketch-and-precondition (QR of the
    sketched design, then PCGLS) for SKETCH rows, the normal equations for EXACT rows and for sketched rows
    whose sketch is rank-deficient (:func:`rows_sketch_core`), then the minimum-norm solution for the rows whose
    Gram matrix is numerically singular (:func:`rows_min_norm`)."""
    singular = np.empty(hi - lo, dtype=np.int64)
    n_singular = rows_sketch_core(lo, hi, indptr, idx, val, F, X, reg, plan, cg_maxiter, cg_rtol, sketch_kind,
                                  sketch_size, sk_rows, sk_signs, srht_signs, srht_selected, stats, singular)
    if n_singular:
        rows_min_norm(singular[:n_singular], indptr, idx, val, F, X, reg, stats)


@jit
def rows_sketch_core(lo, hi, indptr, idx, val, F, X, reg, plan, cg_maxiter, cg_rtol, sketch_kind, sketch_size,
                     sk_rows, sk_signs, srht_signs, srht_selected, stats, singular):
    """:func:`rows_sketch` without the minimum-norm fallback (as :func:`rows_exact_core`); returns how many rows
    it listed in ``singular``."""
    k = X.shape[1]
    dmax = _row_span(indptr, lo, hi)
    BT = np.empty((k, dmax))
    y = np.empty(dmax)
    r = np.empty(dmax)
    q = np.empty(dmax)
    G = np.empty((k, k))
    L = np.empty((k + 1, k))
    rhs = np.empty(k)
    g = np.empty(k)
    p = np.empty(k)
    z = np.empty(k)
    tvec = np.empty(k)
    bty = np.empty(k)
    x_old = np.empty(k)
    nr = sketch_size + (k if reg > 0.0 else 0)
    SB = np.empty((nr, k))
    R = np.empty((k, k))
    pmax = 1
    while pmax < dmax or pmax < sketch_size:
        pmax *= 2
    W = np.empty((pmax if sketch_kind == SRHT else 1, k))
    n_singular = 0
    for i in range(lo, hi):
        xi = X[i]
        method = plan[i]
        d = indptr[i + 1] - indptr[i]
        if method == EMPTY or d == 0:
            _zero_row(xi, stats)
            continue
        for a in range(k):
            x_old[a] = xi[a]
        _gather(indptr, idx, val, F, i, BT, y)
        solved = False
        if method == SKETCH:
            if sketch_kind == SRHT:
                _sketch_srht(indptr, idx, i, BT, d, srht_signs, srht_selected, W, SB, sketch_size)
            else:
                _sketch_sparse_sign(indptr, idx, i, BT, d, sk_rows, sk_signs, SB, sketch_size)
            if reg > 0.0:
                sr = math.sqrt(reg)
                SB[sketch_size:, :] = 0.0
                for a in range(k):
                    SB[sketch_size + a, a] = sr
            if _householder_r(SB, nr, R):
                rr = _residual(BT, y, d, xi, r)
                nsteps, rr = _pcgls(BT, y, d, reg, R, xi, cg_maxiter, cg_rtol, r, rr, q, g, p, z, tvec, bty)
                stats[3] += nsteps
                stats[0] += rr
                solved = True
        if not solved:   # an EXACT row, or a rank-deficient sketch (fewer than k independent observations)
            if not _exact(BT, y, d, reg, G, L, rhs, xi):
                singular[n_singular] = i
                n_singular += 1
                continue
            stats[0] += _residual(BT, y, d, xi, r)
        _row_done(xi, x_old, stats)
    return n_singular


@jit
def sparse_times_dense(indptr, idx, val, Y, lo, hi, out):
    """out[i] = sum over the stored entries (i, j) of val * Y[j], for the rows i in [lo, hi) (Y row-major
    (n, l): each observation is one contiguous axpy of length l). The block products of the randomized
    subspace iteration that starts ``complete_matrix``."""
    l = Y.shape[1]
    for i in range(lo, hi):
        o = out[i]
        for a in range(l):
            o[a] = 0.0
        for t in range(indptr[i], indptr[i + 1]):
            v = val[t]
            Yj = Y[np.uint64(idx[t])]
            for a in range(l):
                o[a] += v * Yj[a]


@jit
def observed_sq_residual(indptr, idx, val, U, V, lo, hi):
    """sum over the stored entries (i, j) of the rows i in [lo, hi) of (val - U_i . V_j)^2."""
    k = U.shape[1]
    acc = 0.0
    for i in range(lo, hi):
        Ui = U[i]
        for t in range(indptr[i], indptr[i + 1]):
            Vj = V[np.uint64(idx[t])]
            z = 0.0
            for a in range(k):
                z += Ui[a] * Vj[a]
            e = val[t] - z
            acc += e * e
    return acc


@jit
def predict_entries(A, B, rows, cols, out):
    """out[t] = A[rows[t]] . B[cols[t]] (A = U diag(s), B = V)."""
    n = rows.shape[0]
    k = A.shape[1]
    for t in range(n):
        Ai = A[rows[t]]
        Bj = B[cols[t]]
        z = 0.0
        for a in range(k):
            z += Ai[a] * Bj[a]
        out[t] = z
    return out


@jit
def rows_exact_weighted(lo, hi, indptr, idx, val, F, X, reg, weights, plan, stats):
    """:func:`rows_exact` with the ridge weight ``reg * weights[i]`` for row i (ALS-WR's lambda n_i when
    ``weights`` are the observation counts: ``reg_scale="counts"``)."""
    k = X.shape[1]
    dmax = _row_span(indptr, lo, hi)
    BT = np.empty((k, dmax))
    y = np.empty(dmax)
    r = np.empty(dmax)
    G = np.empty((k, k))
    L = np.empty((k + 1, k))
    rhs = np.empty(k)
    x_old = np.empty(k)
    for i in range(lo, hi):
        xi = X[i]
        d = indptr[i + 1] - indptr[i]
        if plan[i] == EMPTY or d == 0:
            _zero_row(xi, stats)
            continue
        for a in range(k):
            x_old[a] = xi[a]
        _gather(indptr, idx, val, F, i, BT, y)
        stats[2] += _exact(BT, y, d, reg * weights[i], G, L, rhs, xi)
        stats[0] += _residual(BT, y, d, xi, r)
        _row_done(xi, x_old, stats)


@jit
def rows_variational(lo, hi, indptr, idx, val, F, SF, X, SX, prec, noise_var, stats):
    """One mean-field variational Bayes half-step (``reg="auto"``) for the rows i in [lo, hi).

    The other factor's posterior is F_j +- SF_j (means, covariances); row i's posterior becomes N(X[i], SX[i])
    with SX[i] = (G_i / noise_var + diag(prec))^-1, G_i = sum_j (F_j F_j^T + SF_j) over the observed j, and
    X[i] = SX[i] sum_j val_j F_j / noise_var (a row without observation gets its prior N(0, diag(1/prec))).
    Adds to ``stats``: [0] sum (val - X_i . F_j)^2, [1] |X_i(new) - X_i(old)|^2, [2] the posterior variance of
    the fitted entries, sum_j E[(x . f)^2] - (X_i . F_j)^2 = tr(SX_i G_i) + X_i^T (sum_j SF_j) X_i, [4] |X_i|^2.
    ``prec`` > 0 and ``noise_var`` > 0 (never singular)."""
    k = X.shape[1]
    Gf = np.empty((k, k))
    Gs = np.empty((k, k))
    L = np.empty((k, k))
    S = np.empty((k, k))
    rhs = np.empty(k)
    x = np.empty(k)
    for i in range(lo, hi):
        for a in range(k):
            rhs[a] = 0.0
            for b in range(k):
                Gf[a, b] = 0.0
                Gs[a, b] = 0.0
        for t in range(indptr[i], indptr[i + 1]):
            j = np.uint64(idx[t])
            Fj = F[j]
            Sj = SF[j]
            v = val[t]
            for a in range(k):
                fa = Fj[a]
                rhs[a] += v * fa
                for b in range(a + 1):
                    Gf[a, b] += fa * Fj[b]
                    Gs[a, b] += Sj[a, b]
        for a in range(k):   # H = (Gf + Gs) / noise_var + diag(prec), lower triangle; Cholesky H = L L^T
            for b in range(a + 1):
                Gf[b, a] = Gf[a, b]
                Gs[b, a] = Gs[a, b]
        for j in range(k):
            s = (Gf[j, j] + Gs[j, j]) / noise_var + prec[j]
            for p in range(j):
                s -= L[j, p] * L[j, p]
            ljj = math.sqrt(s)
            L[j, j] = ljj
            for r in range(j + 1, k):
                s = (Gf[r, j] + Gs[r, j]) / noise_var
                for p in range(j):
                    s -= L[r, p] * L[j, p]
                L[r, j] = s / ljj
        for c in range(k):   # S = H^-1 column by column: L z = e_c, L^T s = z
            for r in range(k):
                s = 1.0 if r == c else 0.0
                for p in range(r):
                    s -= L[r, p] * S[p, c]
                S[r, c] = s / L[r, r]
            for r in range(k - 1, -1, -1):
                s = S[r, c]
                for p in range(r + 1, k):
                    s -= L[p, r] * S[p, c]
                S[r, c] = s / L[r, r]
        xi = X[i]
        Si = SX[i]
        dx = 0.0
        nx = 0.0
        for a in range(k):
            z = 0.0
            for b in range(k):
                z += S[a, b] * rhs[b]
            x[a] = z / noise_var
            dx += (x[a] - xi[a]) * (x[a] - xi[a])
            nx += x[a] * x[a]
        var = 0.0
        for a in range(k):
            xi[a] = x[a]
            for b in range(k):
                Si[a, b] = 0.5 * (S[a, b] + S[b, a])
                var += S[a, b] * (Gf[b, a] + Gs[b, a]) + x[a] * Gs[a, b] * x[b]
        res = 0.0
        for t in range(indptr[i], indptr[i + 1]):
            Fj = F[np.uint64(idx[t])]
            z = 0.0
            for a in range(k):
                z += x[a] * Fj[a]
            e = val[t] - z
            res += e * e
        stats[0] += res
        stats[1] += dx
        stats[2] += var
        stats[4] += nx


@jit
def fit_offsets(row_ptr, row_idx, row_val, A, B, den_row, den_col, passes, with_biases, b, c, resid, col_sum):
    """The offsets of ``center="global"|"biases"`` refitted to the data minus the low-rank part A B^T (k = 0:
    none): ``passes`` passes of exact block coordinate descent (the mean of the residual; then, with
    ``with_biases``, b_i = sum_j (r_ij - mean - c_j) / den_row[i] and c_j likewise, a zero denominator giving a
    zero bias). ``b``, ``c`` are updated in place (the starting point), ``resid`` (nnz,) and ``col_sum`` (n,) are
    work space. Returns (mean, sum over the observations of (r_ij - mean - b_i - c_j)^2)."""
    m = row_ptr.shape[0] - 1
    k = A.shape[1]
    nnz = row_ptr[m]
    for i in range(m):
        Ai = A[i]
        for t in range(row_ptr[i], row_ptr[i + 1]):
            Bj = B[np.uint64(row_idx[t])]
            z = 0.0
            for a in range(k):
                z += Ai[a] * Bj[a]
            resid[t] = row_val[t] - z
    mean = 0.0
    for _ in range(passes):
        s = 0.0
        for i in range(m):
            for t in range(row_ptr[i], row_ptr[i + 1]):
                s += resid[t] - b[i] - c[np.uint64(row_idx[t])]
        mean = s / max(nnz, 1)
        if not with_biases:
            continue
        for i in range(m):
            s = 0.0
            for t in range(row_ptr[i], row_ptr[i + 1]):
                s += resid[t] - mean - c[np.uint64(row_idx[t])]
            b[i] = s / den_row[i] if den_row[i] > 0.0 else 0.0
        col_sum[:] = 0.0
        for i in range(m):
            bi = b[i]
            for t in range(row_ptr[i], row_ptr[i + 1]):
                col_sum[np.uint64(row_idx[t])] += resid[t] - mean - bi
        for j in range(col_sum.shape[0]):
            c[j] = col_sum[j] / den_col[j] if den_col[j] > 0.0 else 0.0
    e2 = 0.0
    for i in range(m):
        for t in range(row_ptr[i], row_ptr[i + 1]):
            e = resid[t] - mean - b[i] - c[np.uint64(row_idx[t])]
            e2 += e * e
    return mean, e2


@jit
def shift_values(vals, major, minor_of, mean, b_major, c_minor, out):
    """out[t] = vals[t] - mean - b_major[major[t]] - c_minor[minor_of[t]] (the observations minus the offsets,
    in CSR or CSC order)."""
    for t in range(vals.shape[0]):
        out[t] = vals[t] - mean - b_major[np.uint64(major[t])] - c_minor[np.uint64(minor_of[t])]
