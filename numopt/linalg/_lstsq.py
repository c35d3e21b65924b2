"""Sketch-and-precondition least squares (Blendenpik / LSRN style)."""

from __future__ import annotations

import contextlib
import dataclasses
import math

import numpy as np
import scipy.linalg

from .._blas import single_blas_thread
from .._result import Result, Status, finish
from .._validation import as_float_array, as_operator, check_callable, check_choice, check_int, check_scalar, fail
from ._cg import cg_core
from ._scale import scale_system
from ._sparse import PARALLEL_NNZ

__all__ = ["lstsq_sketched", "LstsqResult"]

#: Outer refinement steps at most (two or three suffice in practice).
_MAX_REFINEMENTS = 8
#: Relative accuracy of each inner CG solve for the correction (refinement multiplies the gains).
_INNER_RTOL = 1e-4
#: Rows densified at once (at least n + 1) when a sparse ``A`` is factored without a sketch.
_BLOCK_ROWS = 256
#: From this many columns the blocked QR keeps the BLAS threads (each block QR is then large enough).
_THREADED_COLUMNS = 512


@dataclasses.dataclass(kw_only=True, repr=False)
class LstsqResult(Result):
    """Result of :func:`lstsq_sketched`.

    Attributes
    ----------
    x : ndarray, shape (n,)
        The least-squares solution.
    residual_norm : float
        :math:`\\|b - A x\\|_2`, recomputed from ``x``.
    normal_residual : float
        Relative residual of the preconditioned normal equations,
        :math:`\\|R^{-T} A^T (b - A x)\\|_2 / \\|R^{-T} A^T b\\|_2` (the quantity ``tol`` bounds).
    residual_history : ndarray
        ``normal_residual`` at the start of each refinement step (the last is the final value).
    sketch_size : int
        Rows of the sketch (``m`` when the sketch was skipped because it would not be smaller than A).
    """

    residual_norm: float = math.nan
    normal_residual: float = math.nan
    residual_history: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))
    sketch_size: int = 0


def _normal_products(A, kind):
    """Return ``product(w, c) -> (A^T (A w - c), ||A w - c||^2)``, one pass over A (fused Numba kernel)."""
    from .._numba import get_num_threads
    from . import _kernels

    n = A.shape[1]
    partial = np.empty((max(1, get_num_threads()), n))
    sq = np.empty(partial.shape[0])
    # below PARALLEL_NNZ entries the serial twin (same chunks, same result): a small problem never compiles
    # the parallel kernel
    large = (A.size if kind == "dense" else A.nnz) >= PARALLEL_NNZ
    if kind == "dense":
        dense_kernel = _kernels.dense_normal_matvec if large else _kernels.dense_normal_matvec_serial

        def product(w, c):
            out = np.empty(n)
            return out, dense_kernel(A, w, c, partial, sq, out)
    else:
        csr_kernel = _kernels.csr_normal_matvec if large else _kernels.csr_normal_matvec_serial

        def product(w, c):
            out = np.empty(n)
            return out, csr_kernel(A.indptr, A.indices, A.data, w, c, partial, sq, out)
    return product


def _blocked_r(A, b: np.ndarray) -> np.ndarray:
    """The R factor of ``[A | b]`` for a CSR ``A``, by Householder QR one block of rows at a time.

    Each step factors the previous (n+1) x (n+1) triangle stacked on the next ``max(n+1, 256)`` rows,
    densified alone, so the dense memory is O(n^2) whatever ``m``; the flops are about 1.7 times those
    of one QR of the dense ``[A | b]``, and the result is the same R up to the signs of its rows.
    """
    m, n = A.shape
    rows = max(n + 1, _BLOCK_ROWS)
    # Small blocks: OpenBLAS's threads cost far more than they bring (measured under load: 0.23 s per
    # 297 x 41 QR with its threads, about 1.5 ms with one), so narrow problems run on one BLAS thread.
    with single_blas_thread() if n < _THREADED_COLUMNS else contextlib.nullcontext():
        return _blocked_r_loop(A, b, rows)


