"""Low-rank matrix completion by robust alternating minimization (Gu, Song, Yin, Zhang, ICLR 2024)."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from .._blas import single_blas_thread
from .._result import IterationPrinter, Result, Status, call_callback, finish, warn_user
from .._validation import (
    _describe,
    as_float_array,
    check_callable,
    check_choice,
    check_int,
    check_no_extra,
    check_nonnegative,
    check_rng,
    check_scalar,
    fail,
)
from . import _kernels
from ._data import Observations, as_observations
from ._ratings import CENTERS, Biases
from ._threads import map_row_blocks

__all__ = ["complete_matrix", "CompletionResult", "UnderdeterminedWarning", "row_costs", "SOLVERS",
           "TO_DENSE_MAX_ENTRIES"]

#: Values of ``solver``.
SOLVERS = ("auto", "exact", "cg", "sketch")
#: Values of ``reg_scale``.
REG_SCALES = ("none", "counts")
#: ``to_dense`` refuses completions with more entries than this (8e8 bytes in float64).
TO_DENSE_MAX_ENTRIES = 10**8
_OPTIONS = ("cg_maxiter", "cg_rtol", "sketch", "sketch_size", "nnz_per_column")
#: Inner iterations per row and half-step (see ``complete_matrix``'s ``cg_rtol``): a row's (P)CGLS stops
#: once its normal-equation residual has dropped by ``cg_rtol`` from the warm start -- the forcing term of
#: an inexact Newton method, so each update is accurate relative to its own size -- or after ``cg_maxiter``
#: steps: the rank k for plain CGLS (CG's finite termination; rows take 2 to 3 steps on average on the
#: bench's problems) and 3 for the sketch-preconditioned CGLS. A fixed count does not suffice: 2 or 3 plain
#: steps per row stall at relative error 0.8 on a 2000^2 rank-10 problem of condition number 10
#: (its rows with few observations are ill-conditioned), where the forcing term converges in 23 sweeps
#: (exact solves: 22) with 2.3 steps per row on average.
_PCG_MAXITER = 3
_CG_RTOL = 0.1
#: Relative speed of the cost model's terms, fitted to the kernels of this package (2-core x86-64,
#: AVX2; see :func:`row_costs`): the Gram matrix's unit-stride dot products (k(k+1)/2 multiply-adds per
#: observation) run at about _GRAM_SPEED times the rate of the sketch scatter and the (P)CG passes.
_GRAM_SPEED = 2.6
_VERBOSE_COLUMNS = ["nit", "rmse", "change", "objective", "inner", "time"]


class UnderdeterminedWarning(UserWarning):
    """Some rows or columns have fewer observations than ``rank``, or the oversampling is at most 2:
    parts of the completion are not determined by the data."""


@dataclasses.dataclass(kw_only=True, repr=False)
class CompletionResult(Result):
    r"""Result of :func:`complete_matrix`: the rank-``k`` completion :math:`\hat X = U\,\mathrm{diag}(s)\,V^\top`.

    Attributes
    ----------
    x : tuple of ndarray
        ``(U, s, V)``.
    U : ndarray, shape (m, k)
        Left singular vectors of the completion (orthonormal columns).
    s : ndarray, shape (k,)
        Its singular values, in decreasing order.
    V : ndarray, shape (n, k)
        Right singular vectors (orthonormal columns).
    shape : tuple of int
        ``(m, n)``.
    nit : int
        Alternating-minimization sweeps performed (each updates V, then U).
    rmse : float
        Root-mean-square error of the completion on the observed entries.
    change : float
        The last relative change :math:`\|\hat X_t - \hat X_{t-1}\|_F / \|\hat X_t\|_F` (``tol`` bounds it).
    history : dict of ndarray
        ``"rmse"`` (observed-entry RMSE; entry 0 is the initial iterate, then one per sweep),
        ``"objective"`` (:math:`\|P_\Omega(\hat X - M)\|_F^2 + \mathrm{reg}\,\|\hat X\|_F^2`, same indexing;
        in the data's units squared, so inf or 0 where that overflows or underflows, e.g. for data near 1e+160),
        ``"objective_half"`` (the objective after each half-step, two per sweep), ``"change"``,
        ``"inner_steps"`` (CG/PCG steps summed over the rows of a sweep), ``"fallbacks"`` (rows solved by
        the minimum-norm fallback), ``"cg_rtol"`` (the forcing term the sweep's inexact solves used) and
        ``"time"`` (seconds per sweep), one entry per sweep.
    solver_rows : dict of int
        How many row and column problems each half-step gives to ``"exact"``, ``"cg"``, ``"sketch"``
        (the plan of ``solver``; ``"empty"`` counts those with no observation).
    oversampling : float
        :math:`|\Omega| / (k(m + n - k))`, the number of observations per degree of freedom.
    start_sweeps : int
        Sweeps at ranks below ``k`` spent by the staged SVD start (``init="svd"``; 0 when every direction of
        the spectral start stands above the sampling noise, and for other starts); not counted in ``nit``.
    mean : float
        The global offset :math:`\mu` (0 with ``center="none"``).
    row_bias, col_bias : ndarray, shapes (m,) and (n,)
        The row and column biases :math:`b, c` (zeros unless ``center="biases"``). The model is
        :math:`\hat M_{ij} = \mu + b_i + c_j + (U\,\mathrm{diag}(s)\,V^\top)_{ij}`, clipped to
        ``value_range``; :meth:`predict` and :meth:`to_dense` return it, ``U, s, V`` are its low-rank part.
    value_range : tuple of float or None
        ``(lo, hi)``: predictions are clipped to it.
    """

    U: Any = None
    s: Any = None
    V: Any = None
    shape: tuple = ()
    rmse: float = math.nan
    change: float = math.nan
    history: dict = dataclasses.field(default_factory=dict)
    solver_rows: dict = dataclasses.field(default_factory=dict)
    oversampling: float = math.nan
    start_sweeps: int = 0
    mean: float = 0.0
    row_bias: Any = None
    col_bias: Any = None
    value_range: Any = None

    def predict(self, rows, cols) -> np.ndarray:
        """Entries ``(rows[t], cols[t])`` of the completion, without forming it.

        Parameters
        ----------
        rows, cols : array_like of int
            Row and column indices (broadcast together).

        Returns
        -------
        ndarray of float64, of the broadcast shape
        """
        func = "CompletionResult.predict"
        m, n = self.shape
        r, c = np.broadcast_arrays(np.asarray(rows), np.asarray(cols))
        out_shape = r.shape
        r = _int_indices(r.ravel(), m, "rows", func)
        c = _int_indices(c.ravel(), n, "cols", func)
        A = np.ascontiguousarray(self.U * self.s)
        out = np.empty(r.shape[0])
        if r.shape[0]:
            _kernels.predict_entries(A, np.ascontiguousarray(self.V), r, c, out)
        return self._offset(out, r, c).reshape(out_shape)

    def _offset(self, out, r=None, c=None):
        """The low-rank entries ``out`` plus the mean and biases (at rows ``r``, columns ``c``; all rows and
        columns of a dense ``out`` when None), clipped to ``value_range``; in place."""
        if self.mean:
            out += self.mean
        if self.row_bias is not None and self.row_bias.any():
            out += self.row_bias[r] if r is not None else self.row_bias[:, None]
        if self.col_bias is not None and self.col_bias.any():
            out += self.col_bias[c] if c is not None else self.col_bias[None, :]
        if self.value_range is not None:
            np.clip(out, self.value_range[0], self.value_range[1], out=out)
        return out

    def relative_error(self, A, B) -> float:
        """:func:`low_rank_relative_error` of this completion's low-rank part ``U diag(s) V^T`` to the matrix
        ``A @ B.T`` (never formed); the mean and biases of ``center`` are not included.

        >>> import numpy as np
        >>> from numopt.completion import complete_matrix
        >>> rng = np.random.default_rng(0)
        >>> A, B = rng.standard_normal((60, 2)), rng.standard_normal((50, 2))
        >>> res = complete_matrix(A @ B.T, 2, tol=1e-12)
        >>> bool(res.relative_error(A, B) < 1e-10)
        True
        """
        return low_rank_relative_error(A, B, self.U, self.s, self.V)

    def to_dense(self) -> np.ndarray:
        """The completion as a dense ``(m, n)`` array; refused (ValueError) above
        :data:`TO_DENSE_MAX_ENTRIES` = 1e8 entries (800 MB): use :meth:`predict` for selected entries."""
        m, n = self.shape
        if m * n > TO_DENSE_MAX_ENTRIES:
            raise fail("CompletionResult.to_dense", "shape", f"have at most m * n = {TO_DENSE_MAX_ENTRIES:.0e} "
                       "entries to be densified (use predict(rows, cols) for selected entries)",
                       f"{m} x {n} = {m * n:.3g} entries")
        return self._offset((self.U * self.s) @ self.V.T)


def low_rank_relative_error(A, B, U, s, V) -> float:
    r"""Relative Frobenius distance :math:`\|AB^\top - U\,\mathrm{diag}(s)V^\top\|_F / \|AB^\top\|_F`
    between two low-rank matrices given by their factors, without forming either.

    With :math:`[A, -U\,\mathrm{diag}(s)] = Q_P R_P` and :math:`[B, V] = Q_Q R_Q` (thin QR), the
    difference is :math:`Q_P R_P R_Q^\top Q_Q^\top`, whose norm is :math:`\|R_P R_Q^\top\|_F`: no
    cancellation, unlike the Gram-matrix identity, whose floor is about 1e-8 relative. Cost
    :math:`O((m + n)(r + k)^2)`. Both sides are first divided by powers of two (exactly) so that factors of
    any finite scale (1e-200, 1e+200) give the same ratio.

    Parameters
    ----------
    A : array_like, shape (m, r)
    B : array_like, shape (n, r)
        The reference matrix :math:`AB^\top` (nonzero).
    U : array_like, shape (m, k)
    s : array_like, shape (k,)
    V : array_like, shape (n, k)
        The approximation :math:`U\,\mathrm{diag}(s)V^\top` (a :class:`CompletionResult`'s factors).

    Raises
    ------
    ValueError
        Non-finite entries, inconsistent shapes, or :math:`AB^\top = 0`.
    TypeError
        Complex or non-numeric input.
    """
    func = "low_rank_relative_error"
    A = as_float_array(A, "A", func, ndim=2)
    B = as_float_array(B, "B", func, ndim=2)
    U = as_float_array(U, "U", func, ndim=2)
    s = as_float_array(s, "s", func, ndim=1)
    V = as_float_array(V, "V", func, ndim=2)
    if B.shape[1] != A.shape[1]:
        raise fail(func, "B", f"have as many columns as `A` ({A.shape[1]})", f"shape {B.shape}")
    if U.shape[0] != A.shape[0]:
        raise fail(func, "U", f"have as many rows as `A` ({A.shape[0]})", f"shape {U.shape}")
    if V.shape[0] != B.shape[0]:
        raise fail(func, "V", f"have as many rows as `B` ({B.shape[0]})", f"shape {V.shape}")
    if s.shape[0] != U.shape[1] or V.shape[1] != U.shape[1]:
        raise fail(func, "s", f"have one entry per column of `U` and `V` ({U.shape[1]} and {V.shape[1]})",
                   f"shape {s.shape}")
    # exact power-of-two rescaling of each side so that squares neither underflow nor overflow
    left, right = np.hstack([A, -(U * s)]), np.hstack([B, V])
    for name, W in (("A", left), ("B", right)):
        amax = float(np.abs(W).max()) if W.size else 0.0
        if amax > 0.0:
            np.ldexp(W, -math.frexp(amax)[1], out=W)
    Rp = np.linalg.qr(left, mode="r")
    Rq = np.linalg.qr(right, mode="r")
    r = A.shape[1]
    scale = float(np.linalg.norm(np.linalg.qr(left[:, :r], mode="r") @ np.linalg.qr(right[:, :r], mode="r").T))
    if not scale > 0.0:
        raise fail(func, "A", "and `B` have a nonzero product A @ B.T (the error is relative to it)",
                   "A @ B.T = 0")
    return float(np.linalg.norm(Rp @ Rq.T) / scale)


def _int_indices(a, bound, name, func):
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise fail(func, name, "be integers", f"dtype {a.dtype}", error=TypeError)
    if a.size and (a.min() < 0 or a.max() >= bound):
        t = int(np.argmax((a < 0) | (a >= bound)))
        raise fail(func, name, f"be in [0, {bound})", f"{name}[{t}] = {int(a[t])}")
    return np.ascontiguousarray(a, dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# Cost model
# --------------------------------------------------------------------------------------------------


def row_costs(d, k, *, cg_maxiter=_PCG_MAXITER, sketch="sparse_sign", sketch_size=None, nnz_per_column=8, reg=0.0):
    r"""Modelled cost of one row's least-squares solve by the exact and the sketched solver.

    For a row with ``d`` observations and rank ``k`` (units: streaming multiply-adds; the Gram matrix's
    :math:`k(k+1)/2` dot products per observation are counted at :math:`1/G`, :math:`G` = 2.6, because they
    run that much faster than the scatters and axpys of the sketched solve):

    .. math::

        c_{\mathrm{exact}} = \frac{d\,k(k+1)}{2G} + \tfrac16 k^3 + 3 d k, \qquad
        c_{\mathrm{sketch}} = c_S + 2 s' k^2 + (3 + 2T)\,d k + 2 T k^2,

    with :math:`c_S = \zeta d k` (sparse sign, :math:`\zeta` nonzeros per column) or
    :math:`c_S = p k \log_2 p` (SRHT, :math:`p` = the next power of two :math:`\ge \max(d, s)`),
    :math:`s' = s + k` rows in the QR when ``reg > 0`` (else :math:`s`), :math:`T` = ``cg_maxiter``
    PCG steps; the :math:`3dk` are the gather, right-hand side and residual passes both share.
    ``solver="auto"`` gives a row to the sketch when :math:`c_{\mathrm{sketch}} < c_{\mathrm{exact}}`:
    only for large ``k`` and long rows. For :math:`\zeta = 8`, :math:`T = 3`, :math:`s = 2k`, ``reg = 0``
    the sketch costs :math:`14k` more per observation than the shared passes and the Gram
    :math:`k(k+1)/(2G)`, so it can win only when :math:`k + 1 > 28G`, i.e. :math:`k \ge 72`; the break-even
    is then :math:`d^* = k(2s + 2T - k/6) / ((k+1)/(2G) - 14)` observations (``k = 128``: about 6000,
    ``k = 256``: about 7200). :math:`G` is fitted to the crossover rows that ``bench/completion.py``
    prints (exact against sketched row solves over ``d`` at ``k = 50`` and ``k = 128``). Below these sizes
    ``"cg"`` is the inexact solver that pays (with 3 steps, on incoherent problems).

    Parameters
    ----------
    d : array_like of float
        Observations per row (nonnegative).
    k : int
        Rank, at least 1.
    cg_maxiter, sketch, sketch_size, nnz_per_column, reg :
        As in :func:`complete_matrix` (``sketch_size`` default :math:`2k`).

    Returns
    -------
    exact, sketch : ndarray of float, of the shape of ``d``
    """
    func = "row_costs"
    d = as_float_array(d, "d", func)
    check_nonnegative(d, "d", func)
    k = check_int(k, "k", func, low=1)
    T = check_int(cg_maxiter, "cg_maxiter", func, low=1)
    sketch = check_choice(sketch, "sketch", func, ("sparse_sign", "srht"))
    s = 2 * k if sketch_size is None else check_int(sketch_size, "sketch_size", func, low=k)
    nnz_per_column = check_int(nnz_per_column, "nnz_per_column", func, low=1)
    reg = check_scalar(reg, "reg", func, low=0.0)
    sr = s + (k if reg > 0 else 0)
    exact = d * k * (k + 1) / (2.0 * _GRAM_SPEED) + k**3 / 6.0 + 3.0 * d * k
    if sketch == "srht":
        p = 2.0 ** np.ceil(np.log2(np.maximum(np.maximum(d, s), 1.0)))
        c_s = p * k * np.log2(np.maximum(p, 2.0))
    else:
        c_s = nnz_per_column * d * k
    sk = c_s + 2.0 * sr * k * k + (3.0 + 2.0 * T) * d * k + 2.0 * T * k * k
    return exact, sk


def _plan(counts, k, solver, opts, reg):
    code = {"exact": _kernels.EXACT, "cg": _kernels.CG, "sketch": _kernels.SKETCH}
    if solver == "auto":
        exact, sk = row_costs(counts, k, cg_maxiter=opts["cg_maxiter"], sketch=opts["sketch"],
                              sketch_size=opts["sketch_size"], nnz_per_column=opts["nnz_per_column"], reg=reg)
        plan = np.where(sk < exact, _kernels.SKETCH, _kernels.EXACT).astype(np.int8)
    else:
        plan = np.full(counts.shape[0], code[solver], dtype=np.int8)
    plan[counts == 0] = _kernels.EMPTY
    return plan


def _plan_counts(plan):
    names = {_kernels.EMPTY: "empty", _kernels.EXACT: "exact", _kernels.CG: "cg", _kernels.SKETCH: "sketch"}
    values, counts = np.unique(plan, return_counts=True)
    return {names[int(v)]: int(c) for v, c in zip(values, counts)}


# --------------------------------------------------------------------------------------------------
# Sketches (drawn through numopt.linalg)
# --------------------------------------------------------------------------------------------------


class _Sketcher:
    """Draws the sketch of one half-step: its columns are indexed by the *observed index* (column j of
    the matrix for a row problem), so the restriction S_J to a row's observed indices J is itself a sparse
    sign sketch of size s x |J| (independent columns with zeta distinct +-1/sqrt(zeta) entries), and for
    the SRHT the signs D_J are independent; the row sampling P is drawn per padded length 2^L."""

    def __init__(self, kind, size, zeta, gen):
        self.kind, self.size, self.zeta, self.gen = kind, size, zeta, gen
        self._empty_rows = np.zeros((1, 1), dtype=np.int32)
        self._empty_signs = np.zeros((1, 1))

    def draw(self, n_other, dmax):
        from ..linalg import make_sketch

        s = self.size
        if self.kind == "sparse_sign":
            S = make_sketch("sparse_sign", s, n_other, rng=self.gen, nnz_per_column=min(self.zeta, s))
            return (_kernels.SPARSE_SIGN, np.ascontiguousarray(S._rows, dtype=np.int32), S._signs,
                    np.zeros(1), np.zeros((1, 1), dtype=np.int64))
        S = make_sketch("srht", min(s, n_other), n_other, rng=self.gen, transform="hadamard")
        signs = np.ascontiguousarray(S._signs)
        levels = max(1, int(math.ceil(math.log2(max(dmax, s, 1)))))
        selected = np.zeros((levels + 1, s), dtype=np.int64)
        for level in range(levels + 1):
            p = 1 << level
            if p >= s:
                selected[level] = np.sort(self.gen.choice(p, size=s, replace=False))
        return _kernels.SRHT, self._empty_rows, self._empty_signs, signs, selected


# --------------------------------------------------------------------------------------------------
# The solver
# --------------------------------------------------------------------------------------------------


def _orthonormalize(A):
    Q, R = np.linalg.qr(A)
    return np.ascontiguousarray(Q), R


def _svd_factors(Uo, Vw):
    """(U, s, V) of Uo Vw^T for orthonormal Uo."""
    Q, R = np.linalg.qr(Vw)
    A, s, Bt = np.linalg.svd(R.T)
    U = np.ascontiguousarray(Uo @ A)
    V = np.ascontiguousarray(Q @ Bt.T)
    # fix the sign gauge: the largest-magnitude entry of each column of U is positive
    flip = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(U.shape[1])])
    flip[flip == 0] = 1.0
    return U * flip, s, V * flip


#: Randomized subspace iteration of the SVD start (Halko, Martinsson, Tropp 2011, Algorithm 4.4): a
#: Gaussian block of k + INIT_OVERSAMPLING columns (at most min(m, n)) drawn from ``rng``, INIT_POWER
#: products with A A^T (each re-orthonormalised by QR), then Rayleigh-Ritz on the block.
INIT_OVERSAMPLING = 10
INIT_POWER = 3


def _sparse_times(ptr, idx, val, Y, n_out):
    """The product of the compressed structure (ptr, idx, val) with the dense row-major Y, by row blocks."""
    out = np.empty((n_out, Y.shape[1]))
    map_row_blocks(lambda lo, hi: _kernels.sparse_times_dense(ptr, idx, val, Y, lo, hi, out), ptr)
    return out


def _subspace_triplets(times, rtimes, shape, nnz, l, gen, power=None):
    """(U, sv, V): the top-``l`` singular triplets of A / p, p = |Omega| / (m n), for the observations A given
    by their products ``times(Y)`` = A Y and ``rtimes(Z)`` = A^T Z (CSR and CSC products here, block products
    in the Dask solver; never densified), by a seeded randomized block subspace iteration (Halko, Martinsson,
    Tropp 2011, Algorithm 4.4; INIT_POWER products with A A^T, each re-orthonormalised by QR, then
    Rayleigh-Ritz): reproducible for a given ``rng`` even when singular values tie (ARPACK's svds drew its
    start from a process-wide seed), and 2 (2 + INIT_POWER) sparse products of a thin block instead of
    hundreds of matrix-vector products."""
    m, n = shape
    Q, _ = np.linalg.qr(times(gen.standard_normal((n, l))))
    for _ in range(INIT_POWER if power is None else power):
        Z, _ = np.linalg.qr(rtimes(np.ascontiguousarray(Q)))
        Q, _ = np.linalg.qr(times(np.ascontiguousarray(Z)))
    Qb, Rb = np.linalg.qr(rtimes(np.ascontiguousarray(Q)))   # A^T Q = Qb Rb, so Q^T A = Rb^T Qb^T
    Ub, sv, Vbt = np.linalg.svd(Rb.T)
    p = nnz / (m * n)
    return Q @ Ub, sv / p, Qb @ Vbt.T


#: The staged SVD start (see ``complete_matrix``'s ``init``): a direction of the residual's spectral start
#: is kept when its singular value exceeds START_EDGE times the first one beyond the rank still missing
#: (an estimate of the edge of the sampling noise's spectrum); each stage then runs at most START_SWEEPS
#: sweeps, stopping once the relative change is at most START_TOL.
START_EDGE = 1.2
START_NOISE_BLOCK = 4
#: Power iterations of the noise-edge estimate and of the residual's spectral start after the first stage.
START_POWER = 1
START_SWEEPS = 3
START_TOL = 5e-2


def _hash_signs(i, j, n, salt):
    """+-1 for each entry (i[t], j[t]) of an m x n matrix, from a hash of its linear index i n + j and ``salt``
    (so the CSR and CSC copies, and any block of them, agree)."""
    with np.errstate(over="ignore"):
        h = (i.astype(np.uint64) * np.uint64(n) + j.astype(np.uint64) + salt) * np.uint64(0x9E3779B97F4A7C15)
    return np.where((h >> np.uint64(63)) == 1, -1.0, 1.0)


class _ObsSource:
    """The staged start's view of the observations in memory (the Dask solver has the same three methods on
    its blocks): ``times(Y)`` = A Y and ``rtimes(Z)`` = A^T Z of the observations A, ``residual(Uo, Vw)``
    the source of P_Omega(M - Uo Vw^T) (the observations themselves for factors of rank 0) and
    ``flipped(salt)`` that of A with its entries multiplied by :func:`_hash_signs`."""

    def __init__(self, obs: Observations):
        self.obs = obs

    def times(self, Y):
        o = self.obs
        return _sparse_times(o.row_ptr, o.row_idx, o.row_val, Y, o.shape[0])

    def rtimes(self, Z):
        o = self.obs
        return _sparse_times(o.col_ptr, o.col_idx, o.col_val, Z, o.shape[1])

    def _coo(self):
        """(rows, cols) of the CSR order and (rows, cols) of the CSC order."""
        o = self.obs
        rows, _, _ = o.coo()
        col_of = np.empty(o.nnz, dtype=o.col_idx.dtype)
        _kernels.expand_indptr(o.col_ptr, col_of)
        return rows, o.row_idx, o.col_idx, col_of

    def residual(self, Uo, Vw):
        o = self.obs
        if Uo.shape[1] == 0:
            return self
        r1, c1, r2, c2 = self._coo()
        A, B = np.ascontiguousarray(Uo), np.ascontiguousarray(Vw)
        pr, pc = np.empty(o.nnz), np.empty(o.nnz)
        if o.nnz:
            _kernels.predict_entries(A, B, r1.astype(np.int64), c1.astype(np.int64), pr)
            _kernels.predict_entries(A, B, r2.astype(np.int64), c2.astype(np.int64), pc)
        return _ObsSource(dataclasses.replace(o, row_val=o.row_val - pr, col_val=o.col_val - pc))

    def flipped(self, salt):
        o = self.obs
        r1, c1, r2, c2 = self._coo()
        n = o.shape[1]
        return _ObsSource(dataclasses.replace(o, row_val=o.row_val * _hash_signs(r1, c1, n, salt),
                                              col_val=o.col_val * _hash_signs(r2, c2, n, salt)))


def _noise_edge(src, shape, nnz, gen):
    """An estimate of the top of the sampling noise's spectrum: the largest singular value of the
    observations of ``src`` with random signs, P_Omega(S o M) / p (S_ij = +-1 from :func:`_hash_signs`). Its
    entries have the magnitudes of those of the noise P_Omega(M)/p - M and no low-rank part (a sign-flip
    test)."""
    m, n = shape
    flipped = src.flipped(np.uint64(gen.integers(0, 2**63)))
    return float(_subspace_triplets(flipped.times, flipped.rtimes, shape, nnz, min(START_NOISE_BLOCK, m, n), gen,
                                    START_POWER)[1][0])


def _staged_start(source, shape, nnz, k, gen, sweeps):
    """The rank-revealing SVD start: returns (Uo, Vw, sweeps spent).

    The spectral start of P_Omega(M)/p is accurate only for the singular directions that stand above the
    spectrum of the sampling noise P_Omega(M)/p - M, whose norm scales with the size of the entries: for
    an ill-conditioned M (condition number 100 at oversampling 4, 2000^2, rank 10) only the first one or two
    do, the others are noise that alternating minimization then fits -- it stalls at a spurious completion
    with a large singular value that M does not have (relative error 1.1 after 100 sweeps). Here the rank
    grows in stages: the directions of the residual's spectral start whose singular values exceed START_EDGE
    times the top of its noise spectrum (:func:`_noise_edge`) are added (at least one), a few sweeps fit the
    factors of that rank, and the residual, now smaller and with it its sampling noise, reveals the next
    directions. A well-conditioned M has all k directions above the edge: one stage, the plain start.

    ``source``: the observations' products (:class:`_ObsSource`, or the Dask solver's blocks);
    ``sweeps(rank, Uo, Vw, count, tol)`` runs at most ``count`` sweeps at ``rank`` and returns (Uo, Vw, sweeps).
    """
    m, n = shape
    Uo, Vw = np.zeros((m, 0)), np.zeros((n, 0))
    spent = 0
    scale = None
    while True:
        r = Uo.shape[1]
        need = k - r
        res = source.residual(Uo, Vw)
        U1, sv, V1 = _subspace_triplets(res.times, res.rtimes, shape, nnz, min(need + INIT_OVERSAMPLING, m, n), gen,
                                        None if r == 0 else START_POWER)
        if scale is None:
            scale = float(sv[0])
        if not sv[0] > 1e-12 * scale:   # the residual vanishes (M has rank r < k): random directions
            U1 = gen.standard_normal((m, need))
            sv, V1 = np.zeros(need), np.zeros((n, need))
            add = need
        else:
            edge = _noise_edge(res, shape, nnz, gen) if need > 0 else 0.0
            add = min(need, max(1, int(np.sum(sv[:need] > START_EDGE * edge))))
        Uo, R = _orthonormalize(np.hstack([Uo, U1[:, :add]]))
        Vw = np.ascontiguousarray(np.hstack([Vw, V1[:, :add] * sv[:add]]) @ R.T)
        if r + add == k:
            return Uo, Vw, spent
        Uo, Vw, nit = sweeps(r + add, Uo, Vw, START_SWEEPS, START_TOL)
        spent += nit


def _init(init, obs, k, gen, func, clip_mu, sweeps=None):
    """(Uo, Vw, sweeps spent by the start) of ``init``; ``sweeps(obs, rank, Uo, Vw, maxiter, tol)`` runs
    alternating sweeps for the staged SVD start."""
    m, n = obs.shape
    spent = 0
    if isinstance(init, str):
        init = check_choice(init, "init", func, ("svd", "random"))
        if init == "svd" and obs.nnz > 0:
            Uo, Vw, spent = _staged_start(_ObsSource(obs), obs.shape, obs.nnz, k, gen,
                                          lambda *args: sweeps(obs, *args))
        else:
            Uo, _ = _orthonormalize(gen.standard_normal((m, k)))
            Vw = np.zeros((n, k))
    else:
        if isinstance(init, CompletionResult):
            init = (init.U, init.s, init.V)
        if not isinstance(init, (tuple, list)) or len(init) not in (2, 3):
            raise fail(func, "init", "be 'svd', 'random', a CompletionResult or a tuple (U, V) or (U, s, V)",
                       _describe(init), error=TypeError)
        U0 = as_float_array(init[0], "init[0]", func, ndim=2)
        V0 = as_float_array(init[-1], "init[-1]", func, ndim=2)
        s0 = np.ones(k) if len(init) == 2 else as_float_array(init[1], "init[1]", func, ndim=1)
        if U0.shape != (m, k) or V0.shape != (n, k) or s0.shape != (k,):
            raise fail(func, "init", f"hold factors of shapes ({m}, {k}), ({k},) and ({n}, {k})",
                       f"shapes {U0.shape}, {s0.shape} and {V0.shape}")
        Uo, R = _orthonormalize(U0)
        Vw = np.ascontiguousarray((V0 * s0) @ R.T)
    if clip_mu is not None:
        # JNS13 Algorithm 2, step 3: zero the entries above 2 mu sqrt(k/m), then orthonormalise.
        limit = 2.0 * clip_mu * math.sqrt(k / m)
        big = np.abs(Uo) > limit
        if big.any():
            clipped = Uo.copy()
            clipped[big] = 0.0
            Q, R = _orthonormalize(clipped)
            if np.all(np.abs(np.diag(R)) > 1e-12):  # else clipping removed a direction: keep the start
                # X0 = Uo Vw^T projected on the clipped basis Q: Q (Vw Uo^T Q)^T
                Vw = np.ascontiguousarray(Vw @ (Uo.T @ Q))
                Uo = Q
    return np.ascontiguousarray(Uo), np.ascontiguousarray(Vw), spent


@single_blas_thread()
def complete_matrix(X, rank, *, solver="auto", reg=0.0, reg_scale="none", center="none", value_range=None, tol=1e-6, maxiter=100,
                    init="svd", split=False, clip_mu=None, rng=None, callback=None, verbose=False,
                    **options) -> CompletionResult:
    r"""Low-rank matrix completion by robust alternating minimization (Gu, Song, Yin, Zhang, ICLR 2024).

    Finds a rank-``k`` matrix :math:`\hat X = U\,\mathrm{diag}(s)\,V^\top` that fits the observed
    entries :math:`\Omega` of :math:`M \in \mathbb R^{m \times n}`:

    .. math::

        \min_{\operatorname{rank} \hat X \le k}\ f(\hat X) = \|P_\Omega(\hat X - M)\|_F^2 + \mathrm{reg}\,\|\hat X\|_F^2 ,

    by alternating minimization (Jain, Netrapalli, Sanghavi 2013, Algorithm 2). With
    :math:`\hat X = \hat U W^\top`, :math:`\hat U` orthonormal, each half-step solves the
    *multiple-response regression* :math:`\min_W f(\hat U W^\top)`, which splits into one ridge
    least-squares problem per column :math:`j` (design :math:`\hat U_{\Omega_j,:}`, :math:`|\Omega_j| \times k`);
    :math:`W` is then orthonormalised by QR (:math:`W = QR`, :math:`\hat X = (\hat U R^\top) Q^\top`) and the
    other side is solved the same way. Re-orthonormalising keeps every row problem well conditioned for
    incoherent matrices and makes the ridge term :math:`\mathrm{reg}\,\|W\|_F^2 = \mathrm{reg}\,\|\hat X\|_F^2`
    independent of the factorisation, so :math:`f` never increases with ``"exact"`` or ``"cg"`` solves.

    The point of GSYZ is that the regressions need not be solved exactly: the analysis of
    alternating minimization survives approximate updates ("robust" here means robust to *inexact
    updates*, **not** to outliers or gross corruptions), and solving them by sketching takes
    :math:`\tilde O(|\Omega| k)` time per sweep instead of :math:`O(|\Omega| k^2)`. Per row, with
    :math:`d` observations:

    * ``"exact"``: normal equations (Gram :math:`B^\top B + \mathrm{reg}\,I`, Cholesky), batched in a
      Numba kernel over blocks of rows run on threads, :math:`O(dk^2 + k^3)`.
    * ``"cg"``: warm-started CGLS, :math:`O(dk)` per step, until the row's normal-equation residual has
      dropped by the factor ``cg_rtol`` (default 0.1) or after ``cg_maxiter`` (default :math:`k`) steps;
      2 to 3 steps on average on incoherent problems. The warm start is the current iterate, so each
      row's objective can only decrease.
    * ``"sketch"``: sketch-and-precondition (GSYZ's solver): :math:`SB` with a sparse sign sketch
      (:math:`\zeta` = ``nnz_per_column`` = 8) or an SRHT (``sketch="srht"``) from :mod:`numopt.linalg`,
      of ``sketch_size`` rows (default :math:`2k`); :math:`R` from the Householder QR of :math:`SB` (of
      :math:`[SB;\sqrt{\mathrm{reg}}\,I]` when ``reg > 0``); then warm-started CGLS right-preconditioned by
      :math:`R^{-1}`, at most ``cg_maxiter`` (default 3) steps. Its rate does not depend on the row's
      conditioning.
    * ``"auto"`` (default): per row, ``"exact"`` or ``"sketch"``, whichever the cost model
      :func:`row_costs` says is cheaper; the sketch wins only for large ``k`` and long rows
      (:math:`k \ge 72`; at ``k = 128`` rows with more than about 6000 observations). For well-conditioned
      (incoherent) problems ``"cg"`` is usually fastest: :math:`O(dk)` per step instead of the Gram's
      :math:`O(dk^2)`; at ``k = 10`` its two steps cost about as many multiply-adds as the Gram matrix, and
      fewer than it from ``k = 50``.

    Choices where the paper leaves details open (each tested):

    * Rows or columns with no observation get a zero factor row; rows whose problem is numerically
      singular (fewer than ``k`` observations and ``reg = 0``, Cholesky pivot or :math:`R_{ii}` below
      1e-12 relative) get the minimum-norm least-squares solution (eigendecomposition). An
      :class:`UnderdeterminedWarning` says how many rows and columns have fewer than ``k`` or no
      observations, or when the oversampling :math:`|\Omega|/(k(m+n-k))` is at most 2.
    * All of :math:`\Omega` is used in every half-step. ``split=True`` is the paper-faithful variant:
      :math:`\Omega` is partitioned uniformly at random into :math:`2T + 1` parts, :math:`T` = ``maxiter``;
      part 0 gives the initialisation, parts :math:`t+1` and :math:`T+t+1` the two half-steps of sweep
      :math:`t` (set ``maxiter`` to about :math:`\log(1/\epsilon)` and expect to need many more observations).
    * ``clip_mu=mu`` applies JNS13's clipping to the initial :math:`\hat U`: entries above
      :math:`2\mu\sqrt{k/m}` are zeroed before re-orthonormalising (keeps the start incoherent).
    * Duplicate (row, column) pairs are refused rather than summed.
    * Scale: the observed values are divided by the power of two nearest their RMS (exactly) before
      solving and the singular values, ``rmse`` and ``history`` are scaled back, so data of any finite scale
      (1e-300, 1e+300) give the same iterations; every tolerance is relative. If every observed value is
      zero (or nothing is observed), the completion is the zero matrix (``success``, ``nit = 0``).

    Parameters
    ----------
    X : scipy sparse array/matrix, tuple ``(rows, cols, values, shape)``, array_like with NaN or masked array
        The observations. Every stored entry of a sparse matrix is an observation (explicit zeros
        too); a dense array marks missing entries with NaN, a numpy masked array also by its mask (the
        masked values are never read). float32 values and int32/int64 indices are accepted; sparse input
        is never densified.
    rank : int
        :math:`k`, with :math:`1 \le k < \min(m, n)`.
    solver : {"auto", "exact", "cg", "sketch"}, default "auto"
        How each row's least-squares problem is solved (see above).
    reg : float or "auto", default 0.0
        Ridge weight :math:`\ge 0` on :math:`\|\hat X\|_F^2`. With this objective ``(c M, reg)`` is
        completed by ``c X``: the scaling equivariance holds for any ``reg``.
        ``"auto"``: every regularization is learned from the data, for noisy data such as ratings, with no
        grid over ``reg``. The model :math:`M_{ij} = \mu + b_i + c_j + a_i^\top b'_j + \varepsilon_{ij}`,
        :math:`\varepsilon \sim N(0, \sigma^2)`, with the priors :math:`a_{il} \sim N(0, 1/\alpha_l)`,
        :math:`b'_{jl} \sim N(0, 1/\beta_l)` (one precision per dimension and side),
        :math:`b_i \sim N(0, \tau_b^2)`, :math:`c_j \sim N(0, \tau_c^2)`, is fitted by mean-field variational
        Bayes (Lim and Teh 2007): each half-step gives every row the Gaussian posterior of its factor given the
        other side's posterior means *and covariances* (an exact :math:`k \times k` solve per row, so
        ``solver`` "auto" or "exact"), the offsets are refitted as above with the ridge weights
        :math:`\sigma^2/\tau^2`, and after every sweep :math:`\alpha, \beta, \tau^2, \sigma^2` take their
        EM updates (a dimension's inverse mean posterior second moment; the mean expected squared residual).
        A row with few observations is shrunk by the other side's uncertainty too, which a fixed ridge
        does not do. The completion is the posterior mean; ``history["objective"]`` uses the weights learned
        so far (it can rise when they change). A ``rank`` above the data's is safe: the precisions of the
        dimensions the data do not support grow and switch them off. The learned shrinkage keeps turning the
        factors slowly within near-degenerate subspaces long after the predictions have settled (relative
        changes of 1e-3 per sweep for hundreds of sweeps): ``tol=1e-2`` suffices for ratings (on the
        synthetic ratings the test RMSE at ``tol=1e-2`` and ``1e-3`` agree to 0.1 %). Not with
        ``reg_scale="counts"`` or ``split``.
    reg_scale : {"none", "counts"}, default "none"
        ``"counts"``: ALS-WR's regularization (Zhou, Wilkinson, Schreiber, Pan 2008) on unnormalised factors
        :math:`\hat X = AB^\top`: the objective becomes
        :math:`\|P_\Omega(\hat M - M)\|_F^2 + \mathrm{reg}\,(\sum_i n_i \|a_i\|^2 + \sum_j m_j \|b_j\|^2)`
        (:math:`n_i, m_j` the observation counts of row :math:`i` and column :math:`j`), minimized by exact
        weighted ridge solves (``solver`` "auto" or "exact"); at its minimum over factorizations this is a
        weighted nuclear norm, which shrinks the small singular directions most: the choice for noisy
        ratings (``reg`` about 0.01 to 0.1 on 1-5 stars; pick it on held-out entries).
    center : {"none", "global", "biases"}, default "none"
        Offsets fitted jointly with the low-rank part: the model is
        :math:`\hat M_{ij} = \mu + b_i + c_j + \hat X_{ij}` (``"global"``: :math:`b = c = 0`), and the
        objective gains :math:`\mathrm{reg}\,(\|b\|^2 + \|c\|^2)` (with ``reg_scale="counts"``:
        :math:`\mathrm{reg}\,(\sum_i n_i b_i^2 + \sum_j m_j c_j^2)`); :math:`\mu` is not penalized. The
        offsets are fitted before the start (on the data alone) and refitted after every sweep by exact block
        coordinate descent (see ``numopt.completion._ratings.Biases``), so the objective never increases.
        Rows and columns without observations are predicted from :math:`\mu` and the other side's bias;
        ``tol`` measures the change of the low-rank part. Not with ``split=True``.
    value_range : (lo, hi), optional
        Predictions (``predict``, ``to_dense``) are clipped to it, e.g. ``(1, 5)`` for star ratings.
    tol : float, default 1e-6
        Stop when the relative change of the completion over one sweep is at most ``tol``:
        :math:`\|\hat X_t - \hat X_{t-1}\|_F \le \mathrm{tol}\,\|\hat X_t\|_F`, measured without forming
        :math:`\hat X` as the sum of the two half-step changes (each is the Frobenius norm of the change of
        the updated factor, because the other factor is orthonormal; exact to rounding, no cancellation).
        Alternating minimization converges linearly, so the error left is of the order of the last change.
    maxiter : int, default 100
        Maximum number of sweeps.
    init : {"svd", "random"}, CompletionResult or tuple, default "svd"
        ``"svd"``: the staged spectral start. The top singular subspace of :math:`P_\Omega(M)/p`,
        :math:`p = |\Omega|/(mn)`, by a randomized block subspace iteration (Halko, Martinsson, Tropp 2011:
        a Gaussian block of :math:`k + 10` columns drawn from ``rng``, 3 power iterations re-orthonormalised
        by QR, Rayleigh-Ritz) on the sparse observations, never densified; reproducible for a given ``rng``.
        Only the directions whose singular values stand above the sampling noise (1.2 times the largest
        singular value of the observations with random signs, which have the noise's entry sizes and no
        low-rank part) are kept -- at least one; a few sweeps (at most 3, to a relative change of 5e-2, exact
        row solves for ``"cg"``) fit that rank, and the same test on the residual adds the next directions,
        until the rank is ``k`` (``start_sweeps`` counts those sweeps). For an ill-conditioned :math:`M` the
        tail directions of the one-shot start are noise, which alternating minimization fits and then
        stalls on (condition number 100, oversampling 4: relative error 1.1 after 100 sweeps); a
        well-conditioned :math:`M` keeps all ``k`` directions at once, which is the one-shot start;
        ``"random"``: a random orthonormal :math:`U`; or a start ``(U, V)`` / ``(U, s, V)`` / a previous result.
    split : bool, default False
        Sample splitting (see above).
    clip_mu : float, optional
        Incoherence parameter :math:`\mu` for clipping the initialisation (see above); off by default.
    rng : None, int, SeedSequence or numpy Generator
        Randomness of the initialisation, the sketches and the split.
    callback : callable, optional
        ``callback(intermediate_result)`` after every sweep; raising ``StopIteration`` stops.
    verbose : bool, default False
        Print one row per sweep.
    **options
        ``cg_maxiter`` (int, most inner steps per row and half-step: default ``rank`` for ``"cg"``, 3 for
        the sketch-preconditioned steps of ``"sketch"`` and ``"auto"``),
        ``cg_rtol`` (float in [0, 1], default 0.1: a row's inner iteration stops when its (preconditioned)
        normal-equation residual is at most ``cg_rtol`` times that at the warm start -- the forcing term
        of an inexact Newton method -- or below 1e-13 times that of the zero start, the rounding level;
        ``cg_rtol=0`` runs ``cg_maxiter`` steps unless the rounding level is reached first; the forcing
        term adapts to the observed contraction: whenever a sweep shrinks the relative change by less than
        half, it is divided by 10 for the rest of the run, down to 1e-8; ``history["cg_rtol"]``), ``sketch``
        (``"sparse_sign"`` or ``"srht"``), ``sketch_size`` (int, default :math:`2k`), ``nnz_per_column``
        (int, default 8). Any other keyword is a TypeError.

    Returns
    -------
    CompletionResult
        ``U``, ``s``, ``V``, ``predict(rows, cols)``, ``to_dense()``, ``rmse``, ``history``, ``nit``,
        ``success``, ``message``.

    Raises
    ------
    ValueError
        Duplicate (row, col) pairs, indices out of range, NaN/inf among observed values, ``rank < 1`` or
        ``rank >= min(m, n)``, negative or non-finite ``reg``, bad ``tol``/``maxiter``/``init`` shapes.
    TypeError
        Unknown keyword or solver option, arguments of the wrong type.

    Warns
    -----
    UnderdeterminedWarning
        Rows or columns with fewer than ``rank`` observations, or oversampling at most 2.
    numopt.ConvergenceWarning
        ``maxiter`` reached before ``tol`` (``success`` is False; the message says what to try).

    References
    ----------
    Y. Gu, Z. Song, J. Yin, L. Zhang, "Low rank matrix completion via robust alternating minimization in
    nearly linear time", ICLR 2024, arXiv:2302.11068. P. Jain, P. Netrapalli, S. Sanghavi, "Low-rank
    matrix completion using alternating minimization", STOC 2013, arXiv:1212.0467. Y. J. Lim, Y. W. Teh,
    "Variational Bayesian approach to movie rating prediction", KDD Cup and Workshop 2007 (``reg="auto"``).
    Y. Zhou, D. Wilkinson, R. Schreiber, R. Pan, "Large-scale parallel collaborative filtering for the
    Netflix prize", AAIM 2008 (``reg_scale="counts"``).

    Examples
    --------
    A rank-2 60 x 50 matrix from 40 % of its entries:

    >>> import numpy as np
    >>> from numopt.completion import complete_matrix
    >>> rng = np.random.default_rng(0)
    >>> M = rng.standard_normal((60, 2)) @ rng.standard_normal((2, 50))
    >>> X = np.where(rng.random(M.shape) < 0.4, M, np.nan)
    >>> res = complete_matrix(X, 2, tol=1e-12, rng=0)
    >>> res.success, bool(np.linalg.norm(res.to_dense() - M) <= 1e-8 * np.linalg.norm(M))
    (True, True)
    >>> bool(abs(res.predict(3, 7) - M[3, 7]) < 1e-9)
    True
    """
    func = "complete_matrix"
    check_no_extra(options, func, _OPTIONS)
    obs = as_observations(X, func, "X")
    m, n = obs.shape
    if min(m, n) < 2:
        raise fail(func, "X", "have at least 2 rows and 2 columns (rank must be < min(m, n))",
                   f"shape {(m, n)} (n_samples = {m}, n_features = {n})")
    k = check_int(rank, "rank", func, low=1, high=min(m, n) - 1)
    solver = check_choice(solver, "solver", func, SOLVERS)
    reg = _check_reg(reg, func)
    tol = check_scalar(tol, "tol", func, low=0.0)
    maxiter = check_int(maxiter, "maxiter", func, low=1)
    if not isinstance(split, (bool, np.bool_)):
        raise fail(func, "split", "be a bool", _describe(split), error=TypeError)
    if clip_mu is not None:
        clip_mu = check_scalar(clip_mu, "clip_mu", func, low=0.0, low_inclusive=False)
    center = check_choice(center, "center", func, CENTERS)
    if center != "none" and split:
        raise fail(func, "center", "be 'none' with split=True (the offsets are fitted on all observations)",
                   repr(center))
    value_range = _check_value_range(value_range, func)
    reg_scale = check_choice(reg_scale, "reg_scale", func, REG_SCALES)
    if reg_scale == "counts" and solver not in ("auto", "exact"):
        raise fail(func, "solver", "be 'auto' or 'exact' with reg_scale='counts' (exact weighted ridge solves)",
                   repr(solver))
    if reg_scale == "counts" and split:
        raise fail(func, "reg_scale", "be 'none' with split=True", repr(reg_scale))
    if reg == "auto":
        if solver not in ("auto", "exact"):
            raise fail(func, "solver", "be 'auto' or 'exact' with reg='auto' (exact posterior solves)", repr(solver))
        if reg_scale != "none" or split:
            raise fail(func, "reg", "be a number with reg_scale='counts' or split=True (reg='auto' learns its own "
                       "scales from all observations)", repr(reg))
    callback = check_callable(callback, "callback", func)
    gen = check_rng(rng, func)
    opts = _solver_options(options, k, solver, func)
    owned = obs is not X   # built here: its value arrays may be rescaled in place
    return _solve(obs, k, solver, reg, tol, maxiter, init, bool(split), clip_mu, gen, callback, verbose, opts, func,
                  owned, center, value_range, reg_scale)


def _solver_options(options, k, solver, func):
    """The validated ``**options`` of the row solvers (shared with the Dask solver)."""
    opts = {
        "cg_maxiter": check_int(options.get("cg_maxiter", k if solver == "cg" else _PCG_MAXITER),
                                "cg_maxiter", func, low=1),
        "cg_rtol": check_scalar(options.get("cg_rtol", _CG_RTOL), "cg_rtol", func, low=0.0, high=1.0),
        "sketch": check_choice(options.get("sketch", "sparse_sign"), "sketch", func, ("sparse_sign", "srht")),
        "nnz_per_column": check_int(options.get("nnz_per_column", 8), "nnz_per_column", func, low=1),
    }
    opts["sketch_size"] = check_int(options.get("sketch_size", 2 * k), "sketch_size", func, low=k)
    return opts


def _check_reg(reg, func):
    """``reg``: a number >= 0, or "auto"."""
    if isinstance(reg, str):
        if reg != "auto":
            raise fail(func, "reg", "be a number >= 0 or 'auto'", repr(reg))
        return reg
    return check_scalar(reg, "reg", func, low=0.0)


def _check_value_range(value_range, func):
    """None, or ``(lo, hi)`` as two finite floats with lo < hi."""
    if value_range is None:
        return None
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise fail(func, "value_range", "be None or a pair (lo, hi)", _describe(value_range), error=TypeError)
    lo = check_scalar(value_range[0], "value_range[0]", func)
    hi = check_scalar(value_range[1], "value_range[1]", func)
    if not lo < hi:
        raise fail(func, "value_range", "have lo < hi", repr(tuple(value_range)))
    return (lo, hi)


def _warn_underdetermined(obs, k, func):
    m, n = obs.shape
    rc, cc = obs.row_counts(), obs.col_counts()
    few_r, few_c = int((rc < k).sum()), int((cc < k).sum())
    zero_r, zero_c = int((rc == 0).sum()), int((cc == 0).sum())
    rho = obs.nnz / (k * (m + n - k))
    if few_r or few_c or rho <= 2.0:
        warn_user(
            f"{func}: {few_r} of {m} rows and {few_c} of {n} columns have fewer than rank = {k} observations "
            f"({zero_r} rows and {zero_c} columns have none), and the oversampling |Omega| / (k (m + n - k)) is "
            f"{rho:.3g}{' (at most 2: recovery is unlikely)' if rho <= 2.0 else ''}. Entries of rows and columns "
            "with fewer than rank observations are not determined by the data: those with none are set to zero, "
            "the others get the minimum-norm (or, with reg > 0, the ridge) solution.",
            UnderdeterminedWarning)
    return rho


class _Side:
    """The structure a half-step solves over (CSR for U, CSC for V) and its per-row plan."""

    def __init__(self, ptr, idx, val, n_other, k, solver, opts, reg):
        self.ptr, self.idx, self.val, self.n_other = ptr, idx, val, n_other
        counts = np.diff(ptr)
        self.plan = _plan(counts, k, solver, opts, reg)
        self.any_sketch = bool((self.plan == _kernels.SKETCH).any())
        self.any_cg = bool((self.plan == _kernels.CG).any())   # plans never mix CG with other solvers
        self.dmax = int(counts.max()) if counts.size else 0


def _sides(obs, k, solver, opts, reg):
    m, n = obs.shape
    rows = _Side(obs.row_ptr, obs.row_idx, obs.row_val, n, k, solver, opts, reg)
    cols = _Side(obs.col_ptr, obs.col_idx, obs.col_val, m, k, solver, opts, reg)
    return rows, cols


def _half(side: _Side, F, Xw, reg, opts, sketcher, stats, parallel=None, weights=None):
    """One half-step: every row of ``Xw`` (warm start on entry) re-solved against the fixed factor ``F`` by
    the kernel of its plan, in row blocks on threads; returns the summed statistics (see
    ``_kernels.rows_exact``). ``weights``: per-row multipliers of ``reg`` (exact solves only)."""
    ptr, idx, val, plan = side.ptr, side.idx, side.val, side.plan
    if weights is not None:
        def block(lo, hi):
            st = np.zeros(5)
            _kernels.rows_exact_weighted(lo, hi, ptr, idx, val, F, Xw, reg, weights, plan, st)
            return st
    elif side.any_sketch:
        kind, sk_rows, sk_signs, srht_signs, selected = sketcher.draw(side.n_other, side.dmax)
        size = opts["sketch_size"]

        def block(lo, hi):
            st = np.zeros(5)
            _kernels.rows_sketch(lo, hi, ptr, idx, val, F, Xw, reg, plan, opts["cg_maxiter"], opts["cg_rtol"], kind,
                                 size, sk_rows, sk_signs, srht_signs, selected, st)
            return st
    elif side.any_cg:
        def block(lo, hi):
            st = np.zeros(5)
            _kernels.rows_cg(lo, hi, ptr, idx, val, F, Xw, reg, plan, opts["cg_maxiter"], opts["cg_rtol"], st)
            return st
    else:
        def block(lo, hi):
            st = np.zeros(5)
            _kernels.rows_exact(lo, hi, ptr, idx, val, F, Xw, reg, plan, st)
            return st
    stats[:] = np.sum(map_row_blocks(block, ptr, parallel=parallel), axis=0)
    return stats.copy()


def _observed_sq_residual(obs, U, V):
    """sum over the observations of (value - (U V^T)_ij)^2, by row blocks."""
    parts = map_row_blocks(lambda lo, hi: _kernels.observed_sq_residual(obs.row_ptr, obs.row_idx, obs.row_val,
                                                                        U, V, lo, hi), obs.row_ptr)
    return float(sum(parts))


def _unit_exponent(vals):
    """The exponent E of the power of two nearest the RMS of ``vals`` (so that vals / 2^E has an RMS in
    [1/sqrt(2), sqrt(2)]), computed without overflow or underflow for any finite values; None when every
    value is zero (or there is none)."""
    if vals.shape[0] == 0:
        return None
    amax = max(float(vals.max()), -float(vals.min()))
    if amax == 0.0:
        return None
    e = math.frexp(amax)[1]            # amax = f 2^e, f in [1/2, 1): vals / 2^e lie in [-1, 1]
    sumsq = 0.0
    for lo in range(0, vals.shape[0], 1 << 20):
        chunk = np.ldexp(vals[lo:lo + (1 << 20)], -e)
        sumsq += float(chunk @ chunk)
    rms = math.sqrt(sumsq / vals.shape[0])   # in [1/sqrt(nnz) / 2, 1]
    return e + int(round(math.log2(rms)))


def _scaled(obs, exponent, owned):
    """``obs`` with its values multiplied by 2^exponent (exact: a power of two), in place when ``owned``."""
    if exponent == 0:
        return obs
    if owned:
        np.ldexp(obs.row_val, exponent, out=obs.row_val)
        np.ldexp(obs.col_val, exponent, out=obs.col_val)
        return obs
    return dataclasses.replace(obs, row_val=np.ldexp(obs.row_val, exponent), col_val=np.ldexp(obs.col_val, exponent))


def _zero_result(obs, k, init, gen, func, clip_mu, value_range=None):
    """Every observed value is zero (or nothing is observed): the zero matrix is the completion."""
    m, n = obs.shape
    Uo, _, _ = _init(init if not isinstance(init, str) else "random", obs, k, gen, func, clip_mu)  # validates init
    rho = _warn_underdetermined(obs, k, func)
    U, s, V = _svd_factors(Uo, np.zeros((n, k)))
    hist = {"rmse": np.zeros(1), "objective": np.zeros(1)}
    hist.update({key: np.zeros(0) for key in ("objective_half", "change", "inner_steps", "fallbacks", "time", "cg_rtol")})
    result = CompletionResult(x=(U, s, V), U=U, s=s, V=V, shape=(m, n), status=Status.SUCCESS, nit=0,
                              detail="Every observed value is zero: the completion is the zero matrix.",
                              rmse=0.0, change=0.0, oversampling=rho, history=hist, value_range=value_range,
                              row_bias=np.zeros(m), col_bias=np.zeros(n))
    return finish(result, func)


def _maxiter_detail(nit, change, tol, rmse, rho, solver_rows, split, maxiter):
    """What a run that stopped at ``maxiter`` saw, and what to try (advice that applies to this solver)."""
    if math.isinf(change):
        seen = (f"After {nit} sweeps the completion is the zero matrix although the observed values are not "
                "(the observations the last sweep used determine none of its rows).")
    else:
        seen = (f"After {nit} sweeps the relative change is {change:.3g} (tol {tol:g}) and the observed RMSE "
                f"{rmse:.3g}.")
    if split:
        parts = 2 * maxiter + 1
        return (f"{seen} With split=True each sweep fits 2 of the {parts} parts of the observations, of "
                f"oversampling {rho / parts:.3g} each (|Omega| / (k (m + n - k)) = {rho:.3g} in all): use "
                "many more observations, a smaller `maxiter`, or split=False.")
    inexact = any(side.get("cg", 0) or side.get("sketch", 0) for side in solver_rows.values())
    advice = "a larger `maxiter`, a lower `rank`, a ridge `reg` > 0" + (" or solver='exact'" if inexact else "")
    return (f"{seen} The oversampling |Omega| / (k (m + n - k)) is {rho:.3g} (exact recovery typically needs "
            f"2.5 to 4 or more). Try {advice}.")


def _print_row(printer, nit, rmse, change, obj, sv, su, elapsed, E):
    """The verbose row of one sweep, in the data's units (``E``: the power of two the data were divided by)."""
    if printer is not None:
        with np.errstate(over="ignore", under="ignore"):
            printer.row(nit, float(np.ldexp(rmse, E)), change, float(np.ldexp(obj, 2 * E)), int(sv[3] + su[3]),
                        elapsed)


def _callback_stops(callback, Uo, Vw, hist, unscale, shape, nit, rmse, E, change, rho, **fields):
    """Call ``callback`` with the intermediate result of this sweep; True when it asks to stop."""
    U, s, V, history = unscale(*_svd_factors(Uo, Vw), hist)
    inter = CompletionResult(x=(U, s, V), U=U, s=s, V=V, shape=shape, status=Status.MAXITER, nit=nit,
                             rmse=float(np.ldexp(rmse, E)), change=change, oversampling=rho, history=history,
                             **fields)
    return call_callback(callback, inter)


def _record(hist, rmse, obj_v, obj, change, sv, su, elapsed):
    """Append one sweep to the (scaled) history: the RMSE, the objective after each half-step, the change, the
    inner steps and fallbacks of both half-steps (``sv``, ``su``) and the sweep's time."""
    hist["rmse"].append(rmse)
    hist["objective"].append(obj)
    hist["objective_half"] += [obj_v, obj]
    hist["change"].append(change)
    hist["inner_steps"].append(int(sv[3] + su[3]))
    hist["fallbacks"].append(int(sv[2] + su[2]))
    hist["time"].append(elapsed)


def _final_status(status, s, s_unit, E, nit, change, tol, rmse, rho, solver_rows, split, maxiter):
    """(status, detail) of a finished run whose singular values are ``s`` (= ``s_unit`` * 2^E): the detail of a
    MAXITER (:func:`_maxiter_detail`, whose arguments follow ``E``) or NONFINITE stop, and NONFINITE where ``s``
    overflows float64."""
    detail = ""
    if status is Status.MAXITER:
        detail = _maxiter_detail(nit, change, tol, rmse, rho, solver_rows, split, maxiter)
    elif status is Status.NONFINITE:
        detail = "The last finite iterate is returned; add a ridge `reg` > 0 or lower `rank`."
    if not np.isfinite(s).all():
        status = Status.NONFINITE
        detail = (f"The completion's largest singular value, {float(s_unit[0]):.6g} * 2^{E}, overflows float64; "
                  "complete the data divided by a constant instead.")
    return status, detail


def _sweep(row_side, col_side, Uo, Vw, reg, opts, sketcher, stats):
    """One alternating sweep from X = Uo Vw^T (Uo orthonormal): the V half-step, QR, the U half-step, QR.
    Returns (Uo, Vw, statistics of the V half-step, of the U half-step) (see ``_kernels.rows_exact``)."""
    # V half-step: X = Uo Vw^T, Uo orthonormal
    sv = _half(col_side, Uo, Vw, reg, opts, sketcher, stats)
    Vo, Rv = _orthonormalize(Vw)
    Uw = np.ascontiguousarray(Uo @ Rv.T)
    # U half-step: X = Uw Vo^T, Vo orthonormal
    su = _half(row_side, Vo, Uw, reg, opts, sketcher, stats)
    Uo, Ru = _orthonormalize(Uw)
    Vw = np.ascontiguousarray(Vo @ Ru.T)
    return Uo, Vw, sv, su


class _Balanced:
    """The sweeps of ``reg_scale="counts"`` (ALS-WR, Zhou et al. 2008): unnormalised factors X = A B^T, each
    half-step the exact ridge regression of every row with weight reg * (its observation count), i.e. exact
    block coordinate descent on sum_Omega (M_ij - X_ij)^2 + reg (sum_i n_i |a_i|^2 + sum_j m_j |b_j|^2).
    :meth:`sweep` returns what :func:`_sweep` does, the statistics' change and norm entries being those of X
    (|A dB^T|_F^2 by the Gram identity, and |X_new|_F^2), so the stopping rule is the same."""

    def __init__(self, Uo, Vw, row_side, col_side):
        U, s, V = _svd_factors(Uo, Vw)
        root = np.sqrt(s)
        self.A = np.ascontiguousarray(U * root)
        self.B = np.ascontiguousarray(V * root)
        self.row_w = np.diff(row_side.ptr).astype(np.float64)
        self.col_w = np.diff(col_side.ptr).astype(np.float64)

    def penalty(self, reg):
        return reg * float(self.row_w @ np.sum(self.A * self.A, axis=1) + self.col_w @ np.sum(self.B * self.B, axis=1))

    def sweep(self, row_side, col_side, reg, opts, sketcher, stats):
        out = []
        for side, F, X, w in ((col_side, "A", "B", self.col_w), (row_side, "B", "A", self.row_w)):
            Fm, old = getattr(self, F), getattr(self, X).copy()
            st = _half(side, Fm, getattr(self, X), reg, opts, sketcher, stats, weights=w)
            G = Fm.T @ Fm
            D = getattr(self, X) - old
            Xn = getattr(self, X)
            st[1] = max(float(np.sum((D @ G) * D)), 0.0)
            st[4] = max(float(np.sum((Xn @ G) * Xn)), 0.0)
            out.append(st)
        Uo, R = _orthonormalize(self.A)
        return Uo, np.ascontiguousarray(self.B @ R.T), out[0], out[1]


class _Variational:
    """The sweeps of ``reg="auto"``: mean-field variational Bayes for the model M_ij = mu + b_i + c_j + A_i . B_j +
    N(0, noise_var) with the priors A_i ~ N(0, diag(1/prec_A)), B_j ~ N(0, diag(1/prec_B)) (Lim and Teh 2007,
    with one prior precision per dimension). Each half-step is the exact posterior of one factor given the
    other's (``_kernels.rows_variational``); after a sweep every precision is the inverse of its dimension's
    mean posterior second moment and (in ``_solve``) the noise variance the mean expected squared residual,
    both EM steps. :meth:`sweep` returns what :func:`_sweep` does, the change and norm
    entries being those of the posterior mean X = A B^T, as in :class:`_Balanced`."""

    #: Floor of a dimension's mean second moment (the data are scaled to an RMS near 1): a dimension the data do
    #: not use gets a precision of at most 1e30 instead of inf.
    SECOND_MOMENT_FLOOR = 1e-30

    def __init__(self, Uo, Vw, noise_var):
        U, s, V = _svd_factors(Uo, Vw)
        root = np.sqrt(s)
        k = s.shape[0]
        self.A = np.ascontiguousarray(U * root)
        self.B = np.ascontiguousarray(V * root)
        self.SA = np.zeros((self.A.shape[0], k, k))
        self.SB = np.zeros((self.B.shape[0], k, k))
        self.noise_var = noise_var
        self.prec_A = self._precisions(self.A, self.SA)
        self.prec_B = self._precisions(self.B, self.SB)
        self.variance = 0.0   # posterior variance of the fitted entries, summed over the observations

    @classmethod
    def _precisions(cls, X, S):
        second = np.mean(X * X, axis=0) + np.mean(np.diagonal(S, axis1=1, axis2=2), axis=0)
        return 1.0 / np.maximum(second, cls.SECOND_MOMENT_FLOOR)

    def penalty(self):
        """The prior terms in squared-residual units: noise_var (sum_d prec_A[d] |A_d|^2 + prec_B[d] |B_d|^2)."""
        return self.noise_var * float(self.prec_A @ np.sum(self.A * self.A, axis=0)
                                      + self.prec_B @ np.sum(self.B * self.B, axis=0))

    def _half(self, side, F, SF, X, SX, prec):
        def block(lo, hi):
            st = np.zeros(5)
            _kernels.rows_variational(lo, hi, side.ptr, side.idx, side.val, F, SF, X, SX, prec, self.noise_var, st)
            return st

        return np.sum(map_row_blocks(block, side.ptr), axis=0)

    def sweep(self, row_side, col_side):
        out = []
        for side, F, SF, X, SX, prec in ((col_side, self.A, self.SA, self.B, self.SB, self.prec_B),
                                         (row_side, self.B, self.SB, self.A, self.SA, self.prec_A)):
            old = X.copy()
            st = self._half(side, F, SF, X, SX, prec)
            G = F.T @ F
            D = X - old
            st[1] = max(float(np.sum((D @ G) * D)), 0.0)
            st[4] = max(float(np.sum((X @ G) * X)), 0.0)
            out.append(st)
        self.variance = float(out[1][2])
        self.prec_A = self._precisions(self.A, self.SA)
        self.prec_B = self._precisions(self.B, self.SB)
        Uo, R = _orthonormalize(self.A)
        return Uo, np.ascontiguousarray(self.B @ R.T), out[0], out[1]

    def learn_noise(self, sq_residual, biases, nnz):
        """The EM step of the noise variance: (observed squared residual of the posterior means + posterior
        variance of the fitted entries and offsets) / |Omega|."""
        extra = biases.variance(self.noise_var) if biases is not None else 0.0
        self.noise_var = max((sq_residual + self.variance + extra) / nnz, self.SECOND_MOMENT_FLOOR)


def _change(sv, su):
    """The relative change of one sweep (the sum of both half-step changes, see ``tol``); inf for a zero
    completion (the observed values are not all zero, so it has not converged to anything)."""
    return (math.sqrt(sv[1]) + math.sqrt(su[1])) / math.sqrt(su[4]) if su[4] > 0 else math.inf


#: The forcing term of the inexact solvers adapts to the observed contraction: whenever a sweep shrinks the
#: relative change by less than the factor FORCING_CONTRACTION, ``cg_rtol`` is divided by FORCING_TIGHTEN
#: for the rest of the run, down to FORCING_MIN. A fixed forcing term of 0.1 lets the error of the inexact
#: solves accumulate in the smallest singular directions: at condition number 1000 (2000^2, rank 10,
#: oversampling 10) "cg" slowed to a contraction of 0.9 per sweep, then drifted to a spurious completion
#: (relative error 0.14 after 100 sweeps where exact solves converge in 6).
FORCING_CONTRACTION = 0.5
FORCING_TIGHTEN = 10.0
FORCING_MIN = 1e-8


def _next_forcing(forcing, changes):
    """The forcing term of the next sweep, from the relative changes of the sweeps so far."""
    if len(changes) >= 2 and not changes[-1] <= FORCING_CONTRACTION * changes[-2]:
        return max(forcing / FORCING_TIGHTEN, min(forcing, FORCING_MIN))
    return forcing


def _sweeps(row_side, col_side, Uo, Vw, reg, opts, sketcher, count, tol):
    """At most ``count`` sweeps, until the relative change is at most ``tol``: (Uo, Vw, sweeps done). A
    non-finite sweep is undone and ends the run (the main loop then reports it)."""
    stats = np.zeros(5)
    for it in range(count):
        U1, V1, sv, su = _sweep(row_side, col_side, Uo, Vw, reg, opts, sketcher, stats)
        change = _change(sv, su)
        if math.isnan(change) or not (np.isfinite(U1).all() and np.isfinite(V1).all()):
            return Uo, Vw, it
        Uo, Vw = U1, V1
        if change <= tol:
            return Uo, Vw, it + 1
    return Uo, Vw, count


def _penalty(balanced, variational, reg, reg_f, xnorm2):
    """The factor terms of the objective: ALS-WR's weighted norms, the learned priors of reg="auto" (in
    squared-residual units), or reg |X|_F^2."""
    if balanced is not None:
        return balanced.penalty(reg_f)
    if variational is not None:
        return variational.penalty()
    return reg * xnorm2


#: reg="auto" with center="biases": EM passes on the offsets alone (their priors) before the start.
AUTO_BIAS_PASSES = 5


def _solve(obs, k, solver, reg, tol, maxiter, init, split, clip_mu, gen, callback, verbose, opts, func, owned=False,
           center="none", value_range=None, reg_scale="none"):
    m, n = obs.shape
    # Every tolerance below is relative, but squares of values near 1e-160 underflow and sums near 1e+160
    # overflow: solve for the values divided by a power of two 2^E near their RMS (exact), scale back.
    E = _unit_exponent(obs.row_val)
    if E is None:
        return _zero_result(obs, k, init, gen, func, clip_mu, value_range)
    obs = _scaled(obs, -E, owned)
    auto = isinstance(reg, str)   # reg="auto": variational Bayes (complete_matrix checked the value)
    if auto:
        reg = 0.0
    biases = None
    if center != "none":   # the sweeps fit the observations minus the offsets, refitted after every sweep
        biases = Biases(obs, center, reg, counts=reg_scale == "counts")
        e = biases.update()
        for _ in range(AUTO_BIAS_PASSES if auto else 0):   # the offsets alone, their priors learned (EM)
            biases.learn((e + biases.variance(e / max(obs.nnz, 1))) / max(obs.nnz, 1))
            e = biases.update()
        obs = biases.shifted
    sketcher = _Sketcher(opts["sketch"], opts["sketch_size"], opts["nnz_per_column"], gen)
    if split:
        labels = gen.integers(0, 2 * maxiter + 1, size=obs.nnz)
        init_obs = obs.subset(labels == 0)
    else:
        init_obs = obs

    def sweeps(obs_, rank, U_, V_, count, stop):
        rows_, cols_ = _sides(obs_, rank, "exact" if solver == "cg" or reg_scale == "counts" or auto else solver, opts,
                              reg)
        return _sweeps(rows_, cols_, U_, V_, 0.0 if reg_scale == "counts" else reg, opts, sketcher, count, stop)

    Uo, Vw, start_sweeps = _init(init, init_obs, k, gen, func, clip_mu, sweeps)
    if not isinstance(init, str):
        Vw = np.ldexp(Vw, -E)
    rho = _warn_underdetermined(obs, k, func)
    if not split:
        row_side, col_side = _sides(obs, k, "exact" if reg_scale == "counts" or auto else solver, opts, reg)
        solver_rows = {"rows": _plan_counts(row_side.plan), "columns": _plan_counts(col_side.plan)}
    else:
        solver_rows = {}
    printer = IterationPrinter(_VERBOSE_COLUMNS) if verbose else None
    balanced = _Balanced(Uo, Vw, row_side, col_side) if reg_scale == "counts" else None
    nnz = max(obs.nnz, 1)
    # reg="auto": the noise variance starts at the start's mean squared residual
    variational = _Variational(Uo, Vw, _observed_sq_residual(obs, Uo, Vw) / nnz) if auto else None
    # The factor penalty reg (|A|^2 + |B|^2) scales like the data, not like its square: in the units of the
    # values divided by 2^E it is reg 2^-E (the ridge on |X|^2 and on the biases is unchanged).
    reg_f = math.ldexp(reg, -E) if balanced is not None else reg
    res0 = _observed_sq_residual(obs, Uo, Vw)
    obj0 = res0 + _penalty(balanced, variational, reg, reg_f, float(np.sum(Vw * Vw)))
    obj0 += biases.penalty() if biases is not None else 0.0
    hist = {"rmse": [math.sqrt(res0 / nnz)], "objective": [obj0], "objective_half": [], "change": [],
            "inner_steps": [], "fallbacks": [], "time": [], "cg_rtol": []}
    stats = np.zeros(5)
    forcing = opts["cg_rtol"]
    status = Status.MAXITER
    nit = 0
    change = math.inf
    rmse = hist["rmse"][0]

    def offsets():   # the mean and biases in the units of the data
        if biases is None:
            return {"value_range": value_range, "row_bias": np.zeros(m), "col_bias": np.zeros(n)}
        return {"value_range": value_range, "mean": math.ldexp(biases.mean, E), "row_bias": np.ldexp(biases.b, E),
                "col_bias": np.ldexp(biases.c, E)}

    def unscale(U, s, V, hist):   # back to the units of the data
        history = {key: np.asarray(v, dtype=np.int64 if key in ("inner_steps", "fallbacks") else np.float64)
                   for key, v in hist.items()}
        with np.errstate(over="ignore", under="ignore"):   # the objective is in squared units: data ~1e+160
            history["rmse"] = np.ldexp(history["rmse"], E)     # have an objective of inf (and ~1e-160, 0)
            for key in ("objective", "objective_half"):
                history[key] = np.ldexp(history[key], 2 * E)
            s = np.ldexp(s, E)
        return U, s, V, history

    for it in range(maxiter):
        t0 = time.perf_counter()
        saved = (Uo.copy(), Vw.copy())
        if split:
            part_v = obs.subset(labels == it + 1)
            part_u = obs.subset(labels == maxiter + it + 1)
            row_side = _Side(part_u.row_ptr, part_u.row_idx, part_u.row_val, n, k, solver, opts, reg)
            col_side = _Side(part_v.col_ptr, part_v.col_idx, part_v.col_val, m, k, solver, opts, reg)
        sweep_opts = opts if forcing == opts["cg_rtol"] else {**opts, "cg_rtol": forcing}
        if balanced is not None:
            Uo, Vw, sv, su = balanced.sweep(row_side, col_side, reg_f, sweep_opts, sketcher, stats)
        elif variational is not None:
            Uo, Vw, sv, su = variational.sweep(row_side, col_side)
        else:
            Uo, Vw, sv, su = _sweep(row_side, col_side, Uo, Vw, reg, sweep_opts, sketcher, stats)
        obj_v = sv[0] + reg * sv[4]
        xnorm2 = su[4]
        nit = it + 1
        if split:
            res = _observed_sq_residual(obs, Uo, Vw)
        elif biases is not None:
            res = biases.update(Uo, Vw)
        else:
            res = su[0]
        if variational is not None:   # EM steps of the noise variance and the offsets' priors
            variational.learn_noise(res, biases, nnz)
            if biases is not None:
                biases.learn(variational.noise_var)
        obj = res + _penalty(balanced, variational, reg, reg_f, xnorm2)
        obj += biases.penalty() if biases is not None else 0.0
        # the observed values are not all zero, so a zero completion has not converged to anything
        change = _change(sv, su)
        if not (math.isfinite(obj) and not math.isnan(change) and np.isfinite(Uo).all() and np.isfinite(Vw).all()):
            Uo, Vw = saved
            status = Status.NONFINITE
            break
        rmse = math.sqrt(res / nnz)
        elapsed = time.perf_counter() - t0
        _record(hist, rmse, obj_v, obj, change, sv, su, elapsed)
        hist["cg_rtol"].append(forcing)
        forcing = _next_forcing(forcing, hist["change"])
        _print_row(printer, nit, rmse, change, obj, sv, su, elapsed, E)
        if change <= tol:
            status = Status.SUCCESS
            break
        if callback is not None and _callback_stops(callback, Uo, Vw, hist, unscale, (m, n), nit, rmse, E, change, rho,
                                                    start_sweeps=start_sweeps, **offsets()):
            status = Status.CALLBACK
            break
    U, s_unit, V = _svd_factors(Uo, Vw)
    U, s, V, history = unscale(U, s_unit, V, hist)
    status, detail = _final_status(status, s, s_unit, E, nit, change, tol, float(np.ldexp(rmse, E)), rho,
                                   solver_rows, split, maxiter)
    if variational is not None and status is Status.MAXITER and math.isfinite(change):
        detail = (f"After {nit} sweeps the relative change is {change:.3g} (tol {tol:g}); the learned noise standard "
                  f"deviation is {math.ldexp(math.sqrt(variational.noise_var), E):.3g} (observed RMSE "
                  f"{math.ldexp(rmse, E):.3g}). On noisy data the predictions settle long before the factors stop "
                  "moving: try tol=1e-2, or a larger `maxiter`.")
    result = CompletionResult(x=(U, s, V), U=U, s=s, V=V, shape=(m, n), status=status, nit=nit, detail=detail,
                              rmse=float(np.ldexp(rmse, E)), change=change, oversampling=rho,
                              solver_rows=solver_rows, history=history, start_sweeps=start_sweeps, **offsets())
    return finish(result, func)
