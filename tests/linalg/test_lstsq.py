import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import example, given, settings
from hypothesis import strategies as st

from numopt import ConvergenceWarning, Status
from numopt.linalg import _kernels, ill_conditioned_lstsq, lstsq_sketched


def problem(m, n, log_cond, residual, seed):
    """A with log-spaced singular values; b = A x* + r with r orthogonal to range(A): x* is exact."""
    return ill_conditioned_lstsq(m, n, cond=10.0**log_cond, residual=residual, rng=seed)


def rel(x, y):
    return np.linalg.norm(x - y) / np.linalg.norm(y)


@given(m=st.integers(60, 600), n=st.integers(1, 30), log_cond=st.floats(0, 6), residual=st.sampled_from([0.0, 1e-6, 1e-2]),
       sketch=st.sampled_from(["sparse_sign", "srht", "gaussian"]), seed=st.integers(0, 2**31))
def test_as_accurate_as_lapack(m, n, log_cond, residual, sketch, seed):
    A, b, x_star = problem(m, n, log_cond, residual, seed)
    res = lstsq_sketched(A, b, sketch=sketch, sketch_size=min(m, 4 * n + 10), rng=seed)
    assert res.success, res.message
    x_lapack = np.linalg.lstsq(A, b, rcond=None)[0]
    # backward-stable accuracy: within a modest factor of LAPACK's own forward error, or at 1e-13
    assert rel(res.x, x_star) <= max(50 * rel(x_lapack, x_star), 1e-13)
    np.testing.assert_allclose(res.residual_norm, np.linalg.norm(b - A @ res.x), rtol=1e-8,
                               atol=1e-13 * np.linalg.norm(b))


def test_issue_accuracy_target_at_cond_1e6():
    A, b, x_star = problem(4000, 100, 6, 1e-6, 0)
    res = lstsq_sketched(A, b, rng=0)
    assert res.success and rel(res.x, x_star) <= 1e-8


def test_large_residual_reaches_rounding_floor():
    A, b, x_star = problem(3000, 60, 6, 0.1, 1)
    res = lstsq_sketched(A, b, rng=0)
    assert res.success and res.status in (Status.SUCCESS, Status.ROUNDING_FLOOR)
    assert rel(res.x, x_star) <= 20 * rel(np.linalg.lstsq(A, b, rcond=None)[0], x_star) + 1e-12


def test_sparse_input_matches_dense_and_scipy():
    A = sp.random_array((3000, 40), density=0.05, format="csr", rng=3) + sp.eye_array(3000, 40)
    rng = np.random.default_rng(0)
    b = rng.standard_normal(3000)
    res = lstsq_sketched(A, b, rng=0)
    dense = lstsq_sketched(A.toarray(), b, rng=0)
    ref = spla.lsqr(A, b, atol=1e-15, btol=1e-15, iter_lim=10_000)[0]
    assert res.success
    np.testing.assert_allclose(res.x, ref, rtol=1e-9)
    np.testing.assert_allclose(res.x, dense.x, rtol=1e-10)


def test_sparse_without_sketch_is_never_densified():
    """Issue 11: with sketch_size >= m a sparse A went through A.toarray() (m x n dense); now it is factored a
    block of rows at a time, so the peak memory is the input, a few m-vectors and O(n^2)."""
    import tracemalloc

    m, n = 20_000, 40
    A = sp.csr_array(sp.random_array((m, n), density=0.02, format="csr", rng=0) + sp.eye_array(m, n, format="csr"))
    b = np.random.default_rng(1).standard_normal(m)
    lstsq_sketched(A[:500], b[:500], sketch_size=500)  # compile the kernels outside the measurement
    tracemalloc.start()
    try:
        res = lstsq_sketched(A, b, sketch_size=m)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.success and res.sketch_size == m
    dense_bytes = m * n * 8  # 6.4 MB: what A.toarray() alone asked for
    bound = 4 * m * 8 + 10 * (n + 1) * 256 * 8  # a few m-vectors and a few (n + 256) x (n + 1) blocks: 1.5 MB
    assert peak <= bound < dense_bytes / 4
    np.testing.assert_allclose(res.x, np.linalg.lstsq(A.toarray(), b, rcond=None)[0], rtol=1e-10)


