"""The OT kernels against plain NumPy references."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp

from numopt.ot import _kernels as K
from numopt.ot._common import value_histogram


def _exp(x):
    out = np.empty(np.size(x))
    K.exp_into(np.ascontiguousarray(x, dtype=np.float64), out)
    return out


def test_poly_exp_matches_numpy_over_the_whole_range():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-745.2, 709.78, 400_001), rng.uniform(-50, 50, 100_000), rng.uniform(-1, 1, 10_000),
                        [0.0, -0.0, 1e-300, -1e-300, 5e-17, K.EXP_HI, 709.4365]])
    y, ref = _exp(x), np.exp(x)
    normal = ref >= np.finfo(float).tiny
    np.testing.assert_allclose(y[normal], ref[normal], rtol=1e-15, atol=0)
    np.testing.assert_allclose(y[~normal], ref[~normal], rtol=0, atol=1e-323)
    assert np.isfinite(y).all()


def test_poly_exp_special_values():
    x = np.array([-np.inf, -1e308, -1e4, -746.0, np.inf, 1e308, 710.0, np.nan])
    y = _exp(x)
    np.testing.assert_array_equal(y[:4], 0.0)
    assert np.isposinf(y[4:7]).all() and np.isnan(y[7])


def _problem(n, m, reg, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.uniform(size=(n, m))
    a, b = rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, m)
    a /= a.sum()
    b /= b.sum()
    f, g = rng.normal(scale=0.1, size=n), rng.normal(scale=0.1, size=m)
    return M, a, b, f, g, reg


@pytest.mark.parametrize("reg", [1.0, 1e-2, 1e-4])
def test_sinkhorn_half_steps_match_logsumexp(reg):
    M, a, b, f, g, reg = _problem(7, 5, reg)
    h = (f[:, None] + g[None, :] - M) / reg
    f_ref = f + reg * (np.log(a) - logsumexp(h, axis=1))
    with np.errstate(over="ignore"):
        err_ref = np.abs(np.exp(logsumexp(h, axis=1)) - a).sum()
    f_new = f.copy()
    err = K.sinkhorn_rows(M, f_new, g, a, np.log(a), reg)
    np.testing.assert_allclose(f_new, f_ref, rtol=1e-12, atol=1e-12)
    if reg >= 1e-2:
        np.testing.assert_allclose(err, err_ref, rtol=1e-12)
    # columns of (f_new, g)
    h = (f_new[:, None] + g[None, :] - M) / reg
    logc = np.empty(5)
    err = K.sinkhorn_cols(M, f_new, g, b, reg, logc)
    np.testing.assert_allclose(logc, logsumexp(h, axis=0), rtol=1e-12, atol=1e-9)
    assert np.isfinite(err)


def test_sinkhorn_rows_recover_from_underflow_and_overflow():
    M = np.array([[0.0, 1.0], [1.0, 0.0]])
    for shift in (-50.0, 50.0):  # exp(h) = exp(+-5e5): the one-pass sums are 0 and inf
        f, g = np.array([shift, shift]), np.zeros(2)
        a = np.array([0.5, 0.5])
        K.sinkhorn_rows(M, f, g, a, np.log(a), 1e-4)
        h = (f[:, None] + g - M) / 1e-4
        # |h| ~ 5e5 here, so rounding in h alone is ~1e-10 relative
        np.testing.assert_allclose(np.exp(logsumexp(h, axis=1)), a, rtol=1e-9)


def test_plan_pass_and_kernel_passes():
    M, a, b, f, g, reg = _problem(6, 9, 0.1)
    P_ref = np.exp((f[:, None] + g - M) / reg)
    r, c = np.empty(6), np.empty(9)
    np.testing.assert_allclose(K.plan_sums(P_ref, M, r, c, 1.0), (P_ref * M).sum(), rtol=1e-13)
    np.testing.assert_allclose(r, P_ref.sum(1), rtol=1e-13)
    np.testing.assert_allclose(c, P_ref.sum(0), rtol=1e-13)
    # the same pass scales the plan, after summing it (the final plan's mass, no extra pass)
    P2 = P_ref.copy()
    np.testing.assert_allclose(K.plan_sums(P2, M, r, c, 3.0), (P_ref * M).sum(), rtol=1e-13)
    np.testing.assert_allclose(r, P_ref.sum(1), rtol=1e-13)
    np.testing.assert_array_equal(P2, 3.0 * P_ref)
    # the Gibbs kernel, scaled into the plan of shifted potentials
    Kmat = np.empty_like(M)
    K.kernel_into(M, f, g, reg, Kmat)
    np.testing.assert_allclose(Kmat, P_ref, rtol=1e-13)
    du, dv = np.linspace(-0.3, 0.2, 6), np.linspace(0.1, -0.1, 9)
    K.scale_rows_cols(Kmat, np.exp(du / reg), np.exp(dv / reg))
    np.testing.assert_allclose(Kmat, np.exp((f[:, None] + du[:, None] + g + dv - M) / reg), rtol=1e-12)
    # entries below KERNEL_FLUSH are stored as exact zeros (no subnormals in BLAS passes)
    tiny = np.empty((1, 3))
    K.kernel_into(np.array([[0.0, 700.0, 800.0]]), np.zeros(1), np.zeros(3), 1.0, tiny)
    assert tiny[0, 0] == 1.0 and tiny[0, 1] == 0.0 and tiny[0, 2] == 0.0


def test_value_histogram_and_selection():
    M, a, b, f, g, reg = _problem(8, 11, 0.05)
    Kmat = np.exp((f[:, None] + g - M) / reg)
    u, v = np.exp(np.linspace(-2, 2, 8)), np.exp(np.linspace(1, -1, 11))
    P = u[:, None] * Kmat * v
    P[0, 0] = 0.0
    Kmat[0, 0] = 0.0
    # bins: top 13 bits of the float64 (exponent and 2 mantissa bits), monotone in the value
    bins = (P.view(np.int64) >> 50).astype(int)
    assert (np.diff(bins.ravel()[np.argsort(P.ravel())]) >= 0).all()
    mass, count = value_histogram(Kmat, u, v, {})
    np.testing.assert_array_equal(count, np.bincount(bins.ravel(), minlength=K.N_VALUE_BINS))
    np.testing.assert_allclose(mass, np.bincount(bins.ravel(), P.ravel(), minlength=K.N_VALUE_BINS), rtol=1e-13,
                               atol=1e-300)
    cut = int(np.median(bins))
    nnz = int((bins >= cut).sum())
    indptr, indices, data = np.empty(9, np.int64), np.empty(nnz, np.int32), np.empty(nnz)
    K.scaled_select(Kmat, u, v, cut, indptr, indices, data)
    S = sp.csr_array((data, indices, indptr), shape=M.shape).toarray()
    np.testing.assert_allclose(S, np.where(bins >= cut, P, 0.0), rtol=1e-13)


def test_schur_matvecs_and_diagonal():
    rng = np.random.default_rng(3)
    S = sp.random_array((6, 4), density=0.5, format="csr", rng=rng)
    S.data[:] = rng.uniform(0.1, 1.0, S.nnz)
    Sd = S.toarray()
    r, c = Sd.sum(1) + 0.5, Sd.sum(0) + 0.5
    ip, ix, d = S.indptr.astype(np.int64), S.indices.astype(np.int32), S.data
    y = rng.normal(size=4)
    y -= y.mean()
    K_cols = np.diag(c) - Sd.T @ np.diag(1 / r) @ Sd
    Pi = np.eye(4) - 1 / 4
    out = np.empty(4)
    assert K.schur_cols_matvec(ip, ix, d, 1 / r, c, y, out) is None  # no array boxed (see test_interrupt)
    np.testing.assert_allclose(out, Pi @ K_cols @ y, atol=1e-14)
    x = rng.normal(size=6)
    x -= x.mean()
    K_rows = np.diag(r) - Sd @ np.diag(1 / c) @ Sd.T
    out = np.empty(6)
    K.schur_rows_matvec(ip, ix, d, 1 / c, r, x, np.empty(4), out)
    np.testing.assert_allclose(out, (np.eye(6) - 1 / 6) @ K_rows @ x, atol=1e-14)
    for cols, size, ref in ((True, 4, K_cols), (False, 6, K_rows)):
        diag = np.empty(size)
        K.schur_diagonal(ip, ix, d, r, c, cols, diag)
        np.testing.assert_allclose(diag, np.diag(ref), rtol=1e-14)
    xs, ys = np.empty(6), np.empty(4)
    K.csr_product_into(ip, ix, d, y, False, xs)
    K.csr_product_into(ip, ix, d, x, True, ys)
    S = sp.csr_array((d, ix, ip), shape=(6, 4))
    np.testing.assert_allclose(xs, S @ y, rtol=1e-14)
    np.testing.assert_allclose(ys, S.T @ x, rtol=1e-14)


def test_serial_twins_match_the_parallel_kernels():
    """Each parallel kernel has a serial twin compiled from the same source, used below
    PARALLEL_ENTRIES entries; both give the same bits."""
    rng = np.random.default_rng(4)
    n, m = 37, 23
    M, f, g = rng.uniform(size=(n, m)), rng.normal(size=n) * 0.1, rng.normal(size=m) * 0.1
    u, v = rng.uniform(0.5, 2, n), rng.uniform(0.5, 2, m)
    out = {}
    for name in ("kernel_into", "scale_rows_cols", "scaled_histogram", "scaled_select"):
        assert K.sized(getattr(K, name), K.PARALLEL_ENTRIES) is getattr(K, name)
        assert K.sized(getattr(K, name), n * m) is getattr(K, name + "_serial")
    for variant in ("", "_serial"):
        Kx = np.empty((n, m))
        getattr(K, "kernel_into" + variant)(M, f, g, 0.05, Kx)
        mass = np.empty((K.HIST_CHUNKS, K.N_VALUE_BINS))
        count = np.empty((K.HIST_CHUNKS, K.N_VALUE_BINS), dtype=np.int64)
        scratch = np.empty((K.HIST_CHUNKS, m)), np.empty((K.HIST_CHUNKS, m), dtype=np.int64)
        getattr(K, "scaled_histogram" + variant)(Kx, u, v, mass, count, *scratch)
        mass, count = mass.sum(0), count.sum(0)
        cut = int(np.flatnonzero(count)[len(np.flatnonzero(count)) // 2])
        nnz = int(count[cut:].sum())
        ip, ix, d = np.empty(n + 1, dtype=np.int64), np.empty(nnz, dtype=np.int32), np.empty(nnz)
        getattr(K, "scaled_select" + variant)(Kx, u, v, cut, ip, ix, d)
        getattr(K, "scale_rows_cols" + variant)(Kx, u, v)
        out[variant] = (Kx, mass, count, ip, ix, d)
    for x, y in zip(out[""], out["_serial"]):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(out[""][0], u[:, None] * np.exp((f[:, None] + g[None] - M) / 0.05) * v[None],
                               rtol=1e-14)
    assert K.sized(K.plan_sums, 1) is K.plan_sums  # kernels without a twin


def test_fused_sweep_bookkeeping():
    """divide_checked / column_error / log_dot: numpy's values, and an unsafe denominator (below the
    floor, inf or NaN) leaves the output untouched."""
    rng = np.random.default_rng(4)
    num, den, v, b = rng.random(7) + 0.1, rng.random(7) + 0.1, rng.random(7) + 0.1, rng.random(7)
    out = np.empty(7)
    ok, lo, hi = K.divide_checked(num, den, 1e-200, out)
    assert ok
    np.testing.assert_array_equal(out, num / den)
    assert (lo, hi) == (out.min(), out.max())
    ok, err = K.column_error(v, den, b, 1e-200)
    assert ok
    np.testing.assert_allclose(err, np.abs(v * den - b).sum(), rtol=1e-14)
    np.testing.assert_allclose(K.log_dot(num, den, b, v), num @ np.log(den) + b @ np.log(v), rtol=1e-13)
    for bad in (1e-250, np.inf, np.nan):
        d = den.copy()
        d[3] = bad
        keep = out.copy()
        assert not K.divide_checked(num, d, 1e-200, out)[0]
        np.testing.assert_array_equal(out, keep)
        assert not K.column_error(v, d, b, 1e-200)[0]


def test_exp_flush_is_exp_poly_above_its_floor_and_zero_below():
    """exp_flush (the vectorisable exp of the hot sums) gives exp_poly's digits for x >= -708, 0 below
    (where exp_poly returns subnormal numbers), and exp_poly's inf and NaN."""
    import numba

    @numba.njit
    def flush_into(x, out):
        for i in range(x.shape[0]):
            out[i] = K.exp_flush(x[i])

    rng = np.random.default_rng(1)
    x = np.concatenate([np.linspace(-750.0, 709.78, 200_001), rng.uniform(-50, 50, 50_000),
                        [K.EXP_FLUSH_LO, -708.0000001, K.EXP_HI, 710.0, np.inf, -np.inf, 0.0, -0.0]])
    y = np.empty_like(x)
    flush_into(x, y)
    ref = _exp(x)
    above = x >= K.EXP_FLUSH_LO
    np.testing.assert_array_equal(y[above], ref[above])
    assert (y[~above] == 0.0).all() and ref[~above].max() < 3.4e-308
    out = np.empty(1)
    flush_into(np.array([np.nan]), out)
    assert np.isnan(out[0])


