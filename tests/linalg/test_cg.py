import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given
from hypothesis import strategies as st

import numopt
from numopt import ConvergenceWarning, Status
from numopt.linalg import _kernels, cg


def spd_matrix(n, cond, seed):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.logspace(0, -np.log10(cond), n)) @ Q.T


def poisson1d(n):
    return sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1], format="csr")


@given(n=st.integers(1, 30), log_cond=st.floats(0, 4), seed=st.integers(0, 2**31))
def test_matches_direct_solve(n, log_cond, seed):
    A = spd_matrix(n, 10**log_cond, seed)
    b = np.random.default_rng(seed + 1).standard_normal(n)
    res = cg(A, b, rtol=1e-12, maxiter=50 * n)
    assert res.success and res.status is Status.SUCCESS
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), rtol=1e-7, atol=1e-9 * np.linalg.norm(res.x))
    assert res.residual_history.shape == (res.nit + 1,)
    assert res.residual_norm <= 1e-12 * np.linalg.norm(b)


def test_operator_kinds_agree_and_match_scipy():
    A = poisson1d(80)
    b = np.linspace(-1, 1, 80)
    dense = cg(A.toarray(), b, rtol=1e-10)
    sparse = cg(A, b, rtol=1e-10)
    operator = cg(spla.aslinearoperator(A), b, rtol=1e-10)
    function = cg(lambda v: A @ v, b, rtol=1e-10)
    for res in (sparse, operator, function):
        np.testing.assert_allclose(res.x, dense.x, rtol=1e-12, atol=1e-12)
        assert res.nit == dense.nit
    x_sp, info = spla.cg(A, b, rtol=1e-10)
    assert info == 0
    np.testing.assert_allclose(dense.x, x_sp, rtol=1e-8)


def test_jacobi_preconditioner_as_diagonal_and_operator():
    rng = np.random.default_rng(0)
    d = np.logspace(0, 4, 200)
    A = sp.csr_array(sp.diags_array(d) + 0.1 * poisson1d(200))
    b = rng.standard_normal(200)
    plain = cg(A, b, rtol=1e-10)
    jac = cg(A, b, rtol=1e-10, M=1.0 / A.diagonal())
    jac_op = cg(A, b, rtol=1e-10, M=sp.diags_array(1.0 / A.diagonal()))
    assert jac.success and jac.nit < plain.nit
    assert jac_op.nit == jac.nit
    np.testing.assert_allclose(jac.x, spla.spsolve(sp.csc_array(A), b), rtol=1e-8)


def test_zero_rhs_and_exact_start():
    A = poisson1d(10)
    res = cg(A, np.zeros(10))
    assert res.success and res.status is Status.ZERO_RHS and res.nit == 0
    np.testing.assert_array_equal(res.x, 0.0)
    x = np.arange(10.0)
    res = cg(A, A @ x, x0=x)
    assert res.success and res.nit == 0
    np.testing.assert_array_equal(res.x, x)


def test_absolute_tolerance_stops_early():
    A = spd_matrix(100, 1e2, 0)
    b = np.random.default_rng(0).standard_normal(100)
    loose = cg(A, b, rtol=1e-14, atol=1e-2)
    assert loose.success and loose.residual_norm <= 1e-2
    tight = cg(A, b, rtol=1e-10)
    assert loose.nit < tight.nit


def test_indefinite_operator_reports_status():
    A = np.diag([1.0, -1.0, 2.0])
    with pytest.warns(ConvergenceWarning, match="not positive definite"):
        res = cg(A, np.ones(3))
    assert not res.success and res.status is Status.NOT_POSITIVE_DEFINITE
    assert np.isfinite(res.x).all()


def test_indefinite_preconditioner_reports_status():
    A = np.eye(3) * 2.0
    with pytest.warns(ConvergenceWarning, match="preconditioner"):
        res = cg(A + np.diag([0, 0, 1.0]), np.ones(3), M=np.array([1.0, -1.0, 1.0]))
    assert res.status is Status.PRECONDITIONER_NOT_POSITIVE_DEFINITE