def _blocked_r_loop(A, b: np.ndarray, rows: int) -> np.ndarray:
    m, n = A.shape
    R = np.zeros((0, n + 1))
    for start in range(0, m, rows):
        stop = min(m, start + rows)
        top = R.shape[0]
        block = np.zeros((top + stop - start, n + 1), order="F")
        block[:top] = R
        lo, hi = A.indptr[start], A.indptr[stop]
        local_rows = np.repeat(np.arange(top, top + stop - start), np.diff(A.indptr[start:stop + 1]))
        block[local_rows, A.indices[lo:hi]] = A.data[lo:hi]  # canonical CSR: no duplicate entries
        block[top:, n] = b[start:stop]
        R = scipy.linalg.qr(block, mode="r", overwrite_a=True, check_finite=False)[0][: n + 1].copy()
    return R


def lstsq_sketched(
    A,
    b,
    *,
    sketch: str = "sparse_sign",
    sketch_size: int | None = None,
    tol: float = 0.0,
    maxiter: int | None = None,
    rng=None,
    callback=None,
    verbose: bool = False,
) -> LstsqResult:
    r"""Overdetermined least squares :math:`\min_x \|Ax - b\|_2` by sketch-and-precondition.

    1. Draw a sketch :math:`S \in \mathbb{R}^{s \times m}` (:func:`make_sketch`) and factor
       :math:`SA = QR`.
    2. Since :math:`S` embeds the range of :math:`A` with distortion :math:`\varepsilon`, the preconditioned
       matrix :math:`\tilde A = A R^{-1}` has condition number at most
       :math:`(1+\varepsilon)/(1-\varepsilon)` whatever the conditioning of :math:`A`.
    3. Start from the sketch-and-solve estimate :math:`x_0 = R^{-1} Q^\top S b`, then refine: at each
       step form the true residual :math:`r = b - A x`, solve the preconditioned normal equations
       :math:`\tilde A^\top \tilde A\, \delta = R^{-T} A^\top r` for the correction by conjugate
       gradients (to relative accuracy 1e-4: refinement multiplies the gains) and set
       :math:`x \leftarrow x + R^{-1}\delta`. Each product :math:`A^\top(A w)` reads :math:`A` once (a
       fused Numba kernel); with a well-conditioned :math:`\tilde A` CG on these normal equations is
       CGLS, i.e. LSQR in exact arithmetic.

    Refinement is what makes the answer accurate: iterating once on :math:`R^{-T}A^\top b` (plain
    sketch-and-precondition) stalls at a forward error near :math:`\kappa(A)^2 u` because that vector
    cannot be formed more accurately; corrections computed from the residual reach the accuracy of a
    backward-stable direct solver (Meier, Nakatsukasa, Townsend, Webb 2024; Epperly, Meier,
    Nakatsukasa 2024). Choice made here: CG rather than LSQR or heavy ball for the inner solve, at most
    8 refinement steps, and a refinement that gains less than a factor 2 ends the run (the rounding
    floor of the problem was reached; see ``tol``).

    Parameters
    ----------
    A : ndarray or scipy sparse matrix, shape (m, n), m >= n
        Full column rank. Sparse input stays sparse: only the s x n sketch is dense, and when the
        sketch is skipped (``sketch_size >= m``) a sparse ``A`` is factored a block of rows at a time,
        in O(n^2) dense memory.
    b : array_like, shape (m,)
    sketch : {"sparse_sign", "srht", "gaussian", "countsketch"}, default "sparse_sign"
        Sketch family (see :func:`make_sketch`). Sparse sign costs :math:`O(\zeta\,\mathrm{nnz}(A))`
        independently of ``sketch_size``, which makes a generous sketch cheap.
    sketch_size : int, optional
        Default ``min(8 n, m)``; with :math:`s = 8n` the preconditioned condition number is about 2 and
        CG needs about 25 iterations for ``tol = 1e-10``. When ``s >= m`` the sketch is skipped and
        :math:`A` itself is factored.
    tol : float, default 0.0
        Stop when :math:`\|R^{-T}A^\top(b - Ax)\|_2 \le \mathrm{tol}\,\|R^{-T}A^\top b\|_2`, which bounds the
        relative error of the fitted values,
        :math:`\|A(x - x_\star)\|_2 / \|A x_\star\|_2 \le \kappa(\tilde A)^3\,\mathrm{tol}`, or earlier when a
        refinement step gains less than a factor 2 (``status=ROUNDING_FLOOR``, a success): the normal
        residual cannot be computed below about
        :math:`u\,(\|A\|\|x\| + \kappa(A)\|A\|\|b - Ax\|) / \|A x\|`, and from there on refinement
        cannot improve ``x``. The default, 0, refines to that floor, which gives the forward error of a
        backward-stable solver, :math:`\approx u\,(\kappa(A) + \kappa(A)^2 \|r\| / (\|A\|\|x\|))`. A larger
        ``tol`` (e.g. 1e-8) stops sooner with a proportionally less accurate ``x``.
    maxiter : int, optional
        Total CG iteration budget over all refinement steps (default 200).
    rng : None, int or numpy Generator
        Seeds the sketch; a seeded run is reproducible.
    callback : callable, optional
        Called after each inner CG iteration with its intermediate ``CGResult`` (in the preconditioned
        variables); raising ``StopIteration`` stops the solve.
    verbose : bool
        Print the CG iterations.

    Returns
    -------
    LstsqResult
        ``A`` and ``b`` of any magnitude are handled: the solve runs on both scaled exactly by powers of two
        and ``x`` is scaled back (an ``x`` beyond the float64 range is ``NONFINITE``, never a success).
        ``success=False`` with ``status=RANK_DEFICIENT`` when :math:`SA` (hence :math:`A`) is numerically
        rank deficient: use ``numpy.linalg.lstsq`` for the minimum-norm solution then.

    References
    ----------
    Avron, Maymounkov, Toledo, "Blendenpik: Supercharging LAPACK's least-squares solver", SISC 2010.
    Meng, Saunders, Mahoney, "LSRN: a parallel iterative solver for strongly over- or under-determined
    systems", SISC 2014. Martinsson & Tropp, "Randomized numerical linear algebra", Acta Numerica 2020, §10.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((500, 20)); x = rng.standard_normal(20)
    >>> res = lstsq_sketched(A, A @ x, rng=0)
    >>> res.success, bool(np.allclose(res.x, x, rtol=1e-8))
    (True, True)
    """
    func = "lstsq_sketched"
    A, kind = as_operator(A, "A", func)
    if kind == "operator":
        raise fail(func, "A", "be an ndarray or a scipy sparse matrix (the sketch needs its entries)",
                   "a LinearOperator", error=TypeError)
    m, n = A.shape
    if m < n:
        raise fail(func, "A", "have at least as many rows as columns (overdetermined); for an underdetermined "
                   "system use numpy.linalg.lstsq", f"shape {A.shape}")
    if n == 0:
        raise fail(func, "A", "have at least one column", f"shape {A.shape}")
    b = as_float_array(b, "b", func, ndim=1)
    if b.shape[0] != m:
        raise fail(func, "b", f"have length {m} to match `A` of shape {A.shape}", f"length {b.shape[0]}")
    from ._sketch import _SKETCHES

    check_choice(sketch, "sketch", func, _SKETCHES)
    s = min(8 * n, m) if sketch_size is None else check_int(sketch_size, "sketch_size", func, low=n)
    tol = check_scalar(tol, "tol", func, low=0.0, high=1.0, high_inclusive=False)
    maxiter = 200 if maxiter is None else check_int(maxiter, "maxiter", func, low=0)
    check_callable(callback, "callback", func)
    # Solve min ||A' x' - b'|| for A' = a A, b' = c b with powers of two a, c that bring the largest
    # entries into [0.5, 1): exact, and it keeps A^T b and every norm representable (data * 1e-170 gave
    # ZERO_RHS with x = 0, data * 1e160 NONFINITE). Then x = x' a / c and ||b - A x|| = ||b' - A' x'|| / c.
    A, b, a_scale, b_scale = scale_system(A, kind, b)
    result = _solve(A, kind, b, sketch, s, tol, maxiter, rng, callback, verbose)
    if a_scale != 1.0 or b_scale != 1.0:
        with np.errstate(over="ignore"):
            result.x = result.x * a_scale / b_scale
            result.residual_norm = result.residual_norm / b_scale
        if result.success and not np.isfinite(result.x).all():
            result = dataclasses.replace(result, status=Status.NONFINITE,
                                         detail="The solution is beyond the float64 range.")
    return finish(result, func)