def _cloud_num(x, y, f, g, metric):
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return f[:, None] + g[None, :] - (np.sqrt(C) if metric == 1 else C)


@pytest.mark.parametrize("d, metric", [(2, 0), (3, 0), (3, 1), (4, 0), (1, 1)])
def test_cloud_rows_and_scan_match_numpy(d, metric):
    """The fused 2-/3-D cost rows and the generic one; cloud_scan's marginals, and its pairs: those with
    P_ij >= level r_i, the cut raised by factors e^2 in the rows that would keep more than kmax."""
    rng = np.random.default_rng(d + 10 * metric)
    n, m, reg = 37, 29, 0.05
    x, y = rng.uniform(size=(n, d)), rng.uniform(size=(m, d))
    f, g = rng.normal(0, 0.05, n), rng.normal(0, 0.05, m)
    a = rng.uniform(0.5, 1.0, n)
    a /= a.sum()
    YT = np.ascontiguousarray(y.T)
    work = np.empty((3, m))
    P = np.exp(_cloud_num(x, y, f, g, metric) / reg)
    f1, rowsum = f.copy(), np.empty(n)
    err = K.cloud_rows(x, YT, f1, g, a, np.log(a), reg, metric, rowsum, work)
    np.testing.assert_allclose(rowsum, P.sum(1), rtol=1e-13)
    np.testing.assert_allclose(err, np.abs(P.sum(1) - a).sum(), rtol=1e-12)
    np.testing.assert_allclose(f1, f + reg * (np.log(a) - np.log(P.sum(1))), rtol=1e-13, atol=1e-15)
    level, kmax = 0.02, 6
    size = -(-n // 3)
    starts = np.arange(3, dtype=np.int64) * kmax * size
    ends = starts + kmax * size
    indices, data = np.full(3 * kmax * size, -1, dtype=np.int32), np.zeros(3 * kmax * size)
    r, cols, counts = np.empty(n), np.empty((3, m)), np.empty(n, dtype=np.int64)
    overflow = K.cloud_scan(x, YT, f, g, reg, metric, level, kmax, r, cols, work, counts, starts, ends, indices, data)
    assert overflow == 0
    np.testing.assert_allclose(r, P.sum(1), rtol=1e-13)
    np.testing.assert_allclose(cols.sum(0), P.sum(0), rtol=1e-13)
    capped = 0
    for i in range(n):
        cut = level * P[i].sum()
        while (P[i] >= cut * (1 + 1e-12)).sum() > kmax:
            cut *= np.exp(2.0)
            capped += 1
        want = np.flatnonzero(P[i] >= cut)
        k, q = divmod(i, size)
        start = starts[k] + counts[k * size:i].sum()
        got = indices[start:start + counts[i]]
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(data[start:start + counts[i]], P[i, want], rtol=1e-13)
    assert capped > 0 and counts.max() <= kmax
    # too little room: the chunk reports it, counts stay exact, nothing is written past its end
    ends_small = starts + kmax
    indices[:] = -1
    counts2 = np.empty(n, dtype=np.int64)
    overflow = K.cloud_scan(x, YT, f, g, reg, metric, level, kmax, r, cols, work, counts2, starts, ends_small,
                            indices, data)
    assert overflow == 3
    np.testing.assert_array_equal(counts2, counts)
    for k in range(3):
        assert (indices[ends_small[k]:starts[k] + kmax * size] == -1).all()
