r"""Preconditioned MINRES (Paige–Saunders recurrences), warm-started, stopped on the *true* residual.

One implementation for numopt's solvers (the Newton–KKT inner solves of :mod:`numopt.constrained`). It stops as
soon as :math:`\|Ax - b\|_2 \le` ``target`` or the residual reaches its rounding floor
:func:`rounding_floor` (:math:`c\,u\,(\|A\|\|x\| + \|b\|)`, the size of the rounding error of the computed
residual itself): a target below that floor is floored there, never chased. When the recurrences claim
convergence while the true residual does not follow, or the true residual has not halved for ``stall``
iterations, it returns its best iterate with ``reason="floor"``; the caller decides whether that accuracy is
enough.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["minres_core", "MinresOutcome", "rounding_floor", "FLOOR_C"]

#: Multiple of the unit roundoff in the rounding floor of a computed residual (:func:`rounding_floor`).
FLOOR_C = 16.0
_U = float(np.finfo(float).eps) / 2


def rounding_floor(anorm: float, xnorm: float, bnorm: float) -> float:
    """The rounding floor of a computed residual ||Ax - b||: FLOOR_C u (||A|| ||x|| + ||b||)."""
    return FLOOR_C * _U * (anorm * xnorm + bnorm)


@dataclasses.dataclass
class MinresOutcome:
    """x (the best iterate), its true residual norm, iterations, whether ``target`` (or the floor) was met, and
    why not: ``"budget"``, ``"floor"``, ``"preconditioner"`` (P not positive definite) or ``"singular"`` (a
    breakdown: A singular on the Krylov space)."""

    x: np.ndarray
    residual: float
    nit: int
    ok: bool
    reason: str = ""


def minres_core(matvec, b, *, x0, psolve, target, maxiter, anorm, stall=50) -> MinresOutcome:
    """MINRES on symmetric ``matvec`` (A) with SPD preconditioner ``psolve`` (P⁻¹), from ``x0``, on clean input.

    Stops when ||Ax - b|| <= max(target, rounding_floor(anorm, ||x||, ||b||)); ``anorm`` is an estimate of ||A||_2
    from above. No validation and no warning: numopt's solvers report the outcome themselves.
    """
    bnorm = float(np.linalg.norm(b))

    def floor(x_):
        return rounding_floor(anorm, float(np.linalg.norm(x_)), bnorm)

    def true_res(x_):
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.linalg.norm(matvec(x_) - b))

    x = np.array(x0, dtype=np.float64)
    r1 = b - matvec(x)
    res = float(np.linalg.norm(r1))
    if res <= target or res <= floor(x):
        return MinresOutcome(x, res, 0, True)
    y = psolve(r1)
    beta1 = float(r1 @ y)
    if not beta1 > 0:
        return MinresOutcome(x, res, 0, False, "preconditioner")
    beta1 = math.sqrt(beta1)
    oldb, beta, dbar, epsln, phibar = 0.0, beta1, 0.0, 0.0, beta1
    cs, sn = -1.0, 0.0
    w = np.zeros_like(b)
    w2 = np.zeros_like(b)
    r2 = r1
    it = 0
    best = (res, x)
    best_it = 0
    reason = "budget"
    while it < maxiter:
        it += 1
        v = y / beta
        y = matvec(v)
        if it >= 2:
            y = y - (beta / oldb) * r1
        alfa = float(v @ y)
        y = y - (alfa / beta) * r2
        r1, r2 = r2, y
        y = psolve(r2)
        oldb = beta
        beta2 = float(r2 @ y)
        if beta2 < 0 or not math.isfinite(beta2):
            break
        beta = math.sqrt(beta2)
        oldeps = epsln
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = -cs * beta
        gamma = max(math.hypot(gbar, beta), 1e-300)
        cs, sn = gbar / gamma, beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        w1, w2 = w2, w
        with np.errstate(over="ignore", invalid="ignore"):
            w = (v - oldeps * w1 - delta * w2) / gamma
            x = x + phi * w
        res = true_res(x)
        if not math.isfinite(res):  # a breakdown (A singular on the Krylov space)
            reason = "singular"
            break
        if res <= 0.5 * best[0]:
            best_it = it
        if res < best[0]:
            best = (res, x)
        if res <= target or res <= floor(x):
            return MinresOutcome(x, res, it, True)
        # The recurrences claim convergence (or the true residual has not halved in `stall` iterations) while the
        # true residual stays above the target: rounding errors, not the iteration count, limit it now.
        if beta == 0.0 or phibar <= 1e-15 * beta1 or it - best_it >= stall:
            reason = "floor"
            break
    res, x = best
    ok = res <= target
    return MinresOutcome(x, res, it, ok, "" if ok else reason)
