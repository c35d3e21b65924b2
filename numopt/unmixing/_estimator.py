"""A scikit-learn style estimator around :func:`unmix` (scikit-learn itself is not imported)."""

from __future__ import annotations

import numpy as np

from .._estimator import EstimatorParams
from .._validation import as_float_array, fail
from ._extract import _fcls_core
from ._rrlbs import unmix

__all__ = ["SpectralUnmixing"]


class SpectralUnmixing(EstimatorParams):
    """Blind hyperspectral unmixing as a transformer (scikit-learn protocol, no scikit-learn import).

    scikit-learn's layout: ``X`` is ``(n_samples, n_features)`` = pixels x channels, i.e. ``Y.T`` of
    :func:`unmix`. ``fit`` runs :func:`unmix`; ``transform`` returns FCLS abundances ``(n_samples, K)`` of
    new pixels on the learned endmembers (so ``fit_transform(X) == fit(X).transform(X)``).

    Parameters
    ----------
    n_components : int, default 3
        Number of endmembers ``K``.
    method, lam, p, guidance, support, delta, init, tol, maxiter, rng :
        As in :func:`unmix`.

    Attributes
    ----------
    components_ : ndarray, shape (n_components, n_features)
        The endmember spectra (rows; ``unmix``'s ``endmembers.T``).
    abundances_ : ndarray, shape (n_samples, n_components)
        Abundances of the fitted pixels.
    guidance_, channel_weights_ : ndarray
        As in :class:`UnmixingResult`.
    result_ : UnmixingResult
        The full result.
    n_iter_ : int
    n_features_in_ : int

    Notes
    -----
    ``check_estimator`` exceptions (documented, tested): complex input raises ``TypeError`` (numopt's rule
    for a wrong dtype) where scikit-learn expects ``ValueError``; ``n_components=1`` (which some checks set)
    is refused, because :func:`unmix` needs at least 2 endmembers. Negative input is refused
    (``ValueError``), declared by the ``positive_only`` input tag.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.unmixing import SpectralUnmixing
    >>> rng = np.random.default_rng(0)
    >>> M = rng.uniform(0.1, 1.0, size=(30, 3))
    >>> A = rng.dirichlet(np.ones(3), size=300).T
    >>> A[:, :3] = np.eye(3)
    >>> est = SpectralUnmixing(3, tol=1e-4, rng=0).fit((M @ A).T)
    >>> est.components_.shape, est.transform((M @ A).T).shape
    ((3, 30), (300, 3))
    """

    def __init__(self, n_components=3, *, method="rrlbs", lam="auto", p=0.5, guidance="learned", support=0.2,
                 delta=15.0, init="robust", tol=1e-5, maxiter=1000, rng=None):
        self.n_components = n_components
        self.method = method
        self.lam = lam
        self.p = p
        self.guidance = guidance
        self.support = support
        self.delta = delta
        self.init = init
        self.tol = tol
        self.maxiter = maxiter
        self.rng = rng

    # -- scikit-learn protocol (get_params, set_params, repr: EstimatorParams) ----------------------
    _fitted_attribute = "components_"

    def __sklearn_tags__(self):
        try:
            from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags
        except ImportError:  # pragma: no cover - only scikit-learn calls this
            return None
        return Tags(estimator_type=None, target_tags=TargetTags(required=False), transformer_tags=TransformerTags(),
                    input_tags=InputTags(positive_only=True))

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Unmix the pixels ``X`` (n_samples x n_features); returns self."""
        X = self._check_X(X, "SpectralUnmixing.fit")
        res = unmix(X.T, self.n_components, method=self.method, lam=self.lam, p=self.p, guidance=self.guidance,
                    support=self.support, delta=self.delta, init=self.init, tol=self.tol, maxiter=self.maxiter,
                    rng=self.rng)
        self.result_ = res
        self.components_ = np.ascontiguousarray(res.endmembers.T)
        self.abundances_ = np.ascontiguousarray(res.abundances.T)
        self.guidance_ = res.guidance
        self.channel_weights_ = res.channel_weights
        self.n_iter_ = res.nit
        self.n_features_in_ = X.shape[1]
        return self

    @staticmethod
    def _check_X(X, func, n_features=None):
        """X as float64 (object arrays of numbers are converted), finite, nonnegative, of the fitted width.
        The "actual" parts of the messages use scikit-learn's wording, which its common checks look for."""
        arr = np.asarray(X) if not hasattr(X, "dtype") else X
        if getattr(arr, "dtype", None) == object:
            try:
                arr = np.asarray(arr, dtype=np.float64)
            except (TypeError, ValueError):
                pass
        X = as_float_array(arr, "X", func, ndim=2, finite=False)
        if not np.isfinite(X).all():
            i, j = np.argwhere(~np.isfinite(X))[0]
            raise fail(func, "X", "be finite (no NaN or inf)", f"X[{i}, {j}] = {X[i, j]}")
        if n_features is None:
            for axis, what in ((0, "sample(s)"), (1, "feature(s)")):
                if X.shape[axis] < 2:
                    raise fail(func, "X", "have at least 2 samples and 2 features",
                               f"{X.shape[axis]} {what} (shape={X.shape}) while a minimum of 2 is required")
        elif X.shape[1] != n_features:
            raise fail(func, "X", f"have {n_features} features (those seen in fit)",
                       f"X has {X.shape[1]} features, but SpectralUnmixing is expecting {n_features} features as input")
        if (X < 0).any():
            i, j = np.argwhere(X < 0)[0]
            raise fail(func, "X", "be nonnegative (negative reflectance is refused, not clipped)",
                       f"Negative values in data: X[{i}, {j}] = {X[i, j]:.6g}")
        return X

    def transform(self, X):
        """FCLS abundances ``(n_samples, n_components)`` of the pixels ``X`` on the fitted endmembers."""
        func = "SpectralUnmixing.transform"
        self._check_fitted(func)
        X = self._check_X(X, func, self.n_features_in_)
        A = _fcls_core(np.ascontiguousarray(X.T), np.ascontiguousarray(self.components_.T))[0]
        return np.ascontiguousarray(A.T)

    def fit_transform(self, X, y=None):
        """``fit(X).transform(X)``: FCLS abundances on the fitted endmembers (``abundances_`` holds those of the
        multiplicative updates, which satisfy the sum-to-one constraint only softly)."""
        return self.fit(X).transform(X)

    def inverse_transform(self, A):
        """Spectra ``A @ components_`` from abundances ``(n_samples, n_components)``."""
        func = "SpectralUnmixing.inverse_transform"
        self._check_fitted(func)
        A = as_float_array(A, "A", func, ndim=2)
        return A @ self.components_
