"""The completion kernels against plain NumPy references (per-row least squares, sketches, sorting)."""

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from numopt.completion import _kernels as K
from numopt.completion._altmin import _half, _Sketcher
from numopt.completion._data import build


def _random_structure(rng, n_rows, n_other, k, density, min_d=0):
    M = sp.random_array((n_rows, n_other), density=density, format="csr", rng=rng)
    rows, cols = M.nonzero()
    if min_d:
        extra_r = np.repeat(np.arange(n_rows), min_d)
        extra_c = np.concatenate([rng.choice(n_other, min_d, replace=False) for _ in range(n_rows)])
        lin = np.unique(np.concatenate([rows * n_other + cols, extra_r * n_other + extra_c]))
        rows, cols = lin // n_other, lin % n_other
    vals = rng.standard_normal(rows.size)
    return build(rows, cols, vals, (n_rows, n_other))


def _reference(obs, F, reg):
    """Per-row ridge least squares by numpy.linalg.lstsq on the augmented system (minimum norm when singular)."""
    k = F.shape[1]
    out = np.zeros((obs.shape[0], k))
    for i in range(obs.shape[0]):
        lo, hi = obs.row_ptr[i], obs.row_ptr[i + 1]
        if hi == lo:
            continue
        Bi, yi = F[obs.row_idx[lo:hi]], obs.row_val[lo:hi]
        if reg > 0:
            Bi = np.vstack([Bi, np.sqrt(reg) * np.eye(k)])
            yi = np.concatenate([yi, np.zeros(k)])
        out[i] = np.linalg.lstsq(Bi, yi, rcond=None)[0]
    return out


def _run(obs, F, X, reg, code, maxiter=3, rtol=0.0, sketch="sparse_sign", size=None, seed=0, parallel=True):
    """One half-step over the rows of ``obs`` with every non-empty row planned ``code``; ``parallel`` splits the
    rows into blocks on threads (when numopt has more than one thread), else one kernel call."""
    k = F.shape[1]
    size = size or 2 * k
    plan = np.where(np.diff(obs.row_ptr) > 0, code, K.EMPTY).astype(np.int8)
    side = SimpleNamespace(ptr=obs.row_ptr, idx=obs.row_idx, val=obs.row_val, n_other=obs.shape[1], plan=plan,
                           any_sketch=code == K.SKETCH, any_cg=code == K.CG, dmax=int(np.diff(obs.row_ptr).max()))
    sk = _Sketcher(sketch, size, 8, np.random.default_rng(seed))
    opts = {"cg_maxiter": maxiter, "cg_rtol": rtol, "sketch_size": size}
    return _half(side, F, X, reg, opts, sk, np.zeros(5), parallel=parallel)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 6), reg=st.sampled_from([0.0, 0.3]),
       parallel=st.booleans())
