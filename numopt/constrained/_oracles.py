"""Validation and bookkeeping of the user's oracles: objective, constraints, derivatives, evaluation counts.

Matrices returned by ``hess``, ``constraints[i]["jac"]`` and ``constraints[i]["hess"]`` may be dense arrays,
scipy sparse matrices or ``LinearOperator`` s; sparse ones are kept sparse (CSR, float64), never densified.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from .._validation import _describe, check_callable, check_finite, fail

__all__ = ["Oracles", "matrix_kind"]

_CONSTRAINT_KEYS = ("type", "fun", "jac", "hess")


def matrix_kind(A) -> str:
    if isinstance(A, LinearOperator):
        return "operator"
    if sp.issparse(A):
        return "sparse"
    return "dense"


class _Constraint:
    def __init__(self, fun, jac, hess, offset, name):
        self.fun, self.jac, self.hess, self.offset, self.name = fun, jac, hess, offset, name
        self.m = None


def _parse_one(con, i: int, func: str) -> _Constraint:
    name = f"constraints[{i}]"
    try:
        from scipy.optimize import NonlinearConstraint
    except ImportError:  # pragma: no cover
        NonlinearConstraint = ()
    if isinstance(con, NonlinearConstraint):
        lb = np.atleast_1d(np.asarray(con.lb, dtype=float))
        ub = np.atleast_1d(np.asarray(con.ub, dtype=float))
        if lb.shape != ub.shape or not np.array_equal(lb, ub) or not np.isfinite(lb).all():
            raise fail(func, name, "be an equality constraint (a NonlinearConstraint with finite lb == ub); "
                       "inequality constraints are not supported, use scipy.optimize.minimize(method='trust-constr')",
                       f"lb = {con.lb!r} and ub = {con.ub!r}")
        if not callable(con.jac):
            raise fail(func, f"{name}.jac", "be a callable returning the constraint Jacobian (finite differences "
                       "are not supported)", _describe(con.jac), error=TypeError)
        if not callable(con.hess):
            raise fail(func, f"{name}.hess", "be a callable hess(x, v) returning sum_i v_i Hess c_i(x) (quasi-Newton "
                       "updates are not supported)", _describe(con.hess), error=TypeError)
        return _Constraint(con.fun, con.jac, con.hess, lb, name)
    if isinstance(con, dict):
        extra = sorted(set(con) - set(_CONSTRAINT_KEYS))
        if extra:
            raise fail(func, name, f"have only the keys {', '.join(map(repr, _CONSTRAINT_KEYS))}",
                       f"extra key(s) {', '.join(map(repr, extra))}")
        ctype = con.get("type")
        if ctype == "ineq":
            raise fail(func, f"{name}['type']", "be 'eq' (inequality constraints are not supported; use "
                       "scipy.optimize.minimize(method='trust-constr') or 'SLSQP')", repr(ctype))
        if ctype != "eq":
            raise fail(func, f"{name}['type']", "be 'eq'", repr(ctype))
        for key in ("fun", "jac", "hess"):
            if key not in con:
                raise fail(func, name, f"have the key '{key}'", f"keys {sorted(con)}")
            check_callable(con[key], f"{name}['{key}']", func, optional=False)
        return _Constraint(con["fun"], con["jac"], con["hess"], None, name)
    raise fail(func, name, "be a dict {'type': 'eq', 'fun', 'jac', 'hess'} or a scipy.optimize.NonlinearConstraint",
               _describe(con), error=TypeError)


def parse_constraints(constraints, func: str) -> list[_Constraint]:
    if isinstance(constraints, (dict,)) or type(constraints).__name__ == "NonlinearConstraint":
        items = [constraints]
    elif isinstance(constraints, (list, tuple)):
        items = list(constraints)
    else:
        raise fail(func, "constraints", "be a dict, a NonlinearConstraint or a list of them", _describe(constraints),
                   error=TypeError)
    if not items:
        raise fail(func, "constraints", "hold at least one equality constraint", "an empty list")
    out = [_parse_one(c, i, func) for i, c in enumerate(items)]
    if len(items) == 1:
        out[0].name = "constraints"
    return out


def _coerce_matrix(A, name: str, shape: tuple, func: str, check: bool):
    """Dense -> float64 C array; sparse -> CSR float64; LinearOperator kept. Shape checked (and finiteness when
    ``check``)."""
    if isinstance(A, LinearOperator) or sp.issparse(A):
        kind = np.dtype(A.dtype).kind if A.dtype is not None else "f"
        if kind == "c":
            raise fail(func, name, "return real values", f"a complex {type(A).__name__} of dtype {A.dtype}",
                       error=TypeError)
    if isinstance(A, LinearOperator):
        out = A
    elif sp.issparse(A):
        out = A.tocsr()
        if out.dtype != np.float64:
            out = out.astype(np.float64)
        if check:
            check_finite(out.data, f"{name}.data", func)
    else:
        A = _real_array(A, name, func)
        if A.ndim == 1 and shape[0] == 1:
            A = np.reshape(A, (1, -1))
        out = np.ascontiguousarray(A, dtype=np.float64)
        if check:
            check_finite(out, name, func)
    if tuple(out.shape) != tuple(shape):
        raise fail(func, name, f"return a matrix of shape {shape}", f"shape {tuple(out.shape)}")
    return out


def _real_scalar(value, name: str, func: str) -> float:
    """``float(value)`` for a real scalar; complex (even with zero imaginary part) and non-numbers are refused."""
    if isinstance(value, (complex, np.complexfloating)) or (isinstance(value, np.ndarray) and value.dtype.kind == "c"):
        raise fail(func, name, "return a real scalar", f"a complex value {value!r}", error=TypeError)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise fail(func, name, "return a real scalar", _describe(value), error=TypeError) from exc


def _real_array(value, name: str, func: str) -> np.ndarray:
    """``np.asarray(value, float64)``, refusing complex values (which a float64 cast would truncate silently)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise fail(func, name, "return real values", f"a complex array of dtype {arr.dtype}", error=TypeError)
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise fail(func, name, "return real numbers", _describe(value), error=TypeError) from exc


