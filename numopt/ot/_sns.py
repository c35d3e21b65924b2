"""Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024): log-domain Sinkhorn, then sparsified Newton steps."""

from __future__ import annotations

import math

import numpy as np

from .._result import Status, finish
from .._validation import check_choice, check_int, check_no_extra, check_scalar
from ..linalg._cg import cg_core
from . import _kernels
from ._common import (OTResult, Problem, Run, Scaling, check_common, fast_sweeps, finish_plan, kept_entries,
                      newton_line_search)

__all__ = ["sinkhorn_newton_sparse"]

#: The Newton line search's halvings (:func:`~numopt.ot._common.newton_line_search`).
_MAX_BACKTRACKS = 40
_FALLBACK_SWEEPS = 10
#: An accepted Newton step that leaves the marginal error above this share of the previous one is
#: followed by one Sinkhorn sweep.
_STALL = 0.5
_MARGINAL_FLOOR = 1e-20
_ABS_FLOOR = 1e-30
_OPTIONS = ("delta", "density", "cg_maxiter", "cg_rtol", "reg_init", "reg_factor", "switch_sweeps")
#: The cost model of the default Sinkhorn/Newton switch (``switch_sweeps="auto"``), in seconds on this
#: class of machine: a pass over an n x m kernel by BLAS costs about _ENTRY_S per entry, an indexed CSR
#: pass about _CSR_FACTOR times more per kept entry; each sweep or CG iteration costs _CALL_S of Python
#: on top, each Newton step _STEP_S (histogram, selection, line search bookkeeping) and about 4 passes.
_ENTRY_S = 1e-9
_CSR_FACTOR = 1.0 / 0.3
_CALL_S = 2e-5
_STEP_S = 3e-4
#: Newton steps a phase is assumed to take, and CG iterations per step per sqrt of the condition number
#: 1 / (1 - rate) that Sinkhorn's linear rate reveals (measured 2-3 on colour-transfer and cloud plans).
_NEWTON_STEPS = 4
_CG_PER_SQRT_KAPPA = 3.0
#: The rate is measured over at least this many sweeps of the stage (the first sweeps after a change of
#: reg decay much faster than the asymptotic rate), and re-predicted after every chunk of sweeps.
_MIN_RATE_WINDOW = 5
_SWITCH_CHUNK = 25
#: With ``reg_init="auto"``, epsilon-scaling starts at this fraction of max(M) - min(M) when ``reg`` is below it.
_AUTO_REG_INIT = 1e-2
_REG_FACTOR = 10.0
#: Marginal error (relative to the mass) at which an intermediate epsilon-scaling stage hands over.
_STAGE_TOL = 1e-6
#: Sinkhorn sweeps at the start of each later epsilon-scaling stage (they restore the row/column scale).
_STAGE_SWEEPS = 2
#: When the sparsified Hessian would keep more than this share of the plan's entries, the Newton system
#: uses the exact Hessian through dense BLAS products with the kernel instead (a CSR product costs
#: 12 bytes and an indexed access per kept entry, a dense one 8 bytes per entry, streamed).
DENSE_SHARE = 0.3


