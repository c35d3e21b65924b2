"""API contract: constraint formats, matrix kinds, result fields, callbacks, bad input."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import NonlinearConstraint
from scipy.sparse.linalg import aslinearoperator

import numopt
from numopt.constrained import ConstrainedResult, minimize
from numopt.constrained._hs import hs_problem
from numopt.constrained._problems import semilinear_control

FIELDS = {"x", "multipliers", "fun", "kkt_residual", "constraint_violation", "nit", "nfev", "njev", "nhev",
          "inner_iterations", "mu_history", "nu_history", "delta_history", "kkt_history", "history", "success",
          "status", "message", "sketch"}


def test_result_fields_and_callback():
    p = hs_problem("HS40")
    seen = []
    res = minimize(**p.kwargs(), callback=lambda r: seen.append(r.kkt_residual))
    assert isinstance(res, ConstrainedResult) and FIELDS <= set(res.keys())
    assert len(seen) == res.nit and seen[-1] == res.kkt_residual
    assert res.nfev >= res.nit + 1 and res.njev >= res.nit + 1 and res.nhev == res.nit
    np.testing.assert_allclose(res.constraint_violation, np.linalg.norm(p.cons(res.x)))
    assert res.sketch == "direct"


def test_callback_stopiteration():
    def cb(r):
        raise StopIteration

    res = minimize(**hs_problem("HS6").kwargs(), callback=cb)
    assert res.status is numopt.Status.CALLBACK and res.nit == 1 and not res.success


def test_maxiter_warns_and_reports():
    with pytest.warns(numopt.ConvergenceWarning, match="maxiter"):
        res = minimize(**hs_problem("HS26").kwargs(), maxiter=3)
    assert not res.success and res.nit == 3 and np.isfinite(res.x).all()


def test_verbose_prints_table(capsys):
    minimize(**hs_problem("HS28").kwargs(), verbose=True)
    out = capsys.readouterr().out
    assert "kkt" in out and "mu" in out and len(out.splitlines()) == 3


def test_nonlinear_constraint_and_list_forms_agree():
    p = hs_problem("HS42")
    a = minimize(**p.kwargs())
    nlc = NonlinearConstraint(lambda x: p.cons(x) + 1.5, 1.5, 1.5, jac=p.cons_jac, hess=p.cons_hess)
    b = minimize(p.fun, p.x0, jac=p.grad, hess=p.hess, constraints=nlc)
    split = [{"type": "eq", "fun": lambda x, i=i: p.cons(x)[i:i + 1], "jac": lambda x, i=i: p.cons_jac(x)[i:i + 1],
              "hess": lambda x, v, i=i: p.cons_hess(x, np.eye(2)[i] * v[0])} for i in range(2)]
    c = minimize(p.fun, p.x0, jac=p.grad, hess=p.hess, constraints=split)
    for r in (b, c):
        np.testing.assert_allclose(r.x, a.x, atol=1e-9)
        np.testing.assert_allclose(r.multipliers, a.multipliers, atol=1e-8)


def test_jac_true():
    p = hs_problem("HS51")
    res = minimize(lambda x: (p.fun(x), p.grad(x)), p.x0, jac=True, hess=p.hess, constraints=p.constraint())
    assert res.success and res.kkt_residual <= 1e-8


@pytest.mark.parametrize("sketch", ["direct", "minres", "schur_cg", "auto"])
def test_sparse_stays_sparse(sketch, monkeypatch):
    p = semilinear_control(8)

    def boom(self, *a, **k):
        raise AssertionError("a sparse matrix was densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.dia_matrix):
        monkeypatch.setattr(cls, "toarray", boom)
        monkeypatch.setattr(cls, "todense", boom)
    res = minimize(**p.kwargs(), sketch=sketch, tol=1e-10)
    assert res.success
    np.testing.assert_allclose(res.x, p.xstar, atol=1e-8)


def test_semilinear_control_amg_and_fallback(monkeypatch):
    pytest.importorskip("pyamg")
    p = semilinear_control(24)
    res = minimize(**p.kwargs(), sketch="schur_cg", laplacian_solver="amg", tol=1e-9)
    assert res.success and np.abs(res.x - p.xstar).max() < 1e-6
    import numopt.constrained._inner as inner

    monkeypatch.setattr(inner, "_have_pyamg", lambda: False)
    res2 = minimize(**p.kwargs(), sketch="minres", laplacian_solver="amg", tol=1e-9)
    assert res2.success and np.abs(res2.x - p.xstar).max() < 1e-6


def test_linear_operator_hessian_uses_krylov():
    p = hs_problem("HS42")
    kw = p.kwargs()
    kw["hess"] = lambda x: aslinearoperator(p.hess(x))
    res = minimize(**kw)
    assert res.sketch == "minres" and res.success and abs(res.fun - p.fstar) < 1e-6
    with pytest.raises(TypeError, match="`sketch` must be 'minres'"):
        minimize(**kw, sketch="kaczmarz")


def test_import_is_cheap():
    code = ("import sys, numopt.constrained; bad = [m for m in ('pyamg', 'cvxpy', 'torch') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cvxpy_equality_qp():
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(3)
    n, m = 12, 4
    M = rng.standard_normal((n, n))
    Q = M.T @ M + np.eye(n)
    q, A, b = rng.standard_normal(n), rng.standard_normal((m, n)), rng.standard_normal(m)
    x = cp.Variable(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, Q) + q @ x), [A @ x == b]).solve()
    res = minimize(lambda z: 0.5 * z @ Q @ z + q @ z, np.zeros(n), jac=lambda z: Q @ z + q, hess=lambda z: Q,
                   constraints={"type": "eq", "fun": lambda z: A @ z - b, "jac": lambda z: A,
                                "hess": lambda z, v: np.zeros((n, n))}, sketch="kaczmarz", rng=0)
    np.testing.assert_allclose(res.x, x.value, atol=1e-5)


# ---- bad input ---------------------------------------------------------------------------------------
def _kw(**over):
    p = hs_problem("HS42")
    kw = p.kwargs()
    kw.update(over)
    return kw


def test_bad_jacobian_shape():
    p = hs_problem("HS42")
    con = dict(p.constraint(), jac=lambda x: p.cons_jac(x)[:, :3])
    with pytest.raises(ValueError, match=r"minimize: `constraints\['jac'\]` must return a matrix of shape \(2, 4\)"):
        minimize(**_kw(constraints=con))
    with pytest.raises(ValueError, match=r"`jac` must return the gradient, an array of shape \(4,\)"):
        minimize(**_kw(jac=lambda x: np.ones(3)))
    with pytest.raises(ValueError, match=r"`hess` must return a matrix of shape \(4, 4\)"):
        minimize(**_kw(hess=lambda x: np.eye(3)))


def test_non_finite_at_x0():
    p = hs_problem("HS42")
    with pytest.raises(ValueError, match="`fun` must return a finite value at x0; got nan"):
        minimize(**_kw(fun=lambda x: np.nan))
    with pytest.raises(ValueError, match=r"`c\(x0\)` must be finite; got c\(x0\)\[1\] = inf"):
        minimize(**_kw(constraints=dict(p.constraint(), fun=lambda x: np.array([0.0, np.inf]))))
    with pytest.raises(ValueError, match=r"`jac\(x0\)` must be finite"):
        minimize(**_kw(jac=lambda x: np.full(4, np.nan)))
    with pytest.raises(ValueError, match=r"`hess` must be finite"):
        minimize(**_kw(hess=lambda x: np.full((4, 4), np.inf)))
    with pytest.raises(ValueError, match=r"`x0` must be finite"):
        minimize(**_kw(x0=np.array([1.0, np.nan, 0, 0])))


def test_inequalities_refused():
    p = hs_problem("HS42")
    with pytest.raises(ValueError, match="inequality constraints are not supported.*trust-constr"):
        minimize(**_kw(constraints=dict(p.constraint(), type="ineq")))
    with pytest.raises(ValueError, match="inequality constraints are not supported.*trust-constr"):
        minimize(**_kw(constraints=NonlinearConstraint(p.cons, -1, 0, jac=p.cons_jac, hess=p.cons_hess)))


@pytest.mark.parametrize("tol", [0.0, -1e-3])
def test_tol_must_be_positive(tol):
    with pytest.raises(ValueError, match=r"minimize: `tol` must be > 0; got"):
        minimize(**_kw(tol=tol))


def test_options_checked():
    with pytest.raises(TypeError, match="unexpected keyword argument.*'mu_0'"):
        minimize(**_kw(mu_0=1.0))
    with pytest.raises(ValueError, match="`sketch` must be one of 'auto', 'kaczmarz'"):
        minimize(**_kw(sketch="rk"))
    with pytest.raises(ValueError, match="`method` must be one of 'adasketch'"):
        minimize(**_kw(method="sqp"))
    with pytest.raises(ValueError, match="`delta0` must be < 1"):
        minimize(**_kw(delta0=1.0))
    with pytest.raises(TypeError, match="`hess` must be callable"):
        minimize(**_kw(hess=np.eye(4)))
    with pytest.raises(TypeError, match="`constraints` must be a dict"):
        minimize(**_kw(constraints=3))
    with pytest.raises(ValueError, match=r"`lambda0` must have length m = 2"):
        minimize(**_kw(lambda0=np.zeros(3)))
    with pytest.raises(ValueError, match="`sketch` must be 'schur_cg' only when the Lagrangian Hessian is diagonal"):
        minimize(**hs_problem("HS40").kwargs(), sketch="schur_cg")


def test_inner_failure_is_clean():
    with pytest.warns(numopt.ConvergenceWarning, match="inner solver"):
        res = minimize(**hs_problem("HS52").kwargs(), sketch="kaczmarz", inner_maxiter=5, rng=0)
    assert not res.success and np.isfinite(res.x).all() and np.isfinite(res.fun)


def test_line_search_failure_is_clean():
    with pytest.warns(numopt.ConvergenceWarning, match="line search"):
        res = minimize(**hs_problem("HS7").kwargs(), max_backtracks=1)
    assert not res.success and np.isfinite(res.x).all()


# ---- complex values from the oracles (issue 11, item 6): refused, never truncated -------------------------
def _complex_cases():
    p = hs_problem("HS42")
    con = p.constraint()
    cj = lambda x: p.cons_jac(x).astype(complex)  # noqa: E731
    return [
        ("fun", dict(fun=lambda x: np.complex128(p.fun(x) + 1e-3j)), r"`fun` must return a real scalar"),
        ("fun0", dict(fun=lambda x: complex(p.fun(x))), r"`fun` must return a real scalar"),
        ("jac", dict(jac=lambda x: p.grad(x) + 0j), r"`jac` must return real values; got a complex array"),
        ("hess", dict(hess=lambda x: p.hess(x) + 1e-9j), r"`hess` must return real values"),
        ("hess_sparse", dict(hess=lambda x: sp.csr_matrix(p.hess(x) + 1e-9j)), r"`hess` must return real values"),
        ("hess_op", dict(hess=lambda x: aslinearoperator(p.hess(x) + 1e-9j)), r"`hess` must return real values"),
        ("cfun", dict(constraints=dict(con, fun=lambda x: p.cons(x) + 0j)),
         r"`constraints\['fun'\]` must return real values"),
        ("cjac", dict(constraints=dict(con, jac=cj)), r"`constraints\['jac'\]` must return real values"),
        ("chess", dict(constraints=dict(con, hess=lambda x, v: p.cons_hess(x, v) + 0j)),
         r"`constraints\['hess'\]` must return real values"),
        ("nlc", dict(constraints=NonlinearConstraint(lambda x: p.cons(x) + 0j, 0, 0, jac=p.cons_jac,
                                                     hess=p.cons_hess)), r"`constraints.fun` must return real"),
        ("jac_true", dict(fun=lambda x: (p.fun(x), p.grad(x) + 1e-3j), jac=True), r"`fun` must return real values"),
    ]


@pytest.mark.parametrize("case", _complex_cases(), ids=lambda c: c[0])
def test_complex_oracle_values_refused(case):
    """Each used to be cast to float64 (a ComplexWarning at best, the imaginary part silently dropped)."""
    _, over, match = case
    with pytest.raises(TypeError, match="minimize: " + match):
        minimize(**_kw(**over))


@pytest.mark.parametrize("name", ["verbose", "extrapolate", "warm_start"])
@pytest.mark.parametrize("value", ["no", 1, None])
def test_flags_must_be_bool(name, value):
    with pytest.raises(TypeError, match=f"`{name}` must be True or False"):
        minimize(**_kw(**{name: value}))


def test_precompile_runs():
    """`numopt compile` calls this to fill the Numba cache for every path of the family (cheap once cached)."""
    from numopt.constrained._precompile import precompile

    assert precompile() is None
