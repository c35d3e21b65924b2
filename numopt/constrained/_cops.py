r"""Nonconvex and scalable equality-constrained test problems from outside the Hock–Schittkowski zoo.

Each builder returns a :class:`~numopt.constrained._problems.Problem` with exact first and second derivatives
(the same Python oracles are handed to every solver: ``problem.kwargs()`` for
:func:`numopt.constrained.minimize`, ``problem.scipy_constraint()`` for scipy), a start point and what is
known of the solution (``fstar``/``xstar``/``lamstar`` when exact, ``info["fbest"]`` for a best-known value).
Multipliers follow :math:`L = f + \lambda^\top c`.

========================  ========================  ===============  ============================================
builder                   n                         m                origin
========================  ========================  ===============  ============================================
:func:`elec`              3 np                      np               COPS problem 2 (Thomson), CUTEst ``ELEC``
:func:`chain`             2 nh + 2                  nh + 3           COPS problem 1 (hanging chain), AMPL form
:func:`orthreg`           2 N + 5                   N                CUTEst ``ORTHREGA``-style ellipse fit
:func:`dtoc`              (nx + ny)(N - 1)          ny (N - 1)       CUTEst ``DTOC1L`` (linear dynamics)
:func:`lukvle1`           n                         n - 2            Lukšan–Vlček 5.1, CUTEst ``LUKVLE1``
:func:`lukvle3`           n (even)                  2                Lukšan–Vlček 5.3, CUTEst ``LUKVLE3``
========================  ========================  ===============  ============================================

Matrices are CSR where the structure is sparse (``sparse=True``, the default except for :func:`elec`, whose
objective Hessian is dense); ``sparse=False`` returns the same matrices as dense arrays.

References
----------
.. [1] E. D. Dolan, J. J. Moré and T. S. Munson, "Benchmarking optimization software with COPS 3.0",
   Argonne National Laboratory, ANL/MCS-TM-273 (2004).
.. [2] N. I. M. Gould, D. Orban and Ph. L. Toint, "CUTEst: a constrained and unconstrained testing environment
   with safe threads", Comput. Optim. Appl. 60 (2015), 545-557 (SIF files ``ELEC``, ``ORTHREGA``, ``DTOC1L``,
   ``LUKVLE1``, ``LUKVLE3``; read in S2MPJ's transcription, Gratton & Toint 2024).
.. [3] L. Lukšan and J. Vlček, "Sparse and partially separable test problems for unconstrained and equality
   constrained optimization", Technical Report 767, ICS AS CR, Prague (1999).
.. [4] M. Gulliksson, "Algorithms for nonlinear least-squares with applications to orthogonal regression",
   UMINF-178.90, University of Umeå (1990).
.. [5] T. F. Coleman and A. Liao, "An efficient trust region method for unconstrained discrete-time optimal
   control problems", Cornell ACRI report CTC93TR144 (1993).

>>> p = lukvle1(10)
>>> p.n, p.m, p.fstar, float(abs(p.cons(p.xstar)).max())
(10, 8, 0.0, 0.0)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._problems import Problem

__all__ = ["elec", "chain", "orthreg", "dtoc", "lukvle1", "lukvle3", "COPS_BUILDERS"]

#: Best-known Thomson energies for ``elec`` (Wales & Ulker, Phys. Rev. B 74 (2006) 212101; the CUTEst SIF file
#: lists 2.43812e2, 1.05518e3 and 4.44836e3 for np = 25, 50, 100).
ELEC_BEST = {20: 150.881568, 25: 243.812760, 50: 1055.182315, 100: 4448.350634}


def _densify(p: Problem, sparse: bool) -> Problem:
    """``sparse=False``: the same oracles returning dense arrays (for the dense code paths of a solver)."""
    if sparse:
        return p

    def dense(f):
        def g(*a):
            out = f(*a)
            return out.toarray() if sp.issparse(out) else out

        return g

    p.hess, p.cons_jac, p.cons_hess = dense(p.hess), dense(p.cons_jac), dense(p.cons_hess)
    p.info = {**p.info, "sparse": False}
    return p


# ---- COPS elec ------------------------------------------------------------------------------------------------


def elec(np_: int = 50, *, start: str = "cops", rng=0, sparse: bool = False) -> Problem:
    r"""COPS ``elec``: np electrons on the unit sphere with minimal Coulomb energy (the Thomson problem).

    .. math::

        \min_{p_1,\dots,p_{np}\in\mathbb R^3}\ \sum_{i<j}\frac1{\|p_i - p_j\|_2}
        \quad\text{s.t.}\quad \|p_i\|_2^2 - 1 = 0,\ i = 1..np,

    x = (p_1, ..., p_np) point by point (n = 3 np, m = np). The energy is invariant under rotations, so the
    reduced Hessian at a solution has three zero eigenvalues (the minimisers are not isolated).

    ``start="cops"`` (default): COPS's quasi-uniform start :math:`p_i = (\cos\theta_i\sin\phi_i,
    \sin\theta_i\sin\phi_i, \cos\phi_i)` with :math:`\theta_i = 2\pi U`, :math:`\phi_i = \pi U`, U uniform on
    [0, 1) from ``np.random.default_rng(rng)`` (COPS draws them with AMPL's ``Uniform01``, so its exact points
    cannot be reproduced); ``start="cutest"``: the deterministic spiral of the CUTEst SIF file,
    :math:`\theta_i = 2\pi i/np`, :math:`\phi_i = \pi(i-1)/np`. ``info["fbest"]`` is the best-known energy
    (np = 20, 25, 50, 100; 4448.350634 for np = 100). The Hessian of f is dense (np² blocks);
    the constraint Jacobian is dense unless ``sparse=True``.
    """
    npts = int(np_)
    if npts < 2:
        raise ValueError(f"elec: `np_` must be at least 2; got {np_!r}.")
    if start == "cops":
        gen = np.random.default_rng(rng)
        theta, phi = 2 * np.pi * gen.random(npts), np.pi * gen.random(npts)
    elif start == "cutest":
        i = np.arange(1, npts + 1)
        theta, phi = 2 * np.pi * i / npts, np.pi * (i - 1) / npts
    else:
        raise ValueError(f"elec: `start` must be one of 'cops', 'cutest'; got {start!r}.")
    x0 = np.column_stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)]).ravel()
    iu = np.triu_indices(npts, 1)
    rows3 = np.repeat(np.arange(npts), 3)
    cols3 = np.arange(3 * npts)

    def pairs(x):
        P = x.reshape(npts, 3)
        D = P[:, None, :] - P[None, :, :]
        r2 = np.einsum("ijk,ijk->ij", D, D)
        np.fill_diagonal(r2, 1.0)
        inv = 1.0 / np.sqrt(r2)
        np.fill_diagonal(inv, 0.0)
        return D, inv

    def fun(x):
        _, inv = pairs(x)
        return float(inv[iu].sum())

    def grad(x):
        D, inv = pairs(x)
        return (-(D * (inv**3)[:, :, None]).sum(axis=1)).ravel()

    def hess(x):
        # d²(1/r)/dd² = 3 d dᵀ/r⁵ - I/r³ for d = p_i - p_j; block (i, j) is minus it, block (i, i) sums it.
        D, inv = pairs(x)
        inv3, inv5 = inv**3, inv**5
        B = 3 * D[:, :, :, None] * D[:, :, None, :] * inv5[:, :, None, None]
        B -= np.eye(3)[None, None] * inv3[:, :, None, None]
        H = -B
        idx = np.arange(npts)
        H[idx, idx] = B.sum(axis=1)
        return H.transpose(0, 2, 1, 3).reshape(3 * npts, 3 * npts)

    def cons(x):
        P = x.reshape(npts, 3)
        return np.einsum("ij,ij->i", P, P) - 1.0

    def cons_jac(x):
        return sp.csr_matrix((2.0 * x, (rows3, cols3)), shape=(npts, 3 * npts))

    def cons_hess(x, v):
        return sp.diags(2.0 * np.repeat(np.asarray(v, dtype=float), 3), format="csr")

    p = Problem(name=f"elec np={npts}", fun=fun, grad=grad, hess=hess, cons=cons, cons_jac=cons_jac,
                cons_hess=cons_hess, x0=x0, m=npts,
                info={"np": npts, "start": start, "fbest": ELEC_BEST.get(npts), "sparse": True})
    return _densify(p, sparse)


# ---- COPS chain -----------------------------------------------------------------------------------------------


def chain(nh: int = 100, *, L: float = 4.0, a: float = 1.0, b: float = 3.0, sparse: bool = True) -> Problem:
    r"""COPS ``chain``: a hanging chain of length L between (0, a) and (1, b) with minimal potential energy.

    The COPS 3.0 AMPL model ``chain.mod`` (trapezoidal rule on nh intervals, h = 1/nh, heights y and slopes u
    at the nodes :math:`t_j = jh`, x = (y_0..y_nh, u_0..u_nh), n = 2nh + 2, m = nh + 3):

    .. math::

        \min\ h\sum_{j=0}^{nh} w_j\, y_j\sqrt{1+u_j^2}
        \quad\text{s.t.}\quad y_j - y_{j-1} - \tfrac h2(u_j + u_{j-1}) = 0\ (j = 1..nh),\quad
        h\sum_j w_j\sqrt{1 + u_j^2} - L = 0,\quad y_0 = a,\ y_{nh} = b,

    with trapezoid weights :math:`w = (\tfrac12, 1, \dots, 1, \tfrac12)`. The length constraint is one dense
    row of the Jacobian. Start (COPS): :math:`y_j = 4|b-a|\,t_j(\tfrac12 t_j - t_{\min}) + a`,
    :math:`u_j = 4|b-a|(t_j - t_{\min})`, :math:`t_{\min} = 1/4` if b > a else 3/4 (feasible except for
    the length). As nh grows the optimal energy tends to the catenary's,
    :math:`\int_0^1 y\sqrt{1+y'^2}\,dt = 5.0684801` for the defaults (``info["f_continuous"]``), with an
    O(h²) gap (1.3e-3 at nh = 100).
    """
    nh = int(nh)
    if nh < 2:
        raise ValueError(f"chain: `nh` must be at least 2; got {nh!r}.")
    N1 = nh + 1
    h = 1.0 / nh
    w = np.ones(N1)
    w[[0, -1]] = 0.5
    t = np.arange(N1) * h
    tmin = 0.25 if b > a else 0.75
    y0 = 4 * abs(b - a) * t * (0.5 * t - tmin) + a
    u0 = 4 * abs(b - a) * (t - tmin)
    x0 = np.concatenate([y0, u0])
    # linear part of the Jacobian: dynamics rows 0..nh-1, then the length row (nonlinear), then the two ends
    j = np.arange(1, N1)
    r = j - 1
    lin_rows = np.concatenate([r, r, r, r])
    lin_cols = np.concatenate([j, j - 1, N1 + j, N1 + j - 1])
    lin_vals = np.concatenate([np.ones(nh), -np.ones(nh), np.full(nh, -0.5 * h), np.full(nh, -0.5 * h)])
    end_rows = np.array([nh + 1, nh + 2])
    end_cols = np.array([0, nh])
    idx = np.arange(N1)

    def fun(x):
        y, u = x[:N1], x[N1:]
        return float(h * np.sum(w * y * np.sqrt(1 + u * u)))

    def grad(x):
        y, u = x[:N1], x[N1:]
        s = np.sqrt(1 + u * u)
        return np.concatenate([h * w * s, h * w * y * u / s])

    def hess(x):
        y, u = x[:N1], x[N1:]
        s = np.sqrt(1 + u * u)
        yu = h * w * u / s
        uu = h * w * y / s**3
        rows = np.concatenate([idx, N1 + idx, N1 + idx])
        cols = np.concatenate([N1 + idx, idx, N1 + idx])
        return sp.csr_matrix((np.concatenate([yu, yu, uu]), (rows, cols)), shape=(2 * N1, 2 * N1))

    def cons(x):
        y, u = x[:N1], x[N1:]
        dyn = y[1:] - y[:-1] - 0.5 * h * (u[1:] + u[:-1])
        length = h * np.sum(w * np.sqrt(1 + u * u)) - L
        return np.concatenate([dyn, [length, y[0] - a, y[nh] - b]])

    def cons_jac(x):
        u = x[N1:]
        lrow = h * w * u / np.sqrt(1 + u * u)
        rows = np.concatenate([lin_rows, np.full(N1, nh), end_rows])
        cols = np.concatenate([lin_cols, N1 + idx, end_cols])
        vals = np.concatenate([lin_vals, lrow, [1.0, 1.0]])
        return sp.csr_matrix((vals, (rows, cols)), shape=(nh + 3, 2 * N1))

    def cons_hess(x, v):
        u = x[N1:]
        d = float(v[nh]) * h * w / np.sqrt(1 + u * u) ** 3
        return sp.diags(np.concatenate([np.zeros(N1), d]), format="csr")

    p = Problem(name=f"chain nh={nh}", fun=fun, grad=grad, hess=hess, cons=cons, cons_jac=cons_jac,
                cons_hess=cons_hess, x0=x0, m=nh + 3, info={"nh": nh, "L": L, "a": a, "b": b, "sparse": True,
                      "f_continuous": 5.068480110993417 if (L, a, b) == (4.0, 1.0, 3.0) else None})
    return _densify(p, sparse)


# ---- ORTHREGA-style orthogonal regression ---------------------------------------------------------------------


def orthreg(N: int = 100, *, noise: float = 0.05, sparse: bool = True) -> Problem:
    r"""Orthogonal regression: fit the ellipse :math:`x^\top Hx - 2g^\top x = 1` to N points (``ORTHREGA``-style).

    CUTEst ``ORTHREGA`` (Gulliksson 1990, SIF by Toint) with N free instead of 4**LEVELS:

    .. math::

        \min_{H, g, (x_i, y_i)}\ \sum_{i=1}^N (x_i - \hat x_i)^2 + (y_i - \hat y_i)^2
        \quad\text{s.t.}\quad h_{11}x_i^2 + 2h_{12}x_iy_i + h_{22}y_i^2 - 2g_1x_i - 2g_2y_i - 1 = 0,

    x = (h11, h12, h22, g1, g2, x_1, y_1, ..., x_N, y_N) (n = 2N + 5, m = N). The five ellipse parameters
    enter every constraint: five dense columns in an otherwise block-diagonal Jacobian, and an arrow-shaped
    Lagrangian Hessian. Data: :math:`(\hat x_i, \hat y_i) = c + \rho_i R(\tau)(A\cos t_i, B\sin t_i)` with
    centre c = (0.5, 0.25), semi-axes A = 2, B = 1, rotation τ = 0.3, :math:`t_i = 2\pi(i - \tfrac12)/N` and
    the deterministic radial perturbation :math:`\rho_i = 1 + \text{noise}\cdot\sin(7t_i)`. Start as the SIF:
    H = I, g = 0 (the unit circle), :math:`(x_i, y_i) = (\hat x_i, \hat y_i)`. With ``noise=0`` the points lie
    on the ellipse and the solution is known exactly (``xstar``, f* = 0, λ* = 0).
    """
    N = int(N)
    if N < 5:
        raise ValueError(f"orthreg: `N` must be at least 5 (five ellipse parameters); got {N!r}.")
    A_, B_, tau, cen = 2.0, 1.0, 0.3, np.array([0.5, 0.25])
    tt = 2 * np.pi * (np.arange(1, N + 1) - 0.5) / N
    rho = 1 + noise * np.sin(7 * tt)
    R = np.array([[np.cos(tau), -np.sin(tau)], [np.sin(tau), np.cos(tau)]])
    pts = cen + (rho[:, None] * np.column_stack([A_ * np.cos(tt), B_ * np.sin(tt)])) @ R.T
    xd, yd = pts[:, 0].copy(), pts[:, 1].copy()
    n = 2 * N + 5
    x0 = np.concatenate([[1.0, 0.0, 1.0, 0.0, 0.0], pts.ravel()])
    ix = 5 + 2 * np.arange(N)
    iy = ix + 1
    rowsN = np.arange(N)
    hess_f = sp.diags(np.concatenate([np.zeros(5), np.full(2 * N, 2.0)]), format="csr")

    def split(x):
        return x[0], x[1], x[2], x[3], x[4], x[ix], x[iy]

    def fun(x):
        return float(np.sum((x[ix] - xd) ** 2) + np.sum((x[iy] - yd) ** 2))

    def grad(x):
        g = np.zeros(n)
        g[ix] = 2 * (x[ix] - xd)
        g[iy] = 2 * (x[iy] - yd)
        return g

    def hess(x):
        return hess_f

    def cons(x):
        h11, h12, h22, g1, g2, X, Y = split(x)
        return h11 * X * X + 2 * h12 * X * Y + h22 * Y * Y - 2 * g1 * X - 2 * g2 * Y - 1.0

    def cons_jac(x):
        h11, h12, h22, g1, g2, X, Y = split(x)
        rows = np.concatenate([np.repeat(rowsN, 5), rowsN, rowsN])
        cols = np.concatenate([np.tile(np.arange(5), N), ix, iy])
        par = np.column_stack([X * X, 2 * X * Y, Y * Y, -2 * X, -2 * Y]).ravel()
        vals = np.concatenate([par, 2 * (h11 * X + h12 * Y - g1), 2 * (h12 * X + h22 * Y - g2)])
        return sp.csr_matrix((vals, (rows, cols)), shape=(N, n))

    def cons_hess(x, v):
        h11, h12, h22, g1, g2, X, Y = split(x)
        v = np.asarray(v, dtype=float)
        # point block: [[2 h11, 2 h12], [2 h12, 2 h22]] v_i; parameter-point coupling: d²c_i/dh11 dx_i = 2x_i,
        # d²/dh12 dx_i = 2y_i, d²/dh12 dy_i = 2x_i, d²/dh22 dy_i = 2y_i, d²/dg1 dx_i = d²/dg2 dy_i = -2.
        rows = [ix, iy, ix, iy]
        cols = [ix, iy, iy, ix]
        vals = [2 * h11 * v, 2 * h22 * v, 2 * h12 * v, 2 * h12 * v]
        for k, ii, val in ((0, ix, 2 * X * v), (1, ix, 2 * Y * v), (1, iy, 2 * X * v), (2, iy, 2 * Y * v),
                           (3, ix, -2 * v), (4, iy, -2 * v)):
            rows += [np.full(N, k), ii]
            cols += [ii, np.full(N, k)]
            vals += [val, val]
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))

    p = Problem(name=f"orthreg N={N}", fun=fun, grad=grad, hess=hess, cons=cons, cons_jac=cons_jac,
                cons_hess=cons_hess, x0=x0, m=N, info={"N": N, "noise": noise, "data": pts, "sparse": True})
    if noise == 0:
        M = R @ np.diag([A_**-2, B_**-2]) @ R.T
        k = 1.0 - cen @ M @ cen
        H, g = M / k, M @ cen / k
        p.xstar = np.concatenate([[H[0, 0], H[0, 1], H[1, 1], g[0], g[1]], pts.ravel()])
        p.fstar = 0.0
        p.lamstar = np.zeros(N)
    return _densify(p, sparse)


# ---- DTOC1L-style discrete-time optimal control ---------------------------------------------------------------

#: DTOC1L optimal values listed in the CUTEst SIF file, keyed by (N, nx, ny); solves of this formulation to KKT 1e-12
#: (numopt and scipy trust-constr agree to 10 digits) differ from them by 2e-5 (N = 10) to 2e-6 (N = 1000),
#: relatively and in both directions, so they are kept as ``info["f_sif"]``, not as ``fstar``.
DTOC1L_FSTAR = {(10, 2, 4): 0.0735931360, (50, 2, 4): 0.2299411960, (100, 2, 4): 0.4253681120,
                (500, 2, 4): 1.9887794988, (1000, 2, 4): 3.9430507151, (10, 5, 10): 1.1498579294,
                (50, 5, 10): 6.1678479713, (100, 5, 10): 12.439954329, (500, 5, 10): 62.616843379,
                (1000, 5, 10): 125.33793359}


def dtoc(N: int = 1000, *, nx: int = 2, ny: int = 4, power: int = 4, sparse: bool = True) -> Problem:
    r"""CUTEst ``DTOC1L``: discrete-time optimal control with linear dynamics (Coleman & Liao 1993, problem 1, μ = 0).

    .. math::

        \min\ \sum_{t=1}^{N-1}\sum_{i=1}^{nx}(u_{t,i} + \tfrac12)^p
        + \sum_{t=1}^{N}\sum_{j=1}^{ny}(y_{t,j} + \tfrac14)^p
        \quad\text{s.t.}\quad y_{t+1} = T y_t + B u_t,\ t = 1..N-1,\quad y_1 = 0,

    with T tridiagonal (1/2 on the diagonal, 1/4 above, -1/4 below) and :math:`B_{ji} = (j - i)/(nx + ny)`;
    the fixed initial state :math:`y_1 = 0` is eliminated (its constant cost stays in f), so
    x = (u_1..u_{N-1}, y_2..y_N) time by time, n = (nx + ny)(N - 1), m = ny(N - 1), rows written as the SIF's
    :math:`Ty_t + Bu_t - y_{t+1} = 0`. p = 4 is DTOC1L (quartic, convex); ``power=2`` gives the quadratic
    variant. Start x0 = 0. ``info["f_sif"]`` is the SIF file's value where it lists one (p = 4; N = 10, 50, 100,
    500, 1000 with (nx, ny) = (2, 4) or (5, 10)); solves of this formulation to KKT 1e-12 by two solvers agree
    with each other to 10 digits and differ from it by 2e-5 (N = 10, above) to 2e-6 (N = 1000, below),
    relatively: the listed values are not exact.
    """
    N, nx, ny = int(N), int(nx), int(ny)
    if N < 2 or nx < 1 or ny < 2:
        raise ValueError(f"dtoc: need N >= 2, nx >= 1, ny >= 2; got N={N!r}, nx={nx!r}, ny={ny!r}.")
    if power not in (2, 4):
        raise ValueError(f"dtoc: `power` must be 2 or 4; got {power!r}.")
    K = N - 1
    nu, nyv = K * nx, K * ny
    n = nu + nyv
    T = sp.diags([np.full(ny - 1, -0.25), np.full(ny, 0.5), np.full(ny - 1, 0.25)], [-1, 0, 1], format="csr")
    Bm = (np.arange(1, ny + 1)[:, None] - np.arange(1, nx + 1)[None, :]) / (nx + ny)
    # rows of period t: B u_t (+ T y_t for t >= 2) - y_{t+1}; y_{t+1} is the t-th state block (0-based t-1)
    Iu = sp.kron(sp.identity(K), sp.csr_matrix(Bm))
    Iy = sp.kron(sp.eye(K, K, k=-1), T) - sp.identity(nyv)
    Jc = sp.hstack([Iu, Iy], format="csr")
    shift = np.concatenate([np.full(nu, 0.5), np.full(nyv, 0.25)])
    const = ny * 0.25**power
    zero_h = sp.csr_matrix((n, n))
    p_ = float(power)

    def fun(x):
        return float(np.sum((x + shift) ** power) + const)

    def grad(x):
        return p_ * (x + shift) ** (power - 1)

    def hess(x):
        return sp.diags(p_ * (p_ - 1) * (x + shift) ** (power - 2), format="csr")

    def cons(x):
        return Jc @ x

    def cons_jac(x):
        return Jc

    def cons_hess(x, v):
        return zero_h

    p = Problem(name=f"dtoc N={N}", fun=fun, grad=grad, hess=hess, cons=cons, cons_jac=cons_jac,
                cons_hess=cons_hess, x0=np.zeros(n), m=nyv,
                info={"N": N, "nx": nx, "ny": ny, "power": power, "sparse": True,
                      "f_sif": DTOC1L_FSTAR.get((N, nx, ny)) if power == 4 else None})
    return _densify(p, sparse)


# ---- Luksan-Vlcek ---------------------------------------------------------------------------------------------


def lukvle1(n: int = 1000, *, sparse: bool = True) -> Problem:
    r"""Lukšan–Vlček problem 5.1 (CUTEst ``LUKVLE1``): chained Rosenbrock, trigonometric–exponential constraints.

    .. math::

        \min\ \sum_{i=1}^{n-1}100(x_i^2 - x_{i+1})^2 + (x_i - 1)^2
        \quad\text{s.t.}\quad 3x_{k+1}^3 + 2x_{k+2} - 5 + \sin(x_{k+1} - x_{k+2})\sin(x_{k+1} + x_{k+2})
        + 4x_{k+1} - x_k e^{x_k - x_{k+1}} - 3 = 0,\ k = 1..n-2.

    Start :math:`x_i = -1.2` (i odd), 1 (i even). x* = 1 is a global minimiser (f* = 0, λ* = 0: ∇f(x*) = 0
    and the Jacobian has full rank); from the standard start, local solvers (numopt, scipy trust-constr) reach
    another local minimiser (f = 6.2325 at n = 100), as the problem is nonconvex. Tridiagonal Hessians, a
    banded (3-wide) Jacobian.
    """
    n = int(n)
    if n < 3:
        raise ValueError(f"lukvle1: `n` must be at least 3; got {n!r}.")
    x0 = np.where(np.arange(1, n + 1) % 2 == 1, -1.2, 1.0)
    m = n - 2
    k = np.arange(m)

    def fun(x):
        r = x[:-1] ** 2 - x[1:]
        return float(100 * r @ r + np.sum((x[:-1] - 1) ** 2))

    def grad(x):
        r = x[:-1] ** 2 - x[1:]
        g = np.zeros(n)
        g[:-1] += 400 * r * x[:-1] + 2 * (x[:-1] - 1)
        g[1:] -= 200 * r
        return g

    def hess(x):
        d = np.zeros(n)
        d[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
        d[1:] += 200
        off = -400 * x[:-1]
        return sp.diags([off, d, off], [-1, 0, 1], format="csr")

    def cons(x):
        a, b, d = x[:-2], x[1:-1], x[2:]
        return 3 * b**3 + 2 * d - 5 + np.sin(b - d) * np.sin(b + d) + 4 * b - a * np.exp(a - b) - 3

    def cons_jac(x):
        a, b, d = x[:-2], x[1:-1], x[2:]
        e = np.exp(a - b)
        vals = np.concatenate([-e * (1 + a), 9 * b**2 + np.sin(2 * b) + 4 + a * e, 2 - np.sin(2 * d)])
        return sp.csr_matrix((vals, (np.tile(k, 3), np.concatenate([k, k + 1, k + 2]))), shape=(m, n))

    def cons_hess(x, v):
        a, b, d = x[:-2], x[1:-1], x[2:]
        v = np.asarray(v, dtype=float)
        e = np.exp(a - b)
        diag = np.zeros(n)
        diag[:-2] += -v * e * (2 + a)
        diag[1:-1] += v * (18 * b + 2 * np.cos(2 * b) - a * e)
        diag[2:] += -2 * v * np.cos(2 * d)
        off = np.zeros(n - 1)
        off[:-1] += v * e * (1 + a)
        return sp.diags([off, diag, off], [-1, 0, 1], format="csr")

    p = Problem(name=f"lukvle1 n={n}", fun=fun, grad=grad, hess=hess, cons=cons, cons_jac=cons_jac,
                cons_hess=cons_hess, x0=x0, m=m, fstar=0.0, xstar=np.ones(n), lamstar=np.zeros(m),
                info={"sparse": True})
    return _densify(p, sparse)


def lukvle3(n: int = 1000, *, sparse: bool = True) -> Problem:
    r"""Lukšan–Vlček problem 5.3 (CUTEst ``LUKVLE3``): chained Powell singular function, two constraints.

    .. math::

        \min\ \sum_{i=1}^{n/2-1}(x_{2i-1} + 10x_{2i})^2 + 5(x_{2i+1} - x_{2i+2})^2 + (x_{2i} - 2x_{2i+1})^4
        + 10(x_{2i-1} - x_{2i+2})^4

    subject to :math:`3x_1^3 + 2x_2 - 5 + \sin(x_1 - x_2)\sin(x_1 + x_2) = 0` and
    :math:`4x_{n-1} - x_{n-1}e^{x_{n-1} - x_n} - 3 = 0` (n even). Start (3, -1, 0, 1) repeated. The SIF file
    gives f* ≈ 27.58658 (``info["fbest"]``, reached for n ≥ 100; n = 10 gives 27.58856); only the first and
    last Powell blocks feel the constraints, and the quartic terms make the objective's Hessian singular at
    the unconstrained minimiser 0 of the interior blocks.
    """
    n = int(n)
    if n < 4 or n % 2:
        raise ValueError(f"lukvle3: `n` must be even and at least 4; got {n!r}.")
    x0 = np.tile([3.0, -1.0, 0.0, 1.0], n // 4 + 1)[:n]
    nb = n // 2 - 1
    base = 2 * np.arange(nb)
    # groups: (coefficients on x[base + 0..3], weight, power)
    spec = [((1.0, 10.0, 0.0, 0.0), 1.0, 2), ((0.0, 0.0, 1.0, -1.0), 5.0, 2),
            ((0.0, 1.0, -2.0, 0.0), 1.0, 4), ((1.0, 0.0, 0.0, -1.0), 10.0, 4)]
    rows, cols, vals, wts, pows = [], [], [], [], []
    for gi, (coef, wt, pw) in enumerate(spec):
        for off, cf in enumerate(coef):
            if cf:
                rows.append(gi * nb + np.arange(nb))
                cols.append(base + off)
                vals.append(np.full(nb, cf))
        wts.append(np.full(nb, wt))
        pows.append(np.full(nb, pw, dtype=float))
    G = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(4 * nb, n))
    GT = G.T.tocsr()
    W, P = np.concatenate(wts), np.concatenate(pows)

    def fun(x):
        return float(W @ (G @ x) ** P)

    def grad(x):
        return GT @ (W * P * (G @ x) ** (P - 1))

    def hess(x):
        d = W * P * (P - 1) * (G @ x) ** (P - 2)
        return (GT @ sp.diags(d) @ G).tocsr()

    def cons(x):
        a, b = x[0], x[1]
        c, d = x[n - 2], x[n - 1]
        return np.array([3 * a**3 + 2 * b - 5 + np.sin(a - b) * np.sin(a + b), 4 * c - c * np.exp(c - d) - 3])

    def cons_jac(x):
        a, b = x[0], x[1]
        c, d = x[n - 2], x[n - 1]
        e = np.exp(c - d)
        vals = [9 * a**2 + np.sin(2 * a), 2 - np.sin(2 * b), 4 - e * (1 + c), c * e]
        return sp.csr_matrix((vals, ([0, 0, 1, 1], [0, 1, n - 2, n - 1])), shape=(2, n))

    def cons_hess(x, v):
        a, b = x[0], x[1]
        c, d = x[n - 2], x[n - 1]
        e = np.exp(c - d)
        v0, v1 = float(v[0]), float(v[1])
        r = [0, 1, n - 2, n - 2, n - 1, n - 1]
        cc = [0, 1, n - 2, n - 1, n - 2, n - 1]
        vv = [v0 * (18 * a + 2 * np.cos(2 * a)), -2 * v0 * np.cos(2 * b), -v1 * e * (2 + c), v1 * e * (1 + c),
              v1 * e * (1 + c), -v1 * c * e]
        return sp.csr_matrix((vv, (r, cc)), shape=(n, n))

    p = Problem(name=f"lukvle3 n={n}", fun=fun, grad=grad, hess=hess, cons=cons, cons_jac=cons_jac,
                cons_hess=cons_hess, x0=x0, m=2, info={"fbest": 27.58658, "sparse": True})
    return _densify(p, sparse)


#: name -> builder, for benches and parametrized tests.
COPS_BUILDERS = {"elec": elec, "chain": chain, "orthreg": orthreg, "dtoc": dtoc, "lukvle1": lukvle1,
                 "lukvle3": lukvle3}