def sinkhorn_newton_sparse(a, b, M, reg, *, tol=1e-9, maxiter=1000, sinkhorn_maxiter=20, sparsity="mass",
                           callback=None, verbose=False, **options) -> OTResult:
    r"""Entropic optimal transport by Sinkhorn-Newton-Sparse (SNS).

    Solves

    .. math::

        \min_{P \ge 0,\ P\mathbf 1 = a,\ P^\top \mathbf 1 = b}
        \ \langle P, M\rangle + \varepsilon \sum_{ij} P_{ij} (\log P_{ij} - 1)

    through its concave dual (the Lyapunov potential of the paper, with :math:`\varepsilon = 1/\eta`)

    .. math::

        D(f, g) = \langle a, f\rangle + \langle b, g\rangle - \varepsilon \sum_{ij} e^{(f_i + g_j - M_{ij})/\varepsilon},
        \qquad P = e^{(f \oplus g - M)/\varepsilon}.

    Stage 1 runs ``sinkhorn_maxiter`` Sinkhorn sweeps (exact block ascent on :math:`D`), in the
    scaling domain of :func:`sinkhorn_knopp` (BLAS matrix-vector products with the Gibbs kernel,
    absorption, log-domain sweeps where the kernel underflows). Then Sinkhorn goes on while its
    observed linear rate (geometric mean over the last 10 sweeps) predicts ``tol`` in fewer sweeps
    than a Newton phase would cost (re-predicted every 25 sweeps). That cost is predicted from this
    plan: one histogram pass gives the density of the sparsified Hessian, which prices a CG iteration
    (a dense BLAS pass, or a CSR pass over the kept entries), and the rate gives the condition number
    that sets the CG iterations. So at large ``reg`` (tens of sweeps to ``tol``) Sinkhorn alone
    finishes, and on dense plans at moderate ``reg`` Newton takes over. This switch is numopt's
    addition to the paper (``switch_sweeps=0`` gives the paper's fixed :math:`N_1`; an integer
    ``switch_sweeps`` replaces the predicted cost by that many sweeps).
    Stage 2 takes Newton steps on :math:`D`: its Hessian
    :math:`-\frac1\varepsilon\begin{bmatrix}\mathrm{diag}(P\mathbf 1) & P\\ P^\top & \mathrm{diag}(P^\top\mathbf 1)\end{bmatrix}`
    is approximated by keeping the diagonal blocks exact and replacing the off-diagonal :math:`P` by a
    sparse :math:`S` (which keeps it negative definite); the Newton system is reduced to the Schur
    complement on the smaller block, projected off the gauge direction :math:`(\mathbf 1, -\mathbf 1)`,
    and solved by Jacobi-preconditioned conjugate gradients (:func:`numopt.linalg.cg`'s core). When
    the sparsified block would keep more than 30 % of the entries (spread plans: clustered data,
    moderate ``reg``), the exact Hessian is used instead, through two BLAS products with the kernel per
    CG iteration (no CSR; exact Newton converges quadratically: 3 steps from 20 sweeps on 2500-pixel
    colour transfer at ``reg = 0.01``, where Sinkhorn needs 249 sweeps). An
    Armijo backtracking line search on :math:`D` keeps the ascent monotone; steps are first clipped
    so that no log-plan entry moves by more than 50, and a failed or non-finite Newton step is
    replaced by 10 Sinkhorn sweeps (and a 10x denser sparsification). The Newton steps work in the
    scaling domain too: the plan of any trial potentials is :math:`\mathrm{diag}(u) K \mathrm{diag}(v)`
    with the kernel :math:`K` of the last absorption, so the marginals (line search included) are two
    BLAS products and the sparsification is one parallel pass over :math:`K` that bins entries by
    their float64 bits (no exp, no log); :math:`K` is formed again, in the log domain's shifted form,
    whenever :math:`u` or :math:`v` would leave :math:`[10^{-50}, 10^{50}]`, so nothing overflows or
    underflows for ``reg`` down to ``1e-4 * max(M)`` and beyond. Each Newton step costs a few passes
    over :math:`K` plus CG on a matrix with tens of entries per row: :math:`O(nm)`, like a Sinkhorn
    sweep. The n x m buffer of :math:`K` becomes the returned plan,
    so the solve holds one dense n x m array besides ``M``.

    Epsilon-scaling. When ``reg`` is small against the spread of the costs, the potentials must
    travel far from the zero start, which Sinkhorn does by about ``reg`` per sweep and Newton only
    with tiny steps (tried: 179 Newton steps on a 30 x 40 uniform problem at ``reg = 1e-4 max(M)``;
    a 1-D W1 grid at ``reg = 1e-3`` sat at marginal error 1.7 through the whole Sinkhorn stage). So
    the solve starts at ``reg_init`` (default ``1e-2 * (max(M) - min(M))`` when that exceeds ``reg``)
    and divides the regularization by ``reg_factor`` (default 10) per stage down to ``reg``; each
    stage is warm-started from the previous potentials (which are in the units of ``M``), runs 2
    Sinkhorn sweeps (``sinkhorn_maxiter`` in the first stage) and Newton steps to a marginal error
    of ``1e-6 * sum(a)``; the last stage runs to ``tol``. Newton steps, all stages:
    30 x 40 uniform at ``reg = 1e-4 max(M)``: 35 (179 without); 200 x 300: 33 (failed without);
    1-D W1 grid n = 1000 at ``reg = 1e-3``: 15 (60 without). ``reg_init=reg`` turns it off. Each
    stage takes at least one iteration, so a schedule of more than ``maxiter`` stages (``reg_factor``
    close to 1) is cut to its last ``maxiter`` stages. The per-iteration ``history["reg"]`` says which stage an iteration
    belongs to; ``history["dual"]`` is nondecreasing within a stage.

    Scale. The solve works on the normalized problem: ``a`` and ``b`` divided by their total mass,
    ``M`` less ``min(M)`` where that exceeds the spread ``max(M) - min(M)`` (at ``M + 1e8`` and
    ``reg = 0.01`` one ulp of a potential of size 1e8 would move the plan by 2e-6), and ``M`` and
    ``reg`` divided by a power of two where the spread is outside :math:`[2^{-500}, 2^{500}]`. So
    the plan of ``(s a, s b, t M + c, t reg)`` is ``s`` times the plan of ``(a, b, M, reg)`` for any
    ``s, t > 0`` and shift ``c`` (to rounding of the data), and ``tol`` is relative to the mass.
    ``M`` is copied only where the shift or the rescaling applies. The rounding of the potentials
    bounds the attainable accuracy: about :math:`2 u (\|f\|_\infty + \|g\|_\infty) / \varepsilon`
    relative to the mass (u = 2.2e-16, potentials of the normalized problem, ~ the spread of ``M``);
    a run whose marginal error stalls there (10 iterations without a new minimum) ends with
    ``status=Status.ROUNDING_FLOOR``, a success. Below ``reg = 1e-12 (max(M) - min(M))`` that floor
    exceeds 1e-4 (at 1e-100 one ulp moves the plan by :math:`e^{10^{84}}`): such ``reg`` is refused.

    Parameters
    ----------
    a, b : array_like, shape (n,) and (m,), or None
        Nonnegative marginals with equal, finite total mass (to a relative 1e-6; ``b`` is then
        rescaled to the mass of ``a``); any mass from the smallest to the largest double. None or an
        empty ``[]`` (POT's convention) means uniform weights summing to 1. Zero entries are allowed: their rows/columns are removed, and
        get a zero plan and ``-inf`` potentials.
    M : array_like, shape (n, m)
        Finite cost matrix.
    reg : float
        Entropic regularization :math:`\varepsilon > 0`, in the units of ``M`` (POT's ``reg``; the
        paper's :math:`\eta = 1/\varepsilon`); at least ``1e-12 * (max(M) - min(M))`` (see Scale).
    tol : float, default 1e-9
        Stop when the L1 marginal error relative to the total mass,
        :math:`(\|P\mathbf 1 - a\|_1 + \|P^\top\mathbf 1 - b\|_1) / \sum_i a_i`, is at most
        ``tol`` (for weights summing to 1 the absolute L1 error).
    maxiter : int, default 1000
        Budget on the total number of iterations (Sinkhorn sweeps + Newton steps).
    sinkhorn_maxiter : int, default 20
        Sinkhorn sweeps before the Newton stage (the paper's :math:`N_1`; it uses 700 for L1 costs).
    sparsity : {"mass", "topk"}, default "mass"
        How the off-diagonal Hessian block is sparsified. ``"mass"`` drops the smallest entries of
        :math:`P` up to a share ``delta`` of its mass (adapts to the problem: 7 entries per row on a
        random assignment problem, ~90 on 2-D point clouds at ``reg = 1e-3``). ``"topk"`` keeps the
        ``density * n * m`` largest entries, as in the paper (:math:`\lambda = 2/n`: 2 per row).
        Iterations (``python -m bench ot``, case ``sparsity``, tol 1e-10, which also prints the
        times): assignment n = 500, reg = 1/1200: ``"mass"`` 16 sweeps + 9 Newton steps; ``"topk"``
        57 + 45. Point clouds n = 1000, reg = 1e-3: ``"mass"`` 128 + 5; ``"topk"`` 1401 + 1275 (each
        step barely moves: 2 entries per row make the approximate Hessian nearly diagonal). Both
        converge; ``"mass"`` takes far fewer iterations.
    callback : callable, optional
        ``callback(intermediate_result)`` after every iteration, with an :class:`OTResult` whose
        ``plan`` is None; raising ``StopIteration`` stops the solve (``status=Status.CALLBACK``).
    verbose : bool, default False
        Print one row per iteration.
    **options
        ``delta`` (float, default 1e-4; 1e-6 is better for W1 costs), ``density`` (float, default
        ``min(1, 2 / max(n, m))``), ``cg_maxiter`` (int, default ``max(100, 10 * min(n, m))``: at tiny
        ``reg`` the Schur complement is a badly conditioned weighted tree Laplacian and a truncated
        CG made Newton stall), ``cg_rtol`` (float, default: ``min(0.1, marginal error / sum(a))``, at
        least 1e-12, an inexact-Newton forcing term), ``reg_init`` (float >= ``reg`` or ``"auto"``)
        and ``reg_factor`` (float > 1), see Epsilon-scaling above; ``switch_sweeps`` (int >= 0, or
        ``"auto"``, the default: the predicted cost of a Newton phase), see Stage 1 above. Any other
        keyword is a TypeError.

    Returns
    -------
    OTResult
        ``plan``, ``plan_sparse``, ``potentials``, ``cost``, ``value``, ``marginal_error``, iteration
        counts and the per-iteration ``history``. ``status`` is SUCCESS, or ROUNDING_FLOOR (also a
        success) when the marginal error stalled at the rounding floor above ``tol`` (see Scale).

    Raises
    ------
    ValueError
        ``a``/``b`` negative, non-finite, not 1-D, with lengths not matching ``M``, with different
        or overflowing total masses; ``M`` non-finite; ``reg <= 0`` or below
        ``1e-12 * (max(M) - min(M))`` (the message names the offending entry).
    TypeError
        Unknown keyword, or arguments of the wrong type.

    Warns
    -----
    numopt.ConvergenceWarning
        When ``maxiter`` is reached before ``tol`` (``success`` is False); the message gives the
        relative marginal error reached.

    See Also
    --------
    sinkhorn : the same problem by log-domain Sinkhorn, or any method by name.

    References
    ----------
    X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil, T. Xiao, L. Ying,
    "Accelerating Sinkhorn algorithm with sparse Newton iterations", ICLR 2024, arXiv:2401.12253.

    Examples
    --------
    A 3-point assignment: at small ``reg`` the plan concentrates on the optimal permutation.

    >>> import numpy as np
    >>> from numopt.ot import sinkhorn_newton_sparse
    >>> M = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    >>> res = sinkhorn_newton_sparse(None, None, M, 0.05, tol=1e-12)
    >>> res.success, res.marginal_error <= 1e-12
    (True, True)
    >>> np.round(3 * res.plan, 6)
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """
    func = "sinkhorn_newton_sparse"
    prob = Problem(a, b, M, reg, func)
    tol, maxiter = check_common(tol, maxiter, callback, func)
    sinkhorn_maxiter = check_int(sinkhorn_maxiter, "sinkhorn_maxiter", func, low=0)
    sparsity = check_choice(sparsity, "sparsity", func, ("mass", "topk"))
    check_no_extra(options, func, _OPTIONS)
    n, m = prob.M.shape
    delta = check_scalar(options.get("delta", 1e-4), "delta", func, low=0.0, high=1.0, high_inclusive=False)
    density = check_scalar(options.get("density", min(1.0, 2.0 / max(n, m))), "density", func, low=0.0, high=1.0,
                           low_inclusive=False)
    cg_maxiter = check_int(options.get("cg_maxiter", max(100, 10 * min(n, m))), "cg_maxiter", func, low=1)
    cg_rtol = options.get("cg_rtol")
    if cg_rtol is not None:
        cg_rtol = check_scalar(cg_rtol, "cg_rtol", func, low=0.0, high=1.0, low_inclusive=False)

    spread = prob.spread  # of the normalized M: finite
    reg_init = options.get("reg_init", "auto")
    if isinstance(reg_init, str) and reg_init == "auto":
        reg_init = max(prob.reg, _AUTO_REG_INIT * spread)
    else:
        # (in the normalized units; a power-of-two scale below 1 could overflow a huge reg_init)
        reg_init = min(check_scalar(reg_init, "reg_init", func, low=prob.user_reg) / prob.scale, 1e308)
    reg_factor = check_scalar(options.get("reg_factor", _REG_FACTOR), "reg_factor", func, low=1.0,
                              low_inclusive=False)
    stages = _reg_schedule(prob.reg, reg_init, reg_factor, max(maxiter, 1))
    switch_sweeps = options.get("switch_sweeps", "auto")
    if not (isinstance(switch_sweeps, str) and switch_sweeps == "auto"):
        switch_sweeps = check_int(switch_sweeps, "switch_sweeps", func, low=0)

    run = Run(prob, "sns", tol, maxiter, callback, verbose)
    f, g = np.zeros(n), np.zeros(m)
    # the scaling-domain kernel during Sinkhorn sweeps, and the returned plan's storage at the end
    work = np.empty((n, m))
    scaling = Scaling(work)
    status, plan_ready = None, False
    for k, reg_k in enumerate(stages):
        last = k == len(stages) - 1
        stage = prob.with_reg(reg_k)
        run.prob = stage
        # intermediate stages only need to land in the Newton basin of the next one
        run.tol = tol if last else max(tol, _STAGE_TOL)
        sweeps = sinkhorn_maxiter if k == 0 else min(sinkhorn_maxiter, _STAGE_SWEEPS)
        start = run.nit
        status, plan_ready = fast_sweeps(stage, f, g, run, min(sweeps, maxiter - run.nit), scaling)
        if status is None:
            newton_cost = (switch_sweeps if switch_sweeps != "auto" else
                           _NewtonCost(stage, f, g, scaling, sparsity, delta, density, cg_maxiter))
            status, plan_ready = _more_sweeps(stage, f, g, run, scaling, start, newton_cost)
        if status is None:
            status = _newton_stage(stage, f, g, run, scaling, sparsity, delta, density, cg_maxiter, cg_rtol)
            plan_ready = False
        if not status.success or last:
            break
    run.prob, run.tol = prob, tol  # on an early stop the plan is formed at the requested reg (not a success)
    plan = work if plan_ready and status.success else scaling.plan(prob, f, g)
    result = finish_plan(prob, f, g, run, status, delta_sparse=delta if delta > 0 else 1e-4, plan=plan,
                         advice=_MAXITER_ADVICE)
    return finish(result, func)


