r"""The public :func:`minimize`: scipy-style arguments (``args=``, ``hess="2-point"/"3-point"/"cs"``, constraints
without Hessians) turned into the exact oracles that the AdaSketch-Newton core (:mod:`._adasketch`) expects.

Finite-difference Hessians (scipy's three schemes, applied to gradients and Jacobian-transpose products):

* :math:`\nabla^2 f` from differences of ``jac``; :math:`\sum_i v_i\nabla^2 c_i` from differences of
  :math:`J(x)^\top v` (the constraint's own ``jac``), so no second derivative is ever needed.
* n ≤ ``FD_DENSE_LIMIT`` (1000, the size up to which the core also checks the reduced Hessian): the matrix is
  formed, column by column, and symmetrised, like scipy's ``approx_derivative`` of the gradient (n extra
  gradient/Jacobian evaluations per Hessian for ``"2-point"`` and ``"cs"``, 2n for ``"3-point"``), so every
  inner solver (LU, sketching) can use it.
* n > 1000: a matrix-free ``LinearOperator`` whose product costs one extra gradient (two for ``"3-point"``);
  ``sketch="auto"`` then picks MINRES (LU and the sketching solvers need explicit matrices), whose
  preconditioner then has no diagonal of the Hessian to use (LUKVLE1 at n = 600 stops at iteration 3 with an
  operator Hessian, exact or differenced, and succeeds in 26 with the same Hessian as a sparse matrix).
* Steps as scipy: :math:`h_j = r\max(1, |x_j|)` with :math:`r = \sqrt u` (``"2-point"``, ``"cs"``) or
  :math:`u^{1/3}` (``"3-point"``), u the unit roundoff; along a direction v, :math:`t = r\max(1,\|x\|)/\|v\|`.
  ``"cs"`` (complex step, :math:`\mathrm{Im}\,g(x + ith)/h`) needs ``jac`` (and the constraint Jacobians) to
  accept complex x and be complex-analytic; it is then accurate to rounding.

Why quasi-Newton updates (scipy's ``BFGS``/``SR1``) are refused for ``hess``: the merit function, the exact
augmented Lagrangian, has the gradient :math:`\nabla_xL + \nu\nabla^2_xL\,\nabla_xL + \mu G^\top c`, so the
descent test and the line search need true products :math:`\nabla^2_xL\cdot v`; a secant approximation
would make them wrong, while differences of gradients approximate them to :math:`O(\sqrt u)` (2-point).
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from .._validation import _describe, fail
from . import _adasketch

__all__ = ["minimize", "FD_SCHEMES", "FD_DENSE_LIMIT"]

FUNC = "minimize"
#: ``hess=`` strings (scipy's names).
FD_SCHEMES = ("2-point", "3-point", "cs")
#: A finite-difference Hessian is formed as a matrix up to this n, and is a LinearOperator above it.
FD_DENSE_LIMIT = 1000
_EPS = float(np.finfo(float).eps)
_REL_STEP = {"2-point": _EPS**0.5, "3-point": _EPS ** (1 / 3), "cs": _EPS**0.5}


def _is_quasi_newton(h) -> bool:
    try:
        from scipy.optimize import HessianUpdateStrategy
    except ImportError:  # pragma: no cover
        return False
    return isinstance(h, HessianUpdateStrategy) or (isinstance(h, type) and issubclass(h, HessianUpdateStrategy))


def _as_args(args) -> tuple:
    """scipy's rule: a tuple is the extra arguments, anything else is one extra argument."""
    return args if isinstance(args, tuple) else (args,)


def _bind(fn, args: tuple):
    if not args or not callable(fn):
        return fn
    return lambda x, *more: fn(x, *more, *args)


class _Memo:
    """The last (x, value) of a callable: the solver asks for ∇f / J at x just before the Hessian at x."""

    def __init__(self, fn):
        self.fn, self.x, self.value = fn, None, None

    def __call__(self, x):
        if self.x is None or self.x.shape != x.shape or not np.array_equal(self.x, x):
            self.value = self.fn(x)
            self.x = np.array(x, dtype=np.float64, copy=True)
        # a copy of an array, so that nothing the caller does to it can change the differences' base point
        return self.value.copy() if isinstance(self.value, np.ndarray) else self.value


class _Counter:
    """Extra gradient/Jacobian evaluation points spent on differences (added to ``njev`` at the end)."""

    def __init__(self):
        self.points = {"f": 0}

    def total(self) -> int:
        return max(self.points.values())