@pytest.mark.parametrize("m, n", [(7, 7), (300, 20), (600, 300), (1000, 3)])
def test_sparse_blocked_factor_matches_dense(m, n):
    """Square, one-block, several-block and many-block shapes: the same answer as the dense path."""
    A = sp.csr_array(sp.random_array((m, n), density=0.3, format="csr", rng=m) + sp.eye_array(m, n, format="csr"))
    b = np.random.default_rng(n).standard_normal(m)
    res = lstsq_sketched(A, b, sketch_size=m)
    dense = lstsq_sketched(A.toarray(), b, sketch_size=m)
    assert res.success and dense.success and res.sketch_size == m
    np.testing.assert_allclose(res.x, dense.x, rtol=1e-10, atol=1e-12 * np.linalg.norm(dense.x))
    np.testing.assert_allclose(res.x, np.linalg.lstsq(A.toarray(), b, rcond=None)[0], rtol=1e-9,
                               atol=1e-12 * np.linalg.norm(dense.x))


def test_sketch_skipped_when_not_smaller():
    A, b, x_star = problem(50, 10, 3, 0.0, 0)
    res = lstsq_sketched(A, b, sketch_size=80)
    assert res.sketch_size == 50 and res.success and res.nit <= 2
    np.testing.assert_allclose(res.x, x_star, rtol=1e-9)


def test_reproducible_with_seed():
    A, b, _ = problem(500, 20, 4, 1e-3, 2)
    r1, r2 = lstsq_sketched(A, b, rng=5), lstsq_sketched(A, b, rng=5)
    np.testing.assert_array_equal(r1.x, r2.x)


def test_rank_deficient_reports():
    A = np.random.default_rng(0).standard_normal((200, 5))
    A = np.column_stack([A, A[:, 0] + A[:, 1]])
    with pytest.warns(ConvergenceWarning, match="rank deficient"):
        res = lstsq_sketched(A, np.ones(200), rng=0)
    assert not res.success and res.status is Status.RANK_DEFICIENT and np.isfinite(res.x).all()


def test_zero_rhs():
    res = lstsq_sketched(np.eye(30, 3), np.zeros(30))
    assert res.success and res.status is Status.ZERO_RHS
    np.testing.assert_array_equal(res.x, 0.0)


def test_maxiter_and_callback():
    A, b, _ = problem(2000, 50, 6, 1e-1, 4)
    with pytest.warns(ConvergenceWarning, match="maxiter"):
        res = lstsq_sketched(A, b, maxiter=2, rng=0)
    assert res.status is Status.MAXITER and not res.success and res.nit <= 2
    calls = []

    def stop(intermediate):
        calls.append(intermediate.nit)
        raise StopIteration

    res = lstsq_sketched(A, b, callback=stop, rng=0)
    assert res.status is Status.CALLBACK and calls == [1]


def test_normal_product_kernels_match_numpy():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((37, 6))
    w, c = rng.standard_normal(6), rng.standard_normal(37)
    ref, ref_sq = A.T @ (A @ w - c), np.sum((A @ w - c) ** 2)
    for chunks in (1, 2, 5):
        out = np.empty(6)
        sq = _kernels.dense_normal_matvec(A, w, c, np.empty((chunks, 6)), np.empty(chunks), out)
        np.testing.assert_allclose(out, ref, rtol=1e-13)
        np.testing.assert_allclose(sq, ref_sq, rtol=1e-13)
    S = sp.random_array((37, 6), density=0.3, format="csr", rng=1)
    ref, ref_sq = S.T @ (S @ w - c), np.sum((S @ w - c) ** 2)
    for chunks in (1, 3):
        out = np.empty(6)
        sq = _kernels.csr_normal_matvec(S.indptr, S.indices, S.data, w, c, np.empty((chunks, 6)), np.empty(chunks), out)
        np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(sq, ref_sq, rtol=1e-13)
    out = np.empty(6)
    _kernels.dense_normal_matvec.py_func(A, w, c, np.empty((2, 6)), np.empty(2), out)
    np.testing.assert_allclose(out, A.T @ (A @ w - c), rtol=1e-13)