#: What to try when SNS stops at ``maxiter``.
_MAXITER_ADVICE = ("raise `maxiter`, loosen `tol` or increase `reg`; where Newton steps stall (small "
                   "history['step']), a denser Hessian (smaller `delta`, or sparsity='mass' instead of 'topk') "
                   "or a larger `cg_maxiter` helps.")


class _NewtonCost:
    """The predicted cost of a Newton phase, in Sinkhorn sweeps, from the density of this plan's
    sparsified Hessian (one histogram pass, measured once per stage) and Sinkhorn's observed rate."""

    def __init__(self, prob: Problem, f, g, scaling: Scaling, sparsity, delta, density, cg_maxiter):
        self.args = (prob, f, g, scaling, sparsity, delta, density)
        self.cg_maxiter = cg_maxiter
        self.kept = None

    def sweeps(self, rate: float, err: float, need: float) -> float:
        """The cost; when ``need`` sweeps are below the cost of the sparsest Newton phase, that lower
        bound (without the histogram pass and its scratch arrays)."""
        prob, f, g, scaling, sparsity, delta, density = self.args
        n, m = prob.M.shape
        if self.kept is None:
            self.kept = 0
            if need <= self.sweeps(rate, err, need):
                self.kept = None
                return need
            u, v = scaling.scalings(prob, f, g)
            level = delta * min(1.0, err) if sparsity == "mass" else density
            self.kept = kept_entries(scaling.K, u, v, sparsity, level)
        entries = n * m
        dense = self.kept > DENSE_SHARE * entries
        sweep = entries * _ENTRY_S + _CALL_S
        cg = (entries if dense else _CSR_FACTOR * self.kept) * _ENTRY_S + _CALL_S
        cg_its = min(self.cg_maxiter, _CG_PER_SQRT_KAPPA * math.sqrt(1.0 / (1.0 - rate)))
        step = 4 * entries * _ENTRY_S + _STEP_S + cg_its * cg
        return _NEWTON_STEPS * step / sweep


