"""scikit-learn style estimators whose regularization weights are learned by :func:`maid` on a held-out split.

scikit-learn is never imported at module level: the estimators follow its protocol (``get_params``,
``set_params``, ``fit`` returning self, learned attributes ending in ``_``) and only ``__sklearn_tags__`` (called
by scikit-learn itself) imports it.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np

from .._estimator import EstimatorParams
from .._result import ConvergenceWarning, warn_user
from .._validation import check_bool, check_int, check_rng, check_scalar, fail
from ._maid import maid
from ._problems import logistic_problem, ridge_problem

__all__ = ["BilevelRidge", "BilevelLogisticRegression"]


def _check_X(X, name, func, n_features=None, owner=None):
    if type(X).__module__.startswith("scipy.sparse"):
        raise fail(func, name, "be a dense array (sparse input is not supported)", f"a sparse {type(X).__name__}",
                   error=TypeError)
    A = np.asarray(X)
    if A.dtype.kind == "c":
        raise fail(func, name, "be real", f"dtype {A.dtype} (Complex data not supported)")
    if A.dtype.kind not in "iufb":
        try:
            A = A.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{func}: `{name}` must be numeric; got dtype {A.dtype} ({exc}).") from exc
    if A.ndim != 2:
        raise fail(func, name, "be a 2-D array (n_samples, n_features)",
                   f"shape {A.shape}. Reshape your data with X.reshape(-1, 1) for a single feature or "
                   "X.reshape(1, -1) for a single sample")
    if A.shape[0] < 1:
        raise fail(func, name, "have at least one sample", f"0 sample(s) (shape={A.shape}) while a minimum of 1 is "
                   "required")
    if A.shape[1] < 1:
        raise fail(func, name, "have at least one feature", f"0 feature(s) (shape={A.shape}) while a minimum of 1 "
                   "is required")
    A = np.ascontiguousarray(A, dtype=np.float64)
    if not np.isfinite(A).all():
        raise fail(func, name, "be finite", "a NaN or infinite entry (Input contains NaN or infinity)")
    if n_features is not None and A.shape[1] != n_features:
        raise ValueError(f"{func}: X has {A.shape[1]} features, but {owner} is expecting {n_features} features as "
                         "input.")
    return A


def _check_y(y, n, func, *, numeric=True):
    if y is None:
        raise ValueError(f"{func}: this estimator requires y to be passed, but the target y is None.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        cls = getattr(sys.modules.get("sklearn.exceptions"), "DataConversionWarning", UserWarning)
        warn_user(f"A column-vector y was passed when a 1d array was expected ({func} raveled it).", cls)
        y = y.ravel()
    if y.ndim != 1 or y.shape[0] != n:
        raise fail(func, "y", f"be a 1-D array of {n} targets (one per row of X)", f"shape {y.shape}")
    if numeric:
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise fail(func, "y", "be numeric", f"dtype {y.dtype}") from exc
        if not np.isfinite(y).all():
            raise fail(func, "y", "be finite", "a NaN or infinite entry (Input contains NaN or infinity)")
    elif y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise fail(func, "y", "be finite", "a NaN or infinite entry (Input contains NaN or infinity)")
        if np.any(y != np.round(y)):
            raise fail(func, "y", "hold class labels", "non-integer floats (Unknown label type: continuous)")
    return y


class _Base(EstimatorParams):
    """The bilevel estimators' shared parts: the scikit-learn protocol and the validation split."""

    _estimator_type = None

    def _split(self, X, y, X_val, y_val, func, stratify=None):
        """(X_train, y_train, X_val, y_val): the given validation set, or a seeded ``validation_fraction`` split."""
        if (X_val is None) != (y_val is None):
            raise fail(func, "X_val", "be given together with y_val", "only one of them")
        if X_val is not None:
            return X, y, _check_X(X_val, "X_val", func, X.shape[1]), y_val
        frac = check_scalar(self.validation_fraction, "validation_fraction", func, low=0.0, high=1.0,
                            low_inclusive=False, high_inclusive=False)
        n = X.shape[0]
        if n < 2:
            raise fail(func, "X", "have at least 2 samples to hold out a validation split (n_samples = 1)",
                       f"{n} sample")
        n_val = min(max(1, int(round(frac * n))), n - 1)
        rng = check_rng(self.rng, func)
        perm = rng.permutation(n)
        val, train = perm[:n_val], perm[n_val:]
        return X[train], y[train], X[val], y[val]

    def _maid(self, problem, theta0, func):
        tol = check_scalar(self.tol, "tol", func, low=0.0, low_inclusive=False)
        maxiter = check_int(self.maxiter, "maxiter", func, low=0)
        budget = None if self.budget is None else check_int(self.budget, "budget", func, low=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = maid(problem, theta0, tol=tol, maxiter=maxiter, budget=budget)
        if not res.success and res.status.name not in ("MAXITER", "BUDGET"):
            warn_user(f"{func}: {res.message}", ConvergenceWarning)
        return res


class BilevelRidge(_Base):
    r"""Ridge regression whose weight (one, or one per feature) is learned on a held-out split by :func:`maid`.

    Minimizes the validation loss ½‖X_val w - y_val‖² over θ = log alpha, where w minimizes
    ½‖X_train w - y_train‖² + ½Σ alpha_j w_j² on centered data (scikit-learn's ``Ridge(alpha)`` convention).

    Parameters
    ----------
    per_feature : bool, default False
        One alpha per feature (a vector hyperparameter no grid search can tune) instead of one in all.
    alpha0 : float, default 1.0
        Starting alpha.
    fit_intercept : bool, default True
        Center X and y with the training means (the intercept is not penalized).
    validation_fraction : float, default 0.2
        Fraction held out when ``fit`` gets no ``X_val``/``y_val``.
    tol, maxiter, budget :
        Passed to :func:`maid` (stationarity tolerance on the validation loss's gradient in θ).
    rng : seed, default 0
        Seed of the train/validation split.

    Attributes
    ----------
    alpha_ : float or ndarray
        The learned weight(s). ``coef_``, ``intercept_``: the ridge fit on the training split at ``alpha_``
        (the model whose validation loss was minimized). ``result_``: the :class:`BilevelResult`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 5)); y = X @ np.arange(5.0) + 1.0 + rng.standard_normal(200)
    >>> est = BilevelRidge().fit(X, y)
    >>> est.alpha_ > 0, est.coef_.shape, bool(est.score(X, y) > 0.9)
    (True, (5,), True)
    """

    def __init__(self, per_feature=False, *, alpha0=1.0, fit_intercept=True, validation_fraction=0.2, tol=1e-6,
                 maxiter=1000, budget=None, rng=0):
        self.per_feature = per_feature
        self.alpha0 = alpha0
        self.fit_intercept = fit_intercept
        self.validation_fraction = validation_fraction
        self.tol = tol
        self.maxiter = maxiter
        self.budget = budget
        self.rng = rng

    def __sklearn_tags__(self):
        from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(estimator_type="regressor", target_tags=TargetTags(required=True),
                    regressor_tags=RegressorTags())

    def fit(self, X, y, X_val=None, y_val=None):
        """Learn alpha on (X_val, y_val), or on a held-out ``validation_fraction`` of (X, y); returns self."""
        func = "BilevelRidge.fit"
        X = _check_X(X, "X", func)
        y = _check_y(y, X.shape[0], func)
        if X_val is not None and y_val is not None:
            y_val = _check_y(y_val, np.asarray(X_val).shape[0], func)
        per_feature = check_bool(self.per_feature, "per_feature", func)
        fit_intercept = check_bool(self.fit_intercept, "fit_intercept", func)
        alpha0 = check_scalar(self.alpha0, "alpha0", func, low=0.0, low_inclusive=False)
        Xt, yt, Xv, yv = self._split(X, y, X_val, y_val, func)
        x_mean = Xt.mean(axis=0) if fit_intercept else np.zeros(X.shape[1])
        y_mean = float(yt.mean()) if fit_intercept else 0.0
        problem = ridge_problem(Xt - x_mean, yt - y_mean, Xv - x_mean, yv - y_mean, per_feature=per_feature)
        theta0 = np.full(X.shape[1] if per_feature else 1, math.log(alpha0))
        res = self._maid(problem, theta0, func)
        self.result_ = res
        alpha = np.exp(res.theta)
        self.alpha_ = alpha if per_feature else float(alpha[0])
        self.coef_ = problem.exact_solution(res.theta)
        self.intercept_ = y_mean - float(x_mean @ self.coef_)
        self.n_features_in_ = X.shape[1]
        self.n_iter_ = res.nit
        return self

    def predict(self, X):
        """Predicted targets ``X @ coef_ + intercept_``."""
        func = "BilevelRidge.predict"
        self._check_fitted(func)
        return _check_X(X, "X", func, self.n_features_in_, "BilevelRidge") @ self.coef_ + self.intercept_

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R² of the prediction."""
        func = "BilevelRidge.score"
        pred = self.predict(X)
        y = _check_y(y, pred.shape[0], func)
        w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        ss_res = float(np.sum(w * (y - pred) ** 2))
        ss_tot = float(np.sum(w * (y - np.average(y, weights=w)) ** 2))
        return 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)


class BilevelLogisticRegression(_Base):
    r"""Multinomial logistic regression whose L2 weights (one per coefficient, or one) are learned by :func:`maid`.

    Minimizes the mean validation cross-entropy over θ = log(1/C), where W minimizes the summed training
    cross-entropy + ½Σ W²/C (scikit-learn's ``LogisticRegression(C)`` convention); the intercept is a
    coefficient with its own weight.

    Parameters
    ----------
    per_weight : bool, default True
        One C per coefficient (n_classes x (n_features + 1) hyperparameters) instead of one in all.
    C0 : float, default 1.0
        Starting C.
    fit_intercept : bool, default True
    validation_fraction : float, default 0.2
    tol, maxiter, budget :
        Passed to :func:`maid`; ``budget`` (lower-level + CG iterations) defaults to 30000 here.
    rng : seed, default 0
        Seed of the train/validation split.

    Attributes
    ----------
    C_ : float or ndarray of shape (n_classes, n_features [+ 1])
        The learned inverse weights (the last column is the intercept's when ``fit_intercept``).
    coef_ : ndarray of shape (n_classes, n_features)
    intercept_ : ndarray of shape (n_classes,)
    classes_ : ndarray
    result_ : BilevelResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((150, 2)); y = (X[:, 0] + 0.3 * rng.standard_normal(150) > 0).astype(int)
    >>> est = BilevelLogisticRegression(budget=3000).fit(X, y)
    >>> est.predict_proba(X[:2]).shape, bool(est.score(X, y) > 0.85)
    ((2, 2), True)
    """

    def __init__(self, per_weight=True, *, C0=1.0, fit_intercept=True, validation_fraction=0.2, tol=1e-6,
                 maxiter=1000, budget=30_000, rng=0):
        self.per_weight = per_weight
        self.C0 = C0
        self.fit_intercept = fit_intercept
        self.validation_fraction = validation_fraction
        self.tol = tol
        self.maxiter = maxiter
        self.budget = budget
        self.rng = rng

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags())

    def fit(self, X, y, X_val=None, y_val=None):
        """Learn the weights on (X_val, y_val), or on a held-out ``validation_fraction`` of (X, y); returns self."""
        func = "BilevelLogisticRegression.fit"
        X = _check_X(X, "X", func)
        y = _check_y(y, X.shape[0], func, numeric=False)
        per_weight = check_bool(self.per_weight, "per_weight", func)
        fit_intercept = check_bool(self.fit_intercept, "fit_intercept", func)
        C0 = check_scalar(self.C0, "C0", func, low=0.0, low_inclusive=False)
        classes = np.unique(y if y_val is None else np.concatenate([y, np.asarray(y_val).ravel()]))
        if classes.size < 2:
            raise fail(func, "y", "hold at least 2 classes", f"1 class ({classes[0]!r})")
        labels = np.searchsorted(classes, y)
        labels_val = None if y_val is None else np.searchsorted(classes, np.asarray(y_val).ravel())
        Xt, lt, Xv, lv = self._split(X, labels, X_val, labels_val, func)
        problem = logistic_problem(Xt, lt, Xv, lv, per_weight=per_weight, fit_intercept=fit_intercept)
        # pad to all classes (a class may be absent from one split)
        problem = _with_classes(problem, classes.size)
        theta0 = np.full(problem.theta_shape(), -math.log(C0))
        res = self._maid(problem, theta0, func)
        self.result_ = res
        W = res.x_lower
        self.classes_ = classes
        C = np.exp(-res.theta)
        self.C_ = C.T if per_weight else float(C[0])
        if fit_intercept:
            self.coef_, self.intercept_ = W[:-1].T.copy(), W[-1].copy()
        else:
            self.coef_, self.intercept_ = W.T.copy(), np.zeros(classes.size)
        self.n_features_in_ = X.shape[1]
        self.n_iter_ = res.nit
        return self

    def _scores(self, X, func):
        self._check_fitted(func)
        return _check_X(X, "X", func, self.n_features_in_, "BilevelLogisticRegression") @ self.coef_.T + self.intercept_

    def decision_function(self, X):
        """Class scores ``X @ coef_.T + intercept_`` (n_samples, n_classes); for two classes, the score of
        ``classes_[1]`` minus that of ``classes_[0]`` (n_samples,), as in scikit-learn."""
        Z = self._scores(X, "BilevelLogisticRegression.decision_function")
        return Z[:, 1] - Z[:, 0] if Z.shape[1] == 2 else Z

    def predict_proba(self, X):
        """Class probabilities (softmax of the scores), columns in the order of ``classes_``."""
        Z = self._scores(X, "BilevelLogisticRegression.predict_proba")
        Z = Z - Z.max(axis=1, keepdims=True)
        E = np.exp(Z)
        return E / E.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        Z = self._scores(X, "BilevelLogisticRegression.predict_log_proba")
        Zmax = Z.max(axis=1, keepdims=True)
        return Z - Zmax - np.log(np.exp(Z - Zmax).sum(axis=1, keepdims=True))

    def predict(self, X):
        """The most probable class of each row."""
        Z = self._scores(X, "BilevelLogisticRegression.predict")
        return self.classes_[np.argmax(Z, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy."""
        pred = self.predict(X)
        y = np.asarray(y).ravel()
        w = np.ones(pred.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        return float(np.average(pred == y, weights=w))


def _with_classes(problem, K):
    """The same problem with exactly K classes (labels absent from the training split get a zero column)."""
    if problem.K == K:
        return problem
    from ._problems import LogisticProblem

    return LogisticProblem(problem.X, problem.labels, problem.X_val, problem.labels_val, K, problem.per_weight)
