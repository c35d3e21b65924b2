"""The equality-constrained Hock–Schittkowski problems of the test zoo, with standard starts and optima.

Formulas, starting points and optimal values follow Hock & Schittkowski (1981) as transcribed in
``schittkowski-test-problems`` (``tpN``: FEX = f*, XEX = x*), cross-checked against OptimizationProblems.jl
(which uses ½-scaled objectives for some of them; the HS-book scaling is used here). HS27 is the HS-book form
with f* = 0.04 (Schittkowski's TP27 is 100 times it). Multipliers use the convention L = f + λᵀc.

>>> p = hs_problem("HS28")
>>> p.n, p.m, p.fstar
(3, 1, 0.0)
"""

from __future__ import annotations

import numpy as np

from ._problems import Problem

__all__ = ["HS_NAMES", "hs_problem", "hs_problems"]


def _power_sum(terms, lin=None, const=0.0):
    """f(x) = Σ w (aᵀx - b)^p + linᵀx + const, with gradient and Hessian."""
    W = np.array([t[0] for t in terms], float)
    A = np.array([t[1] for t in terms], float)
    B = np.array([t[2] for t in terms], float)
    P = np.array([t[3] for t in terms], float)
    lin = np.zeros(A.shape[1]) if lin is None else np.asarray(lin, float)

    def fun(x):
        r = A @ x - B
        return float(W @ r**P + lin @ x + const)

    def grad(x):
        r = A @ x - B
        return A.T @ (W * P * r ** (P - 1)) + lin

    def hess(x):
        r = A @ x - B
        d = W * P * (P - 1) * r ** np.maximum(P - 2, 0)
        return (A.T * d) @ A

    return fun, grad, hess


def _linear(Aeq, beq):
    Aeq = np.array(Aeq, float)
    beq = np.array(beq, float)
    n = Aeq.shape[1]
    return (lambda x: Aeq @ x - beq, lambda x: Aeq.copy(), lambda x, v: np.zeros((n, n)))


def _make(name, fgh, cjh, x0, fstar, xstar=None):
    fun, grad, hess = fgh
    cons, cjac, chess = cjh
    x0 = np.array(x0, float)
    m = int(np.asarray(cons(x0)).shape[0])
    return Problem(name=name, fun=fun, grad=grad, hess=hess, cons=cons, cons_jac=cjac, cons_hess=chess, x0=x0, m=m,
                   fstar=float(fstar), xstar=None if xstar is None else np.array(xstar, float))


def _hs6():
    fgh = _power_sum([(1.0, [1, 0], 1.0, 2)])
    cjh = (lambda x: np.array([10 * (x[1] - x[0] ** 2)]),
           lambda x: np.array([[-20 * x[0], 10.0]]),
           lambda x, v: np.array([[-20.0 * v[0], 0.0], [0.0, 0.0]]))
    return _make("HS6", fgh, cjh, [-1.2, 1.0], 0.0, [1, 1])