def _more_sweeps(prob: Problem, f, g, run: Run, scaling: Scaling, start: int, budget):
    """Go on with Sinkhorn sweeps while their linear rate predicts ``run.tol`` within ``budget`` sweeps
    (an int, or a :class:`_NewtonCost`: the predicted cost of the Newton phase).

    The rate is the geometric mean of the error ratios over the last 5 to 10 sweeps of this stage
    (those since iteration ``start``; with fewer, Newton takes over); the prediction is renewed after
    every chunk of at most 25 sweeps. Returns ``(status, plan_ready)`` as :func:`fast_sweeps`; ``(None, False)`` hands over to Newton.
    """
    errors = run.hist["marginal_error"]
    cost = budget if isinstance(budget, _NewtonCost) else None
    while run.nit < run.maxiter:
        window = min(10, run.nit - start - 1)
        if window < _MIN_RATE_WINDOW:
            return None, False
        rate = (errors[-1] / errors[-1 - window]) ** (1.0 / window) if errors[-1 - window] > 0 else 1.0
        if not 0.0 < rate < 1.0:
            return None, False
        need = math.ceil(math.log(run.tol * prob.mass / errors[-1]) / math.log(rate))  # history is in units of a
        if cost is not None:
            budget = cost.sweeps(rate, errors[-1] / prob.mass, need)
        if need > budget or budget <= 0:
            return None, False
        chunk = min(max(need, 1), _SWITCH_CHUNK, budget, run.maxiter - run.nit)
        status, plan_ready = fast_sweeps(prob, f, g, run, chunk, scaling)
        budget -= chunk
        if status is not None:
            return status, plan_ready
    return None, False


