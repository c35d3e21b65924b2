"""Tests of numopt.linalg.sketch_and_project and kaczmarz_contraction_rate (randomized Kaczmarz family)."""

import dataclasses
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import aslinearoperator

from numopt import ConvergenceWarning, Status
from numopt.linalg import SketchProjectResult, kaczmarz_contraction_rate, sketch_and_project
from numopt.linalg import _kaczmarz, _kernels

#: (method, sampling, block_size) combinations; "gaussian" ignores `sampling`.
VARIANTS = [
    ("kaczmarz", "row_norm", 1),
    ("kaczmarz", "uniform", 1),
    ("block_kaczmarz", "row_norm", 3),
    ("block_kaczmarz", "uniform", 3),
    ("gaussian", "row_norm", 3),
]
VARIANT_IDS = [f"{m}-{s}" for m, s, _ in VARIANTS]


def conditioned_matrix(m, n, *, rank=None, cond=3.0, seed=0):
    """A = U diag(s) V^T with orthonormal U (m x r), V (n x r) and singular values spread over [1, cond]."""
    rng = np.random.default_rng(seed)
    r = min(m, n) if rank is None else rank
    U = np.linalg.qr(rng.standard_normal((m, r)))[0]
    V = np.linalg.qr(rng.standard_normal((n, r)))[0]
    return (U * np.linspace(1.0, cond, r)) @ V.T


def sparse_system(m, n, seed):
    """A sparse (CSR) matrix with full rank min(m, n) and a moderate condition number, and a consistent b."""
    rng = np.random.default_rng(seed)
    A = sp.random(m, n, density=0.3, random_state=rng, format="csr")
    A = A + sp.eye(m, n, format="csr")  # keeps it well conditioned and of full rank
    return sp.csr_array(A), A @ rng.standard_normal(n)


def least_norm(A, b):
    dense = A.toarray() if sp.issparse(A) else A
    return np.linalg.pinv(dense) @ b


