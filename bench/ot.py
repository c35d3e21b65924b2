"""Bench suite ``ot``: numopt's entropic OT solvers against POT on the same inputs, to the same accuracy.

Cases (POT runs in the same process; skipped cleanly when POT is absent)
-----
* ``lap``: random assignment problem, C ~ U[0,1], n = 500, reg = 1/1200 (the SNS paper's Table 1
  class): numopt SNS against POT ``ot.sinkhorn`` (plain), ``sinkhorn_log`` and RegOT ``sinkhorn_ssns``,
  run to an L1 marginal error of 1e-10 (POT: ``stopThr`` on its L2 column error, tightened until the
  L1 error is reached).
* ``cloud``: 2-D uniform point clouds, squared Euclidean cost normalised to max 1, n = 1000,
  reg = 1e-3: SNS against POT ``sinkhorn``, ``sinkhorn_log``, ``sinkhorn_stabilized`` (capped at 3000
  iterations), ``emd2`` (the unregularized cost) and RegOT; at reg 1e-2 and 1e-1 against POT
  ``sinkhorn``; n = 4000 at reg 1e-3 against POT ``sinkhorn`` run once.
* ``cloud CPU``: n = 300 and 2500 at reg 0.1 and 0.01, the default ``sinkhorn`` against POT
  ``sinkhorn`` in CPU seconds (``time.process_time`` medians; POT's ``stopThr`` tuned to L1 1e-10 first).
* ``colour transfer``: 2500 RGB pixels of scikit-image's ``astronaut`` and ``coffee`` (clustered: dense
  plans), reg 0.1 to 1e-4, the default ``sinkhorn`` against POT ``sinkhorn`` to L1 1e-8 in CPU seconds,
  with the time per phase and the share outside them (skipped without scikit-image).
* ``empirical (clouds)``: ``empirical_sinkhorn`` on 3-D clouds, n = 2000, 1e4 and 1e5, reg 1e-3 diam^2,
  tol 1e-6, in CPU seconds, against POT's lazy ``empirical_sinkhorn`` (extrapolated from 3 iterations)
  and GeomLoss's tensorized ``SamplesLoss`` (n <= 1e4; its L1 marginal error next to numopt's).
* ``several targets``: ``sinkhorn2`` with b of shape (m, 8) against POT's batched ``sinkhorn2`` and its loop.
* ``w1 grid``: 1-D |x - y| on a 1000-point grid, reg 1e-3 (POT capped at 1e4 iterations).
* ``digits``: two scikit-learn digits upsampled to 28 x 28, L1 and L2 pixel-position costs.
* ``sparsity``: ``sparsity="mass"`` against the paper's ``"topk"``, each with and without the
  Sinkhorn/Newton switch (``switch_sweeps=0`` is the paper's fixed schedule).
* ``sinkhorn iteration``: time per Sinkhorn sweep, numopt ``sinkhorn_log`` against POT ``sinkhorn_log``
  and numopt ``sinkhorn_knopp`` (scaling domain) against POT's plain ``sinkhorn``.
* ``memory``: n = 10000 clouds at reg 1e-3 (M is 8e8 bytes), peak traced memory of one SNS solve.
* ``first call (cold cache)``: the tour's OT entry, a default ``sinkhorn`` call and ``precompile()`` in
  a fresh process with an empty Numba cache, then again with the cache filled (wall and CPU seconds).
Each row notes iterations (Sinkhorn / Newton / CG), nonzeros kept per row, the time per phase
(``history["time"]`` summed over Sinkhorn sweeps and Newton steps), the number of epsilon-scaling
stages, the final L1 error and the peak memory (``peak_memory``, tracemalloc, one extra untimed call).
``--quick`` shrinks the sizes and skips n = 4000 and n = 10000.
"""

from __future__ import annotations

import time

import numpy as np

import numopt.ot as not_

from ._runner import Row, median_time, mib, peak_memory


def _pot():
    try:
        import ot
    except ImportError:
        return None
    return ot


def _l1(P, a, b):
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


def _pot_to_l1(ot, a, b, M, reg, method, target, budget_s, *, once=False):
    """Run POT with stopThr tightened (at most 4 times, numItermax 1e5) until the L1 marginal error
    <= target; returns (seconds, niter, error) of the last run. ``once``: a single run with stopThr
    target / sqrt(m), which bounds POT's L2 column error so that the L1 error is <= target."""
    thr = target / np.sqrt(len(b)) if once else target
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


def _phases(res) -> str:
    """'S <s> / N <s>': seconds in Sinkhorn sweeps and in Newton steps (from ``history["time"]``)."""
    h = res.history
    t_newton = float(h["time"][h["newton"]].sum())
    t_sinkhorn = float(h["time"][~h["newton"]].sum())
    stages = len(np.unique(h["reg"]))
    return f"phases S {t_sinkhorn:.3f}s / N {t_newton:.3f}s" + (f", {stages} eps-stages" if stages > 1 else "")