def _reg_schedule(reg, reg_init, factor, max_stages):
    """Decreasing regularizations reg_init, reg_init / factor, ..., ending exactly at reg: the last
    ``max_stages`` of them (the largest are dropped where there would be more; each stage takes at
    least one iteration of the ``maxiter`` budget, so more could never run)."""
    limit = reg * (1 + 1e-9) * 1.5
    if not reg_init > limit:
        return [reg]
    # number of stages above the limit: reg_init / factor**j > limit for j < count (up to rounding)
    count = math.ceil((math.log(reg_init) - math.log(limit)) / math.log(factor))
    if count < max_stages:
        stages = []
        r = reg_init
        while r > limit:
            stages.append(r)
            r /= factor
    else:
        log_init, log_factor = math.log(reg_init), math.log(factor)
        stages = [r for r in (math.exp(log_init - j * log_factor) for j in range(count - max_stages + 1, count + 1))
                  if r > limit]
    stages.append(reg)
    return stages[-max_stages:]


def _newton_stage(prob: Problem, f, g, run: Run, scaling: Scaling, sparsity, delta, density, cg_maxiter, cg_rtol):
    """Newton iterations on (f, g) in place until tol, maxiter, a callback stop or a non-finite state."""
    M, a, b, reg = prob.M, prob.a, prob.b, prob.reg
    n, m = M.shape
    r, c = np.empty(n), np.empty(m)
    rt, ct = np.empty(n), np.empty(m)
    total = scaling.marginals(prob, f, g, r, c)
    dual = float(a @ f + b @ g) - reg * total
    err = float(np.abs(r - a).sum() + np.abs(c - b).sum())
    if not math.isfinite(dual):
        return Status.NONFINITE
    if err <= run.tol:
        return Status.SUCCESS
    buffers: dict = {}
    level = delta if sparsity == "mass" else density
    while run.nit < run.maxiter:
        lvl = level * min(1.0, err) if sparsity == "mass" else level
        # a non-finite direction is detected below and replaced by Sinkhorn sweeps: no warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            direction = _newton_direction(prob, f, g, r, c, scaling, sparsity, lvl, cg_maxiter,
                                          cg_rtol if cg_rtol is not None else min(0.1, max(err, 1e-12)),
                                          buffers)
        step = None
        if direction is not None:
            df, dg, cg_nit, nnz = direction
            step = newton_line_search(a, b, f, g, df, dg, r, c, total, dual, reg,
                                      lambda ft, gt: scaling.marginals(prob, ft, gt, rt, ct), _MAX_BACKTRACKS)
        if step is not None:
            alpha, ft, gt, total_t, dual_t = step
            f[:], g[:] = ft, gt
            r, rt = rt, r
            c, ct = ct, c
            total, dual = total_t, dual_t
            err_old = err
            err = float(np.abs(r - a).sum() + np.abs(c - b).sum())
            stop = run.record(f, g, err, dual, newton=True, step=alpha, cg_nit=cg_nit, nnz_per_row=nnz / n)
            status = run.converged(err, lambda: float(np.abs(f).max() + np.abs(g).max()))
            if status is not None:
                return status
            if stop:
                return Status.CALLBACK
            if err <= _STALL * err_old or run.nit >= run.maxiter:
                continue
            # Stalled Newton step: typically rows/columns of tiny mass whose marginal is off by orders
            # of magnitude (Newton moves their log by ~1 per step, or the clip scales the whole step
            # down); one Sinkhorn sweep rescales them exactly.
            status, _ = fast_sweeps(prob, f, g, run, 1, scaling)
            if status is not None:
                return status
            total = scaling.marginals(prob, f, g, r, c)
            dual = float(a @ f + b @ g) - reg * total
            err = float(np.abs(r - a).sum() + np.abs(c - b).sum())
            continue
        # Fallback: Sinkhorn sweeps, and a denser Hessian for the next Newton step.
        sweeps = min(_FALLBACK_SWEEPS, run.maxiter - run.nit)
        status, _ = fast_sweeps(prob, f, g, run, sweeps, scaling)
        if status is not None:
            return status
        level = min(level * 10, 1.0) if sparsity == "topk" else level / 10
        total = scaling.marginals(prob, f, g, r, c)
        dual = float(a @ f + b @ g) - reg * total
        err = float(np.abs(r - a).sum() + np.abs(c - b).sum())
    return Status.MAXITER


