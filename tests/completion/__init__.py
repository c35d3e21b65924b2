"""Shared problem generators for the numopt.completion tests."""

import numpy as np


def low_rank(m, n, k, kappa=1.0, seed=0):
    """Incoherent rank-k matrix M = A B^T (A = U diag(s) scaled to entries of RMS about 1, B orthonormal):
    U, V Haar-random, s = geomspace(1, 1/kappa, k)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, k)))
    V, _ = np.linalg.qr(rng.standard_normal((n, k)))
    s = np.geomspace(1.0, 1.0 / kappa, k) * np.sqrt(m * n / k)
    return U * s, V


def sample(m, n, k, rho, seed=0, min_count=None):
    """Uniform sample of |Omega| = rho k (m + n - k) distinct entries, redrawn until every row and column
    has at least ``min_count`` (default k) observations. Returns (rows, cols) sorted row-major."""
    need = k if min_count is None else min_count
    nobs = min(int(round(rho * k * (m + n - k))), m * n)
    for attempt in range(100):
        rng = np.random.default_rng([seed, attempt])
        lin = np.sort(rng.choice(m * n, size=nobs, replace=False))
        rows, cols = lin // n, lin % n
        if np.bincount(rows, minlength=m).min() >= need and np.bincount(cols, minlength=n).min() >= need:
            return rows, cols
    raise RuntimeError("could not draw a sample with enough observations per row and column")


def problem(m, n, k, rho, kappa=1.0, seed=0):
    """(M, A, B, rows, cols, vals) with M = A B^T dense (tests are small)."""
    A, B = low_rank(m, n, k, kappa, seed)
    M = A @ B.T
    rows, cols = sample(m, n, k, rho, seed)
    return M, A, B, rows, cols, M[rows, cols]


def rel_err(res, M):
    return float(np.linalg.norm(res.to_dense() - M) / np.linalg.norm(M))
