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
from .._validation import as_ot_problem, check_callable, check_int, check_scalar
from . import _kernels

__all__ = ["OTResult"]


@dataclasses.dataclass(kw_only=True, repr=False)
class OTResult(Result):
    r"""Result of the entropic OT solvers of :mod:`numopt.ot`.

    Attributes
    ----------
    x : ndarray, shape (n, m)
        The transport plan (the same array as ``plan``).
    plan : ndarray, shape (n, m)
        The dense plan :math:`P_{ij} = \exp((f_i + g_j - M_{ij})/\varepsilon)` of the returned potentials
        (rows and columns of zero-mass entries of ``a``/``b`` are zero). None in the intermediate
        results passed to ``callback``.
    plan_sparse : scipy.sparse.csr_array, shape (n, m)
        ``plan`` with its smallest entries dropped, up to a share ``delta`` (default 1e-4) of its total
        mass (the same rule as SNS's Hessian sparsification). None in intermediate results.
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
        :math:`\|P\mathbf 1 - a\|_1 + \|P^\top\mathbf 1 - b\|_1` of the returned plan; ``tol`` bounds it.
    nit : int
        Total iterations: ``nit_sinkhorn + nit_newton``.
    nit_sinkhorn, nit_newton, nit_cg : int
        Sinkhorn sweeps (one row and one column update each), Newton steps, and conjugate-gradient
        iterations over all Newton steps.
    history : dict of ndarray
        Per iteration: ``"marginal_error"`` (of the iterate, as measured during that iteration),
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
    plan_sparse: Any = None
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


_MAXITER_MESSAGE = (
    "Stopped at `maxiter` before the marginal error reached `tol`; raise `maxiter`, loosen `tol`, "
    "increase `reg` or use method='sns'."
)


class Problem:
    """A validated OT problem restricted to the support of ``a`` and ``b`` (zero-mass entries removed)."""

    def __init__(self, a, b, M, reg, func):
        a, b, M, reg = as_ot_problem(a, b, M, reg, func)
        self.func = func
        self.shape = M.shape
        self.reg = reg
        self.rows = np.flatnonzero(a > 0) if (a == 0).any() else None
        self.cols = np.flatnonzero(b > 0) if (b == 0).any() else None
        if self.rows is not None:
            a, M = a[self.rows], M[self.rows]
        if self.cols is not None:
            b, M = b[self.cols], M[:, self.cols]
        self.a, self.b = a, b
        self.M = np.ascontiguousarray(M)
        self.loga, self.logb = np.log(a), np.log(b)
        self.mass = float(a.sum())
        self.amax, self.bmax = float(a.max()), float(b.max())

    def with_reg(self, reg: float) -> "Problem":
        """The same problem at another regularization (arrays shared)."""
        if reg == self.reg:
            return self
        other = copy.copy(self)
        other.reg = float(reg)
        return other

    def embed_potentials(self, f, g):
        out = []
        for v, idx, size in ((f, self.rows, self.shape[0]), (g, self.cols, self.shape[1])):
            if idx is None:
                out.append(v.copy())
            else:
                full = np.full(size, -math.inf)
                full[idx] = v
                out.append(full)
        return tuple(out)


def check_common(tol, maxiter, callback, func):
    tol = check_scalar(tol, "tol", func, low=0.0, low_inclusive=False)
    maxiter = check_int(maxiter, "maxiter", func, low=0)
    check_callable(callback, "callback", func)
    return tol, maxiter


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

    @property
    def nit(self) -> int:
        return self.nit_sinkhorn + self.nit_newton

    def record(self, f, g, err, dual, *, newton=False, step=1.0, cg_nit=0, nnz_per_row=math.nan) -> bool:
        """Log one iteration; return True when the callback asked to stop."""
        now = time.perf_counter()
        if newton:
            self.nit_newton += 1
            self.nit_cg += cg_nit
        else:
            self.nit_sinkhorn += 1
        for key, v in (("marginal_error", err), ("dual", dual), ("newton", newton), ("step", step),
                       ("cg_nit", cg_nit), ("nnz_per_row", nnz_per_row), ("reg", self.prob.reg),
                       ("time", now - self._clock)):
            self.hist[key].append(v)
        if self.printer is not None:
            self.printer.row(self.nit, "newton" if newton else "sinkhorn", err, dual, step, cg_nit, nnz_per_row)
        if self.callback is None:
            self._clock = time.perf_counter()
            return False
        current = OTResult(x=None, status=Status.MAXITER, nit=self.nit, potentials=self.prob.embed_potentials(f, g),
                           marginal_error=err, nit_sinkhorn=self.nit_sinkhorn, nit_newton=self.nit_newton,
                           nit_cg=self.nit_cg, history=self.history(), reg=self.prob.reg, method=self.method)
        stop = call_callback(self.callback, current)
        self._clock = time.perf_counter()  # the callback's own time is not the solver's
        return stop

    def history(self) -> dict:
        dtypes = {"newton": bool, "cg_nit": np.int64}
        return {k: np.asarray(v, dtype=dtypes.get(k, np.float64)) for k, v in self.hist.items()}


def sinkhorn_sweeps(prob: Problem, f, g, run: Run, n_sweeps: int, logc=None):
    """Up to ``n_sweeps`` log-domain Sinkhorn sweeps (row then column update) on (f, g) in place.

    Returns a Status when the run ends (SUCCESS: the marginal error of (f, g) is <= tol; CALLBACK;
    NONFINITE), or None when the sweeps ran out. The state returned on SUCCESS is the one whose error
    was measured: rows exact, columns within tol.
    """
    M, a, b, reg = prob.M, prob.a, prob.b, prob.reg
    logc = np.empty(M.shape[1]) if logc is None else logc
    for _ in range(n_sweeps):
        _kernels.sinkhorn_rows(M, f, g, a, prob.loga, reg)
        err = _kernels.sinkhorn_cols(M, f, g, b, reg, logc)
        # rows are exact after the row update, so sum(P) = sum(a)
        dual = float(a @ f + b @ g) - reg * prob.mass
        if not math.isfinite(err) or not math.isfinite(dual):
            return Status.NONFINITE
        stop = run.record(f, g, err, dual)
        if err <= run.tol:
            return Status.SUCCESS
        g += reg * (prob.logb - logc)
        if stop:
            return Status.CALLBACK
    return None


def sparse_selection(M, f, g, reg, rule: str, level: float, buffers: dict):
    """CSR arrays (indptr, indices, data) of the entries of P = exp(h) kept by ``rule``.

    ``"mass"``: drop the smallest entries whose total is at most ``level`` times the mass of P.
    ``"topk"``: keep the ``ceil(level * n * m)`` largest entries (rounded up to a histogram bin of
    width 1/4 in log P, so a few more may be kept).
    """
    n, m = M.shape
    mass = buffers.setdefault("mass", np.empty(_kernels.N_BINS))
    count = buffers.setdefault("count", np.empty(_kernels.N_BINS, dtype=np.int64))
    _kernels.plan_histogram(M, f, g, reg, mass, count)
    if rule == "mass":
        cum = np.cumsum(mass)
        cut = int(np.searchsorted(cum, level * cum[-1], side="right"))
    else:
        k = max(1, math.ceil(level * n * m))
        from_top = np.cumsum(count[::-1])
        cut = _kernels.N_BINS - 1 - int(np.searchsorted(from_top, k, side="left"))
        cut = max(cut, 0)
    expected = int(count[cut:].sum())
    indptr = buffers.get("indptr")
    if indptr is None or indptr.shape[0] != n + 1:
        indptr = buffers["indptr"] = np.empty(n + 1, dtype=np.int64)
    capacity = expected + 64 + n
    while True:
        if buffers.get("indices") is None or buffers["indices"].shape[0] < capacity:
            buffers["indices"] = np.empty(capacity, dtype=np.int32 if m < 2**31 else np.int64)
            buffers["data"] = np.empty(capacity)
        nnz = _kernels.plan_select(M, f, g, reg, float(cut), indptr, buffers["indices"], buffers["data"])
        if nnz >= 0:
            return indptr, buffers["indices"][:nnz], buffers["data"][:nnz]
        capacity *= 2


def finish_plan(prob: Problem, f, g, run: Run, status: Status, *, delta_sparse: float, message: str = "") -> OTResult:
    """Form the dense plan of (f, g) and its sparsified version, measure it and build the result."""
    import scipy.sparse as sp

    M, reg = prob.M, prob.reg
    n, m = M.shape
    P = np.empty((n, m))
    r, c = np.empty(n), np.empty(m)
    cost = float(_kernels.plan_into(M, f, g, reg, P, r, c))
    err = float(np.abs(r - prob.a).sum() + np.abs(c - prob.b).sum())
    value = float(r @ f + c @ g)
    indptr, indices, data = sparse_selection(M, f, g, reg, "mass", delta_sparse, {})
    # The solver measured its error in another pass: the two differ by rounding in the n + m sums
    # (seen: 3e-15 on a 5 x 5 problem at tol 1e-12). Beyond that, never report a false success.
    slack = 4 * (n + m) * np.finfo(float).eps * prob.mass
    if status is Status.SUCCESS and not err <= run.tol * (1 + 1e-6) + slack:
        status = Status.MAXITER
    if not (math.isfinite(err) and math.isfinite(cost)):
        status = Status.NONFINITE
    N, Mc = prob.shape
    if prob.rows is None and prob.cols is None:
        plan = P
        plan_sparse = sp.csr_array((data.copy(), indices.copy(), indptr.copy()), shape=(n, m))
    else:
        rows = np.arange(n) if prob.rows is None else prob.rows
        cols = np.arange(m) if prob.cols is None else prob.cols
        plan = np.zeros((N, Mc))
        plan[np.ix_(rows, cols)] = P
        counts = np.diff(indptr)
        coo_rows = np.repeat(rows, counts)
        plan_sparse = sp.csr_array((data.copy(), (coo_rows, cols[indices])), shape=(N, Mc))
    if not message:
        message = _MAXITER_MESSAGE if status is Status.MAXITER else ""
    return OTResult(x=plan, status=status, message=message, nit=run.nit, plan=plan, plan_sparse=plan_sparse,
                    potentials=prob.embed_potentials(f, g), cost=cost, value=value, marginal_error=err,
                    nit_sinkhorn=run.nit_sinkhorn, nit_newton=run.nit_newton, nit_cg=run.nit_cg,
                    history=run.history(), reg=reg, method=run.method)
