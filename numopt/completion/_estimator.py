"""A scikit-learn style estimator around :func:`complete_matrix` (scikit-learn itself is not imported)."""

from __future__ import annotations

import numpy as np

from .._estimator import EstimatorParams, NotFittedError
from .._validation import as_float_array, fail
from ._altmin import complete_matrix

__all__ = ["MatrixCompletion", "NotFittedError"]


class MatrixCompletion(EstimatorParams):
    """Low-rank matrix completion as an estimator (scikit-learn protocol, no scikit-learn import).

    ``__init__`` only stores the parameters (those of :func:`complete_matrix`); ``fit`` validates and
    solves; learned attributes end in ``_``. Works with ``sklearn.base.clone`` and in a
    ``sklearn.pipeline.Pipeline`` (as an imputer: ``fit_transform`` fills the NaN entries).

    Parameters
    ----------
    rank : int, default 2
    solver, reg, tol, maxiter, init, rng :
        As in :func:`complete_matrix`.

    Attributes
    ----------
    U_, s_, V_ : ndarray
        The factors of the completion ``U_ @ diag(s_) @ V_.T``.
    result_ : CompletionResult
        The full result (history, status, ...).
    n_iter_ : int
        Sweeps performed.
    shape_ : tuple of int
        Shape of the fitted matrix.
    n_features_in_ : int
        Number of columns of the fitted matrix.

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

    def __init__(self, rank=2, *, solver="auto", reg=0.0, tol=1e-6, maxiter=100, init="svd", rng=None):
        self.rank = rank
        self.solver = solver
        self.reg = reg
        self.tol = tol
        self.maxiter = maxiter
        self.init = init
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
    def fit(self, X, y=None):
        """Complete ``X`` (sparse, triplet or NaN-dense, as in :func:`complete_matrix`); returns self."""
        res = complete_matrix(X, self.rank, solver=self.solver, reg=self.reg, tol=self.tol, maxiter=self.maxiter,
                              init=self.init, rng=self.rng)
        self.result_ = res
        self.U_, self.s_, self.V_ = res.U, res.s, res.V
        self.n_iter_ = res.nit
        self.shape_ = res.shape
        self.n_features_in_ = res.shape[1]
        return self

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


def _input_tags():
    from sklearn.utils import InputTags

    return InputTags(allow_nan=True, sparse=True)
