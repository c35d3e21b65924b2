"""Numba kernels of :mod:`numopt.unmixing`: the per-pixel FCLS active-set solve and the fused passes of
one multiplicative-update iteration.

Kernels assume clean input (validated by the public functions): C-contiguous float64 arrays, ``Y`` of
shape ``(L, N)``, ``M`` of shape ``(L, K)``, ``A`` of shape ``(K, N)``, preallocated outputs. The
two products with the data (``Y A^T`` and ``M^T D Y``) are blocked over pixels and read ``Y`` in its own
dtype (an integer cube is never copied to float64); the per-channel residual norms need no ``L x N``
residual; the abundance update is fused with its penalty term, sum-to-one error and the guidance statistic.
"""

from __future__ import annotations

import math

import numpy as np

from .._numba import jit

#: Relative tolerance on a negative multiplier before a variable enters the FCLS free set (rounding noise
#: below it must not make the active set cycle).
FCLS_KKT_RTOL = 1e-13


# --------------------------------------------------------------------------------------------------
# FCLS: min 1/2 a'Ga - b'a  s.t.  a >= 0, 1'a = 1, for every pixel (column of B)
# --------------------------------------------------------------------------------------------------


@jit(inline="always")
def _solve_bordered(G, b, nfree, idx, S, rhs, z, ridge):
    """Solve [G_FF  -1; 1'  0] [z_F; nu] = [b_F; 1] by Gaussian elimination with partial pivoting.

    ``idx[:nfree]`` lists the free variables; ``S`` and ``rhs`` are (K+1)-sized workspaces. Writes z_F into
    ``z`` at the free positions and returns nu (the multiplier of the sum-to-one constraint).
    """
    m = nfree + 1
    for r in range(nfree):
        i = idx[r]
        for c in range(nfree):
            S[r, c] = G[i, idx[c]]
        S[r, r] += ridge
        S[r, nfree] = -1.0
        rhs[r] = b[i]
    for c in range(nfree):
        S[nfree, c] = 1.0
    S[nfree, nfree] = 0.0
    rhs[nfree] = 1.0
    for c in range(m):
        p = c
        best = abs(S[c, c])
        for r in range(c + 1, m):
            if abs(S[r, c]) > best:
                best = abs(S[r, c])
                p = r
        if p != c:
            for t in range(m):
                tmp = S[c, t]
                S[c, t] = S[p, t]
                S[p, t] = tmp
            tmp = rhs[c]
            rhs[c] = rhs[p]
            rhs[p] = tmp
        piv = S[c, c]
        if piv == 0.0:
            return math.nan
        for r in range(c + 1, m):
            f = S[r, c] / piv
            if f != 0.0:
                for t in range(c, m):
                    S[r, t] -= f * S[c, t]
                rhs[r] -= f * rhs[c]
    for c in range(m - 1, -1, -1):
        s = rhs[c]
        for t in range(c + 1, m):
            s -= S[c, t] * rhs[t]
        rhs[c] = s / S[c, c]
    for r in range(nfree):
        z[idx[r]] = rhs[r]
    return rhs[nfree]