def _hs7():
    def fun(x):
        return float(np.log1p(x[0] ** 2) - x[1])

    def grad(x):
        return np.array([2 * x[0] / (1 + x[0] ** 2), -1.0])

    def hess(x):
        return np.array([[2 * (1 - x[0] ** 2) / (1 + x[0] ** 2) ** 2, 0.0], [0.0, 0.0]])

    cjh = (lambda x: np.array([(1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4]),
           lambda x: np.array([[4 * x[0] * (1 + x[0] ** 2), 2 * x[1]]]),
           lambda x, v: v[0] * np.array([[4 + 12 * x[0] ** 2, 0.0], [0.0, 2.0]]))
    return _make("HS7", (fun, grad, hess), cjh, [2.0, 2.0], -np.sqrt(3.0), [0, np.sqrt(3.0)])


def _hs8():
    fgh = (lambda x: -1.0, lambda x: np.zeros(2), lambda x: np.zeros((2, 2)))
    cjh = (lambda x: np.array([x[0] ** 2 + x[1] ** 2 - 25, x[0] * x[1] - 9]),
           lambda x: np.array([[2 * x[0], 2 * x[1]], [x[1], x[0]]]),
           lambda x, v: np.array([[2 * v[0], v[1]], [v[1], 2 * v[0]]]))
    return _make("HS8", fgh, cjh, [2.0, 1.0], -1.0)


def _hs9():
    a, b = np.pi / 12, np.pi / 16

    def fun(x):
        return float(np.sin(a * x[0]) * np.cos(b * x[1]))

    def grad(x):
        s1, c1, s2, c2 = np.sin(a * x[0]), np.cos(a * x[0]), np.sin(b * x[1]), np.cos(b * x[1])
        return np.array([a * c1 * c2, -b * s1 * s2])

    def hess(x):
        s1, c1, s2, c2 = np.sin(a * x[0]), np.cos(a * x[0]), np.sin(b * x[1]), np.cos(b * x[1])
        off = -a * b * c1 * s2
        return np.array([[-a * a * s1 * c2, off], [off, -b * b * s1 * c2]])

    return _make("HS9", (fun, grad, hess), _linear([[4.0, -3.0]], [0.0]), [0.0, 0.0], -0.5, [-3, -4])


def _hs26():
    fgh = _power_sum([(1.0, [1, -1, 0], 0.0, 2), (1.0, [0, 1, -1], 0.0, 4)])
    cjh = (lambda x: np.array([(1 + x[1] ** 2) * x[0] + x[2] ** 4 - 3]),
           lambda x: np.array([[1 + x[1] ** 2, 2 * x[0] * x[1], 4 * x[2] ** 3]]),
           lambda x, v: v[0] * np.array([[0, 2 * x[1], 0], [2 * x[1], 2 * x[0], 0], [0, 0, 12 * x[2] ** 2]]))
    return _make("HS26", fgh, cjh, [-2.6, 2.0, 2.0], 0.0, [1, 1, 1])


def _hs27():
    def fun(x):
        return float(0.01 * (x[0] - 1) ** 2 + (x[1] - x[0] ** 2) ** 2)

    def grad(x):
        return np.array([0.02 * (x[0] - 1) - 4 * x[0] * (x[1] - x[0] ** 2), 2 * (x[1] - x[0] ** 2), 0.0])

    def hess(x):
        return np.array([[0.02 - 4 * x[1] + 12 * x[0] ** 2, -4 * x[0], 0], [-4 * x[0], 2, 0], [0, 0, 0]], float)

    cjh = (lambda x: np.array([x[0] + x[2] ** 2 + 1]),
           lambda x: np.array([[1.0, 0.0, 2 * x[2]]]),
           lambda x, v: np.diag([0.0, 0.0, 2.0 * v[0]]))
    return _make("HS27", (fun, grad, hess), cjh, [2.0, 2.0, 2.0], 0.04, [-1, 1, 0])


def _hs28():
    fgh = _power_sum([(1.0, [1, 1, 0], 0.0, 2), (1.0, [0, 1, 1], 0.0, 2)])
    return _make("HS28", fgh, _linear([[1, 2, 3]], [1]), [-4.0, 1.0, 1.0], 0.0, [0.5, -0.5, 0.5])


def _hs40():
    def fun(x):
        return float(-np.prod(x))

    def grad(x):
        return -np.array([x[1] * x[2] * x[3], x[0] * x[2] * x[3], x[0] * x[1] * x[3], x[0] * x[1] * x[2]])

    def hess(x):
        H = np.zeros((4, 4))
        for i in range(4):
            for j in range(4):
                if i != j:
                    H[i, j] = -np.prod([x[k] for k in range(4) if k not in (i, j)])
        return H

    def chess(x, v):
        H = np.zeros((4, 4))
        H[0, 0] = 6 * x[0] * v[0] + 2 * x[3] * v[1]
        H[1, 1] = 2 * v[0]
        H[0, 3] = H[3, 0] = 2 * x[0] * v[1]
        H[3, 3] = 2 * v[2]
        return H

    cjh = (lambda x: np.array([x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]]),
           lambda x: np.array([[3 * x[0] ** 2, 2 * x[1], 0, 0], [2 * x[0] * x[3], 0, -1, x[0] ** 2],
                               [0, -1, 0, 2 * x[3]]], float),
           chess)
    xs = [2 ** (-1 / 3), 2 ** (-1 / 2), 2 ** (-11 / 12), 2 ** (-1 / 4)]
    return _make("HS40", (fun, grad, hess), cjh, [0.8] * 4, -0.25, xs)


def _hs42():
    fgh = _power_sum([(1.0, np.eye(4)[i], i + 1.0, 2) for i in range(4)])
    cjh = (lambda x: np.array([x[0] - 2, x[2] ** 2 + x[3] ** 2 - 2]),
           lambda x: np.array([[1.0, 0, 0, 0], [0, 0, 2 * x[2], 2 * x[3]]]),
           lambda x, v: np.diag([0.0, 0.0, 2 * v[1], 2 * v[1]]))
    return _make("HS42", fgh, cjh, [1.0] * 4, 28 - 10 * np.sqrt(2), [2, 2, np.sqrt(0.72), np.sqrt(1.28)])


def _e(*pairs, n=5):
    a = np.zeros(n)
    for i, w in pairs:
        a[i] = w
    return a


