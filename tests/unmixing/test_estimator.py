"""SpectralUnmixing: the scikit-learn protocol without scikit-learn, and check_estimator where its rules apply."""

import warnings

import numpy as np
import pytest

from numopt import ConvergenceWarning
from numopt.unmixing import SpectralUnmixing, fcls, match_endmembers

from . import mixtures, smooth_spectra

#: check_estimator's checks that do not apply (see SpectralUnmixing's Notes).
EXPECTED_FAILURES = {
    "check_complex_data": "complex input is a TypeError in numopt (a wrong dtype), not a ValueError",
    "check_dtype_object": "object arrays of non-numbers are refused with numopt's dtype message",
    "check_dont_overwrite_parameters": "sets n_components=1; unmixing needs at least 2 endmembers",
    "check_methods_sample_order_invariance": "sets n_components=1",
    "check_methods_subset_invariance": "sets n_components=1",
    "check_fit2d_predict1d": "sets n_components=1",
}


def test_protocol_without_sklearn():
    est = SpectralUnmixing(4, tol=1e-3)
    assert est.get_params()["n_components"] == 4 and est.get_params()["method"] == "rrlbs"
    assert est.set_params(method="l21") is est and est.method == "l21"
    with pytest.raises(ValueError, match=r"SpectralUnmixing.set_params: `alpha` must be one of delta, guidance"):
        est.set_params(alpha=1)
    with pytest.raises(AttributeError, match="must be fitted"):
        est.transform(np.ones((3, 4)))
    assert "SpectralUnmixing(delta=15.0" in repr(est)


def test_fit_transform_recovers_the_mixture():
    M = smooth_spectra(30, 3, seed=4)
    Y, A = mixtures(M, 300, seed=4)
    est = SpectralUnmixing(3, maxiter=300, tol=1e-7, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Z = est.fit_transform(Y.T)
    assert Z.shape == (300, 3) and est.components_.shape == (3, 30)
    np.testing.assert_allclose(Z, est.transform(Y.T))
    np.testing.assert_allclose(Z, fcls(Y, est.components_.T).abundances.T)
    assert match_endmembers(M, est.components_.T).sad.max() < 0.05
    np.testing.assert_allclose(est.inverse_transform(Z), (est.components_.T @ Z.T).T)
    with pytest.raises(ValueError, match=r"`X` must have 30 features \(those seen in fit\); got X has 29 features"):
        est.transform(Y.T[:, :29])
    with pytest.raises(ValueError, match=r"`X` must be nonnegative .*Negative values in data"):
        est.transform(-Y.T)


@pytest.mark.slow
def test_sklearn_check_estimator():
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(SpectralUnmixing(2, maxiter=20, tol=1e-4, rng=0), on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert failed == set(EXPECTED_FAILURES), failed ^ set(EXPECTED_FAILURES)


def test_sklearn_clone_and_pipeline():
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    est = SpectralUnmixing(3, maxiter=100, tol=1e-4, rng=0)
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    M = smooth_spectra(20, 3, seed=6)
    Y, _ = mixtures(M, 200, seed=6, snr=40)
    pipe = Pipeline([("unmix", est), ("log", FunctionTransformer(np.log1p))])
    Z = pipe.fit_transform(Y.T)
    assert Z.shape == (200, 3) and np.isfinite(Z).all()