@jit
def fcls_columns(G, B, A, stats):
    """Exact FCLS of every column ``b = B[:, n]`` (``B = M^T Y``, ``G = M^T M``) into ``A[:, n]``.

    Primal active-set method (Nocedal & Wright, Alg. 16.3) on the free set ``F``: start at the best vertex
    ``e_j``; solve the equality-constrained problem on ``F``; if the solution leaves the simplex, step to
    the boundary and drop the blocking variable; otherwise add the variable with the most negative
    multiplier ``g_i - nu`` (``g = G a - b``) until none is negative. Finite termination: each pass either
    lowers the objective strictly or shrinks ``F``. ``stats[0]`` += passes, ``stats[1]`` = the largest
    number of passes of one pixel, ``stats[2]`` += pixels whose pass budget ran out or whose system was
    singular (then a tiny ridge is added and the solve repeated).
    """
    K, N = B.shape
    free = np.empty(K, dtype=np.int64)   # 0/1 flags: a boolean array would compile two more allocators
    idx = np.empty(K, dtype=np.int64)
    a = np.empty(K)
    z = np.empty(K)
    g = np.empty(K)
    S = np.empty((K + 1, K + 1))
    rhs = np.empty(K + 1)
    scale = 0.0
    for i in range(K):
        scale = max(scale, abs(G[i, i]))
    ridge0 = 1e-14 * scale if scale > 0.0 else 1e-300
    max_pass = 10 * K + 20
    for n in range(N):
        b = B[:, n]
        best = 0
        bestv = math.inf
        for j in range(K):
            v = 0.5 * G[j, j] - b[j]
            if v < bestv:
                bestv = v
                best = j
        for j in range(K):
            a[j] = 0.0
            free[j] = 0
        a[best] = 1.0
        free[best] = 1
        npass = 0
        bad = False
        ridge = 0.0
        while True:
            npass += 1
            if npass > max_pass:
                bad = True
                break
            nfree = 0
            for j in range(K):
                if free[j] != 0:
                    idx[nfree] = j
                    nfree += 1
            nu = _solve_bordered(G, b, nfree, idx, S, rhs, z, ridge)
            if not math.isfinite(nu):
                if ridge == 0.0:
                    ridge = ridge0
                    bad = True
                    continue
                break
            # feasibility of the equality-constrained solution on F
            alpha = 1.0
            block = -1
            for r in range(nfree):
                j = idx[r]
                if z[j] < 0.0:
                    t = a[j] / (a[j] - z[j])
                    if t < alpha:
                        alpha = t
                        block = j
            if block >= 0:
                for r in range(nfree):
                    j = idx[r]
                    a[j] += alpha * (z[j] - a[j])
                a[block] = 0.0
                free[block] = 0
                for r in range(nfree):
                    j = idx[r]
                    if a[j] <= 0.0:
                        a[j] = 0.0
                        free[j] = 0
                continue
            for r in range(nfree):
                a[idx[r]] = z[idx[r]]
            # multipliers of the bound constraints outside F
            gmax = abs(nu)
            for i in range(K):
                s = -b[i]
                for j in range(K):
                    s += G[i, j] * a[j]
                g[i] = s
                gmax = max(gmax, abs(s))
            worst = -1
            wv = -FCLS_KKT_RTOL * (gmax + scale)
            for i in range(K):
                if free[i] == 0:
                    lam = g[i] - nu
                    if lam < wv:
                        wv = lam
                        worst = i
            if worst < 0:
                break
            free[worst] = 1
        for j in range(K):
            A[j, n] = a[j]
        stats[0] += npass
        stats[1] = max(stats[1], npass)
        if bad:
            stats[2] += 1


# --------------------------------------------------------------------------------------------------
# Multiplicative updates
# --------------------------------------------------------------------------------------------------


@jit
def residual_row_norms(Y, scale, M, A, out):
    """``out[l] = |scale y^l - m^l A|^2`` for every channel ``l`` (one pass over ``Y``; the residual is not
    stored). ``Y`` may be float64 or an integer type (read as is and multiplied by ``scale``). With ``M = 0``
    it gives ``|scale y^l|^2`` without reading ``A`` (what a kernel of its own gave, with one kernel less
    to compile)."""
    L, N = Y.shape
    K = A.shape[0]
    r = np.empty(N)
    for l in range(L):
        y = Y[l]
        for n in range(N):
            r[n] = scale * y[n]
        for k in range(K):
            m = M[l, k]
            if m != 0.0:
                for n in range(N):
                    r[n] -= m * A[k, n]
        s = 0.0
        for n in range(N):
            s += r[n] * r[n]
        out[l] = s