def test_exact_half_step_matches_lstsq(seed, k, reg, parallel):
    rng = np.random.default_rng(seed)
    obs = _random_structure(rng, 150, 40, k, 0.3)
    F = rng.standard_normal((40, k))
    X = rng.standard_normal((150, k))
    X_old = X.copy()
    stats = _run(obs, F, X, reg, K.EXACT, parallel=parallel)
    ref = _reference(obs, F, reg)
    np.testing.assert_allclose(X, ref, rtol=1e-8, atol=1e-8)
    # statistics: residual on the observations, squared change, squared norm
    rows = np.repeat(np.arange(150), np.diff(obs.row_ptr))
    resid = obs.row_val - np.einsum("ij,ij->i", ref[rows], F[obs.row_idx])
    np.testing.assert_allclose(stats[0], resid @ resid, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(stats[1], np.sum((ref - X_old) ** 2), rtol=1e-8)
    np.testing.assert_allclose(stats[4], np.sum(ref**2), rtol=1e-8)


def test_rows_with_fewer_than_k_observations_get_the_minimum_norm_solution():
    rng = np.random.default_rng(3)
    k = 5
    rows = np.array([0, 0, 1, 2, 2, 2, 2, 2, 2])
    cols = np.array([1, 3, 0, 0, 1, 2, 3, 4, 5])
    obs = build(rows, cols, rng.standard_normal(9), (4, 8))  # row 3 has no observation
    F = rng.standard_normal((8, k))
    X = rng.standard_normal((4, k))
    stats = _run(obs, F, X, 0.0, K.EXACT)
    ref = _reference(obs, F, 0.0)
    np.testing.assert_allclose(X, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(X[3], 0.0)
    assert stats[2] == 2  # rows 0 and 1 used the fallback
    assert np.isfinite(X).all()



def test_minimum_norm_fallback_runs_only_for_singular_rows(monkeypatch):
    """The eigensolver fallback is a kernel of its own (issue 11 item 7: it was a third of the exact solver's
    cold compile): the exact and sketch paths hand it exactly the numerically singular rows, and a
    well-determined half-step never calls it (so never compiles it)."""
    calls = []
    real = K.rows_min_norm

    def spy(rows, *args):
        calls.append(rows.tolist())
        return real(rows, *args)

    monkeypatch.setattr(K, "rows_min_norm", spy)
    rng = np.random.default_rng(5)
    k = 4
    obs = _random_structure(rng, 60, 50, k, 0.1, min_d=2 * k)
    F = rng.standard_normal((50, k))
    for code in (K.EXACT, K.SKETCH):
        X = rng.standard_normal((60, k))
        stats = _run(obs, F, X, 0.0, code, maxiter=50, parallel=False)
        np.testing.assert_allclose(X, _reference(obs, F, 0.0), rtol=1e-8, atol=1e-10)
        assert stats[2] == 0
    assert calls == []
    rows = np.array([0, 0, 1, 2, 2, 2, 2, 2, 2, 2])
    cols = np.array([1, 3, 0, 0, 1, 2, 3, 4, 5, 6])
    obs = build(rows, cols, rng.standard_normal(10), (3, 8))   # rows 0 and 1 have fewer than k observations
    F = rng.standard_normal((8, k))
    for code in (K.EXACT, K.SKETCH):
        X = rng.standard_normal((3, k))
        stats = _run(obs, F, X, 0.0, code, maxiter=50, parallel=False)
        np.testing.assert_allclose(X, _reference(obs, F, 0.0), rtol=1e-9, atol=1e-12)
        assert stats[2] == 2
    assert calls == [[0, 1], [0, 1]]

@pytest.mark.parametrize("sketch", ["sparse_sign", "srht"])
@pytest.mark.parametrize("reg", [0.0, 0.5])
def test_cg_and_sketch_converge_to_lstsq_and_never_increase_the_objective(sketch, reg):
    rng = np.random.default_rng(7)
    k = 6
    obs = _random_structure(rng, 80, 300, k, 0.2, min_d=k)
    # an ill-conditioned fixed factor: plain CG needs many steps, the sketch preconditioner does not
    F = rng.standard_normal((300, k)) * np.geomspace(1, 1e-3, k)
    ref = _reference(obs, F, reg)

    def objective(X):
        rows = np.repeat(np.arange(80), np.diff(obs.row_ptr))
        r = obs.row_val - np.einsum("ij,ij->i", X[rows], F[obs.row_idx])
        return r @ r + reg * np.sum(X * X)

    X0 = rng.standard_normal((80, k))
    f = [objective(X0)]
    X = X0.copy()
    for _ in range(4):
        _run(obs, F, X, reg, K.SKETCH, maxiter=1, sketch=sketch, size=4 * k)
        f.append(objective(X))
    assert np.all(np.diff(f) <= 1e-12 * f[0])
    Xs = X0.copy()
    _run(obs, F, Xs, reg, K.SKETCH, maxiter=12, sketch=sketch, size=4 * k)
    np.testing.assert_allclose(Xs, ref, rtol=1e-7, atol=1e-7 * np.abs(ref).max())
    Xc = X0.copy()
    f = [objective(Xc)]
    for _ in range(4):
        _run(obs, F, Xc, reg, K.CG, maxiter=2)
        f.append(objective(Xc))
    assert np.all(np.diff(f) <= 1e-12 * f[0])
    _run(obs, F, Xc, reg, K.CG, maxiter=400, rtol=1e-15)
    np.testing.assert_allclose(Xc, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_sketch_preconditioner_beats_plain_cg_on_an_ill_conditioned_row(seed):
    """T = 16 steps from the same cold start on a row of rank k = 24 whose design has singular values spread
    over 1e4 (1e8 in the normal equations). The sketched PCG's rate does not depend on that spread: it
    reaches 1e-8 relative (measured 7e-11 to 1e-9). Plain CG cannot, whatever the BLAS or the rounding: with
    T < k steps its iterate lies in a Krylov space of dimension T, and the solution's weight sits in the
    smallest singular directions, which the first T steps barely see (measured relative error 0.998). The
    old assertion (sketch error below 1e-4 times plain CG's after more than k steps) compared last bits:
    after k steps CG has terminated in exact arithmetic."""
    rng = np.random.default_rng(seed)
    k, d, steps = 24, 400, 16
    obs = build(np.zeros(d, dtype=int), np.arange(d), rng.standard_normal(d), (1, d))
    F = rng.standard_normal((d, k)) * np.geomspace(1, 1e-4, k)
    ref = _reference(obs, F, 0.0)
    Xs, Xc = np.zeros((1, k)), np.zeros((1, k))
    stats_s = _run(obs, F, Xs, 0.0, K.SKETCH, maxiter=steps, size=8 * k)
    stats_c = _run(obs, F, Xc, 0.0, K.CG, maxiter=steps)
    assert stats_s[3] == stats_c[3] == steps
    err_s = np.linalg.norm(Xs - ref) / np.linalg.norm(ref)
    err_c = np.linalg.norm(Xc - ref) / np.linalg.norm(ref)
    assert err_s < 1e-8
    assert err_c > 0.5


@pytest.mark.parametrize("kind", ["sparse_sign", "srht"])
def test_sketch_of_a_row_matches_the_explicit_matrix(kind):
    """The per-row sketch S_J B equals the dense sketch matrix, restricted to the observed columns J, times B."""
    rng = np.random.default_rng(5)
    k, s, n = 4, 16, 50
    J = np.sort(rng.choice(n, 23, replace=False))
    obs = build(np.zeros(J.size, dtype=int), J, np.ones(J.size), (1, n))
    F = rng.standard_normal((n, k))
    B = F[J]
    sk = _Sketcher(kind, s, 8, np.random.default_rng(0))
    code, rows, signs, srht_signs, sel = sk.draw(n, J.size)
    SB = np.zeros((s, k))
    if kind == "sparse_sign":
        K._sketch_sparse_sign(obs.row_ptr, obs.row_idx, 0, np.ascontiguousarray(B.T), J.size, rows, signs, SB, s)
        S = np.zeros((s, n))
        S[rows, np.arange(n)[:, None]] = signs
        expected = S[:, J] @ B
    else:
        W = np.empty((32, k))
        K._sketch_srht(obs.row_ptr, obs.row_idx, 0, np.ascontiguousarray(B.T), J.size, srht_signs, sel, W, SB, s)
        p = 32  # next power of two >= max(23, 16)
        from scipy.linalg import hadamard

        H = hadamard(p)[:, : J.size]
        expected = (H[sel[5]] * srht_signs[J]) @ B / np.sqrt(s)
        # E[S^T S] = I for this scaling: the selected rows are distinct
        assert np.unique(sel[5]).size == s
    np.testing.assert_allclose(SB, expected, rtol=1e-12, atol=1e-12)


def test_householder_r_matches_numpy_qr():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((30, 7))
    R = np.empty((7, 7))
    assert K._householder_r(A.copy(), 30, R)
    R_np = np.linalg.qr(A, mode="r")
    np.testing.assert_allclose(np.abs(R), np.abs(R_np), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(R.T @ R, A.T @ A, rtol=1e-10)
    A[:, 3] = A[:, 1]  # rank deficient
    assert not K._householder_r(A.copy(), 30, R)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31), m=st.integers(1, 30), n=st.integers(1, 30), density=st.floats(0, 1))
def test_build_sorts_like_scipy(seed, m, n, density):
    rng = np.random.default_rng(seed)
    mask = rng.random((m, n)) < density
    rows, cols = np.nonzero(mask)
    perm = rng.permutation(rows.size)
    vals = rng.standard_normal(rows.size)
    obs = build(rows[perm], cols[perm], vals[perm], (m, n))
    ref = sp.csr_array((vals, (rows, cols)), shape=(m, n))
    ref.sort_indices()
    np.testing.assert_array_equal(obs.row_ptr, ref.indptr)
    np.testing.assert_array_equal(obs.row_idx, ref.indices)
    np.testing.assert_array_equal(obs.row_val, ref.data)
    refc = ref.tocsc()
    refc.sort_indices()
    np.testing.assert_array_equal(obs.col_ptr, refc.indptr)
    np.testing.assert_array_equal(obs.col_idx, refc.indices)
    np.testing.assert_array_equal(obs.col_val, refc.data)


def test_predict_and_residual_kernels_match_numpy():
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((20, 3)), rng.standard_normal((15, 3))
    r, c = rng.integers(0, 20, 50), rng.integers(0, 15, 50)
    out = K.predict_entries(A, B, r, c, np.empty(50))
    np.testing.assert_allclose(out, (A @ B.T)[r, c], rtol=1e-13)
    lin = np.unique(r * 15 + c)
    obs = build(lin // 15, lin % 15, rng.standard_normal(lin.size), (20, 15))
    rr, cc, vv = obs.coo()
    expected = np.sum((vv - (A @ B.T)[rr, cc]) ** 2)
    np.testing.assert_allclose(K.observed_sq_residual(obs.row_ptr, obs.row_idx, obs.row_val, A, B, 0, 20), expected,
                               rtol=1e-12)


@pytest.mark.parametrize("parallel", [False, True])
def test_exact_half_step_on_rows_longer_than_a_gram_tile(parallel):
    """Rows of 1, GRAM_TILE - 1, GRAM_TILE, GRAM_TILE + 1 and several tiles of observations: the tiled Gram
    accumulation matches numpy.linalg.lstsq (the random structures above stay within one tile)."""
    rng = np.random.default_rng(11)
    k, n_other = 7, 1200
    lengths = [k, K.GRAM_TILE - 1, K.GRAM_TILE, K.GRAM_TILE + 1, 3 * K.GRAM_TILE + 5, 1000]
    rows = np.concatenate([np.full(d, i) for i, d in enumerate(lengths)])
    cols = np.concatenate([np.sort(rng.choice(n_other, d, replace=False)) for d in lengths])
    obs = build(rows, cols, rng.standard_normal(rows.size), (len(lengths), n_other))
    F = rng.standard_normal((n_other, k))
    for reg in (0.0, 0.5):
        X = rng.standard_normal((len(lengths), k))
        _run(obs, F, X, reg, K.EXACT, parallel=parallel)
        np.testing.assert_allclose(X, _reference(obs, F, reg), rtol=1e-9, atol=1e-10)


def test_sparse_times_dense_matches_scipy_on_row_blocks():
    rng = np.random.default_rng(8)
    obs = _random_structure(rng, 70, 50, 3, 0.2)
    Y = rng.standard_normal((50, 6))
    A = sp.csr_array((obs.row_val, obs.row_idx, obs.row_ptr), shape=obs.shape)
    out = np.full((70, 6), np.nan)
    for lo, hi in [(0, 30), (30, 31), (31, 70)]:
        K.sparse_times_dense(obs.row_ptr, obs.row_idx, obs.row_val, Y, lo, hi, out)
    np.testing.assert_allclose(out, A @ Y, rtol=1e-12, atol=1e-12)


def test_row_blocks_cover_the_rows_in_order_with_balanced_work():
    from numopt.completion._threads import map_row_blocks, row_blocks

    indptr = np.concatenate([[0], np.cumsum(np.r_[np.full(10, 1000), np.full(990, 1)])])
    b = row_blocks(indptr, 4)
    assert b[0] == 0 and b[-1] == 1000 and np.all(np.diff(b) > 0)
    work = np.diff(indptr[b] + b)
    assert work.max() <= 2 * work.sum() / 4 + 1000
    seen = map_row_blocks(lambda lo, hi: (lo, hi), indptr, parallel=True)
    assert seen[0][0] == 0 and seen[-1][1] == 1000
    assert all(a[1] == b_[0] for a, b_ in zip(seen, seen[1:]))


def test_weighted_exact_half_step_matches_lstsq_with_per_row_ridge():
    # reg_scale="counts": row i's ridge weight is reg * weights[i]
    rng = np.random.default_rng(7)
    k, reg = 3, 0.2
    obs = _random_structure(rng, 120, 30, k, 0.3)
    F = rng.standard_normal((30, k))
    X = rng.standard_normal((120, k))
    weights = np.diff(obs.row_ptr).astype(np.float64)
    plan = np.where(weights > 0, K.EXACT, K.EMPTY).astype(np.int8)
    side = SimpleNamespace(ptr=obs.row_ptr, idx=obs.row_idx, val=obs.row_val, n_other=30, plan=plan,
                           any_sketch=False, any_cg=False, dmax=int(weights.max()))
    _half(side, F, X, reg, {}, None, np.zeros(5), weights=weights)
    for i in range(120):
        lo, hi = obs.row_ptr[i], obs.row_ptr[i + 1]
        one = build(np.zeros(hi - lo, dtype=np.int64), obs.row_idx[lo:hi], obs.row_val[lo:hi], (1, 30))
        np.testing.assert_allclose(X[i], _reference(one, F, reg * weights[i])[0], rtol=1e-8, atol=1e-10)
