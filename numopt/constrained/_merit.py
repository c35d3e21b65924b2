r"""The exact augmented Lagrangian merit function and its gradient.

.. math::

    \mathcal L_{\mu,\nu}(x,\lambda) = f(x) + \lambda^\top c(x) + \frac\mu2\|c(x)\|^2
        + \frac\nu2\|\nabla_x \mathcal L(x,\lambda)\|^2,

    \nabla_x \mathcal L_{\mu,\nu} = \nabla_x\mathcal L + \nu\,\nabla_x^2\mathcal L\,\nabla_x\mathcal L + \mu G^\top c,
    \qquad
    \nabla_\lambda \mathcal L_{\mu,\nu} = c + \nu\, G\,\nabla_x\mathcal L,

with :math:`G = \nabla c^\top` (m x n) and :math:`\nabla_x^2\mathcal L = \nabla^2 f + \sum_i\lambda_i\nabla^2 c_i`
the Hessian of the Lagrangian (not :math:`\nabla^2 f`: the reference code's slip, which is wrong whenever a
constraint is nonlinear).
"""

from __future__ import annotations

import numpy as np

__all__ = ["merit_value", "merit_gradient"]


def merit_value(f: float, c: np.ndarray, grad_lag: np.ndarray, lam: np.ndarray, mu: float, nu: float) -> float:
    """:math:`\\mathcal L_{\\mu,\\nu}` from f, c, ∇ₓL and λ."""
    return float(f + lam @ c + 0.5 * mu * (c @ c) + 0.5 * nu * (grad_lag @ grad_lag))


def merit_gradient(c, grad_lag, H, G, mu: float, nu: float):
    """(∇ₓ, ∇_λ) of the merit; ``H`` is the Hessian of the Lagrangian (any object with ``@``)."""
    gx = grad_lag + nu * np.asarray(H @ grad_lag).ravel() + mu * np.asarray(G.T @ c).ravel()
    gl = c + nu * np.asarray(G @ grad_lag).ravel()
    return gx, gl
