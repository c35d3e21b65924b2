"""Small nonconvex equality-constrained instances for the mechanism tests (issue 12): the Thomson problem
(COPS ``elec``), the hanging chain (COPS ``chain``, sparse CSR Jacobian), a problem with a duplicated linear
constraint row and an infeasible pair of constraints. Each builder returns the keyword arguments of
:func:`numopt.constrained.minimize` (``fun, x0, jac, hess, constraints``)."""

import numpy as np
import scipy.sparse as sp

from numopt.constrained import _cops


def thomson(npts, rng=0, sparse=False):
    """min sum_{i<j} 1/|p_i - p_j| s.t. |p_i|^2 = 1, p_i in R^3 (n = 3 npts, m = npts), from the COPS-style random
    start (uniform angles); ``sparse`` returns the matrices as CSR. Best-known energies: 6.474691 (5),
    32.716949 (10), 150.881568 (20)."""
    conv = sp.csr_matrix if sparse else np.asarray
    r = np.random.default_rng(rng)
    theta, phi = r.uniform(0, 2 * np.pi, npts), r.uniform(0, np.pi, npts)
    x0 = np.column_stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)]).ravel()
    iu, ju = np.triu_indices(npts, 1)

    def pairs(x):
        p = x.reshape(npts, 3)
        d = p[iu] - p[ju]
        return p, d, np.sqrt(np.einsum("ij,ij->i", d, d))

    def fun(x):
        return float(np.sum(1.0 / pairs(x)[2]))

    def jac(x):
        _, d, r_ = pairs(x)
        w = -d / r_[:, None] ** 3
        g = np.zeros((npts, 3))
        np.add.at(g, iu, w)
        np.add.at(g, ju, -w)
        return g.ravel()

    def hess(x):
        _, d, r_ = pairs(x)
        blk = 3 * d[:, :, None] * d[:, None, :] / r_[:, None, None] ** 5 - np.eye(3) / r_[:, None, None] ** 3
        H = np.zeros((npts, 3, npts, 3))
        for k, (i, j) in enumerate(zip(iu, ju)):
            H[i, :, i, :] += blk[k]
            H[j, :, j, :] += blk[k]
            H[i, :, j, :] -= blk[k]
            H[j, :, i, :] -= blk[k]
        return conv(H.reshape(3 * npts, 3 * npts))

    def cfun(x):
        p = x.reshape(npts, 3)
        return np.einsum("ij,ij->i", p, p) - 1.0

    def cjac(x):
        J = np.zeros((npts, npts, 3))
        J[np.arange(npts), np.arange(npts)] = 2 * x.reshape(npts, 3)
        return conv(J.reshape(npts, 3 * npts))

    def chess(x, v):
        return conv(np.diag(np.repeat(2.0 * v, 3)))

    return dict(fun=fun, x0=x0, jac=jac, hess=hess,
                constraints={"type": "eq", "fun": cfun, "jac": cjac, "hess": chess})


def chain(nh, sparse=True):
    """COPS hanging chain on nh intervals, the library's builder :func:`numopt.constrained._cops.chain` (COPS
    start, sparse CSR Jacobian with one dense length row; ``sparse=False``: dense matrices) as keyword arguments.
    Minimum 5.06852 (nh = 100)."""
    return _cops.chain(nh, sparse=sparse).kwargs()


def duplicated_row(n=20, sparse=False):
    """min sum (x_i - i/n)^4/4 + (x_i - 1)^2/2 + x_0 x_1 s.t. sum x = 1 given twice (a rank-deficient Jacobian with
    a consistent duplicate) and |x|^2 = 1."""
    tgt = np.arange(n) / n
    A = np.ones((2, n))
    conv = sp.csr_matrix if sparse else np.asarray

    def fun(x):
        return float(np.sum((x - tgt) ** 4) / 4 + np.sum((x - 1) ** 2) / 2 + x[0] * x[1])

    def jac(x):
        g = (x - tgt) ** 3 + (x - 1)
        g[0] += x[1]
        g[1] += x[0]
        return g

    def hess(x):
        H = np.diag(3 * (x - tgt) ** 2 + 1)
        H[0, 1] = H[1, 0] = 1.0
        return conv(H)

    cons = {"type": "eq", "fun": lambda x: np.concatenate([A @ x - 1, [x @ x - 1]]),
            "jac": lambda x: conv(np.vstack([A, 2 * x[None]])),
            "hess": lambda x, v: conv(2 * v[2] * np.eye(n))}
    return dict(fun=fun, x0=np.linspace(0.0, 0.5, n), jac=jac, hess=hess, constraints=cons)


def infeasible():
    """x1^2 + x2^2 = 1 and x1 = 2: no feasible point; ||c||^2 is stationary at x = (x1, 0) with
    4 x1^3 - 2 x1 - 4 = 0 (x1 = 1.16541), a point of local infeasibility."""
    return dict(fun=lambda x: float(x @ x), x0=np.array([0.5, 0.5]), jac=lambda x: 2 * x,
                hess=lambda x: 2 * np.eye(2),
                constraints={"type": "eq", "fun": lambda x: np.array([x @ x - 1, x[0] - 2]),
                             "jac": lambda x: np.array([2 * x, [1.0, 0.0]]),
                             "hess": lambda x, v: 2 * v[0] * np.eye(2)})


def with_duplicate(kw, row=0):
    """The same problem with constraint ``row`` given twice (a rank-deficient Jacobian, consistent duplicate)."""
    con = kw["constraints"]
    cf, cj, ch = con["fun"], con["jac"], con["hess"]

    def jac(x):
        J = cj(x)
        return sp.vstack([J, J[row]], format="csr") if sp.issparse(J) else np.vstack([J, J[row:row + 1]])

    def hess(x, v):
        w = np.asarray(v[:-1], dtype=float).copy()
        w[row] += v[-1]
        return ch(x, w)

    out = dict(kw)
    out["constraints"] = {"type": "eq", "fun": lambda x: np.append(cf(x), cf(x)[row]), "jac": jac, "hess": hess}
    return out