def test_normal_product_serial_twins_match_the_parallel_kernels():
    """The serial twins sum the same chunks in the same order as the parallel kernels (issue 11 item 7)."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((53, 7))
    S = sp.random_array((53, 7), density=0.4, format="csr", rng=4)
    w, c = rng.standard_normal(7), rng.standard_normal(53)
    for chunks in (1, 2, 4):
        results = []
        for kernel in (_kernels.dense_normal_matvec, _kernels.dense_normal_matvec_serial):
            out = np.empty(7)
            results.append((out, kernel(A, w, c, np.empty((chunks, 7)), np.empty(chunks), out)))
        for kernel in (_kernels.csr_normal_matvec, _kernels.csr_normal_matvec_serial):
            out = np.empty(7)
            results.append((out, kernel(S.indptr, S.indices, S.data, w, c, np.empty((chunks, 7)), np.empty(chunks), out)))
        for (out, sq), (ref, ref_sq) in ((results[1], results[0]), (results[3], results[2])):
            np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-14)
            np.testing.assert_allclose(sq, ref_sq, rtol=1e-14)
        np.testing.assert_allclose(results[0][0], A.T @ (A @ w - c), rtol=1e-12)
        np.testing.assert_allclose(results[2][0], S.T @ (S @ w - c), rtol=1e-12, atol=1e-14)


def test_small_problems_never_run_the_parallel_normal_products(monkeypatch):
    """Below PARALLEL_NNZ entries lstsq_sketched runs the serial twins, so a small first call does not compile
    the parallel kernels (about 2 s of a cold start, issue 11 item 7); above it, the parallel ones."""
    from numopt.linalg import _lstsq

    calls = []
    for name in ("dense_normal_matvec", "csr_normal_matvec", "dense_normal_matvec_serial", "csr_normal_matvec_serial"):
        def spy(*args, _kernel=getattr(_kernels, name), _name=name):
            calls.append(_name)
            return _kernel(*args)

        monkeypatch.setattr(_kernels, name, spy)
    A, b, _ = ill_conditioned_lstsq(300, 8, cond=1e3, rng=0)
    small = [lstsq_sketched(M, b, rng=0).x for M in (A, sp.csr_array(A))]
    assert set(calls) == {"dense_normal_matvec_serial", "csr_normal_matvec_serial"}
    calls.clear()
    monkeypatch.setattr(_lstsq, "PARALLEL_NNZ", 1)
    large = [lstsq_sketched(M, b, rng=0).x for M in (A, sp.csr_array(A))]
    assert set(calls) == {"dense_normal_matvec", "csr_normal_matvec"}
    for x_small, x_large in zip(small, large):
        np.testing.assert_allclose(x_small, x_large, rtol=1e-12)

@pytest.mark.parametrize(
    "A, b, kwargs, error, match",
    [
        (spla.aslinearoperator(np.eye(4)), np.ones(4), {}, TypeError, r"lstsq_sketched: `A` must be an ndarray or a scipy sparse"),
        (np.ones((3, 5)), np.ones(3), {}, ValueError, r"`A` must have at least as many rows as columns"),
        (np.ones((5, 2)), np.ones(4), {}, ValueError, r"`b` must have length 5"),
        (np.array([[1.0, np.nan], [0, 1], [1, 1]]), np.ones(3), {}, ValueError, r"`A` must be finite; got A\[0, 1\] = nan"),
        (np.eye(5, 2), np.ones(5), {"tol": -1e-3}, ValueError, r"`tol` must be >= 0"),
        (np.eye(5, 2), np.ones(5), {"sketch": "fft"}, ValueError, r"must be one of"),
        (np.eye(5, 2), np.ones(5), {"sketch_size": 1}, ValueError, r"`sketch_size` must be >= 2"),
        (np.eye(5, 2), np.ones(5), {"maxiter": -1}, ValueError, r"`maxiter` must be >= 0"),
        (np.eye(5, 2), np.ones(5), {"seed": 1}, TypeError, r"seed"),
    ],
)
def test_bad_input(A, b, kwargs, error, match):
    with pytest.raises(error, match=match):
        lstsq_sketched(A, b, **kwargs)


@pytest.mark.slow
def test_issue_size_cond_1e6_reaches_lapack_accuracy():
    """The bench's 20000 x 200 case: forward error within 10x of LAPACK at the default tol."""
    A, b, x_star = problem(20000, 200, 6, 1e-6, 0)
    res = lstsq_sketched(A, b, rng=1)
    lapack = rel(np.linalg.lstsq(A, b, rcond=None)[0], x_star)
    assert res.success and rel(res.x, x_star) <= max(10 * lapack, 1e-11)
    fast = lstsq_sketched(A, b, tol=1e-13, rng=1)
    assert fast.success and rel(fast.x, x_star) <= 1e-8


