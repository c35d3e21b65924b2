"""Tests of the sketching operators of numopt.linalg (Gaussian, sparse sign, CountSketch, SRHT)."""

import math
import tracemalloc

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from numopt.linalg import SRHT, CountSketch, GaussianSketch, Sketch, SparseSignSketch, _kernels, make_sketch
from numopt.linalg import _sketch

#: (id, factory(sketch_size, n, rng)) for every family and option that changes the code path.
FACTORIES = [
    ("gaussian", lambda s, n, rng: GaussianSketch(s, n, rng=rng)),
    ("sparse_sign-3", lambda s, n, rng: SparseSignSketch(s, n, nnz_per_column=3, rng=rng)),
    ("sparse_sign-8", lambda s, n, rng: SparseSignSketch(s, n, rng=rng)),
    ("countsketch", lambda s, n, rng: CountSketch(s, n, rng=rng)),
    ("srht-dct", lambda s, n, rng: SRHT(s, n, rng=rng)),
    ("srht-hadamard", lambda s, n, rng: SRHT(s, n, rng=rng, transform="hadamard")),
]
FACTORY_IDS = [name for name, _ in FACTORIES]
FACTORY_FUNCS = [f for _, f in FACTORIES]


def assert_product_close(actual, S_dense, A_dense):
    """``actual`` equals ``S_dense @ A_dense`` to rtol 1e-12 (atol 1e-12 of the magnitude, for cancellations)."""
    desired = S_dense @ A_dense
    scale = float(np.max(np.abs(S_dense) @ np.abs(A_dense), initial=1.0))
    np.testing.assert_allclose(actual, desired, rtol=1e-12, atol=1e-12 * scale)


def dense_inputs(n, rng):
    """Dense right-hand sides: 1-D, 2-D, wider than one SRHT block, Fortran order, integers, a list."""
    return {
        "1d": rng.standard_normal(n),
        "2d": rng.standard_normal((n, 5)),
        "wide": rng.standard_normal((n, 70)),
        "fortran": np.asfortranarray(rng.standard_normal((n, 4))),
        "int": rng.integers(-5, 5, size=(n, 3)),
        "list": rng.standard_normal((n, 2)).tolist(),
    }


def sparse_inputs(n, seed):
    A = sp.random_array((n, 70), density=0.2, format="csr", rng=seed)
    duplicated = sp.coo_array(
        (np.array([1.0, 2.0, -3.0, 0.5]), (np.array([0, 0, n - 1, 1]), np.array([3, 3, 0, 69]))), shape=(n, 70)
    )
    return {
        "csr": A,
        "csc": A.tocsc(),
        "coo-duplicates": duplicated,
        "csr_matrix": sp.csr_matrix(A),
        "csr-int64": sp.csr_array((A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)), shape=A.shape),
    }


# --------------------------------------------------------------------------------------------------
# products against the explicit matrix
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "factory"), FACTORIES, ids=FACTORY_IDS)
@pytest.mark.parametrize("n", [1, 37, 64])
def test_apply_matches_todense_dense_input(name, factory, n):
    s = min(11, n) if name.startswith("srht") else 11  # hashing and Gaussian sketches may have s > n
    rng = np.random.default_rng(n)
    S = factory(s, n, 3)
    M = S.todense()
    assert M.shape == S.shape == (s, n) and M.dtype == np.float64
    for label, A in dense_inputs(n, rng).items():
        out = S.apply(A)
        A_dense = np.asarray(A, dtype=np.float64)
        assert out.dtype == np.float64 and out.flags.c_contiguous, label
        assert out.shape == (s,) + A_dense.shape[1:], label
        assert_product_close(out, M, A_dense)
        np.testing.assert_array_equal(S @ A, out)


