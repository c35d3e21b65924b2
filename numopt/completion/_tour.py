"""``numopt tour`` rows for :mod:`numopt.completion`."""

from __future__ import annotations

import numpy as np


def tour_rows() -> list[tuple[str, str, str]]:
    """Complete a seeded rank-5 600 x 500 matrix from 4 observations per degree of freedom with the default
    solver, and predict the entries that were not observed.

    One solver path only: each path (exact, CG, sketched) is a Numba kernel of its own, compiled on first
    use, and at this size the default ``solver="auto"`` solves every row exactly, as a user's first call
    does; a second path would double the tour's compile time on a cold cache (issue 11) and show nothing
    new (``tests/completion`` checks that every solver reaches the same answer)."""
    from . import complete_matrix

    rng = np.random.default_rng(0)
    m, n, k = 600, 500, 5
    A = np.linalg.qr(rng.standard_normal((m, k)))[0] * np.geomspace(1, 0.1, k) * np.sqrt(m * n / k)
    B = np.linalg.qr(rng.standard_normal((n, k)))[0]
    M = A @ B.T
    nobs = 4 * k * (m + n - k)
    lin = rng.choice(m * n, size=m * n, replace=False)
    seen, unseen = lin[:nobs], lin[nobs:]
    rows, cols = seen // n, seen % n
    res = complete_matrix((rows, cols, M[rows, cols], (m, n)), k, tol=1e-10, rng=0)
    err = np.linalg.norm(res.to_dense() - M) / np.linalg.norm(M)
    used = "/".join(sorted({name for side in res.solver_rows.values() for name in side} - {"empty"}))
    out = [("complete_matrix: rank 5, 600x500, 4x dof", f"rel. error {err:.1e} ({res.nit} sweeps, {used} rows)",
            "M exactly (rel. error <= 1e-8)")]
    r, c = unseen // n, unseen % n
    pred = res.predict(r, c)
    err = np.linalg.norm(pred - M[r, c]) / np.linalg.norm(M[r, c])
    out.append((f"predict: the {unseen.size} unobserved entries", f"rel. error {err:.1e}",
                "M's entries (rel. error <= 1e-8)"))
    s = np.linalg.svd(M, compute_uv=False)[:k]
    out.append(("complete_matrix: singular values", f"max rel. diff {np.max(np.abs(res.s - s) / s):.1e}",
                "those of M (condition number 10)"))
    return out