def _newton_direction(prob: Problem, f, g, r, c, scaling: Scaling, sparsity, level, cg_maxiter, cg_rtol, buffers):
    """(df, dg, cg_nit, nnz) solving the sparsified Newton system, or None if it is not finite."""
    M, a, b, reg = prob.M, prob.a, prob.b, prob.reg
    n, m = M.shape
    # within a stage the kept share only grows (the mass rule's level shrinks with the error): once
    # dense, the histogram pass that decides it is skipped
    selected = None if buffers.get("dense") else scaling.selection(prob, f, g, sparsity, level, buffers,
                                                                   DENSE_SHARE)
    buffers["dense"] = selected is None
    ga, gb = a - r, b - c
    # An underflowed marginal (far from the solution) would make the Newton system infinite or
    # overflow CG. The floor bounds |ga_i / r_i| by 1e20 and every diagonal entry below by 1e-30 of
    # the largest mass; rows this light carry nothing at any useful tol, and the Sinkhorn sweep
    # after a stalled Newton step rescales them.
    r = np.maximum(r, np.maximum(_MARGINAL_FLOOR * a, _ABS_FLOOR * prob.amax))
    c = np.maximum(c, np.maximum(_MARGINAL_FLOOR * b, _ABS_FLOOR * prob.bmax))
    if selected is None:
        return _dense_newton_direction(prob, f, g, r, c, ga, gb, scaling, cg_maxiter, cg_rtol)
    return sparse_newton_direction(*selected, r, c, ga, gb, reg, cg_maxiter, cg_rtol)