def _sns_row(case, size, M, reg, repeat, tol=1e-10, a=None, b=None, **kw):
    n, m = M.shape
    a = np.full(n, 1 / n) if a is None else a
    b = np.full(m, 1 / m) if b is None else b
    t, res = median_time(lambda: not_.sinkhorn_newton_sparse(a, b, M, reg, tol=tol, **kw), repeat)
    peak = peak_memory(lambda: not_.sinkhorn_newton_sparse(a, b, M, reg, tol=tol, **kw))
    nnz = np.nanmean(res.history["nnz_per_row"]) if res.nit_newton else float("nan")
    note = (f"numopt {res.nit_sinkhorn} Sinkhorn + {res.nit_newton} Newton ({res.nit_cg} CG), "
            f"{nnz:.1f} nnz/row, {_phases(res)}, {res.status.name}")
    return a, b, t, res, peak, note


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
    rows = [Row("lap (SNS)", size, t, "POT sinkhorn", tp, f"L1 {res.marginal_error:.1e} vs {err:.1e}", mib(peak),
                f"{note}; POT {it} its{ok}"),
            Row("lap (SNS)", size, t, "POT sinkhorn_log (extrap.)", tl, "", "", f"{it} its x 20-its timing")]
    rows += _regot_rows("lap (SNS)", size, t, a, b, M, reg, res)
    return rows


def clouds(n, rng):
    from scipy.spatial.distance import cdist

    X, Y = rng.uniform(size=(n, 2)), rng.uniform(size=(n, 2))
    M = cdist(X, Y, "sqeuclidean")  # no (n, n, 2) temporary
    M /= M.max()
    return M


def _regot_rows(case, size, t, a, b, M, reg, res):
    """RegOT ``sinkhorn_ssns`` (Newton-type peer) on the same input; no row when it is not installed."""
    try:
        import regot
    except ImportError:
        return [Row(case, size, t, "RegOT absent (pip install regot)", float("nan"), "")]
    Mf = np.asfortranarray(M)
    t0 = time.perf_counter()
    out = regot.sinkhorn_ssns(Mf, a, b, reg, tol=1e-10, max_iter=2000)
    tr = time.perf_counter() - t0
    P = np.asarray(out.plan)
    err = _l1(P, a, b)
    gap = abs(float((P * M).sum()) - res.cost)
    return [Row(case, size, t, "RegOT sinkhorn_ssns", tr, f"L1 {res.marginal_error:.1e} vs {err:.1e}", "",
                f"RegOT {out.niter} its (tol 1e-10, its own norm), |cost diff| {gap:.1e}, 1 run")]


def _cloud_rows(n, reg, repeat, quick, *, pot_once=False, extra_peers=True):
    M = clouds(n, np.random.default_rng(0))
    a, b, t, res, peak, note = _sns_row("cloud", n, M, reg, repeat)
    size = f"2-D sqeuclid n={n} reg={reg:g}"
    case = "cloud (SNS)"
    ot = _pot()
    if ot is None:
        return [Row(case, size, t, "POT absent", float("nan"), f"L1 {res.marginal_error:.1e}", mib(peak), note)]
    tp, it, err = _pot_to_l1(ot, a, b, M, reg, "sinkhorn", 1e-10, 1 if pot_once else 60, once=pot_once)
    ok = "" if err <= 1e-10 else " (POT did not reach 1e-10)"
    rows = [Row(case, size, t, "POT sinkhorn", tp, f"L1 {res.marginal_error:.1e} vs {err:.1e}", mib(peak),
                f"{note}; POT {it} its{ok}" + (", POT 1 run" if pot_once else ""))]
    if not extra_peers:
        return rows
    tl = _pot_log_extrapolated(ot, a, b, M, reg, it)
    rows.append(Row(case, size, t, "POT sinkhorn_log (extrap.)", tl, "", "", f"{it} its x 20-its timing"))
    t0 = time.perf_counter()
    P, log = ot.sinkhorn(a, b, M, reg, method="sinkhorn_stabilized", stopThr=1e-10, numItermax=3000, log=True,
                         warn=False)
    ts = time.perf_counter() - t0
    rows.append(Row(case, size, t, "POT sinkhorn_stabilized", ts, f"L1 {res.marginal_error:.1e} vs {_l1(P, a, b):.1e}",
                    "", f"cap 3000 its, stopThr 1e-10, 1 run; plan mass {P.sum():.3g}"))
    t0 = time.perf_counter()
    exact = ot.emd2(a, b, M, numItermax=10**8)
    te = time.perf_counter() - t0
    rows.append(Row(case, size, t, "POT emd2 (unregularized)", te, f"cost - emd {res.cost - exact:.1e}", "",
                    f"entropic bias <= reg log n = {reg * np.log(n):.1e}; 1 run"))
    if n <= 1000:
        rows += _regot_rows(case, size, t, a, b, M, reg, res)
    return rows


