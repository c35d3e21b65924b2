"""``empirical_sinkhorn``: entropic OT between two point clouds, costs computed on the fly (no cost matrix)."""

from __future__ import annotations

import math

import numpy as np

from .._result import Status, finish
from .._validation import as_float_array, check_choice, check_int, check_no_extra, check_nonnegative, check_scalar, fail
from .._validation import OT_MASS_RTOL
from . import _kernels
from ._common import (REG_SPREAD_MIN, OTResult, Run, _Deferred, _norm, check_common, measure_plan,
                      newton_line_search)

__all__ = ["empirical_sinkhorn", "METRICS"]

#: metric name -> the kernels' metric code
METRICS = {"sqeuclidean": 0, "euclidean": 1}
_OPTIONS = ("delta", "reg_init", "reg_factor", "sinkhorn_maxiter", "switch_sweeps", "cg_maxiter")
#: Sinkhorn goes on past ``sinkhorn_maxiter`` in the last stage while its rate (re-measured every 25
#: sweeps at most, from the 6th sweep) predicts ``tol`` within this many sweeps in all; otherwise Newton
#: steps on the pairs that carry mass take over (a step costs one pass over the clouds per trial point,
#: like half a sweep, plus CG on the kept pairs).
_SWITCH_SWEEPS = 50
#: Default ``max_plan_bytes``: the dense plan is returned when it fits (256 MiB: n = m = 5792).
MAX_PLAN_BYTES = 2**28
#: Default ``max_sparse_bytes``: the memory ``plan_sparse`` may take (12 bytes per kept pair).
MAX_SPARSE_BYTES = 2**30
_AUTO_REG_INIT = 1e-2
_REG_FACTOR = 10.0
#: Marginal error (relative to the mass) at which an intermediate epsilon-scaling stage hands over. Loose:
#: the jump to the next reg raises the error to ~0.5 whatever it was (3-D clouds n = 4000: 1e-3 took 6
#: sweeps of the first stage, 3e-2 two, with the same Newton steps after; 30 passes over the clouds -> 28).
_STAGE_TOL = 3e-2
#: Default ``sinkhorn_maxiter``: sweeps of the last stage before Newton may take over (n = 4000: 20 -> 3
#: cut the passes over the clouds from 63 to 43, Newton converging from a marginal error of 0.3).
_SINKHORN_MAXITER = 3

_ADVICE = ("Sinkhorn's linear rate slows as `reg` shrinks: raise `maxiter`, loosen `tol` or increase `reg` (for "
           "clouds small enough to hold the cost matrix, sinkhorn_newton_sparse on it needs tens of Newton steps).")