@given(cond=st.floats(1.0, 1e8), residual=st.floats(0.0, 1.0), seed=st.integers(0, 100))
def test_ill_conditioned_lstsq_has_the_stated_condition_and_solution(cond, residual, seed):
    A, b, x_star = ill_conditioned_lstsq(60, 8, cond=cond, residual=residual, rng=seed)
    assert A.flags.c_contiguous and A.shape == (60, 8) and b.shape == (60,)
    np.testing.assert_allclose(np.linalg.cond(A), cond, rtol=1e-6)
    r = b - A @ x_star
    assert np.linalg.norm(A.T @ r) <= 1e-12 * np.linalg.norm(A) * (np.linalg.norm(b) + 1)  # normal equations
    np.testing.assert_allclose(np.linalg.norm(r), residual * np.linalg.norm(A @ x_star), rtol=1e-10, atol=1e-14)


def test_ill_conditioned_lstsq_refuses_bad_sizes():
    with pytest.raises(ValueError, match=r"^ill_conditioned_lstsq: `m` must exceed `n`"):
        ill_conditioned_lstsq(5, 5)
    with pytest.raises(ValueError, match=r"^ill_conditioned_lstsq: `cond` must be"):
        ill_conditioned_lstsq(10, 2, cond=0.5)


@settings(max_examples=25)
@example(power_A=-200, power_b=200, sparse=False).via("overflowing x")
@example(power_A=200, power_b=-200, sparse=True).via("underflowing x")
@example(power_A=-170, power_b=-170, sparse=False).via("issue 11: ZERO_RHS")
@example(power_A=160, power_b=160, sparse=True).via("issue 11: NONFINITE")
@given(power_A=st.integers(-200, 200), power_b=st.integers(-200, 200), sparse=st.booleans())
def test_scale_invariance(power_A, power_b, sparse):
    """Issue 11: data * 1e-170 gave ZERO_RHS (x = 0, success=True) and data * 1e160 NONFINITE. Scaling A by
    10^p and b by 10^q scales x by 10^(q - p), or the run says honestly that it cannot."""
    A, b, x_star = problem(300, 8, 3, 1e-3, 0)
    A_s = A * 10.0**power_A
    b_s = b * 10.0**power_b
    if sparse:
        A_s = sp.csr_array(A_s)
    d = power_b - power_A
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = lstsq_sketched(A_s, b_s, rng=0)
    if -290 <= d <= 305:
        assert res.success, res.message
        np.testing.assert_allclose(res.x, x_star * 10.0**d, rtol=1e-8)
    elif d > 310:  # |x| ~ 10^d overflows: never a success
        assert not res.success and res.status is Status.NONFINITE
    elif res.success:  # the border of the range: a success must be finite, and tiny when x underflows
        assert np.isfinite(res.x).all() and (d > 0 or np.all(np.abs(res.x) <= 1e-280))


@pytest.mark.parametrize("power", [-170, -250, 160, 250])
def test_uniform_scaling_keeps_the_answer(power):
    A, b, x_star = problem(400, 10, 4, 1e-2, 3)
    res = lstsq_sketched(A * 10.0**power, b * 10.0**power, rng=1)
    assert res.success and res.status is not Status.ZERO_RHS
    np.testing.assert_allclose(res.x, x_star, rtol=1e-9)
    np.testing.assert_allclose(res.residual_norm, np.linalg.norm(b - A @ x_star) * 10.0**power, rtol=1e-6)


def test_maxiter_detail_gives_advice():
    A, b, _ = problem(2000, 50, 6, 1e-1, 4)
    with pytest.warns(ConvergenceWarning, match=r"lstsq_sketched: Stopped at `maxiter`"):
        res = lstsq_sketched(A, b, maxiter=2, rng=0)
    assert "raise `maxiter`, loosen `tol` or enlarge `sketch_size`" in res.detail
    assert res.message.startswith(Status.MAXITER.value) and "lstsq_sketched" not in res.message