def _finite_matrix(A) -> bool:
    if isinstance(A, LinearOperator):
        return True
    data = A.data if sp.issparse(A) else A
    return bool(np.isfinite(data).all())


def vstack(mats):
    if len(mats) == 1:
        return mats[0]
    kinds = {matrix_kind(M) for M in mats}
    if kinds == {"dense"}:
        return np.vstack(mats)
    if "operator" not in kinds:
        return sp.vstack([sp.csr_matrix(M) for M in mats], format="csr")
    ops = [aslinearoperator(M) for M in mats]
    rows = np.cumsum([0] + [op.shape[0] for op in ops])
    n = ops[0].shape[1]

    def mv(v):
        return np.concatenate([op.matvec(v) for op in ops])

    def rmv(w):
        return sum(op.rmatvec(w[rows[i]:rows[i + 1]]) for i, op in enumerate(ops))

    return LinearOperator((int(rows[-1]), n), matvec=mv, rmatvec=rmv, dtype=np.float64)


def add(mats):
    kinds = [matrix_kind(M) for M in mats]
    if "operator" in kinds:
        total = aslinearoperator(mats[0])
        for M in mats[1:]:
            total = total + aslinearoperator(M)
        return total
    if all(k == "sparse" for k in kinds):
        out = mats[0]
        for M in mats[1:]:
            out = out + M
        return out.tocsr()
    out = np.array(mats[0].toarray() if kinds[0] == "sparse" else mats[0], dtype=np.float64)
    for M, k in zip(mats[1:], kinds[1:]):
        if k == "sparse":
            out += M  # dense += sparse stays dense, no copy of the sparse matrix
        else:
            out += M
    return np.asarray(out)