def empirical_sinkhorn(x, y, reg, *, a=None, b=None, metric="sqeuclidean", tol=1e-9, maxiter=10_000,
                       max_plan_bytes=MAX_PLAN_BYTES, max_sparse_bytes=MAX_SPARSE_BYTES, callback=None,
                       verbose=False, **options) -> OTResult:
    r"""Entropic optimal transport between two point clouds without forming the cost matrix.

    Solves the problem of :func:`sinkhorn_newton_sparse` with :math:`M_{ij} = C(x_i, y_j)`
    (``metric="sqeuclidean"``: :math:`\|x_i - y_j\|^2`; ``"euclidean"``: :math:`\|x_i - y_j\|`), POT's
    ``ot.bregman.empirical_sinkhorn`` with ``isLazy=True``. The costs are computed on the fly in
    Numba kernels (rows in parallel over the available cores), so the memory is :math:`O((n + m) d)`
    besides what is returned: log-domain Sinkhorn sweeps (each half-step one fused pass computing
    :math:`C`, the exponentials and the log-sum-exp, overflow-proof as :func:`sinkhorn_log`), with
    epsilon-scaling: the solve starts at ``reg_init`` (default ``1e-2`` times the squared diameter of
    the clouds' bounding box, or the diameter for ``"euclidean"``) and divides it by ``reg_factor``
    (default 10) per stage down to ``reg``, each stage warm-started and run to a marginal error of
    ``3e-2`` of the mass (the next stage starts far from its solution anyway), the last to ``tol``.
    A sweep costs :math:`O(n m d)` (about 2 ns per pair and half-step on this class of machine in
    3-D), and Sinkhorn needs :math:`O(1/\varepsilon)` sweeps or more at small ``reg``; so in the
    last stage, after ``sinkhorn_maxiter`` sweeps, when Sinkhorn's observed rate predicts more than
    ``switch_sweeps`` further sweeps (or cannot tell yet), Newton steps take over (those of
    :func:`sinkhorn_newton_sparse`): the Hessian's off-diagonal block is sparsified to the pairs with
    :math:`P_{ij} \ge \ell\, r_i` (:math:`\ell = 10^{-3}` times the marginal error; at most 1024
    pairs a row, its largest, and at most ``max_sparse_bytes`` in all; the gradient stays exact, so
    this shapes only the direction), selected in the same pass over the
    clouds that measures the marginals of each trial point and held as CSR (12 bytes a pair: the
    memory is :math:`O((n + m) k)` for k pairs per point); a Newton step thus costs one pass per
    trial point plus its CG. Where ``max_sparse_bytes`` is below :math:`12 n` Sinkhorn goes on alone.

    The potentials are in the units of the cost (not shifted or rescaled: clouds far from each other,
    whose smallest cost exceeds the spread of the costs by orders of magnitude, lose digits in them).

    Parameters
    ----------
    x, y : array_like, shape (n, d) and (m, d)
        The two point clouds (finite, non-empty, the same number of columns).
    reg : float
        Entropic regularization :math:`\varepsilon > 0`, in the units of the cost.
    a, b : array_like, shape (n,) and (m,), or None
        Weights, as in :func:`sinkhorn_newton_sparse` (None or ``[]``: uniform, summing to 1; zero
        entries get a zero plan row/column and ``-inf`` potentials).
    metric : {"sqeuclidean", "euclidean"}, default "sqeuclidean"
    tol : float, default 1e-9
        Stop when the L1 marginal error relative to the total mass is at most ``tol``.
    maxiter : int, default 10000
        Budget on the iterations (Sinkhorn sweeps and Newton steps) over all stages.
    max_plan_bytes : int, default 2**28
        ``plan`` (dense) is returned only when its ``8 n m`` bytes are at most this; otherwise it is None.
    max_sparse_bytes : int, default 2**30
        Budget of ``plan_sparse``; it is built on first access, after one counting pass, and refused
        with a ValueError (before allocating) when its pairs would take more (12 bytes a pair). Also
        the budget of the Newton Hessian's pairs (allocated once: 12 n min(m, 1024) bytes at most).
    callback, verbose
        As in :func:`sinkhorn_newton_sparse`.
    **options
        ``delta`` (float in [0, 1), default 1e-4): ``plan_sparse`` keeps the pairs with
        :math:`P_{ij} \ge \delta\, r_i / m` (:math:`r = P\mathbf 1`), so the mass it drops is at most
        ``delta`` times the total; ``reg_init`` (float >= ``reg`` or ``"auto"``; ``reg_init=reg``
        turns epsilon-scaling off) and ``reg_factor`` (float > 1); ``sinkhorn_maxiter`` (int, default
        3), ``switch_sweeps`` (int, default 50; None: Sinkhorn only) and ``cg_maxiter`` (int,
        default ``max(100, 10 min(n, m))``) for the Newton phase. Any other keyword is a TypeError.

    Returns
    -------
    OTResult
        ``plan`` (None when it exceeds ``max_plan_bytes``), ``plan_sparse`` (the pairs that carry
        mass, see ``delta``), ``potentials``, ``cost``, ``value`` (computed on the fly),
        ``marginal_error``, ``nit_sinkhorn``, ``nit_newton``, ``nit_cg`` and ``history`` as in
        :func:`sinkhorn_newton_sparse`.

    Raises
    ------
    ValueError
        ``x``/``y`` not 2-D, empty, non-finite or with different numbers of columns; unknown
        ``metric``; bad weights (as :func:`sinkhorn_newton_sparse`); ``reg <= 0`` or below
        ``1e-12`` times the spread of the costs.
    TypeError
        Unknown keyword, or arguments of the wrong type.

    Warns
    -----
    numopt.ConvergenceWarning
        When ``maxiter`` is reached before ``tol``.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.ot import empirical_sinkhorn
    >>> x = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> res = empirical_sinkhorn(x, x + [0.0, 0.1], 0.01)
    >>> res.success, np.round(2 * res.plan, 6).tolist()
    (True, [[1.0, 0.0], [0.0, 1.0]])
    """
    func = "empirical_sinkhorn"
    X = _as_cloud(x, "x", func)
    Y = _as_cloud(y, "y", func)
    if X.shape[1] != Y.shape[1]:
        raise fail(func, "y", f"have the number of columns of `x` ({X.shape[1]})", f"shape {Y.shape}")
    metric_name = check_choice(metric, "metric", func, tuple(METRICS))
    metric = METRICS[metric_name]
    a = _weights(a, "a", X.shape[0], func)
    b = _weights(b, "b", Y.shape[0], func)
    mass_a, mass_b = float(a.sum()), float(b.sum())
    if not math.isfinite(mass_a):
        raise fail(func, "a", "have a finite total mass", f"sum(a) = {mass_a}")
    if abs(mass_a - mass_b) > OT_MASS_RTOL * max(mass_a, mass_b):
        raise fail(func, "b", f"have the total mass of `a` (to a relative {OT_MASS_RTOL:g})",
                   f"sum(a) = {mass_a:.12g} and sum(b) = {mass_b:.12g}")
    reg = check_scalar(reg, "reg", func, low=0.0, low_inclusive=False)
    tol, maxiter = check_common(tol, maxiter, callback, func)
    max_plan_bytes = check_int(max_plan_bytes, "max_plan_bytes", func, low=0)
    max_sparse_bytes = check_int(max_sparse_bytes, "max_sparse_bytes", func, low=0)
    check_no_extra(options, func, _OPTIONS)
    delta = check_scalar(options.get("delta", 1e-4), "delta", func, low=0.0, high=1.0, high_inclusive=False)
    # the spread of the costs is bounded by the bounding box of both clouds
    both_lo = np.minimum(X.min(0), Y.min(0))
    both_hi = np.maximum(X.max(0), Y.max(0))
    diam = float(np.sqrt(((both_hi - both_lo) ** 2).sum()))
    spread = diam**2 if metric == 0 else diam
    if not (reg >= REG_SPREAD_MIN * spread and math.isfinite(1.0 / reg)):
        raise fail(func, "reg", f"be at least {REG_SPREAD_MIN:g} times the spread of the costs (bounded by the "
                   "clouds' bounding box), where rounding of the potentials leaves the plan undetermined",
                   f"reg = {reg:.6g} and a spread of up to {spread:.6g}")
    reg_init = options.get("reg_init", "auto")
    if isinstance(reg_init, str) and reg_init == "auto":
        reg_init = max(reg, _AUTO_REG_INIT * spread)
    else:
        reg_init = check_scalar(reg_init, "reg_init", func, low=reg)
    reg_factor = check_scalar(options.get("reg_factor", _REG_FACTOR), "reg_factor", func, low=1.0,
                              low_inclusive=False)
    sinkhorn_maxiter = check_int(options.get("sinkhorn_maxiter", _SINKHORN_MAXITER), "sinkhorn_maxiter", func, low=0)
    switch_sweeps = options.get("switch_sweeps", _SWITCH_SWEEPS)
    if switch_sweeps is not None:
        switch_sweeps = check_int(switch_sweeps, "switch_sweeps", func, low=0)
    cg_maxiter = check_int(options.get("cg_maxiter", max(100, 10 * min(X.shape[0], Y.shape[0]))), "cg_maxiter",
                           func, low=1)

    prob = _CloudProblem(X, Y, a, b, reg, metric, func)
    run = Run(prob, "empirical_sinkhorn", tol, maxiter, callback, verbose)
    from ._sns import _reg_schedule

    stages = _reg_schedule(reg, reg_init, reg_factor, max(1, maxiter))
    n, m = prob.n, prob.m
    f, g = np.zeros(n), np.zeros(m)
    status = Status.MAXITER
    for k, reg_k in enumerate(stages):
        last = k == len(stages) - 1
        prob.reg = reg_k
        run.tol = tol if last else max(tol, _STAGE_TOL)
        if not last or switch_sweeps is None:
            status = _sweeps(prob, f, g, run, maxiter - run.nit)
        else:
            start = run.nit
            status = _sweeps(prob, f, g, run, min(sinkhorn_maxiter, maxiter - run.nit))
            budget = switch_sweeps
            # Sinkhorn goes on in chunks while its rate, re-measured after each, predicts tol within the budget
            while status is None and run.nit < maxiter:
                need = _predicted_sweeps(run, start, prob.mass)
                if need > budget:
                    break
                chunk = min(max(math.ceil(need), 1), 25, maxiter - run.nit)
                budget -= chunk
                status = _sweeps(prob, f, g, run, chunk)
            if status is None and run.nit < maxiter:
                if max_sparse_bytes < 12 * n:  # not one pair a row for the Hessian: Sinkhorn alone
                    status = _sweeps(prob, f, g, run, maxiter - run.nit)
                else:
                    status = _newton(prob, f, g, run, cg_maxiter, max_sparse_bytes)
        if status is None:
            status = Status.MAXITER
        if not status.success or last:
            break
    prob.reg, run.tol = reg, tol
    result = _finish(prob, f, g, run, status, max_plan_bytes, max_sparse_bytes, delta)
    return finish(result, func)


