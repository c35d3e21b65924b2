"""The scikit-learn style estimators."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import brentq

from numopt.bilevel import BilevelLogisticRegression, BilevelRidge, ridge_problem


def test_import_does_not_import_sklearn():
    code = "import sys, numpy; import numopt.bilevel as b; b.BilevelRidge(); assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.filterwarnings("ignore:Estimator .* does not inherit from `sklearn.base.BaseEstimator`")
@pytest.mark.filterwarnings("ignore:Skipping check")
@pytest.mark.parametrize("est", [
    BilevelRidge(),
    pytest.param(BilevelRidge(per_feature=True, budget=2000), marks=pytest.mark.slow),
    pytest.param(BilevelLogisticRegression(budget=3000), marks=pytest.mark.slow),
], ids=["ridge", "ridge-pf", "logistic"])
def test_check_estimator(est):
    from sklearn.utils.estimator_checks import check_estimator

    failed = [r for r in check_estimator(est, on_fail=None) if r["status"] == "failed"]
    assert not failed, [(r["check_name"], str(r["exception"])[:200]) for r in failed]


def test_ridge_alpha_matches_brentq_on_the_given_split():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 12)) + 3.0
    y = X @ rng.standard_normal(12) + 5.0 + 2.0 * rng.standard_normal(150)
    Xt, yt, Xv, yv = X[:100], y[:100], X[100:], y[100:]
    est = BilevelRidge(tol=1e-9).fit(Xt, yt, X_val=Xv, y_val=yv)
    m, c = Xt.mean(0), yt.mean()
    p = ridge_problem(Xt - m, yt - c, Xv - m, yv - c)
    t = brentq(lambda s: p.exact_gradient(np.array([s]))[0], -10, 10, xtol=1e-14)
    np.testing.assert_allclose(np.log(est.alpha_), t, atol=1e-6)
    np.testing.assert_allclose(est.predict(Xv), (Xv - m) @ p.exact_solution(np.array([t])) + c, rtol=1e-6)
    assert est.result_.success


def test_ridge_per_feature_validation_loss_not_above_scalar():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 10))
    y = X @ (rng.standard_normal(10) * (rng.random(10) < 0.4)) + rng.standard_normal(200)
    kw = dict(X_val=X[150:], y_val=y[150:])
    scalar = BilevelRidge(tol=1e-8).fit(X[:150], y[:150], **kw)
    per = BilevelRidge(per_feature=True, budget=20_000).fit(X[:150], y[:150], **kw)
    loss = lambda e: float(np.sum((e.predict(X[150:]) - y[150:]) ** 2))  # noqa: E731
    assert per.alpha_.shape == (10,)
    assert loss(per) <= loss(scalar) * (1 + 1e-9)


def test_logistic_estimator_shapes_and_probabilities():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((240, 3))
    y = np.array(["a", "b", "c"])[np.argmax(X @ rng.standard_normal((3, 3)) + 0.3 * rng.standard_normal((240, 3)), 1)]
    est = BilevelLogisticRegression(budget=5000).fit(X, y)
    P = est.predict_proba(X)
    assert P.shape == (240, 3) and est.coef_.shape == (3, 3) and est.intercept_.shape == (3,)
    assert est.C_.shape == (3, 4)
    np.testing.assert_allclose(P.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(P), est.predict_log_proba(X), atol=1e-12)
    assert set(est.predict(X)) <= {"a", "b", "c"} and est.score(X, y) > 0.8
    scalar = BilevelLogisticRegression(per_weight=False, budget=5000).fit(X, y)
    assert isinstance(scalar.C_, float)


def test_estimator_bad_input():
    with pytest.raises(ValueError, match="`validation_fraction` must be < 1"):
        BilevelRidge(validation_fraction=1.0).fit(np.ones((5, 2)), np.ones(5))
    with pytest.raises(ValueError, match="must be given together with y_val"):
        BilevelRidge().fit(np.ones((5, 2)), np.ones(5), X_val=np.ones((2, 2)))
    with pytest.raises(ValueError, match="X has 3 features, but BilevelRidge is expecting 2"):
        BilevelRidge().fit(np.random.default_rng(0).standard_normal((20, 2)), np.arange(20.0)).predict(np.ones((1, 3)))
