"""``numopt tour`` rows for the constrained family: small built-in problems next to their known answers."""

from __future__ import annotations

import numpy as np


def tour_rows() -> list[tuple[str, str, str]]:
    from . import minimize
    from ._hs import hs_problem
    from ._problems import semilinear_control

    rows = []
    # 1. HS61 from x0 = 0, where the constraint Jacobian has rank 1 (SLSQP stops there).
    p = hs_problem("HS61")
    res = minimize(**p.kwargs())
    rows.append(("constrained: HS61 from rank-deficient x0", f"f = {res.fun:.9f} ({res.nit} its)",
                 f"f* = {p.fstar:.9f}"))
    # 2. min c'x on the unit sphere with the paper's randomized Kaczmarz sketch.
    c = np.array([3.0, -4.0, 12.0])
    n = 3
    res = minimize(lambda x: c @ x, np.ones(3) / np.sqrt(3), jac=lambda x: c, hess=lambda x: np.zeros((n, n)),
                   constraints={"type": "eq", "fun": lambda x: np.array([x @ x - 1]), "jac": lambda x: 2 * x[None],
                                "hess": lambda x, v: 2 * v[0] * np.eye(n)}, sketch="kaczmarz", rng=0)
    rows.append(("constrained: min c'x on sphere (Kaczmarz)",
                 f"x = {np.array2string(res.x, precision=6)} ({res.inner_iterations} RK steps)",
                 f"-c/|c| = {np.array2string(-c / np.linalg.norm(c), precision=6)}"))
    # 3. Semilinear elliptic control, N = 32 (n = 2048), manufactured solution.
    q = semilinear_control(32)
    res = minimize(**q.kwargs(), tol=1e-9 * float(np.linalg.norm(q.cons(q.x0))))
    err = float(np.abs(res.x - q.xstar).max())
    rows.append(("constrained: semilinear control N=32", f"|x - x*|_inf = {err:.1e} ({res.nit} its, {res.sketch})",
                 "x* manufactured (exact discrete KKT point)"))
    return rows
