"""``numopt tour`` rows for :mod:`numopt.completion`."""

from __future__ import annotations

import numpy as np


def tour_rows() -> list[tuple[str, str, str]]:
    """Complete a seeded rank-5 600 x 500 matrix from 4 observations per degree of freedom, twice."""
    from . import complete_matrix

    rng = np.random.default_rng(0)
    m, n, k = 600, 500, 5
    A = np.linalg.qr(rng.standard_normal((m, k)))[0] * np.geomspace(1, 0.1, k) * np.sqrt(m * n / k)
    B = np.linalg.qr(rng.standard_normal((n, k)))[0]
    M = A @ B.T
    nobs = 4 * k * (m + n - k)
    lin = rng.choice(m * n, size=nobs, replace=False)
    rows, cols = lin // n, lin % n
    rows_out = []
    for solver in ("exact", "cg"):
        res = complete_matrix((rows, cols, M[rows, cols], (m, n)), k, solver=solver, tol=1e-10, rng=0)
        err = np.linalg.norm(res.to_dense() - M) / np.linalg.norm(M)
        rows_out.append((f"complete_matrix ({solver}): rank 5, 600x500, 4x dof",
                         f"rel. error {err:.1e} ({res.nit} sweeps)", "M exactly (rel. error <= 1e-8)"))
    s = np.linalg.svd(M, compute_uv=False)[:k]
    rows_out.append(("complete_matrix: singular values", f"max rel. diff {np.max(np.abs(res.s - s) / s):.1e}",
                     "those of M (condition number 10)"))
    return rows_out