def test_maxiter_reports_and_warns():
    A = poisson1d(100)
    b = np.random.default_rng(1).standard_normal(100)
    with pytest.warns(ConvergenceWarning, match="maxiter"):
        res = cg(A, b, rtol=1e-12, maxiter=5)
    assert not res.success and res.status is Status.MAXITER and res.nit == 5
    true = np.linalg.norm(b - A @ res.x)
    np.testing.assert_allclose(res.residual_norm, true, rtol=1e-8)


def test_nonfinite_operator_output_stops_cleanly():
    with pytest.warns(ConvergenceWarning, match="NaN"):
        res = cg(lambda v: np.full_like(v, np.nan), np.ones(4))
    assert res.status is Status.NONFINITE and np.isfinite(res.x).all()


def test_callback_and_stopiteration():
    seen = []

    def callback(intermediate):
        seen.append(intermediate.residual_norm)
        if len(seen) == 3:
            raise StopIteration

    res = cg(poisson1d(50), np.ones(50), rtol=1e-12, callback=callback)
    assert res.status is Status.CALLBACK and not res.success and res.nit == 3 and len(seen) == 3
    assert "StopIteration" in res.message


def test_verbose_prints_table(capsys):
    cg(poisson1d(5), np.ones(5), verbose=True)
    out = capsys.readouterr().out
    assert "nit" in out and "residual" in out and len(out.strip().splitlines()) >= 2


def test_result_repr_and_fields():
    res = cg(poisson1d(5), np.ones(5))
    text = repr(res)
    assert text.startswith("CGResult(") and "success: True" in text
    assert {"x", "success", "status", "message", "nit", "residual_norm", "residual_history"} <= set(res.keys())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(A=np.ones((2, 3)), b=np.ones(2)), ValueError, r"cg: `A` must be square; got shape \(2, 3\)"),
        (dict(A=np.eye(3), b=np.ones(2)), ValueError, r"`A` must have shape \(2, 2\)"),
        (dict(A=np.eye(2), b=np.array([1.0, np.nan])), ValueError, r"`b` must be finite; got b\[1\] = nan"),
        (dict(A=np.eye(2), b=np.ones(2), rtol=-1.0), ValueError, r"`rtol` must be >= 0"),
        (dict(A=np.eye(2), b=np.ones(2), rtol=0.0), ValueError, r"`rtol` must be positive when `atol` is 0"),
        (dict(A=np.eye(2), b=np.ones(2), atol=np.inf), ValueError, r"`atol` must be finite"),
        (dict(A=np.eye(2), b=np.ones(2), maxiter=-1), ValueError, r"`maxiter` must be >= 0"),
        (dict(A=np.eye(2), b=np.ones(2), maxiter=2.5), TypeError, r"`maxiter` must be an integer"),
        (dict(A=np.eye(2), b=np.ones(2), M=np.ones(3)), ValueError, r"`M` must have length 2"),
        (dict(A=np.eye(2), b=np.ones(2), x0=np.ones(3)), ValueError, r"`x0` must have length 2"),
        (dict(A=np.eye(2), b=np.ones(2), callback=3), TypeError, r"`callback` must be callable"),
        (dict(A="matrix", b=np.ones(2)), TypeError, r"`A` must be an ndarray, a scipy sparse matrix"),
        (dict(A=np.eye(2), b=np.ones((2, 1))), ValueError, r"`b` must be 1-D"),
        (dict(A=np.eye(2), b=np.ones(2), tol=1e-3), TypeError, r"tol"),
    ],
)
def test_bad_input(kwargs, error, match):
    A = kwargs.pop("A")
    b = kwargs.pop("b")
    with pytest.raises(error, match=match):
        cg(A, b, **kwargs)


def test_update_kernels_match_numpy():
    rng = np.random.default_rng(3)
    x, r, p, q = (rng.standard_normal(17) for _ in range(4))
    x_ref, r_ref = x + 0.3 * p, r - 0.3 * q
    rr = _kernels.cg_step(x, r, p, q, 0.3)
    np.testing.assert_allclose(x, x_ref, rtol=1e-15)
    np.testing.assert_allclose(r, r_ref, rtol=1e-15)
    np.testing.assert_allclose(rr, r_ref @ r_ref, rtol=1e-13)
    z = rng.standard_normal(17)
    p_ref = z + 0.7 * p
    _kernels.cg_direction(p, z, 0.7)
    np.testing.assert_allclose(p, p_ref, rtol=1e-15)