def _schur_cg(matvec, rhs, diag, lower, cg_rtol, cg_maxiter):
    """CG on a Newton system's Schur complement, singular along the constants (f + c, g - c is the same
    plan): ``rhs`` is made mean-free (in place) and the Jacobi preconditioner, the diagonal ``diag``
    clipped below at ``lower``, returns mean-free vectors. Returns :func:`~numopt.linalg._cg.cg_core`'s
    result."""
    rhs -= rhs.mean()
    inv_diag = 1.0 / np.maximum(diag, lower)
    zbuf = np.empty_like(rhs)

    def precond(v):
        z = np.multiply(v, inv_diag, out=zbuf)
        z -= z.mean()
        return z

    return cg_core(matvec, rhs, rtol=cg_rtol, maxiter=cg_maxiter, precond=precond)


def sparse_newton_direction(indptr, indices, data, r, c, ga, gb, reg, cg_maxiter, cg_rtol):
    """(df, dg, cg_nit, nnz) solving the Newton system whose off-diagonal block is the CSR (indptr,
    indices, data), with the (floored) marginals r, c and the gradients ga = a - r, gb = b - c; None
    when it is not finite."""
    n, m = r.shape[0], c.shape[0]
    # the kernels write into their last argument and return nothing (see numopt.ot._kernels)
    if m <= n:  # Schur complement on the column block: (D_c - S^T D_r^-1 S) y = gb - S^T D_r^-1 ga
        r_inv = 1.0 / r
        rhs = np.empty(m)
        _kernels.csr_product_into(indptr, indices, data, r_inv * ga, True, rhs)
        np.subtract(gb, rhs, out=rhs)
        diag = np.empty(m)
        _kernels.schur_diagonal(indptr, indices, data, r, c, True, diag)
        floor = 1e-12 * c
        out = np.empty(m)

        def matvec(v):
            _kernels.schur_cols_matvec(indptr, indices, data, r_inv, c, v, out)
            return out
    else:  # on the row block: (D_r - S D_c^-1 S^T) x = ga - S D_c^-1 gb
        c_inv = 1.0 / c
        rhs = np.empty(n)
        _kernels.csr_product_into(indptr, indices, data, c_inv * gb, False, rhs)
        np.subtract(ga, rhs, out=rhs)
        diag = np.empty(n)
        _kernels.schur_diagonal(indptr, indices, data, r, c, False, diag)
        floor = 1e-12 * r
        out, w = np.empty(n), np.empty(m)

        def matvec(v):
            _kernels.schur_rows_matvec(indptr, indices, data, c_inv, r, v, w, out)
            return out

    res = _schur_cg(matvec, rhs, diag, floor + 1e-300, cg_rtol, cg_maxiter)
    sol = res.x
    if m <= n:
        y, x = sol, np.empty(n)
        _kernels.csr_product_into(indptr, indices, data, y, False, x)
        x = r_inv * (ga - x)
    else:
        x, y = sol, np.empty(m)
        _kernels.csr_product_into(indptr, indices, data, x, True, y)
        y = c_inv * (gb - y)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    return reg * x, reg * y, res.nit, indices.shape[0]