def quiet_run(*args, **kwargs):
    """sketch_and_project without the ConvergenceWarning of runs that stop at `maxiter` on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sketch_and_project(*args, **kwargs)


# --------------------------------------------------------------------------------------------------
# Convergence
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, sampling, block_size", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("shape", [(40, 12), (12, 40)], ids=["overdetermined", "underdetermined"])
def test_converges_to_least_norm_solution(method, sampling, block_size, fmt, shape):
    m, n = shape
    if fmt == "dense":
        A = conditioned_matrix(m, n, seed=m)
        b = A @ np.random.default_rng(1).standard_normal(n)
    else:
        A, b = sparse_system(m, n, seed=m)
    res = sketch_and_project(A, b, method=method, sampling=sampling, block_size=block_size, tol=1e-11, rng=7)
    assert res.success and res.status is Status.SUCCESS
    assert res.residual_norm <= 1e-11 * np.linalg.norm(b)
    x_star = least_norm(A, b)
    np.testing.assert_allclose(res.x, x_star, rtol=0, atol=1e-8 * np.linalg.norm(x_star))


@given(
    m=st.integers(1, 12),
    n=st.integers(1, 12),
    rank_fraction=st.floats(0.0, 1.0),
    variant=st.sampled_from(VARIANTS),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_least_norm_solution_from_zero(m, n, rank_fraction, variant, seed):
    """From x0 = 0 every method converges to A^+ b, also for rank-deficient A (dependent rows and blocks)."""
    method, sampling, block_size = variant
    block_size = min(block_size, m)
    rank = max(1, round(rank_fraction * min(m, n)))
    A = conditioned_matrix(m, n, rank=rank, seed=seed)
    b = A @ np.random.default_rng(seed + 1).standard_normal(n)
    res = sketch_and_project(A, b, method=method, sampling=sampling, block_size=block_size, tol=1e-10, rng=seed)
    assert res.success
    x_star = least_norm(A, b)
    np.testing.assert_allclose(res.x, x_star, rtol=0, atol=1e-7 * np.linalg.norm(x_star))


def test_x0_converges_to_nearest_solution():
    """From any x0 the limit is the solution nearest x0: x* + (I - P_row) x0."""
    A = conditioned_matrix(6, 15, seed=3)
    b = A @ np.ones(15)
    x0 = np.random.default_rng(0).standard_normal(15)
    res = sketch_and_project(A, b, x0=x0, tol=1e-12, rng=0)
    P = np.linalg.pinv(A) @ A
    np.testing.assert_allclose(res.x, least_norm(A, b) + x0 - P @ x0, atol=1e-9)
    assert not np.shares_memory(res.x, x0)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("method", ["kaczmarz", "block_kaczmarz"])
def test_zero_rows_are_never_sampled(fmt, method):
    A = conditioned_matrix(20, 8, seed=5)
    A[[0, 7, 19]] = 0.0
    b = A @ np.arange(8.0)
    A_in = sp.csr_array(A) if fmt == "csr" else A
    res = sketch_and_project(A_in, b, method=method, block_size=1 if method == "kaczmarz" else 4, tol=1e-11, rng=1)
    assert res.success
    np.testing.assert_allclose(res.x, np.arange(8.0), atol=1e-8)
    if method == "block_kaczmarz":
        rows = np.sort(np.concatenate(res.partition))
        np.testing.assert_array_equal(rows, np.setdiff1d(np.arange(20), [0, 7, 19]))
        assert max(len(block) for block in res.partition) <= 4


def test_block_kaczmarz_with_singular_block_grams():
    """Duplicated rows make some block Gram matrices singular; the pseudo-inverse handles them."""
    B = conditioned_matrix(10, 30, seed=2)
    A = np.vstack([B, B, 2.0 * B])
    b = A @ np.random.default_rng(3).standard_normal(30)
    for block_size in (4, 15):
        res = sketch_and_project(A, b, method="block_kaczmarz", block_size=block_size, tol=1e-11, rng=block_size)
        assert res.success
        np.testing.assert_allclose(res.x, least_norm(A, b), atol=1e-8)


@pytest.mark.parametrize("method, sampling, block_size", VARIANTS, ids=VARIANT_IDS)
def test_dense_and_sparse_runs_agree(method, sampling, block_size):
    """Same seed, same draws: the dense and CSR paths follow the same iterates (to rounding)."""
    A, b = sparse_system(30, 10, seed=4)
    kwargs = dict(method=method, sampling=sampling, block_size=block_size, maxiter=25, tol=1e-15, rng=11)
    sparse_res = quiet_run(A, b, **kwargs)
    dense_res = quiet_run(A.toarray(), b, **kwargs)
    np.testing.assert_allclose(sparse_res.x, dense_res.x, rtol=1e-10, atol=1e-12)
    coo_res = quiet_run(sp.coo_matrix(A), b, **kwargs)
    np.testing.assert_array_equal(coo_res.x, sparse_res.x)


# --------------------------------------------------------------------------------------------------
# Kernels against plain NumPy references of the same update sequence
# --------------------------------------------------------------------------------------------------


def reference_kaczmarz(A, b, rows, x):
    x = x.copy()
    for i in rows:
        a = A[i]
        x += (b[i] - a @ x) / (a @ a) * a
    return x


def reference_block_kaczmarz(A, b, partition, blocks, x):
    x = x.copy()
    for j in blocks:
        At = A[partition[j]]
        x += np.linalg.pinv(At) @ (b[partition[j]] - At @ x)
    return x


def kernel_system(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((25, 9)) * (rng.random((25, 9)) < 0.5)
    A[3] = 0.0
    A[:, 4] = 0.0
    A[5, 0] = 1.5  # no all-zero row other than row 3
    b = rng.standard_normal(25)  # need not be consistent for the update identity
    x = rng.standard_normal(9)
    return A, b, x, rng


@pytest.mark.parametrize("python", [False, True], ids=["jit", "py_func"])
def test_kaczmarz_kernels_match_numpy_reference(python):
    A, b, x, rng = kernel_system()
    norms = np.einsum("ij,ij->i", A, A)
    rows = rng.choice(np.flatnonzero(norms > 0), size=200)
    expected = reference_kaczmarz(A, b, rows, x)
    C = sp.csr_array(A)
    dense_kernel, csr_kernel = _kernels.kaczmarz_dense, _kernels.kaczmarz_csr
    if python:
        dense_kernel, csr_kernel = dense_kernel.py_func, csr_kernel.py_func
    got_dense, got_csr = x.copy(), x.copy()
    assert dense_kernel(A, b, norms, rows, got_dense) is None  # in place; no array is boxed (Ctrl-C)
    assert csr_kernel(C.indptr, C.indices, C.data, b, norms, rows, got_csr) is None
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got_dense, expected, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(got_csr, expected, rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize("python", [False, True], ids=["jit", "py_func"])
def test_block_kernels_match_numpy_reference(python):
    A, b, x, rng = kernel_system(1)
    partition = [np.array([0, 4, 9]), np.array([1, 2]), np.array([5, 6, 7, 8, 10, 11, 12, 13, 14, 15]),
                 np.array([16, 17, 18, 19, 20]), np.array([21, 22, 23, 24])]  # block 2 has rank < size
    sizes = np.array([len(p) for p in partition])
    block_ptr = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    block_rows = np.concatenate(partition).astype(np.int64)
    gram_ptr = np.concatenate(([0], np.cumsum(sizes**2))).astype(np.int64)
    C = sp.csr_array(A)
    kernels = [_kernels.block_gram_dense, _kernels.block_gram_csr, _kernels.block_kaczmarz_dense,
               _kernels.block_kaczmarz_csr]
    if python:
        kernels = [k.py_func for k in kernels]
    gram_dense, gram_csr, step_dense, step_csr = kernels

    grams_dense, grams_csr = np.empty(gram_ptr[-1]), np.empty(gram_ptr[-1])
    gram_dense(A, block_ptr, block_rows, gram_ptr, grams_dense)
    work = np.zeros(9)
    gram_csr(C.indptr, C.indices, C.data, block_ptr, block_rows, gram_ptr, grams_csr, work)
    assert not work.any()
    for j, rows in enumerate(partition):
        G = A[rows] @ A[rows].T
        got = grams_dense[gram_ptr[j]:gram_ptr[j + 1]].reshape(G.shape)
        np.testing.assert_allclose(got, G, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grams_csr[gram_ptr[j]:gram_ptr[j + 1]].reshape(G.shape), G, rtol=1e-12, atol=1e-12)

    pinv = _kaczmarz._block_pinv(grams_dense, sizes, gram_ptr, A.shape[1])
    blocks = rng.integers(0, len(partition), size=60)
    expected = reference_block_kaczmarz(A, b, partition, blocks, x)
    r = np.empty(sizes.max())
    got_dense, got_csr = x.copy(), x.copy()
    step_dense(A, b, block_ptr, block_rows, gram_ptr, pinv, blocks, got_dense, r)
    step_csr(C.indptr, C.indices, C.data, b, block_ptr, block_rows, gram_ptr, pinv, blocks, got_csr, r)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got_dense, expected, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(got_csr, expected, rtol=1e-12, atol=1e-12 * scale)


# --------------------------------------------------------------------------------------------------
# Randomness: reproducibility, batching
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, sampling, block_size", VARIANTS, ids=VARIANT_IDS)
def test_seeded_runs_are_bit_reproducible(method, sampling, block_size):
    A = conditioned_matrix(30, 10, seed=8)
    b = A @ np.ones(10)
    kwargs = dict(method=method, sampling=sampling, block_size=block_size, tol=1e-12)
    first = sketch_and_project(A, b, rng=123, **kwargs)
    second = sketch_and_project(A, b, rng=np.random.default_rng(123), **kwargs)
    assert first.x.tobytes() == second.x.tobytes()
    assert first.residual_history.tobytes() == second.residual_history.tobytes()
    assert first.nit == second.nit
    other = sketch_and_project(A, b, rng=124, **kwargs)
    assert other.x.tobytes() != first.x.tobytes()


@pytest.mark.parametrize("method, sampling, block_size", VARIANTS, ids=VARIANT_IDS)
def test_check_every_and_batching_do_not_change_the_iterates(method, sampling, block_size, monkeypatch):
    A, b = sparse_system(30, 12, seed=2)
    kwargs = dict(method=method, sampling=sampling, block_size=block_size, maxiter=40, tol=1e-15, rng=5)
    reference = quiet_run(A, b, check_every=40, **kwargs)
    chunked = quiet_run(A, b, check_every=7, **kwargs)
    monkeypatch.setattr(_kaczmarz, "_BATCH", 3)
    batched = quiet_run(A, b, check_every=40, **kwargs)
    assert reference.nit == chunked.nit == batched.nit == 40
    assert chunked.x.tobytes() == reference.x.tobytes()
    assert batched.x.tobytes() == reference.x.tobytes()
    assert len(chunked.residual_history) == 1 + 6  # x0, then checks at 7, 14, ..., 35, 40


def test_partition_is_reproducible_from_rng():
    A = conditioned_matrix(23, 6, seed=1)
    b = A @ np.ones(6)
    res = sketch_and_project(A, b, method="block_kaczmarz", block_size=5, rng=99)
    assert len(res.partition) == 5  # ceil(23 / 5)
    np.testing.assert_array_equal(np.sort(np.concatenate(res.partition)), np.arange(23))
    from_partition = kaczmarz_contraction_rate(A, method="block_kaczmarz", block_size=5, partition=res.partition)
    from_seed = kaczmarz_contraction_rate(A, method="block_kaczmarz", block_size=5, rng=99)
    assert from_partition == from_seed


# --------------------------------------------------------------------------------------------------
# Contraction rate
# --------------------------------------------------------------------------------------------------


def reference_expected_projector(A, method, sampling, partition=None):
    """E[Z] by enumeration, written independently of the library."""
    n = A.shape[1]
    if method == "kaczmarz":
        partition = [np.array([i]) for i in range(A.shape[0]) if A[i].any()]
    weights = np.array([np.sum(A[p] ** 2) if sampling == "row_norm" else 1.0 for p in partition])
    EZ = np.zeros((n, n))
    for w, p in zip(weights / weights.sum(), partition):
        EZ += w * (np.linalg.pinv(A[p]) @ A[p])
    return EZ


def row_space_eigenvalues(A, M):
    _, s, vt = np.linalg.svd(A, full_matrices=False)
    V = vt[: np.linalg.matrix_rank(A)].T
    return np.linalg.eigh(V.T @ M @ V)


@pytest.mark.parametrize("method, sampling, block_size", VARIANTS[:4], ids=VARIANT_IDS[:4])
@pytest.mark.parametrize("rank", [None, 3])
def test_rate_matches_enumeration(method, sampling, block_size, rank):
    A = conditioned_matrix(12, 5, rank=rank, cond=4.0, seed=6)
    A[2] = 0.0
    partition = _kaczmarz._draw_partition(np.flatnonzero(A.any(axis=1)), block_size, np.random.default_rng(0))
    rho = kaczmarz_contraction_rate(A, method=method, sampling=sampling, block_size=block_size, rng=0)
    EZ = reference_expected_projector(A, method, sampling, partition)
    lam = row_space_eigenvalues(A, EZ)[0]
    assert 0.0 < rho < 1.0
    np.testing.assert_allclose(rho, 1.0 - lam[0], rtol=1e-10)


def test_rate_closed_forms():
    A = np.diag([1.0, 2.0, 3.0])
    assert kaczmarz_contraction_rate(A) == pytest.approx(1.0 - 1.0 / 14.0, rel=1e-14)
    assert kaczmarz_contraction_rate(A, sampling="uniform") == pytest.approx(2.0 / 3.0, rel=1e-14)
    assert kaczmarz_contraction_rate(A, method="block_kaczmarz", block_size=3) == pytest.approx(0.0, abs=1e-14)
    assert kaczmarz_contraction_rate(np.zeros((3, 2))) == 0.0
    # Equal row norms: uniform and row-norm sampling coincide (orthonormal rows: rho = 1 - 1/4).
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))[0][:4]  # unit rows
    assert kaczmarz_contraction_rate(Q, sampling="uniform") == pytest.approx(kaczmarz_contraction_rate(Q), rel=1e-12)


def test_gaussian_rate_monte_carlo_is_consistent():
    A = conditioned_matrix(8, 4, cond=3.0, seed=2)
    estimates = [kaczmarz_contraction_rate(A, method="gaussian", block_size=2, rng=s, n_samples=3000) for s in range(2)]
    assert 0.0 < estimates[0] < 1.0
    assert abs(estimates[0] - estimates[1]) < 0.02
    # A bigger sketch projects onto more directions: a faster expected rate.
    assert kaczmarz_contraction_rate(A, method="gaussian", block_size=4, rng=0, n_samples=3000) < estimates[0]


def error_ratio(A, x_star, e0, k, seed, **kwargs):
    """||x_k - x*||^2 / ||x_0 - x*||^2 for one seeded run of k steps from x_0 = x* + e0."""
    res = quiet_run(A, A @ x_star, x0=x_star + e0, maxiter=k, tol=1e-15, rng=seed, **kwargs)
    return np.sum((res.x - x_star) ** 2) / np.sum(e0**2)


def drawn_partition(A, seed, block_size):
    """The partition a seeded block run draws (its first use of `rng`)."""
    return quiet_run(A, np.zeros(A.shape[0]), x0=np.ones(A.shape[1]), method="block_kaczmarz",
                     block_size=block_size, maxiter=1, rng=seed).partition


N_SEEDS = 200


@pytest.mark.parametrize("method, sampling, block_size", VARIANTS, ids=VARIANT_IDS)
def test_expected_decay_obeys_the_rate(method, sampling, block_size):
    """Mean over 200 seeds of ||x_k - x*||^2/||x_0 - x*||^2 lies in [(1 - lambda_max)^k, rho^k], up to noise.

    Both bounds are exact statements about the expectation for x_0 - x* in the row space: one step
    maps E||e||^2 to E[e^T (I - E[Z]) e], and on the row space the eigenvalues of E[Z] lie in
    [lambda_min^+ = 1 - rho, lambda_max]. The start is the slowest direction, where rho^k is tightest.
    For blocks, each seed draws its own partition, so the bounds are averaged over the seeds' partitions.
    """
    A = conditioned_matrix(10, 4, cond=2.5, seed=4)
    x_star = np.random.default_rng(0).standard_normal(4)
    V = np.linalg.svd(A)[2].T  # A has rank 4: its row space is R^4
    kwargs = dict(method=method, sampling=sampling, block_size=block_size)
    if method == "gaussian":
        rho = kaczmarz_contraction_rate(A, rng=1, n_samples=4000, **kwargs)
        EZ = _kaczmarz._expected_projector(A, np.einsum("ij,ij->i", A, A), method, sampling, block_size, None,
                                           np.random.default_rng(2), 4000)
    elif method == "kaczmarz":
        rho = kaczmarz_contraction_rate(A, **kwargs)
        EZ = reference_expected_projector(A, method, sampling)
    else:
        rho = kaczmarz_contraction_rate(A, rng=0, **kwargs)  # only to choose k; each seed has its own below
    k = max(2, int(np.ceil(np.log(0.4) / np.log(rho))))
    ratios, upper, lower = np.empty(N_SEEDS), np.empty(N_SEEDS), np.empty(N_SEEDS)
    for seed in range(N_SEEDS):
        if method == "block_kaczmarz":
            partition = drawn_partition(A, seed, block_size)
            rho = kaczmarz_contraction_rate(A, partition=partition, **kwargs)
            EZ = reference_expected_projector(A, method, sampling, partition)
        lam, vecs = row_space_eigenvalues(A, EZ)
        if method != "gaussian":
            np.testing.assert_allclose(rho, 1.0 - lam[0], rtol=1e-10)
        upper[seed], lower[seed] = rho**k, (1.0 - lam[-1]) ** k
        ratios[seed] = error_ratio(A, x_star, V @ vecs[:, 0], k, seed, **kwargs)
    sem = ratios.std(ddof=1) / np.sqrt(N_SEEDS)
    slack = 4 * sem + (0.02 if method == "gaussian" else 0.0)  # gaussian: rho itself is a Monte Carlo estimate
    assert ratios.mean() <= upper.mean() + slack
    assert ratios.mean() >= lower.mean() - slack
    assert lower.mean() < upper.mean() < 0.5


@pytest.mark.parametrize("method, sampling, block_size", VARIANTS[:4], ids=VARIANT_IDS[:4])
def test_one_step_expectation_identity(method, sampling, block_size):
    """E||x_1 - x*||^2 = e^T (I - E[Z]) e exactly (E[Z] by enumeration), checked against 1500 seeded draws."""
    A = conditioned_matrix(9, 4, cond=3.0, seed=9)
    x_star = np.ones(4)
    e0 = np.random.default_rng(1).standard_normal(4)  # A has rank 4, so e0 is in the row space
    n_draws = 1500
    draws, expected = np.empty(n_draws), np.empty(n_draws)
    EZ = None if method == "block_kaczmarz" else reference_expected_projector(A, method, sampling)
    for seed in range(n_draws):
        if method == "block_kaczmarz":
            EZ = reference_expected_projector(A, method, sampling, drawn_partition(A, seed, block_size))
        expected[seed] = e0 @ (e0 - EZ @ e0) / (e0 @ e0)
        draws[seed] = error_ratio(A, x_star, e0, 1, seed, method=method, sampling=sampling, block_size=block_size)
    sem = draws.std(ddof=1) / np.sqrt(n_draws)
    assert abs(draws.mean() - expected.mean()) <= 4 * sem + 1e-12
    assert sem < 0.03 * expected.mean()  # the check has teeth


# --------------------------------------------------------------------------------------------------
# Status, callback, verbose, result contract
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, sampling, block_size", VARIANTS, ids=VARIANT_IDS)
def test_result_contract(method, sampling, block_size):
    A = conditioned_matrix(15, 5, seed=0)
    b = A @ np.ones(5)
    res = sketch_and_project(A, b, method=method, sampling=sampling, block_size=block_size, rng=0)
    assert isinstance(res, SketchProjectResult)
    for name in ("x", "success", "status", "message", "nit", "residual_norm", "residual_history", "partition"):
        assert name in res.keys()
    assert res.message == Status.SUCCESS.value
    assert res.residual_history[0] == pytest.approx(np.linalg.norm(b))
    assert res.residual_history[-1] == res.residual_norm
    assert (res.partition is None) == (method != "block_kaczmarz")
    assert "SketchProjectResult(" in repr(res)
    assert all(f.kw_only for f in dataclasses.fields(SketchProjectResult) if f.init)


@pytest.mark.parametrize("method, sampling, block_size", VARIANTS, ids=VARIANT_IDS)
def test_callback_receives_results_and_stop_iteration_stops(method, sampling, block_size):
    A = conditioned_matrix(20, 6, seed=1)
    b = A @ np.ones(6)
    seen = []

    def callback(intermediate):
        seen.append(intermediate)
        if len(seen) == 2:
            raise StopIteration

    res = sketch_and_project(A, b, method=method, sampling=sampling, block_size=block_size, tol=1e-14,
                             check_every=3, callback=callback, rng=0)  # no warning: stopping by callback
    assert res.status is Status.CALLBACK and not res.success
    assert res.nit == 6 and len(seen) == 2
    assert isinstance(seen[0], SketchProjectResult) and seen[0].nit == 3
    assert seen[0].status is Status.MAXITER
    assert len(seen[1].residual_history) == 3
    np.testing.assert_array_equal(seen[1].x, res.x)
    assert not np.shares_memory(seen[1].x, res.x)


def test_callback_sees_success_on_the_converging_check():
    A = conditioned_matrix(10, 3, seed=1)
    statuses = []
    res = sketch_and_project(A, A @ np.ones(3), callback=lambda r: statuses.append(r.status), rng=0)
    assert res.success and statuses[-1] is Status.SUCCESS
    assert all(s is Status.MAXITER for s in statuses[:-1])


def test_maxiter_too_small_warns():
    A = conditioned_matrix(30, 10, seed=2)
    with pytest.warns(ConvergenceWarning, match=r"sketch_and_project: Stopped at `maxiter`"):
        res = sketch_and_project(A, A @ np.ones(10), maxiter=5, rng=0)
    assert res.status is Status.MAXITER and not res.success
    assert res.nit == 5
    assert len(res.residual_history) == 2


@pytest.mark.parametrize("method", ["kaczmarz", "block_kaczmarz", "gaussian"])
def test_inconsistent_system_is_detected(method):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 4))
    b = A @ rng.standard_normal(4) + 0.1 * rng.standard_normal(40)
    with pytest.warns(ConvergenceWarning, match="inconsistent"):
        res = sketch_and_project(A, b, method=method, block_size=1 if method == "kaczmarz" else 5, rng=0)
    assert res.status is Status.INCONSISTENT
    assert res.nit < 1000 * 40  # stopped well before maxiter


def test_patience_sets_when_a_stall_ends_the_run():
    """The inconsistent system above: patience=5 stops sooner than the default 100 epochs; patience=None never
    stops for the stall and spends the whole budget (MAXITER)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 4))
    b = A @ rng.standard_normal(4) + 0.1 * rng.standard_normal(40)
    with pytest.warns(ConvergenceWarning, match="inconsistent"):
        default = sketch_and_project(A, b, rng=0)
    with pytest.warns(ConvergenceWarning, match="inconsistent"):
        short = sketch_and_project(A, b, rng=0, patience=5)
    assert short.status is Status.INCONSISTENT and short.nit < default.nit
    with pytest.warns(ConvergenceWarning):
        never = sketch_and_project(A, b, rng=0, patience=None, maxiter=300 * 40)
    assert never.status is Status.MAXITER and never.nit == 300 * 40
    with pytest.raises(ValueError, match="`patience` must be >= 1"):
        sketch_and_project(A, b, patience=0)


