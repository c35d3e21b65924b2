"""Pieces shared by the OT solvers: the result type, the problem on the support of the marginals, the
log-domain Sinkhorn sweep loop, iteration bookkeeping and the final plan pass."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Any

import numpy as np

from .._result import IterationPrinter, Result, Status, call_callback
from .._validation import as_ot_problem, check_callable, check_int, check_scalar, fail
from . import _kernels

__all__ = ["OTResult"]


class _Deferred:
    """A value computed on first access: ``func(*args)`` (picklable when ``func`` is a module-level function)."""

    __slots__ = ("func", "args")

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __call__(self):
        return self.func(*self.args)

    def __reduce__(self):
        return (_Deferred, (self.func, *self.args))


class _LazyField:
    """Dataclass field descriptor whose stored value may be a :class:`_Deferred`: it is computed on
    first read and cached in the instance (the dataclass default is None)."""

    def __set_name__(self, owner, name):
        self.key = "_lazy_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            return None  # the dataclass field's default
        value = obj.__dict__.get(self.key)
        if isinstance(value, _Deferred):
            value = obj.__dict__[self.key] = value()
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.key] = value


@dataclasses.dataclass(kw_only=True, repr=False)
class OTResult(Result):
    r"""Result of the entropic OT solvers of :mod:`numopt.ot`.

    Attributes
    ----------
    x : ndarray, shape (n, m)
        The transport plan (the same array as ``plan``).
    plan : ndarray, shape (n, m)
        The dense plan :math:`P_{ij} = \exp((f_i + g_j - M_{ij})/\varepsilon)` of the returned potentials
        (rows and columns of zero-mass entries of ``a``/``b`` are zero; entries below 1e-200 may be
        returned as 0, where the scaling domain flushed a kernel entry below 1e-300). None in the
        intermediate results passed to ``callback``.
    plan_sparse : scipy.sparse.csr_array, shape (n, m)
        ``plan`` with its smallest entries dropped, up to a share ``delta`` (default 1e-4) of its total
        mass (the same rule as SNS's Hessian sparsification). None in intermediate results. Built
        from ``plan`` on first access and then cached (a dense plan would cost 1.5 times the plan's
        memory and two passes over it: users who read only ``plan`` or ``cost`` do not pay for it).
    potentials : tuple of ndarray
        The dual potentials ``(f, g)``, in the units of ``M``; ``-inf`` on zero-mass entries. They are
        defined up to the gauge ``(f + t, g - t)``.
    cost : float
        The transport cost :math:`\langle P, M\rangle`.
    value : float
        The entropic objective :math:`\langle P, M\rangle + \varepsilon \sum_{ij} P_{ij}\log P_{ij}`
        (POT's convention), evaluated on the returned plan. For this plan it equals
        :math:`\langle P\mathbf 1, f\rangle + \langle P^\top \mathbf 1, g\rangle`.
    marginal_error : float
        :math:`\|P\mathbf 1 - a\|_1 + \|P^\top\mathbf 1 - b\|_1` of the returned plan, in the units of
        ``a``; ``tol * sum(a)`` bounds it on success (``tol`` is relative to the total mass).
    nit : int
        Total iterations: ``nit_sinkhorn + nit_newton``.
    nit_sinkhorn, nit_newton, nit_cg : int
        Sinkhorn sweeps (one row and one column update each), Newton steps, and conjugate-gradient
        iterations over all Newton steps.
    history : dict of ndarray
        Per iteration: ``"marginal_error"`` (of the iterate, as measured during that iteration, in
        the units of ``a``),
        ``"dual"`` (the dual objective
        :math:`\langle a, f\rangle + \langle b, g\rangle - \varepsilon\sum_{ij}P_{ij}`, nondecreasing),
        ``"newton"`` (True for Newton steps), ``"step"`` (line-search step, 1 for Sinkhorn),
        ``"cg_nit"`` and ``"nnz_per_row"`` (of the sparsified Hessian), ``"reg"`` (the
        regularization of the epsilon-scaling stage the iteration belongs to; ``"dual"`` is
        nondecreasing within a stage) and ``"time"`` (seconds spent in the iteration, callback
        excluded; summed over ``"newton"`` it gives the time per phase).
    reg : float
        The regularization used.
    method : str
        Which solver produced the result.
    """

    plan: Any = None
    plan_sparse: Any = _LazyField()
    potentials: tuple = ()
    cost: float = math.nan
    value: float = math.nan
    marginal_error: float = math.nan
    nit_sinkhorn: int = 0
    nit_newton: int = 0
    nit_cg: int = 0
    history: dict = dataclasses.field(default_factory=dict)
    reg: float = math.nan
    method: str = ""


#: ``reg`` below this share of max(M) - min(M) is refused: one ulp of a potential of the size of the
#: spread would move plan entries by 2e-4 or more (at reg = 1e-100 by e^(1e84)), so no plan with a
#: marginal error below ~1e-3 exists in double precision.
REG_SPREAD_MIN = 1e-12
#: M is rescaled internally (by a power of two, exactly) when its spread is outside [2^-500, 2^500].
_SPREAD_RANGE = 2.0**500


class Problem:
    """A validated OT problem restricted to the support of ``a`` and ``b`` (zero-mass entries removed),
    in normalized form: the solvers work on ``a / mass``, ``b / mass`` (total mass 1) and
    ``(M - shift) / scale`` with ``reg / scale``, which have the same plan up to the factor ``mass``.

    ``shift`` is min(M) when it exceeds the spread max(M) - min(M) (potentials of the size of min(M)
    would otherwise lose the spread's digits: at ``M + 1e8`` and ``reg = 0.01`` one ulp of a
    potential moves the plan by 2e-6); ``scale`` is a power of two, 1 unless the spread is below
    2^-500 or above 2^500 (or overflows). ``M`` is copied only when one of them applies (or rows or
    columns of zero mass are dropped). :meth:`potentials`, :meth:`cost`, :meth:`value` and
    :meth:`dual` map the normalized quantities back to the units of the input.
    """

    def __init__(self, a, b, M, reg, func):
        a, b, M, reg = as_ot_problem(a, b, M, reg, func)
        self.func = func
        self.shape = M.shape
        self.user_reg = reg
        self.rows = np.flatnonzero(a > 0) if (a == 0).any() else None
        self.cols = np.flatnonzero(b > 0) if (b == 0).any() else None
        if self.rows is not None:
            a, M = a[self.rows], M[self.rows]
        if self.cols is not None:
            b, M = b[self.cols], M[:, self.cols]
        mass = float(a.sum())
        if not math.isfinite(mass):
            raise fail(func, "a", "have a finite total mass", f"sum(a) = {mass}")
        #: total mass of the input marginals; the plan is ``mass`` times the normalized one
        self.mass = mass
        if mass != 1.0:
            a, b = a / mass, b / mass
        copied = self.rows is not None or self.cols is not None
        lo, hi = float(M.min()), float(M.max())
        half_spread = 0.5 * hi - 0.5 * lo  # finite even where hi - lo overflows
        scale = 1.0
        if half_spread > _SPREAD_RANGE or 0.0 < half_spread < 1.0 / _SPREAD_RANGE:
            scale = math.ldexp(1.0, math.frexp(half_spread)[1] - 1)  # half_spread / scale in [1, 2)
        shift = lo if abs(lo) > 2.0 * half_spread else 0.0
        if scale != 1.0 or shift != 0.0:
            M = M / scale if scale != 1.0 else (M.copy() if not copied else M)
            M -= shift / scale
            #: max(M) - min(M) of the normalized M (finite)
            self.spread = float(M.max()) - float(M.min())
        else:
            self.spread = hi - lo
        reg_n = reg / scale
        if not (reg_n >= REG_SPREAD_MIN * (half_spread / scale) * 2.0 and math.isfinite(1.0 / reg_n)):
            raise fail(func, "reg", f"be at least {REG_SPREAD_MIN:g} (max(M) - min(M)), where rounding "
                       "of the potentials leaves the plan undetermined",
                       f"reg = {reg:.6g} and max(M) - min(M) = {hi - lo:.6g}")
        self.shift, self.scale = shift, scale
        self.reg = reg_n
        self.a, self.b = a, b
        self.M = np.ascontiguousarray(M)
        self.loga, self.logb = np.log(a), np.log(b)
        self.amax, self.bmax = float(a.max()), float(b.max())
        #: sum(a) of the normalized problem (1 up to rounding)
        self.total = float(a.sum())

    def with_reg(self, reg: float) -> "Problem":
        """The same problem at another (normalized) regularization (arrays shared)."""
        if reg == self.reg:
            return self
        other = copy.copy(self)
        other.reg = float(reg)
        return other

    def user_units(self, reg: float) -> float:
        """A normalized regularization in the units of the input ``M``."""
        return reg * self.scale

    def _offset(self) -> float:
        """f = scale f_n + offset maps normalized row potentials to the input's units."""
        return self.shift + (self.user_reg * math.log(self.mass) if self.mass != 1.0 else 0.0)

    def potentials(self, f, g):
        """The potentials (f, g) of the input problem (full length, -inf on zero-mass entries) from
        normalized ones: P = mass P_n = exp((f + g - M) / reg)."""
        out = []
        offset = self._offset()
        for v, idx, size, off in ((f, self.rows, self.shape[0], offset), (g, self.cols, self.shape[1], 0.0)):
            v = v * self.scale + off if (self.scale != 1.0 or off != 0.0) else v.copy()
            if idx is None:
                out.append(v)
            else:
                full = np.full(size, -math.inf)
                full[idx] = v
                out.append(full)
        return tuple(out)

    embed_potentials = potentials

    def cost(self, cost_n: float, total_n: float) -> float:
        """<P, M> from <P_n, M_n> and sum(P_n)."""
        return self.mass * (self.scale * cost_n + self.shift * total_n)

    def value(self, value_n: float, total_n: float) -> float:
        """<P, M> + reg sum P log P from its normalized counterpart and sum(P_n)."""
        return self.mass * (self.scale * value_n + self._offset() * total_n)

    def dual(self, dual_n: float) -> float:
        """D(f, g) of the input problem from the normalized dual (sum(a_n) = 1)."""
        return self.mass * (self.scale * dual_n + self._offset())


def check_common(tol, maxiter, callback, func):
    tol = check_scalar(tol, "tol", func, low=0.0, low_inclusive=False)
    maxiter = check_int(maxiter, "maxiter", func, low=0)
    check_callable(callback, "callback", func)
    return tol, maxiter


#: A marginal error within this factor of :func:`rounding_floor` (a bound: measured errors at the floor
#: were 5-20x below it) that no iteration has lowered for
#: STALL_WINDOW iterations ends the run with ROUNDING_FLOOR (a success).
FLOOR_FACTOR = 1.0
STALL_WINDOW = 10


def rounding_floor(prob: Problem, potential_norm: float) -> float:
    """The marginal error (relative to the mass) that rounding alone leaves in a plan
    P = exp((f + g - M) / reg) of the normalized problem: each log-plan entry carries an absolute error
    of about eps (|f_i| + |g_j| + |M_ij|) / reg, where |M_ij| ~ |f_i + g_j| on the entries that carry
    mass, and the marginal sums add (n + m) eps. ``potential_norm`` is max|f| + max|g|."""
    n, m = prob.M.shape
    eps = np.finfo(float).eps
    return eps * (2.0 * potential_norm / prob.reg + n + m)


class Run:
    """Iteration counters, history, the verbose table and the callback of one solve."""

    COLUMNS = ["nit", "stage", "marg_err", "dual", "step", "cg_nit", "nnz/row"]

    def __init__(self, prob: Problem, method: str, tol: float, maxiter: int, callback, verbose: bool):
        self.prob = prob
        self.method = method
        self.tol = tol
        self.maxiter = maxiter
        self.callback = callback
        self.printer = IterationPrinter(self.COLUMNS) if verbose else None
        self.nit_sinkhorn = 0
        self.nit_newton = 0
        self.nit_cg = 0
        self.hist = {k: [] for k in ("marginal_error", "dual", "newton", "step", "cg_nit", "nnz_per_row", "reg",
                                    "time")}
        self._clock = time.perf_counter()
        self._best = math.inf  # the smallest marginal error of the current stage, and its iteration
        self._best_nit = 0
        self._best_reg = None

    @property
    def nit(self) -> int:
        return self.nit_sinkhorn + self.nit_newton

    def converged(self, err: float, potential_norm) -> Status | None:
        """SUCCESS when ``err <= tol``; ROUNDING_FLOOR when no iteration of this stage has lowered the
        marginal error for :data:`STALL_WINDOW` iterations and ``err`` is within :data:`FLOOR_FACTOR`
        of :func:`rounding_floor`; None otherwise. ``potential_norm()`` returns max|f| + max|g|
        (called only when the error has stalled)."""
        if err <= self.tol:
            return Status.SUCCESS
        stalled = self.nit - self._best_nit >= STALL_WINDOW
        if stalled and err <= FLOOR_FACTOR * rounding_floor(self.prob, potential_norm()):
            return Status.ROUNDING_FLOOR
        return None

    def record(self, f, g, err, dual, *, newton=False, step=1.0, cg_nit=0, nnz_per_row=math.nan) -> bool:
        """Log one iteration; return True when the callback asked to stop."""
        now = time.perf_counter()
        if self.prob.reg != self._best_reg:
            self._best, self._best_reg = math.inf, self.prob.reg
        if newton:
            self.nit_newton += 1
            self.nit_cg += cg_nit
        else:
            self.nit_sinkhorn += 1
        if err < self._best:
            self._best, self._best_nit = err, self.nit
        prob = self.prob
        # err and dual are those of the normalized problem; history and callback get the input's units
        err, dual, reg = err * prob.mass, prob.dual(dual), prob.user_units(prob.reg)
        for key, v in (("marginal_error", err), ("dual", dual), ("newton", newton), ("step", step),
                       ("cg_nit", cg_nit), ("nnz_per_row", nnz_per_row), ("reg", reg),
                       ("time", now - self._clock)):
            self.hist[key].append(v)
        if self.printer is not None:
            self.printer.row(self.nit, "newton" if newton else "sinkhorn", err, dual, step, cg_nit, nnz_per_row)
        if self.callback is None:
            self._clock = time.perf_counter()
            return False
        current = OTResult(x=None, status=Status.MAXITER, nit=self.nit, potentials=prob.potentials(f, g),
                           marginal_error=err, nit_sinkhorn=self.nit_sinkhorn, nit_newton=self.nit_newton,
                           nit_cg=self.nit_cg, history=self.history(), reg=reg, method=self.method)
        stop = call_callback(self.callback, current)
        self._clock = time.perf_counter()  # the callback's own time is not the solver's
        return stop

    def history(self) -> dict:
        dtypes = {"newton": bool, "cg_nit": np.int64}
        return {k: np.asarray(v, dtype=dtypes.get(k, np.float64)) for k, v in self.hist.items()}


def _norm(x) -> float:
    return float(np.abs(x).max())


def sinkhorn_sweeps(prob: Problem, f, g, run: Run, n_sweeps: int, logc=None):
    """Up to ``n_sweeps`` log-domain Sinkhorn sweeps (row then column update) on (f, g) in place.

    Returns a Status when the run ends (SUCCESS: the marginal error of (f, g) is <= tol;
    ROUNDING_FLOOR: see :meth:`Run.converged`; CALLBACK; NONFINITE), or None when the sweeps ran out.
    The state returned on SUCCESS is the one whose error
    was measured: rows exact, columns within tol.
    """
    M, a, b, reg = prob.M, prob.a, prob.b, prob.reg
    logc = np.empty(M.shape[1]) if logc is None else logc
    for _ in range(n_sweeps):
        _kernels.sinkhorn_rows(M, f, g, a, prob.loga, reg)
        err = _kernels.sinkhorn_cols(M, f, g, b, reg, logc)
        # rows are exact after the row update, so sum(P) = sum(a)
        dual = float(a @ f + b @ g) - reg * prob.total
        if not math.isfinite(err) or not math.isfinite(dual):
            return Status.NONFINITE
        stop = run.record(f, g, err, dual)
        status = run.converged(err, lambda: _norm(f) + _norm(g))
        if status is not None:
            return status
        g += reg * (prob.logb - logc)
        if stop:
            return Status.CALLBACK
    return None


#: Scaling factors leaving [1 / _ABSORB, _ABSORB] are folded into the potentials and K is formed again.
_ABSORB = 1e50
#: A sum (K v)_i or (K^T u)_j below this (or not finite) stops the scaling-domain sweeps: entries that
#: carry mass may have underflowed in K. With |log u|, |log v| <= log(_ABSORB), the entries flushed
#: to zero then weigh at most m 1e-250 against a sum of at least 1e-200.
_SCALING_TINY = 1e-200
#: Returned by :func:`scaling_sweeps` when the scaling domain is unsafe for the current potentials.
UNSAFE = "unsafe"
#: After this many unsafe returns in one call of :func:`fast_sweeps`, the rest runs in the log domain.
_MAX_UNSAFE = 3


class Scaling:
    r"""The Gibbs kernel :math:`K = e^{(f_K \oplus g_K - M)/\varepsilon}` of reference potentials
    :math:`(f_K, g_K)`, kept in an n x m buffer between calls of :func:`scaling_sweeps`.

    The plan of any (f, g) at the same ``reg`` is :math:`\mathrm{diag}(u) K \mathrm{diag}(v)` with
    :math:`u = e^{(f - f_K)/\varepsilon}`, :math:`v = e^{(g - g_K)/\varepsilon}`; K is formed again
    (one exp pass, rows in parallel) only when the regularization changed or u, v leave
    :math:`[10^{-50}, 10^{50}]` (the absorption of Schmitzer 2019).
    """

    def __init__(self, work):
        self.K = work
        self.reg = None
        self.fK = self.gK = None

    def form(self, prob: Problem, f, g):
        _kernels.sized(_kernels.kernel_into, self.K.size)(prob.M, f, g, prob.reg, self.K)
        self.reg, self.fK, self.gK = prob.reg, f.copy(), g.copy()

    def scalings(self, prob: Problem, f, g):
        """(u, v) for the potentials (f, g), forming K first when it cannot represent them."""
        if self.reg == prob.reg:
            with np.errstate(over="ignore", under="ignore"):
                u = np.exp((f - self.fK) / prob.reg)
                v = np.exp((g - self.gK) / prob.reg)
            if _in_range(u) and _in_range(v):
                return u, v
        self.form(prob, f, g)
        return np.ones(f.shape[0]), np.ones(g.shape[0])

    def fold(self, prob: Problem, f, g, u, v):
        """(f, g) <- the potentials of the scalings (u, v)."""
        f[:] = self.fK + prob.reg * np.log(u)
        g[:] = self.gK + prob.reg * np.log(v)

    def marginals(self, prob: Problem, f, g, r, c) -> float:
        """r = P 1 and c = P^T 1 of the plan P of (f, g) by two BLAS products; returns sum(P)."""
        u, v = self.scalings(prob, f, g)
        np.dot(self.K, v, out=r)
        r *= u
        np.dot(self.K.T, u, out=c)
        c *= v
        return float(r.sum())

    def selection(self, prob: Problem, f, g, rule: str, level: float, buffers: dict, dense_share: float = 1.0):
        """CSR arrays of the entries of the plan of (f, g) kept by ``rule`` (see :func:`scaled_selection`),
        or None when they would be more than ``dense_share`` of the n m entries."""
        u, v = self.scalings(prob, f, g)
        return scaled_selection(self.K, u, v, rule, level, buffers, dense_share)

    def plan(self, prob: Problem, f, g):
        """The plan of (f, g), formed in the buffer (which then no longer holds a kernel)."""
        u, v = self.scalings(prob, f, g)
        _kernels.sized(_kernels.scale_rows_cols, self.K.size)(self.K, u, v)
        self.reg = None
        return self.K


def _in_range(x) -> bool:
    return bool(x.max() <= _ABSORB and x.min() >= 1.0 / _ABSORB)


def scaling_sweeps(prob: Problem, f, g, run: Run, n_sweeps: int, scaling: Scaling):
    r"""Up to ``n_sweeps`` Sinkhorn sweeps in the scaling domain, on (f, g) in place.

    With the kernel :math:`K` of a :class:`Scaling`, a sweep is :math:`u \leftarrow a / (Kv)`,
    :math:`v \leftarrow b / (K^\top u)`: two BLAS matrix-vector products and no exp, much
    cheaper than a log-domain sweep. The
    iterates are those of log-domain Sinkhorn. A sum :math:`(Kv)_i` or :math:`(K^\top u)_j` below
    1e-200 stops the sweeps with :data:`UNSAFE`: entries that carry mass may have underflowed in
    :math:`K`, and a log-domain sweep (shifted by the row maxima) is safe there.

    Returns ``(status, plan_ready)``: ``status`` as in :func:`sinkhorn_sweeps`, or :data:`UNSAFE`;
    ``plan_ready`` is True when ``status`` is a success and the buffer of ``scaling`` holds the plan
    :math:`\mathrm{diag}(u) K \mathrm{diag}(v)` of the returned (f, g), the state whose error was measured
    (the kernel is then gone).
    """
    a, b, reg = prob.a, prob.b, prob.reg
    K = scaling.K
    u, v = scaling.scalings(prob, f, g)
    Kv, Ktu = np.empty(a.shape[0]), np.empty(b.shape[0])
    base = float(a @ scaling.fK + b @ scaling.gK) - reg * prob.total
    low, high = 1.0 / _ABSORB, _ABSORB
    # the O(n + m) work of a sweep is three fused kernels around the two BLAS products
    np.dot(K, v, out=Kv)
    for _ in range(n_sweeps):
        ok, umin, umax = _kernels.divide_checked(a, Kv, _SCALING_TINY, u)
        if not ok:  # u is unchanged
            scaling.fold(prob, f, g, u, v)
            return UNSAFE, False
        np.dot(K.T, u, out=Ktu)
        ok, err = _kernels.column_error(v, Ktu, b, _SCALING_TINY)
        if not ok:
            scaling.fold(prob, f, g, u, v)
            return UNSAFE, False
        dual = base + reg * _kernels.log_dot(a, u, b, v)
        if not (math.isfinite(err) and math.isfinite(dual)):
            scaling.fold(prob, f, g, u, v)
            return Status.NONFINITE, False
        if run.callback is not None:
            state = (scaling.fK + reg * np.log(u), scaling.gK + reg * np.log(v))
        else:
            state = (f, g)
        stop = run.record(*state, err, dual)
        status = run.converged(err, lambda: _norm(scaling.fK + reg * np.log(u)) + _norm(scaling.gK + reg * np.log(v)))
        if status is not None:
            scaling.fold(prob, f, g, u, v)
            _kernels.sized(_kernels.scale_rows_cols, K.size)(K, u, v)
            scaling.reg = None
            return status, True
        _, vmin, vmax = _kernels.divide_checked(b, Ktu, _SCALING_TINY, v)  # Ktu was checked above
        if stop:
            scaling.fold(prob, f, g, u, v)
            return Status.CALLBACK, False
        if not (umin >= low and umax <= high and vmin >= low and vmax <= high):
            scaling.fold(prob, f, g, u, v)
            scaling.form(prob, f, g)
            u.fill(1.0)
            v.fill(1.0)
            base = float(a @ scaling.fK + b @ scaling.gK) - reg * prob.total
        np.dot(K, v, out=Kv)
    scaling.fold(prob, f, g, u, v)
    return None, False


def fast_sweeps(prob: Problem, f, g, run: Run, n_sweeps: int, scaling: Scaling):
    """Up to ``n_sweeps`` Sinkhorn sweeps: in the scaling domain (:func:`scaling_sweeps`) where it is
    safe, else log-domain sweeps (one at a time, then the scaling domain is tried again, at most
    3 times). Returns ``(status, plan_ready)`` as :func:`scaling_sweeps` (never UNSAFE)."""
    unsafe_count = 0
    end = run.nit + n_sweeps
    while run.nit < end:
        if unsafe_count < _MAX_UNSAFE:
            status, plan_ready = scaling_sweeps(prob, f, g, run, end - run.nit, scaling)
            if status is not UNSAFE:
                return status, plan_ready
            unsafe_count += 1
            todo = 1
        else:
            todo = end - run.nit
        status = sinkhorn_sweeps(prob, f, g, run, min(todo, end - run.nit))
        if status is not None:
            return status, False
    return None, False


def value_histogram(K, u, v, buffers: dict):
    """(mass, count) per value bin of the entries of P = diag(u) K diag(v) (see
    :func:`_kernels.scaled_histogram`); ``buffers`` keeps the kernel's scratch arrays between calls."""
    chunks, bins, m = _kernels.HIST_CHUNKS, _kernels.N_VALUE_BINS, K.shape[1]
    if "chunk_mass" not in buffers:
        buffers["chunk_mass"] = np.empty((chunks, bins))
        buffers["chunk_count"] = np.empty((chunks, bins), dtype=np.int64)
    if buffers.get("pbuf") is None or buffers["pbuf"].shape[1] != m:
        buffers["pbuf"], buffers["bbuf"] = np.empty((chunks, m)), np.empty((chunks, m), dtype=np.int64)
    _kernels.sized(_kernels.scaled_histogram, K.size)(K, u, v, buffers["chunk_mass"], buffers["chunk_count"],
                                                      buffers["pbuf"], buffers["bbuf"])
    return buffers["chunk_mass"].sum(0), buffers["chunk_count"].sum(0)


def _cut(mass, count, rule: str, level: float, n: int, m: int) -> int:
    """The first value bin kept by ``rule`` (see :func:`scaled_selection`)."""
    if rule == "mass":
        cum = np.cumsum(mass)
        cut = int(np.searchsorted(cum, level * cum[-1], side="right"))
    else:
        k = max(1, math.ceil(level * n * m))
        from_top = np.cumsum(count[::-1])
        cut = _kernels.N_VALUE_BINS - 1 - int(np.searchsorted(from_top, k, side="left"))
    return max(cut, 1)  # bin 0 holds the zeros


def kept_entries(K, u, v, rule: str, level: float) -> int:
    """How many entries of P = diag(u) K diag(v) :func:`scaled_selection` would keep (one histogram pass)."""
    n, m = K.shape
    mass, count = value_histogram(K, u, v, {})
    return int(count[_cut(mass, count, rule, level, n, m):].sum())


def scaled_selection(K, u, v, rule: str, level: float, buffers: dict, dense_share: float = 1.0):
    """CSR arrays (indptr, indices, data) of the entries of P = diag(u) K diag(v) kept by ``rule``, or
    None when they would be more than ``dense_share`` of the n m entries (nothing is then allocated).

    ``"mass"``: drop the smallest entries whose total is at most ``level`` times the mass of P.
    ``"topk"``: keep the ``ceil(level * n * m)`` largest entries (rounded up to a whole bin).
    Entries are binned by their float64 bits, a quarter octave per bin (no exp, no log; rows in
    parallel); zeros are never kept. ``buffers`` keeps the arrays between calls (pass {} for fresh ones).
    """
    n, m = K.shape
    mass, count = value_histogram(K, u, v, buffers)
    cut = _cut(mass, count, rule, level, n, m)
    nnz = int(count[cut:].sum())
    if nnz > dense_share * n * m:
        return None
    indptr = buffers.get("indptr")
    if indptr is None or indptr.shape[0] != n + 1:
        indptr = buffers["indptr"] = np.empty(n + 1, dtype=np.int64)
    if buffers.get("indices") is None or buffers["indices"].shape[0] < nnz:
        capacity = nnz if not buffers.get("grow") else int(1.25 * nnz) + 16
        buffers["indices"] = np.empty(capacity, dtype=np.int32 if m < 2**31 else np.int64)
        buffers["data"] = np.empty(capacity)
        buffers["grow"] = True
    indices, data = buffers["indices"][:nnz], buffers["data"][:nnz]
    _kernels.sized(_kernels.scaled_select, K.size)(K, u, v, cut, indptr, indices, data)
    return indptr, indices, data


def sparse_plan(plan, delta: float):
    """``plan`` as a CSR array without its smallest entries, up to a share ``delta`` of its mass (zeros,
    e.g. the rows and columns of zero-mass entries, are never kept)."""
    import scipy.sparse as sp

    n, m = plan.shape
    indptr, indices, data = scaled_selection(plan, np.ones(n), np.ones(m), "mass", delta, {})
    return sp.csr_array((data, indices, indptr), shape=(n, m))


#: The Newton line search's sufficient increase of the dual (Armijo) ...
NEWTON_ARMIJO = 1e-4
#: ... and the first step, clipped so that no log-plan entry h_ij changes by more than this.
NEWTON_MAX_LOG_CHANGE = 50.0


def newton_line_search(a, b, f, g, df, dg, r, c, total, dual, reg, trial, max_backtracks):
    """Backtracking along the Newton direction (df, dg) from the potentials (f, g), whose plan has the
    marginals (r, c), the mass ``total`` and the dual value ``dual``: the step is first clipped to
    :data:`NEWTON_MAX_LOG_CHANGE`, then halved until the dual rises by :data:`NEWTON_ARMIJO` times the
    predicted increase (less rounding noise), at most ``max_backtracks`` tries. ``trial(ft, gt)`` computes
    the trial plan's marginals into the caller's buffers and returns its mass. Returns
    (alpha, ft, gt, total_t, dual_t) for the accepted step, or None (no ascent direction, or no step passed)."""
    slope = float((a - r) @ df + (b - c) @ dg)
    change = max(df.max() + dg.max(), -(df.min() + dg.min())) / reg
    alpha = min(1.0, NEWTON_MAX_LOG_CHANGE / change) if change > 0 else 1.0
    scale = abs(a @ f) + abs(b @ g) + reg * total
    if slope > 0 and math.isfinite(slope):
        for _ in range(max_backtracks):
            ft = f + alpha * df
            gt = g + alpha * dg
            total_t = trial(ft, gt)
            dual_t = float(a @ ft + b @ gt) - reg * total_t
            noise = 64 * np.finfo(float).eps * (scale + abs(a @ ft) + abs(b @ gt) + reg * total_t)
            if math.isfinite(dual_t) and dual_t - dual >= NEWTON_ARMIJO * alpha * slope - noise:
                return alpha, ft, gt, total_t, dual_t
            alpha *= 0.5
    return None


def measure_plan(prob, f, g, r, c, cost_n: float, status: Status, tol: float):
    """The plan of (f, g) measured, and the final status: its marginals (r, c) and cost ``cost_n``. A solver's
    success or MAXITER is kept only when the marginal error meets ``tol``; else ROUNDING_FLOOR within
    :data:`FLOOR_FACTOR` of :func:`rounding_floor`, else MAXITER; NONFINITE when the error or the cost is not
    finite. Returns (status, err_n, total_n, value_n, floor): the marginal error, the plan's mass, <r, f> +
    <c, g> and the rounding floor."""
    n, m = r.shape[0], c.shape[0]
    total_n = float(r.sum())
    err_n = float(np.abs(r - prob.a).sum() + np.abs(c - prob.b).sum())
    value_n = float(r @ f + c @ g)
    floor = rounding_floor(prob, _norm(f) + _norm(g))
    # The solver measured its error in another pass: the two differ by rounding in the n + m sums
    # (seen: 3e-15 on a 5 x 5 problem at tol 1e-12). Beyond that, never report a false success.
    slack = 4 * (n + m) * np.finfo(float).eps
    if status.success or status is Status.MAXITER:
        if err_n <= tol * (1 + 1e-6) + slack:
            status = Status.SUCCESS if status.success else status
        elif err_n <= FLOOR_FACTOR * floor:
            status = Status.ROUNDING_FLOOR
        else:
            status = Status.MAXITER
    if not (math.isfinite(err_n) and math.isfinite(cost_n)):
        status = Status.NONFINITE
    return status, err_n, total_n, value_n, floor


def finish_plan(prob: Problem, f, g, run: Run, status: Status, *, delta_sparse: float, advice: str,
                plan=None) -> OTResult:
    """Measure the dense plan of (f, g) (``plan``, or formed here in the log domain), sparsify it, map
    it back to the input's units and build the result (``plan_sparse`` deferred to its first read).
    ``advice`` is the solver's own suggestion for a run that stopped at ``maxiter``."""
    M, reg = prob.M, prob.reg
    n, m = M.shape
    r, c = np.empty(n), np.empty(m)
    P = plan
    if P is None:
        P = np.empty((n, m))
        _kernels.sized(_kernels.kernel_into, P.size)(M, f, g, reg, P)
    # (the sums are those of the normalized plan; the same pass maps it to the input's mass)
    cost_n = float(_kernels.plan_sums(P, M, r, c, prob.mass))
    status, err_n, total_n, value_n, floor = measure_plan(prob, f, g, r, c, cost_n, status, run.tol)
    N, Mc = prob.shape
    if prob.rows is None and prob.cols is None:
        plan = P
    else:
        rows = np.arange(n) if prob.rows is None else prob.rows
        cols = np.arange(m) if prob.cols is None else prob.cols
        plan = np.zeros((N, Mc))
        plan[np.ix_(rows, cols)] = P
        del P
    plan_sparse = _Deferred(sparse_plan, plan, delta_sparse)
    where = f"The marginal error is {err_n:.3g} sum(a) (`tol` = {run.tol:g} bounds it relative to sum(a))"
    if status is Status.MAXITER:
        detail = f"{where}; {advice}"
    elif status is Status.ROUNDING_FLOOR:
        size = prob.user_units(_norm(f) + _norm(g))
        detail = (f"{where}; rounding alone leaves about {floor:.2g} sum(a) in the plan exp((f + g - M) / reg) "
                  f"at reg = {prob.user_reg:.3g} with potentials of max|f| + max|g| = {size:.3g} (M taken "
                  "less min(M) where min(M) exceeds the spread): a larger `reg` lowers it.")
    else:
        detail = ""
    return OTResult(x=plan, status=status, detail=detail, nit=run.nit, plan=plan, plan_sparse=plan_sparse,
                    potentials=prob.potentials(f, g), cost=prob.cost(cost_n, total_n),
                    value=prob.value(value_n, total_n), marginal_error=err_n * prob.mass,
                    nit_sinkhorn=run.nit_sinkhorn, nit_newton=run.nit_newton, nit_cg=run.nit_cg,
                    history=run.history(), reg=prob.user_reg, method=run.method)