def _dense_newton_direction(prob: Problem, f, g, r, c, ga, gb, scaling: Scaling, cg_maxiter, cg_rtol):
    r"""The Newton direction with the exact Hessian, for plans whose kept entries would be more than
    :data:`DENSE_SHARE` of all: the Schur complement's products are two BLAS matrix-vector products
    with the kernel, :math:`P y = u \circ K (v \circ y)` (no CSR, nothing of size n x m allocated);
    preconditioned by the diagonal blocks (the diagonal of :math:`P^\top D_r^{-1} P` is negligible on a
    plan this spread). Returns (df, dg, cg_nit, nnz) as :func:`_newton_direction`, or None."""
    reg = prob.reg
    K = scaling.K
    n, m = K.shape
    u, v = scaling.scalings(prob, f, g)
    if m <= n:  # (D_c - P^T D_r^-1 P) y = gb - P^T D_r^-1 ga
        w = u * u / r
        rhs = gb - v * (K.T @ (u * ga / r))
        diag = c
        t, out = np.empty(n), np.empty(m)

        def matvec(y):
            np.dot(K, v * y, out=t)
            np.multiply(t, w, out=t)
            np.dot(K.T, t, out=out)
            np.multiply(out, v, out=out)
            np.subtract(c * y, out, out=out)
            np.subtract(out, out.mean(), out=out)
            return out
    else:  # (D_r - P D_c^-1 P^T) x = ga - P D_c^-1 gb
        w = v * v / c
        rhs = ga - u * (K @ (v * gb / c))
        diag = r
        t, out = np.empty(m), np.empty(n)

        def matvec(x):
            np.dot(K.T, u * x, out=t)
            np.multiply(t, w, out=t)
            np.dot(K, t, out=out)
            np.multiply(out, u, out=out)
            np.subtract(r * x, out, out=out)
            np.subtract(out, out.mean(), out=out)
            return out

    res = _schur_cg(matvec, rhs, diag, 1e-300, cg_rtol, cg_maxiter)
    sol = res.x
    if m <= n:
        y = sol
        x = (ga - u * (K @ (v * y))) / r
    else:
        x = sol
        y = (gb - v * (K.T @ (u * x))) / c
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    return reg * x, reg * y, res.nit, n * m
