"""MatrixCompletion: the scikit-learn estimator protocol (without importing scikit-learn), clone and Pipeline,
docstring examples, the tour rows and cheap imports."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from numopt.completion import MatrixCompletion, NotFittedError, complete_matrix

from . import problem, rel_err


def _nan_matrix(seed=0):
    M, A, B, r, c, v = problem(80, 60, 2, 6.0, 2.0, seed=seed)
    X = np.full(M.shape, np.nan)
    X[r, c] = v
    return M, X


def test_protocol_without_sklearn():
    est = MatrixCompletion(rank=3, tol=1e-9)
    assert est.get_params() == {"center": "none", "init": "svd", "maxiter": 100, "rank": 3, "reg": 0.0,
                                "reg_scale": "none", "rng": None, "solver": "auto", "tol": 1e-9,
                                "validation_fraction": 0.0, "value_range": None}
    assert est.set_params(reg=0.5, solver="cg") is est and est.reg == 0.5 and est.solver == "cg"
    with pytest.raises(ValueError, match="set_params: `alpha` must be one of center, init, maxiter"):
        est.set_params(alpha=1)
    assert not hasattr(est, "U_")
    for method, arg in (("predict", np.array([[0, 0]])), ("transform", np.ones((2, 2)))):
        with pytest.raises(NotFittedError, match=rf"MatrixCompletion.{method}: `self` must be fitted") as info:
            getattr(est, method)(arg)
        # like scikit-learn's NotFittedError: both a ValueError and an AttributeError
        assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)
    assert not hasattr(est, "result_")
    assert "MatrixCompletion(center='none', init='svd'" in repr(est)


def test_fit_predict_transform_match_complete_matrix():
    M, X = _nan_matrix()
    est = MatrixCompletion(rank=2, tol=1e-12, rng=0)
    assert est.fit(X) is est
    res = complete_matrix(X, 2, tol=1e-12, rng=0)
    np.testing.assert_allclose(est.U_ * est.s_ @ est.V_.T, res.to_dense(), atol=1e-12)
    assert est.n_iter_ == res.nit and est.shape_ == (80, 60) and est.n_features_in_ == 60
    pairs = np.array([[0, 0], [79, 59], [10, 3]])
    np.testing.assert_allclose(est.predict(pairs), M[pairs[:, 0], pairs[:, 1]], rtol=1e-8)
    filled = est.fit_transform(X)
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(filled[observed], X[observed])   # observations kept as given
    np.testing.assert_allclose(filled, M, atol=1e-8 * np.abs(M).max())
    with pytest.raises(ValueError, match=r"transform: `X` must have the fitted shape \(80, 60\)"):
        est.transform(X[:5])
    with pytest.raises(TypeError, match="transform: `X` must be a dense array"):
        est.transform(sp.csr_array((3, 3)))
    with pytest.raises(TypeError, match="transform: `X` must have a real numeric dtype"):
        est.transform(X + 1j)   # was silently truncated to its real part
    with pytest.raises(ValueError, match=r"predict: `X` must be an integer array of \(row, col\) pairs"):
        est.predict(np.arange(3))
    # sparse input fits too
    r, c = np.nonzero(observed)
    est_sp = MatrixCompletion(rank=2, tol=1e-12, rng=0).fit(sp.coo_array((X[r, c], (r, c)), shape=X.shape))
    np.testing.assert_allclose(est_sp.predict(pairs), est.predict(pairs), atol=1e-9)


def test_sklearn_clone_and_pipeline():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    est = MatrixCompletion(rank=2, tol=1e-12, rng=0)
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    M, X = _nan_matrix(1)
    pipe = Pipeline([("complete", MatrixCompletion(rank=2, tol=1e-12, rng=0)), ("scale", StandardScaler())])
    Z = pipe.fit_transform(X)
    expected = StandardScaler().fit_transform(M)
    np.testing.assert_allclose(Z, expected, atol=1e-6)
    assert pipe.named_steps["complete"].n_iter_ > 0 and sklearn.__version__


def test_tour_rows(monkeypatch):
    """The tour's rows, and it runs one row-solver path only (the exact kernel): each other path is a kernel
    of its own that a cold cache would compile for the tour (issue 11: the tour ran exact and cg)."""
    from numopt.completion import _kernels
    from numopt.completion._tour import tour_rows

    def other_path(*args):
        raise AssertionError("the tour must not run the cg or sketched row kernels")

    for name in ("rows_cg", "rows_sketch", "rows_sketch_core", "rows_exact_weighted"):
        monkeypatch.setattr(_kernels, name, other_path)
    rows = tour_rows()
    assert 1 <= len(rows) <= 3 and all(len(r) == 3 and all(isinstance(x, str) for x in r) for r in rows)
    assert "exact rows" in rows[0][1]
    for what, computed, known in rows[:2]:
        err = float(computed.split("rel. error ")[1].split()[0])
        assert err <= 1e-8


def test_import_is_cheap_and_public_module_holds_no_jit():
    code = ("import sys, numopt; assert 'numba' not in sys.modules and 'scipy' not in sys.modules; "
            "import numopt.completion as c; assert 'sklearn' not in sys.modules; "
            "assert sorted(c.__all__) == sorted(['complete_matrix', 'complete_matrix_dask', 'CompletionResult', "
            "'MatrixCompletion', 'NotFittedError', 'UnderdeterminedWarning', 'row_costs', "
            "'low_rank_relative_error', 'SOLVERS', 'synthetic_ratings', 'Ratings'])")
    subprocess.run([sys.executable, "-c", code], check=True)
    import inspect

    import numopt.completion._altmin as alt
    import numopt.completion._dask as dsk
    import numopt.completion._estimator as est

    for module in (alt, est, dsk):
        assert "@jit" not in inspect.getsource(module)


def test_relative_error_helper_is_not_trivial():
    M, X = _nan_matrix()
    res = complete_matrix(X, 1, tol=1e-8, rng=0)   # rank too low: cannot be exact
    assert rel_err(res, M) > 1e-3
