"""The one place where numopt checks and coerces user input.

Every message follows the template ``"{func}: `{name}` must {rule}; got {actual}."`` so that a user
reading it knows which function, which argument, what was expected and what was given. Values are
coerced exactly once (float64, C order) so that each Numba kernel compiles a single specialisation.
Wrong type → :class:`TypeError`; wrong value → :class:`ValueError`.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable

import numpy as np

__all__ = [
    "fail",
    "as_float_array",
    "as_operator",
    "check_finite",
    "check_scalar",
    "check_int",
    "check_bool",
    "MAX_INT",
    "check_rng",
    "check_choice",
    "check_callable",
    "check_no_extra",
    "check_nonnegative",
    "as_ot_problem",
    "OT_MASS_RTOL",
]


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})"


def fail(func: str, name: str, rule: str, actual: str, *, error: type[Exception] = ValueError) -> Exception:
    """Build the standard error ``"{func}: `{name}` must {rule}; got {actual}."`` (the caller raises it)."""
    return error(f"{func}: `{name}` must {rule}; got {actual}.")


def check_finite(array: np.ndarray, name: str, func: str) -> None:
    """Raise ValueError naming the first NaN/inf entry of ``array`` by its index."""
    if array.size and not np.isfinite(array).all():
        flat = np.flatnonzero(~np.isfinite(array.ravel()))[0]
        index = np.unravel_index(flat, array.shape)
        where = f"{name}[{', '.join(str(int(i)) for i in index)}]"
        raise fail(func, name, "be finite", f"{where} = {array[index]}")


def as_float_array(
    value: Any,
    name: str,
    func: str,
    *,
    ndim: int | Iterable[int] | None = None,
    finite: bool = True,
    copy: bool = False,
) -> np.ndarray:
    """Coerce ``value`` to a C-contiguous float64 ndarray, checking its rank and finiteness.

    Complex input is refused (numopt's solvers are real); booleans and objects are refused.
    """
    if value is None:
        raise fail(func, name, "be an array", "None", error=TypeError)
    if _is_sparse(value):
        raise fail(func, name, "be a dense array", f"a sparse {type(value).__name__}", error=TypeError)
    try:
        array = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise fail(func, name, "be array-like", _describe(value), error=TypeError) from exc
    if array.dtype.kind not in "iuf":
        raise fail(func, name, "have a real numeric dtype", _describe(array), error=TypeError)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in allowed:
            rule = f"be {' or '.join(f'{d}-D' for d in allowed)}"
            raise fail(func, name, rule, f"an array of shape {array.shape}")
    out = np.array(array, dtype=np.float64, order="C", copy=True) if copy else np.ascontiguousarray(array, dtype=np.float64)
    if finite:
        check_finite(out, name, func)
    return out


def _is_sparse(value: Any) -> bool:
    module = type(value).__module__
    if not module.startswith("scipy.sparse"):
        return False
    import scipy.sparse as sp

    return sp.issparse(value)


def as_operator(A: Any, name: str, func: str, *, square: bool = False, sparse_format: str = "csr", finite: bool = True,
                canonical: bool = True):
    """Classify and coerce a matrix argument without ever densifying sparse input.

    ``canonical=False`` keeps duplicate or unsorted entries (fine for products, which sum them).
    ``finite=False`` skips the NaN/inf scan (for pure algebra primitives such as a matvec, where NaN in
    gives NaN out visibly and an O(nnz) scan per call would cost more than the product).

    Returns
    -------
    A : ndarray, scipy sparse matrix (``sparse_format``, float64, canonical) or LinearOperator
    kind : {"dense", "sparse", "operator"}
    """
    from scipy.sparse.linalg import LinearOperator

    if isinstance(A, LinearOperator):
        kind, out = "operator", A
        shape = A.shape
    elif _is_sparse(A):
        if A.ndim != 2:
            raise fail(func, name, "be 2-D", f"a sparse array of shape {A.shape}")
        if A.dtype.kind not in "iuf":
            raise fail(func, name, "have a real numeric dtype", f"dtype {A.dtype}", error=TypeError)
        out = A.asformat(sparse_format)
        if out.dtype != np.float64:
            out = out.astype(np.float64)
        if canonical and not out.has_canonical_format:
            out = out.copy()
            out.sum_duplicates()
        if finite:
            check_finite(out.data, f"{name}.data", func)
        kind, shape = "sparse", out.shape
    elif hasattr(A, "shape") or isinstance(A, (list, tuple)):
        out = as_float_array(A, name, func, ndim=2, finite=finite)
        kind, shape = "dense", out.shape
    else:
        raise fail(
            func, name, "be an ndarray, a scipy sparse matrix or a scipy LinearOperator", _describe(A), error=TypeError
        )
    if square and shape[0] != shape[1]:
        raise fail(func, name, "be square", f"shape {tuple(shape)}")
    return out, kind


def check_scalar(
    value: Any,
    name: str,
    func: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_inf: bool = False,
) -> float:
    """Check a real scalar against an interval and return it as a Python float."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise fail(func, name, "be a real number", _describe(value), error=TypeError)
    v = float(value)
    if np.isnan(v) or (np.isinf(v) and not allow_inf):
        raise fail(func, name, "be finite", repr(v))
    if low is not None and (v < low or (v == low and not low_inclusive)):
        rule = f"be {'>=' if low_inclusive else '>'} {low:g}"
        raise fail(func, name, rule, repr(value))
    if high is not None and (v > high or (v == high and not high_inclusive)):
        rule = f"be {'<=' if high_inclusive else '<'} {high:g}"
        raise fail(func, name, rule, repr(value))
    return v


#: The largest integer any numopt argument accepts (counts, sizes, iteration limits): it fits an int64
#: with room for the arithmetic kernels do on it, so an integer such as 10**30 is refused, never wrapped.
MAX_INT = 2**53


def check_int(value: Any, name: str, func: str, *, low: int | None = None, high: int | None = None) -> int:
    """Check an integer argument (bools are refused) against ``[low, high]``; ``high`` is at most :data:`MAX_INT`."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise fail(func, name, "be an integer", _describe(value), error=TypeError)
    v = int(value)
    high = MAX_INT if high is None else min(high, MAX_INT)
    if low is not None and v < low:
        raise fail(func, name, f"be >= {low}", repr(v))
    if v > high:
        raise fail(func, name, f"be <= {high}", repr(v))
    return v


def check_bool(value: Any, name: str, func: str) -> bool:
    """Check a flag: only ``True``/``False`` (or NumPy bools) are accepted; a truthy string such as "no" is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise fail(func, name, "be True or False", _describe(value), error=TypeError)
    return bool(value)


def check_rng(rng: Any, func: str) -> np.random.Generator:
    """Normalise ``rng`` with ``np.random.default_rng`` (SPEC 7): None, an int seed, a SeedSequence or a Generator."""
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise fail(
            func, "rng", "be None, an int seed, a SeedSequence or a numpy Generator", _describe(rng), error=TypeError
        ) from exc


def check_choice(value: Any, name: str, func: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices`` (a string) and list them when it is not."""
    options = list(choices)
    listing = ", ".join(repr(c) for c in options)
    if not isinstance(value, str):
        raise fail(func, name, f"be one of {listing}", _describe(value), error=TypeError)
    if value not in options:
        raise fail(func, name, f"be one of {listing}", repr(value))
    return value


def check_callable(value: Any, name: str, func: str, *, optional: bool = True):
    """Check that ``value`` is callable (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not callable(value):
        raise fail(func, name, "be callable" + (" or None" if optional else ""), _describe(value), error=TypeError)
    return value


def check_no_extra(options: dict, func: str, allowed: Iterable[str] = ()) -> None:
    """Refuse unknown keyword arguments with a TypeError listing the accepted ones."""
    extra = sorted(set(options) - set(allowed))
    if extra:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise TypeError(f"{func}: unexpected keyword argument(s) {', '.join(map(repr, extra))}; accepted: {accepted}.")


def check_nonnegative(array: np.ndarray, name: str, func: str) -> None:
    """Raise ValueError naming the first negative entry of ``array`` by its index."""
    if array.size and (array < 0).any():
        flat = int(np.flatnonzero(array.ravel() < 0)[0])
        index = np.unravel_index(flat, array.shape)
        where = f"{name}[{', '.join(str(int(i)) for i in index)}]"
        raise fail(func, name, "be nonnegative", f"{where} = {array[index]:.6g}")


#: Relative tolerance on the difference of the total masses of the two marginals of an OT problem.
OT_MASS_RTOL = 1e-6


def as_ot_problem(a: Any, b: Any, M: Any, reg: Any, func: str):
    """Check and coerce a balanced entropic OT problem ``(a, b, M, reg)``.

    ``a``/``b`` may be None or empty (``[]``, POT's convention): uniform weights over the
    rows/columns of ``M``, summing to 1. Otherwise they must be 1-D,
    finite, nonnegative, of positive total mass, with lengths matching ``M``'s shape, and their total
    masses may differ by at most :data:`OT_MASS_RTOL` relative (then ``b`` is rescaled to the mass of
    ``a``). ``M`` must be a finite 2-D array and ``reg > 0``. Returns float64 C-order copies
    ``(a, b, M, reg)``.
    """
    M = as_float_array(M, "M", func, ndim=2)
    n, m = M.shape
    out = []
    for name, value, size in (("a", a, n), ("b", b, m)):
        if value is not None and not _is_sparse(value):
            try:
                empty = np.ndim(value) == 1 and np.size(value) == 0
            except Exception:  # ragged or exotic input: as_float_array reports it
                empty = False
            if empty:
                value = None  # POT's convention: a = [] means uniform
        if value is None:
            if size == 0:
                raise fail(func, "M", "have at least one row and one column", f"shape {M.shape}")
            out.append(np.full(size, 1.0 / size))
            continue
        w = as_float_array(value, name, func, ndim=1)
        check_nonnegative(w, name, func)
        out.append(w)
    a, b = out
    if M.shape != (a.shape[0], b.shape[0]):
        raise fail(func, "M", f"have shape (len(a), len(b)) = ({a.shape[0]}, {b.shape[0]})", f"shape {M.shape}")
    for name, w in (("a", a), ("b", b)):
        if not w.sum() > 0.0:
            raise fail(func, name, "have a positive total mass", f"sum({name}) = {w.sum():.6g}")
    mass_a, mass_b = float(a.sum()), float(b.sum())
    if abs(mass_a - mass_b) > OT_MASS_RTOL * max(mass_a, mass_b):
        raise fail(func, "b", f"have the total mass of `a` (to a relative {OT_MASS_RTOL:g})",
                   f"sum(a) = {mass_a:.12g} and sum(b) = {mass_b:.12g}")
    if mass_a != mass_b:
        b = b * (mass_a / mass_b)
    reg = check_scalar(reg, "reg", func, low=0.0, low_inclusive=False)
    return a, b, M, reg