@jit
def abundance_update(A, num, G, asc_w, h, coef, p, eps, tiny, c_out):
    """One multiplicative update of the abundances, in place, with its by-products.

    ``A_kn <- A_kn num_kn / (sum_j G_kj A_jn + asc_w (1'a_n) + coef h_n p (A_kn + eps)^(p-1))`` where
    ``num = M^T D Y + asc_w`` (the delta row of the augmented system already added), ``G = M^T D M``,
    ``asc_w = w_delta delta^2`` and ``coef = lam / 2``. The denominators use the old column ``a_n``
    (a Jacobi, not Gauss-Seidel, update: that is what the auxiliary-function proof covers). Writes
    ``c_out[n] = sum_k (A_kn + eps)^p`` of the updated column (the guidance statistic) and returns
    ``max_n |1'a_n - 1|`` of the updated abundances.
    """
    K, N = A.shape
    col = np.empty(K)
    asc = 0.0
    half = p == 0.5
    for n in range(N):
        s1 = 0.0
        for k in range(K):
            col[k] = A[k, n]
            s1 += col[k]
        hn = coef * h[n] * p
        cn = 0.0
        snew = 0.0
        for k in range(K):
            d = asc_w * s1
            for j in range(K):
                d += G[k, j] * col[j]
            if hn != 0.0:
                if half:
                    d += hn / math.sqrt(col[k] + eps)
                else:
                    d += hn * (col[k] + eps) ** (p - 1.0)
            v = col[k] * num[k, n] / (d + tiny)
            A[k, n] = v
            snew += v
            if half:
                cn += math.sqrt(v + eps)
            else:
                cn += (v + eps) ** p
        c_out[n] = cn
        asc = max(asc, abs(snew - 1.0))
    return asc


@jit
def penalty_stats(A, p, eps, c_out):
    """``c_out[n] = sum_k (A_kn + eps)^p`` and the largest ``|1'a_n - 1|``."""
    K, N = A.shape
    asc = 0.0
    for n in range(N):
        cn = 0.0
        s = 0.0
        for k in range(K):
            v = A[k, n]
            s += v
            cn += (v + eps) ** p
        c_out[n] = cn
        asc = max(asc, abs(s - 1.0))
    return asc


@jit
def gram_rows(A, out):
    """``out = A A^T`` for a short, wide ``A`` (K x N): K(K+1)/2 unit-stride dot products."""
    K, N = A.shape
    for i in range(K):
        for j in range(i + 1):
            s = 0.0
            for n in range(N):
                s += A[i, n] * A[j, n]
            out[i, j] = s
            out[j, i] = s


#: Pixels per block of the two products with ``Y``: a block of ``A`` or of ``num`` (``K x 2048`` doubles,
#: 96 KiB at ``K = 6``) stays in the L2 cache while every channel passes over it, so ``Y`` is read once per
#: product and ``A`` / ``num`` once, where a channel-by-channel sweep re-reads all of ``A`` for each channel.
PIXEL_BLOCK = 2048


@jit
def products_yat(Y, A, scale, out):
    """``out = scale * Y A^T`` (``L x K``), blocked over pixels; ``Y`` float64 or integer (converted as read,
    so an integer cube needs no float64 copy). Two channels per pass over a block of ``A``; an odd last
    channel is paired with itself and its second sum dropped (one code path for the tail too: a second
    one is more to compile, for one channel)."""
    L, N = Y.shape
    K = A.shape[0]
    for l in range(L):
        for k in range(K):
            out[l, k] = 0.0
    for n0 in range(0, N, PIXEL_BLOCK):
        m = min(PIXEL_BLOCK, N - n0)
        for l in range(0, L, 2):
            l1 = min(l + 1, L - 1)
            y0 = Y[l, n0:n0 + m]
            y1 = Y[l1, n0:n0 + m]
            for k in range(K):
                a = A[k, n0:n0 + m]
                t0 = 0.0
                t1 = 0.0
                for i in range(m):
                    t0 += y0[i] * a[i]
                    t1 += y1[i] * a[i]
                out[l, k] += t0
                if l1 > l:
                    out[l1, k] += t1
    for l in range(L):
        for k in range(K):
            out[l, k] *= scale


@jit
def products_wty(W, Y, scale, out):
    """``out = scale * W^T Y`` (``K x N``), blocked over pixels; ``Y`` float64 or integer. Four channels per
    pass over a block of ``out``; past the last channel the weights are zero (on a repeated, finite channel),
    so one code path serves the tail too (a second one is more to compile)."""
    L, N = Y.shape
    K = W.shape[1]
    for n0 in range(0, N, PIXEL_BLOCK):
        m = min(PIXEL_BLOCK, N - n0)
        for k in range(K):
            o = out[k, n0:n0 + m]
            for i in range(m):
                o[i] = 0.0
        for l in range(0, L, 4):
            l1 = min(l + 1, L - 1)
            l2 = min(l + 2, L - 1)
            l3 = min(l + 3, L - 1)
            y0 = Y[l, n0:n0 + m]
            y1 = Y[l1, n0:n0 + m]
            y2 = Y[l2, n0:n0 + m]
            y3 = Y[l3, n0:n0 + m]
            for k in range(K):
                w0 = scale * W[l, k]
                w1 = scale * W[l1, k] if l1 > l else 0.0
                w2 = scale * W[l2, k] if l2 > l1 else 0.0
                w3 = scale * W[l3, k] if l3 > l2 else 0.0
                o = out[k, n0:n0 + m]
                for i in range(m):
                    o[i] += w0 * y0[i] + w1 * y1[i] + w2 * y2[i] + w3 * y3[i]


