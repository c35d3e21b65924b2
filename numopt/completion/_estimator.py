"""A scikit-learn style estimator around :func:`complete_matrix` (scikit-learn itself is not imported)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._estimator import EstimatorParams, NotFittedError
from .._validation import as_float_array, check_rng, check_scalar, fail
from ._altmin import complete_matrix
from ._data import as_observations

__all__ = ["MatrixCompletion", "NotFittedError"]


class MatrixCompletion(EstimatorParams):
    """Low-rank matrix completion as an estimator (scikit-learn protocol, no scikit-learn import).

    ``__init__`` only stores the parameters (those of :func:`complete_matrix`); ``fit`` validates and
    solves; learned attributes end in ``_``. Works with ``sklearn.base.clone`` and in a
    ``sklearn.pipeline.Pipeline`` (as an imputer: ``fit_transform`` fills the NaN entries).

    Parameters
    ----------
    rank : int or sequence of int, default 2
    solver, reg, reg_scale, center, value_range, tol, maxiter, init, rng :
        As in :func:`complete_matrix`; ``reg`` may also be a sequence, whose entries may include ``"auto"``
        (learned regularization; that candidate is fitted with ``reg_scale="none"``, the other values with
        ``reg_scale``). For ratings, ``MatrixCompletion(rank=8, reg="auto", center="biases",
        value_range=(1, 5), tol=1e-2)`` needs no validation grid: the priors and the noise are learned and the
        dimensions the data do not support are switched off.
    validation_fraction : float in [0, 1), default 0.0
        Model selection on held-out entries: when positive, ``fit`` holds out this fraction of the
        observations (drawn from ``rng``), fits every combination of the candidate ``rank`` and ``reg``
        values on the rest, keeps the pair with the lowest RMSE on the held-out entries
        (``validation_scores_``, ``best_params_``) and refits it on all observations. With 0 (default),
        ``rank`` and ``reg`` must be single values. Or pass held-out entries yourself as ``X_val`` to
        ``fit`` (same forms as ``X``). Cross-validation with scikit-learn's ``GridSearchCV`` does not
        apply (the estimator is transductive: its "samples" are the entries of one matrix); use this.

    Attributes
    ----------
    U_, s_, V_ : ndarray
        The factors of the low-rank part ``U_ @ diag(s_) @ V_.T``.
    result_ : CompletionResult
        The full result (history, status, mean and biases, ...).
    n_iter_ : int
        Sweeps performed.
    shape_ : tuple of int
        Shape of the fitted matrix.
    n_features_in_ : int
        Number of columns of the fitted matrix.
    best_params_ : dict
        ``{"rank": ..., "reg": ...}`` used for the final fit.
    validation_scores_ : dict
        ``{(rank, reg): validation RMSE}`` (empty without validation).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> M = rng.standard_normal((40, 1)) @ rng.standard_normal((1, 30))
    >>> X = np.where(rng.random(M.shape) < 0.5, M, np.nan)
    >>> est = MatrixCompletion(rank=1, tol=1e-12, rng=0).fit(X)
    >>> bool(np.allclose(est.transform(X), M, atol=1e-8))
    True
    >>> est.predict(np.array([[0, 0], [39, 29]])).shape
    (2,)
    """

    def __init__(self, rank=2, *, solver="auto", reg=0.0, reg_scale="none", center="none", value_range=None,
                 tol=1e-6, maxiter=100, init="svd", validation_fraction=0.0, rng=None):
        self.rank = rank
        self.solver = solver
        self.reg = reg
        self.reg_scale = reg_scale
        self.center = center
        self.value_range = value_range
        self.tol = tol
        self.maxiter = maxiter
        self.init = init
        self.validation_fraction = validation_fraction
        self.rng = rng

    # -- scikit-learn protocol (get_params, set_params, repr: EstimatorParams) ----------------------
    def __sklearn_tags__(self):
        try:
            from sklearn.utils import Tags, TargetTags, TransformerTags
        except ImportError:  # pragma: no cover - only scikit-learn calls this
            return None
        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(), input_tags=_input_tags())

    # -- fitting ----------------------------------------------------------------------------------
    def _complete(self, X, rank, reg, rng):
        reg_scale = "none" if isinstance(reg, str) and reg == "auto" else self.reg_scale
        return complete_matrix(X, rank, solver=self.solver, reg=reg, reg_scale=reg_scale, center=self.center,
                               value_range=self.value_range, tol=self.tol, maxiter=self.maxiter, init=self.init,
                               rng=rng)

    def fit(self, X, y=None, X_val=None):
        """Complete ``X`` (sparse, triplet, NaN-dense or masked, as in :func:`complete_matrix`); returns self.

        With candidate lists for ``rank``/``reg`` and ``validation_fraction > 0`` or held-out entries
        ``X_val``, the pair with the lowest validation RMSE is chosen first (see the class docstring)."""
        func = "MatrixCompletion.fit"
        ranks = _candidates(self.rank, "rank", func)
        regs = _candidates(self.reg, "reg", func)
        frac = check_scalar(self.validation_fraction, "validation_fraction", func, low=0.0, high=1.0,
                            high_inclusive=False)
        gen = check_rng(self.rng, func)
        obs = as_observations(X, func, "X")
        scores = {}
        if (len(ranks) > 1 or len(regs) > 1) and frac == 0.0 and X_val is None:
            raise fail(func, "validation_fraction", "be > 0 (or X_val given) to choose among several rank or reg "
                       "values", f"{frac:g} with rank={self.rank!r}, reg={self.reg!r}")
        if frac > 0.0 or X_val is not None:
            if X_val is not None:
                train, val = obs, as_observations(X_val, func, "X_val")
            else:
                held = gen.random(obs.nnz) < frac
                train, val = obs.subset(~held), obs.subset(held)
            vr, vc, vv = val.coo()
            for k in ranks:
                for reg in regs:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")   # the candidates' own warnings are not the fit's
                        res = self._complete(train, k, reg, gen)
                    pred = res.predict(vr, vc)
                    scores[(k, reg)] = float(np.sqrt(np.mean((pred - vv) ** 2))) if vv.shape[0] else math.inf
            k, reg = min(scores, key=scores.get)
        else:
            k, reg = ranks[0], regs[0]
        res = self._complete(obs, k, reg, gen)
        self.best_params_ = {"rank": k, "reg": reg}
        self.validation_scores_ = scores
        self.result_ = res
        self.U_, self.s_, self.V_ = res.U, res.s, res.V
        self.n_iter_ = res.nit
        self.shape_ = res.shape
        self.n_features_in_ = res.shape[1]
        return self

    def score(self, X, y=None):
        """Negative RMSE of the completion on the given entries of ``X`` (any form ``fit`` accepts, of the
        fitted shape): higher is better, as scikit-learn's scorers expect."""
        func = "MatrixCompletion.score"
        self._check_fitted(func)
        obs = as_observations(X, func, "X")
        if tuple(obs.shape) != tuple(self.shape_):
            raise fail(func, "X", f"have the fitted shape {tuple(self.shape_)}", f"shape {obs.shape}")
        if obs.nnz == 0:
            raise fail(func, "X", "hold at least one observed entry", "none")
        r, c, v = obs.coo()
        return -float(np.sqrt(np.mean((self.result_.predict(r, c) - v) ** 2)))

    def predict(self, X):
        """Entries of the completion at the (row, col) pairs of ``X`` (an integer array of shape (n, 2))."""
        func = "MatrixCompletion.predict"
        self._check_fitted(func)
        P = np.asarray(X)
        if P.ndim != 2 or P.shape[1] != 2:
            raise fail(func, "X", "be an integer array of (row, col) pairs, shape (n, 2)", f"shape {P.shape}")
        return self.result_.predict(P[:, 0], P[:, 1])

    def transform(self, X):
        """``X`` (dense, of the fitted shape) with its NaN entries replaced by the completion."""
        func = "MatrixCompletion.transform"
        self._check_fitted(func)
        if type(X).__module__.startswith("scipy.sparse"):
            raise fail(func, "X", "be a dense array with NaN for missing entries (sparse input has no missing "
                       "marker; use predict)", f"a sparse {type(X).__name__}", error=TypeError)
        A = as_float_array(X, "X", func, ndim=2, finite=False, copy=True)   # refuses complex; NaN = missing
        if A.shape != tuple(self.shape_):
            raise fail(func, "X", f"have the fitted shape {tuple(self.shape_)}", f"shape {A.shape}")
        rows, cols = np.nonzero(np.isnan(A))
        A[rows, cols] = self.result_.predict(rows, cols)
        return A

    def fit_transform(self, X, y=None):
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)


def _candidates(value, name, func):
    """A single value or a non-empty sequence of them, as a list (checked by complete_matrix)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        # element by element: np.asarray would turn [0.05, "auto"] into strings
        values = value.ravel().tolist() if isinstance(value, np.ndarray) else list(value)
        if not values:
            raise fail(func, name, "be a value or a non-empty sequence of values", repr(value))
        return values
    return [value]


def _input_tags():
    from sklearn.utils import InputTags

    return InputTags(allow_nan=True, sparse=True)