def _fd_operator(vec, x, base, scheme, n, counter, key):
    """Matrix (n <= FD_DENSE_LIMIT) or LinearOperator of the derivative of ``vec`` (R^n -> R^n) at x."""
    r = _REL_STEP[scheme]

    def directional(d):
        nd = float(np.linalg.norm(d))
        if nd == 0.0:
            return np.zeros(n)
        t = r * max(1.0, float(np.linalg.norm(x))) / nd
        if scheme == "2-point":
            counter.points[key] += 1
            return (vec(x + t * d) - base) / t
        if scheme == "3-point":
            counter.points[key] += 2
            return (vec(x + t * d) - vec(x - t * d)) / (2 * t)
        counter.points[key] += 1
        return np.imag(vec(x + 1j * t * d)) / t

    if n <= FD_DENSE_LIMIT:
        H = np.empty((n, n))
        for j in range(n):
            h = r * max(1.0, abs(float(x[j])))
            e = np.zeros(n)
            e[j] = h
            if scheme == "2-point":
                counter.points[key] += 1
                H[:, j] = (vec(x + e) - base) / h
            elif scheme == "3-point":
                counter.points[key] += 2
                H[:, j] = (vec(x + e) - vec(x - e)) / (2 * h)
            else:
                counter.points[key] += 1
                H[:, j] = np.imag(vec(x + 1j * e)) / h
        return 0.5 * (H + H.T)
    mv = lambda d: directional(np.asarray(d, dtype=float).ravel())  # noqa: E731
    return LinearOperator((n, n), matvec=mv, rmatvec=mv, dtype=np.float64)


def _grad_of(fun, jac):
    """The gradient callable (``jac``, or the second output of ``fun`` when ``jac is True``)."""
    if jac is True:
        return lambda x: np.asarray(fun(x)[1], dtype=complex if np.iscomplexobj(x) else float).ravel()
    return lambda x: np.asarray(jac(x)).ravel()


def _jt_times(jac, v):
    """x -> J(x)ᵀ v for a constraint Jacobian of any kind (dense, 1-D for one constraint, sparse, operator)."""

    def fn(x):
        J = jac(x)
        if isinstance(J, LinearOperator):
            return np.asarray(J.rmatvec(v)).ravel()
        if sp.issparse(J):
            return np.asarray(J.T @ v).ravel()
        J = np.asarray(J)
        if J.ndim == 1:
            J = J.reshape(1, -1)
        return J.T @ v

    return fn


def _fd_objective_hess(grad, scheme, counter):
    memo = _Memo(grad)

    def hess(x):
        x = np.asarray(x, dtype=float)
        base = memo(x) if scheme == "2-point" else None
        return _fd_operator(grad, x, base, scheme, x.shape[0], counter, "f")

    return hess, memo


def _fd_constraint_hess(jac, scheme, counter, key):
    memo = _Memo(jac)
    counter.points[key] = 0

    def hess(x, v):
        x = np.asarray(x, dtype=float)
        v = np.asarray(v, dtype=float)
        vec = _jt_times(jac, v)
        base = _jt_times(memo, v)(x) if scheme == "2-point" else None
        return _fd_operator(vec, x, base, scheme, x.shape[0], counter, key)

    return hess, memo


def _has_hessian(h) -> bool:
    return callable(h) and not _is_quasi_newton(h)


def _prepare_constraints(constraints, scheme, counter):
    """Bind each dict's ``args`` and give every constraint without a Hessian a finite-difference one."""
    try:
        from scipy.optimize import NonlinearConstraint
    except ImportError:  # pragma: no cover
        NonlinearConstraint = ()
    single = isinstance(constraints, (dict, NonlinearConstraint))
    items = [constraints] if single else constraints
    if not isinstance(items, (list, tuple)):
        return constraints  # the core's own message names the type
    out = []
    for i, con in enumerate(items):
        name = "constraints" if single else f"constraints[{i}]"
        if isinstance(con, dict):
            con = dict(con)
            cargs = _as_args(con.pop("args", ()))
            for key in ("fun", "jac", "hess"):
                if key in con:
                    con[key] = _bind(con[key], cargs)
            if "hess" not in con or con["hess"] is None or _is_quasi_newton(con["hess"]):
                if callable(con.get("jac")):
                    con["hess"], con["jac"] = _fd_constraint_hess(con["jac"], scheme, counter, name)
                else:
                    con.pop("hess", None)  # the core then names the missing / non-callable `jac`
        elif isinstance(con, NonlinearConstraint) and not _has_hessian(con.hess) and callable(con.jac):
            hess, jac = _fd_constraint_hess(con.jac, scheme, counter, name)
            con = NonlinearConstraint(con.fun, con.lb, con.ub, jac=jac, hess=hess)
        out.append(con)
    return out[0] if single else out