def case_cloud(repeat: int, quick: bool) -> list[Row]:
    return _cloud_rows(300 if quick else 1000, 1e-3, repeat, quick)


def case_cloud_large_reg(repeat: int, quick: bool) -> list[Row]:
    """reg 1e-2 and 1e-1, where Sinkhorn needs few sweeps: the target is no worse than 1.5x POT."""
    rows = []
    for reg in (1e-2, 1e-1):
        rows += _cloud_rows(300 if quick else 1000, reg, repeat, quick, extra_peers=False)
    return rows


def case_cloud_4000(repeat: int, quick: bool) -> list[Row]:
    """n = 4000, reg 1e-3 (POT plain about 28 s: it runs once). Skipped with --quick."""
    if quick:
        return []
    return _cloud_rows(4000, 1e-3, 1, quick, pot_once=True, extra_peers=False)


def case_cloud_cpu(repeat: int, quick: bool) -> list[Row]:
    """reg 0.1 and 0.01 on clouds, n = 300 and 2500 (300 only with --quick): CPU seconds
    (``time.process_time``, medians; robust to a loaded machine, unlike wall time) of the default
    ``sinkhorn`` against POT ``sinkhorn`` with the ``stopThr`` that reaches L1 1e-10 (found first, untimed).
    Where Sinkhorn needs tens to hundreds of sweeps the fixed costs per call and per sweep decide."""
    ot = _pot()
    rows = []
    for n in (300,) if quick else (300, 2500):
        M = clouds(n, np.random.default_rng(0))
        a = b = np.full(n, 1.0 / n)
        for reg in (1e-1, 1e-2):
            t, res = median_time(lambda: not_.sinkhorn(a, b, M, reg, tol=1e-10), repeat, clock=time.process_time)
            peak = peak_memory(lambda: not_.sinkhorn(a, b, M, reg, tol=1e-10))
            note = f"CPU s; numopt {res.nit_sinkhorn} Sinkhorn + {res.nit_newton} Newton"
            size = f"n={n} reg={reg:g}"
            if ot is None:
                rows.append(Row("cloud CPU (sinkhorn)", size, t, "POT absent", float("nan"),
                                f"L1 {res.marginal_error:.1e}", mib(peak), note))
                continue
            thr = 1e-10
            for _ in range(5):
                P, log = ot.sinkhorn(a, b, M, reg, stopThr=thr, numItermax=100_000, log=True, warn=False)
                if _l1(P, a, b) <= 1e-10:
                    break
                thr /= 10
            tp, _ = median_time(lambda: ot.sinkhorn(a, b, M, reg, stopThr=thr, numItermax=100_000, warn=False),
                                repeat, clock=time.process_time)
            rows.append(Row("cloud CPU (sinkhorn)", size, t, "POT sinkhorn", tp,
                            f"L1 {res.marginal_error:.1e} vs {_l1(P, a, b):.1e}", mib(peak),
                            f"{note}; POT {log.get('niter', -1)} its (stopThr {thr:g})"))
    return rows


def colour_transfer(n, seed=0):
    """Colour transfer between two scikit-image photographs (``astronaut`` -> ``coffee``): ``n`` RGB pixels
    sampled from each, squared Euclidean cost normalized to max 1 (clustered data: dense plans at
    moderate reg). Raises ImportError without scikit-image."""
    from scipy.spatial.distance import cdist
    from skimage import data

    rng = np.random.default_rng(seed)
    pts = []
    for im in (data.astronaut(), data.coffee()):
        p = im.reshape(-1, 3).astype(float) / 255.0
        pts.append(p[rng.choice(p.shape[0], n, replace=False)])
    M = cdist(pts[0], pts[1], "sqeuclidean")
    M /= M.max()
    return M