def test_zero_rhs_and_solution_start():
    A = conditioned_matrix(8, 3, seed=0)
    res = sketch_and_project(A, np.zeros(8))
    assert res.status is Status.ZERO_RHS and res.success and res.nit == 0
    np.testing.assert_array_equal(res.x, np.zeros(3))
    # x0 already solves: returned at once.
    x0 = np.array([1.0, 2.0, 3.0])
    res = sketch_and_project(A, A @ x0, x0=x0)
    assert res.status is Status.SUCCESS and res.nit == 0
    np.testing.assert_array_equal(res.x, x0)
    # b = 0 with x0: the criterion is relative to the initial residual; x -> the null-space part of x0 (0 here).
    res = sketch_and_project(A, np.zeros(8), x0=x0, tol=1e-10, rng=0)
    assert res.status is Status.SUCCESS
    assert res.residual_norm <= 1e-10 * np.linalg.norm(A @ x0)
    np.testing.assert_allclose(res.x, 0.0, atol=1e-9)
    # A = 0 (so b = 0) with x0: nothing to do, for every method.
    for method in ("kaczmarz", "block_kaczmarz", "gaussian"):
        res = sketch_and_project(np.zeros((4, 3)), np.zeros(4), x0=x0, method=method)
        assert res.status is Status.SUCCESS and res.nit == 0 and res.partition is None
        np.testing.assert_array_equal(res.x, x0)