def _as_cloud(value, name, func):
    X = as_float_array(value, name, func, ndim=2)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise fail(func, name, "have at least one point and one coordinate", f"shape {X.shape}")
    return X


def _weights(value, name, size, func):
    if value is not None:
        try:
            if np.ndim(value) == 1 and np.size(value) == 0:
                value = None  # POT's convention: [] means uniform
        except Exception:  # ragged or exotic input: as_float_array reports it
            pass
    if value is None:
        return np.full(size, 1.0 / size)
    w = as_float_array(value, name, func, ndim=1)
    check_nonnegative(w, name, func)
    cloud = "x" if name == "a" else "y"
    if w.shape[0] != size:
        raise fail(func, name, f"have one weight per point of `{cloud}` ({size})", f"length {w.shape[0]}")
    if not w.sum() > 0.0:
        raise fail(func, name, "have a positive total mass", f"sum({name}) = {w.sum():.6g}")
    return w


class _CloudProblem:
    """The clouds restricted to the points of positive weight, the weights normalized to mass 1.

    Duck-types the parts of :class:`numopt.ot._common.Problem` that :class:`Run` and
    :func:`rounding_floor` read (``M`` is a zero-stride view that has the shape of the cost matrix and
    no memory)."""

    def __init__(self, X, Y, a, b, reg, metric, func):
        self.func = func
        self.shape = (X.shape[0], Y.shape[0])
        self.rows = np.flatnonzero(a > 0) if (a == 0).any() else None
        self.cols = np.flatnonzero(b > 0) if (b == 0).any() else None
        if self.rows is not None:
            X, a = X[self.rows], a[self.rows]
        if self.cols is not None:
            Y, b = Y[self.cols], b[self.cols]
        self.mass = float(a.sum())
        a, b = a / self.mass, b / float(b.sum())
        self.X, self.Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
        self.XT, self.YT = np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T)
        self.n, self.m = X.shape[0], Y.shape[0]
        self.M = np.broadcast_to(np.zeros(()), (self.n, self.m))
        self.a, self.b = a, b
        self.loga, self.logb = np.log(a), np.log(b)
        self.metric = metric
        from .._numba import get_num_threads

        # one scratch row of costs per chunk of rows (chunks run in parallel): O((n + m) threads) memory
        chunks = max(1, min(4 * get_num_threads(), 64))
        self.work_x = np.empty((min(chunks, self.n), self.m))  # rows of X against Y
        self.work_y = np.empty((min(chunks, self.m), self.n))  # rows of Y against X
        self.user_reg = reg
        self.reg = reg
        self.total = float(a.sum())

    def user_units(self, reg):
        return reg

    def _offset(self):
        return self.user_reg * math.log(self.mass) if self.mass != 1.0 else 0.0

    def dual(self, dual_n):
        return self.mass * (dual_n + self._offset())

    def potentials(self, f, g):
        out = []
        for v, idx, size, off in ((f, self.rows, self.shape[0], self._offset()), (g, self.cols, self.shape[1], 0.0)):
            v = v + off
            if idx is not None:
                full = np.full(size, -math.inf)
                full[idx] = v
                v = full
            out.append(v)
        return tuple(out)


