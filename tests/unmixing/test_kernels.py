"""Each Numba kernel of numopt.unmixing against a plain NumPy reference."""

import numpy as np
import pytest

from numopt.unmixing import _kernels as K


def _problem(L=17, N=53, k=4, seed=0):
    rng = np.random.default_rng(seed)
    Y = rng.uniform(0, 1, size=(L, N))
    M = rng.uniform(0.1, 1, size=(L, k))
    A = rng.dirichlet(np.ones(k), size=N).T.copy()
    A[0, :5] = 0.0                                   # exact zeros
    return Y, M, A


@pytest.mark.parametrize("dtype", [np.float64, np.uint16, np.int32])
def test_residual_row_norms_and_gram(dtype):
    Y, M, A = _problem()
    Yi = np.round(Y * 1000).astype(dtype)
    s = 1e-3
    out = np.empty(Y.shape[0])
    K.residual_row_norms(Yi, s, M, A, out)
    np.testing.assert_allclose(out, ((s * Yi.astype(float) - M @ A) ** 2).sum(1), rtol=1e-13)
    K.residual_row_norms(Yi, s, np.zeros_like(M), A, out)   # M = 0: the squared row norms of s Y
    np.testing.assert_allclose(out, ((s * Yi.astype(float)) ** 2).sum(1), rtol=1e-13)
    G = np.empty((A.shape[0],) * 2)
    K.gram_rows(A, G)
    np.testing.assert_allclose(G, A @ A.T, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.uint16, np.uint8])
@pytest.mark.parametrize("shape", [(17, 53, 4), (6, 5000, 3), (3, 4100, 2)])
def test_products_blocked(dtype, shape):
    """Both products with Y over several pixel blocks (N > PIXEL_BLOCK) and odd channel counts (the 2- and
    4-channel unrolling and its remainder), for float64 and integer data read in place."""
    L, N, k = shape
    Y, M, A = _problem(L, N, k, seed=4)
    Yi = np.round(Y * 200).astype(dtype)
    Yf = Yi.astype(float)
    s = 0.01
    YA = np.empty((L, k))
    K.products_yat(Yi, A, s, YA)
    np.testing.assert_allclose(YA, s * Yf @ A.T, rtol=1e-12)
    out = np.empty((k, N))
    K.products_wty(M, Yi, s, out)
    np.testing.assert_allclose(out, s * M.T @ Yf, rtol=1e-12)


@pytest.mark.parametrize("l21", [True, False])
@pytest.mark.parametrize("update_m", [True, False])
def test_mu_rows(l21, update_m):
    Y, M, A = _problem(seed=1)
    L, N = Y.shape
    k = A.shape[0]
    rho, d, W, G = np.empty(L), np.empty(L), np.empty((L, k)), np.empty((k, k))
    M1 = M.copy()
    K.mu_rows((Y * Y).sum(1), M1, A @ A.T, Y @ A.T, l21, update_m, 1e-12, 1e-300, rho, d, W, G)
    rho_ref = ((Y - M @ A) ** 2).sum(1)
    d_ref = 0.5 / np.sqrt(rho_ref + 1e-12) if l21 else np.full(L, 0.5)
    M_ref = M * (Y @ A.T) / (M @ (A @ A.T)) if update_m else M
    np.testing.assert_allclose(rho, rho_ref, rtol=1e-10)
    np.testing.assert_allclose(d, d_ref, rtol=1e-10)
    np.testing.assert_allclose(M1, M_ref, rtol=1e-12)
    np.testing.assert_allclose(W, M_ref * d_ref[:, None], rtol=1e-12)
    np.testing.assert_allclose(G, M_ref.T @ (M_ref * d_ref[:, None]), rtol=1e-12)


@pytest.mark.parametrize("p", [0.5, 0.8, 1.0])
def test_abundance_update(p):
    Y, M, A = _problem(seed=2)
    k, N = A.shape
    rng = np.random.default_rng(3)
    d = rng.uniform(0.5, 2, size=Y.shape[0])
    h = rng.uniform(0, 2, size=N)
    asc_w, coef, eps = 3.0, 0.7, 1e-9
    num = (M * d[:, None]).T @ Y + asc_w
    G = M.T @ (M * d[:, None])
    A1, c = A.copy(), np.empty(N)
    asc = K.abundance_update(A1, num, G, asc_w, h, coef, p, eps, 1e-300, c)
    den = G @ A + asc_w * A.sum(0) + coef * p * h * (A + eps) ** (p - 1)
    A_ref = A * num / den
    np.testing.assert_allclose(A1, A_ref, rtol=1e-12)
    np.testing.assert_allclose(c, ((A_ref + eps) ** p).sum(0), rtol=1e-12)
    assert asc == pytest.approx(np.abs(A_ref.sum(0) - 1).max(), rel=1e-12)
    c2 = np.empty(N)
    assert K.penalty_stats(A_ref, p, eps, c2) == pytest.approx(asc, rel=1e-12)
    np.testing.assert_allclose(c2, c, rtol=1e-12)


@pytest.mark.parametrize("cap", [np.inf, 3.0, 1.05])
def test_capped_simplex_against_sorting_reference(cap):
    rng = np.random.default_rng(4)
    v = rng.standard_normal(300)
    h = np.empty(300)
    theta = K.capped_simplex(v, 300.0, cap, np.nan, h)
    np.testing.assert_allclose(h, np.clip(v - theta, 0, cap))
    np.testing.assert_allclose(h.sum(), 300.0, rtol=1e-13)
    if np.isinf(cap):   # the sort-based projection onto the simplex
        u = np.sort(v)[::-1]
        css = np.cumsum(u) - 300.0
        j = np.nonzero(u - css / np.arange(1, 301) > 0)[0][-1]
        np.testing.assert_allclose(theta, css[j] / (j + 1), rtol=1e-12)
    h2 = np.empty(300)
    K.capped_simplex(v, 300.0, cap, theta + 0.01, h2)            # warm start
    np.testing.assert_allclose(h2, h, atol=1e-12)
