"""Bench suite ``ot``: numopt's entropic OT solvers against POT on the same inputs, to the same accuracy.

Cases (POT runs in the same process; skipped cleanly when POT is absent)
-----
* ``lap``: random assignment problem, C ~ U[0,1], n = 500, reg = 1/1200 (the SNS paper's Table 1
  class): numopt SNS against POT ``ot.sinkhorn`` (plain) and ``sinkhorn_log``, run to an L1 marginal
  error of 1e-10 (POT: ``stopThr`` on its L2 column error, tightened until the L1 error is reached).
* ``cloud``: 2-D uniform point clouds, squared Euclidean cost normalised to max 1, n = 1000,
  reg = 1e-3: SNS against POT ``sinkhorn`` and ``sinkhorn_log``.
* ``sinkhorn iteration``: time per log-domain Sinkhorn sweep, numopt against POT ``sinkhorn_log``.
Each row notes iterations (Sinkhorn / Newton / CG), nonzeros kept per row and the final L1 error.
"""

from __future__ import annotations

import time

import numpy as np

import numopt.ot as not_

from ._runner import PeakRSS, Row, median_time, mib


def _pot():
    try:
        import ot
    except ImportError:
        return None
    return ot


def _l1(P, a, b):
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


def _pot_to_l1(ot, a, b, M, reg, method, target, budget_s):
    """Run POT with stopThr tightened (at most 4 times, numItermax 1e5) until the L1 marginal error
    <= target; returns (seconds, niter, error) of the last run."""
    thr = target
    deadline = time.perf_counter() + budget_s
    for _ in range(4):
        t0 = time.perf_counter()
        P, log = ot.sinkhorn(a, b, M, reg, method=method, stopThr=thr, numItermax=100_000, log=True, warn=False)
        elapsed = time.perf_counter() - t0
        err = _l1(P, a, b)
        if err <= target or time.perf_counter() > deadline:
            break
        thr /= 10
    return elapsed, log.get("niter", -1), err


def _pot_log_extrapolated(ot, a, b, M, reg, niter, sweeps=20):
    """POT sinkhorn_log's time for ``niter`` iterations, extrapolated from ``sweeps`` timed ones (the
    log-domain iterates are those of plain Sinkhorn, so it needs the same count)."""
    t0 = time.perf_counter()
    ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-300, numItermax=sweeps, warn=False)
    return (time.perf_counter() - t0) / sweeps * niter


def _sns_row(case, size, M, reg, repeat, tol=1e-10):
    n, m = M.shape
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    with PeakRSS() as mem:
        t, res = median_time(lambda: not_.sinkhorn_newton_sparse(a, b, M, reg, tol=tol), repeat)
    nnz = np.nanmean(res.history["nnz_per_row"]) if res.nit_newton else float("nan")
    note = (f"numopt {res.nit_sinkhorn} Sinkhorn + {res.nit_newton} Newton ({res.nit_cg} CG), "
            f"{nnz:.1f} nnz/row, {res.status.name}")
    return a, b, t, res, mem.peak, note


def case_lap(repeat: int, quick: bool) -> list[Row]:
    n = 200 if quick else 500
    reg = 1 / 1200
    M = np.random.default_rng(0).uniform(size=(n, n))
    a, b, t, res, peak, note = _sns_row("lap", n, M, reg, repeat)
    size = f"n={n} reg=1/1200"
    ot = _pot()
    if ot is None:
        return [Row("lap (SNS)", size, t, "POT absent", float("nan"), f"L1 {res.marginal_error:.1e}", mib(peak), note)]
    tp, it, err = _pot_to_l1(ot, a, b, M, reg, "sinkhorn", 1e-10, 60)
    tl = _pot_log_extrapolated(ot, a, b, M, reg, it)
    ok = "" if err <= 1e-10 else " (POT did not reach 1e-10 in 1e5 its)"
    return [Row("lap (SNS)", size, t, "POT sinkhorn", tp, f"L1 {res.marginal_error:.1e} vs {err:.1e}", mib(peak),
                f"{note}; POT {it} its{ok}"),
            Row("lap (SNS)", size, t, "POT sinkhorn_log (extrap.)", tl, "", "", f"{it} its x 20-its timing")]


def clouds(n, rng):
    X, Y = rng.uniform(size=(n, 2)), rng.uniform(size=(n, 2))
    M = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    return M / M.max()


def case_cloud(repeat: int, quick: bool) -> list[Row]:
    n = 300 if quick else 1000
    reg = 1e-3
    M = clouds(n, np.random.default_rng(0))
    a, b, t, res, peak, note = _sns_row("cloud", n, M, reg, repeat)
    size = f"2-D sqeuclid n={n} reg=1e-3"
    ot = _pot()
    if ot is None:
        return [Row("cloud (SNS)", size, t, "POT absent", float("nan"), f"L1 {res.marginal_error:.1e}", mib(peak), note)]
    tp, it, err = _pot_to_l1(ot, a, b, M, reg, "sinkhorn", 1e-10, 60)
    ok = "" if err <= 1e-10 else " (POT did not reach 1e-10)"
    tl = _pot_log_extrapolated(ot, a, b, M, reg, it)
    return [Row("cloud (SNS)", size, t, "POT sinkhorn", tp, f"L1 {res.marginal_error:.1e} vs {err:.1e}", mib(peak),
                f"{note}; POT {it} its{ok}"),
            Row("cloud (SNS)", size, t, "POT sinkhorn_log (extrap.)", tl, "", "", f"{it} its x 20-its timing")]


def case_iteration(repeat: int, quick: bool) -> list[Row]:
    n = 300 if quick else 1000
    M = clouds(n, np.random.default_rng(1))
    a = np.full(n, 1 / n)
    sweeps = 20
    t, _ = median_time(lambda: _quiet(lambda: not_.sinkhorn_log(a, a, M, 1e-2, tol=1e-15, maxiter=sweeps)), repeat)
    per_it = t / sweeps
    ot = _pot()
    if ot is None:
        return [Row("sinkhorn iteration", f"n={n}", per_it, "POT absent", float("nan"), "")]
    tp, _ = median_time(lambda: ot.sinkhorn(a, a, M, 1e-2, method="sinkhorn_log", stopThr=1e-300,
                                            numItermax=sweeps, warn=False), 1, warmup=0)
    tk, _ = median_time(lambda: ot.sinkhorn(a, a, M, 1e-2, method="sinkhorn", stopThr=1e-300,
                                            numItermax=sweeps * 10, warn=False), max(1, repeat // 2))
    return [Row("sinkhorn iteration", f"n={n} (s per sweep)", per_it, "POT sinkhorn_log", tp / sweeps,
                "same sweep", "", f"{sweeps} sweeps incl. final plan pass"),
            Row("sinkhorn iteration", f"n={n} (s per sweep)", per_it, "POT sinkhorn (plain)", tk / (sweeps * 10),
                "same sweep", "", "POT plain: precomputed K, 2 matvecs")]


def _quiet(fn):
    import warnings

    from numopt import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn()


CASES = [case_lap, case_cloud, case_iteration]


def run(repeat: int = 5, quick: bool = False) -> list[Row]:
    rows = []
    for case in CASES:
        rows.extend(case(repeat, quick))
    return rows