def test_nonfinite_iterate_is_reported():
    A = conditioned_matrix(8, 3, seed=0)
    with pytest.warns(ConvergenceWarning, match="NaN or inf"):
        res = sketch_and_project(A, A @ np.ones(3), x0=np.full(3, 1e308))
    assert res.status is Status.NONFINITE and res.nit == 0


def test_stagnation_at_rounding_level():
    """Consistent up to 1e-13 (a rounding-level floor) and a tol below it: STAGNATION, not INCONSISTENT."""
    A = conditioned_matrix(12, 4, seed=0)
    b = A @ np.ones(4) * (1.0 + 1e-13 * np.random.default_rng(0).standard_normal(12))
    with pytest.warns(ConvergenceWarning, match="stagnated"):
        res = sketch_and_project(A, b, tol=1e-16, rng=0)
    assert res.status is Status.STAGNATION
    assert res.nit < 1000 * 12
    np.testing.assert_allclose(res.x, np.ones(4), atol=1e-11)


def test_verbose_prints_a_table(capsys):
    A = conditioned_matrix(10, 3, seed=0)
    sketch_and_project(A, A @ np.ones(3), verbose=True, rng=0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["nit", "residual", "relative", "time"]
    assert lines[1].split()[0] == "0" and len(lines) >= 3


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------

A5 = conditioned_matrix(5, 3, seed=0)
B5 = np.ones(5)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((A5, np.ones(4)), {}, ValueError,
         r"sketch_and_project: `b` must have length 5 to match `A` of shape \(5, 3\)"),
        ((A5, np.array([1.0, 2.0, np.nan, 0.0, 1.0])), {}, ValueError, r"`b` must be finite; got b\[2\] = nan"),
        ((np.where(A5 > 0.5, np.inf, A5), B5), {}, ValueError, r"`A` must be finite; got A\["),
        ((np.ones(5), B5), {}, ValueError, r"`A` must be 2-D"),
        ((np.ones((0, 3)), np.ones(0)), {}, ValueError, r"`A` must have at least one row and one column"),
        ((A5, B5), {"x0": np.ones(4)}, ValueError, r"`x0` must have length 3"),
        ((np.vstack([A5[:4], np.full(3, 1e200)]), B5), {}, ValueError,
         r"`A` must have rows whose squared norms are representable relative to its largest entry .*"
         r"got \|\|A\[0\]\|\|\^2 underflowing to 0 while row 0 is not zero"),
        ((A5, B5), {"tol": 0.0}, ValueError, r"`tol` must be > 0; got 0.0"),
        ((A5, B5), {"tol": -1e-3}, ValueError, r"`tol` must be > 0"),
        ((A5, B5), {"tol": "1e-8"}, TypeError, r"`tol` must be a real number"),
        ((A5, B5), {"method": "block_kaczmarz", "block_size": 0}, ValueError, r"`block_size` must be >= 1; got 0"),
        ((A5, B5), {"method": "gaussian", "block_size": 6}, ValueError, r"`block_size` must be <= 5; got 6"),
        ((A5, B5), {"block_size": 2}, ValueError, r"`block_size` must be 1 for method='kaczmarz'"),
        ((A5, B5), {"method": "cg"}, ValueError,
         r"`method` must be one of 'kaczmarz', 'block_kaczmarz', 'gaussian'; got 'cg'"),
        ((A5, B5), {"sampling": "leverage"}, ValueError, r"`sampling` must be one of 'row_norm', 'uniform'"),
        ((A5, B5), {"maxiter": 0}, ValueError, r"`maxiter` must be >= 1"),
        ((A5, B5), {"check_every": 2.5}, TypeError, r"`check_every` must be an integer"),
        ((A5, B5), {"rng": "seed"}, TypeError, r"`rng` must be None, an int seed"),
        ((A5, B5), {"callback": 3}, TypeError, r"`callback` must be callable"),
        ((aslinearoperator(A5), B5), {}, TypeError, r"`A` must be an ndarray or a scipy sparse matrix .*rows"),
        ((A5, B5), {"max_iter": 10}, TypeError, r"unexpected keyword argument 'max_iter'"),
        ((A5, B5), {"seed": 0}, TypeError, r"unexpected keyword argument 'seed'"),
    ],
)
def test_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        sketch_and_project(*args, **kwargs)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_zero_row_with_nonzero_rhs_is_inconsistent(fmt):
    A = A5.copy()
    A[2] = 0.0
    A_in = sp.csr_array(A) if fmt == "csr" else A
    with pytest.raises(ValueError, match=r"`b` must be zero where the row of `A` is zero .*got b\[2\] = 1.0"):
        sketch_and_project(A_in, B5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"A": sp.csr_array(A5)}, TypeError, r"kaczmarz_contraction_rate: `A` must be a dense ndarray"),
        ({"method": "kaczmarz", "partition": [np.arange(5)]}, ValueError, r"`partition` must be None unless"),
        ({"method": "block_kaczmarz", "partition": [np.arange(3), np.arange(2, 5)]}, ValueError, r"disjoint"),
        ({"method": "block_kaczmarz", "partition": [np.arange(3)]}, ValueError, r"cover every nonzero row .*row 3"),
        ({"method": "block_kaczmarz", "partition": [np.arange(6)]}, ValueError, r"row indices in \[0, 5\)"),
        ({"method": "block_kaczmarz", "partition": [np.arange(5.0)]}, TypeError, r"integer arrays"),
        ({"method": "block_kaczmarz", "partition": 3}, TypeError, r"`partition` must be a sequence"),
        ({"method": "gaussian", "n_samples": 0}, ValueError, r"`n_samples` must be >= 1"),
        ({"method": "newton"}, ValueError, r"`method` must be one of"),
        ({"block_size": 3}, ValueError, r"`block_size` must be 1 for method='kaczmarz'"),
        ({"tol": 1e-3}, TypeError, r"unexpected keyword argument 'tol'"),
    ],
)
def test_rate_bad_input(kwargs, error, match):
    kwargs = dict(kwargs)
    A = kwargs.pop("A", A5)
    with pytest.raises(error, match=match):
        kaczmarz_contraction_rate(A, **kwargs)