def minimize(fun, x0, *, jac, hess, constraints, args=(), method="adasketch", sketch="auto", tol=1e-8,
             maxiter=1000, rng=None, callback=None, verbose=False, **method_options):
    # the docstring is the core's, with ``hess`` and ``args`` documented for this front end (set below)
    if hess is None or _is_quasi_newton(hess):
        raise fail(FUNC, "hess", "be a callable hess(x) or one of '2-point', '3-point', 'cs' (quasi-Newton "
                   "updates are not supported: the merit's gradient needs true products Hess L . v)",
                   _describe(hess), error=TypeError)
    if isinstance(hess, str) and hess not in FD_SCHEMES:
        raise fail(FUNC, "hess", "be a callable or one of '2-point', '3-point', 'cs'", repr(hess))
    if isinstance(jac, str) or jac is None or jac is False:
        raise fail(FUNC, "jac", "be a callable gradient jac(x) or True (fun returns (f, g)); finite-difference "
                   "gradients are not supported", _describe(jac), error=TypeError)
    args = _as_args(args)
    fun, jac = _bind(fun, args), (jac if jac is True else _bind(jac, args))
    scheme = hess if isinstance(hess, str) else "2-point"
    counter = _Counter()
    if isinstance(hess, str):
        hess, grad_memo = _fd_objective_hess(_grad_of(fun, jac), scheme, counter)
        if jac is not True:
            jac = grad_memo  # the solver's gradient call at x is the differences' base point
    else:
        hess = _bind(hess, args)
    constraints = _prepare_constraints(constraints, scheme, counter)
    res = _adasketch.minimize(fun, x0, jac=jac, hess=hess, constraints=constraints, method=method, sketch=sketch,
                              tol=tol, maxiter=maxiter, rng=rng, callback=callback, verbose=verbose,
                              **method_options)
    res.njev += counter.total()
    return res


_FRONT_DOC = """    hess : callable or {"2-point", "3-point", "cs"}
        ``hess(x) -> (n, n)`` Hessian of f: dense array, scipy sparse matrix or LinearOperator; or a
        finite-difference scheme as in scipy (differences of ``jac``): the matrix is formed for n <= 1000
        (n extra gradient evaluations per Hessian, 2n for "3-point", counted in ``njev``) and is a matrix-free
        LinearOperator above (one extra gradient per product, two for "3-point"; ``sketch="auto"`` then uses
        MINRES). "cs" (complex step) needs ``jac`` to accept complex x. Quasi-Newton updates (scipy's BFGS,
        SR1) are refused: the exact augmented Lagrangian's gradient uses products of the Lagrangian Hessian,
        which a secant approximation would get wrong (differences approximate them to O(sqrt(eps))). A
        constraint given without a Hessian (a dict without ``'hess'``, a NonlinearConstraint with its default
        ``hess=BFGS()``) gets differences of :math:`J(x)^\\top v` by the same scheme ("2-point" when ``hess``
        is a callable).
"""
_ARGS_DOC = """    args : tuple, default ()
        Extra arguments passed to ``fun``, ``jac`` and ``hess`` (``fun(x, *args)``), as in scipy; a non-tuple
        is one argument. Dict constraints take their own ``'args'`` key (passed to their ``fun``, ``jac`` and
        ``hess``); NonlinearConstraint has none (as in scipy).
"""


def _document(doc: str) -> str:
    """The core's docstring with ``hess`` (schemes) and ``args`` documented; unchanged if its layout moved."""
    hess_entry = re.compile(r"    hess : callable\n(?:        .*\n)+")
    if not hess_entry.search(doc):
        return doc + "\n" + _FRONT_DOC + _ARGS_DOC
    doc = hess_entry.sub(lambda _m: _FRONT_DOC, doc, count=1)
    anchor = doc.find("    method : ")
    return doc[:anchor] + _ARGS_DOC + doc[anchor:] if anchor >= 0 else doc + "\n" + _ARGS_DOC


minimize.__doc__ = _document(_adasketch.minimize.__doc__ or "")
