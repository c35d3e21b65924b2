"""Built-in test problems at scale: a semilinear elliptic optimal-control problem with a manufactured
solution and constrained logistic regression (the paper's second experiment) on synthetic data.

Each builder returns a :class:`Problem` whose fields plug straight into :func:`numopt.constrained.minimize`
(``problem.kwargs()``) and into scipy's ``minimize`` (``problem.scipy_constraint()``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

__all__ = ["Problem", "semilinear_control", "constrained_logistic"]


@dataclasses.dataclass
class Problem:
    """An equality-constrained problem ``min f(x) s.t. c(x) = 0`` with its derivatives.

    ``cons_hess(x, v)`` is :math:`\\sum_i v_i \\nabla^2 c_i(x)`. ``fstar``/``xstar``/``lamstar`` are the
    known optimal value, point and multipliers (convention :math:`L = f + \\lambda^\\top c`) where known.
    """

    name: str
    fun: Callable
    grad: Callable
    hess: Callable
    cons: Callable
    cons_jac: Callable
    cons_hess: Callable
    x0: np.ndarray
    m: int
    fstar: float | None = None
    xstar: np.ndarray | None = None
    lamstar: np.ndarray | None = None
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.x0.shape[0])

    def constraint(self) -> dict:
        return {"type": "eq", "fun": self.cons, "jac": self.cons_jac, "hess": self.cons_hess}

    def kwargs(self) -> dict[str, Any]:
        """Arguments for ``numopt.constrained.minimize(**problem.kwargs())``."""
        return dict(fun=self.fun, x0=self.x0.copy(), jac=self.grad, hess=self.hess, constraints=self.constraint())

    def scipy_constraint(self):
        from scipy.optimize import NonlinearConstraint

        zero = np.zeros(self.m)
        return NonlinearConstraint(self.cons, zero, zero, jac=self.cons_jac, hess=self.cons_hess)


def _laplacian_2d(N: int) -> sp.csr_matrix:
    """5-point :math:`-\\Delta_h` on the N x N interior grid of the unit square, h = 1/(N+1), CSR."""
    h = 1.0 / (N + 1)
    T = sp.diags([-np.ones(N - 1), 2.0 * np.ones(N), -np.ones(N - 1)], [-1, 0, 1], format="csr")
    I = sp.identity(N, format="csr")
    return ((sp.kron(I, T) + sp.kron(T, I)) / h**2).tocsr()


def semilinear_control(N: int, alpha: float = 1e-2) -> Problem:
    r"""Semilinear elliptic optimal control with a manufactured exact solution (sparse oracles).

    .. math::

        \min_{y,u}\ \frac{h^2}{2}\|y - y_d\|^2 + \frac{\alpha h^2}{2}\|u\|^2
        \quad\text{s.t.}\quad A y + y^3 - u - f = 0,

    with :math:`A` the 5-point :math:`-\Delta_h` on the N x N interior grid (h = 1/(N+1)), x = (y, u),
    n = 2N², m = N². With :math:`y^* = \sin\pi s\,\sin\pi t`, :math:`p^* = 0.1\sin 2\pi s\,\sin\pi t`,
    :math:`u^* = p^*/\alpha`, :math:`f = Ay^* + y^{*3} - u^*` and :math:`y_d = y^* + (A + 3\,\mathrm{diag}(y^{*2}))p^*`,
    the point :math:`x^* = (y^*, u^*)` with :math:`\lambda^* = h^2 p^*` is an exact KKT point of the
    discrete problem (second-order sufficient since :math:`|6 y^* p^*| < 1`). Start: x0 = 0.
    """
    N = int(N)
    h = 1.0 / (N + 1)
    A = _laplacian_2d(N)
    g = np.arange(1, N + 1) * h
    S, T = np.meshgrid(g, g, indexing="ij")
    ystar = (np.sin(np.pi * S) * np.sin(np.pi * T)).ravel()
    pstar = (0.1 * np.sin(2 * np.pi * S) * np.sin(np.pi * T)).ravel()
    ustar = pstar / alpha
    src = A @ ystar + ystar**3 - ustar
    yd = ystar + A @ pstar + 3 * ystar**2 * pstar
    M = N * N
    h2 = h * h
    neg_eye = -sp.identity(M, format="csr")
    hess_f = sp.diags(np.concatenate([np.full(M, h2), np.full(M, alpha * h2)]), format="csr")

    def fun(x):
        y, u = x[:M], x[M:]
        return 0.5 * h2 * float((y - yd) @ (y - yd)) + 0.5 * alpha * h2 * float(u @ u)

    def grad(x):
        y, u = x[:M], x[M:]
        return np.concatenate([h2 * (y - yd), alpha * h2 * u])

    def hess(x):
        return hess_f

    def cons(x):
        y, u = x[:M], x[M:]
        return A @ y + y**3 - u - src

    def cons_jac(x):
        y = x[:M]
        return sp.hstack([A + sp.diags(3 * y**2), neg_eye], format="csr")

    def cons_hess(x, v):
        y = x[:M]
        return sp.diags(np.concatenate([6 * y * np.asarray(v), np.zeros(M)]), format="csr")

    xstar = np.concatenate([ystar, ustar])
    return Problem(name=f"semilinear control N={N}", fun=fun, grad=grad, hess=hess, cons=cons, cons_jac=cons_jac,
                   cons_hess=cons_hess, x0=np.zeros(2 * M), m=M, fstar=fun(xstar), xstar=xstar, lamstar=h2 * pstar,
                   info={"N": N, "alpha": alpha, "h": h})


def constrained_logistic(n_samples: int = 32561, n_features: int = 123, n_linear: int = 10, density: float = 0.11,
                         rng=0) -> Problem:
    r"""Constrained logistic regression as in Hong et al. (2023), on synthetic data (default: LIBSVM a9a's shape).

    .. math::

        \min_w\ \frac1N\sum_{i=1}^N \log\!\left(1 + e^{-y_i x_i^\top w}\right)
        \quad\text{s.t.}\quad A w = b,\ \ \|w\|_2^2 = 1,

    with ``n_linear`` Gaussian rows :math:`A`, Gaussian :math:`b` (so m = ``n_linear`` + 1) and
    :math:`w_0 = \mathbf 1`. The features are binary and sparse (``density``, like a9a's one-hot features,
    stored CSR), and the labels come from a random linear model with 10% label noise.

    ``fun``, ``grad`` and ``hess`` share the margins :math:`y \odot Xw` of the last point they saw (solvers call
    all three at the same w), and ``hess`` returns the dense :math:`X^\top\mathrm{diag}(d)X` summed over the
    sparse rows by a Numba kernel (cheaper than scipy's sparse-sparse product).
    """
    from ..linalg._kernels import csr_weighted_gram  # numba loads only when this problem is built

    gen = np.random.default_rng(rng)
    X = sp.random(n_samples, n_features, density=density, format="csr", random_state=gen,
                  data_rvs=lambda k: np.ones(k))
    w_true = gen.standard_normal(n_features)
    y = np.sign(X @ w_true - np.median(X @ w_true) + 1e-12)
    flip = gen.random(n_samples) < 0.1
    y[flip] = -y[flip]
    Aeq = gen.standard_normal((n_linear, n_features))
    beq = gen.standard_normal(n_linear)
    XT = X.T.tocsr()
    inv_n = 1.0 / n_samples
    last = {"w": None, "z": None}

    def margins(w):
        """y * (X w), remembered for the last w: fun, grad and hess are called at the same point."""
        if last["w"] is None or not np.array_equal(last["w"], w):
            last["z"] = y * (X @ w)
            last["w"] = np.array(w, dtype=np.float64, copy=True)
        return last["z"]

    def fun(w):
        return float(np.logaddexp(0.0, -margins(w)).sum() * inv_n)

    def grad(w):
        return -(XT @ (y * expit(-margins(w)))) * inv_n

    def hess(w):
        # X' diag(d) X with d = s(1 - s)/N, s = sigmoid(y x'w) (the weight is even in y), summed row by row
        # over the sparse rows (numba kernel): about 10x faster here than scipy's sparse-sparse product.
        s = expit(margins(w))
        d = s * (1.0 - s) * inv_n
        out = np.zeros((n_features, n_features))
        csr_weighted_gram(X.indptr, X.indices, X.data, d, out)
        return out

    def cons(w):
        return np.concatenate([Aeq @ w - beq, [w @ w - 1.0]])

    def cons_jac(w):
        return np.vstack([Aeq, 2.0 * w[None, :]])

    def cons_hess(w, v):
        return 2.0 * float(v[-1]) * np.eye(n_features)

    return Problem(name=f"logistic {n_samples}x{n_features}", fun=fun, grad=grad, hess=hess, cons=cons,
                   cons_jac=cons_jac, cons_hess=cons_hess, x0=np.ones(n_features), m=n_linear + 1,
                   info={"X": X, "y": y, "A": Aeq, "b": beq})

