"""scipy-style front end of constrained.minimize (issue 16): hess schemes, args=, constraints without Hessians.

Each feature is checked against scipy's minimize(method="trust-constr") given the same arguments.
"""

import warnings

import numpy as np
import pytest
from scipy.optimize import BFGS, NonlinearConstraint
from scipy.optimize import minimize as sminimize
from scipy.sparse.linalg import LinearOperator

from numopt.constrained import _frontend, minimize
from numopt.constrained._cops import dtoc
from numopt.constrained._hs import hs_problem

PROBLEMS = ["HS6", "HS27", "HS40", "HS48", "HS51"]


def _tc(fun, x0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sminimize(fun, x0, method="trust-constr", options=dict(gtol=1e-10, xtol=1e-14, maxiter=2000), **kw)


def _nlc(p, hess=None):
    z = np.zeros(p.m)
    return NonlinearConstraint(p.cons, z, z, jac=p.cons_jac, **({} if hess is None else {"hess": hess}))


@pytest.mark.parametrize("scheme", ["2-point", "3-point", "cs"])
@pytest.mark.parametrize("name", PROBLEMS)
def test_hess_schemes_match_trust_constr(name, scheme):
    p = hs_problem(name)
    r = minimize(p.fun, p.x0, jac=p.grad, hess=scheme, constraints=p.constraint())
    assert r.success, r.message
    s = _tc(p.fun, p.x0, jac=p.grad, hess=scheme, constraints=[_nlc(p, p.cons_hess)])
    np.testing.assert_allclose(r.x, s.x, atol=1e-6)
    np.testing.assert_allclose(r.x, p.xstar, atol=1e-6)
    assert r.kkt_residual <= 1e-8


def test_dict_constraints_without_hess_in_difference_mode():
    p = hs_problem("HS40")
    con = {"type": "eq", "fun": p.cons, "jac": p.cons_jac}  # scipy/SLSQP style: no 'hess'
    r = minimize(p.fun, p.x0, jac=p.grad, hess="2-point", constraints=con)
    assert r.success, r.message
    s = _tc(p.fun, p.x0, jac=p.grad, hess="2-point", constraints=[con])
    np.testing.assert_allclose(r.x, s.x, atol=1e-6)


@pytest.mark.parametrize("chess", [None, BFGS()], ids=["default", "explicit-BFGS"])
def test_nonlinear_constraint_with_its_default_hess(chess):
    p = hs_problem("HS27")
    nlc = _nlc(p) if chess is None else _nlc(p, chess)
    r = minimize(p.fun, p.x0, jac=p.grad, hess=p.hess, constraints=nlc)
    assert r.success, r.message
    s = _tc(p.fun, p.x0, jac=p.grad, hess=p.hess, constraints=[nlc])
    np.testing.assert_allclose(r.x, s.x, atol=1e-6)
    np.testing.assert_allclose(r.fun, p.fstar, atol=1e-9)


def test_args_reach_fun_jac_hess_and_dict_constraints_like_scipy():
    # min a·x + b/2 |x|² on the sphere |x|² = rad², all data through args
    a, b, rad = np.array([1.0, -2.0, 0.5]), 0.3, 2.0
    seen = set()

    def fun(x, a_, b_):
        seen.add("fun")
        return a_ @ x + 0.5 * b_ * x @ x

    def jac(x, a_, b_):
        seen.add("jac")
        return a_ + b_ * x

    def hess(x, a_, b_):
        seen.add("hess")
        return b_ * np.eye(3)

    con = {"type": "eq", "fun": lambda x, r: [x @ x - r**2], "jac": lambda x, r: 2 * x[None],
           "hess": lambda x, v, r: 2 * v[0] * np.eye(3), "args": (rad,)}
    x0 = np.array([1.0, 1.0, 1.0])
    r = minimize(fun, x0, jac=jac, hess=hess, constraints=con, args=(a, b))
    assert r.success and seen == {"fun", "jac", "hess"}
    s = _tc(fun, x0, args=(a, b), jac=jac, hess=hess, constraints=[{k: con[k] for k in ("type", "fun", "jac", "args")}])
    np.testing.assert_allclose(r.x, s.x, atol=1e-6)
    np.testing.assert_allclose(r.x, -rad * a / np.linalg.norm(a), atol=1e-8)


def test_args_with_jac_true_and_a_difference_hessian():
    p = hs_problem("HS6")
    scale = 3.0
    r = minimize(lambda x, s: (s * p.fun(x), s * p.grad(x)), p.x0, jac=True, hess="3-point",
                 constraints=p.constraint(), args=scale)  # a non-tuple is one argument, as in scipy
    assert r.success
    np.testing.assert_allclose(r.x, p.xstar, atol=1e-7)
    np.testing.assert_allclose(r.fun, scale * p.fstar, atol=1e-9)


def test_matrix_free_differences_above_the_dense_limit(monkeypatch):
    monkeypatch.setattr(_frontend, "FD_DENSE_LIMIT", 10)
    p = dtoc(20)
    hess, _ = _frontend._fd_objective_hess(p.grad, "2-point", _frontend._Counter())
    H = hess(p.x0 + 0.1)
    assert isinstance(H, LinearOperator)
    np.testing.assert_allclose(H @ np.ones(p.n), p.hess(p.x0 + 0.1) @ np.ones(p.n), rtol=1e-6)
    r = minimize(p.fun, p.x0, jac=p.grad, hess="2-point", constraints=p.constraint())
    assert r.success, r.message
    ref = minimize(**p.kwargs())
    np.testing.assert_allclose(r.fun, ref.fun, rtol=1e-9)
    np.testing.assert_allclose(r.x, ref.x, atol=1e-6)


def test_difference_evaluations_are_counted_in_njev():
    p = hs_problem("HS6")
    exact = minimize(**p.kwargs())
    fd = minimize(p.fun, p.x0, jac=p.grad, hess="2-point", constraints=p.constraint())
    assert fd.nit == exact.nit
    assert fd.njev >= exact.njev + p.n * fd.nhev  # n extra gradient points per formed Hessian


@pytest.mark.parametrize("kw, error, match", [
    (dict(hess="4-point"), ValueError, r"minimize: `hess` must be a callable or one of '2-point', '3-point', 'cs'"),
    (dict(hess=BFGS()), TypeError, r"`hess` must be a callable hess\(x\) or one of .*quasi-Newton"),
    (dict(hess=None), TypeError, r"`hess` must be a callable"),
    (dict(jac="2-point"), TypeError, r"`jac` must be a callable gradient .*finite-difference gradients"),
    (dict(jac=None), TypeError, r"`jac` must be a callable gradient"),
])
def test_bad_front_end_input_names_the_argument(kw, error, match):
    p = hs_problem("HS6")
    with pytest.raises(error, match=match):
        minimize(**{**p.kwargs(), **kw})


def test_constraint_without_a_callable_jac_is_still_refused_by_name():
    p = hs_problem("HS6")
    with pytest.raises(TypeError, match=r"`constraints(\[0\])?\['jac'\]` must be callable"):
        minimize(p.fun, p.x0, jac=p.grad, hess="2-point",
                 constraints={"type": "eq", "fun": p.cons, "jac": "2-point", "args": ()})


def test_docstring_documents_the_front_end():
    doc = minimize.__doc__
    assert 'hess : callable or {"2-point", "3-point", "cs"}' in doc
    assert "    args : tuple, default ()" in doc
    assert doc.index("    args : ") < doc.index("    method : ")
