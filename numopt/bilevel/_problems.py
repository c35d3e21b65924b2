r"""Ready-made bilevel problems with exact constants μ, L, L_g, ‖J‖, L_H, L_J (so ω is certified).

Each is a :class:`BilevelProblem` built from data by a function; θ is the log of the regularization weights
(positivity for free) except in :func:`quadratic_problem`, where θ enters linearly as in the paper's §4.1.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import as_float_array, check_bool, fail
from ._problem import BilevelProblem

__all__ = ["quadratic_problem", "ridge_problem", "tikhonov_fourier_problem", "logistic_problem", "tv_denoising_problem",
           "QuadraticProblem", "RidgeProblem", "TikhonovFourierProblem", "LogisticProblem", "TVDenoisingProblem"]

#: Largest number of features for which ridge_problem computes the exact extreme eigenvalues of XᵀX.
_EIG_LIMIT = 3000


def _lmax(A) -> float:
    """Largest squared singular value of A (exact: LAPACK)."""
    if A.size == 0:
        return 0.0
    return float(np.linalg.norm(A, 2) ** 2)


# --------------------------------------------------------------------------------------------------------------
# Quadratic (§4.1)
# --------------------------------------------------------------------------------------------------------------


class QuadraticProblem(BilevelProblem):
    r"""h = ½‖A₂x + A₃θ - b₂‖², g = ½‖A₁x - b₁‖² (built by :func:`quadratic_problem`)."""

    upper_convex = True
    lower_hess_lipschitz = 0.0
    lower_cross_lipschitz = 0.0

    def __init__(self, A1, b1, A2, A3, b2):
        self.A1, self.b1, self.A2, self.A3, self.b2 = A1, b1, A2, A3, b2
        self.H = A2.T @ A2
        eig = np.linalg.eigvalsh(self.H)
        self._mu, self._L = float(eig[0]), float(eig[-1])
        self.C = A2.T @ A3                      # J = ∂θ ∇ₓh, constant
        self._J_norm = float(np.linalg.norm(self.C, 2)) if self.C.size else 0.0
        self.upper_L = _lmax(A1)
        self.c = A2.T @ b2

    def lower_fun(self, x, theta):
        r = self.A2 @ x + self.A3 @ theta - self.b2
        return 0.5 * float(r @ r)

    def lower_grad(self, x, theta):
        return self.H @ x + self.C @ theta - self.c

    def lower_hessp(self, x, theta, v):
        return self.H @ v

    def lower_cross(self, x, theta, v):
        return self.C.T @ v

    def lower_cross_norm(self, x, theta):
        return self._J_norm

    def upper_fun(self, x):
        r = self.A1 @ x - self.b1
        return 0.5 * float(r @ r)

    def upper_grad(self, x):
        return self.A1.T @ (self.A1 @ x - self.b1)

    def lower_mu(self, theta):
        return self._mu

    def lower_L(self, theta):
        return self._L

    def lower_x0(self, theta):
        return np.zeros(self.A2.shape[1])

    def theta_star(self):
        r"""The exact minimizer: least squares on :math:`M = -A_1 P A_3`, :math:`e = b_1 - A_1 P b_2`,
        :math:`P = (A_2^\top A_2)^{-1} A_2^\top`."""
        P = np.linalg.solve(self.H, self.A2.T)
        M = -self.A1 @ P @ self.A3
        e = self.b1 - self.A1 @ (P @ self.b2)
        return np.linalg.lstsq(M, e, rcond=None)[0]

    def exact_gradient(self, theta):
        """∇f(θ) by the implicit function theorem with direct solves (for tests)."""
        x = np.linalg.solve(self.H, self.c - self.C @ theta)
        return -self.C.T @ np.linalg.solve(self.H, self.upper_grad(x))


def quadratic_problem(A1, b1, A2, A3, b2) -> QuadraticProblem:
    r"""The paper's §4.1 test problem, with a closed-form optimum.

    .. math:: \min_\theta \tfrac12\|A_1\hat x(\theta) - b_1\|^2,\qquad
              \hat x(\theta) = \arg\min_x \tfrac12\|A_2 x + A_3\theta - b_2\|^2 .

    A₂ must have full column rank (μ = σ_min(A₂)² > 0). μ, L = σ_max(A₂)², L_g = σ_max(A₁)² and
    ‖J‖ = ‖A₂ᵀA₃‖ are exact; L_H = L_J = 0. ``theta_star()`` returns the exact minimizer.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A1, A2, A3 = rng.standard_normal((30, 8)), rng.standard_normal((40, 8)), rng.standard_normal((40, 3))
    >>> p = quadratic_problem(A1, rng.standard_normal(30), A2, A3, rng.standard_normal(40))
    >>> p.theta_star().shape
    (3,)
    """
    func = "quadratic_problem"
    A1 = as_float_array(A1, "A1", func, ndim=2)
    A2 = as_float_array(A2, "A2", func, ndim=2)
    A3 = as_float_array(A3, "A3", func, ndim=2)
    b1 = as_float_array(b1, "b1", func, ndim=1)
    b2 = as_float_array(b2, "b2", func, ndim=1)
    m2, n = A2.shape
    if A1.shape[1] != n:
        raise fail(func, "A1", f"have {n} columns (those of A2)", f"shape {A1.shape}")
    if b1.shape[0] != A1.shape[0]:
        raise fail(func, "b1", f"have length {A1.shape[0]} (the rows of A1)", f"length {b1.shape[0]}")
    if A3.shape[0] != m2 or b2.shape[0] != m2:
        raise fail(func, "A3", f"have {m2} rows, as A2 and b2", f"A3 of shape {A3.shape}, b2 of length {b2.shape[0]}")
    p = QuadraticProblem(A1, b1, A2, A3, b2)
    if not p._mu > 1e-12 * p._L:
        raise fail(func, "A2", "have full column rank (the lower level must be strongly convex)",
                   f"smallest eigenvalue of A2'A2 = {p._mu:.3g}")
    return p


# --------------------------------------------------------------------------------------------------------------
# Ridge regression
# --------------------------------------------------------------------------------------------------------------


class RidgeProblem(BilevelProblem):
    r"""h = ½‖X w - y‖² + ½Σⱼ e^{θⱼ} wⱼ², g = ½‖X_val w - y_val‖² (built by :func:`ridge_problem`)."""

    upper_convex = True
    lower_hess_lipschitz = 0.0

    def __init__(self, X, y, X_val, y_val, per_feature):
        self.X, self.y, self.X_val, self.y_val = X, y, X_val, y_val
        self.per_feature = per_feature
        n, p = X.shape
        self.p = p
        self.gram = X.T @ X if p <= n else None   # Hv by the p x p Gram when it is the cheaper product
        self.Xty = X.T @ y
        if p <= _EIG_LIMIT:
            G = self.gram if self.gram is not None else X.T @ X
            eig = np.linalg.eigvalsh(G)
            self._smin = max(float(eig[0]), 0.0) if n >= p else 0.0
            self._smax = float(eig[-1])
        else:  # certified bounds without an eigendecomposition
            self._smin = 0.0
            self._smax = float(np.sum(X * X))
        self.upper_L = _lmax(X_val)

    def _lam(self, theta):
        return np.exp(theta)

    def lower_fun(self, w, theta):
        r = self.X @ w - self.y
        return 0.5 * float(r @ r) + 0.5 * float(np.sum(self._lam(theta) * w * w))

    def _gram(self, v):
        return self.gram @ v if self.gram is not None else self.X.T @ (self.X @ v)

    def lower_grad(self, w, theta):
        return self._gram(w) - self.Xty + self._lam(theta) * w

    def lower_hessp(self, w, theta, v):
        return self._gram(v) + self._lam(theta) * v

    def lower_cross(self, w, theta, v):
        lam = self._lam(theta)
        if self.per_feature:
            return lam * w * v
        return np.array([lam[0] * float(w @ v)])

    def lower_cross_norm(self, w, theta):
        lam = self._lam(theta)
        if self.per_feature:
            return float(np.max(np.abs(lam * w)))
        return float(lam[0] * np.linalg.norm(w))

    def lower_cross_lipschitz(self, theta):   # J(w) = diag(λ ⊙ w) or λw: linear in w
        return float(np.max(self._lam(theta)))

    def upper_fun(self, w):
        r = self.X_val @ w - self.y_val
        return 0.5 * float(r @ r)

    def upper_grad(self, w):
        return self.X_val.T @ (self.X_val @ w - self.y_val)

    def lower_mu(self, theta):
        return self._smin + float(np.min(self._lam(theta)))

    def lower_L(self, theta):
        return self._smax + float(np.max(self._lam(theta)))

    def lower_x0(self, theta):
        return np.zeros(self.p)

    def exact_solution(self, theta):
        """ŵ(θ) by a direct solve (for tests and the estimators)."""
        lam = np.broadcast_to(self._lam(theta), (self.p,))
        G = self.gram if self.gram is not None else self.X.T @ self.X
        return np.linalg.solve(G + np.diag(lam), self.Xty)

    def exact_gradient(self, theta):
        """∇f(θ) by the implicit function theorem with direct solves (for tests)."""
        lam = np.broadcast_to(self._lam(theta), (self.p,))
        G = self.gram if self.gram is not None else self.X.T @ self.X
        w = np.linalg.solve(G + np.diag(lam), self.Xty)
        q = np.linalg.solve(G + np.diag(lam), self.upper_grad(w))
        grad = -lam * w * q
        return grad if self.per_feature else np.array([grad.sum()])


def ridge_problem(X_train, y_train, X_val, y_val, *, per_feature=False) -> RidgeProblem:
    r"""Ridge regularization learned on a validation split.

    .. math:: \min_\theta \tfrac12\|X_{val}\hat w - y_{val}\|^2,\qquad
              \hat w = \arg\min_w \tfrac12\|X w - y\|^2 + \tfrac12\sum_j e^{\theta_j} w_j^2

    (sums, not means: :math:`e^\theta` is scikit-learn's ``Ridge(alpha=...)``; no intercept -- center the
    data first). θ has one entry, or one per feature with ``per_feature=True``. Exact constants:
    μ = λ_min(XᵀX) + min e^θ, L = λ_max(XᵀX) + max e^θ (eigenvalues computed once, up to 3000 features;
    above that the certified bounds 0 and ‖X‖_F²), L_g = ‖X_val‖₂², ‖J‖ = max|e^θ ⊙ w| (λ‖w‖ when scalar),
    L_H = 0, L_J = max e^θ.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 5)); y = X @ np.ones(5)
    >>> p = ridge_problem(X[:40], y[:40], X[40:], y[40:], per_feature=True)
    >>> p.exact_gradient(np.zeros(5)).shape
    (5,)
    """
    func = "ridge_problem"
    X = as_float_array(X_train, "X_train", func, ndim=2)
    y = as_float_array(y_train, "y_train", func, ndim=1)
    Xv = as_float_array(X_val, "X_val", func, ndim=2)
    yv = as_float_array(y_val, "y_val", func, ndim=1)
    per_feature = check_bool(per_feature, "per_feature", func)
    if y.shape[0] != X.shape[0]:
        raise fail(func, "y_train", f"have length {X.shape[0]} (the rows of X_train)", f"length {y.shape[0]}")
    if Xv.shape[1] != X.shape[1]:
        raise fail(func, "X_val", f"have {X.shape[1]} columns (those of X_train)", f"shape {Xv.shape}")
    if yv.shape[0] != Xv.shape[0]:
        raise fail(func, "y_val", f"have length {Xv.shape[0]} (the rows of X_val)", f"length {yv.shape[0]}")
    if X.shape[1] == 0:
        raise fail(func, "X_train", "have at least one column", f"shape {X.shape}")
    return RidgeProblem(X, y, Xv, yv, per_feature)


# --------------------------------------------------------------------------------------------------------------
# Per-frequency Tikhonov denoising of periodic signals
# --------------------------------------------------------------------------------------------------------------


class _Denoising(BilevelProblem):
    r"""The upper level shared by the denoising problems: :math:`g(x) = \tfrac12\|x - x_{clean}\|^2`
    (:math:`L_g = 1`), a lower level :math:`\tfrac12\|x - y\|^2 + R_\theta(x)` with convex :math:`R` (so
    :math:`\mu = 1`), warm-started at the noisy data ``y``."""

    upper_L = 1.0

    def upper_fun(self, x):
        r = x - self.clean
        return 0.5 * float(np.sum(r * r))

    def upper_grad(self, x):
        return x - self.clean

    def lower_mu(self, theta):
        return 1.0

    def lower_x0(self, theta):
        return self.y.copy()


class TikhonovFourierProblem(_Denoising):
    r"""Per-frequency Tikhonov denoising (built by :func:`tikhonov_fourier_problem`)."""

    upper_convex = True
    lower_hess_lipschitz = 0.0

    def __init__(self, noisy, clean):
        self.y, self.clean = noisy, clean
        self.m, self.N = noisy.shape
        N = self.N
        k = np.arange(N // 2 + 1)
        self.w = 4.0 * np.sin(np.pi * k / N) ** 2
        # multiplicity of rfft bin k in the full spectrum: 1 for k = 0 and k = N/2 (N even), else 2
        self.mult = np.full(k.size, 2.0)
        self.mult[0] = 1.0
        if N % 2 == 0:
            self.mult[-1] = 1.0
        self.y_hat = np.fft.rfft(noisy, axis=1)
        self.c_hat = np.fft.rfft(clean, axis=1)

    def _a(self, theta):
        return np.exp(theta) * self.w

    def _apply(self, x, a):
        return np.fft.irfft(a * np.fft.rfft(x, axis=1), n=self.N, axis=1)

    def lower_fun(self, x, theta):
        xh = np.fft.rfft(x, axis=1)
        r = x - self.y
        return 0.5 * float(np.sum(r * r)) + 0.5 * float(np.sum(self.mult * self._a(theta) * np.abs(xh) ** 2)) / self.N

    def lower_grad(self, x, theta):
        return x - self.y + self._apply(x, self._a(theta))

    def lower_hessp(self, x, theta, v):
        return v + self._apply(v, self._a(theta))

    def lower_cross(self, x, theta, v):
        xh = np.fft.rfft(x, axis=1)
        vh = np.fft.rfft(v, axis=1)
        return self.mult * self._a(theta) * np.sum((xh * np.conj(vh)).real, axis=0) / self.N

    def lower_cross_norm(self, x, theta):   # the columns of J are orthogonal (one frequency each)
        xh = np.fft.rfft(x, axis=1)
        col2 = self.mult * self._a(theta) ** 2 * np.sum(np.abs(xh) ** 2, axis=0) / self.N
        return float(math.sqrt(np.max(col2)))

    def lower_cross_lipschitz(self, theta):
        return float(np.max(self._a(theta)))

    def lower_L(self, theta):
        return 1.0 + float(np.max(self._a(theta)))


    def optimal_gains(self):
        r"""The optimal per-frequency gains :math:`s_k^* = \sum_i \mathrm{Re}(\bar{\hat y}_{ik}\hat x_{ik})
        / \sum_i |\hat y_{ik}|^2`, unclipped."""
        num = np.sum((np.conj(self.y_hat) * self.c_hat).real, axis=0)
        den = np.sum(np.abs(self.y_hat) ** 2, axis=0)
        return num / np.where(den > 0, den, 1.0)

    def theta_star(self):
        r"""The exact optimum :math:`\theta_k^* = \log((1/s_k^* - 1)/w_k)` where it is interior
        (0 < s_k* < 1, k ≠ 0); NaN elsewhere (there the infimum is approached as θ_k → ±∞)."""
        s = self.optimal_gains()
        out = np.full(s.shape, np.nan)
        ok = (s > 0) & (s < 1) & (self.w > 0)
        out[ok] = np.log((1.0 / s[ok] - 1.0) / self.w[ok])
        return out

    def optimal_value(self):
        """f* = inf f: each frequency at its optimal gain clipped to [0, 1] (λ_k ∈ [0, ∞]); bin 0 keeps gain 1."""
        s = np.clip(self.optimal_gains(), 0.0, 1.0)
        s[self.w == 0] = 1.0
        return self.value_at_gains(s)

    def value_at_gains(self, s):
        """g of the filter x̂_k = s_k ŷ_k, by Parseval."""
        r = s * self.y_hat - self.c_hat
        return 0.5 * float(np.sum(self.mult * np.abs(r) ** 2)) / self.N

    def exact_value(self, theta):
        """f(θ) through the closed-form lower solution (for tests)."""
        return self.value_at_gains(1.0 / (1.0 + self._a(theta)))


def tikhonov_fourier_problem(noisy, clean) -> TikhonovFourierProblem:
    r"""Per-frequency Tikhonov denoising of periodic signals: N//2 + 1 hyperparameters with a known optimum.

    Rows of ``noisy`` and ``clean`` are signals of length N. With :math:`\hat x` numpy's unnormalized FFT,
    :math:`w_k = 4\sin^2(\pi k/N)` and :math:`\lambda_{N-k} = \lambda_k = e^{\theta_k}`,

    .. math:: h = \sum_i \tfrac12\|x_i - y_i\|^2 + \tfrac1{2N}\sum_{k=0}^{N-1} e^{\theta_k} w_k |\hat x_{ik}|^2,
              \qquad g = \sum_i \tfrac12\|x_i - x_i^{clean}\|^2 .

    μ = 1, L = 1 + max e^θ w, L_g = 1, ‖J‖ (orthogonal columns, one per frequency), L_H = 0,
    L_J = max e^θ w are exact. ``theta_star()``, ``optimal_value()`` give the closed-form optimum
    (research note §5.4). θ₀ has no effect (w₀ = 0).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clean = np.cumsum(rng.standard_normal((2, 16)), axis=1)
    >>> p = tikhonov_fourier_problem(clean + 0.3 * rng.standard_normal((2, 16)), clean)
    >>> p.theta_star().shape
    (9,)
    """
    func = "tikhonov_fourier_problem"
    y = as_float_array(noisy, "noisy", func, ndim=(1, 2))
    c = as_float_array(clean, "clean", func, ndim=(1, 2))
    if y.shape != c.shape:
        raise fail(func, "clean", f"have the shape of `noisy`, {y.shape}", f"shape {c.shape}")
    y, c = np.atleast_2d(y), np.atleast_2d(c)
    if y.shape[1] < 2:
        raise fail(func, "noisy", "hold signals of length >= 2", f"shape {y.shape}")
    return TikhonovFourierProblem(np.ascontiguousarray(y), np.ascontiguousarray(c))


# --------------------------------------------------------------------------------------------------------------
# Multinomial logistic regression
# --------------------------------------------------------------------------------------------------------------


def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _cross_entropy(Z, labels):
    Zmax = Z.max(axis=1)
    lse = Zmax + np.log(np.exp(Z - Zmax[:, None]).sum(axis=1))
    return float(np.sum(lse - Z[np.arange(Z.shape[0]), labels]))


class LogisticProblem(BilevelProblem):
    r"""Multinomial logistic regression with L2 weights e^θ (built by :func:`logistic_problem`)."""

    upper_convex = True

    def __init__(self, X, labels, X_val, labels_val, n_classes, per_weight):
        self.X, self.labels, self.X_val, self.labels_val = X, labels, X_val, labels_val
        self.K = n_classes
        self.per_weight = per_weight
        self.Y = np.eye(n_classes)[labels]
        self.Y_val = np.eye(n_classes)[labels_val]
        self.shape = (X.shape[1], n_classes)
        self._half_lmax = 0.5 * _lmax(X)
        self.upper_L = 0.5 * _lmax(X_val) / max(X_val.shape[0], 1)

    def _lam(self, theta):
        return np.exp(theta)

    def lower_fun(self, W, theta):
        return _cross_entropy(self.X @ W, self.labels) + 0.5 * float(np.sum(self._lam(theta) * W * W))

    def lower_grad(self, W, theta):
        return self.X.T @ (_softmax(self.X @ W) - self.Y) + self._lam(theta) * W

    def lower_hessp(self, W, theta, V):
        P = _softmax(self.X @ W)
        XV = self.X @ V
        PXV = P * XV
        return self.X.T @ (PXV - P * PXV.sum(axis=1, keepdims=True)) + self._lam(theta) * V

    def lower_cross(self, W, theta, V):
        lam = self._lam(theta)
        if self.per_weight:
            return lam * W * V
        return np.array([lam[0] * float(np.sum(W * V))])

    def lower_cross_norm(self, W, theta):
        lam = self._lam(theta)
        if self.per_weight:
            return float(np.max(np.abs(lam * W)))
        return float(lam[0] * np.linalg.norm(W))

    def lower_cross_lipschitz(self, theta):
        return float(np.max(self._lam(theta)))

    # lower_hess_lipschitz stays None: the third derivative of the softmax cross-entropy has no tight
    # closed-form bound, so it is estimated (and the run is reported as not certified).

    def upper_fun(self, W):
        return _cross_entropy(self.X_val @ W, self.labels_val) / self.X_val.shape[0]

    def upper_grad(self, W):
        return self.X_val.T @ (_softmax(self.X_val @ W) - self.Y_val) / self.X_val.shape[0]

    def lower_mu(self, theta):
        return float(np.min(self._lam(theta)))

    def lower_L(self, theta):
        return self._half_lmax + float(np.max(self._lam(theta)))

    def lower_x0(self, theta):
        return np.zeros(self.shape)

    def theta_shape(self):
        return self.shape if self.per_weight else (1,)


def logistic_problem(X_train, y_train, X_val, y_val, *, per_weight=True, fit_intercept=True) -> LogisticProblem:
    r"""Multinomial logistic regression with L2 weights learned on a validation split.

    .. math:: \min_\theta \frac1{n_{val}}\sum_{i\in val} \mathrm{CE}(W^\top x_i, y_i),\qquad
              \hat W = \arg\min_W \sum_{i\in train} \mathrm{CE}(W^\top x_i, y_i) + \tfrac12\sum e^{\theta}\odot W^2

    (training loss summed, so e^θ = 1/C in scikit-learn's convention; validation loss averaged). With
    ``per_weight=True`` θ has the shape of W, (n_features [+1], n_classes): one weight per coefficient,
    the intercept row (a column of ones appended to X when ``fit_intercept``) included; else θ has one entry.
    Labels are integers 0..K-1. μ = min e^θ, L = ½‖X‖₂² + max e^θ, L_g = ½‖X_val‖₂²/n_val, ‖J‖ and
    L_J = max e^θ are exact; the Lipschitz constant of the Hessian is estimated, so runs are not certified.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 3)); y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    >>> p = logistic_problem(X[:40], y[:40], X[40:], y[40:])
    >>> p.theta_shape()
    (4, 3)
    """
    func = "logistic_problem"
    X = as_float_array(X_train, "X_train", func, ndim=2)
    Xv = as_float_array(X_val, "X_val", func, ndim=2)
    per_weight = check_bool(per_weight, "per_weight", func)
    fit_intercept = check_bool(fit_intercept, "fit_intercept", func)
    labels = _labels(y_train, "y_train", func, X.shape[0])
    labels_val = _labels(y_val, "y_val", func, Xv.shape[0])
    if Xv.shape[1] != X.shape[1]:
        raise fail(func, "X_val", f"have {X.shape[1]} columns (those of X_train)", f"shape {Xv.shape}")
    K = int(max(labels.max(initial=0), labels_val.max(initial=0))) + 1
    if K < 2:
        raise fail(func, "y_train", "hold at least two classes (labels 0..K-1)", "only label 0")
    if fit_intercept:
        X = np.hstack([X, np.ones((X.shape[0], 1))])
        Xv = np.hstack([Xv, np.ones((Xv.shape[0], 1))])
    return LogisticProblem(X, labels, Xv, labels_val, K, per_weight)


def _labels(y, name, func, n):
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise fail(func, name, f"be a 1-D array of {n} integer labels", f"shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise fail(func, name, "hold integer labels 0..K-1", f"dtype {arr.dtype}", error=TypeError)
    if arr.size and arr.min() < 0:
        raise fail(func, name, "hold integer labels 0..K-1", f"label {arr.min()}")
    return arr.astype(np.int64)


# --------------------------------------------------------------------------------------------------------------
# Smoothed total-variation denoising
# --------------------------------------------------------------------------------------------------------------

#: max |φ'''| · ν² for φ(t) = √(t² + ν²): attained at t = ν/2, 1.5 / 1.25^{5/2}.
_PHI3 = 1.5 / 1.25**2.5


def _dh(x):
    return x[..., :, 1:] - x[..., :, :-1]


def _dv(x):
    return x[..., 1:, :] - x[..., :-1, :]


def _dh_t(p, shape):
    out = np.zeros(shape)
    out[..., :, :-1] -= p
    out[..., :, 1:] += p
    return out


def _dv_t(p, shape):
    out = np.zeros(shape)
    out[..., :-1, :] -= p
    out[..., 1:, :] += p
    return out


class TVDenoisingProblem(_Denoising):
    r"""Smoothed anisotropic TV denoising with θ = (log α, log ν) (built by :func:`tv_denoising_problem`)."""

    upper_convex = True

    def __init__(self, noisy, clean):
        self.y, self.clean = noisy, clean
        self._y3 = np.ascontiguousarray(noisy.reshape((-1,) + noisy.shape[-2:]))
        self._weights = None   # (x, ν, wh, wv): the Hessian weights at the last x (CG calls hessp at one x)

    @staticmethod
    def _an(theta):
        return math.exp(theta[0]), math.exp(theta[1])

    def _terms(self, x, nu, fn):
        return fn(_dh(x), nu), fn(_dv(x), nu)

    def lower_fun(self, x, theta):
        a, nu = self._an(theta)
        r = x - self.y
        tv = float(np.sum(np.sqrt(_dh(x) ** 2 + nu * nu)) + np.sum(np.sqrt(_dv(x) ** 2 + nu * nu)))
        return 0.5 * float(np.sum(r * r)) + 0.5 * a * tv

    def _div(self, ph, pv):
        return _dh_t(ph, self.y.shape) + _dv_t(pv, self.y.shape)

    def _stack(self, x):
        return np.ascontiguousarray(x, dtype=np.float64).reshape(self._y3.shape)

    def lower_grad(self, x, theta):
        from ._tv._kernels import tv_grad

        a, nu = self._an(theta)
        out = np.empty(self._y3.shape)
        tv_grad(self._stack(x), self._y3, 0.5 * a, nu * nu, out)
        return out.reshape(self.y.shape)

    def lower_hessp(self, x, theta, v):
        from ._tv._kernels import tv_hessp, tv_weights

        a, nu = self._an(theta)
        x3 = self._stack(x)
        w = self._weights
        if w is None or w[1] != nu or not np.array_equal(w[0], x3):
            m, H, W = x3.shape
            wh, wv = np.empty((m, H, W - 1)), np.empty((m, H - 1, W))
            tv_weights(x3, nu * nu, wh, wv)
            self._weights = w = (x3.copy(), nu, wh, wv)
        out = np.empty(x3.shape)
        tv_hessp(self._stack(v), w[2], w[3], 0.5 * a, out)
        return out.reshape(self.y.shape)

    def _columns(self, x, theta):
        a, nu = self._an(theta)
        gh, gv = _dh(x), _dv(x)
        sh, sv = gh * gh + nu * nu, gv * gv + nu * nu
        c1 = 0.5 * a * self._div(gh / np.sqrt(sh), gv / np.sqrt(sv))                       # ∂/∂θ₁ ∇ₓh
        c2 = 0.5 * a * self._div(-gh * nu * nu / sh**1.5, -gv * nu * nu / sv**1.5)         # ∂/∂θ₂ ∇ₓh
        return c1, c2

    def lower_cross(self, x, theta, v):
        c1, c2 = self._columns(x, theta)
        return np.array([float(np.sum(c1 * v)), float(np.sum(c2 * v))])

    def lower_cross_norm(self, x, theta):   # ‖J‖₂ ≤ ‖J‖_F over its two columns
        c1, c2 = self._columns(x, theta)
        return float(math.sqrt(np.sum(c1 * c1) + np.sum(c2 * c2)))

    def lower_hess_lipschitz(self, theta):
        # ‖Σ_d D_dᵀ diag(φ''(D_d x) - φ''(D_d x')) D_d‖ ≤ 8 max|φ'''| ‖D(x - x')‖_∞ ≤ 8 (c/ν²) √2 ‖x - x'‖
        a, nu = self._an(theta)
        return 0.5 * a * 8.0 * _PHI3 / nu**2 * math.sqrt(2.0)

    def lower_cross_lipschitz(self, theta):
        # each column is ½α Σ_d D_dᵀ ψ(D_d x) with |ψ'| ≤ 1/ν and ‖D_d‖ ≤ 2; two columns (Frobenius)
        a, nu = self._an(theta)
        return math.sqrt(2.0) * 0.5 * a * 2 * (2.0 * 2.0) / nu

    def lower_L(self, theta):
        a, nu = self._an(theta)
        return 1.0 + 0.5 * a * 8.0 / nu     # ‖Σ_d D_dᵀD_d‖ ≤ 8 and φ'' ≤ 1/ν


def tv_denoising_problem(noisy, clean) -> TVDenoisingProblem:
    r"""Smoothed total-variation denoising with two hyperparameters, θ = (log α, log ν).

    Images are 2-D arrays, or a stack (m, H, W); with anisotropic forward differences :math:`D_h, D_v`
    (Neumann boundary) and :math:`\phi_\nu(t) = \sqrt{t^2 + \nu^2}`,

    .. math:: h = \sum_i \tfrac12\|x_i - y_i\|^2 + \tfrac{\alpha}{2}\sum_{d\in\{h,v\}} \sum \phi_\nu(D_d x_i),
              \qquad g = \sum_i \tfrac12\|x_i - x_i^{clean}\|^2 .

    μ = 1, L = 1 + 4α/ν, L_g = 1, ‖J‖ ≤ ‖J‖_F, L_H = 4√2 c α/ν² (``c = max|φ'''|ν² ≈ 0.859``) and
    L_J = 4√2 α/ν are bounds, so ω is certified (and loose where ν is small).

    >>> import numpy as np
    >>> clean = np.zeros((8, 8)); clean[2:6, 2:6] = 1.0
    >>> p = tv_denoising_problem(clean + 0.1 * np.random.default_rng(0).standard_normal((8, 8)), clean)
    >>> p.lower_L(np.array([0.0, 0.0]))
    5.0
    """
    func = "tv_denoising_problem"
    y = as_float_array(noisy, "noisy", func, ndim=(2, 3))
    c = as_float_array(clean, "clean", func, ndim=(2, 3))
    if y.shape != c.shape:
        raise fail(func, "clean", f"have the shape of `noisy`, {y.shape}", f"shape {c.shape}")
    if min(y.shape[-2:]) < 2:
        raise fail(func, "noisy", "hold images of at least 2 x 2 pixels", f"shape {y.shape}")
    return TVDenoisingProblem(y, c)