@settings(max_examples=20)
@example(power_A=-160, power_b=-160, method="kaczmarz", sparse=False).via("issue 11: underflowed row norms")
@example(power_A=200, power_b=200, method="gaussian", sparse=False).via("issue 11: overflowed row norms")
@example(power_A=-200, power_b=200, method="kaczmarz", sparse=True).via("x beyond float64")
@given(power_A=st.integers(-200, 200), power_b=st.integers(-200, 200),
       method=st.sampled_from(["kaczmarz", "block_kaczmarz", "gaussian"]), sparse=st.booleans())
def test_scale_invariance(power_A, power_b, method, sparse):
    """Issue 11: at 1e-160 .. 1e-200 every row norm underflowed (and `b` was blamed for zero rows); at
    1e160 .. 1e200 they overflowed. A * 10^p, b * 10^q gives x * 10^(q - p), or an honest failure."""
    A = conditioned_matrix(40, 6, cond=3.0, seed=1)
    x_star = np.linspace(-1.0, 2.0, 6)
    b = A @ x_star
    A_s = A * 10.0**power_A
    A_s = sp.csr_array(A_s) if sparse else A_s
    d = power_b - power_A
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = sketch_and_project(A_s, b * 10.0**power_b, method=method, block_size=1 if method == "kaczmarz" else 4,
                                 tol=1e-10, rng=0)
    if -290 <= d <= 305:
        assert res.success, res.message
        np.testing.assert_allclose(res.x, x_star * 10.0**d, rtol=1e-7)
        assert res.residual_norm <= 1e-10 * np.linalg.norm(b) * 10.0**power_b * (1 + 1e-12)
    elif d > 310:
        assert not res.success and res.status is Status.NONFINITE
    elif res.success:
        assert np.isfinite(res.x).all() and (d > 0 or np.all(np.abs(res.x) <= 1e-280))


