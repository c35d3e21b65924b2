"""Bench suite ``linalg``: the shared linear-algebra layer against numpy/scipy on the same inputs.

Cases
-----
* ``lstsq_sketched`` on a dense 20000 x 200 problem with condition number 1e6 whose exact least-squares
  solution is known (b = A x* + r with r orthogonal to range(A)), against ``numpy.linalg.lstsq`` and against
  ``scipy.sparse.linalg.lsqr`` run until it reaches numopt's forward error (or reported as never reaching it).
* ``csr_matvec`` on a 1e6 x 1e6 matrix with 10 random nonzeros per row against scipy's ``A @ x``.
* ``cg`` on the 2-D Poisson matrix against ``scipy.sparse.linalg.cg``.
* sketches applied to the 20000 x 200 matrix against the same sketch as an explicit matrix product.
* randomized Kaczmarz against the same update written as a plain NumPy loop.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import numopt.linalg as nl

from ._runner import PeakRSS, Row, median_time, mib


def ill_conditioned_lstsq(m: int, n: int, cond: float, rng, residual: float = 1e-6):
    """A = U diag(s) V^T with log-spaced singular values, b = A x* + r, r orthogonal to range(A) and
    ||r|| = residual * ||A x*||, so x* is the exact least-squares solution."""
    U, _ = np.linalg.qr(rng.standard_normal((m, n + 1)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.logspace(0, -np.log10(cond), n)
    A = np.ascontiguousarray((U[:, :n] * s) @ V.T)
    x_star = rng.standard_normal(n)
    b = A @ x_star + residual * np.linalg.norm(A @ x_star) * U[:, n]
    return A, b, x_star


def _rel(x, ref):
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


def _lsqr_time_to(A, b, x_star, target, repeat, seconds):
    """Grow lsqr's iteration budget until it reaches the forward error ``target`` (or time runs out)."""
    budget, best, elapsed = 50, np.inf, np.nan
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        x_l = spla.lsqr(A, b, atol=0.0, btol=0.0, conlim=0.0, iter_lim=budget)[0]
        elapsed = time.perf_counter() - t0
        best = min(best, _rel(x_l, x_star))
        if best <= target:
            t, _ = median_time(lambda: spla.lsqr(A, b, atol=0.0, btol=0.0, conlim=0.0, iter_lim=budget),
                               max(1, repeat // 2), warmup=0)
            return t, best, f"lsqr reached {target:.0e} at iter_lim={budget}"
        budget *= 2
    return np.nan, best, f"lsqr NEVER reached {target:.0e}: best {best:.1e} at iter_lim={budget // 2} ({elapsed:.1f} s)"


def case_lstsq(repeat: int, quick: bool) -> list[Row]:
    m, n = (4000, 100) if quick else (20000, 200)
    target = 1e-8
    rows = []
    for residual in (1e-6, 1e-1):
        A, b, x_star = ill_conditioned_lstsq(m, n, 1e6, np.random.default_rng(0), residual=residual)
        size = f"{m}x{n} cond 1e6 |r|/|Ax| {residual:g}"
        with PeakRSS() as mem:
            t_no, res = median_time(lambda: nl.lstsq_sketched(A, b, rng=1), repeat)
        err_no = _rel(res.x, x_star)
        t_np, x_np = median_time(lambda: np.linalg.lstsq(A, b, rcond=None)[0], repeat)
        rows.append(Row("lstsq_sketched", size, t_no, "numpy.linalg.lstsq", t_np,
                        f"fwd err {err_no:.1e} vs {_rel(x_np, x_star):.1e}", mib(mem.peak),
                        f"{res.nit} CG its, {len(res.residual_history) - 1} refinements, s={res.sketch_size}, "
                        f"{res.status.name}"))
        if residual == 1e-6:  # the case: lsqr run until it reaches the same forward error
            t_l, best, note = _lsqr_time_to(A, b, x_star, max(err_no, target), repeat, 20 if quick else 90)
            rows.append(Row("lstsq_sketched", size, t_no, "scipy lsqr (same error)", t_l,
                            f"fwd err {err_no:.1e} vs {best:.1e}", "", note))
    return rows


def case_csr(repeat: int, quick: bool) -> list[Row]:
    rng = np.random.default_rng(0)
    n, per_row = (100_000, 10) if quick else (1_000_000, 10)
    indptr = np.arange(0, n * per_row + 1, per_row, dtype=np.int32)
    indices = rng.integers(0, n, size=n * per_row, dtype=np.int32)
    indices = np.sort(indices.reshape(n, per_row), axis=1).ravel()
    data = rng.standard_normal(n * per_row)
    A = sp.csr_array((data, indices, indptr), shape=(n, n))
    x = rng.standard_normal(n)
    out = np.empty(n)
    t_no, y_no = median_time(lambda: nl.csr_matvec(A, x, out=out), repeat * 4)
    t_sp, y_sp = median_time(lambda: A @ x, repeat * 4)
    err = float(np.abs(y_no - y_sp).max() / np.abs(y_sp).max())
    return [Row("csr_matvec", f"{n}x{n}, {per_row}/row", t_no, "scipy A @ x", t_sp, f"max rel diff {err:.1e}")]


def poisson2d(k: int) -> sp.csr_array:
    T = sp.diags_array([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], offsets=[-1, 0, 1])
    I = sp.eye_array(k)
    return sp.csr_array(sp.kron(T, I) + sp.kron(I, T))


def case_cg(repeat: int, quick: bool) -> list[Row]:
    k = 100 if quick else 300
    A = poisson2d(k)
    rng = np.random.default_rng(0)
    x_star = rng.standard_normal(k * k)
    b = A @ x_star
    t_no, res = median_time(lambda: nl.cg(A, b, rtol=1e-8, maxiter=20 * k * k), repeat)
    t_sp, (x_sp, info) = median_time(lambda: spla.cg(A, b, rtol=1e-8, maxiter=20 * k * k), repeat)
    acc = f"fwd {_rel(res.x, x_star):.1e} vs {_rel(x_sp, x_star):.1e}"
    return [Row("cg (no precond)", f"poisson {k}x{k}", t_no, "scipy cg", t_sp, acc, "", f"{res.nit} its")]


CASES = [case_lstsq, case_csr, case_cg]


def run(repeat: int = 5, quick: bool = False) -> list[Row]:
    rows = []
    for case in CASES:
        rows.extend(case(repeat, quick))
    return rows
