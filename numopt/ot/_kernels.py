"""Numba kernels of the optimal-transport family (log-domain Sinkhorn passes, SNS passes, polynomial exp).

Every kernel works on the log-plan ``h_ij = (f_i + g_j - M_ij) / reg`` of a dense C-order float64 cost
matrix ``M`` and never validates its input (the public functions do). Exponentials go through
:func:`exp_poly`, an inlined polynomial ``exp`` (Cody-Waite range reduction, degree-12 Horner
polynomial, 2^k assembled from its bits): Numba's ``np.exp`` is a scalar libm call on this platform
(no SVML), at ~1e-16 relative error. The hot sums and kernels use :func:`exp_flush`, the same
polynomial without exp_poly's subnormal results (0 below exp(-708)) and with k read from the bits of a
shifted sum instead of a float-to-int conversion (which AVX2 lacks in packed form): loops over it
vectorise (1.5 ns against 3.5 ns per exp measured here; exp_poly is kept for the strict paths).

Fast-math policy: numopt's NaN-safe ``FASTMATH`` flags (reassociation, contraction, reciprocal, no
signed zeros) let LLVM vectorise the row reductions. :func:`exp_poly` itself is compiled with
``contract`` only (no reassociation, which would merge the two Cody-Waite steps and cost ~1e-14) and
is not inlined by Numba: LLVM inlines it into the callers with its own strict flags kept.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._numba import jit, prange, serial_twin
from ..linalg._kernels import csr_matvec_serial, csr_rmatvec_serial, csr_row_axpy, csr_row_dot

# --------------------------------------------------------------------------------------------------
# Polynomial exp
# --------------------------------------------------------------------------------------------------


@intrinsic
def _int64_bits_as_float64(typingctx, bits):
    """Reinterpret the 64 bits of an int64 as a float64 (an LLVM ``bitcast``; no conversion)."""
    if not isinstance(bits, types.Integer):  # pragma: no cover - typing guard
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _float64_bits_as_int64(typingctx, value):
    """Reinterpret the 64 bits of a float64 as an int64 (an LLVM ``bitcast``; no conversion)."""
    if not isinstance(value, types.Float):  # pragma: no cover - typing guard
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


_LOG2E = 1.4426950408889634
# ln 2 split in two (Cody & Waite): _LN2_HI has 11 trailing zero bits, so k * _LN2_HI is exact for |k| < 2^11.
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
#: exp(x) rounds to 0 below this.
EXP_LO = -745.1332191019412
#: exp(x) overflows above this (log of the largest double, rounded down).
EXP_HI = 709.78271289338
_C2 = 1.0 / 2.0
_C3 = 1.0 / 6.0
_C4 = 1.0 / 24.0
_C5 = 1.0 / 120.0
_C6 = 1.0 / 720.0
_C7 = 1.0 / 5040.0
_C8 = 1.0 / 40320.0
_C9 = 1.0 / 362880.0
_C10 = 1.0 / 3628800.0
_C11 = 1.0 / 39916800.0
_C12 = 1.0 / 479001600.0


@jit(fastmath={"contract"})
def _exp_taylor(r):
    """exp(r) for |r| <= ln2/2 by its degree-12 Taylor polynomial in Horner form (truncation error
    < 2.5e-16 relative): the one polynomial of exp_poly and exp_flush."""
    p = _C12
    p = p * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + 1.0
    return p * r + 1.0


# Strict IEEE arithmetic except fused multiply-add: reassociation could merge the two Cody-Waite steps
# (x - k ln2_hi) - k ln2_lo into x - k (ln2_hi + ln2_lo), losing ~k ulp. Not inlined by Numba, so the
# instructions keep these flags when LLVM inlines the function into a (reassociating) caller loop.
@jit(fastmath={"contract"})
def exp_poly(x):
    """exp(x) to ~1e-16 relative for x in [-708.4, EXP_HI]; subnormal results for x down to EXP_LO,
    0 below, inf above, NaN for NaN.

    x = k ln2 + r with |r| <= ln2/2, exp(r) by its degree-12 Taylor polynomial (truncation error
    < 2.5e-16 relative), then 2^k applied by adding k to the exponent bits (integer arithmetic, valid
    for every normal result) or, for subnormal results, by multiplying by two exact powers of two.
    Branch-free (selects only), so loops over it vectorise.
    """
    xc = min(max(x, EXP_LO), EXP_HI)
    k = math.floor(xc * _LOG2E + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = _exp_taylor(r)
    kk = np.int64(k)
    # normal results (k >= -1021): p in (0.70, 1.42), so its exponent plus k stays in [1, 2046]
    y = _int64_bits_as_float64(_float64_bits_as_int64(p) + (kk << 52))
    if kk < -1021:
        # subnormal results: p * 2^k1 * 2^k2 with k1, k2 >= -538 (a single rounding)
        k1 = kk >> 1
        y = p * _int64_bits_as_float64((k1 + 1023) << 52) * _int64_bits_as_float64((kk - k1 + 1023) << 52)
    if x < EXP_LO:
        y = 0.0
    if x > EXP_HI:
        y = math.inf
    if x != x:
        y = x
    return y


#: 1.5 * 2^52: adding it to a double of magnitude below 2^51 rounds that double to an integer, which
#: then sits in the low bits of the sum (the float64 -> int64 conversion without a conversion
#: instruction: AVX2 has no packed one, so ``np.int64(k)`` kept LLVM from vectorising exp loops).
_ROUND_SHIFT = 6755399441055744.0
#: exp_flush returns 0 below this (exp(-708) = 3.3e-308: about the smallest argument whose 2^k is normal).
EXP_FLUSH_LO = -708.0


@jit(fastmath={"contract"})
def exp_flush(x):
    """exp(x) as :func:`exp_poly` (the same polynomial, the same digits) for x >= EXP_FLUSH_LO, 0 below
    (where exp_poly returns subnormal numbers), inf above EXP_HI, NaN for NaN.

    For the hot sums and kernels, whose results below 1e-300 are flushed or do not count (a row sum
    is trusted only above 1e-200): without the subnormal branch and with k read from the bits of
    ``x log2(e) + 1.5 2^52`` (integer arithmetic only), loops over it vectorise with AVX2 (measured
    1.5 ns against 3.5 ns per exp on this machine class).
    """
    xc = min(max(x, EXP_FLUSH_LO), EXP_HI)
    t = xc * _LOG2E + _ROUND_SHIFT
    k = t - _ROUND_SHIFT
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = _exp_taylor(r)
    kk = _float64_bits_as_int64(t) - _float64_bits_as_int64(_ROUND_SHIFT)
    y = _int64_bits_as_float64(_float64_bits_as_int64(p) + (kk << 52))
    if x < EXP_FLUSH_LO:
        y = 0.0
    if x > EXP_HI:
        y = math.inf
    if x != x:
        y = x
    return y


@jit
def exp_into(x, out):
    """out[i] = exp_poly(x[i]) over flat float64 arrays (for tests and for forming plans)."""
    for i in range(x.shape[0]):
        out[i] = exp_poly(x[i])


# --------------------------------------------------------------------------------------------------
# Log-domain Sinkhorn half-steps
# --------------------------------------------------------------------------------------------------

#: A row/column sum computed without a shift is trusted when it lies in [_SUM_LO, inf): then no term
#: that matters has underflowed and none has overflowed. Otherwise the sum is recomputed shifted by
#: the row (column) maximum of the log-plan.
_SUM_LO = 1e-200


@jit
def sinkhorn_rows(M, f, g, a, loga, reg):
    """Row half-step f_i <- f_i + reg (log a_i - log sum_j exp(h_ij)); returns sum_i |P1 - a|_i before it.

    The sum is first taken with the current potentials as the shift (one pass, the usual case once
    the potentials are roughly scaled); a row whose sum under- or overflows is redone with the shift
    max_j h_ij (two passes over that row), so the update never overflows or loses the row.
    """
    n = M.shape[0]
    inv = 1.0 / reg
    err = 0.0
    for i in range(n):
        fi = f[i]
        s, log_s = _row_sum(M[i], fi, g, inv)
        err += abs(s - a[i])
        f[i] = fi + reg * (loga[i] - log_s)
    return err


@jit(inline="always")
def _row_sum(row, fi, g, inv):
    """(s, log s) for s = sum_j exp((fi + g_j - row_j) * inv): the plain sum when it lies in
    [_SUM_LO, inf), else redone shifted by the row maximum (:func:`_row_logsumexp`), s = exp(log s)."""
    s = 0.0
    for j in range(row.shape[0]):
        s += exp_flush((fi + g[j] - row[j]) * inv)
    if s >= _SUM_LO and s < math.inf:
        return s, math.log(s)
    log_s = _row_logsumexp(row, fi, g, inv)
    return exp_poly(log_s), log_s


# The shifted sums below are the rare fallback where a plain sum under- or overflowed. They are
# compiled with strict IEEE arithmetic (no fast-math, not inlined by Numba; LLVM keeps these flags
# when it inlines them): the maximal term must give exactly exp(0) = 1, which needs the log-plan
# h - hmax computed the same way in both loops. With reassociation (or a fused multiply-add) LLVM
# may compute h * inv - hmax differently in the two loops; at reg = 1e-100 that difference is
# ~1e84, every term became exp(-huge) = 0 and the potentials NaN.


@jit(fastmath=False)
def _row_logsumexp(row, fi, g, inv):
    """log sum_j exp((fi + g_j - row_j) * inv), shifted by the row maximum of the log-plan."""
    m = row.shape[0]
    hmax = -math.inf
    for j in range(m):
        hmax = max(hmax, (fi + g[j] - row[j]) * inv)
    s = 0.0
    for j in range(m):
        s += exp_poly((fi + g[j] - row[j]) * inv - hmax)
    return hmax + math.log(s)


@jit(fastmath=False)
def _cols_logsumexp(M, f, g, inv, logc):
    """logc_j = log sum_i exp((f_i + g_j - M_ij) * inv), shifted by the column maxima of the log-plan."""
    n, m = M.shape
    hmax = np.full(m, -math.inf)
    for i in range(n):
        row = M[i]
        fi = f[i]
        for j in range(m):
            hmax[j] = max(hmax[j], (fi + g[j] - row[j]) * inv)
    for j in range(m):
        logc[j] = 0.0
    for i in range(n):
        row = M[i]
        fi = f[i]
        for j in range(m):
            logc[j] += exp_poly((fi + g[j] - row[j]) * inv - hmax[j])
    for j in range(m):
        logc[j] = hmax[j] + math.log(logc[j])


@jit
def sinkhorn_cols(M, f, g, b, reg, logc):
    """logc_j = log sum_i exp(h_ij) (the log column marginals) for the current (f, g); returns |P^T 1 - b|_1.

    One row-major pass accumulating all column sums (vectorised along the row); if any column sum
    under- or overflows, all are recomputed shifted by the column maxima (two more row-major passes).
    The caller applies g_j <- g_j + reg (log b_j - logc_j).
    """
    n, m = M.shape
    inv = 1.0 / reg
    for j in range(m):
        logc[j] = 0.0
    for i in range(n):
        row = M[i]
        fi = f[i]
        for j in range(m):
            logc[j] += exp_flush((fi + g[j] - row[j]) * inv)
    ok = True
    for j in range(m):
        s = logc[j]
        if not (s >= _SUM_LO and s < math.inf):
            ok = False
            break
    err = 0.0
    if ok:
        for j in range(m):
            s = logc[j]
            err += abs(s - b[j])
            logc[j] = math.log(s)
        return err
    _cols_logsumexp(M, f, g, inv, logc)
    for j in range(m):
        err += abs(exp_poly(logc[j]) - b[j])
    return err


# --------------------------------------------------------------------------------------------------
# Scaling domain: the Gibbs kernel K = exp(h) of fixed potentials, rescaled by BLAS matrix-vector products
# --------------------------------------------------------------------------------------------------

#: Kernel entries below this are stored as 0: they carry no mass at any useful tolerance, and
#: subnormal numbers would make every later BLAS pass over K many times slower.
KERNEL_FLUSH = 1e-300


@jit(parallel=True)
def kernel_into(M, f, g, reg, K):
    """K_ij = exp((f_i + g_j - M_ij) / reg), entries below KERNEL_FLUSH set to 0 (rows in parallel)."""
    n, m = M.shape
    inv = 1.0 / reg
    for i in prange(n):
        row = M[i]
        krow = K[i]
        fi = f[i]
        for j in range(m):
            e = exp_flush((fi + g[j] - row[j]) * inv)
            krow[j] = e if e >= KERNEL_FLUSH else 0.0


@jit(parallel=True)
def scale_rows_cols(K, u, v):
    """K_ij <- u_i K_ij v_j in place (rows in parallel): turns the kernel into the plan diag(u) K diag(v)."""
    n, m = K.shape
    for i in prange(n):
        krow = K[i]
        ui = u[i]
        for j in range(m):
            krow[j] = ui * krow[j] * v[j]


@jit
def plan_sums(P, M, r, c, scale):
    """r = P 1 and c = P^T 1 of a dense plan; returns <P, M>; then P <- scale P unless scale is 1
    (sums of the unscaled P). One row-major pass."""
    n, m = P.shape
    for j in range(m):
        c[j] = 0.0
    cost = 0.0
    for i in range(n):
        prow = P[i]
        row = M[i]
        s = 0.0
        t = 0.0
        for j in range(m):
            s += prow[j]
            t += prow[j] * row[j]
        for j in range(m):
            c[j] += prow[j]
        if scale != 1.0:
            for j in range(m):
                prow[j] *= scale
        r[i] = s
        cost += t
    return cost


# --------------------------------------------------------------------------------------------------
# The O(n + m) bookkeeping of a scaling-domain sweep, fused (numpy would take ~20 calls per sweep,
# which dominated the sweep at n = 300). Strict IEEE arithmetic: the same quotients as numpy's divide.
# --------------------------------------------------------------------------------------------------

_DBL_MAX = 1.7976931348623157e308


@jit(fastmath=False)
def divide_checked(num, den, tiny, out):
    """out = num / den, unless an entry of ``den`` is below ``tiny``, non-finite or NaN: then ``out``
    is left untouched. Returns (ok, min(out), max(out)) (zeros when not ok)."""
    for i in range(den.shape[0]):
        d = den[i]
        if not (d >= tiny and d <= _DBL_MAX):
            return False, 0.0, 0.0
    lo = np.inf
    hi = -np.inf
    for i in range(den.shape[0]):
        q = num[i] / den[i]
        out[i] = q
        lo = min(lo, q)
        hi = max(hi, q)
    return True, lo, hi


@jit(fastmath=False)
def column_error(v, Ktu, b, tiny):
    """(ok, sum_j |v_j (K^T u)_j - b_j|): ok is False when an entry of K^T u is below ``tiny``,
    non-finite or NaN (then the sum is 0)."""
    err = 0.0
    for j in range(Ktu.shape[0]):
        d = Ktu[j]
        if not (d >= tiny and d <= _DBL_MAX):
            return False, 0.0
        err += abs(v[j] * d - b[j])
    return True, err


@jit(fastmath=False)
def log_dot(a, u, b, v):
    """sum_i a_i log u_i + sum_j b_j log v_j (the scaling part of the dual objective)."""
    s = 0.0
    for i in range(u.shape[0]):
        s += a[i] * math.log(u[i])
    t = 0.0
    for j in range(v.shape[0]):
        t += b[j] * math.log(v[j])
    return s + t


# --------------------------------------------------------------------------------------------------
# Sparsification of a plan diag(u) K diag(v): bins read off the float64 bits (no exp, no log)
# --------------------------------------------------------------------------------------------------

#: A nonnegative float64's top 13 bits (11 exponent bits and 2 mantissa bits) give its bin: 4 bins per
#: octave (width ln 2 / 4 in log P, like the log-plan histogram), monotone in the value, 0 for 0.
N_VALUE_BINS = 8192
_VALUE_SHIFT = 50


@jit(inline="always")
def _value_bin(x):
    return _float64_bits_as_int64(x) >> _VALUE_SHIFT


#: Row chunks of the parallel histogram (each with its own bins, summed by the caller).
HIST_CHUNKS = 8


@jit(parallel=True)
def scaled_histogram(K, u, v, chunk_mass, chunk_count, pbuf, bbuf):
    """chunk_mass[k, b] = sum and chunk_count[k, b] = number of the entries of P = diag(u) K diag(v)
    in value bin b among the rows of chunk k (HIST_CHUNKS chunks of consecutive rows, in parallel); the
    caller sums over k. Each row's products and bins go to the chunk's scratch rows ``pbuf[k]``,
    ``bbuf[k]`` (shape (HIST_CHUNKS, m); vectorised), then are scattered into the chunk's bins. All
    arrays come from the caller (no allocation here: zeroing 1 MB of fresh bins per call cost more
    than the pass on small plans, and allocating inside the parallel loop doubled the compile time).
    """
    n, m = K.shape
    size = (n + HIST_CHUNKS - 1) // HIST_CHUNKS
    for k in prange(HIST_CHUNKS):
        cm = chunk_mass[k]
        cc = chunk_count[k]
        pb = pbuf[k]
        bb = bbuf[k]
        cm[:] = 0.0
        cc[:] = 0
        for i in range(k * size, min(n, (k + 1) * size)):
            krow = K[i]
            ui = u[i]
            for j in range(m):
                x = ui * krow[j] * v[j]
                pb[j] = x
                bb[j] = _value_bin(x)
            for j in range(m):
                b = bb[j]
                cm[b] += pb[j]
                cc[b] += 1


@jit(parallel=True)
def scaled_select(K, u, v, cut, indptr, indices, data):
    """CSR (indptr, indices, data) of the entries of P = diag(u) K diag(v) in value bins >= cut.

    Two passes over the rows in parallel (count, then fill after a prefix sum); ``indices``/``data``
    must hold the count of such entries (from :func:`scaled_histogram`).
    """
    n, m = K.shape
    indptr[0] = 0
    for i in prange(n):
        krow = K[i]
        ui = u[i]
        k = 0
        for j in range(m):
            k += _value_bin(ui * krow[j] * v[j]) >= cut
        indptr[i + 1] = k
    for i in range(n):
        indptr[i + 1] += indptr[i]
    for i in prange(n):
        krow = K[i]
        ui = u[i]
        k = indptr[i]
        for j in range(m):
            x = ui * krow[j] * v[j]
            if _value_bin(x) >= cut:
                indices[k] = j
                data[k] = x
                k += 1


# --------------------------------------------------------------------------------------------------
# Newton system: Schur complements of the sparsified Hessian [[D_r, S], [S^T, D_c]]
#
# No kernel here returns an array: Numba boxes a returned array through Python code
# (numba.core.serialize._numba_unpickle), and a Ctrl-C landing there surfaced as
# "SystemError: ... returned a result with an exception set" instead of KeyboardInterrupt. Results
# go into ``out`` arguments; the callers read them from there.
# --------------------------------------------------------------------------------------------------


@jit
def csr_product_into(indptr, indices, data, x, transpose, out):
    """out = S x, or S^T x with ``transpose`` (linalg's serial CSR products, called from compiled code
    so that nothing is boxed; one kernel for both, one compilation)."""
    if transpose:
        csr_rmatvec_serial(indptr, indices, data, x, out)
    else:
        csr_matvec_serial(indptr, indices, data, x, out)


@jit
def schur_cols_matvec(indptr, indices, data, r_inv, c, y, out):
    """out = P_perp (D_c - S^T D_r^{-1} S) y, P_perp = I - 11^T/m (removes the gauge direction)."""
    m = out.shape[0]
    for j in range(m):
        out[j] = c[j] * y[j]
    for i in range(indptr.shape[0] - 1):
        t = csr_row_dot(indptr, indices, data, y, i) * r_inv[i]
        csr_row_axpy(indptr, indices, data, -t, i, out)
    mean = 0.0
    for j in range(m):
        mean += out[j]
    mean /= m
    for j in range(m):
        out[j] -= mean


@jit
def schur_rows_matvec(indptr, indices, data, c_inv, r, x, w, out):
    """out = P_perp (D_r - S D_c^{-1} S^T) x, with ``w`` an (m,) scratch vector."""
    n = out.shape[0]
    for j in range(w.shape[0]):
        w[j] = 0.0
    for i in range(n):
        csr_row_axpy(indptr, indices, data, x[i], i, w)
    for j in range(w.shape[0]):
        w[j] *= c_inv[j]
    mean = 0.0
    for i in range(n):
        v = r[i] * x[i] - csr_row_dot(indptr, indices, data, w, i)
        out[i] = v
        mean += v
    mean /= n
    for i in range(n):
        out[i] -= mean


@jit
def schur_diagonal(indptr, indices, data, r, c, cols, out):
    """Diagonal of the Schur complement: c_j - sum_i S_ij^2 / r_i (``cols``) or r_i - sum_j S_ij^2 / c_j."""
    n = indptr.shape[0] - 1
    if cols:
        for j in range(c.shape[0]):
            out[j] = c[j]
        for i in range(n):
            ri = 1.0 / r[i]
            for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                v = data[k]
                out[np.uint64(indices[k])] -= v * v * ri
    else:
        for i in range(n):
            s = 0.0
            for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                v = data[k]
                s += v * v / c[np.uint64(indices[k])]
            out[i] = r[i] - s


# --------------------------------------------------------------------------------------------------
# Serial twins of the parallel kernels
# --------------------------------------------------------------------------------------------------

#: Entries n * m from which the parallel kernels are used; below, their serial twins: no thread
#: wake-ups on small problems, and a small problem never compiles the parallel versions (compiling
#: the parallel kernels takes several times longer than their serial twins).
PARALLEL_ENTRIES = 1 << 17

_SERIAL = {}


def _serial_twin(kernel):
    twin = serial_twin(kernel)
    _SERIAL[kernel] = twin
    return twin


def sized(kernel, entries: int):
    """``kernel`` for n * m >= PARALLEL_ENTRIES, else its serial twin (for kernels without one, itself)."""
    return kernel if entries >= PARALLEL_ENTRIES else _SERIAL.get(kernel, kernel)


kernel_into_serial = _serial_twin(kernel_into)
scale_rows_cols_serial = _serial_twin(scale_rows_cols)
scaled_histogram_serial = _serial_twin(scaled_histogram)
scaled_select_serial = _serial_twin(scaled_select)


# --------------------------------------------------------------------------------------------------
# Point clouds without a cost matrix (empirical_sinkhorn): costs computed on the fly. X is (n, d)
# C-order; YT is (d, m), the other cloud transposed, so that a row of costs is computed by d
# unit-stride (vectorised) passes into a scratch row. The rows are split into the chunks of
# ``work`` (shape (chunks, m), one scratch row per chunk, from the caller), run in parallel.
# metric 0: squared Euclidean, 1: Euclidean.
# --------------------------------------------------------------------------------------------------


@jit(inline="always")
def _cost_row(x, YT, metric, out):
    """out[j] = C(x, y_j) for every point y_j (the columns of YT)."""
    d, m = YT.shape
    for j in range(m):
        out[j] = 0.0
    for k in range(d):
        xk = x[k]
        yk = YT[k]
        for j in range(m):
            t = xk - yk[j]
            out[j] += t * t
    if metric == 1:
        for j in range(m):
            out[j] = math.sqrt(out[j])


@jit(inline="always")
def _num_row(x, YT, metric, fi, g, out):
    """out[j] = fi + g_j - C(x, y_j), the numerator of the log-plan (one fused pass for d <= 3)."""
    d, m = YT.shape
    if d == 3 and metric == 0:
        x0, x1, x2 = x[0], x[1], x[2]
        y0, y1, y2 = YT[0], YT[1], YT[2]
        for j in range(m):
            t0 = x0 - y0[j]
            t1 = x1 - y1[j]
            t2 = x2 - y2[j]
            out[j] = fi + g[j] - (t0 * t0 + t1 * t1 + t2 * t2)
    elif d == 2 and metric == 0:
        x0, x1 = x[0], x[1]
        y0, y1 = YT[0], YT[1]
        for j in range(m):
            t0 = x0 - y0[j]
            t1 = x1 - y1[j]
            out[j] = fi + g[j] - (t0 * t0 + t1 * t1)
    else:
        _cost_row(x, YT, metric, out)
        for j in range(m):
            out[j] = fi + g[j] - out[j]


@jit(inline="always")
def _num_sum(num, inv):
    """(s, log s) for s = sum_j exp(num_j inv): the plain sum when it lies in [_SUM_LO, inf), else
    redone shifted by the maximum (:func:`_num_logsumexp`), s = exp(log s)."""
    s = 0.0
    for j in range(num.shape[0]):
        s += exp_flush(num[j] * inv)
    if s >= _SUM_LO and s < math.inf:
        return s, math.log(s)
    log_s = _num_logsumexp(num, inv)
    return exp_poly(log_s), log_s


@jit(fastmath=False)
def _num_logsumexp(num, inv):
    """log sum_j exp(num_j inv), shifted by the maximum (strict arithmetic: see _row_logsumexp)."""
    hmax = -math.inf
    for j in range(num.shape[0]):
        hmax = max(hmax, num[j] * inv)
    s = 0.0
    for j in range(num.shape[0]):
        s += exp_poly(num[j] * inv - hmax)
    return hmax + math.log(s)


@jit(parallel=True)
def cloud_rows(X, YT, f, g, a, loga, reg, metric, rowsum, work):
    """Row half-step of log-domain Sinkhorn on a point cloud: f_i <- f_i + reg (log a_i - log s_i) with
    s_i = sum_j exp((f_i + g_j - C(x_i, y_j)) / reg); ``rowsum[i] = s_i`` (the row marginal before the
    update). Returns sum_i |s_i - a_i|. The columns' half-step is the same kernel with the clouds,
    potentials and weights swapped. A sum that under- or overflows is redone shifted by its maximum."""
    n = X.shape[0]
    chunks = work.shape[0]
    size = (n + chunks - 1) // chunks
    inv = 1.0 / reg
    err = 0.0
    for k in prange(chunks):
        num = work[k]
        e = 0.0
        for i in range(k * size, min(n, (k + 1) * size)):
            fi = f[i]
            _num_row(X[i], YT, metric, fi, g, num)
            s, log_s = _num_sum(num, inv)
            rowsum[i] = s
            e += abs(s - a[i])
            f[i] = fi + reg * (loga[i] - log_s)
        err += e
    return err


@jit(inline="always")
def _select_row(num, cut, kmax, q, write, indices, data):
    """How many entries of ``num`` are >= cut, the cut raised by factors e^2 until at most ``kmax``; with
    ``write`` their indices and values go to indices/data from ``q``. (A count, then a fill: measured
    faster than a branch-free fill in one loop, 0.29 s against 0.39 s for a pass at n = 1e4.)"""
    m = num.shape[0]
    cnt = 0
    for j in range(m):
        cnt += num[j] >= cut
    while cnt > kmax:
        cut *= 7.38905609893065
        cnt = 0
        for j in range(m):
            cnt += num[j] >= cut
    if write:
        w = q
        for j in range(m):
            if num[j] >= cut:
                indices[w] = j
                data[w] = num[j]
                w += 1
    return cnt


@jit(parallel=True)
def cloud_scan(X, YT, f, g, reg, metric, level, kmax, r, chunk_cols, work, counts, starts, ends, indices, data):
    """One pass over the clouds for a Newton step: r = P 1, the column sums of P = exp((f + g - C) / reg)
    by row chunks (``chunk_cols[k]``, summed by the caller), and the pairs with P_ij >= level r_i.

    A row keeping more than ``kmax`` pairs raises its own cut by factors e^2 until it keeps at most
    ``kmax`` (the Hessian's memory is bounded; the direction only needs the largest entries). Row
    ``i``'s count goes to ``counts[i]``; chunk k writes its rows' pairs consecutively into
    ``indices``/``data`` from ``starts[k]`` up to ``ends[k]`` (kmax free slots needed for a row).
    Returns the number of chunks whose pairs did not fit (their counts are
    still exact; nothing is written past ``ends[k]``). With ``level`` > 1 nothing is selected
    (marginals only).
    """
    n = X.shape[0]
    inv = 1.0 / reg
    chunks = work.shape[0]
    size = (n + chunks - 1) // chunks
    overflow = 0
    for k in prange(chunks):
        cc = chunk_cols[k]
        num = work[k]
        cc[:] = 0.0
        q = starts[k]
        end = ends[k]
        full = 0
        for i in range(k * size, min(n, (k + 1) * size)):
            _num_row(X[i], YT, metric, f[i], g, num)
            s = 0.0
            for j in range(num.shape[0]):
                p = exp_flush(num[j] * inv)
                num[j] = p
                s += p
                cc[j] += p
            r[i] = s
            cnt = 0
            if level <= 1.0:
                if full == 0 and q + kmax > end:
                    full = 1
                cnt = _select_row(num, level * s, kmax, q, full == 0, indices, data)
                if full == 0:
                    q += cnt
            counts[i] = cnt
        overflow += full
    return overflow


@jit(parallel=True)
def cloud_marginals(X, YT, f, g, reg, metric, r, chunk_cols, work):
    """r = P 1 and the column sums of P = exp((f + g - C) / reg) by row chunks: ``chunk_cols[k]`` gets the
    column sums of chunk k's rows (the shape of ``work``; the caller sums them). Returns <P, C>."""
    n = X.shape[0]
    inv = 1.0 / reg
    chunks = work.shape[0]
    size = (n + chunks - 1) // chunks
    cost = 0.0
    for k in prange(chunks):
        cc = chunk_cols[k]
        crow = work[k]
        cc[:] = 0.0
        t = 0.0
        for i in range(k * size, min(n, (k + 1) * size)):
            _cost_row(X[i], YT, metric, crow)
            fi = f[i]
            s = 0.0
            for j in range(crow.shape[0]):
                c = crow[j]
                p = exp_flush((fi + g[j] - c) * inv)
                s += p
                t += p * c
                cc[j] += p
            r[i] = s
        cost += t
    return cost


@jit(parallel=True)
def cloud_select(X, YT, f, g, reg, metric, log_cut, indptr, indices, data, fill, work):
    """The entries of P = exp((f + g - C) / reg) with log P_ij >= log_cut[i], as CSR. Without ``fill``
    only ``indptr`` (cumulative counts) is written; with it, ``indices``/``data`` (sized from indptr)."""
    n = X.shape[0]
    inv = 1.0 / reg
    chunks = work.shape[0]
    size = (n + chunks - 1) // chunks
    if not fill:
        indptr[0] = 0
    for k in prange(chunks):
        crow = work[k]
        for i in range(k * size, min(n, (k + 1) * size)):
            _cost_row(X[i], YT, metric, crow)
            fi = f[i]
            lc = log_cut[i]
            if not fill:
                cnt = 0
                for j in range(crow.shape[0]):
                    cnt += (fi + g[j] - crow[j]) * inv >= lc
                indptr[i + 1] = cnt
            else:
                q = indptr[i]
                for j in range(crow.shape[0]):
                    h = (fi + g[j] - crow[j]) * inv
                    if h >= lc:
                        indices[q] = j
                        data[q] = exp_poly(h)
                        q += 1
    if not fill:
        for i in range(n):
            indptr[i + 1] += indptr[i]


@jit(parallel=True)
def cloud_plan(X, YT, f, g, reg, metric, P):
    """P_ij = exp((f_i + g_j - C(x_i, y_j)) / reg), rows in parallel (each row's costs in P's row first)."""
    n = X.shape[0]
    inv = 1.0 / reg
    for i in prange(n):
        prow = P[i]
        _cost_row(X[i], YT, metric, prow)
        fi = f[i]
        for j in range(prow.shape[0]):
            prow[j] = exp_flush((fi + g[j] - prow[j]) * inv)
