"""Test problems with known solutions, shared by the tests, the benchmarks, the tour and the examples."""

from __future__ import annotations

import numpy as np

from .._validation import check_int, check_rng, check_scalar, fail

__all__ = ["ill_conditioned_lstsq"]


def ill_conditioned_lstsq(m, n, *, cond=1e6, residual=1e-6, rng=None):
    r"""A dense least-squares problem with a prescribed condition number and a known exact solution.

    .. math::

        A = U \operatorname{diag}(s) V^\top, \quad s_k = \mathrm{cond}^{-k/(n-1)}, \qquad
        b = A x^\star + \rho \, \|A x^\star\| \, u_{n+1},

    with :math:`[U, u_{n+1}]` (m x (n+1)) and :math:`V` (n x n) orthonormal factors of Gaussian
    matrices and :math:`x^\star` standard normal. The residual :math:`r = b - Ax^\star` is orthogonal
    to the range of :math:`A`, so :math:`x^\star` is *the* least-squares solution, and
    :math:`\|r\| / \|Ax^\star\| = \rho` (``residual``) sets how hard the problem is for solvers whose
    error grows with :math:`\kappa^2 \|r\|`.

    Parameters
    ----------
    m, n : int
        Shape of ``A``, ``m > n >= 1``.
    cond : float, default 1e6
        2-norm condition number of ``A`` (>= 1).
    residual : float, default 1e-6
        Relative size of the residual (>= 0).
    rng : None, int or numpy.random.Generator

    Returns
    -------
    A : ndarray, shape (m, n), C order
    b : ndarray, shape (m,)
    x_star : ndarray, shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.linalg import ill_conditioned_lstsq
    >>> A, b, x_star = ill_conditioned_lstsq(200, 10, cond=1e3, rng=0)
    >>> round(float(np.linalg.cond(A)))
    1000
    >>> bool(np.linalg.norm(A.T @ (b - A @ x_star)) < 1e-12)
    True
    """
    func = "ill_conditioned_lstsq"
    m = check_int(m, "m", func, low=2)
    n = check_int(n, "n", func, low=1)
    if m <= n:
        raise fail(func, "m", "exceed `n` (an overdetermined problem)", f"m = {m}, n = {n}")
    cond = check_scalar(cond, "cond", func, low=1.0)
    residual = check_scalar(residual, "residual", func, low=0.0)
    rng = check_rng(rng, func)
    U, _ = np.linalg.qr(rng.standard_normal((m, n + 1)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.logspace(0, -np.log10(cond), n)
    A = np.ascontiguousarray((U[:, :n] * s) @ V.T)
    x_star = rng.standard_normal(n)
    Ax = A @ x_star
    b = Ax + residual * np.linalg.norm(Ax) * U[:, n]
    return A, b, x_star