def _sweeps(prob: _CloudProblem, f, g, run: Run, n_sweeps: int):
    """Log-domain Sinkhorn sweeps on the clouds (f, g in place); returns a Status or None (sweeps ran
    out). On success the state is the one whose error was measured (rows exact, columns within tol)."""
    reg, a, b = prob.reg, prob.a, prob.b
    rowsum, colsum = np.empty(prob.n), np.empty(prob.m)
    g_prev = np.empty(prob.m)
    rows = _kernels.cloud_rows
    for _ in range(n_sweeps):
        rows(prob.X, prob.YT, f, g, a, prob.loga, reg, prob.metric, rowsum, prob.work_x)
        g_prev[:] = g
        err = rows(prob.Y, prob.XT, g, f, b, prob.logb, reg, prob.metric, colsum, prob.work_y)
        # the state (f, g_prev): rows exact, so sum(P) = sum(a)
        dual = float(a @ f + b @ g_prev) - reg * prob.total
        if not (math.isfinite(err) and math.isfinite(dual)):
            g[:] = g_prev
            return Status.NONFINITE
        stop = run.record(f, g_prev, err, dual)
        status = run.converged(err, lambda: _norm(f) + _norm(g_prev))
        if status is not None:
            g[:] = g_prev
            return status
        if stop:
            return Status.CALLBACK
    return None