def case_colour(repeat: int, quick: bool) -> list[Row]:
    """Colour transfer (issue 20): n = 2500 pixels of ``astronaut`` and ``coffee`` (500 with --quick), reg
    0.1 to 1e-4, the default ``sinkhorn`` against POT ``sinkhorn`` to the same L1 marginal error 1e-8, in
    CPU seconds (``time.process_time`` medians; POT's ``stopThr`` tightened to L1 1e-8 first, untimed;
    POT runs once where it needs > 300 iterations, and not at 1e-4 where it needs >> 1e4). The note gives
    the time per phase and the share outside the sweeps and Newton steps (setup, final plan pass)."""
    try:
        M = colour_transfer(500 if quick else 2500)
    except ImportError:
        return [Row("colour transfer", "astronaut -> coffee", float("nan"), "scikit-image absent", float("nan"), "")]
    n = M.shape[0]
    a = np.full(n, 1.0 / n)
    ot = _pot()
    rows = []
    for reg in (1e-1, 1e-2, 1e-3, 1e-4):
        t, res = median_time(lambda: not_.sinkhorn(a, a, M, reg, tol=1e-8), repeat, clock=time.process_time)
        peak = peak_memory(lambda: not_.sinkhorn(a, a, M, reg, tol=1e-8))
        w0 = time.perf_counter()
        res = not_.sinkhorn(a, a, M, reg, tol=1e-8)
        wall = time.perf_counter() - w0
        h = res.history
        inside = float(h["time"].sum())  # the same run's iterations
        nnz = np.nanmean(h["nnz_per_row"]) if res.nit_newton else float("nan")
        note = (f"CPU s; numopt {res.nit_sinkhorn} Sinkhorn + {res.nit_newton} Newton ({res.nit_cg} CG, "
                f"{nnz:.0f} nnz/row), {_phases(res)}, outside {max(0.0, 1 - inside / wall):.0%} of wall")
        size = f"n={n} reg={reg:g}"
        if ot is None or reg < 1e-3:
            rows.append(Row("colour transfer", size, t, "POT absent" if ot is None else "POT not run (>> 1e4 its)",
                            float("nan"), f"L1 {res.marginal_error:.1e}", mib(peak), note))
            continue
        thr, its = 1e-8, -1
        for _ in range(4):
            P, log = ot.sinkhorn(a, a, M, reg, stopThr=thr, numItermax=100_000, log=True, warn=False)
            its = log.get("niter", -1)
            if _l1(P, a, a) <= 1e-8:
                break
            thr /= 10
        tp, _ = median_time(lambda: ot.sinkhorn(a, a, M, reg, stopThr=thr, numItermax=100_000, warn=False),
                            repeat if its <= 300 else 1, warmup=0, clock=time.process_time)
        rows.append(Row("colour transfer", size, t, "POT sinkhorn", tp, f"L1 {res.marginal_error:.1e} vs "
                        f"{_l1(P, a, a):.1e}", mib(peak), f"{note}; POT {its} its (stopThr {thr:g})"))
    # what epsilon-scaling and the dense exact-Newton path buy at small reg (ratio = variant / default)
    for reg in (1e-3, 1e-4):
        t, res = median_time(lambda: not_.sinkhorn(a, a, M, reg, tol=1e-8), 1, clock=time.process_time)
        for label, kw in (("no eps-scaling (reg_init=reg)", {"reg_init": reg}),
                          ("switch after 250 sweeps (old rule)", {"switch_sweeps": 250})):
            tv, rv = median_time(lambda: _quiet(lambda: not_.sinkhorn(a, a, M, reg, tol=1e-8, maxiter=5000, **kw)),
                                 1, clock=time.process_time)
            rows.append(Row("colour variants", f"n={n} reg={reg:g}", t, label, tv,
                            f"L1 {res.marginal_error:.1e} vs {rv.marginal_error:.1e}", "",
                            f"CPU s; default {res.nit_sinkhorn} + {res.nit_newton} Newton, variant "
                            f"{rv.nit_sinkhorn} + {rv.nit_newton} Newton ({rv.status.name})"))
    return rows


def _clouds3(n, rng):
    """x uniform in the unit cube, y normal(0.5, 0.2) (3-D), and reg = 1e-3 diameter^2 of both."""
    x, y = rng.uniform(size=(n, 3)), rng.normal(0.5, 0.2, size=(n, 3))
    lo, hi = np.minimum(x.min(0), y.min(0)), np.maximum(x.max(0), y.max(0))
    return x, y, 1e-3 * float(((hi - lo) ** 2).sum())


def _cloud_l1(x, y, f, g, reg):
    """L1 marginal error of the plan exp((f + g - |x - y|^2) / reg) of uniform clouds, measured on the fly
    by numopt's kernel (float64; no n x m array)."""
    from numopt.ot import _kernels

    n, m = x.shape[0], y.shape[0]
    r, cols = np.empty(n), np.empty((8, m))
    _kernels.cloud_marginals(x, np.ascontiguousarray(y.T), np.asarray(f, float), np.asarray(g, float), reg, 0, r,
                             cols, np.empty((8, m)))
    return float(np.abs(r - 1.0 / n).sum() + np.abs(cols.sum(0) - 1.0 / m).sum())