@pytest.mark.parametrize("factory", FACTORY_FUNCS, ids=FACTORY_IDS)
def test_apply_matches_todense_sparse_input(factory):
    n, s = 45, 13
    S = factory(s, n, 7)
    M = S.todense()
    for name, A in sparse_inputs(n, 1).items():
        out = S.apply(A)
        assert isinstance(out, np.ndarray) and out.shape == (s, 70) and out.flags.c_contiguous, name
        assert_product_close(out, M, A.toarray())


@pytest.mark.parametrize("factory", FACTORY_FUNCS, ids=FACTORY_IDS)
def test_linear_operator_matches_todense(factory):
    n, s = 40, 9
    S = factory(s, n, 11)
    M = S.todense()
    op = S.aslinearoperator()
    assert isinstance(op, LinearOperator) and op.shape == (s, n) and op.dtype == np.float64
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(n), rng.standard_normal(s)
    X, Y = rng.standard_normal((n, 3)), rng.standard_normal((s, 4))
    assert_product_close(op.matvec(x), M, x)
    assert_product_close(op.rmatvec(y), M.T, y)
    assert_product_close(op.matmat(X), M, X)
    assert_product_close(op.rmatmat(Y), M.T, Y)
    assert_product_close(op.T @ y, M.T, y)
    assert_product_close(op.H @ Y, M.T, Y)
    assert op.matvec(x.reshape(n, 1)).shape == (s, 1)
    assert op.rmatvec(y.reshape(s, 1)).shape == (n, 1)


def test_todense_constructions():
    """The explicit DCT-II and Hadamard matrices used by SRHT.todense are the transforms the fast path uses."""
    import scipy.fft

    for n in (1, 2, 7, 64, 129):
        np.testing.assert_allclose(_sketch._dct_matrix(n), scipy.fft.dct(np.eye(n), type=2, norm="ortho", axis=0),
                                   rtol=0, atol=1e-14)
    for n_pad in (1, 2, 8, 64):
        np.testing.assert_array_equal(_sketch._hadamard_matrix(n_pad), scipy.linalg.hadamard(n_pad))


def test_srht_hadamard_sketch_larger_than_n_uses_padding():
    S = SRHT(7, 5, rng=0, transform="hadamard")  # n_pad = 8 >= s = 7 > n
    assert S.n_pad == 8
    A = np.random.default_rng(1).standard_normal((5, 3))
    assert_product_close(S @ A, S.todense(), A)


# --------------------------------------------------------------------------------------------------
# distribution: E[S^T S] = I, structure of the hashes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", FACTORY_FUNCS, ids=FACTORY_IDS)
def test_expectation_of_gram_is_identity(factory):
    n, s, draws = 12, 8, 3000
    total = np.zeros((n, n))
    for seed in range(draws):
        M = factory(s, n, seed).todense()
        total += M.T @ M
    mean = total / draws
    # Entries of S^T S have variance at most 2/s; 6 standard errors of the mean.
    np.testing.assert_allclose(mean, np.eye(n), rtol=0, atol=6 * math.sqrt(2 / s / draws))


@pytest.mark.parametrize(("s", "zeta"), [(100, 8), (10, 3), (40, 20), (12, 12)])
def test_sparse_sign_columns_have_distinct_rows_and_uniform_hashes(s, zeta):
    n = 6000
    S = SparseSignSketch(s, n, nnz_per_column=zeta, rng=5)
    rows = S._rows.astype(np.int64)
    assert rows.shape == (n, zeta)
    assert np.all(np.sort(rows, axis=1)[:, 1:] != np.sort(rows, axis=1)[:, :-1])  # distinct in each column
    assert rows.min() >= 0 and rows.max() < s
    np.testing.assert_array_equal(np.abs(S._signs), 1 / math.sqrt(zeta))
    counts = np.bincount(rows.ravel(), minlength=s)
    expected = n * zeta / s
    assert np.all(np.abs(counts - expected) <= 6 * math.sqrt(expected))
    assert abs(np.mean(S._signs > 0) - 0.5) <= 6 * math.sqrt(0.25 / (n * zeta))
    M = S.todense()
    np.testing.assert_array_equal(np.count_nonzero(M, axis=0), zeta)
    np.testing.assert_allclose(np.linalg.norm(M, axis=0), 1.0, rtol=1e-15)  # every column has norm 1