def test_numopt_linalg_is_lazy_attribute():
    assert numopt.linalg.cg is cg


@pytest.mark.parametrize("power", [-300, -200, -170, 155, 160, 200, 300])
def test_scale_invariance_of_b_and_A(power):
    """Issue 11: b with entries ~1e155 overflowed ||b|| and returned x = 0 with success=True."""
    A = poisson1d(30)
    b = np.random.default_rng(0).standard_normal(30)
    ref = cg(A, b, rtol=1e-10)
    scaled_b = cg(A, b * 10.0**power, rtol=1e-10)
    assert scaled_b.success and scaled_b.nit == ref.nit
    np.testing.assert_allclose(scaled_b.x, ref.x * 10.0**power, rtol=1e-12)
    if power > -290:  # below, the true residual norm (~1e-311) is subnormal
        assert 0 < scaled_b.residual_norm <= 1e-10 * np.linalg.norm(b) * 10.0**power
    # scaling A by 2^k (exact) scales x by 2^-k; with b scaled too, x is unchanged
    k = int(round(power * np.log2(10)))
    both = cg(A * 2.0**k, b * 2.0**k, rtol=1e-10)
    assert both.success
    np.testing.assert_allclose(both.x, ref.x, rtol=1e-12)


def test_overflowing_solution_is_not_a_success():
    with pytest.warns(ConvergenceWarning, match="NaN or inf"):
        res = cg(np.diag([1e-300, 1.0]), np.array([1e300, 1.0]), rtol=1e-8)
    assert not res.success and res.status is Status.NONFINITE


def test_complex_operator_is_refused():
    """Issue 11: a complex LinearOperator (or a callable returning complex) was silently cast to real."""
    C = spla.aslinearoperator(np.diag([1.0 + 1.0j, 2.0]))
    with pytest.raises(TypeError, match=r"cg: `A` must be a real operator; got a LinearOperator of dtype complex128"):
        cg(C, np.ones(2))
    with pytest.raises(TypeError, match=r"cg: `A` must map real vectors to real vectors; got a product of dtype complex"):
        cg(lambda v: v * (1.0 + 1.0j), np.ones(2))
    with pytest.raises(TypeError, match=r"cg: `M` must map real vectors to real vectors"):
        cg(np.eye(2), np.ones(2), M=lambda v: v + 0j)
    with pytest.raises(ValueError, match=r"cg: `A` must map an \(2,\) vector to an \(2,\) vector"):
        cg(lambda v: np.ones(3), np.ones(2))


def test_list_is_a_diagonal_preconditioner():
    A = np.diag([1.0, 10.0, 100.0])
    res = cg(A, np.ones(3), M=[1.0, 0.1, 0.01], rtol=1e-12)
    assert res.success and res.nit == 1
    np.testing.assert_allclose(res.x, [1.0, 0.1, 0.01], rtol=1e-12)
    dense = cg(A, np.ones(3), M=[[1.0, 0, 0], [0, 0.1, 0], [0, 0, 0.01]], rtol=1e-12)  # a nested list: a matrix
    assert dense.nit == 1
    with pytest.raises(ValueError, match=r"`M` must have length 3 when given as a diagonal"):
        cg(A, np.ones(3), M=[1.0, 2.0])


def test_maxiter_detail_gives_cg_advice():
    with pytest.warns(ConvergenceWarning) as record:
        res = cg(poisson1d(100), np.ones(100), rtol=1e-12, maxiter=3)
    assert res.message.startswith(Status.MAXITER.value)
    assert "raise `maxiter`, loosen `rtol`/`atol` or use (or improve) a preconditioner `M`" in res.detail
    assert "after 3 iterations" in res.detail
    assert str(record[0].message).count("cg:") == 1