def _geomloss_rows(size, x, y, reg, t_numopt, peak_numopt, res):
    """GeomLoss ``SamplesLoss("sinkhorn", debias=False, potentials=True)``, tensorized backend (torch CPU,
    float32 as its users run it), cost |x - y|^2 (blur = sqrt(reg): epsilon = reg), epsilon-scaling 0.5
    (default) and 0.9; its potentials turned into ours (f = F + reg log a) and the L1 marginal error of
    their plan measured in float64. The online backend needs pykeops (not installed: it compiles C++)."""
    try:
        import torch
        from geomloss import SamplesLoss
    except ImportError:
        return [Row("empirical (clouds)", size, t_numopt, "GeomLoss absent", float("nan"), "", mib(peak_numopt))]
    import tracemalloc

    n, m = x.shape[0], y.shape[0]
    if 4.0 * n * m * 4 > 2**32:  # the tensorized backend holds a few n x m float32 arrays
        return [Row("empirical (clouds)", size, t_numopt, "GeomLoss tensorized: not run (n m memory)", float("nan"),
                    "", mib(peak_numopt), "online backend needs pykeops (not installed: compiles C++ at first use)")]

    def cost(X, Y):
        return ((X[:, :, None, :] - Y[:, None, :, :]) ** 2).sum(-1)

    diameter = float(np.sqrt(reg / 1e-3))
    tx, ty = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    ta, tb = torch.full((n,), 1.0 / n), torch.full((m,), 1.0 / m)
    rows = []
    for scaling in (0.5, 0.9):
        loss = SamplesLoss("sinkhorn", p=2, blur=float(np.sqrt(reg)), scaling=scaling, cost=cost, debias=False,
                           potentials=True, backend="tensorized", diameter=diameter)
        loss(ta[:50], tx[:50], tb[:50], ty[:50])  # warm-up
        tracemalloc.start()  # torch's CPU allocator is not traced: the peak is a lower bound
        c0 = time.process_time()
        F, G = loss(ta, tx, tb, ty)
        tg = time.process_time() - c0
        tracemalloc.stop()
        f = F.double().numpy().ravel() + reg * np.log(1.0 / n)
        g = G.double().numpy().ravel() + reg * np.log(1.0 / m)
        err = _cloud_l1(x, y, f, g, reg)
        rows.append(Row("empirical (clouds)", size, t_numopt, f"GeomLoss tensorized scaling={scaling}", tg,
                        f"L1 {res.marginal_error:.1e} vs {err:.1e}", mib(peak_numopt),
                        f"CPU s; GeomLoss stops after its epsilon schedule (float32): its L1 error is far above "
                        f"numopt's; {4 * n * m / 2**20:.0f} MiB per n x m float32 array (not traced)"))
    return rows


#: Cloud sizes of ``case_empirical``. The 1e5 row is slow: measured (load ~11) 28 iterations (16 sweeps + 12
#: Newton, the Hessian capped at 894 pairs a row) in 1528 s CPU, marginal error still 8.3e-3 (stopped).
EMPIRICAL_SIZES = (2000, 10_000, 100_000)


def case_empirical(repeat: int, quick: bool) -> list[Row]:
    """Point clouds without a cost matrix (issue 20): 3-D, x uniform in the unit cube, y normal(0.5, 0.2),
    reg = 1e-3 diameter^2, tol 1e-6 (L1, relative to the mass); n = 2000, 1e4 and 1e5 (500 with --quick).
    One run each, CPU seconds (``time.process_time``; wall in the note), tracemalloc peak. Peers: POT
    ``empirical_sinkhorn(isLazy=True)``, 3 iterations timed (at n = 1e5 extrapolated from n = 1e4 by
    (n / 1e4)^2), extrapolated to as many iterations as numopt's Sinkhorn sweeps + 2 x Newton steps (a
    lower bound: plain Sinkhorn needs more); GeomLoss (tensorized, n <= 1e4; see _geomloss_rows)."""
    import tracemalloc

    rows = []
    rng = np.random.default_rng(0)
    x0 = rng.uniform(size=(50, 3))
    not_.empirical_sinkhorn(x0, x0[::-1], 1e-2)  # compile outside the timings
    not_.empirical_sinkhorn(x0, x0[::-1], 1e-4)
    ot = _pot()
    pot_per_pair = None
    for n in (500,) if quick else EMPIRICAL_SIZES:
        x, y, reg = _clouds3(n, rng)
        tracemalloc.start()
        w0, c0 = time.perf_counter(), time.process_time()
        res = not_.empirical_sinkhorn(x, y, reg, tol=1e-6, max_plan_bytes=0)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        nnz = np.nanmean(res.history["nnz_per_row"]) if res.nit_newton else float("nan")
        note = (f"CPU s (wall {wall:.2f} s); {res.nit_sinkhorn} sweeps + {res.nit_newton} Newton ({res.nit_cg} CG, "
                f"{nnz:.0f} pairs/row), {len(np.unique(res.history['reg']))} eps-stages, {res.status.name}; "
                "plan not formed (max_plan_bytes=0)")
        size = f"3-D n=m={n} reg=1e-3 diam^2"
        its = res.nit_sinkhorn + 2 * res.nit_newton
        if ot is None:
            rows.append(Row("empirical (clouds)", size, cpu, "POT absent", float("nan"),
                            f"L1 {res.marginal_error:.1e}", mib(peak), note))
        elif n <= 10_000:
            c0 = time.process_time()
            ot.bregman.empirical_sinkhorn(x, y, reg, numIterMax=3, stopThr=0.0, isLazy=True, batchSize=256,
                                          verbose=False, log=False, warn=False)
            per_it = (time.process_time() - c0) / 3
            pot_per_pair = per_it / n**2
            rows.append(Row("empirical (clouds)", size, cpu, "POT empirical_sinkhorn lazy (extrap.)", per_it * its,
                            f"L1 {res.marginal_error:.1e}", mib(peak), f"{note}; POT 3 its x {its}"))
        else:
            rows.append(Row("empirical (clouds)", size, cpu, "POT lazy (extrap. from n=1e4)",
                            pot_per_pair * n**2 * its, f"L1 {res.marginal_error:.1e}", mib(peak),
                            f"{note}; POT per iteration from n = 1e4 x (n / 1e4)^2, x {its} its"))
        rows += _geomloss_rows(size, x, y, reg, cpu, peak, res)
    return rows