def test_underflowed_row_norm_is_not_blamed_on_b():
    """A row 1e-170 times smaller than the rest is not a zero row: name `A`, not `b`."""
    A = np.array([[1.0, 0.0], [0.0, 1.0], [1e-170, 1e-170]])
    with pytest.raises(ValueError, match=r"sketch_and_project: `A` must have rows whose squared norms are representable"):
        sketch_and_project(A, np.array([1.0, 1.0, 2e-170]))
    # a genuinely zero row with b != 0 still names `b`
    with pytest.raises(ValueError, match=r"`b` must be zero where the row of `A` is zero .*; got b\[2\] = 1e-170 with A\[2\] = 0"):
        sketch_and_project(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), np.array([1.0, 1.0, 1e-170]))


def test_maxiter_detail_gives_advice():
    A = conditioned_matrix(60, 10, cond=100.0, seed=2)
    with pytest.warns(ConvergenceWarning, match=r"sketch_and_project: Stopped at `maxiter`") as record:
        res = sketch_and_project(A, A @ np.ones(10), maxiter=30, rng=0)
    assert res.status is Status.MAXITER and "after 30 steps" in res.detail
    assert "raise `maxiter` or loosen `tol`" in res.detail
    assert str(record[0].message).count("sketch_and_project") == 1