def _solve(A, kind: str, b: np.ndarray, sketch: str, s: int, tol: float, maxiter: int, rng, callback,
           verbose: bool) -> LstsqResult:
    """Sketch, factor and refine on validated (and rescaled) data; see :func:`lstsq_sketched`."""
    from ._sketch import make_sketch

    m, n = A.shape

    # One Householder QR of [SA | Sb] without forming Q: R_aug = [[R, Q^T S b], [0, *]].
    if s >= m:
        s = m
        # no sketch: factor A itself; sparse A a block of rows at a time (never densified as a whole)
        R_aug = _blocked_r(A, b) if kind == "sparse" else np.linalg.qr(np.column_stack([A, b]), mode="r")
    else:
        S = make_sketch(sketch, s, m, rng=rng)
        R_aug = np.linalg.qr(np.column_stack([S.apply(A), S.apply(b)]), mode="r")
    R = np.ascontiguousarray(R_aug[:n, :n])
    sketched_rhs = R_aug[:n, n]
    diag = np.abs(np.diag(R))
    if not diag.min() > n * np.finfo(float).eps * diag.max():
        return LstsqResult(x=np.zeros(n), status=Status.RANK_DEFICIENT, sketch_size=s,
                           detail=f"min |R_ii| / max |R_ii| = {diag.min() / diag.max():.3g} in the sketched QR.")

    def solve_R(v):
        return scipy.linalg.solve_triangular(R, v, check_finite=False)

    def solve_Rt(v):
        return scipy.linalg.solve_triangular(R, v, trans="T", check_finite=False)

    product = _normal_products(A, kind)
    zeros_m = np.zeros(m)
    minus_Atb, b_norm_sq = product(np.zeros(n), b)
    rhs = solve_Rt(-minus_Atb)
    rhs_norm = float(np.linalg.norm(rhs))
    if rhs_norm == 0.0:
        x = np.zeros(n)
        return LstsqResult(x=x, status=Status.ZERO_RHS, residual_norm=math.sqrt(b_norm_sq),
                           normal_residual=0.0, sketch_size=s)
    def precond_normal(y):
        return solve_Rt(product(solve_R(y), zeros_m)[0])

    # Sketch-and-solve start, then iterative refinement: each outer step recomputes the true residual
    # r = b - A x and solves the preconditioned normal equations for the correction by CG. Forming
    # R^{-T} A^T b once and iterating on it (plain sketch-and-precondition) stalls at a forward error
    # of about kappa(A)^2 u; refining on the residual restores the accuracy of a backward-stable solver
    # (Epperly, Meier, Nakatsukasa 2024).
    x = solve_R(sketched_rhs)
    history = []
    nit = 0
    status = Status.MAXITER
    previous = math.inf
    for _refinement in range(_MAX_REFINEMENTS):
        minus_Atr, r_norm_sq = product(x, b)  # A^T (A x - b) and ||A x - b||^2 in one pass
        s_vec = -solve_Rt(minus_Atr)
        normal_residual = float(np.linalg.norm(s_vec)) / rhs_norm
        history.append(normal_residual)
        if not math.isfinite(normal_residual):
            status = Status.NONFINITE
            break
        if normal_residual <= tol:
            status = Status.SUCCESS
            break
        if normal_residual > 0.5 * previous:  # a refinement step gained < 2x: the rounding floor
            status = Status.ROUNDING_FLOOR
            break
        if nit >= maxiter:
            break
        previous = normal_residual
        inner = cg_core(precond_normal, s_vec, rtol=max(tol / normal_residual, _INNER_RTOL),
                        maxiter=maxiter - nit, callback=callback, verbose=verbose)
        nit += inner.nit
        if inner.status is Status.CALLBACK or inner.status is Status.NONFINITE:
            status = inner.status
            break
        x = x + solve_R(inner.x)
    if status is not Status.SUCCESS and status is not Status.ROUNDING_FLOOR:
        r_norm_sq = product(x, b)[1]  # the loop's last residual belongs to an earlier x
    detail = ""
    if status is Status.MAXITER:
        detail = (f"The relative normal residual is {history[-1]:.3g} after {nit} CG iterations; raise `maxiter`, "
                  "loosen `tol` or enlarge `sketch_size` (a better preconditioner).")
    return LstsqResult(x=x, status=status, nit=nit, residual_norm=math.sqrt(r_norm_sq), normal_residual=history[-1],
                       residual_history=np.asarray(history), sketch_size=s, detail=detail)