def case_targets(repeat: int, quick: bool) -> list[Row]:
    """Several problems at once (issue 16): ``sinkhorn2`` with b of shape (m, k), k = 8 targets on 2-D
    clouds (n = 1000, 300 with --quick), reg 1e-2 and 1e-3, against POT ``sinkhorn2`` with the same b
    (its batched scaling Sinkhorn: one matrix-matrix product per half-step) with ``stopThr`` 1e-9 (its
    own criterion; the accuracy column compares the losses with numopt's at tol 1e-8), and against POT
    called once per target. CPU seconds."""
    ot = _pot()
    n = 300 if quick else 1000
    k = 8
    M = clouds(n, np.random.default_rng(0))
    a = np.full(n, 1.0 / n)
    B = np.random.default_rng(1).uniform(0.5, 1.5, size=(n, k))
    B /= B.sum(0)
    rows = []
    for reg in (1e-2, 1e-3):
        t, losses = median_time(lambda: not_.sinkhorn2(a, B, M, reg, tol=1e-8), repeat, clock=time.process_time)
        size = f"n={n} k={k} reg={reg:g}"
        if ot is None:
            rows.append(Row("several targets", size, t, "POT absent", float("nan"), ""))
            continue
        thr = 1e-9
        tb, ref = median_time(lambda: ot.sinkhorn2(a, B, M, reg, stopThr=thr, numItermax=100_000, warn=False), 1,
                              warmup=0, clock=time.process_time)
        gap = float(np.max(np.abs(np.asarray(ref, dtype=float) - losses) / losses))
        rows.append(Row("several targets", size, t, "POT sinkhorn2 (batched b)", tb, f"max rel. loss diff {gap:.1e}",
                        "", f"CPU s; POT stopThr {thr:g}, 1 run"))
        tl, _ = median_time(lambda: [ot.sinkhorn2(a, B[:, j], M, reg, stopThr=thr, numItermax=100_000, warn=False)
                                     for j in range(k)], 1, warmup=0, clock=time.process_time)
        rows.append(Row("several targets", size, t, "POT sinkhorn2 loop over targets", tl, "", "",
                        f"CPU s; POT stopThr {thr:g}, 1 run"))
    return rows


def _grid_w1(n):
    x = np.linspace(0, 1, n)
    a = np.exp(-(((x - 0.3) / 0.1) ** 2)) + 1e-3
    b = np.exp(-(((x - 0.6) / 0.2) ** 2)) + 1e-3
    return a / a.sum(), b / b.sum(), np.abs(x[:, None] - x[None, :])


def case_w1(repeat: int, quick: bool) -> list[Row]:
    """1-D W1 |x - y| on a grid (non-unique optimal plans), reg 1e-3: POT's plain Sinkhorn does not reach
    1e-11 in 1e5 iterations (58 s); it is capped at 1e4 iterations here."""
    n = 300 if quick else 1000
    reg = 1e-3
    a, b, M = _grid_w1(n)
    a, b, t, res, peak, note = _sns_row("w1", n, M, reg, repeat, a=a, b=b)
    size = f"1-D |x-y| grid n={n} reg=1e-3"
    ot = _pot()
    if ot is None:
        return [Row("w1 grid (SNS)", size, t, "POT absent", float("nan"), f"L1 {res.marginal_error:.1e}", mib(peak),
                    note)]
    cap = 2000 if quick else 10_000
    t0 = time.perf_counter()
    P, log = ot.sinkhorn(a, b, M, reg, method="sinkhorn", stopThr=1e-11, numItermax=cap, log=True, warn=False)
    tp = time.perf_counter() - t0
    exact = ot.emd2_1d(np.linspace(0, 1, n), np.linspace(0, 1, n), a, b, metric="euclidean")
    return [Row("w1 grid (SNS)", size, t, f"POT sinkhorn (cap {cap} its)", tp,
                f"L1 {res.marginal_error:.1e} vs {_l1(P, a, b):.1e}", mib(peak),
                f"{note}; POT {log.get('niter', -1)} its, 1 run; cost - W1 {res.cost - exact:.1e}")]