def test_srht_selects_distinct_rows():
    S = SRHT(300, 1000, rng=2, transform="hadamard")
    assert np.unique(S._selected).size == 300 and S._selected.max() < S.n_pad == 1024


# --------------------------------------------------------------------------------------------------
# the subspace embedding property and distortion_bound
# --------------------------------------------------------------------------------------------------


def orthonormal(family, n, k, rng):
    if family == "haar":
        return np.linalg.qr(rng.standard_normal((n, k)))[0]
    if family == "coordinate":
        Q = np.zeros((n, k))
        Q[rng.choice(n, k, replace=False), np.arange(k)] = 1.0
        return Q
    B = rng.standard_normal((n, k))  # "spiky": half coordinate vectors, half Gaussian
    h = k // 2
    B[:, :h] = 0.0
    B[rng.choice(n, h, replace=False), np.arange(h)] = 1.0
    return np.linalg.qr(B)[0]


def smallest_useful_sketch(kind, k, n, delta, target=0.8, **options):
    """Smallest s >= max(4k, 8) (growing by 25%) whose distortion bound is at most ``target``."""
    s = max(4 * k, 8)
    while True:
        S = make_sketch(kind, min(s, n) if kind == "srht" else s, n, rng=0, **options)
        if S.distortion_bound(k, delta) <= target or (kind == "srht" and s >= n):
            return S.sketch_size
        s = math.ceil(1.25 * s)


def assert_embedding(S, Q, eps):
    assert eps < 1.0
    sv = np.linalg.svd(S @ Q, compute_uv=False)
    assert sv.min() >= 1.0 - eps and sv.max() <= 1.0 + eps, (sv.min(), sv.max(), eps)


@given(
    kind=st.sampled_from(["gaussian", "sparse_sign", "srht-dct", "srht-hadamard"]),
    family=st.sampled_from(["haar", "coordinate", "spiky"]),
    n=st.integers(512, 2048),
    k=st.integers(1, 10),
    seed=st.integers(0, 2**32 - 1),
)
def test_singular_values_within_distortion_bound(kind, family, n, k, seed):
    kind, _, transform = kind.partition("-")
    options = {"transform": transform} if transform else {}
    delta = 1e-3
    s = smallest_useful_sketch(kind, k, n, delta, **options)
    S = make_sketch(kind, s, n, rng=seed, **options)
    eps = S.distortion_bound(k, delta)
    assume(eps <= 0.8)
    Q = orthonormal(family, n, k, np.random.default_rng([seed, 1]))  # a stream independent of the sketch's
    assert_embedding(S, Q, eps)


