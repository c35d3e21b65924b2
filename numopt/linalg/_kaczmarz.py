"""Sketch-and-project for consistent linear systems: randomized Kaczmarz, block Kaczmarz, Gaussian sketches.

The row-action loops (one Kaczmarz projection per drawn row, one block projection per drawn block) run
in Numba kernels of :mod:`numopt.linalg._kernels`; every random index is drawn here, with NumPy, from
the user's ``rng`` in batches, so a seeded run is reproducible bit for bit.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._result import IterationPrinter, Result, Status, call_callback, finish
from .._validation import (
    as_float_array,
    as_operator,
    check_callable,
    check_choice,
    check_int,
    check_rng,
    check_scalar,
    fail,
)
from . import _kernels
from ._scale import max_abs, pow2_scale, scale_system

__all__ = ["sketch_and_project", "kaczmarz_contraction_rate", "SketchProjectResult"]

_SAMPLINGS = ("row_norm", "uniform")
#: Most random indices drawn (and held) at once; a long chunk between two checks is split into batches.
#: ``Generator.random`` draws the same stream whatever the batch sizes, so batching changes no result.
_BATCH = 1 << 16
#: A residual that has not fallen below ``_STALL_FACTOR`` times its last reference value for ``patience``
#: epochs (default ``_PATIENCE_EPOCHS``; and at least ``_PATIENCE_CHECKS`` checks) ends the run.
_PATIENCE_EPOCHS = 100
_PATIENCE_CHECKS = 10
_STALL_FACTOR = 0.99
_EPS = float(np.finfo(np.float64).eps)


@dataclasses.dataclass(kw_only=True, repr=False)
class SketchProjectResult(Result):
    """Result of :func:`sketch_and_project`.

    Attributes
    ----------
    x : ndarray
        The last iterate.
    nit : int
        Number of projection steps (one row, one block or one Gaussian sketch each).
    residual_norm : float
        :math:`\\|b - A x\\|_2` at the last check.
    residual_history : ndarray
        :math:`\\|b - A x\\|_2` at ``x0`` and then at every check (every ``check_every`` steps, the last
        check possibly sooner when ``maxiter`` is reached).
    partition : tuple of ndarray or None
        For ``method="block_kaczmarz"``, the fixed partition of the rows into blocks (sorted row indices
        of each block) that the run sampled from; pass it to :func:`kaczmarz_contraction_rate`.
        ``None`` for the other methods and when the run stops before its first step.
    """

    residual_norm: float = math.nan
    residual_history: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))
    partition: tuple | None = None


# --------------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------------


def _row_norms_sq(A, kind: str) -> np.ndarray:
    """Squared Euclidean norms of the rows of a dense or CSR matrix."""
    if kind == "dense":
        return np.einsum("ij,ij->i", A, A)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    return np.bincount(rows, weights=A.data * A.data, minlength=A.shape[0])


def _zero_rows(A, kind: str) -> np.ndarray:
    """Boolean mask of the rows of ``A`` whose entries are all zero."""
    if kind == "dense":
        return ~A.any(axis=1)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    return np.bincount(rows[A.data != 0], minlength=A.shape[0]) == 0


def _check_row_norms(norms: np.ndarray, func: str, zero_rows: np.ndarray | None = None) -> None:
    if not np.isfinite(norms).all():
        i = int(np.flatnonzero(~np.isfinite(norms))[0])
        raise fail(func, "A", "have rows whose squared norms are finite (rescale `A` and `b`)",
                   f"||A[{i}]||^2 = {norms[i]}")
    if zero_rows is not None:
        lost = np.flatnonzero((norms == 0) & ~zero_rows)
        if lost.size:
            i = int(lost[0])
            raise fail(func, "A", "have rows whose squared norms are representable relative to its largest entry "
                       "(rescale the rows of `A` and `b` to comparable magnitudes)",
                       f"||A[{i}]||^2 underflowing to 0 while row {i} is not zero")


def _check_method(method, sampling, block_size, m: int, func: str):
    method = check_choice(method, "method", func, _METHODS)
    sampling = check_choice(sampling, "sampling", func, _SAMPLINGS)
    block_size = check_int(block_size, "block_size", func, low=1, high=m)
    if method == "kaczmarz" and block_size != 1:
        raise fail(func, "block_size", "be 1 for method='kaczmarz' (use method='block_kaczmarz' for blocks of rows)",
                   repr(block_size))
    return method, sampling, block_size


def _draw_partition(nonzero_rows: np.ndarray, block_size: int, rng: np.random.Generator) -> tuple:
    """Random partition of ``nonzero_rows`` into ceil(len / block_size) blocks of nearly equal size."""
    n_blocks = -(-nonzero_rows.shape[0] // block_size)
    permuted = rng.permutation(nonzero_rows)
    return tuple(np.sort(block).astype(np.int64) for block in np.array_split(permuted, n_blocks))


class _Sampler:
    """Draw indices with probabilities proportional to ``weights`` (zero weights are never drawn)."""

    def __init__(self, weights: np.ndarray, rng: np.random.Generator):
        cdf = np.cumsum(weights)
        self._cdf = cdf / cdf[-1]  # cdf[-1] == 1.0 exactly, and rng.random() < 1
        self._rng = rng

    def draw(self, size: int) -> np.ndarray:
        return np.searchsorted(self._cdf, self._rng.random(size), side="right")


# --------------------------------------------------------------------------------------------------
# The three methods: each object advances x in place by a given number of projection steps
# --------------------------------------------------------------------------------------------------


class _KaczmarzSteps:
    """Single-row projections (Numba kernel over a batch of pre-drawn rows)."""

    def __init__(self, A, kind, b, norms, sampling, block_size, rng):
        self.A, self.kind, self.b, self.norms = A, kind, b, norms
        self.epoch = A.shape[0]
        self.partition = None
        weights = norms if sampling == "row_norm" else (norms > 0).astype(np.float64)
        self._sampler = _Sampler(weights, rng)

    def advance(self, x: np.ndarray, steps: int) -> None:
        A = self.A
        done = 0
        while done < steps:
            rows = self._sampler.draw(min(_BATCH, steps - done))
            if self.kind == "dense":
                _kernels.kaczmarz_dense(A, self.b, self.norms, rows, x)
            else:
                _kernels.kaczmarz_csr(A.indptr, A.indices, A.data, self.b, self.norms, rows, x)
            done += rows.shape[0]


class _BlockKaczmarzSteps:
    """Projections onto the solutions of a random block of rows of a fixed random partition."""

    def __init__(self, A, kind, b, norms, sampling, block_size, rng):
        m, n = A.shape
        self.A, self.kind, self.b = A, kind, b
        self.epoch = -(-m // block_size)
        self.partition = _draw_partition(np.flatnonzero(norms > 0), block_size, rng)
        sizes = np.array([block.shape[0] for block in self.partition], dtype=np.int64)
        self.block_ptr = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        self.block_rows = np.concatenate(self.partition).astype(np.int64)
        self.gram_ptr = np.concatenate(([0], np.cumsum(sizes * sizes))).astype(np.int64)
        grams = np.empty(int(self.gram_ptr[-1]))
        if kind == "dense":
            _kernels.block_gram_dense(A, self.block_ptr, self.block_rows, self.gram_ptr, grams)
            width = n
        else:
            _kernels.block_gram_csr(A.indptr, A.indices, A.data, self.block_ptr, self.block_rows, self.gram_ptr,
                                    grams, np.zeros(n))
            width = int(np.diff(A.indptr).max())
        self.gram_pinv = _block_pinv(grams, sizes, self.gram_ptr, width)
        self._r = np.empty(int(sizes.max()))
        if sampling == "row_norm":
            weights = np.add.reduceat(norms[self.block_rows], self.block_ptr[:-1])
        else:
            weights = np.ones(sizes.shape[0])
        self._sampler = _Sampler(weights, rng)

    def advance(self, x: np.ndarray, steps: int) -> None:
        A = self.A
        done = 0
        while done < steps:
            blocks = self._sampler.draw(min(_BATCH, steps - done))
            if self.kind == "dense":
                _kernels.block_kaczmarz_dense(A, self.b, self.block_ptr, self.block_rows, self.gram_ptr,
                                              self.gram_pinv, blocks, x, self._r)
            else:
                _kernels.block_kaczmarz_csr(A.indptr, A.indices, A.data, self.b, self.block_ptr, self.block_rows,
                                            self.gram_ptr, self.gram_pinv, blocks, x, self._r)
            done += blocks.shape[0]


def _block_pinv(grams: np.ndarray, sizes: np.ndarray, gram_ptr: np.ndarray, width: int) -> np.ndarray:
    """Pseudo-inverses of the flattened block Gram matrices, by batched ``eigh`` (one batch per block size).

    Eigenvalues below ``lambda_max * eps * (size + width)`` (the rounding level of the computed Gram
    matrix) are dropped. The truncated step is still an exact projection, for a sketch with fewer
    columns, so dropping a direction never makes an iteration expand the error.
    """
    out = np.empty_like(grams)
    for size in np.unique(sizes):
        size = int(size)
        which = np.flatnonzero(sizes == size)
        offsets = gram_ptr[which][:, None] + np.arange(size * size)
        G = grams[offsets].reshape(-1, size, size)
        w, V = np.linalg.eigh(G)
        keep = w > w[:, -1:] * (_EPS * (size + width))
        inv = np.divide(1.0, w, out=np.zeros_like(w), where=keep)
        out[offsets] = ((V * inv[:, None, :]) @ V.transpose(0, 2, 1)).reshape(-1, size * size)
    return out


class _GaussianSteps:
    """Projections onto the solutions of S^T A x = S^T b for a fresh Gaussian S (m x block_size) each step."""

    def __init__(self, A, kind, b, norms, sampling, block_size, rng):
        self.A, self.kind, self.b, self.k, self.rng = A, kind, b, block_size, rng
        self.epoch = -(-A.shape[0] // block_size)
        self.partition = None

    def advance(self, x: np.ndarray, steps: int) -> None:
        A, b = self.A, self.b
        m = A.shape[0]
        for _ in range(steps):
            S = self.rng.standard_normal((m, self.k))
            SA = S.T @ A if self.kind == "dense" else np.ascontiguousarray((A.T @ S).T)
            with np.errstate(over="ignore", invalid="ignore"):
                rhs = S.T @ b - SA @ x
            if not np.isfinite(rhs).all():
                x[:] = np.nan  # reported as Status.NONFINITE at the next check
                return
            # lstsq returns the least-norm z with SA z = rhs, i.e. z = (S^T A)^+ S^T (b - A x).
            x += np.linalg.lstsq(SA, rhs, rcond=None)[0]


#: ``method=`` dispatch.
_METHODS = {"kaczmarz": _KaczmarzSteps, "block_kaczmarz": _BlockKaczmarzSteps, "gaussian": _GaussianSteps}


def _residual_norm(A, b: np.ndarray, x: np.ndarray) -> float:
    # An overflow shows up as a non-finite residual (Status.NONFINITE), not as a RuntimeWarning.
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.linalg.norm(b - A @ x))


# --------------------------------------------------------------------------------------------------
# Public solver
# --------------------------------------------------------------------------------------------------


def sketch_and_project(
    A,
    b,
    *,
    x0=None,
    method="kaczmarz",
    sampling="row_norm",
    block_size=1,
    tol=1e-8,
    maxiter=None,
    check_every=None,
    patience=_PATIENCE_EPOCHS,
    rng=None,
    callback=None,
    verbose=False,
) -> SketchProjectResult:
    r"""Solve a consistent linear system :math:`Ax = b` by sketch-and-project (randomized Kaczmarz).

    Each step draws a random sketch :math:`S` and projects the iterate onto the solutions of the
    sketched system :math:`S^\top A x = S^\top b`:

    .. math::

        x_{k+1} = x_k + A^\top S \left(S^\top A A^\top S\right)^{+} S^\top (b - A x_k).

    * ``method="kaczmarz"``: :math:`S = e_i`, one row :math:`a_i` (Strohmer & Vershynin),
      :math:`x_{k+1} = x_k + \frac{b_i - a_i^\top x_k}{\|a_i\|_2^2}\, a_i`.
    * ``method="block_kaczmarz"``: :math:`S = I_{:,\tau}`, a block :math:`\tau` of at most ``block_size``
      rows, :math:`x_{k+1} = x_k + A_\tau^{+}(b_\tau - A_\tau x_k)` (Needell & Tropp). The rows are split
      once, at random from ``rng``, into :math:`\lceil m'/\text{block\_size}\rceil` blocks of nearly equal
      size (:math:`m'` the number of nonzero rows); the result carries this ``partition``.
    * ``method="gaussian"``: :math:`S \in \mathbb{R}^{m\times \text{block\_size}}` with i.i.d. standard
      normal entries, drawn afresh every step (Gower & Richtárik). Each step costs a product
      :math:`S^\top A` (``m * n * block_size`` flops dense), so it pays off only for small, dense systems.

    From :math:`x_0 = 0` (or any :math:`x_0` in the row space of :math:`A`) the iterates converge to the
    least-norm solution :math:`A^{+} b`; in general to the solution nearest :math:`x_0`. For the
    expected rate see :func:`kaczmarz_contraction_rate`.

    Parameters
    ----------
    A : ndarray or scipy sparse matrix, shape (m, n)
        Sparse input is kept sparse (CSR, float64). A ``LinearOperator`` is refused: the methods read rows.
    b : array_like, shape (m,)
        Right-hand side; the system must be consistent (``b`` in the range of ``A``).
    x0 : array_like, shape (n,), optional
        Starting point (default zero).
    method : {"kaczmarz", "block_kaczmarz", "gaussian"}
        The sketch, see above. Choose ``"kaczmarz"`` first (cheapest step, sparse-friendly); blocks help
        when rows are strongly correlated; ``"gaussian"`` mixes all rows into each step.
    sampling : {"row_norm", "uniform"}
        For the row methods: draw row :math:`i` with probability :math:`\|a_i\|_2^2/\|A\|_F^2` (block
        :math:`\tau` with :math:`\|A_\tau\|_F^2/\|A\|_F^2`), or uniformly over the nonzero rows (blocks).
        Rows of zero norm are never drawn. Ignored by ``"gaussian"``.
    block_size : int, default 1
        Rows per block (``"block_kaczmarz"``) or sketch columns (``"gaussian"``); in ``[1, m]``. Must be 1
        for ``"kaczmarz"``.
    tol : float, default 1e-8
        Stop when :math:`\|b - A x\|_2 \le \mathrm{tol}\,\|b\|_2`. When ``b = 0`` and ``x0`` is given,
        :math:`\|b - A x_0\|_2` replaces :math:`\|b\|_2`.
    maxiter : int, optional
        Budget of projection steps; default 1000 epochs, i.e. ``1000 * m`` for ``"kaczmarz"`` and
        ``1000 * ceil(m / block_size)`` for the other methods.
    check_every : int, optional
        Steps between two residual checks (each costs one product with ``A``); default one epoch,
        ``m`` for ``"kaczmarz"`` and ``ceil(m / block_size)`` otherwise. Stopping, ``callback`` and
        ``verbose`` act only at checks.
    patience : int or None, default 100
        Epochs without a 1 % drop of the residual (and at least 10 checks) after which the run ends as
        ``INCONSISTENT`` (or ``STAGNATION``, see below). ``None`` never ends a run for a stall: use it for a
        system known to be consistent but slow (an ill-conditioned nonsingular one), whose residual can
        plateau for long stretches before it falls again.
    rng : None, int, SeedSequence or numpy Generator
        Source of every random choice (partition, rows, blocks, Gaussian sketches); a seed makes the
        run reproducible bit for bit.
    callback : callable, optional
        ``callback(intermediate_result)`` at every check with a :class:`SketchProjectResult` (a copy of
        ``x``; ``status`` is ``SUCCESS`` once the tolerance holds, ``MAXITER`` before); raising
        ``StopIteration`` stops the run with ``Status.CALLBACK``.
    verbose : bool, default False
        Print the step count and the residual at every check.

    Returns
    -------
    SketchProjectResult
        ``x``, ``success``, ``status``, ``message``, ``nit`` (projection steps), ``residual_norm``,
        ``residual_history`` and ``partition``. ``status`` is ``SUCCESS``; ``ZERO_RHS`` when ``b = 0``
        and no ``x0`` is given (then ``x = 0``); ``MAXITER``; ``CALLBACK``; ``NONFINITE`` when the
        residual becomes NaN or inf; ``INCONSISTENT`` when the residual has stopped decreasing (less
        than 1 % in ``patience`` epochs) while still above :math:`\sqrt{\epsilon}\,\|b\|_2`, which is what an
        inconsistent system does, and ``STAGNATION`` when it stalls below that level.

    Raises
    ------
    TypeError
        ``A`` is a LinearOperator, or an argument has the wrong type.
    ValueError
        Shapes disagree, an input is not finite, an option is out of range, a zero row of ``A``
        meets a nonzero entry of ``b`` (the system is then inconsistent), or a nonzero row of ``A`` is so
        much smaller than its largest entry (about 1e-154 relative) that its squared norm underflows.
        ``A`` and ``b`` themselves may have any magnitude: the run works on them scaled exactly by powers
        of two and scales ``x`` and the residuals back.

    Warns
    -----
    numopt.ConvergenceWarning
        When the run ends without meeting ``tol`` (other than by ``callback``).

    See Also
    --------
    kaczmarz_contraction_rate : the expected contraction factor per step.

    References
    ----------
    .. [1] T. Strohmer and R. Vershynin, "A randomized Kaczmarz algorithm with exponential convergence",
       J. Fourier Anal. Appl. 15 (2009), 262-278. arXiv:math/0702226.
    .. [2] R. M. Gower and P. Richtárik, "Randomized iterative methods for linear systems",
       SIAM J. Matrix Anal. Appl. 36 (2015), 1660-1690. arXiv:1506.03296.
    .. [3] D. Needell and J. A. Tropp, "Paved with good intentions: analysis of a randomized block
       Kaczmarz method", Linear Algebra Appl. 441 (2014), 199-221. arXiv:1208.3805.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.linalg import sketch_and_project
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0], [1.0, -1.0]])
    >>> res = sketch_and_project(A, A @ np.array([1.0, -2.0]), rng=0)
    >>> res.success, np.round(res.x, 6)
    (True, array([ 1., -2.]))
    """
    func = "sketch_and_project"
    A, kind = as_operator(A, "A", func)
    if kind == "operator":
        raise fail(func, "A", "be an ndarray or a scipy sparse matrix (sketch-and-project reads the rows of `A`)",
                   f"a {type(A).__name__}", error=TypeError)
    m, n = A.shape
    if m == 0 or n == 0:
        raise fail(func, "A", "have at least one row and one column", f"shape {tuple(A.shape)}")
    b = as_float_array(b, "b", func, ndim=1)
    if b.shape[0] != m:
        raise fail(func, "b", f"have length {m} to match `A` of shape {tuple(A.shape)}", f"length {b.shape[0]}")
    if x0 is not None:
        x0 = as_float_array(x0, "x0", func, ndim=1, copy=True)
        if x0.shape[0] != n:
            raise fail(func, "x0", f"have length {n} to match `A` of shape {tuple(A.shape)}", f"length {x0.shape[0]}")
    method, sampling, block_size = _check_method(method, sampling, block_size, m, func)
    tol = check_scalar(tol, "tol", func, low=0.0, low_inclusive=False)
    epoch = m if method == "kaczmarz" else -(-m // block_size)
    maxiter = 1000 * epoch if maxiter is None else check_int(maxiter, "maxiter", func, low=1)
    check_every = epoch if check_every is None else check_int(check_every, "check_every", func, low=1)
    if patience is not None:
        patience = check_int(patience, "patience", func, low=1)
    rng = check_rng(rng, func)
    callback = check_callable(callback, "callback", func)

    # Work on A' = a A and b' = c b with powers of two a, c that bring the largest entries into [0.5, 1):
    # exact, and the squared row norms and residuals stay representable for data of any magnitude
    # (1e-170 * A underflowed every row norm to 0; 1e160 * A overflowed them). x = x' a / c.
    A, b, a_factor, b_factor = scale_system(A, kind, b)
    if x0 is not None and a_factor != b_factor:
        with np.errstate(over="ignore", under="ignore"):
            x0 = x0 * b_factor / a_factor  # an overflow here ends the run as NONFINITE below

    def unscale_x(x):
        with np.errstate(over="ignore"):
            return x * a_factor / b_factor

    r_unscale = 1.0 / b_factor

    norms = _row_norms_sq(A, kind)
    _check_row_norms(norms, func, _zero_rows(A, kind))
    bad = np.flatnonzero((norms == 0) & (b != 0))
    if bad.size:
        i = int(bad[0])
        raise fail(func, "b", "be zero where the row of `A` is zero (otherwise A x = b has no solution)",
                   f"b[{i}] = {float(b[i]) / b_factor!r} with A[{i}] = 0")

    b_norm = float(np.linalg.norm(b))
    if b_norm == 0.0 and x0 is None:
        return SketchProjectResult(x=np.zeros(n), status=Status.ZERO_RHS, nit=0, residual_norm=0.0,
                                   residual_history=np.zeros(1))
    x = np.zeros(n) if x0 is None else x0
    res = _residual_norm(A, b, x)
    scale = b_norm if b_norm > 0.0 else res
    threshold = tol * scale
    patience_steps = math.inf if patience is None else max(patience * epoch, _PATIENCE_CHECKS * check_every)
    printer = IterationPrinter(["nit", "residual", "relative"]) if verbose else None

    history = [res]
    nit = 0
    if printer is not None:
        printer.row(nit, res * r_unscale, res / scale if scale > 0 else 0.0)
    status = None
    if not math.isfinite(res):
        status = Status.NONFINITE
    elif res <= threshold:
        status = Status.SUCCESS
    # Built only when a step is needed: a zero A (then b = 0) always stops above. The block partition
    # is the first draw from `rng`, which kaczmarz_contraction_rate(rng=...) reproduces.
    steps = _METHODS[method](A, kind, b, norms, sampling, block_size, rng) if status is None else None
    partition = None if steps is None else steps.partition
    reference, nit_reference = res, 0
    while status is None:
        chunk = min(check_every, maxiter - nit)
        steps.advance(x, chunk)
        nit += chunk
        res = _residual_norm(A, b, x)
        history.append(res)
        if not math.isfinite(res):
            status = Status.NONFINITE
            break
        if printer is not None:
            printer.row(nit, res * r_unscale, res / scale)
        converged = res <= threshold
        stop = False
        if callback is not None:
            current = SketchProjectResult(x=unscale_x(x), status=Status.SUCCESS if converged else Status.MAXITER,
                                          nit=nit, residual_norm=res * r_unscale,
                                          residual_history=np.asarray(history) * r_unscale, partition=partition)
            stop = call_callback(callback, current)
        if converged:
            status = Status.SUCCESS
        elif stop:
            status = Status.CALLBACK
        else:
            if res < _STALL_FACTOR * reference:
                reference, nit_reference = res, nit
            elif nit - nit_reference >= patience_steps:
                status = Status.INCONSISTENT if res > math.sqrt(_EPS) * scale else Status.STAGNATION
            if status is None and nit >= maxiter:
                status = Status.MAXITER
    x = unscale_x(x)
    if status.success and not np.isfinite(x).all():
        status = Status.NONFINITE  # the solution itself is beyond the float64 range
    detail = _detail(status, nit, epoch, history[-1] / scale if scale > 0 else 0.0, tol, patience)
    result = SketchProjectResult(x=x, status=status, nit=nit, residual_norm=history[-1] * r_unscale,
                                 residual_history=np.asarray(history) * r_unscale, partition=partition, detail=detail)
    return finish(result, func)


def _detail(status: Status, nit: int, epoch: int, relative: float, tol: float, patience) -> str:
    """What the run saw and what to try next, for the statuses whose catalogue text carries no advice."""
    seen = f"||b - A x|| / ||b|| = {relative:.3g} after {nit} steps ({nit / epoch:.4g} epochs; `tol` = {tol:g})"
    if status is Status.MAXITER:
        return (f"{seen[0].upper()}{seen[1:]}; raise `maxiter` or loosen `tol`; for strongly correlated rows try "
                "method='block_kaczmarz'.")
    if status is Status.STAGNATION:
        return f"{seen[0].upper()}{seen[1:]}, no 1 % drop in {patience} epochs; pass patience=None to keep going."
    if status is Status.INCONSISTENT:
        return f"{seen[0].upper()}{seen[1:]}, no 1 % drop in {patience} epochs."
    return ""


# --------------------------------------------------------------------------------------------------
# Expected contraction rate
# --------------------------------------------------------------------------------------------------


def _check_partition(partition, m: int, nonzero: np.ndarray, func: str) -> tuple:
    if isinstance(partition, (str, bytes)) or not hasattr(partition, "__iter__"):
        raise fail(func, "partition", "be a sequence of 1-D integer arrays of row indices", repr(partition),
                   error=TypeError)
    blocks = []
    for j, block in enumerate(partition):
        block = np.asarray(block)
        if block.ndim != 1 or block.dtype.kind not in "iu" or block.size == 0:
            raise fail(func, "partition", "be a sequence of non-empty 1-D integer arrays of row indices",
                       f"partition[{j}] of shape {block.shape} and dtype {block.dtype}", error=TypeError)
        if block.min() < 0 or block.max() >= m:
            raise fail(func, "partition", f"hold row indices in [0, {m})", f"partition[{j}] = {block!r}")
        blocks.append(block.astype(np.int64))
    if not blocks:
        raise fail(func, "partition", "hold at least one block", "an empty sequence")
    rows = np.concatenate(blocks)
    counts = np.bincount(rows, minlength=m)
    if counts.max() > 1:
        raise fail(func, "partition", "have disjoint blocks", f"row {int(np.argmax(counts))} in several blocks")
    missing = np.flatnonzero(counts[nonzero] == 0)
    if missing.size:
        raise fail(func, "partition", "cover every nonzero row of `A`", f"row {int(nonzero[missing[0]])} in no block")
    return tuple(blocks)


def _row_space_projector(M: np.ndarray) -> np.ndarray:
    """Orthogonal projector onto the row space of a dense matrix (numerical rank as numpy.linalg.matrix_rank)."""
    _, s, vt = np.linalg.svd(M, full_matrices=False)
    rank = int(np.count_nonzero(s > s[0] * max(M.shape) * _EPS)) if s.size and s[0] > 0 else 0
    return vt[:rank].T @ vt[:rank]


def _expected_projector(A, norms, method, sampling, block_size, partition, rng, n_samples) -> np.ndarray:
    """E[Z] for Z = A^T S (S^T A A^T S)^+ S^T A: exact for the row methods, a Monte Carlo mean for Gaussian."""
    m, n = A.shape
    nonzero = np.flatnonzero(norms > 0)
    if method == "kaczmarz":
        weights = norms[nonzero] if sampling == "row_norm" else np.ones(nonzero.shape[0])
        p = weights / weights.sum()
        U = A[nonzero] / np.sqrt(norms[nonzero])[:, None]
        return (U.T * p) @ U
    if method == "block_kaczmarz":
        if partition is None:
            partition = _draw_partition(nonzero, block_size, rng)
        if sampling == "row_norm":
            weights = np.array([norms[block].sum() for block in partition])
        else:
            weights = np.ones(len(partition))
        p = weights / weights.sum()
        EZ = np.zeros((n, n))
        for p_block, block in zip(p, partition):
            if p_block > 0:
                EZ += p_block * _row_space_projector(A[block])
        return EZ
    EZ = np.zeros((n, n))
    done = 0
    while done < n_samples:
        batch = min(256, n_samples - done)
        SA = np.einsum("bik,ij->bkj", rng.standard_normal((batch, m, block_size)), A)
        _, s, vt = np.linalg.svd(SA, full_matrices=False)
        keep = s > s[:, :1] * (max(block_size, n) * _EPS)
        vt = vt * keep[:, :, None]
        EZ += np.einsum("bkj,bkl->jl", vt, vt)
        done += batch
    return EZ / n_samples


def kaczmarz_contraction_rate(A, *, method="kaczmarz", sampling="row_norm", block_size=1, partition=None, rng=None,
                              n_samples=2000) -> float:
    r"""Expected per-step contraction factor :math:`\rho` of :func:`sketch_and_project` (dense, small ``A``).

    For a consistent system with least-norm solution :math:`x^* = A^{+}b` and :math:`x_0 - x^*` in the
    row space of :math:`A` (e.g. :math:`x_0 = 0`), the iterates satisfy

    .. math::

        \mathbb{E}\,\|x_k - x^*\|_2^2 \le \rho^k\,\|x_0 - x^*\|_2^2, \qquad
        \rho = 1 - \lambda_{\min}^{+}\!\left(\mathbb{E}[Z]\right), \qquad
        Z = A^\top S \left(S^\top A A^\top S\right)^{+} S^\top A,

    where :math:`Z` is the orthogonal projector of one step and :math:`\lambda_{\min}^{+}` is the
    smallest eigenvalue of :math:`\mathbb{E}[Z]` on the row space of :math:`A` (Gower & Richtárik,
    Theorem 4.6 and 4.8). The bound holds with equality after one step when :math:`x_0 - x^*` is the
    corresponding eigenvector. Cases:

    * ``"kaczmarz"`` with ``"row_norm"``: :math:`\mathbb{E}[Z] = A^\top A/\|A\|_F^2`, so
      :math:`\rho = 1 - \sigma_{\min}^{+}(A)^2/\|A\|_F^2` (Strohmer & Vershynin), from an SVD.
    * ``"kaczmarz"`` with ``"uniform"``: :math:`\mathbb{E}[Z] = \frac{1}{m'}\sum_i a_i a_i^\top/\|a_i\|_2^2`
      over the :math:`m'` nonzero rows.
    * ``"block_kaczmarz"``: :math:`\mathbb{E}[Z] = \sum_\tau p_\tau A_\tau^{+} A_\tau`, enumerating the
      blocks of the partition with their sampling probabilities. Pass the run's ``result.partition``,
      or the same ``rng`` seed as the run (the partition is the solver's first draw from ``rng``).
    * ``"gaussian"``: :math:`\mathbb{E}[Z]` is estimated by the mean of ``n_samples`` projectors drawn
      from ``rng``. The estimate is approximate (error of order ``n_samples ** -0.5``) and, on
      average, slightly pessimistic (:math:`\lambda_{\min}` is concave, so the estimated :math:`\rho`
      is biased upwards).

    Parameters
    ----------
    A : ndarray, shape (m, n)
        Dense matrix; the computation uses ``svd``/``eigh`` on n x n matrices, so it is meant for small
        problems (call ``A.toarray()`` on a small sparse matrix).
    method, sampling, block_size
        As for :func:`sketch_and_project`.
    partition : sequence of 1-D integer arrays, optional
        Only for ``"block_kaczmarz"``: disjoint blocks covering every nonzero row (takes precedence over
        ``block_size``). Default: drawn from ``rng`` exactly as :func:`sketch_and_project` draws it.
    rng : None, int, SeedSequence or numpy Generator
        For the default partition and the Gaussian Monte Carlo estimate.
    n_samples : int, default 2000
        Monte Carlo sample size for ``"gaussian"``.

    Returns
    -------
    float
        :math:`\rho \in [0, 1]` (below 1 whenever ``A`` has a nonzero row; 0 for ``A = 0``).

    Raises
    ------
    TypeError
        ``A`` is sparse or a LinearOperator, or an argument has the wrong type.
    ValueError
        As for :func:`sketch_and_project`, or an invalid ``partition``.

    References
    ----------
    .. [1] T. Strohmer and R. Vershynin, "A randomized Kaczmarz algorithm with exponential convergence",
       J. Fourier Anal. Appl. 15 (2009), 262-278.
    .. [2] R. M. Gower and P. Richtárik, "Randomized iterative methods for linear systems",
       SIAM J. Matrix Anal. Appl. 36 (2015), 1660-1690. arXiv:1506.03296.
    .. [3] D. Needell and J. A. Tropp, "Paved with good intentions: analysis of a randomized block
       Kaczmarz method", Linear Algebra Appl. 441 (2014), 199-221. arXiv:1208.3805.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.linalg import kaczmarz_contraction_rate
    >>> A = np.diag([1.0, 2.0])  # sigma_min^2 / ||A||_F^2 = 1 / 5
    >>> round(kaczmarz_contraction_rate(A), 12)
    0.8
    """
    func = "kaczmarz_contraction_rate"
    A, kind = as_operator(A, "A", func)
    if kind != "dense":
        raise fail(func, "A", "be a dense ndarray (the rate uses dense svd/eigh; use A.toarray() for a small sparse "
                   "matrix)", f"a {type(A).__name__}", error=TypeError)
    m, n = A.shape
    if m == 0 or n == 0:
        raise fail(func, "A", "have at least one row and one column", f"shape {tuple(A.shape)}")
    method, sampling, block_size = _check_method(method, sampling, block_size, m, func)
    n_samples = check_int(n_samples, "n_samples", func, low=1)
    rng = check_rng(rng, func)
    a_factor = pow2_scale(max_abs(A))  # the rate does not depend on the scale of A: compute it near 1
    if a_factor != 1.0:
        A = A * a_factor
    norms = _row_norms_sq(A, kind)
    _check_row_norms(norms, func, _zero_rows(A, kind))
    nonzero = np.flatnonzero(norms > 0)
    if partition is not None:
        if method != "block_kaczmarz":
            raise fail(func, "partition", "be None unless method='block_kaczmarz'",
                       f"a partition with method={method!r}")
        partition = _check_partition(partition, m, nonzero, func)
    if nonzero.size == 0:
        return 0.0
    _, s, vt = np.linalg.svd(A, full_matrices=False)
    rank = int(np.count_nonzero(s > s[0] * max(m, n) * _EPS))
    if method == "kaczmarz" and sampling == "row_norm":
        lam = s[rank - 1] ** 2 / norms.sum()
    else:
        EZ = _expected_projector(A, norms, method, sampling, block_size, partition, rng, n_samples)
        V = vt[:rank].T
        lam = np.linalg.eigvalsh(V.T @ EZ @ V)[0]
    return float(min(max(1.0 - lam, 0.0), 1.0))