def _digits(quick):
    """Two scikit-learn digits (8 x 8, bundled) upsampled to 28 x 28 (MNIST's size), as histograms."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    images = load_digits().images
    side = 14 if quick else 28
    out = []
    for k in (0, 1):
        im = np.clip(zoom(images[k], side / 8, order=1), 0, None).ravel()
        out.append(im / im.sum())
    g = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1).reshape(-1, 2) / (side - 1)
    return out[0], out[1], g


def case_digits(repeat: int, quick: bool) -> list[Row]:
    """Image pair as in the paper's MNIST experiment: pixel-position costs L1 and L2 (normalised to max 1),
    reg 1e-3; zero pixels are removed by the solver (zero-mass entries)."""
    try:
        a, b, g = _digits(quick)
    except ImportError:
        return [Row("digits (SNS)", "28x28", float("nan"), "scikit-learn absent", float("nan"), "")]
    from scipy.spatial.distance import cdist

    ot = _pot()
    rows = []
    for name, metric in (("L1", "cityblock"), ("L2", "euclidean")):
        M = cdist(g, g, metric)
        M /= M.max()
        reg = 1e-3
        _, _, t, res, peak, note = _sns_row("digits", 0, M, reg, repeat, a=a, b=b)
        size = f"{int(np.sqrt(len(a)))}^2 px {name} reg=1e-3 nnz(a,b)=({(a > 0).sum()},{(b > 0).sum()})"
        if ot is None:
            rows.append(Row("digits (SNS)", size, t, "POT absent", float("nan"), f"L1 {res.marginal_error:.1e}",
                            mib(peak), note))
            continue
        # POT divides by the marginals: it gets the problem restricted to the nonzero pixels
        ra, rb = a > 0, b > 0
        tp, it, err = _pot_to_l1(ot, a[ra], b[rb], np.ascontiguousarray(M[np.ix_(ra, rb)]), reg, "sinkhorn",
                                 1e-10, 30)
        ok = "" if err <= 1e-10 else " (POT did not reach 1e-10)"
        rows.append(Row("digits (SNS)", size, t, "POT sinkhorn", tp, f"L1 {res.marginal_error:.1e} vs {err:.1e}",
                        mib(peak), f"{note}; POT {it} its{ok}"))
    return rows


def case_memory(repeat: int, quick: bool) -> list[Row]:
    """n = 10000 point clouds, reg 1e-3: M alone is 8e8 bytes; the target is a peak within 3x that.
    One run, timed and traced (tracemalloc); skipped with --quick."""
    if quick:
        return []
    n, reg = 10_000, 1e-3
    M = clouds(n, np.random.default_rng(0))
    a = np.full(n, 1 / n)
    box = {}

    def solve():
        t0 = time.perf_counter()
        box["res"] = not_.sinkhorn_newton_sparse(a, a, M, reg, tol=1e-10)
        box["t"] = time.perf_counter() - t0

    peak = peak_memory(solve)
    res = box["res"]
    note = (f"numopt {res.nit_sinkhorn} Sinkhorn + {res.nit_newton} Newton ({res.nit_cg} CG), {_phases(res)}, "
            f"{res.status.name}; peak {peak / M.nbytes:.2f}x M ({M.nbytes:.1e} B); 1 run under tracemalloc")
    return [Row("memory n=10000 (SNS)", f"2-D sqeuclid n={n} reg={reg:g}", box["t"], "none", float("nan"),
                f"L1 {res.marginal_error:.1e}", mib(peak), note)]


def case_sparsity(repeat: int, quick: bool) -> list[Row]:
    """``sparsity="mass"`` (default) against ``"topk"`` (the paper's lambda = 2/n), each also with the
    paper's fixed schedule (``switch_sweeps=0``: Newton right after the first sweeps), on the
    assignment problem and on point clouds at reg 1e-3."""
    rows = []
    n_lap, n_cloud = (200, 300) if quick else (500, 1000)
    problems = [("lap", f"n={n_lap} reg=1/1200", np.random.default_rng(0).uniform(size=(n_lap, n_lap)), 1 / 1200),
                ("cloud", f"n={n_cloud} reg=1e-3", clouds(n_cloud, np.random.default_rng(0)), 1e-3)]
    for name, size, M, reg in problems:
        base = None
        for kw in ({}, {"switch_sweeps": 0}, {"sparsity": "topk"}, {"sparsity": "topk", "switch_sweeps": 0}):
            label = ", ".join(f"{k}={v!r}" for k, v in kw.items()) or "defaults (mass)"
            _, _, t, res, peak, note = _sns_row(name, M.shape[0], M, reg, repeat, maxiter=5000, **kw)
            base = t if base is None else base
            rows.append(Row(f"sparsity {name}", size, t, label, base, f"L1 {res.marginal_error:.1e}", mib(peak),
                            note + "; ratio = defaults' time / this time"))
    return rows


def case_iteration(repeat: int, quick: bool) -> list[Row]:
    n = 300 if quick else 1000
    M = clouds(n, np.random.default_rng(1))
    a = np.full(n, 1 / n)
    sweeps = 20
    t, _ = median_time(lambda: _quiet(lambda: not_.sinkhorn_log(a, a, M, 1e-2, tol=1e-15, maxiter=sweeps)), repeat)
    per_it = t / sweeps
    tk, _ = median_time(lambda: _quiet(lambda: not_.sinkhorn_knopp(a, a, M, 1e-2, tol=1e-15, maxiter=sweeps * 10)),
                        repeat)
    per_it_knopp = tk / (sweeps * 10)
    ot = _pot()
    if ot is None:
        return [Row("sinkhorn iteration", f"n={n}", per_it, "POT absent", float("nan"), "")]
    tp, _ = median_time(lambda: ot.sinkhorn(a, a, M, 1e-2, method="sinkhorn_log", stopThr=1e-300,
                                            numItermax=sweeps, warn=False), 1, warmup=0)
    tpk, _ = median_time(lambda: ot.sinkhorn(a, a, M, 1e-2, method="sinkhorn", stopThr=1e-300,
                                             numItermax=sweeps * 10, warn=False), max(1, repeat // 2))
    return [Row("sinkhorn_log iteration", f"n={n} (s per sweep)", per_it, "POT sinkhorn_log", tp / sweeps,
                "same sweep", "", f"{sweeps} sweeps incl. final plan pass"),
            Row("sinkhorn_knopp iteration", f"n={n} (s per sweep)", per_it_knopp, "POT sinkhorn (plain)",
                tpk / (sweeps * 10), "same sweep", "",
                f"{sweeps * 10} sweeps incl. kernel and plan; numopt absorbs and never overflows, POT plain can")]


_COLD_SCRIPT = r"""
import json, sys, time
w0, c0 = time.perf_counter(), time.process_time()
import numpy as np
what = sys.argv[1]
if what == "tour":
    from numopt._tour import TOURS
    TOURS["ot"]()
elif what == "call":
    from numopt.ot import sinkhorn
    sinkhorn(None, None, np.random.default_rng(0).uniform(size=(300, 200)), 1e-2)
else:
    from numopt.ot._precompile import precompile
    precompile()
print(json.dumps([time.perf_counter() - w0, time.process_time() - c0]))
"""


def _cold_warm(what: str) -> tuple[float, float, float, float]:
    """(wall, CPU) seconds of ``what`` in a fresh process with an empty Numba cache, then again with
    the cache that run filled."""
    import json
    import os
    import pathlib
    import subprocess
    import sys
    import tempfile

    root = pathlib.Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, NUMOPT_NUMBA_CACHE="1")
        out = []
        for _ in range(2):
            proc = subprocess.run([sys.executable, "-c", _COLD_SCRIPT, what], cwd=root, env=env, capture_output=True,
                                  text=True, check=True)
            out.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
    return tuple(out)


def case_compile(repeat: int, quick: bool) -> list[Row]:
    """First call in a fresh process: empty Numba cache (cold) against the cache it filled (warm), for
    the tour's OT entry, a default ``sinkhorn`` call on 300 x 200 and ``precompile()`` (every kernel,
    serial and parallel). CPU seconds are those of the process (on a busy machine wall time is not)."""
    rows = []
    for what, size in (("tour", "numopt tour ot"), ("call", "sinkhorn 300x200 reg 1e-2"),
                       ("precompile", "precompile(): all kernels")):
        wall_c, cpu_c, wall_w, cpu_w = _cold_warm(what)
        rows.append(Row("first call (cold cache)", size, wall_c, "warm cache", wall_w,
                        f"CPU {cpu_c:.2f} s cold, {cpu_w:.2f} s warm", "",
                        f"compiling ~ {cpu_c - cpu_w:.2f} s CPU; ratio = warm / cold"))
    return rows


def _quiet(fn):
    import warnings

    from numopt import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn()


CASES = [case_compile, case_lap, case_cloud, case_cloud_large_reg, case_cloud_cpu, case_colour, case_empirical, case_targets, case_cloud_4000, case_w1,
         case_digits, case_sparsity, case_iteration, case_memory]


def run(repeat: int = 5, quick: bool = False) -> list[Row]:
    rows = []
    for case in CASES:
        rows.extend(case(repeat, quick))
    return rows
