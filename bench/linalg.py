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

from ._runner import Row, median_time, mib, peak_memory


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
    """The issue's case (cond 1e6, forward error 1e-8) at the default tol (refine to the rounding floor)
    and at tol=1e-13 (enough for 1e-8), plus a large-residual variant."""
    m, n = (4000, 100) if quick else (20000, 200)
    target = 1e-8
    rows = []
    for residual, tol in ((1e-6, 0.0), (1e-6, 1e-13), (1e-1, 0.0)):
        A, b, x_star = nl.ill_conditioned_lstsq(m, n, cond=1e6, residual=residual, rng=0)
        size = f"{m}x{n} cond 1e6 |r|/|Ax| {residual:g}"
        t_no, res = median_time(lambda: nl.lstsq_sketched(A, b, tol=tol, rng=1), repeat)
        mem = peak_memory(lambda: nl.lstsq_sketched(A, b, tol=tol, rng=1))
        err_no = _rel(res.x, x_star)
        t_np, x_np = median_time(lambda: np.linalg.lstsq(A, b, rcond=None)[0], repeat)
        case = f"lstsq_sketched tol={tol:g}"
        rows.append(Row(case, size, t_no, "numpy.linalg.lstsq", t_np,
                        f"fwd err {err_no:.1e} vs {_rel(x_np, x_star):.1e}", mib(mem),
                        f"{res.nit} CG its, {len(res.residual_history) - 1} refinements, s={res.sketch_size}, "
                        f"{res.status.name}"))
        if residual == 1e-6 and tol == 0.0:  # lsqr run until it reaches the same forward error (or 1e-8)
            t_l, best, note = _lsqr_time_to(A, b, x_star, max(err_no, target), repeat, 20 if quick else 90)
            rows.append(Row(case, size, t_no, "scipy lsqr (same error)", t_l,
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


def case_sketch(repeat: int, quick: bool) -> list[Row]:
    """Each sketch applied to the lstsq matrix, against the same sketch as an explicit scipy/numpy product."""
    import scipy.fft

    m, n = (4000, 100) if quick else (20000, 200)
    s = 8 * n
    A = np.random.default_rng(0).standard_normal((m, n))
    rows = []
    hashing = nl.make_sketch("sparse_sign", s, m, rng=0)
    zeta = hashing._rows.shape[1]
    explicit = sp.csc_array((hashing._signs.ravel(), hashing._rows.ravel(), np.arange(0, m * zeta + 1, zeta)),
                            shape=(s, m))
    t_no, out = median_time(lambda: hashing @ A, repeat)
    t_peer, ref = median_time(lambda: explicit @ A, repeat)
    rows.append(Row("sketch sparse_sign", f"{s}x{m} @ {m}x{n}, zeta={zeta}", t_no, "scipy sparse S @ A", t_peer,
                    f"max rel diff {np.abs(out - ref).max() / np.abs(ref).max():.1e}"))
    srht = nl.make_sketch("srht", s, m, rng=0)

    def srht_by_scipy():
        full = scipy.fft.dct(A * srht._signs[:, None], type=2, norm="ortho", axis=0)
        return srht._scale * full[srht._selected]

    t_no, out = median_time(lambda: srht @ A, repeat)
    t_peer, ref = median_time(srht_by_scipy, repeat)
    rows.append(Row("sketch srht (dct)", f"{s}x{m} @ {m}x{n}", t_no, "scipy.fft.dct whole A", t_peer,
                    f"max rel diff {np.abs(out - ref).max() / np.abs(ref).max():.1e}"))
    gauss = nl.make_sketch("gaussian", s, m, rng=0)
    S_dense = gauss.todense()
    t_no, out = median_time(lambda: gauss @ A, repeat)
    t_peer, ref = median_time(lambda: S_dense @ A, repeat)
    rows.append(Row("sketch gaussian", f"{s}x{m} @ {m}x{n}", t_no, "numpy S @ A", t_peer,
                    f"max rel diff {np.abs(out - ref).max() / np.abs(ref).max():.1e}"))
    return rows


def _kaczmarz_numpy(A, b, indices):
    """The same randomized Kaczmarz updates as a plain Python/NumPy loop (the peer)."""
    x = np.zeros(A.shape[1])
    norms = np.einsum("ij,ij->i", A, A)
    for i in indices:
        x += (b[i] - A[i] @ x) / norms[i] * A[i]
    return x


def case_kaczmarz(repeat: int, quick: bool) -> list[Row]:
    m, n = (500, 50) if quick else (2000, 100)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, n))
    x_star = rng.standard_normal(n)
    b = A @ x_star
    t_no, res = median_time(lambda: nl.sketch_and_project(A, b, tol=1e-8, rng=0), repeat)
    steps = res.nit
    probabilities = np.einsum("ij,ij->i", A, A) / np.einsum("ij,ij->", A, A)
    indices = np.random.default_rng(1).choice(m, size=steps, p=probabilities)
    t_peer, x_peer = median_time(lambda: _kaczmarz_numpy(A, b, indices), max(1, repeat // 2), warmup=0)
    rho = nl.kaczmarz_contraction_rate(A)
    observed = (_rel(res.x, x_star) ** 2) ** (1.0 / steps)
    return [Row("sketch_and_project", f"kaczmarz {m}x{n}, {steps} steps", t_no, "numpy loop, same steps", t_peer,
                f"fwd {_rel(res.x, x_star):.1e} vs {_rel(x_peer, x_star):.1e}", "",
                f"per-step contraction {observed:.5f} <= rate bound {rho:.5f}")]


CASES = [case_lstsq, case_csr, case_cg, case_sketch, case_kaczmarz]


def run(repeat: int = 5, quick: bool = False) -> list[Row]:
    rows = []
    for case in CASES:
        rows.extend(case(repeat, quick))
    return rows