def _hs48():
    fgh = _power_sum([(1.0, _e((0, 1)), 1.0, 2), (1.0, _e((1, 1), (2, -1)), 0.0, 2), (1.0, _e((3, 1), (4, -1)), 0.0, 2)])
    return _make("HS48", fgh, _linear([[1, 1, 1, 1, 1], [0, 0, 1, -2, -2]], [5, -3]), [3, 5, -3, 2, -2], 0.0, [1] * 5)


def _hs49():
    fgh = _power_sum([(1.0, _e((0, 1), (1, -1)), 0.0, 2), (1.0, _e((2, 1)), 1.0, 2), (1.0, _e((3, 1)), 1.0, 4),
                      (1.0, _e((4, 1)), 1.0, 6)])
    return _make("HS49", fgh, _linear([[1, 1, 1, 4, 0], [0, 0, 1, 0, 5]], [7, 6]), [10, 7, 2, -3, 0.8], 0.0, [1] * 5)


def _hs50():
    fgh = _power_sum([(1.0, _e((0, 1), (1, -1)), 0.0, 2), (1.0, _e((1, 1), (2, -1)), 0.0, 2),
                      (1.0, _e((2, 1), (3, -1)), 0.0, 4), (1.0, _e((3, 1), (4, -1)), 0.0, 2)])
    A = [[1, 2, 3, 0, 0], [0, 1, 2, 3, 0], [0, 0, 1, 2, 3]]
    return _make("HS50", fgh, _linear(A, [6, 6, 6]), [35, -31, 11, 5, -5], 0.0, [1] * 5)


def _hs51():
    fgh = _power_sum([(1.0, _e((0, 1), (1, -1)), 0.0, 2), (1.0, _e((1, 1), (2, 1)), 2.0, 2), (1.0, _e((3, 1)), 1.0, 2),
                      (1.0, _e((4, 1)), 1.0, 2)])
    A = [[1, 3, 0, 0, 0], [0, 0, 1, 1, -2], [0, 1, 0, 0, -1]]
    return _make("HS51", fgh, _linear(A, [4, 0, 0]), [2.5, 0.5, 2, -1, 0.5], 0.0, [1] * 5)


def _hs52():
    fgh = _power_sum([(1.0, _e((0, 4), (1, -1)), 0.0, 2), (1.0, _e((1, 1), (2, 1)), 2.0, 2), (1.0, _e((3, 1)), 1.0, 2),
                      (1.0, _e((4, 1)), 1.0, 2)])
    A = [[1, 3, 0, 0, 0], [0, 0, 1, 1, -2], [0, 1, 0, 0, -1]]
    xs = np.array([-33, 11, 180, -158, 11]) / 349
    return _make("HS52", fgh, _linear(A, [0, 0, 0]), [2.0] * 5, 1859 / 349, xs)


def _hs61():
    fgh = _power_sum([(4.0, [1, 0, 0], 0.0, 2), (2.0, [0, 1, 0], 0.0, 2), (2.0, [0, 0, 1], 0.0, 2)],
                     lin=[-33.0, 16.0, -24.0])
    cjh = (lambda x: np.array([3 * x[0] - 2 * x[1] ** 2 - 7, 4 * x[0] - x[2] ** 2 - 11]),
           lambda x: np.array([[3.0, -4 * x[1], 0.0], [4.0, 0.0, -2 * x[2]]]),
           lambda x, v: np.diag([0.0, -4 * v[0], -2 * v[1]]))
    return _make("HS61", fgh, cjh, [0.0, 0.0, 0.0], -143.646142201,
                 [5.32677015744, -2.11899863998, 3.21046423906])


_BUILDERS = {"HS6": _hs6, "HS7": _hs7, "HS8": _hs8, "HS9": _hs9, "HS26": _hs26, "HS27": _hs27, "HS28": _hs28,
             "HS40": _hs40, "HS42": _hs42, "HS48": _hs48, "HS49": _hs49, "HS50": _hs50, "HS51": _hs51,
             "HS52": _hs52, "HS61": _hs61}

#: Names of the zoo's problems, in Hock–Schittkowski order.
HS_NAMES = tuple(_BUILDERS)


def hs_problem(name: str) -> Problem:
    """One problem of the zoo by name (``"HS6"``, ..., ``"HS61"``)."""
    if name not in _BUILDERS:
        raise ValueError(f"hs_problem: `name` must be one of {', '.join(map(repr, HS_NAMES))}; got {name!r}.")
    return _BUILDERS[name]()


def hs_problems() -> list[Problem]:
    """All problems of the zoo."""
    return [b() for b in _BUILDERS.values()]
