import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from numopt.linalg import _kernels, _sparse, csr_matvec


def reference_matvec(indptr, indices, data, x):
    out = np.zeros(len(indptr) - 1)
    for i in range(len(out)):
        for k in range(indptr[i], indptr[i + 1]):
            out[i] += data[k] * x[indices[k]]
    return out


@given(m=st.integers(1, 40), n=st.integers(1, 40), density=st.floats(0, 1), seed=st.integers(0, 2**31),
       fmt=st.sampled_from(["csr", "csc", "coo"]), index=st.sampled_from([np.int32, np.int64]))
def test_matches_scipy(m, n, density, seed, fmt, index):
    A = sp.random_array((m, n), density=density, format="csr", rng=seed)
    A.indices = A.indices.astype(index)
    A.indptr = A.indptr.astype(index)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(n), rng.standard_normal(m)
    A = A.asformat(fmt)
    np.testing.assert_allclose(csr_matvec(A, x), A @ x, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(csr_matvec(A, y, transpose=True), A.T @ y, rtol=1e-13, atol=1e-13)


def test_kernels_match_plain_reference_including_duplicates():
    indptr = np.array([0, 3, 3, 5], dtype=np.int32)
    indices = np.array([2, 0, 2, 1, 1], dtype=np.int32)  # duplicates and unsorted entries
    data = np.array([1.0, 2.0, 3.0, 4.0, -1.0])
    x = np.array([1.0, 10.0, 100.0])
    ref = reference_matvec(indptr, indices, data, x)
    for kernel in (_kernels.csr_matvec_serial, _kernels.csr_matvec_parallel):
        np.testing.assert_allclose(kernel(indptr, indices, data, x, np.empty(3)), ref, rtol=1e-15)
    A = sp.csr_array((data, indices, indptr), shape=(3, 3))
    np.testing.assert_allclose(csr_matvec(A, x), ref, rtol=1e-15)


def test_parallel_path(monkeypatch):
    monkeypatch.setattr(_sparse, "PARALLEL_NNZ", 1)
    A = sp.random_array((300, 200), density=0.05, format="csr", rng=1)
    x = np.arange(200.0)
    np.testing.assert_allclose(csr_matvec(A, x), A @ x, rtol=1e-13)


def test_out_buffer_is_used():
    A = sp.eye_array(4, format="csr")
    out = np.empty(4)
    y = csr_matvec(A, np.arange(4.0), out=out)
    assert y is out
    np.testing.assert_array_equal(out, np.arange(4.0))


@pytest.mark.parametrize(
    "A, x, kwargs, error, match",
    [
        (np.eye(3), np.ones(3), {}, TypeError, r"csr_matvec: `A` must be a scipy sparse matrix"),
        (sp.eye_array(3, format="csr"), np.ones(4), {}, ValueError, r"`x` must have length 3"),
        (sp.eye_array(3, format="csr"), np.ones(3), {"out": np.empty(2)}, ValueError, r"`out` must be"),
        (sp.eye_array(3, format="csr"), np.ones((3, 1)), {}, ValueError, r"`x` must be 1-D"),
    ],
)
def test_bad_input(A, x, kwargs, error, match):
    with pytest.raises(error, match=match):
        csr_matvec(A, x, **kwargs)


def _gram_reference(X, w):
    Xd = X.toarray()
    return Xd.T @ (w[:, None] * Xd)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_csr_weighted_gram_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    X = sp.random(60, 9, density=0.3, format="csr", random_state=rng)
    w = rng.standard_normal(60)
    out = np.zeros((9, 9))
    _kernels.csr_weighted_gram(X.indptr, X.indices, X.data, w, out)
    np.testing.assert_allclose(out, _gram_reference(X, w), rtol=1e-13, atol=1e-13)
    # unsorted column indices within rows give the same result
    Y = X.copy()
    for i in range(Y.shape[0]):
        a, b = Y.indptr[i], Y.indptr[i + 1]
        Y.indices[a:b] = Y.indices[a:b][::-1].copy()
        Y.data[a:b] = Y.data[a:b][::-1].copy()
    Y.has_sorted_indices = False
    out2 = np.zeros((9, 9))
    _kernels.csr_weighted_gram(Y.indptr, Y.indices, Y.data, w, out2)
    np.testing.assert_allclose(out2, out, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(out, out.T)


def test_out_overlapping_x_is_refused():
    """Issue 11: csr_matvec(A, x, out=x) read x while overwriting it and returned a wrong product."""
    A = sp.csr_array(np.array([[1.0, 2.0], [3.0, 4.0]]))
    x = np.array([1.0, 1.0])
    with pytest.raises(ValueError, match=r"csr_matvec: `out` must not overlap `x`"):
        csr_matvec(A, x, out=x)
    buf = np.arange(4.0)
    with pytest.raises(ValueError, match=r"`out` must not overlap `x`"):
        csr_matvec(A, buf[:2], out=buf[1:3])
    out = np.empty(2)
    assert csr_matvec(A, x, out=out) is out
    np.testing.assert_array_equal(out, [3.0, 7.0])


def test_ctrl_c_in_a_product_is_a_keyboard_interrupt(monkeypatch):
    """A Ctrl-C landing while a kernel boxes its result surfaced as SystemError (issue 11); simulate it."""
    from numopt.linalg import _kernels

    def interrupted(*args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("CPUDispatcher(...) returned a result with an exception set") from exc

    monkeypatch.setattr(_kernels, "csr_matvec_serial", interrupted)
    A = sp.csr_array(np.eye(3))
    with pytest.raises(KeyboardInterrupt):
        csr_matvec(A, np.ones(3))