class Oracles:
    """Counts evaluations and checks outputs (shape always; finiteness at x0, then reported as non-finite)."""

    def __init__(self, fun, jac, hess, constraints, n: int, func: str):
        self.func = func
        self.fun = check_callable(fun, "fun", func, optional=False)
        if jac is True:
            self.jac_in_fun = True
            self.jac = None
        else:
            self.jac_in_fun = False
            self.jac = check_callable(jac, "jac", func, optional=False)
        self.hess = check_callable(hess, "hess", func, optional=False)
        self.cons = parse_constraints(constraints, func)
        self.n = n
        self.m = None
        self.nfev = self.njev = self.nhev = 0
        self._first = True
        #: Objective scale sigma: every f, grad f and Hess f handed to the solver is multiplied by it (a power of two,
        #: so exactly); the constraint Hessians are called with the multipliers of the scaled problem.
        self.scale = 1.0

    # ---- values -------------------------------------------------------------------------------
    def f_and_c(self, x):
        self.nfev += 1
        if self.jac_in_fun:
            out = self.fun(x)
            f = out[0]
            self._g_cache = (x.copy(), out[1])
        else:
            f = self.fun(x)
        f = _real_scalar(f, "fun", self.func)
        parts = []
        for con in self.cons:
            cname = f"{con.name}['fun']" if con.offset is None else f"{con.name}.fun"
            ci = np.atleast_1d(_real_array(con.fun(x), cname, self.func))
            if ci.ndim != 1:
                raise fail(self.func, cname, "return a 1-D array", f"shape {ci.shape}")
            if con.m is None:
                con.m = ci.shape[0]
            elif ci.shape[0] != con.m:
                raise fail(self.func, con.name, f"return {con.m} values at every point", f"{ci.shape[0]}")
            if con.offset is not None:
                if con.offset.shape[0] not in (1, ci.shape[0]):
                    raise fail(self.func, f"{con.name}.lb", f"have length 1 or {ci.shape[0]}",
                               f"length {con.offset.shape[0]}")
                ci = ci - con.offset
            parts.append(ci)
        c = np.concatenate(parts)
        if self.m is None:
            self.m = c.shape[0]
            if self.m == 0:
                raise fail(self.func, "constraints", "define at least one equality", "0 constraint values")
        if self._first:
            if not np.isfinite(f):
                raise fail(self.func, "fun", "return a finite value at x0", repr(f))
            check_finite(c, "c(x0)", self.func)
        return f * self.scale, c

    def grad_jac(self, x):
        self.njev += 1
        n = self.n
        if self.jac_in_fun:
            cached = getattr(self, "_g_cache", None)
            if cached is not None and np.array_equal(cached[0], x):
                g = cached[1]
            else:
                self.nfev += 1
                g = self.fun(x)[1]
        else:
            g = self.jac(x)
        g = _real_array(g, "fun" if self.jac_in_fun else "jac", self.func)
        g = g.reshape(-1) if g.ndim else g
        if g.shape != (n,):
            raise fail(self.func, "jac", f"return the gradient, an array of shape ({n},) like x0", f"shape {np.shape(g)}")
        mats = []
        for con in self.cons:
            name = f"{con.name}['jac']" if con.offset is None else f"{con.name}.jac"
            mats.append(_coerce_matrix(con.jac(x), name, (con.m, n), self.func, self._first))
        G = vstack(mats)
        if self._first:
            check_finite(g, "jac(x0)", self.func)
        return (g * self.scale if self.scale != 1.0 else g), G

    def hessian(self, x, lam):
        self.nhev += 1
        n = self.n
        Hf = _coerce_matrix(self.hess(x), "hess", (n, n), self.func, self._first)
        if self.scale != 1.0:
            Hf = Hf * self.scale
        mats = [Hf]
        start = 0
        for con in self.cons:
            v = lam[start:start + con.m]
            start += con.m
            name = f"{con.name}['hess']" if con.offset is None else f"{con.name}.hess"
            mats.append(_coerce_matrix(con.hess(x, v), name, (n, n), self.func, self._first))
        return add(mats)

    def done_first(self):
        self._first = False


def finite_matrix(A) -> bool:
    return _finite_matrix(A)