@given(zeta=st.integers(1, 7), n=st.integers(50, 800), k=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_hashing_theorem_bound(zeta, n, k, seed):
    """CountSketch and sparse sign with zeta < 8 use the second-moment theorem (s ~ (k^2 + k) / delta)."""
    delta = 0.01
    s = math.ceil((k * k + k) / (delta * 0.8**2))
    S = CountSketch(s, n, rng=seed) if zeta == 1 else SparseSignSketch(s, n, nnz_per_column=zeta, rng=seed)
    eps = S.distortion_bound(k, delta)
    assert 0.75 <= eps <= 0.8
    assert_embedding(S, orthonormal("coordinate" if seed % 2 else "haar", n, k, np.random.default_rng([seed, 1])), eps)


@pytest.mark.parametrize("transform", ["hadamard", "dct"])
def test_srht_bound_covers_coordinate_aligned_subspaces(transform):
    """The coupon-collector case: leading Hadamard columns / DCT columns sharing one period."""
    k, r = 16, 127
    n = k * r
    if transform == "hadamard":
        Q = np.eye(n, k)  # the leading columns of H have period k: s must hit every residue class
    else:
        Q = np.zeros((n, k))
        Q[[(a * r - 1) // 2 for a in range(1, 2 * k, 2)], np.arange(k)] = 1.0
    assert SRHT(8 * k, n, transform=transform, rng=0).distortion_bound(k) >= 1.0  # vacuous at s = 8k, as it must be
    s = smallest_useful_sketch("srht", k, n, 1e-3, transform=transform)
    for seed in range(30):
        S = SRHT(s, n, rng=seed, transform=transform)
        assert_embedding(S, Q, S.distortion_bound(k))


def test_distortion_bound_formulas():
    k, s, delta = 5, 400, 1e-3
    gauss = math.sqrt(k / s) + math.sqrt(2 * math.log(2 / delta) / s)
    assert GaussianSketch(s, 1000, rng=0).distortion_bound(k, delta) == pytest.approx(gauss, rel=1e-14)
    cs = math.sqrt((k * k + k) / (s * delta))
    assert CountSketch(s, 1000, rng=0).distortion_bound(k, delta) == pytest.approx(cs, rel=1e-14)
    assert SparseSignSketch(s, 1000, nnz_per_column=4, rng=0).distortion_bound(k, delta) == pytest.approx(cs)
    s_eff = min(s, 8 * 8 * (k + 1) / 2)
    emp = 1.25 * (math.sqrt(k / s_eff) + math.sqrt(2 * math.log(2 / delta) / s_eff))
    assert SparseSignSketch(s, 1000, rng=0).distortion_bound(k, delta) == pytest.approx(min(emp, cs), rel=1e-14)
    srht = SRHT(s, 1000, rng=0, transform="hadamard").distortion_bound(k, delta)
    assert srht >= 1.1 * gauss
    # the Chernoff term: its t_- solves t + (1 - t) log(1 - t) = (k / s) log(2k / delta)
    eps_chi = _sketch._chernoff_eps(k, s, delta, 1.0)
    t = 1 - (1 - eps_chi) ** 2
    lhs = t + (1 - t) * math.log1p(-t)
    assert lhs == pytest.approx(k / s * math.log(2 * k / delta), rel=1e-9)
    assert srht == pytest.approx(max(1.1 * gauss, eps_chi), rel=1e-14)
    assert _sketch._chernoff_eps(50, 100, 1e-3, 2.0) >= 1.0  # vacuous when mu k log(2k/delta) >= s
    # monotone: more rows, smaller bound; smaller delta, larger bound
    for S in (GaussianSketch(200, 300, rng=0), SparseSignSketch(200, 300, rng=0), SRHT(200, 300, rng=0)):
        T = type(S)(300, 300, rng=0)
        assert T.distortion_bound(4) <= S.distortion_bound(4) <= S.distortion_bound(4, delta=1e-6)


# --------------------------------------------------------------------------------------------------
# reproducibility
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", FACTORY_FUNCS, ids=FACTORY_IDS)
def test_same_seed_same_sketch_different_seed_different_sketch(factory):
    n, s = 50, 12
    A = np.random.default_rng(0).standard_normal((n, 3))
    S1, S2, S3 = factory(s, n, 42), factory(s, n, 42), factory(s, n, 43)
    np.testing.assert_array_equal(S1.todense(), S2.todense())
    np.testing.assert_array_equal(S1 @ A, S2 @ A)
    assert not np.array_equal(S1.todense(), S3.todense())
    gen = np.random.default_rng(7)  # a Generator is consumed: two draws from it differ
    assert not np.array_equal(factory(s, n, gen).todense(), factory(s, n, gen).todense())
    np.testing.assert_array_equal(factory(s, n, np.random.SeedSequence(3)).todense(),
                                  factory(s, n, np.random.SeedSequence(3)).todense())


def test_make_sketch_dispatch():
    for kind, cls in [("gaussian", GaussianSketch), ("sparse_sign", SparseSignSketch), ("countsketch", CountSketch),
                      ("srht", SRHT)]:
        S = make_sketch(kind, 8, 20, rng=1)
        assert type(S) is cls and isinstance(S, Sketch) and S.shape == (8, 20)
        assert repr(S).startswith(cls.__name__)
    assert make_sketch("sparse_sign", 8, 20, nnz_per_column=3).nnz_per_column == 3
    assert make_sketch("srht", 8, 20, transform="hadamard").n_pad == 32
    np.testing.assert_array_equal(make_sketch("srht", 8, 20, rng=4).todense(), SRHT(8, 20, rng=4).todense())


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match=r"make_sketch: `kind` must be one of 'gaussian', 'sparse_sign', "
                                         r"'countsketch', 'srht'; got 'fourier'\."):
        make_sketch("fourier", 10, 100)
    with pytest.raises(TypeError, match=r"make_sketch: `kind` must be one of"):
        make_sketch(None, 10, 100)
    with pytest.raises(ValueError, match=r"GaussianSketch: `sketch_size` must be >= 1; got 0\."):
        make_sketch("gaussian", 0, 100)
    with pytest.raises(ValueError, match=r"CountSketch: `n` must be >= 1; got -3\."):
        CountSketch(4, -3)
    with pytest.raises(ValueError, match=r"SparseSignSketch: `nnz_per_column` must be <= 5; got 8\."):
        make_sketch("sparse_sign", 5, 100)
    with pytest.raises(ValueError, match=r"SparseSignSketch: `nnz_per_column` must be >= 1; got 0\."):
        SparseSignSketch(5, 100, nnz_per_column=0)
    with pytest.raises(TypeError, match=r"SRHT: `sketch_size` must be an integer; got 10\.0 \(type float\)\."):
        make_sketch("srht", 10.0, 100)
    with pytest.raises(TypeError, match=r"GaussianSketch: `n` must be an integer; got True \(type bool\)\."):
        GaussianSketch(3, True)
    with pytest.raises(TypeError, match=r"SparseSignSketch: `nnz_per_column` must be an integer"):
        SparseSignSketch(10, 100, nnz_per_column=2.5)
    with pytest.raises(ValueError, match=r"SRHT: `transform` must be one of 'dct', 'hadamard'; got 'fft'\."):
        SRHT(10, 100, transform="fft")
    for kind in ("srht", "gaussian"):  # options of other families are checked too, never silently ignored
        with pytest.raises(ValueError, match=r"make_sketch: `transform` must be one of 'dct', 'hadamard'; got 'fft'"):
            make_sketch(kind, 10, 100, transform="fft")
        with pytest.raises(ValueError, match=r"make_sketch: `nnz_per_column` must be >= 1; got 0\."):
            make_sketch(kind, 10, 100, nnz_per_column=0)
    with pytest.raises(ValueError, match=r"SRHT: `sketch_size` must be <= n = 100 for transform='dct'; got 101\."):
        SRHT(101, 100)
    with pytest.raises(ValueError, match=r"SRHT: `sketch_size` must be <= n_pad .* = 128 for transform='hadamard'; "
                                         r"got 129\."):
        SRHT(129, 100, transform="hadamard")
    with pytest.raises(TypeError, match=r"GaussianSketch: `rng` must be None, an int seed, a SeedSequence or a numpy "
                                        r"Generator"):
        GaussianSketch(3, 10, rng="seed")


@pytest.mark.parametrize("factory", FACTORY_FUNCS, ids=FACTORY_IDS)
def test_bad_apply_arguments(factory):
    S = factory(8, 30, 0)
    name = type(S).__name__
    with pytest.raises(ValueError, match=rf"{name}\.apply: `A` must have 30 rows \(shape \(30,\) or \(30, d\)\) to "
                                         rf"match the sketch of shape \(8, 30\); got shape \(29, 2\)\."):
        S.apply(np.ones((29, 2)))
    with pytest.raises(ValueError, match=r"`A` must have 30 rows .*; got shape \(31,\)\."):
        S @ np.ones(31)
    with pytest.raises(ValueError, match=r"`A` must have 30 rows .*; got shape \(20, 30\)\."):
        S @ sp.random_array((20, 30), density=0.1, rng=0)
    A = np.ones((30, 3))
    A[4, 1] = np.nan
    with pytest.raises(ValueError, match=rf"{name}\.apply: `A` must be finite; got A\[4, 1\] = nan\."):
        S.apply(A)
    B = sp.csr_array(np.eye(30))
    B.data[2] = np.inf
    with pytest.raises(ValueError, match=r"`A\.data` must be finite; got A\.data\[2\] = inf\."):
        S.apply(B)
    with pytest.raises(ValueError, match=r"`A` must be 1-D or 2-D; got an array of shape \(30, 2, 2\)\."):
        S.apply(np.ones((30, 2, 2)))
    with pytest.raises(TypeError, match=r"`A` must have a real numeric dtype"):
        S.apply(np.ones(30, dtype=complex))
    with pytest.raises(TypeError, match=r"`A` must have a real numeric dtype"):
        S.apply(aslinearoperator(np.eye(30)))
    with pytest.raises(TypeError, match=r"`A` must be an array; got None\."):
        S.apply(None)
    op = S.aslinearoperator()
    with pytest.raises(ValueError, match=r"\.aslinearoperator: `y` must be finite; got y\[0\] = nan\."):
        op.rmatvec(np.full(8, np.nan))


def test_bad_distortion_bound_arguments():
    S = SparseSignSketch(16, 50, rng=0)
    with pytest.raises(ValueError, match=r"SparseSignSketch\.distortion_bound: `k` must be >= 1; got 0\."):
        S.distortion_bound(0)
    with pytest.raises(ValueError, match=r"`k` must be <= 50; got 51\."):
        S.distortion_bound(51)
    with pytest.raises(TypeError, match=r"`k` must be an integer"):
        S.distortion_bound(2.0)
    for delta in (0.0, 1.0, -1.0, 2.0):
        with pytest.raises(ValueError, match=r"`delta` must be"):
            S.distortion_bound(2, delta=delta)
    with pytest.raises(TypeError, match=r"`delta` must be a real number"):
        S.distortion_bound(2, delta="small")


# --------------------------------------------------------------------------------------------------
# sparse input is processed by blocks, never densified as a whole
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["srht", "sparse_sign", "gaussian"])
def test_sparse_input_is_never_densified(kind):
    n, d, s = 2000, 20000, 40  # dense A would take 320 MB
    A = sp.random_array((n, d), density=2e-4, format="csc", rng=0)
    S = make_sketch(kind, s, n, rng=0)
    S @ A[:, :100]  # compile outside the measurement
    tracemalloc.start()
    try:
        out = S @ A
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == (s, d)
    assert peak < 40e6, peak  # the (s, d) output is 6.4 MB
    cols = [0, 7, d - 1]
    assert_product_close(out[:, cols], S.todense(), A[:, cols].toarray())


# --------------------------------------------------------------------------------------------------
# kernels against plain NumPy references
# --------------------------------------------------------------------------------------------------


def reference_scatter(rows, signs, A_dense, s):
    out = np.zeros((s, A_dense.shape[1]))
    for t in range(rows.shape[1]):
        np.add.at(out, rows[:, t], signs[:, t, None] * A_dense)
    return out


def reference_fwht(x):
    """Sylvester-ordered Walsh-Hadamard transform over axis 0 by reshaping (independent of the kernel)."""
    n = x.shape[0]
    y = x.copy()
    h = 1
    while h < n:
        y = y.reshape(n // (2 * h), 2, h, -1)
        y = np.stack([y[:, 0] + y[:, 1], y[:, 0] - y[:, 1]], axis=1).reshape(n, -1)
        h *= 2
    return y


@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_scatter_kernels_match_reference(index):
    rng = np.random.default_rng(0)
    n, s, zeta, d = 25, 6, 3, 4
    rows = np.stack([rng.choice(s, zeta, replace=False) for _ in range(n)]).astype(index)
    signs = rng.choice([-1.0, 1.0], size=(n, zeta)) / math.sqrt(zeta)
    A = rng.standard_normal((n, d))
    ref = reference_scatter(rows, signs, A, s)
    for kernel in (_kernels.sketch_scatter_dense, _kernels.sketch_scatter_dense.py_func):
        out = np.full((s, d), np.nan)  # the kernel zeroes its output
        assert kernel(rows, signs, A, out) is None
        np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-14)
    # CSR with an empty row, duplicates and unsorted column indices
    indptr = np.array([0, 2, 2, 5] + [5] * (n - 3), dtype=index)
    indices = np.array([3, 0, 1, 1, 2], dtype=index)
    data = np.array([1.0, -2.0, 0.5, 4.0, 3.0])
    B = sp.csr_array((data, indices, indptr), shape=(n, d))
    ref = reference_scatter(rows, signs, B.toarray(), s)
    for kernel in (_kernels.sketch_scatter_csr, _kernels.sketch_scatter_csr.py_func):
        out = np.full((s, d), np.nan)
        assert kernel(rows, signs, indptr, indices, data, out) is None
        np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(("n", "d"), [(1, 1), (2, 3), (8, 1), (64, 5), (128, 200), (256, 200), (512, 200), (4096, 3),
                                      (65536, 1)])
def test_fwht_kernel_matches_reference(n, d):
    x = np.random.default_rng(n + d).standard_normal((n, d))
    ref = reference_fwht(x)
    if n <= 64:
        np.testing.assert_allclose(ref, scipy.linalg.hadamard(n) @ x, rtol=1e-12, atol=1e-12)
    y = x.copy()
    assert _kernels.fwht_inplace(y) is None  # in place; no array is boxed (Ctrl-C)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12 * math.sqrt(n))
    if n * d <= 2048:
        z = x.copy()
        _kernels.fwht_inplace.py_func(z)
        np.testing.assert_allclose(z, ref, rtol=1e-12, atol=1e-12 * math.sqrt(n))


@pytest.mark.parametrize(("n", "d", "start", "width"),
                         [(1, 1, 0, 1), (300, 7, 2, 5), (1000, 40, 8, 32), (513, 3, 0, 3)])
def test_scale_transpose_kernels_match_reference(n, d, start, width):
    rng = np.random.default_rng(n)
    A, weights = rng.standard_normal((n, d)), rng.standard_normal(n)
    ref = (A[:, start:start + width] * weights[:, None]).T
    kernels = [_kernels.scale_transpose_serial, _kernels.scale_transpose_parallel]
    if n * width <= 2000:
        kernels.append(_kernels.scale_transpose_serial.py_func)
    for kernel in kernels:
        out = np.full((width, n), np.nan)
        assert kernel(A, weights, start, out) is None
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("transform", ["dct", "hadamard"])
def test_srht_large_blocks_match_fft_reference(transform):
    """Sizes above the threading threshold (parallel transpose kernel, scipy.fft workers) against scipy.fft."""
    import scipy.fft

    n, d, s = 9000, 45, 300
    S = SRHT(s, n, rng=3, transform=transform)
    A = np.random.default_rng(4).standard_normal((n, d))
    if transform == "dct":
        ref = scipy.fft.dct(A * S._signs[:, None], type=2, norm="ortho", axis=0)[S._selected] * S._scale
    else:
        padded = np.zeros((S.n_pad, d))
        padded[:n] = A * S._signs[:, None]
        ref = reference_fwht(padded)[S._selected] / math.sqrt(s)
    np.testing.assert_allclose(S @ A, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(S @ sp.csr_array(A), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
