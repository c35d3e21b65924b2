"""Numba kernels of the shared linear-algebra layer.

Kernels assume clean input (validated by the public functions): C-contiguous float64 values,
int32 or int64 index arrays as scipy stores them, preallocated outputs. Sparse loops run over
unsigned (uint64) indices: Numba inserts a negative-index wraparound test for signed indices that
blocks vectorisation.

Kernels that update arrays in place return None (or a float), never an array: boxing a returned array
calls back into Python (numba's ``_numba_unpickle``), where a pending Ctrl-C is raised inside the
compiled call and surfaces as ``SystemError: ... returned a result with an exception set`` instead of
KeyboardInterrupt (issue 11). The CSR products still return ``out`` because numopt.ot and
numopt.completion use the value.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit, prange, serial_twin

# --------------------------------------------------------------------------------------------------
# CSR sparse matrix-vector products
# --------------------------------------------------------------------------------------------------


@jit(inline="always")
def csr_row_dot(indptr, indices, data, x, i):
    """sum_k data[k] * x[indices[k]] over the stored entries of row i (unsigned loop indices)."""
    acc = 0.0
    for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
        acc += data[k] * x[np.uint64(indices[k])]
    return acc


@jit(inline="always")
def csr_row_axpy(indptr, indices, data, alpha, i, out):
    """out[indices[k]] += alpha * data[k] over the stored entries of row i."""
    for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
        out[np.uint64(indices[k])] += alpha * data[k]


@jit
def csr_matvec_serial(indptr, indices, data, x, out):
    """out[i] = sum_k data[k] * x[indices[k]] over row i of a CSR matrix (serial)."""
    for i in range(out.shape[0]):
        out[i] = csr_row_dot(indptr, indices, data, x, i)
    return out


@jit(parallel=True)
def csr_matvec_parallel(indptr, indices, data, x, out):
    """Parallel twin of :func:`csr_matvec_serial`: rows are split over the Numba threads."""
    for i in prange(out.shape[0]):
        out[i] = csr_row_dot(indptr, indices, data, x, i)
    return out


@jit
def csr_rmatvec_serial(indptr, indices, data, y, out):
    """out = A^T y for a CSR matrix A (scatter over rows; ``out`` is zeroed first)."""
    out[:] = 0.0
    for i in range(y.shape[0]):
        csr_row_axpy(indptr, indices, data, y[i], i, out)
    return out


# --------------------------------------------------------------------------------------------------
# Krylov vector updates (one fused pass each instead of several NumPy temporaries)
# --------------------------------------------------------------------------------------------------


@jit
def csr_weighted_gram(indptr, indices, data, w, out):
    r"""out += :math:`X^\top \mathrm{diag}(w) X` for a CSR matrix X (upper triangle, then mirrored).

    One pass over the rows: row i adds :math:`w_i x_i x_i^\top`, i.e. :math:`s_i^2/2` updates for a row with
    :math:`s_i` stored entries, against the :math:`O(n_{\rm features}^2 N)` of a dense product.
    """
    for i in range(w.shape[0]):
        wi = w[i]
        start, stop = np.uint64(indptr[i]), np.uint64(indptr[i + 1])
        for a in range(start, stop):
            ja = np.uint64(indices[a])
            va = wi * data[a]
            for b in range(a, stop):
                jb = np.uint64(indices[b])
                if jb >= ja:
                    out[ja, jb] += va * data[b]
                else:
                    out[jb, ja] += va * data[b]
    n = out.shape[0]
    for j in range(n):
        for k in range(j + 1, n):
            out[k, j] = out[j, k]


@jit
def cg_step(x, r, p, q, alpha):
    """x += alpha p; r -= alpha q; return r.r"""
    rr = 0.0
    for i in range(x.shape[0]):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        rr += ri * ri
    return rr


@jit
def cg_direction(p, z, beta):
    """p = z + beta p (in place). Returns nothing: a returned array is boxed through Python code, where
    a Ctrl-C surfaced as SystemError instead of KeyboardInterrupt (tests/ot/test_interrupt.py)."""
    for i in range(p.shape[0]):
        p[i] = z[i] + beta * p[i]


# --------------------------------------------------------------------------------------------------
# Normal-equation products g = A^T (A w - c), one pass over A (sketched least squares)
# --------------------------------------------------------------------------------------------------


@jit(parallel=True)
def dense_normal_matvec(A, w, c, partial, sq, out):
    """out = A^T (A w - c) reading each row of the dense C-order ``A`` once; returns ||A w - c||^2.

    With ``c = 0`` this is the normal-equation product A^T A w; with ``w = x``, ``c = b`` it is minus the
    normal residual A^T (b - A x) together with the squared residual norm. ``partial`` (n_chunks, n)
    and ``sq`` (n_chunks,) are scratch: chunk k accumulates the rows it owns, then the chunks are summed
    in a fixed order, so results do not depend on the thread schedule (nor on whether the parallel kernel
    or its serial twin :data:`dense_normal_matvec_serial` ran). Plain loops only: an array expression
    (``acc[:] = 0.0``, ``out += partial[k]``) in a ``parallel=True`` kernel becomes a parfor of its own,
    which costs compile time and gains nothing at run time.
    """
    m, n = A.shape
    n_chunks = partial.shape[0]
    rows_per_chunk = (m + n_chunks - 1) // n_chunks
    for k in prange(n_chunks):
        acc = partial[k]
        for j in range(n):
            acc[j] = 0.0
        s = 0.0
        for i in range(k * rows_per_chunk, min(m, (k + 1) * rows_per_chunk)):
            row = A[i]
            t = -c[i]
            for j in range(n):
                t += row[j] * w[j]
            s += t * t
            for j in range(n):
                acc[j] += t * row[j]
        sq[k] = s
    return _sum_chunks(partial, sq, out)


@jit(parallel=True)
def csr_normal_matvec(indptr, indices, data, w, c, partial, sq, out):
    """CSR twin of :func:`dense_normal_matvec`: out = A^T (A w - c), returns ||A w - c||^2."""
    m = indptr.shape[0] - 1
    n = out.shape[0]
    n_chunks = partial.shape[0]
    rows_per_chunk = (m + n_chunks - 1) // n_chunks
    for k in prange(n_chunks):
        acc = partial[k]
        for j in range(n):
            acc[j] = 0.0
        s = 0.0
        for i in range(k * rows_per_chunk, min(m, (k + 1) * rows_per_chunk)):
            t = csr_row_dot(indptr, indices, data, w, i) - c[i]
            s += t * t
            csr_row_axpy(indptr, indices, data, t, i, acc)
        sq[k] = s
    return _sum_chunks(partial, sq, out)


@jit
def _sum_chunks(partial, sq, out):
    """out = sum of the rows of ``partial``; return the sum of ``sq`` (fixed order: deterministic). Not
    inlined: inside a ``parallel=True`` kernel its loops would be candidates for the parfor passes."""
    n = out.shape[0]
    for j in range(n):
        out[j] = 0.0
    total = 0.0
    for k in range(partial.shape[0]):
        total += sq[k]
        row = partial[k]
        for j in range(n):
            out[j] += row[j]
    return total


#: Serial twins of the normal-equation products, for inputs below :data:`numopt.linalg._sparse.PARALLEL_NNZ`
#: entries: the parallel kernels take several times longer to compile, and a
#: small problem never needs them. Same chunks, same summation order: the same result as the parallel kernel.
dense_normal_matvec_serial = serial_twin(dense_normal_matvec)
csr_normal_matvec_serial = serial_twin(csr_normal_matvec)


# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Sketching
# --------------------------------------------------------------------------------------------------


@jit
def sketch_scatter_dense(rows, signs, A, out):
    """out = S A for a hashing sketch S (sparse sign, CountSketch) and a dense C-order (n, d) ``A``.

    Column j of S holds ``zeta`` nonzeros ``signs[j, t]`` at rows ``rows[j, t]`` (both (n, zeta);
    CountSketch is zeta = 1), so out[rows[j, t], :] += signs[j, t] * A[j, :]. ``out`` is (s, d) and is
    zeroed first. One pass over A; the (s, d) output stays in cache for the usual s.
    """
    out[:] = 0.0
    n, zeta = rows.shape
    d = A.shape[1]
    for j in range(n):
        a = A[j]
        for t in range(zeta):
            o = out[np.uint64(rows[j, t])]
            w = signs[j, t]
            for c in range(d):
                o[c] += w * a[c]
    return None  # no array to box: see the module docstring (Ctrl-C)


@jit
def sketch_scatter_csr(rows, signs, indptr, indices, data, out):
    """out = S A for a hashing sketch S (as in :func:`sketch_scatter_dense`) and a CSR (n, d) ``A``.

    Loops over the stored entries of each row j of A: out[rows[j, t], indices[k]] += signs[j, t] * data[k].
    ``out`` is a dense (s, d) array and is zeroed first; duplicate entries of A are summed.
    """
    out[:] = 0.0
    n, zeta = rows.shape
    for j in range(n):
        for k in range(np.uint64(indptr[j]), np.uint64(indptr[j + 1])):
            c = np.uint64(indices[k])
            v = data[k]
            for t in range(zeta):
                out[np.uint64(rows[j, t]), c] += signs[j, t] * v
    return None  # no array to box: see the module docstring (Ctrl-C)


@jit
def fwht_inplace(x):
    """Unnormalised fast Walsh-Hadamard transform over axis 0 of a C-order (n_pad, d) array, in place.

    ``n_pad`` must be a power of two; the result is H x with H the Sylvester Hadamard matrix (entries
    +-1, H H = n_pad I). Butterflies run over whole rows (vectorised over d). The stages that stay inside
    a block of rows fitting in 256 KiB are done block by block (one pass over memory); the remaining
    stages are fused two at a time (radix 4), which halves the passes over a large array.
    """
    n, d = x.shape
    block = 1
    while block < n and 2 * block * max(d, 1) <= 32768:
        block *= 2
    for start in range(0, n, block):
        h = 1
        while h < block:
            for i in range(start, start + block, 2 * h):
                for j in range(i, i + h):
                    a = x[j]
                    b = x[j + h]
                    for c in range(d):
                        u = a[c]
                        v = b[c]
                        a[c] = u + v
                        b[c] = u - v
            h *= 2
    h = block
    while 4 * h <= n:
        for i in range(0, n, 4 * h):
            for j in range(i, i + h):
                r0 = x[j]
                r1 = x[j + h]
                r2 = x[j + 2 * h]
                r3 = x[j + 3 * h]
                for c in range(d):
                    a0 = r0[c] + r1[c]
                    a1 = r0[c] - r1[c]
                    a2 = r2[c] + r3[c]
                    a3 = r2[c] - r3[c]
                    r0[c] = a0 + a2
                    r1[c] = a1 + a3
                    r2[c] = a0 - a2
                    r3[c] = a1 - a3
        h *= 4
    if h < n:
        for j in range(h):
            a = x[j]
            b = x[j + h]
            for c in range(d):
                u = a[c]
                v = b[c]
                a[c] = u + v
                b[c] = u - v
    return None  # no array to box: see the module docstring (Ctrl-C)


@jit
def scale_transpose_serial(A, weights, start, out):
    """out[c, i] = weights[i] * A[i, start + c] for c < out.shape[0]: a scaled, transposed copy of columns.

    Feeds the SRHT's DCT a contiguous transform axis. Rows are taken in tiles of 256 so that the strided
    reads of the C-order ``A`` stay in cache while every output row is written in contiguous runs.
    """
    n = A.shape[0]
    b = out.shape[0]
    for i0 in range(0, n, 256):
        i1 = min(n, i0 + 256)
        for c in range(b):
            col = start + c
            row = out[c]
            for i in range(i0, i1):
                row[i] = weights[i] * A[i, col]
    return None  # no array to box: see the module docstring (Ctrl-C)


@jit(parallel=True)
def scale_transpose_parallel(A, weights, start, out):
    """Parallel twin of :func:`scale_transpose_serial`: the row tiles are split over the Numba threads."""
    n = A.shape[0]
    b = out.shape[0]
    for tile in prange((n + 255) // 256):
        i0 = tile * 256
        i1 = min(n, i0 + 256)
        for c in range(b):
            col = start + c
            row = out[c]
            for i in range(i0, i1):
                row[i] = weights[i] * A[i, col]
    return None  # no array to box: see the module docstring (Ctrl-C)


# --------------------------------------------------------------------------------------------------
# Randomized Kaczmarz
# --------------------------------------------------------------------------------------------------
# The row (block) indices are drawn by the caller from its numpy Generator and passed in a batch, so
# runs are reproducible and the kernels hold no random state. Blocks are stored flat: the rows of
# block j are block_rows[block_ptr[j]:block_ptr[j + 1]], its row-major size x size Gram matrix (or
# pseudo-inverse) starts at gram_ptr[j].


@jit
def kaczmarz_dense(A, b, row_norms_sq, rows, x):
    """x <- x + (b_i - a_i.x) / ||a_i||^2 a_i for i = rows[0], rows[1], ... in turn (dense C-order A)."""
    n = x.shape[0]
    for t in range(rows.shape[0]):
        i = rows[t]
        acc = 0.0
        for j in range(n):
            acc += A[i, j] * x[j]
        step = (b[i] - acc) / row_norms_sq[i]
        for j in range(n):
            x[j] += step * A[i, j]
    return None  # no array to box: see the module docstring (Ctrl-C)


@jit
def kaczmarz_csr(indptr, indices, data, b, row_norms_sq, rows, x):
    """CSR twin of :func:`kaczmarz_dense`."""
    for t in range(rows.shape[0]):
        i = rows[t]
        step = (b[i] - csr_row_dot(indptr, indices, data, x, i)) / row_norms_sq[i]
        csr_row_axpy(indptr, indices, data, step, i, x)
    return None  # no array to box: see the module docstring (Ctrl-C)


@jit
def block_gram_dense(A, block_ptr, block_rows, gram_ptr, out):
    """out[gram_ptr[j]:] = A_j A_j^T (row-major) for every block j of rows of a dense A."""
    n = A.shape[1]
    for blk in range(block_ptr.shape[0] - 1):
        start = block_ptr[blk]
        size = block_ptr[blk + 1] - start
        g0 = gram_ptr[blk]
        for p in range(size):
            i = block_rows[start + p]
            for q in range(p + 1):
                l = block_rows[start + q]
                acc = 0.0
                for j in range(n):
                    acc += A[i, j] * A[l, j]
                out[g0 + p * size + q] = acc
                out[g0 + q * size + p] = acc
    return None  # no array to box: see the module docstring (Ctrl-C)


@jit
def block_gram_csr(indptr, indices, data, block_ptr, block_rows, gram_ptr, out, work):
    """CSR twin of :func:`block_gram_dense`; ``work`` is a zeroed length-n scratch (left zeroed)."""
    for blk in range(block_ptr.shape[0] - 1):
        start = block_ptr[blk]
        size = block_ptr[blk + 1] - start
        g0 = gram_ptr[blk]
        for p in range(size):
            i = block_rows[start + p]
            for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                work[np.uint64(indices[k])] = data[k]
            for q in range(p + 1):
                l = block_rows[start + q]
                acc = 0.0
                for k in range(np.uint64(indptr[l]), np.uint64(indptr[l + 1])):
                    acc += data[k] * work[np.uint64(indices[k])]
                out[g0 + p * size + q] = acc
                out[g0 + q * size + p] = acc
            for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                work[np.uint64(indices[k])] = 0.0
    return None  # no array to box: see the module docstring (Ctrl-C)


@jit
def block_kaczmarz_dense(A, b, block_ptr, block_rows, gram_ptr, gram_pinv, blocks, x, r):
    """x <- x + A_j^T G_j^+ (b_j - A_j x) for j = blocks[0], blocks[1], ... (dense A; ``r`` is scratch)."""
    n = x.shape[0]
    for t in range(blocks.shape[0]):
        blk = blocks[t]
        start = block_ptr[blk]
        size = block_ptr[blk + 1] - start
        g0 = gram_ptr[blk]
        for p in range(size):
            i = block_rows[start + p]
            acc = 0.0
            for j in range(n):
                acc += A[i, j] * x[j]
            r[p] = b[i] - acc
        for p in range(size):
            y = 0.0
            for q in range(size):
                y += gram_pinv[g0 + p * size + q] * r[q]
            i = block_rows[start + p]
            for j in range(n):
                x[j] += y * A[i, j]
    return None  # no array to box: see the module docstring (Ctrl-C)


@jit
def block_kaczmarz_csr(indptr, indices, data, b, block_ptr, block_rows, gram_ptr, gram_pinv, blocks, x, r):
    """CSR twin of :func:`block_kaczmarz_dense`."""
    for t in range(blocks.shape[0]):
        blk = blocks[t]
        start = block_ptr[blk]
        size = block_ptr[blk + 1] - start
        g0 = gram_ptr[blk]
        for p in range(size):
            i = block_rows[start + p]
            acc = 0.0
            for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                acc += data[k] * x[np.uint64(indices[k])]
            r[p] = b[i] - acc
        for p in range(size):
            y = 0.0
            for q in range(size):
                y += gram_pinv[g0 + p * size + q] * r[q]
            i = block_rows[start + p]
            for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                x[np.uint64(indices[k])] += y * data[k]
    return None  # no array to box: see the module docstring (Ctrl-C)
