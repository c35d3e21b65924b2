"""Preconditioned conjugate gradients with absolute/relative tolerances and a residual history."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._result import IterationPrinter, Result, Status, call_callback, finish
from . import _kernels
from ._scale import max_abs, pow2_scale
from .._validation import as_float_array, as_operator, check_callable, check_int, check_scalar, fail

__all__ = ["cg", "cg_core", "CGResult", "as_matvec"]


@dataclasses.dataclass(kw_only=True, repr=False)
class CGResult(Result):
    """Result of :func:`cg`.

    Attributes
    ----------
    x : ndarray
        The approximate solution (the last finite iterate).
    residual_norm : float
        :math:`\\|b - A x\\|_2` as tracked by the recurrence.
    residual_history : ndarray
        Residual norms, from the initial residual to the last iterate (``nit + 1`` entries).
    """

    residual_norm: float = math.nan
    residual_history: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))


def as_matvec(A, name: str, func: str, n: int):
    """Return ``v -> A v`` for an ndarray, a sparse matrix, a LinearOperator or a callable on (n,) vectors.

    Sparse matrices use numopt's CSR kernel. The operator must be n x n and real: a complex
    LinearOperator, or a callable or operator whose product is complex, raises TypeError (it used to be
    truncated to its real part).
    """
    if callable(A) and not hasattr(A, "shape"):
        return _real_product(A, name, func, n)
    from scipy.sparse.linalg import LinearOperator

    if isinstance(A, LinearOperator) and np.dtype(A.dtype).kind not in "iuf":
        raise fail(func, name, "be a real operator", f"a LinearOperator of dtype {np.dtype(A.dtype)}", error=TypeError)
    A, kind = as_operator(A, name, func, square=True)
    if A.shape[0] != n:
        raise fail(func, name, f"have shape ({n}, {n}) to match `b` of length {n}", f"shape {tuple(A.shape)}")
    if kind == "dense":
        return A.__matmul__
    if kind == "sparse":
        from ._sparse import csr_matvec

        return lambda v: csr_matvec(A, v)
    return _real_product(A.matvec, name, func, n)


def _real_product(apply, name: str, func: str, n: int):
    """Wrap a user product so that a complex or misshapen result is refused, never silently cast."""

    def product(v):
        y = np.asarray(apply(v))
        if y.dtype.kind not in "iuf":
            raise fail(func, name, "map real vectors to real vectors", f"a product of dtype {y.dtype}",
                       error=TypeError)
        if y.size != n:
            raise fail(func, name, f"map an ({n},) vector to an ({n},) vector", f"a product of shape {y.shape}")
        return np.asarray(y, dtype=np.float64).reshape(n)

    return product


def _is_vector(value) -> bool:
    try:
        return np.ndim(value) == 1
    except ValueError:  # a ragged nested list: let as_operator name the problem
        return False


def _preconditioner(M, func: str, n: int):
    if M is None:
        return None
    if isinstance(M, (list, tuple, np.ndarray)) and _is_vector(M):
        diag = as_float_array(M, "M", func, ndim=1)  # an array-like of numbers is the diagonal of M
        if diag.shape[0] != n:
            raise fail(func, "M", f"have length {n} when given as a diagonal", f"length {diag.shape[0]}")
        return lambda r: diag * r
    return as_matvec(M, "M", func, n)


def cg(A, b, *, x0=None, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None, verbose=False) -> CGResult:
    r"""Solve :math:`Ax = b` for symmetric positive definite :math:`A` by preconditioned conjugate gradients.

    Iterates until

    .. math:: \|b - A x_k\|_2 \le \max(\mathrm{rtol}\,\|b\|_2,\ \mathrm{atol}),

    with the residual tracked by the CG recurrence.

    Parameters
    ----------
    A : ndarray, scipy sparse matrix, LinearOperator or callable, shape (n, n)
        The symmetric positive definite operator. A callable maps an (n,) vector to ``A @ v``.
        Sparse matrices are never densified.
    b : array_like, shape (n,)
        Right-hand side.
    x0 : array_like, shape (n,), optional
        Starting guess (default zero).
    rtol, atol : float
        Relative and absolute residual tolerances (see above); ``rtol`` in [0, 1), ``atol >= 0``, not both 0.
    maxiter : int, optional
        Iteration budget (default ``10 * n``).
    M : ndarray, sparse matrix, LinearOperator, callable or 1-D array-like, optional
        Symmetric positive definite preconditioner approximating :math:`A^{-1}` (scipy's convention).
        A 1-D array or list is the diagonal of :math:`M` (e.g. ``1 / diag(A)`` for Jacobi).
    callback : callable, optional
        ``callback(intermediate_result)`` after each iteration with a :class:`CGResult`; raising
        ``StopIteration`` stops the solve (``status=Status.CALLBACK``).
    verbose : bool
        Print the residual every iteration.

    Returns
    -------
    CGResult
        ``success`` is True when the tolerance is met. If ``A`` (or ``M``) turns out not to be positive
        definite, ``status`` is ``NOT_POSITIVE_DEFINITE`` (``PRECONDITIONER_NOT_POSITIVE_DEFINITE``) and
        ``x`` is the last iterate. A zero ``b`` returns ``x = 0`` at once. ``b`` of any magnitude is
        handled (the iteration runs on ``b`` scaled exactly by a power of two); a solution beyond the
        float64 range is reported as ``NONFINITE``, never as a success.

    Raises
    ------
    TypeError
        A complex operator or product, or an argument of the wrong type.
    ValueError
        Shapes disagree, an input is not finite, or an option is out of range.

    Warns
    -----
    numopt.ConvergenceWarning
        When the run ends without meeting the tolerance.

    References
    ----------
    Hestenes & Stiefel (1952); Saad, *Iterative Methods for Sparse Linear Systems*, Alg. 9.1.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> res = cg(A, np.array([1.0, 2.0]), rtol=1e-12)
    >>> res.success, np.round(res.x, 6)
    (True, array([0.090909, 0.636364]))
    """
    func = "cg"
    b = as_float_array(b, "b", func, ndim=1)
    n = b.shape[0]
    matvec = as_matvec(A, "A", func, n)
    precond = _preconditioner(M, func, n)
    rtol = check_scalar(rtol, "rtol", func, low=0.0, high=1.0, high_inclusive=False)
    atol = check_scalar(atol, "atol", func, low=0.0)
    if rtol == 0.0 and atol == 0.0:
        raise fail(func, "rtol", "be positive when `atol` is 0", "rtol = 0 and atol = 0")
    maxiter = 10 * max(n, 1) if maxiter is None else check_int(maxiter, "maxiter", func, low=0)
    check_callable(callback, "callback", func)

    if x0 is not None:
        x0 = as_float_array(x0, "x0", func, ndim=1)
        if x0.shape[0] != n:
            raise fail(func, "x0", f"have length {n} to match `b`", f"length {x0.shape[0]}")
    result = cg_core(matvec, b, x0=x0, rtol=rtol, atol=atol, maxiter=maxiter, precond=precond,
                     callback=callback, verbose=verbose)
    return finish(result, func)


def _detail(status: Status, nit: int, residual: float, threshold: float) -> str:
    """What a MAXITER run saw and what to try next (the Status text no longer advises)."""
    if status is not Status.MAXITER:
        return ""
    return (f"||b - A x|| = {residual:.3g} after {nit} iterations, above the target {threshold:.3g}; raise `maxiter`, "
            "loosen `rtol`/`atol` or use (or improve) a preconditioner `M`.")


def cg_core(matvec, b, *, x0=None, rtol=1e-5, atol=0.0, maxiter=None, precond=None, callback=None,
            verbose=False) -> CGResult:
    """The CG iteration on clean input (no validation, no warning): for numopt's own solvers.

    ``matvec`` and ``precond`` are callables on float64 (n,) vectors; see :func:`cg` for the rest.
    """
    n = b.shape[0]
    maxiter = 10 * max(n, 1) if maxiter is None else maxiter
    # Solve for x' = scale * x with b' = scale * b, |b'| in [0.5, 1): exact, and it keeps ||b|| and every
    # inner product representable for data of any magnitude (||b|| overflowed for entries ~1e155).
    scale = pow2_scale(max_abs(b))
    unscale = 1.0 / scale
    if scale != 1.0:
        b = b * scale
        atol = atol * scale
        if x0 is not None:
            x0 = np.asarray(x0, dtype=np.float64) * scale
    b_norm = float(np.linalg.norm(b))
    if b_norm == 0.0:
        return CGResult(x=np.zeros(n), status=Status.ZERO_RHS, nit=0, residual_norm=0.0, residual_history=np.zeros(1))
    if x0 is None:
        x = np.zeros(n)
        r = b.copy()
    else:
        x = np.array(x0, dtype=np.float64)
        r = b - matvec(x)
    threshold = max(rtol * b_norm, atol)
    printer = IterationPrinter(["nit", "residual"]) if verbose else None

    r_norm = float(np.linalg.norm(r))
    history = [r_norm]
    status = Status.SUCCESS if r_norm <= threshold else Status.MAXITER
    if not math.isfinite(r_norm):
        status = Status.NONFINITE
    z = precond(r) if precond is not None else r
    rz = float(r @ z)
    p = np.array(z, dtype=np.float64)
    nit = 0
    while status is Status.MAXITER and nit < maxiter:
        if precond is not None and not rz > 0.0:
            status = Status.PRECONDITIONER_NOT_POSITIVE_DEFINITE if rz <= 0.0 else Status.NONFINITE
            break
        q = np.asarray(matvec(p), dtype=np.float64)
        pq = float(p @ q)
        if not 0.0 < pq < math.inf:
            status = Status.NOT_POSITIVE_DEFINITE if pq <= 0.0 else Status.NONFINITE
            break
        alpha = rz / pq
        r_norm = math.sqrt(_kernels.cg_step(x, r, p, q, alpha))
        if not math.isfinite(r_norm):
            status = Status.NONFINITE
            break
        nit += 1
        history.append(r_norm)
        if printer is not None:
            printer.row(nit, r_norm * unscale)
        if r_norm <= threshold:
            status = Status.SUCCESS
            break
        if callback is not None:
            current = CGResult(x=x * unscale, status=Status.MAXITER, nit=nit, residual_norm=r_norm * unscale,
                               residual_history=np.asarray(history) * unscale)
            if call_callback(callback, current):
                status = Status.CALLBACK
                break
        z = precond(r) if precond is not None else r
        rz_new = float(r @ z)
        beta = rz_new / rz
        rz = rz_new
        _kernels.cg_direction(p, z, beta)
    if scale != 1.0:
        with np.errstate(over="ignore"):
            x = x * unscale
        if status.success and not np.isfinite(x).all():
            status = Status.NONFINITE  # the solution itself is beyond the float64 range
    history = np.asarray(history) * unscale
    return CGResult(x=x, status=status, nit=nit, residual_norm=float(history[-1]), residual_history=history,
                    detail=_detail(status, nit, float(history[-1]), threshold * unscale))