def _predicted_sweeps(run: Run, start: int, mass: float) -> float:
    """Sweeps Sinkhorn's observed rate (over the last 5 to 10 sweeps since ``start``) needs to ``run.tol``;
    inf when it cannot tell."""
    errors = run.hist["marginal_error"]
    window = min(10, run.nit - start - 1)
    if window < 5 or not errors[-1 - window] > 0:
        return math.inf
    rate = (errors[-1] / errors[-1 - window]) ** (1.0 / window)
    if not 0.0 < rate < 1.0:
        return math.inf
    return math.log(run.tol * mass / errors[-1]) / math.log(rate)


#: The Newton Hessian keeps the pairs with P_ij >= _NEWTON_LEVEL min(1, err) r_i: it only shapes the
#: direction (the gradient is exact and the line search keeps the ascent), and at n = 2000 it kept
#: 254 pairs a row where the 1e-4 r_i / m of plan_sparse keeps 482, with the same steps (3, 45 CG).
_NEWTON_LEVEL = 1e-3
#: The Newton line search's halvings (:func:`~numopt.ot._common.newton_line_search`).
_MAX_BACKTRACKS = 30
#: A row of the Newton Hessian keeps at most this many pairs (its largest; fewer where ``max_sparse_bytes``
#: allows fewer, at 12 bytes a pair): it bounds the memory (n = 1e4: 123 MB) and the CG's work; the
#: direction only needs the pairs that carry most of the mass (n = 1e4 kept up to 903 a row on average).
_HESSIAN_ROW = 1024


