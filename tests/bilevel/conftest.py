"""Shared small bilevel problems with known answers."""

import numpy as np
import pytest

from numopt.bilevel import BilevelProblem, quadratic_problem, ridge_problem


class Shrinkage(BilevelProblem):
    """h = ½‖x - y‖² + (e^θ/2)‖x‖², g = ½‖x - x_true‖²: λ* = ‖y‖²/⟨y, x_true⟩ - 1 (a user subclass)."""

    upper_L = 1.0
    upper_convex = True
    lower_hess_lipschitz = 0.0

    def __init__(self, y, clean):
        self.y, self.clean = y, clean

    def lower_fun(self, x, theta):
        return 0.5 * float((x - self.y) @ (x - self.y)) + 0.5 * np.exp(theta[0]) * float(x @ x)

    def lower_grad(self, x, theta):
        return x - self.y + np.exp(theta[0]) * x

    def lower_hessp(self, x, theta, v):
        return (1.0 + np.exp(theta[0])) * v

    def lower_cross(self, x, theta, v):
        return np.array([np.exp(theta[0]) * float(x @ v)])

    def lower_cross_norm(self, x, theta):
        return float(np.exp(theta[0]) * np.linalg.norm(x))

    def lower_cross_lipschitz(self, theta):
        return float(np.exp(theta[0]))

    def upper_fun(self, x):
        return 0.5 * float((x - self.clean) @ (x - self.clean))

    def upper_grad(self, x):
        return x - self.clean

    def lower_mu(self, theta):
        return 1.0 + float(np.exp(theta[0]))

    def lower_L(self, theta):
        return 1.0 + float(np.exp(theta[0]))

    def lower_x0(self, theta):
        return np.zeros_like(self.y)

    def lam_star(self):
        return float(self.y @ self.y / (self.y @ self.clean) - 1.0)


def shrinkage(seed=0, n=60, sigma=0.5):
    rng = np.random.default_rng(seed)
    clean = rng.standard_normal(n)
    return Shrinkage(clean + sigma * rng.standard_normal(n), clean)


def make_quadratic(seed=0, n=30, d=3, m=25, cond=10.0):
    """§4.1 with cond(H) controlled through A2's singular values (H = A2'A2 has eigenvalues 1..cond)."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    A2 = Q * np.sqrt(np.linspace(1.0, cond, n))
    A3 = rng.standard_normal((n, d))
    A1 = rng.standard_normal((m, n)) / np.sqrt(m)
    return quadratic_problem(A1, rng.standard_normal(m), A2, A3, rng.standard_normal(n))


def make_ridge(seed=0, n=60, p=8, per_feature=False, noise=1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X @ rng.standard_normal(p) + noise * rng.standard_normal(n)
    k = (2 * n) // 3
    return ridge_problem(X[:k], y[:k], X[k:], y[k:], per_feature=per_feature)


@pytest.fixture
def shrink():
    return shrinkage()