@jit
def mu_rows(ysq, M, AAt, YA, l21, update_m, eps_loss, tiny, rho, d, W, G):
    """The channel-wise middle of one iteration, from ``YA = Y A^T`` (all ``L x K``, no pass over ``Y``).

    For each channel ``l``:

    * ``rho[l] = |y - m A|^2 = ysq[l] - 2 m.ya + m (A A^T) m^T`` at the incoming ``M`` (``ysq[l] = |y|^2``;
      clipped at 0, so rounding can never make it negative; the cancellation error, about 1e-16 |y|^2, sits
      far below the guard ``eps_loss`` of the weights);
    * ``d[l] = 1 / (2 sqrt(rho[l] + eps_loss))`` (l21) or ``1/2`` (Frobenius);
    * the Lee-Seung update of the row ``m <- m * ya / (m A A^T)`` (row-separable, so exact per row), unless
      ``update_m`` is False (known endmembers);
    * ``W[l] = d[l] m`` and ``G += d[l] m^T m`` with the updated row (``G = M^T D M``; then
      ``num = W^T Y`` by :func:`products_wty`).
    """
    L, K = M.shape
    den = np.empty(K)
    for k in range(K):
        for j in range(K):
            G[k, j] = 0.0
    for l in range(L):
        s = ysq[l]
        for k in range(K):
            t = 0.0
            for j in range(K):
                t += M[l, j] * AAt[j, k]
            den[k] = t
            s += M[l, k] * (t - 2.0 * YA[l, k])
        s = max(s, 0.0)
        rho[l] = s
        dl = 0.5 / math.sqrt(s + eps_loss) if l21 else 0.5
        d[l] = dl
        if update_m:
            for k in range(K):
                M[l, k] = M[l, k] * YA[l, k] / (den[k] + tiny)
        for k in range(K):
            w = dl * M[l, k]
            W[l, k] = w
            for j in range(K):
                G[k, j] += w * M[l, j]


@jit
def capped_simplex(v, s, cap, theta, out):
    """Projection of ``v`` onto ``{0 <= h <= cap, sum(h) = s}`` into ``out``: ``h = clip(v - theta, 0, cap)``.

    ``g(theta) = sum clip(v - theta, 0, cap) - s`` is piecewise linear and nonincreasing; Newton steps
    ``theta += g / #free`` (exact once the free set is right, so a warm start from the previous
    iteration's ``theta`` usually takes one or two passes), safeguarded by a bisection bracket. Returns theta.
    """
    n = v.shape[0]
    vmin = v[0]
    vmax = v[0]
    for i in range(n):
        vmin = min(vmin, v[i])
        vmax = max(vmax, v[i])
    lo = vmin - min(cap, s) - 1.0          # g(lo) >= 0
    hi = vmax                              # g(hi) = -s < 0
    if not (lo < theta < hi):
        theta = 0.5 * (lo + hi)
    for _ in range(200):
        total = 0.0
        nfree = 0
        for i in range(n):
            t = v[i] - theta
            if t >= cap:
                total += cap
            elif t > 0.0:
                total += t
                nfree += 1
        g = total - s
        if abs(g) <= 1e-14 * s:
            break
        if g > 0.0:
            lo = theta
        else:
            hi = theta
        new = theta + g / nfree if nfree > 0 else 0.5 * (lo + hi)
        if not (lo < new < hi):
            new = 0.5 * (lo + hi)
        if new == theta:
            break
        theta = new
    for i in range(n):
        t = v[i] - theta
        out[i] = cap if t >= cap else (t if t > 0.0 else 0.0)
    return theta