class _Scan:
    """The Newton steps' pass over the clouds (:func:`_kernels.cloud_scan`): marginals and the Hessian's
    pairs of a point (f, g) in one pass, kept in one buffer with room for kmax pairs a row (the
    Hessian's budget; growing it from a smaller guess cost 2 of the 15 passes of the Newton phase at
    n = 1e4, a pass that overflows having to run again) and returned as CSR arrays."""

    def __init__(self, prob, max_bytes):
        n, m = prob.n, prob.m
        self.prob = prob
        self.chunks = prob.work_x.shape[0]
        self.size = (n + self.chunks - 1) // self.chunks
        self.kmax = max(1, min(m, _HESSIAN_ROW, max_bytes // (12 * n)))
        self.chunk_cols = np.empty_like(prob.work_x)
        self.counts = np.empty(n, dtype=np.int64)
        self.ends = np.cumsum(np.full(self.chunks, self.kmax * self.size, dtype=np.int64))
        self.starts = self.ends - self.kmax * self.size
        self.indices = np.empty(int(self.ends[-1]), dtype=np.int32 if m < 2**31 else np.int64)
        self.data = np.empty(int(self.ends[-1]))

    def __call__(self, f, g, r, level):
        """Marginals (r in place; returns c, sum(P)) and, with ``level`` <= 1, the CSR (indptr, indices,
        data) of the pairs with P_ij >= level r_i (at most kmax a row); else None."""
        prob = self.prob
        overflow = _kernels.cloud_scan(prob.X, prob.YT, f, g, prob.reg, prob.metric, level, self.kmax, r,
                                       self.chunk_cols, prob.work_x, self.counts, self.starts, self.ends,
                                       self.indices, self.data)
        if overflow:  # pragma: no cover - the buffer holds kmax pairs for every row
            raise RuntimeError("empirical_sinkhorn: internal error: the Hessian's pairs overflowed their buffer")
        c = self.chunk_cols.sum(0)
        total = float(r.sum())
        if level > 1.0:
            return c, total, None
        # the chunks' pairs are consecutive, each from its start: move them left into one CSR
        indptr = np.zeros(prob.n + 1, dtype=np.int64)
        np.cumsum(self.counts, out=indptr[1:])
        for k in range(self.chunks):
            lo, hi = min(k * self.size, prob.n), min((k + 1) * self.size, prob.n)
            dst, cnt, src = int(indptr[lo]), int(indptr[hi] - indptr[lo]), int(self.starts[k])
            if cnt and src != dst:
                self.indices[dst:dst + cnt] = self.indices[src:src + cnt]
                self.data[dst:dst + cnt] = self.data[src:src + cnt]
        nnz = int(indptr[-1])
        # (the next pass writes from the chunks' starts again; the CSR is used before that)
        return c, total, (indptr, self.indices[:nnz], self.data[:nnz])


def _newton(prob: _CloudProblem, f, g, run: Run, cg_maxiter, max_bytes):
    """Newton steps (SNS, :func:`numopt.ot.sinkhorn_newton_sparse`) with the Hessian sparsified to the
    pairs with P_ij >= level min(1, err) r_i (at most a budget a row), selected in the same pass over
    the clouds that measures the marginals (of each trial point of the line search, so a step costs
    one pass plus its backtracks and CG). Falls back to Sinkhorn sweeps where a step fails. Returns a
    Status or None."""
    from ._sns import _ABS_FLOOR, _MARGINAL_FLOOR, _STALL, sparse_newton_direction

    n, m, reg, a, b = prob.n, prob.m, prob.reg, prob.a, prob.b
    scan = _Scan(prob, max_bytes)
    level = _NEWTON_LEVEL
    r = np.empty(n)
    err = run.hist["marginal_error"][-1] / prob.mass if run.hist["marginal_error"] else 1.0
    c, total, sel = scan(f, g, r, level * min(1.0, err))
    dual = float(a @ f + b @ g) - reg * total
    err = float(np.abs(r - a).sum() + np.abs(c - b).sum())
    while run.nit < run.maxiter:
        if err <= run.tol:
            return Status.SUCCESS
        indptr, indices, data = sel
        nnz = indices.shape[0]
        rf = np.maximum(r, np.maximum(_MARGINAL_FLOOR * a, _ABS_FLOOR * float(a.max())))
        cf = np.maximum(c, np.maximum(_MARGINAL_FLOOR * b, _ABS_FLOOR * float(b.max())))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            direction = sparse_newton_direction(indptr, indices, data, rf, cf, a - r, b - c, reg, cg_maxiter,
                                                min(0.1, max(err, 1e-12)))
        step = None
        lvl = level * min(1.0, err)
        if direction is not None:
            df, dg, cg_nit, _ = direction
            rt = np.empty(n)
            trial_out = {}

            def trial(ft, gt):
                # the trial's pairs (for the next step) overwrite this step's: the direction is solved
                trial_out["c"], total_t, trial_out["sel"] = scan(ft, gt, rt, lvl)
                return total_t

            step = newton_line_search(a, b, f, g, df, dg, r, c, total, dual, reg, trial, _MAX_BACKTRACKS)
        if step is not None:
            alpha, ft, gt, total_t, dual_t = step
            f[:], g[:] = ft, gt
            r, c, sel, total, dual = rt, trial_out["c"], trial_out["sel"], total_t, dual_t
            err_old, err = err, float(np.abs(r - a).sum() + np.abs(c - b).sum())
            stop = run.record(f, g, err, dual, newton=True, step=alpha, cg_nit=cg_nit, nnz_per_row=nnz / n)
            status = run.converged(err, lambda: _norm(f) + _norm(g))
            if status is not None:
                return status
            if stop:
                return Status.CALLBACK
            if err <= _STALL * err_old:
                continue
            sweeps = 1
        else:
            sweeps = 10
            level /= 10
        status = _sweeps(prob, f, g, run, min(sweeps, run.maxiter - run.nit))
        if status is not None:
            return status
        c, total, sel = scan(f, g, r, level * min(1.0, err))
        dual = float(a @ f + b @ g) - reg * total
        err = float(np.abs(r - a).sum() + np.abs(c - b).sum())
    return None


def _finish(prob: _CloudProblem, f, g, run: Run, status: Status, max_plan_bytes, max_sparse_bytes, delta):
    """Measure the plan of (f, g) on the fly (marginals, cost) and build the result."""
    n, m = prob.n, prob.m
    reg = prob.reg
    r = np.empty(n)
    chunk_cols = np.empty_like(prob.work_x)
    cost_n = float(_kernels.cloud_marginals(prob.X, prob.YT, f, g, reg, prob.metric, r, chunk_cols, prob.work_x))
    c = chunk_cols.sum(0)
    del chunk_cols
    status, err_n, total_n, value_n, floor = measure_plan(prob, f, g, r, c, cost_n, status, run.tol)
    N, Mc = prob.shape
    plan = None
    if 8 * N * Mc <= max_plan_bytes:
        P = np.empty((n, m))
        _kernels.cloud_plan(prob.X, prob.YT, f, g, reg, prob.metric, P)
        if prob.mass != 1.0:
            P *= prob.mass
        if prob.rows is None and prob.cols is None:
            plan = P
        else:
            plan = np.zeros((N, Mc))
            plan[np.ix_(np.arange(n) if prob.rows is None else prob.rows,
                        np.arange(m) if prob.cols is None else prob.cols)] = P
    plan_sparse = _Deferred(_sparse_pairs, prob.X, prob.YT, f.copy(), g.copy(), reg, prob.metric, r, delta,
                            prob.mass, prob.rows, prob.cols, prob.shape, max_sparse_bytes, prob.work_x.shape[0])
    where = f"The marginal error is {err_n:.3g} sum(a) (`tol` = {run.tol:g} bounds it relative to sum(a))"
    if status is Status.MAXITER:
        detail = f"{where}; {_ADVICE}"
    elif status is Status.ROUNDING_FLOOR:
        detail = (f"{where}; rounding alone leaves about {floor:.2g} sum(a) at reg = {reg:.3g} with potentials "
                  f"of max|f| + max|g| = {_norm(f) + _norm(g):.3g}: a larger `reg` lowers it.")
    else:
        detail = ""
    return OTResult(x=plan, status=status, detail=detail, nit=run.nit, plan=plan, plan_sparse=plan_sparse,
                    potentials=prob.potentials(f, g), cost=prob.mass * cost_n, value=prob.mass * value_n
                    + prob.mass * prob._offset() * total_n, marginal_error=err_n * prob.mass,
                    nit_sinkhorn=run.nit_sinkhorn, nit_newton=run.nit_newton, nit_cg=run.nit_cg,
                    history=run.history(), reg=prob.user_reg, method=run.method)


def _sparse_pairs(X, YT, f, g, reg, metric, r, delta, mass, rows, cols, shape, max_bytes, chunks):
    """CSR of the pairs with P_ij >= delta r_i / m (the dropped mass is at most delta sum(P)), counted
    first and refused before allocating when it would exceed ``max_bytes``."""
    import scipy.sparse as sp

    n, m = X.shape[0], YT.shape[1]
    with np.errstate(divide="ignore"):
        log_cut = np.log(delta * r / m) if delta > 0 else np.full(n, -math.inf)
    indptr = np.empty(n + 1, dtype=np.int64)
    empty = np.empty(0, dtype=np.int32 if m < 2**31 else np.int64)
    work = np.empty((chunks, m))
    _kernels.cloud_select(X, YT, f, g, reg, metric, log_cut, indptr, empty, np.empty(0), False, work)
    nnz = int(indptr[-1])
    if 12 * nnz > max_bytes:
        raise ValueError(f"empirical_sinkhorn: `plan_sparse` would keep {nnz} pairs ({12 * nnz / 2**20:.1f} MiB), "
                         f"more than `max_sparse_bytes` = {max_bytes}; raise it, raise `delta`, or use the "
                         "potentials (P = exp((f + g - C) / reg)) directly.")
    indices = np.empty(nnz, dtype=np.int32 if m < 2**31 else np.int64)
    data = np.empty(nnz)
    _kernels.cloud_select(X, YT, f, g, reg, metric, log_cut, indptr, indices, data, True, work)
    if mass != 1.0:
        data *= mass
    S = sp.csr_array((data, indices, indptr), shape=(n, m))
    if rows is None and cols is None:
        return S
    S = S.tocoo()
    ri = S.row if rows is None else rows[S.row]
    ci = S.col if cols is None else cols[S.col]
    return sp.csr_array((S.data, (ri, ci)), shape=shape)