@pytest.mark.parametrize("method", ["kaczmarz", "block_kaczmarz", "gaussian"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_no_python_call_inside_the_kernels(method, sparse):
    """Issue 11: Ctrl-C in Kaczmarz surfaced as SystemError. A kernel that returns an array boxes it through
    numba's Python-level ``_numba_unpickle``; a pending SIGINT is raised there, inside the compiled call.
    The row-action kernels now return None, so no Python frame runs inside them (checked with a profiler:
    deterministic, unlike sending a real signal)."""
    import sys

    A = conditioned_matrix(50, 8, seed=3)
    A = sp.csr_array(A) if sparse else A
    b = A @ np.ones(8)
    kwargs = dict(method=method, block_size=1 if method == "kaczmarz" else 5, rng=0, maxiter=40, check_every=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sketch_and_project(A, b, **kwargs)  # compile outside the profiled run
        calls = set()

        def profiler(frame, event, arg):
            if event == "call":
                calls.add(frame.f_code.co_name)

        sys.setprofile(profiler)
        try:
            sketch_and_project(A, b, **kwargs)
        finally:
            sys.setprofile(None)
    assert "advance" in calls and "_numba_unpickle" not in calls


@pytest.mark.parametrize("power", [-200, -160, 160, 200])
def test_contraction_rate_is_scale_invariant(power):
    A = np.diag([1.0, 2.0])
    assert kaczmarz_contraction_rate(A * 10.0**power) == pytest.approx(0.8, rel=1e-12)
