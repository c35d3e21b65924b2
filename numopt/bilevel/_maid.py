r"""MAID: the method of adaptive inexact descent for bilevel learning (Salehi, Mukherjee, Roberts, Ehrhardt 2023).

The outer loop (Alg. 3.1) is split into three pieces that share one :class:`_State`:
:func:`_inexact_gradient` (Alg. 3.2: lower solve to ε, adjoint CG to δ, z and its bound ω, shrink ε, δ until
ω ≤ (1-η)‖z‖), :func:`_line_search` (the inexact sufficient-decrease test of Lemma 3.5 with U_up/U_low) and
:func:`maid`, which validates, runs the rounds, and builds the :class:`BilevelResult`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from .._result import IterationPrinter, Result, Status, call_callback, finish
from .._validation import as_float_array, check_bool, check_callable, check_int, check_scalar, fail
from ._oracle import Lower, Oracle, Stop, Upper, error_bound
from ._problem import BilevelProblem

__all__ = ["maid", "hypergradient", "Hypergradient", "BilevelResult", "Constants", "CONSTANTS"]

FUNC = "maid"


@dataclasses.dataclass(frozen=True)
class Constants:
    """The algorithm's constants, with the paper's symbols (Alg. 3.1/3.2, Lemma 3.5).

    Attributes
    ----------
    nu : float
        ν, the factor shrinking ε and δ when ω > (1-η)‖z‖ or when a line search fails (paper and authors' code: 0.5).
    nu_bar : float
        ν̄, the factor relaxing ε and δ after an accepted step (authors: 1.05 for TV/FoE/MNIST, 1.25 for the
        quadratic). 1.25 here: ε then falls back to O(‖∇f‖²) in a few shrinks when it must.
    rho : float
        ρ, the backtracking factor of the step (authors' experiments: 0.5).
    rho_bar : float
        ρ̄, the step growth after an accepted step (authors: 10/9; deepinv PR: 1.2). 1.25 here.
    eta : float
        η, the descent margin of Alg. 3.2: z is accepted when ω ≤ (1-η)‖z‖, which implies
        ⟨∇f, z⟩ ≥ η‖z‖². 0.1 here (authors: 1e-4; deepinv PR: 0.5).
    armijo : float
        λ of Lemma 3.5's test f(θ⁺) ≤ f(θ) - λα‖z‖² (must be < η; authors: η² = 1e-8). 1e-4 here.
    J0 : int
        J₀, the initial number of backtracking steps per accuracy level (grows by 1 per refinement; authors: 10).
    memory : int
        Not in the paper: m, the number of (s, y) pairs of the limited-memory BFGS metric that turns z into the
        search direction p = H_m z (two-loop recursion, initial scaling sᵀy/yᵀy); 0 gives the paper's steps
        along -z. The step is certified for p as for z: p is used when ω‖p‖ ≤ (1-η)⟨z, p⟩ (which implies
        ⟨∇f, p⟩ ≥ η⟨z, p⟩ > 0), else the round falls back to p = z (then Alg. 3.2's test ω ≤ (1-η)‖z‖ holds), so
        the metric never asks for a tighter ε than the paper's method. 5 here.
    kappa_growth : float
        Not in the paper: a trial θ⁺ whose lower-level condition number L/μ exceeds ``kappa_growth`` times the
        current one is rejected without solving (counted as a failed test). With θ the log of weights a long
        first step can ask for e^50, whose lower solve would spend the whole budget; 16 limits the growth of
        the FISTA iteration count (∝ √(L/μ)) to 4x per step.
    metric_growth : float
        Not in the paper: the first trial step along a metric direction p is α = min(1, g·max‖s‖/‖p‖), g =
        ``metric_growth``, so it moves at most g times the longest step in the (s, y) memory. A pair with small
        curvature sᵀy (noisy z differences) can make H_m z huge: without the cap a trial step of about 700 in θ asked
        for e^700 (an overflow) on a per-feature ridge. 10 here.
    """

    nu: float = 0.5
    nu_bar: float = 1.25
    rho: float = 0.5
    rho_bar: float = 1.25
    eta: float = 0.1
    armijo: float = 1e-4
    J0: int = 10
    memory: int = 5
    kappa_growth: float = 16.0
    metric_growth: float = 10.0


#: The constants :func:`maid` uses.
CONSTANTS = Constants()

_HISTORY_KEYS = ("fun", "eps", "delta", "omega", "step", "accepted", "grad_norm", "n_lower", "n_linear")


@dataclasses.dataclass(kw_only=True, repr=False)
class BilevelResult(Result):
    r"""Result of :func:`maid`.

    Attributes
    ----------
    x, theta : ndarray
        The learned hyperparameters θ (shape of ``theta0``); ``x`` is the same array.
    x_lower : ndarray
        The lower-level solution at θ, from a final tight solve (to the rounding level of the lower solver).
    fun : float
        The upper loss :math:`g(\tilde x(\theta))` re-evaluated after that tight solve (never the value at the
        looser iterate of the last round).
    grad_norm : float
        ‖z‖ of the last inexact hypergradient; ``grad_norm + omega`` bounds ‖∇f(θ)‖ (when certified).
    omega : float
        The a-posteriori error bound ω (Thm 2.1) of that hypergradient.
    eps, delta : float
        The lower-level and adjoint accuracies ε, δ in force at the end.
    nit : int
        Accepted outer steps.
    n_lower, n_linear : int
        Total lower-level (FISTA) and CG iterations, line-search trials included; ``budget`` caps their sum.
        The final tight solve for ``fun`` is counted apart, in ``n_lower_final``.
    n_lower_final : int
        Iterations of that final tight solve.
    certified : bool
        True when every ω used exact constants (‖J‖, L_H, L_J supplied by the problem); False when any was
        estimated, so the descent certificate is heuristic.
    history : dict of ndarray
        One entry per round (an inexact gradient and its line search): ``"fun"`` (g(x̃) at the round's θ,
        within ‖∇g‖ε + L_g ε²/2 of f), ``"eps"``, ``"delta"``, ``"omega"``, ``"step"`` (the last step tried,
        the accepted one when ``"accepted"``), ``"accepted"``, ``"grad_norm"`` (‖z‖), and the cumulative
        ``"n_lower"``, ``"n_linear"``.
    """

    theta: np.ndarray = None
    x_lower: np.ndarray = None
    fun: float = math.nan
    grad_norm: float = math.nan
    omega: float = math.nan
    eps: float = math.nan
    delta: float = math.nan
    n_lower: int = 0
    n_linear: int = 0
    n_lower_final: int = 0
    certified: bool = False
    history: dict = dataclasses.field(default_factory=dict)


class _Gradient(NamedTuple):
    """One inexact hypergradient (Alg. 3.2) at the state's θ, and the certified interval of f(θ)."""

    z: np.ndarray
    z_norm: float
    omega: float
    upper: Upper
    eps_eff: float
    converged: bool
    f_low: float
    f_up: float
    delta_ratio: float
    p: np.ndarray = None      # the search direction (θ⁺ = θ - αp): z, or the limited-memory BFGS metric applied to z
    zp: float = math.nan      # ⟨z, p⟩
    p_norm: float = math.nan  # ‖p‖
    metric: bool = False      # p came from the (s, y) memory (then the first trial step is 1)


def _f_interval(up: Upper, lower: Lower, eps_eff: float, q, residual: float, mu: float, L_g: float, L_H: float,
                convex: bool, upper_only: bool = False) -> tuple[float, float]:
    r"""Certified bounds [U_low, U_up] on f(θ) = g(x̂) from a lower iterate x̃ with ‖x̃ - x̂‖ ≤ ε.

    Lemma 3.5: U_up = g + ‖∇g‖ε + L_g ε²/2 and U_low = g - ‖∇g‖ε - L_g ε²/2 (no ε² term for convex g,
    Remark 3.6). Chosen here, and intersected with those: the goal-oriented estimate
    ĝ = g(x̃) - ⟨q, ∇ₓh(x̃)⟩, with q any vector of residual ρ = ‖H(x̃)q - ∇g(x̃)‖, satisfies
    :math:`|g(\hat x) - \hat g| \le \rho\varepsilon + \varepsilon^2 (L_g/2 + \|\nabla g\| L_H/(2\mu))`
    (since x̂ - x̃ = -H̄⁻¹∇ₓh(x̃) with H̄ the mean Hessian on the segment, ‖H̄ - H(x̃)‖ ≤ L_H ε/2), an
    interval of width O(ε² + ρε) instead of O(ε): the line search then needs ε = O(‖∇f‖), not O(‖∇f‖²).
    """
    e = eps_eff
    up_paper = up.value + up.grad_norm * e + 0.5 * L_g * e * e
    low_paper = up.value - up.grad_norm * e - (0.0 if convex else 0.5 * L_g * e * e)
    if q is None or lower.grad is None or not math.isfinite(residual):
        return low_paper, up_paper
    g_hat = up.value - float(q @ lower.grad)
    err = residual * e + e * e * (0.5 * L_g + 0.5 * up.grad_norm * L_H / mu)
    return max(low_paper, g_hat - err), min(up_paper, g_hat + err)


@dataclasses.dataclass
class _State:
    theta: np.ndarray
    lower: Lower
    eps: float
    delta: float
    step: float | None
    q: np.ndarray | None = None
    nit: int = 0
    last_tried: float = 0.0
    last_residual: float = math.nan
    gradient: _Gradient | None = None
    pairs: list = dataclasses.field(default_factory=list)   # the (s, y) memory of the metric, newest last
    pending: tuple | None = None                             # (s, z) of the last accepted step, until z⁺ is known
    history: dict = dataclasses.field(default_factory=lambda: {k: [] for k in _HISTORY_KEYS})


def _shrink(ora: Oracle, st: _State, c: Constants, why: str) -> None:
    """ε ← νε, δ ← νδ, floored at the rounding level; at the floor already, stop with ROUNDING_FLOOR."""
    floor = ora.eps_floor(st.theta, st.lower.x)
    if st.eps <= floor * (1 + 1e-12):
        g = st.gradient
        raise Stop(Status.ROUNDING_FLOOR,
                   f"{why} at eps = {st.eps:.3g}, the lower solver's rounding level (100 u L |x| / mu); "
                   f"|z| + omega = {g.z_norm + g.omega:.3g} bounds |grad f| there. A smaller `tol` cannot be certified "
                   "in double precision for this problem's scaling.")
    st.eps = max(c.nu * st.eps, floor)
    # Chosen here: δ follows ε, but never above the value that makes the δ term of ω equal to its ε term
    # (ω = a·ε + (‖J‖/μ)·δ + O(ε²)); when the adjoint dominates the bound, halving ε alone would not help.
    st.delta = min(c.nu * st.delta, st.gradient.delta_ratio * st.eps) if st.gradient else c.nu * st.delta


def _two_loop(pairs, z):
    """The limited-memory BFGS inverse metric applied to z (two-loop recursion, H₀ = sᵀy/yᵀy of the newest pair)."""
    q = z.copy()
    coef = []
    for s, y, sy in reversed(pairs):
        a = float(s @ q) / sy
        q -= a * y
        coef.append(a)
    s, y, sy = pairs[-1]
    q *= sy / float(y @ y)
    for (s, y, sy), a in zip(pairs, reversed(coef)):
        q += (a - float(y @ q) / sy) * s
    return q


def _push_pair(st: _State, z_new: np.ndarray, c: Constants) -> None:
    """Store (s, y) = (θ⁺ - θ, z⁺ - z) when its curvature sᵀy is clearly positive (else the pair is skipped)."""
    s, z_old = st.pending
    st.pending = None
    y = z_new - z_old
    sy = float(s @ y)
    if sy > 1e-8 * float(np.linalg.norm(s)) * float(np.linalg.norm(y)) and sy > 0:
        st.pairs.append((s, y, sy))
        del st.pairs[:-c.memory]


def _direction(st: _State, z: np.ndarray, z_norm: float, omega: float, c: Constants):
    """(p, ⟨z,p⟩, ‖p‖, from the metric?) certified as a descent direction, or None when even p = z is not.

    p = H_m z is used when ω‖p‖ ≤ (1-η)⟨z, p⟩, which gives ⟨∇f, p⟩ ≥ ⟨z, p⟩ - ω‖p‖ ≥ η⟨z, p⟩; otherwise the
    scaled gradient γz (γ = sᵀy/yᵀy, or 1 without memory) when Alg. 3.2's test ω ≤ (1-η)‖z‖ holds.
    """
    if st.pairs:
        p = _two_loop(st.pairs, z)
        zp, p_norm = float(z @ p), float(np.linalg.norm(p))
        if zp > 0 and omega * p_norm <= (1.0 - c.eta) * zp:
            return p, zp, p_norm, True
    if omega <= (1.0 - c.eta) * z_norm:
        gamma = st.pairs[-1][2] / float(st.pairs[-1][1] @ st.pairs[-1][1]) if st.pairs else 1.0
        return gamma * z, gamma * z_norm * z_norm, gamma * z_norm, bool(st.pairs)
    return None


def _inexact_gradient(ora: Oracle, st: _State, c: Constants, tol: float, fixed: bool) -> _Gradient:
    """Alg. 3.2: z with ω ≤ (1-η)‖z‖ (or ‖z‖ + ω ≤ tol), shrinking ε, δ by ν as needed; and the direction p."""
    L_g = ora.L_g()
    while True:
        mu = ora.mu(st.theta)
        if st.lower.grad_norm > mu * st.eps:
            st.lower = ora.solve(st.theta, st.lower.x, st.eps)
        eps_eff = st.lower.grad_norm / mu  # certified ‖x̃ - x̂‖ ≤ ‖∇ₓh‖/μ ≤ ε
        up = ora.upper(st.lower.x)
        delta = max(st.delta, 1000 * np.finfo(float).eps * up.grad_norm)
        st.q, residual = ora.adjoint(st.lower.x, st.theta, up.grad, delta, st.q)
        st.last_residual = residual
        z = -ora.cross(st.lower.x, st.theta, st.q)
        z_norm = float(np.linalg.norm(z))
        if st.pending is not None:
            _push_pair(st, z, c)
        J_norm, L_H, L_J = ora.constants(st.lower.x, st.theta, eps_eff)
        omega = error_bound(eps_eff, residual, mu=mu, J_norm=J_norm, L_g=L_g, L_H=L_H, L_J=L_J,
                            g_grad_norm=up.grad_norm)
        converged = z_norm + omega <= tol
        f_low, f_up = _f_interval(up, st.lower, eps_eff, st.q, residual, mu, L_g, L_H, ora.upper_convex)
        # the ε-coefficient of ω over its δ-coefficient ‖J‖/μ: δ = ratio·ε balances the two terms
        ratio = (omega - J_norm * residual / mu) / (eps_eff * J_norm / mu) if eps_eff > 0 and J_norm > 0 else 1.0
        ratio = min(max(ratio, 1e-3), 1e3) if math.isfinite(ratio) else 1.0
        d = _direction(st, z, z_norm, omega, c)
        if d is None and (converged or fixed):   # the fixed-ε baseline does not test ω
            p = _two_loop(st.pairs, z) if st.pairs else z
            d = (p, float(z @ p), float(np.linalg.norm(p)), bool(st.pairs))
        st.gradient = _Gradient(z, z_norm, omega, up, eps_eff, converged, f_low, f_up, ratio,
                                *(d if d is not None else (z, z_norm * z_norm, z_norm, False)))
        if d is not None:
            return st.gradient
        _shrink(ora, st, c, "The error bound omega stayed above (1 - eta)|z|")


def _line_search(ora: Oracle, st: _State, c: Constants, J: int) -> tuple[float, Lower] | None:
    """Backtracking with the inexact sufficient-decrease test of Lemma 3.5; (step, lower at θ⁺) or None.

    Trial θ⁺ = θ - αρʲ z, j < J: solve the lower level at θ⁺ to ε (warm start) and accept when
    ``U_up(x̃⁺, ε⁺) - U_low(x̃, ε) + λα‖z‖² ≤ 0`` with U_up = g + ‖∇g‖ε + L_g ε²/2 and
    U_low = g - ‖∇g‖ε - L_g ε²/2 (without the last term for convex g, Remark 3.6); ε, ε⁺ are the certified
    distances ‖∇ₓh‖/μ, at most the requested ε. The test implies f(θ⁺) ≤ f(θ) - λα‖z‖² for the exact f.
    Chosen here: backtracking stops early once even the first-order decrease α‖z‖(‖z‖ + ω) is below half the
    uncertainty ‖∇g‖ε + ‖∇g⁺‖ε⁺ of the two function values (below the α_min(ε) of Lemma 3.8 no step can pass, so
    further trials only spend lower-level solves); the caller then refines ε, δ.
    """
    g = st.gradient
    L_g = ora.L_g()
    if g.metric:
        longest = max(float(np.linalg.norm(s)) for s, _, _ in st.pairs)
        alpha = min(1.0, c.metric_growth * longest / g.p_norm) if g.p_norm > 0 else 1.0
    else:
        alpha = st.step
    mu0 = ora.mu(st.theta)
    kappa = ora.L(st.theta, mu0) / mu0
    tried = alpha
    for _ in range(J):
        theta_new = st.theta - alpha * g.p
        mu = ora.mu(theta_new)
        if ora.L(theta_new, mu) / mu > c.kappa_growth * kappa:   # too far: rejected without a solve
            tried = alpha
            alpha *= c.rho
            continue
        trial = ora.solve(theta_new, st.lower.x, st.eps)
        e_new = trial.grad_norm / mu
        up = ora.upper(trial.x)
        residual = ora.residual(trial.x, theta_new, st.q, up.grad) if st.q is not None else math.inf
        L_H = ora.L_H(trial.x, theta_new, e_new)
        f_low, f_up = _f_interval(up, trial, e_new, st.q, residual, mu, L_g, L_H, ora.upper_convex)
        tried = alpha
        if f_up - g.f_low + c.armijo * alpha * g.zp <= 0.0:
            return alpha, trial
        noise = 0.5 * ((g.f_up - g.f_low) + (f_up - f_low))
        alpha *= c.rho
        if alpha * (g.zp + g.omega * g.p_norm) < 0.5 * noise:
            break
    st.last_tried = tried
    return None


def _record(st: _State, ora: Oracle, step: float, accepted: bool) -> None:
    g = st.gradient
    h = st.history
    for key, value in (("fun", g.upper.value), ("eps", st.eps), ("delta", st.delta), ("omega", g.omega),
                       ("step", step), ("accepted", accepted), ("grad_norm", g.z_norm), ("n_lower", ora.n_lower),
                       ("n_linear", ora.n_linear)):
        h[key].append(value)


def _run(ora: Oracle, st: _State, c: Constants, *, tol, maxiter, fixed, callback, printer, make_result):
    """The rounds of Alg. 3.1 until a stop; returns (status, detail)."""
    while True:
        J = c.J0
        while True:
            g = _inexact_gradient(ora, st, c, tol, fixed)
            if st.step is None:  # HOAG's rule: the first step moves θ by √d in norm
                st.step = math.sqrt(st.theta.size) / g.z_norm if g.z_norm > 0 else 1.0
            if g.converged:
                _record(st, ora, 0.0, False)
                return Status.SUCCESS, ""
            if st.nit >= maxiter:
                _record(st, ora, 0.0, False)
                return Status.MAXITER, (f"|z| + omega = {g.z_norm + g.omega:.3g} > tol = {tol:.3g} after {st.nit} "
                                        f"steps (eps = {st.eps:.3g}); raise `maxiter` or `budget`.")
            found = _line_search(ora, st, c, J)
            if found is not None:
                break
            _record(st, ora, st.last_tried, False)
            if fixed:
                return Status.STAGNATION, (f"no step passed the sufficient-decrease test at the fixed accuracy "
                                           f"eps = {st.eps:.3g}.")
            _shrink(ora, st, c, "The sufficient-decrease test failed for every step tried")
            J += 1
        step, lower = found
        st.pending = (-step * g.p, g.z) if c.memory > 0 else None
        st.theta = st.theta - step * g.p
        st.lower = lower
        st.nit += 1
        _record(st, ora, step, True)
        if not fixed:
            st.eps *= c.nu_bar
            st.delta *= c.nu_bar
        if not g.metric:
            st.step = c.rho_bar * step
        if printer is not None:
            printer.row(st.nit, g.upper.value, g.z_norm, g.omega, st.eps, step, ora.n_lower, ora.n_linear)
        if callback is not None and call_callback(callback, make_result(Status.MAXITER, "", final=False)):
            return Status.CALLBACK, ""


def _validate(problem, theta0, x0, eps0, delta0, step0, tol, maxiter, budget, callback, verbose, memory):
    if not isinstance(problem, BilevelProblem):
        raise fail(FUNC, "problem", "be a numopt.bilevel.BilevelProblem (subclass it)", type(problem).__name__,
                   error=TypeError)
    theta0 = as_float_array(theta0, "theta0", FUNC, copy=True)
    if theta0.size == 0:
        raise fail(FUNC, "theta0", "have at least one entry", f"shape {theta0.shape}")
    eps0 = check_scalar(eps0, "eps0", FUNC, low=0.0, low_inclusive=False)
    delta0 = check_scalar(delta0, "delta0", FUNC, low=0.0, low_inclusive=False)
    if step0 is not None:
        step0 = check_scalar(step0, "step0", FUNC, low=0.0, low_inclusive=False)
    tol = check_scalar(tol, "tol", FUNC, low=0.0, low_inclusive=False)
    maxiter = check_int(maxiter, "maxiter", FUNC, low=0)
    budget = math.inf if budget is None else check_int(budget, "budget", FUNC, low=1)
    check_callable(callback, "callback", FUNC)
    verbose = check_bool(verbose, "verbose", FUNC)
    memory = check_int(memory, "memory", FUNC, low=0)
    if x0 is None:
        if not hasattr(problem, "lower_x0"):
            raise fail(FUNC, "x0", "be given when the problem defines no lower_x0(theta)", "None", error=TypeError)
        x0 = problem.lower_x0(theta0.copy())
        name = "problem.lower_x0(theta0)"
    else:
        name = "x0"
    x0 = as_float_array(x0, name, FUNC, copy=True)
    return problem, theta0, x0, eps0, delta0, step0, tol, maxiter, budget, verbose, memory


def maid(problem, theta0, *, x0=None, eps0=1e-1, delta0=1e-1, step0=None, tol=1e-6, maxiter=1000, budget=None,
         callback=None, verbose=False, memory=CONSTANTS.memory) -> BilevelResult:
    r"""Learn hyperparameters θ by MAID, a certified inexact gradient method for bilevel problems.

    Solves

    .. math:: \min_\theta f(\theta) = g(\hat x(\theta)), \qquad
              \hat x(\theta) = \arg\min_x h(x, \theta),

    with :math:`h(\cdot,\theta)` μ-strongly convex, by Alg. 3.1 of Salehi et al.: each round solves the lower
    level to :math:`\|\nabla_x h\| \le \mu\varepsilon` (which certifies :math:`\|\tilde x - \hat x\| \le
    \varepsilon`), solves :math:`H q = \nabla g` by :func:`numopt.linalg.cg` to the absolute residual δ, forms
    :math:`z = -J^\top q` and the a-posteriori bound ω ≥ ‖z - ∇f(θ)‖ (Thm 2.1). If ω > (1-η)‖z‖ it halves ε
    and δ; otherwise it backtracks on θ - αp with an inexact sufficient-decrease test (Lemma 3.5) that implies
    a decrease of the *exact* f. The paper's direction is p = z; here p = H_m z, the limited-memory BFGS
    metric of the last ``memory`` steps, whenever ω‖p‖ ≤ (1-η)⟨z, p⟩ certifies it as a descent direction
    (else the scaled z), with the first trial step 1. A failed search halves ε, δ; a success relaxes them by
    ν̄ = 1.25 and grows the step of a -z direction by ρ̄ = 1.25 (see :class:`Constants`). ε therefore adapts
    to O(‖∇f‖²) by itself.

    Parameters
    ----------
    problem : BilevelProblem
        The problem (a subclass of :class:`BilevelProblem`, or one of the ready-made problems).
    theta0 : array_like
        Starting hyperparameters (any shape; the ready-made problems use θ = log of the weights).
    x0 : array_like, optional
        Warm start of the first lower-level solve (default ``problem.lower_x0(theta0)``).
    eps0, delta0 : float
        Initial lower-level accuracy ε₀ (a distance to x̂) and adjoint residual δ₀.
    step0 : float, optional
        Initial step α₀; None means √d/‖z₀‖ (HOAG's rule: the first step moves θ by √d).
    tol : float
        Stop when :math:`\|z\| + \omega \le` ``tol``, a bound on ‖∇f(θ)‖₂ (certified when ``certified``).
    maxiter : int
        Maximum number of accepted outer steps.
    budget : int, optional
        Cap on the total lower-level + CG iterations (the paper's cost measure).
    callback : callable, optional
        ``callback(intermediate_result)`` after each accepted step; raising ``StopIteration`` stops.
    verbose : bool
        Print one row per accepted step.
    memory : int
        Pairs (s, y) of the limited-memory BFGS metric that turns z into the search direction (default 5;
        0 = the paper's steps along -z). Every step stays certified: the metric's direction p is used only when
        ω‖p‖ ≤ (1-η)⟨z, p⟩, else the round steps along the (scaled) -z, so ε is never asked tighter than by
        the paper's method (see :class:`Constants`).

    Returns
    -------
    BilevelResult
        ``status`` is SUCCESS (‖z‖ + ω ≤ tol), ROUNDING_FLOOR (ε reached the lower solver's rounding level
        while more accuracy was needed: as stationary as double precision certifies), MAXITER, BUDGET,
        CALLBACK, NONFINITE (an oracle returned NaN/inf), INNER_SOLVER (the lower solver missed its ε within
        ``problem.lower_maxiter``, or H was not positive definite) or STAGNATION.

    Raises
    ------
    TypeError, ValueError
        Bad arguments; an oracle returning the wrong shape; ``lower_mu`` ≤ 0 or ``lower_L`` < ``lower_mu``.

    Warns
    -----
    numopt.ConvergenceWarning
        When the run stops without success.

    Notes
    -----
    Not in the paper: the metric (``memory``). On an ill-conditioned f the paper's steps along -z zigzag:
    on the B4 TV bench (θ = (log α, log ν), f nearly flat in log ν) they took 36 steps and 8,740 lower+CG
    iterations to reach a 1e-3 relative gap in f, ``memory=5`` 11 steps and 2,311 iterations.
    What the paper leaves open, as chosen here: ε and δ move together; the bounds use the certified distance
    ‖∇ₓh‖/μ of the iterate actually returned (at most ε); ω uses the true CG residual, not the recurrence's;
    the first step is HOAG's √d/‖z₀‖; backtracking stops early below the noise level of the function values;
    the stop test is ‖z‖ + ω ≤ tol, checked on every inexact gradient.

    References
    ----------
    M. S. Salehi, S. Mukherjee, L. Roberts, M. J. Ehrhardt, "An adaptively inexact first-order method for
    bilevel optimization with application to hyperparameter learning", SIAM J. Math. Data Sci. (2025),
    arXiv:2308.10098.

    Examples
    --------
    Scalar ridge regularization learned on a validation split:

    >>> import numpy as np
    >>> from numopt.bilevel import maid, ridge_problem
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((80, 10)); w = rng.standard_normal(10)
    >>> y = X @ w + 0.5 * rng.standard_normal(80)
    >>> res = maid(ridge_problem(X[:60], y[:60], X[60:], y[60:]), np.zeros(1), tol=1e-8)
    >>> res.success, res.certified
    (True, True)
    """
    problem, theta0, x0, eps0, delta0, step0, tol, maxiter, budget, verbose, memory = _validate(
        problem, theta0, x0, eps0, delta0, step0, tol, maxiter, budget, callback, verbose, memory)
    constants = dataclasses.replace(CONSTANTS, memory=memory)
    return finish(_maid(problem, theta0, x0, eps0=eps0, delta0=delta0, step0=step0, tol=tol, maxiter=maxiter,
                        budget=budget, callback=callback, verbose=verbose, constants=constants), FUNC)


def _maid(problem, theta0, x0, *, eps0, delta0, step0, tol, maxiter, budget, callback=None, verbose=False,
          constants: Constants = CONSTANTS, fixed: bool = False) -> BilevelResult:
    """The algorithm on validated input (no warning). ``fixed=True`` freezes ε, δ (the bench's baseline)."""
    ora = Oracle(problem, theta0.shape, x0.shape, budget)
    st = _State(theta=theta0.reshape(-1).copy(), lower=Lower(x0.reshape(-1).copy(), None, math.inf), eps=eps0,
                delta=delta0, step=step0)
    _probe(ora, st)
    printer = (IterationPrinter(["nit", "fun", "|z|", "omega", "eps", "step", "n_lower", "n_linear"])
               if verbose else None)

    def make_result(status, detail, final=True):
        return _result(ora, st, status, detail, final=final)

    try:
        status, detail = _run(ora, st, constants, tol=tol, maxiter=maxiter, fixed=fixed, callback=callback,
                              printer=printer, make_result=make_result)
    except Stop as stop:
        status, detail = stop.status, stop.detail
        if st.gradient is not None and (not st.history["fun"] or st.history["n_lower"][-1] != ora.n_lower):
            _record(st, ora, 0.0, False)
    return make_result(status, detail)


def _probe(ora: Oracle, st: _State) -> None:
    """Check every oracle's output shape once, at (x0, θ0): wrong shapes are a ValueError before any work."""
    x, theta = st.lower.x, st.theta
    mu = ora.mu(theta)
    ora.L(theta, mu)
    ora.L_g()
    try:
        ora.grad_lower(x, theta)
        up = ora.upper(x)
        ora.hessp(x, theta, up.grad)
        ora.cross(x, theta, up.grad)
    except Stop:
        pass  # a NaN at the start is reported by the run itself (NONFINITE), not here


def _result(ora: Oracle, st: _State, status: Status, detail: str, *, final: bool) -> BilevelResult:
    theta = st.theta.reshape(ora.theta_shape).copy()
    g = st.gradient
    x_lower, fun, n_final = st.lower.x, math.nan, 0
    if final:
        x_lower, fun, n_final, note = _tight_fun(ora, st)
        if note:
            detail = f"{detail} {note}".strip()
    elif g is not None:
        fun = g.upper.value
    history = {k: np.asarray(v, dtype=bool if k == "accepted" else (np.int64 if k.startswith("n_") else float))
               for k, v in st.history.items()}
    return BilevelResult(
        x=theta, theta=theta, status=status, nit=st.nit, detail=detail, x_lower=x_lower.reshape(ora.x_shape).copy(),
        fun=fun, grad_norm=g.z_norm if g else math.nan, omega=g.omega if g else math.nan, eps=st.eps,
        delta=st.delta, n_lower=ora.n_lower, n_linear=ora.n_linear, n_lower_final=n_final,
        certified=not ora.estimated, history=history)


def _tight_fun(ora: Oracle, st: _State):
    """Re-solve the lower level at the final θ to its rounding level and evaluate g there (outside the budget)."""
    saved = (ora.n_lower, ora.n_linear, ora.budget)
    ora.budget = math.inf
    try:
        eps = max(ora.eps_floor(st.theta, st.lower.x), 1e-12 * max(1.0, float(np.linalg.norm(st.lower.x))))
        lower = ora.solve(st.theta, st.lower.x, eps) if st.lower.grad_norm > ora.mu(st.theta) * eps else st.lower
        up = ora.upper(lower.x)
        return lower.x, up.value, ora.n_lower - saved[0], ""
    except Stop:
        if not math.isfinite(st.lower.grad_norm):   # no certified iterate at all: no value to report
            return st.lower.x, math.nan, ora.n_lower - saved[0], "`fun` is NaN: no lower-level solve succeeded."
        try:
            value = ora.upper(st.lower.x).value
        except Stop:
            value = math.nan
        return st.lower.x, value, ora.n_lower - saved[0], (
            f"`fun` is g at the last certified lower iterate (eps = {st.lower.grad_norm / ora.mu(st.theta):.3g}); "
            "the final tight solve failed.")
    finally:
        ora.n_lower, ora.n_linear, ora.budget = saved


class Hypergradient(NamedTuple):
    """An inexact hypergradient z ≈ ∇f(θ) with its error bound ω ≥ ‖z - ∇f(θ)‖ (Thm 2.1)."""

    z: np.ndarray
    omega: float
    x_lower: np.ndarray
    eps: float
    delta: float
    n_lower: int
    n_linear: int
    certified: bool


def hypergradient(problem, theta, *, x0=None, eps=1e-8, delta=1e-8) -> Hypergradient:
    r"""One inexact hypergradient at θ: lower level to ‖∇ₓh‖ ≤ μ·``eps``, adjoint CG to residual ``delta``.

    Returns z = -J(x̃, θ)ᵀq and the a-posteriori bound ω of Thm 2.1 (certified when ``certified``), with
    the certified distance ``eps`` = ‖∇ₓh(x̃)‖/μ actually reached and the true residual ``delta`` of q.

    >>> import numpy as np
    >>> from numopt.bilevel import ridge_problem
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 5)); y = X @ np.ones(5) + rng.standard_normal(40)
    >>> p = ridge_problem(X[:30], y[:30], X[30:], y[30:])
    >>> hg = hypergradient(p, np.array([1.0]), eps=1e-10, delta=1e-10)
    >>> bool(np.linalg.norm(hg.z - p.exact_gradient(np.array([1.0]))) <= hg.omega)
    True
    """
    func = "hypergradient"
    if not isinstance(problem, BilevelProblem):
        raise fail(func, "problem", "be a numopt.bilevel.BilevelProblem (subclass it)", type(problem).__name__,
                   error=TypeError)
    theta = as_float_array(theta, "theta", func, copy=True)
    eps = check_scalar(eps, "eps", func, low=0.0, low_inclusive=False)
    delta = check_scalar(delta, "delta", func, low=0.0, low_inclusive=False)
    if x0 is None:
        if not hasattr(problem, "lower_x0"):
            raise fail(func, "x0", "be given when the problem defines no lower_x0(theta)", "None", error=TypeError)
        x0 = problem.lower_x0(theta.copy())
    x0 = as_float_array(x0, "x0", func, copy=True)
    ora = Oracle(problem, theta.shape, x0.shape, math.inf)
    st = _State(theta=theta.reshape(-1), lower=Lower(x0.reshape(-1), None, math.inf), eps=eps, delta=delta,
                step=None)
    try:
        g = _inexact_gradient(ora, st, CONSTANTS, 0.0, True)
    except Stop as stop:
        raise ValueError(f"{func}: {stop.status.value} {stop.detail}") from None
    residual = st.last_residual
    return Hypergradient(g.z.reshape(theta.shape), g.omega, st.lower.x.reshape(x0.shape), g.eps_eff, residual,
                         ora.n_lower, ora.n_linear, not ora.estimated)
