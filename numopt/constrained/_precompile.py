"""Fill the Numba cache for every kernel the constrained family runs (for ``numopt compile``).

The family has no kernels of its own: its sketching inner solvers run :func:`numopt.linalg.sketch_and_project`
(Kaczmarz and block-Kaczmarz kernels, on dense and on CSR KKT matrices) and the logistic test problem sums its
Hessian with :func:`numopt.linalg._kernels.csr_weighted_gram`. Each path is run once on a tiny problem, so that
the signatures compiled here are exactly those a real run asks for (float64, C order, int32 CSR indices).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["precompile"]


def _tiny(sparse: bool) -> dict:
    """min |x - v|^2/2 s.t. x0 + x1 + x2 = 1 (dense or CSR Jacobian and Hessian)."""
    v = np.array([0.3, -0.2, 0.5])
    A = np.array([[1.0, 1.0, 1.0]])
    wrap = sp.csr_matrix if sparse else np.asarray
    return dict(fun=lambda x: 0.5 * (x - v) @ (x - v), x0=np.zeros(3), jac=lambda x: x - v,
                hess=lambda x: wrap(np.eye(3)),
                constraints={"type": "eq", "fun": lambda x: A @ x - 1.0, "jac": lambda x: wrap(A),
                             "hess": lambda x, w: wrap(np.zeros((3, 3)))})


def precompile() -> None:
    """Run every Numba path of :func:`numopt.constrained.minimize` once on a tiny problem (cheap once cached)."""
    from . import minimize
    from ._problems import constrained_logistic

    for sparse in (False, True):
        for sketch in ("kaczmarz", "block_kaczmarz", "gaussian"):
            minimize(**_tiny(sparse), sketch=sketch, rng=0, tol=1e-6)
    p = constrained_logistic(40, 5, n_linear=1, rng=0)
    p.hess(p.x0)
