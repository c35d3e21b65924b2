"""``numopt tour`` rows for :mod:`numopt.bilevel`."""

from __future__ import annotations

import numpy as np


def tour_rows() -> list[tuple[str, str, str]]:
    """The shrinkage denoiser's λ* against its closed form, and scalar ridge λ* against brentq."""
    from scipy.optimize import brentq

    from . import BilevelProblem, maid, ridge_problem

    class Shrinkage(BilevelProblem):
        upper_L, upper_convex, lower_hess_lipschitz = 1.0, True, 0.0

        def __init__(self, y, clean):
            self.y, self.clean = y, clean

        def lower_fun(self, x, t):
            return 0.5 * (x - self.y) @ (x - self.y) + 0.5 * np.exp(t[0]) * x @ x

        def lower_grad(self, x, t):
            return x - self.y + np.exp(t[0]) * x

        def lower_hessp(self, x, t, v):
            return (1.0 + np.exp(t[0])) * v

        def lower_cross(self, x, t, v):
            return np.array([np.exp(t[0]) * x @ v])

        def lower_cross_norm(self, x, t):
            return np.exp(t[0]) * np.linalg.norm(x)

        def lower_cross_lipschitz(self, t):
            return np.exp(t[0])

        def upper_fun(self, x):
            return 0.5 * (x - self.clean) @ (x - self.clean)

        def upper_grad(self, x):
            return x - self.clean

        def lower_mu(self, t):
            return 1.0 + np.exp(t[0])

        lower_L = lower_mu

        def lower_x0(self, t):
            return np.zeros_like(self.y)

    rng = np.random.default_rng(0)
    clean = np.sin(np.linspace(0, 6 * np.pi, 500))
    y = clean + 0.3 * rng.standard_normal(500)
    res = maid(Shrinkage(y, clean), np.array([0.0]), tol=1e-10)
    rows = [("maid: shrinkage denoiser, 500 samples", f"lambda* = {np.exp(res.theta[0]):.10f} ({res.nit} steps)",
             f"{y @ y / (y @ clean) - 1:.10f} (|y|^2/<y,x> - 1)")]
    X = rng.standard_normal((160, 40))
    t = X @ rng.standard_normal(40) + 3.0 * rng.standard_normal(160)
    p = ridge_problem(X[:60], t[:60], X[60:], t[60:])
    res = maid(p, np.array([0.0]), tol=1e-8)
    star = brentq(lambda s: p.exact_gradient(np.array([s]))[0], -10, 10, xtol=1e-14)
    rows.append(("maid: ridge alpha on a validation split", f"alpha = {np.exp(res.theta[0]):.8f} "
                 f"({res.n_lower}+{res.n_linear} its)", f"{np.exp(star):.8f} (brentq on the exact f')"))
    return rows
