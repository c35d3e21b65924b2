"""AdaSketch-Newton: adaptive inexact Newton on an exact augmented Lagrangian (Hong, Na, Mahoney, Kolar 2023)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .._blas import single_blas_thread
from .._result import IterationPrinter, Result, Status, call_callback, finish
from .._validation import (
    as_float_array,
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_no_extra,
    check_rng,
    check_scalar,
    fail,
)
from ._inner import DirectInner, KKTSystem, MinresInner, SchurCGInner, SketchInner, matrix_diagonal
from ._merit import merit_value
from ._oracles import Oracles, finite_matrix, matrix_kind

__all__ = ["minimize", "ConstrainedResult", "METHODS", "SKETCHES"]

FUNC = "minimize"

#: ``sketch=`` choices (``"auto"`` picks one of the others).
SKETCHES = ("auto", "kaczmarz", "block_kaczmarz", "gaussian", "minres", "schur_cg", "direct")
_THETAS = ("auto", "superlinear")
_ACCURACY = ("practical", "paper")
_LAPLACIAN = ("auto", "splu", "amg")
#: Problems with n at most this size get the exact (dense) reduced-Hessian and Jacobian-rank checks.
DENSE_CHECK_LIMIT = 1000
#: ``sketch="auto"`` picks the direct solver up to this KKT size n + m.
AUTO_DIRECT_LIMIT = 3000
_MU_MAX, _NU_MIN = 1e8, 1e-8
#: Default inner budget per outer iteration. A Kaczmarz step is one Numba row update, hence the large
#: budget; a Gaussian step is a NumPy sketch and lstsq, each far costlier.
_INNER_BUDGET = {"kaczmarz": 10_000_000, "block_kaczmarz": 10_000_000, "gaussian": 1_000_000, "minres": 1000,
                 "schur_cg": 1000, "direct": 1}
_EPS = float(np.finfo(float).eps)
#: Steady linear rate for the extrapolated step: consecutive Newton steps within this angle (cosine), ratios
#: in this range (so the step is at most 10 times the Newton step) and agreeing to this relative difference.
_AITKEN_COS, _AITKEN_R, _AITKEN_DR = 0.99, (0.3, 0.9), 0.05


@dataclasses.dataclass(kw_only=True, repr=False)
class ConstrainedResult(Result):
    """Result of :func:`minimize`.

    Attributes
    ----------
    x : ndarray
        The last iterate.
    multipliers : ndarray
        Lagrange multipliers λ for the convention :math:`L = f + \\lambda^\\top c`.
    fun : float
        f(x).
    kkt_residual : float
        :math:`\\|(\\nabla_x L(x,\\lambda), c(x))\\|_2` of the problem as given (absolute).
    scaled_kkt_residual : float
        :math:`\\|(\\sigma\\nabla_x L(x,\\lambda), c(x))\\|_2`, the quantity ``tol`` bounds (σ =
        ``objective_scale``; equal to ``kkt_residual`` when σ = 1).
    objective_scale : float
        σ, the power of two the objective was multiplied by internally (see ``tol`` in :func:`minimize`).
    constraint_violation : float
        :math:`\\|c(x)\\|_2`.
    nfev, njev, nhev : int
        Evaluations of (f, c) together, of (∇f, ∇c) together and of the Lagrangian Hessian.
    inner_iterations : int
        Total inner iterations: sketch-and-project steps, Krylov iterations or LU solves.
    sketch : str
        The inner solver used (``"auto"`` resolved; ``"direct"`` once the solver ``"auto"`` chose failed and handed
        over to the factorization of the KKT matrix).
    mu_history, nu_history, delta_history : ndarray
        Penalty parameters μ, ν and accuracy δ in force at each outer iteration (length ``nit + 1``; the last
        entry is the final value).
    kkt_history : ndarray
        ``kkt_residual`` (absolute) at x0 and after every outer iteration.
    history : dict of ndarray
        Per outer iteration: ``"alpha"`` (step length), ``"inner"`` (inner iterations), ``"theta"``,
        ``"modified"`` (Hessian shift ω, 0 when unmodified), ``"rho"`` (dual regularisation, 0 when off),
        ``"shifts"`` (rounds of the step-length safeguard). α > 1 marks an extrapolated step.
    """

    multipliers: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))
    fun: float = math.nan
    kkt_residual: float = math.nan
    scaled_kkt_residual: float = math.nan
    objective_scale: float = 1.0
    constraint_violation: float = math.nan
    nfev: int = 0
    njev: int = 0
    nhev: int = 0
    inner_iterations: int = 0
    sketch: str = ""
    mu_history: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))
    nu_history: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))
    delta_history: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))
    kkt_history: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))
    history: dict = dataclasses.field(default_factory=dict)


_OPTIONS = dict(mu0=1.0, nu0=0.1, delta0=0.1, beta=0.1, factor=1.5, xi_B=0.1, delta_min=1e-6, theta="auto",
                accuracy="practical", inner_maxiter=None, sampling="row_norm", block_size=None, check_every=None,
                lambda0=None, warm_start=True, hess_tol=1e-8, rank_tol=1e-8, max_backtracks=40, laplacian_solver="auto",
                shift_below=0.25, max_shifts=8, extrapolate=True, soc=True)


def _options(opts: dict, n: int) -> dict:
    check_no_extra(opts, FUNC, _OPTIONS)
    o = dict(_OPTIONS)
    o.update(opts)
    o["mu0"] = check_scalar(o["mu0"], "mu0", FUNC, low=0.0, low_inclusive=False)
    o["nu0"] = check_scalar(o["nu0"], "nu0", FUNC, low=0.0, low_inclusive=False)
    o["delta0"] = check_scalar(o["delta0"], "delta0", FUNC, low=0.0, high=1.0, low_inclusive=False,
                               high_inclusive=False)
    o["beta"] = check_scalar(o["beta"], "beta", FUNC, low=0.0, high=0.5, low_inclusive=False, high_inclusive=False)
    o["factor"] = check_scalar(o["factor"], "factor", FUNC, low=1.0, low_inclusive=False)
    o["xi_B"] = check_scalar(o["xi_B"], "xi_B", FUNC, low=0.0, low_inclusive=False)
    o["delta_min"] = check_scalar(o["delta_min"], "delta_min", FUNC, low=0.0, high=o["delta0"], low_inclusive=False)
    o["hess_tol"] = check_scalar(o["hess_tol"], "hess_tol", FUNC, low=0.0)
    o["rank_tol"] = check_scalar(o["rank_tol"], "rank_tol", FUNC, low=0.0)
    o["max_backtracks"] = check_int(o["max_backtracks"], "max_backtracks", FUNC, low=1)
    o["shift_below"] = check_scalar(o["shift_below"], "shift_below", FUNC, low=0.0, high=1.0, high_inclusive=False)
    o["max_shifts"] = check_int(o["max_shifts"], "max_shifts", FUNC, low=0)
    o["extrapolate"] = check_bool(o["extrapolate"], "extrapolate", FUNC)
    o["soc"] = check_bool(o["soc"], "soc", FUNC)
    o["warm_start"] = check_bool(o["warm_start"], "warm_start", FUNC)
    o["accuracy"] = check_choice(o["accuracy"], "accuracy", FUNC, _ACCURACY)
    o["sampling"] = check_choice(o["sampling"], "sampling", FUNC, ("row_norm", "uniform"))
    o["laplacian_solver"] = check_choice(o["laplacian_solver"], "laplacian_solver", FUNC, _LAPLACIAN)
    th = o["theta"]
    if isinstance(th, str):
        check_choice(th, "theta", FUNC, _THETAS)
    elif callable(th):
        pass
    else:
        o["theta"] = check_scalar(th, "theta", FUNC, low=0.0, high=1.0, low_inclusive=False)
    for key in ("inner_maxiter", "block_size", "check_every"):
        if o[key] is not None:
            o[key] = check_int(o[key], key, FUNC, low=1)
    if o["lambda0"] is not None:
        o["lambda0"] = as_float_array(o["lambda0"], "lambda0", FUNC, ndim=1, copy=True)
    return o


def _is_diagonal(H) -> np.ndarray | None:
    """diag(H) when H (dense or sparse) has no off-diagonal nonzero, else None."""
    kind = matrix_kind(H)
    if kind == "sparse":
        C = H.tocoo()
        off = C.row != C.col
        if off.any() and np.any(C.data[off] != 0):
            return None
        return H.diagonal()
    if kind == "dense" and H.shape[0] <= DENSE_CHECK_LIMIT:
        d = np.diag(H)
        if np.count_nonzero(H) == np.count_nonzero(d):
            return d.copy()
    return None


def _dense(A):
    kind = matrix_kind(A)
    if kind == "dense":
        return A
    if kind == "sparse":
        return A.toarray()
    return A @ np.eye(A.shape[1])


def _add_shift(H, omega):
    if omega == 0.0:
        return H
    kind = matrix_kind(H)
    n = H.shape[0]
    if kind == "dense":
        return H + omega * np.eye(n)
    if kind == "sparse":
        return (H + omega * sp.identity(n, format="csr")).tocsr()
    from scipy.sparse.linalg import aslinearoperator

    return H + omega * aslinearoperator(sp.identity(n, format="csr"))


class _Geometry:
    """Small-problem quantities for the Hessian modification, the rank safeguard and the paper's ψ test.

    Its dense factorizations (n <= 1000) run with one BLAS thread: OpenBLAS's threads cost far more than they bring
    on such small matrices (e.g. the SVD of the 11 x 123 Jacobian of the logistic problem).
    """

    @single_blas_thread()
    def __init__(self, H, G, o, curvature_scale=0.0, reduced=False):
        Gd, Hd = _dense(G), _dense(H)
        m, n = Gd.shape
        # one SVD of G gives its rank, sigma_min and (rows of vt past the rank) an orthonormal basis of null(G)
        if reduced:
            _, s, vt = np.linalg.svd(Gd, full_matrices=True)
        else:
            s = np.linalg.svd(Gd, compute_uv=False)
        self.sigma_max = float(s[0]) if s.size else 0.0
        self.sigma_min = float(s[min(m, n) - 1]) if s.size else 0.0
        self.rank_deficient = m > n or self.sigma_min <= o["rank_tol"] * max(1.0, self.sigma_max)
        Hs = 0.5 * (Hd + Hd.T)
        self._Hs = Hs
        self._h_norm = None
        self.omega = 0.0
        if reduced and m < n:
            # The sketching solvers' shift (kept from before issue 12: their contraction rate needs a well
            # conditioned K, which IPOPT's small decaying shift does not give)
            rank = int(np.count_nonzero(s > max(m, n) * _EPS * max(self.sigma_max, 1e-300))) if s.size else 0
            Z = vt[rank:].T
            if Z.shape[1]:
                lmin = float(np.linalg.eigvalsh(Z.T @ Hs @ Z)[0])
                self.reduced_min = lmin
                # ||H||_F >= ||H||_2: the full eigenvalue computation is needed only when this cheap bound cannot
                # settle the test
                if lmin <= o["hess_tol"] * float(np.linalg.norm(Hs)) and lmin <= o["hess_tol"] * self.h_norm:
                    # numerically singular or indefinite: lambda_min(Z'(H + omega I)Z) >= xi_B max(||H||, s) since
                    # lmin >= -||H||, s = ||grad f|| / max(||x||, 1) a curvature scale of f (the reference
                    # code's xi_B + ||H||, made relative; a shift relative to a tiny ||H|| alone leaves the KKT
                    # matrix as ill-conditioned as H, which the sketches cannot solve: min c'x on the sphere
                    # at lambda ~ -4e-3 gave cond(K) = 4e3)
                    scale = max(self.h_norm, curvature_scale)
                    self.omega = self.h_norm + o["xi_B"] * scale if scale > 0 else o["xi_B"]
        self.Hd = Hd
        self.Gd = Gd

    @property
    def h_norm(self) -> float:
        """||H||_2 (computed on first use)."""
        if self._h_norm is None:
            with single_blas_thread():
                self._h_norm = float(np.abs(np.linalg.eigvalsh(self._Hs)).max())
        return self._h_norm


#: Inertia-correcting shift delta_w (IPOPT's rule, relative to the curvature scale of :func:`_curvature_scale`):
#: first trial, floor, growth after a failure (when an earlier iteration needed one / when none did), trials.
_DW_FIRST, _DW_MIN, _DW_GROW, _DW_GROW_FIRST, _DW_TRIES = 1e-4, 1e-20, 8.0, 100.0, 40


def _next_dw(dw, dw_last, scale) -> float:
    """IPOPT's next trial delta_w after a wrong inertia: from 0 to max(delta_min, delta_w_last / 3) (or the first
    trial 1e-4 when no iteration needed one yet); otherwise 8 times larger (100 times when no earlier one)."""
    if dw == 0.0:
        return max(_DW_MIN * scale, dw_last / 3.0) if dw_last > 0 else _DW_FIRST * scale
    return dw * (_DW_GROW if dw_last > 0 else _DW_GROW_FIRST)


def _raise_dw(H, omega, diag, dw, dw_last, scale):
    """delta_w one trial up (:func:`_next_dw`); the Hessian shift ``omega``, the KKT system's ``diag`` (when
    given) and the shifted Hessian follow it. Returns (omega, diag, dw, B)."""
    new = _next_dw(dw, dw_last, scale)
    omega += new - dw
    if diag is not None:
        diag = diag + (new - dw)
    return omega, diag, new, _add_shift(H, omega)


def _curvature_scale(H, g, x) -> float:
    """A scale of the Lagrangian's curvature for the relative shift and curvature test: the largest of max|H_ii|,
    ||H||_F / sqrt(n) (explicit H) and ||grad f|| / max(||x||, 1) (a curvature scale of f), 1 when all vanish."""
    from ._inner import _fro

    d = matrix_diagonal(H)
    top = float(np.abs(d).max()) if d is not None and d.size else 0.0
    fro = _fro(H)
    if fro is not None:
        top = max(top, fro / math.sqrt(H.shape[0]))
    top = max(top, float(np.linalg.norm(g)) / max(float(np.linalg.norm(x)), 1.0))
    return top if top > 0 and math.isfinite(top) else 1.0


def _curvature_ok(inner, b, dx, B, kappa, n, m) -> bool:
    """Whether B may be used: the inertia (n, m, 0) of K when the inner solver's factorization gives it (dense
    LDLᵀ: Z'BZ positive definite, IPOPT's test); else the curvature along the step's tangential part t,
    t'Bt > kappa |t|², with t = K^{-1}(b_1, 0) from a sparse factorization or t = dx for the iterative solvers."""
    inertia = getattr(inner, "inertia", None)
    if inertia is not None:
        return inertia == (n, m, 0)
    t = inner.tangential(b) if getattr(inner, "exact", False) else None
    t = dx if t is None else t
    tt = float(t @ t)
    return not (tt > 0.0) or float(t @ np.asarray(B @ t).ravel()) > kappa * tt


#: The (2,2) block -rho I of the KKT matrix when G is numerically rank deficient (IPOPT's delta_c = 1e-8 mu^(1/4)
#: with mu = 1): small enough that G dx = -c holds to 1e-8 relative for consistent (duplicated) rows.
_RHO_C = 1e-8
#: With that rho, a step leaving ||G dx + c|| above this fraction of ||c|| marks inconsistent linearized constraints.
_INCONSISTENT = 1e-2

#: Least-squares initial multipliers larger than this (in the scaled problem) are replaced by 0 (IPOPT's
#: constr_mult_init_max).
_LAMBDA0_MAX = 1e3


def _ls_multipliers(g, G):
    """λ₀ = argmin ||∇f + Gᵀλ||₂ (IPOPT's initialization) for explicit G with n + m <= AUTO_DIRECT_LIMIT: dense
    lstsq or the sparse system [[I, Gᵀ], [G, -εI]] (its factorization can cost as much as the rest of
    the run, so larger problems start from 0); zeros when that fails or when |λ₀|_∞ > _LAMBDA0_MAX. The
    Lagrangian Hessian at x₀ then carries the constraints' curvature."""
    import scipy.sparse.linalg as spla

    m, n = G.shape
    kind = matrix_kind(G)
    lam = None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if kind == "dense" and n + m <= AUTO_DIRECT_LIMIT:
                with single_blas_thread():
                    lam = np.linalg.lstsq(G.T, -g, rcond=None)[0]
            elif kind == "sparse" and n + m <= AUTO_DIRECT_LIMIT:
                K = sp.bmat([[sp.identity(n), G.T], [G, -1e-10 * sp.identity(m)]], format="csc")
                lam = spla.splu(K).solve(np.concatenate([-g, np.zeros(m)]))[n:]
            # larger problems keep lambda0 = 0: even 50 LSQR iterations cost 1.3 s on semilinear control N = 224
        except (RuntimeError, ValueError, np.linalg.LinAlgError, MemoryError):
            lam = None
    if lam is None or not np.isfinite(lam).all() or float(np.abs(lam).max(initial=0.0)) > _LAMBDA0_MAX:
        return np.zeros(m)
    return np.asarray(lam, dtype=float)


def _cheap_factorization(H, G):
    """A :class:`SymmetricLU` whose order was chosen by the fill probe on the KKT matrix at x0 when that probe
    found the exact factorization cheap (fill below half the probe's cap), else None."""
    from ._inner import SymmetricLU

    slu = SymmetricLU()
    try:
        K = KKTSystem(H, G, 0.0).assemble()
    except (TypeError, ValueError, MemoryError):
        return None
    return slu if sp.issparse(K) and slu.probe(K) else None


def _hessian_scale(H, geo) -> float:
    """||H||_2 when the dense checks computed it, else max |H_ii| (0 when H is an operator without a diagonal)."""
    if geo is not None:
        return geo.h_norm
    d = matrix_diagonal(H)
    return float(np.abs(d).max()) if d is not None and d.size else 0.0


def _step_curvature(B, dx, scale) -> float | None:
    """A positive curvature of B along dx: dx'B dx/|dx|², else |B dx|/|dx|, else ``scale``/|dx| (None if dx = 0)."""
    dxn = float(np.linalg.norm(dx))
    if not dxn > 0:
        return None
    Bdx = np.asarray(B @ dx).ravel()
    for q in (float(dx @ Bdx) / (dxn * dxn), float(np.linalg.norm(Bdx)) / dxn, scale / dxn):
        if q > 0.0 and math.isfinite(q):
            return q
    return None


class _MeritParts(NamedTuple):
    """The direction-independent vectors of the merit's directional derivative at an iterate: the derivative
    along (dx, dl) is ``a + mu b_mu + nu b_nu`` with a = ∇ₓLᵀdx + cᵀdl, b_mu = (Gᵀc)ᵀdx and
    b_nu = (∇²ₓL ∇ₓL)ᵀdx + (G∇ₓL)ᵀdl (the gradient of :func:`merit_gradient` split by parameter)."""

    Hgl: np.ndarray
    Ggl: np.ndarray
    Gtc: np.ndarray

    @classmethod
    def at(cls, grad_lag, c, H, G):
        return cls(np.asarray(H @ grad_lag).ravel(), np.asarray(G @ grad_lag).ravel(), np.asarray(G.T @ c).ravel())


def _dmerit_terms(dx, dl, grad_lag, c, parts):
    """(a, b_mu, b_nu) of :class:`_MeritParts` for the direction (dx, dl)."""
    return (float(grad_lag @ dx + c @ dl), float(parts.Gtc @ dx), float(parts.Hgl @ dx + parts.Ggl @ dl))


def _dmerit(dx, dl, grad_lag, c, parts, mu, nu) -> float:
    """∇𝓛_{μ,ν}ᵀ(dx, dl)."""
    a, b_mu, b_nu = _dmerit_terms(dx, dl, grad_lag, c, parts)
    return a + mu * b_mu + nu * b_nu


def _penalty_update(dx, dl, grad_lag, c, parts, bnorm, mu, nu, phi):
    """(μ, ν) after a refused descent test, sized from the direction actually taken.

    The test ``a + μ b_μ + ν b_ν <= -ν‖b‖²/2`` is affine in each parameter. Either μ is raised (when b_μ < 0,
    i.e. the step reduces ‖c‖ to first order) or ν lowered (when the ν-term is what fails: a Hessian shift ω
    adds ``-ν ω ∇ₓLᵀdx > 0``, so a heavily shifted step needs ν ≲ 1/ω whatever μ is), to φ times past the
    value at which the test holds with equality, at least by the paper's factors (φ², 1/φ), whichever moves
    its parameter by the smaller factor. The paper's rule moves both together: at a feasible start (c = 0,
    where μ does nothing) under a first shift of 1e6 it drove μ to its limit 1e8 for the rest of the run
    (COPS elec np = 50: 149 iterations). Neither applies: the paper's joint step.

    Which local minimiser a nonconvex run ends at is not decided here: over COPS elec starts rng = 0..39 this rule
    reaches the best-known energy at np = 20 / 50 / 100 from 40 / 40 / 13 starts (median 24.5 / 35.5 / 51.5 its),
    the joint rule from 36 / 39 / 15 (median 155 / 99 / 146.5 its, capped at maxiter 300). At np = 100 the two
    rates do not differ beyond chance, nor from scipy's trust-constr (6 of rng = 0..15, 68-123 its). From
    rng = 0 both runs keep the KKT residual within 1.1% of each other through iteration 22 (KKT 6) and part at
    iteration 23 (here α = 0.25, there a shift round): this rule lands 0.0598 above the best-known energy, the
    joint one reaches it."""
    a, b_mu, b_nu = _dmerit_terms(dx, dl, grad_lag, c, parts)
    e = b_nu + 0.5 * bnorm * bnorm
    options = []
    if b_mu < 0.0:
        need = (a + nu * e) / -b_mu
        new_mu = min(max(mu * phi * phi, phi * need), _MU_MAX)
        if math.isfinite(new_mu):
            options.append((new_mu / mu, new_mu, nu))
    if e > 0.0 and a + mu * b_mu < 0.0:
        need = -(a + mu * b_mu) / e
        new_nu = max(min(nu / phi, need / phi), _NU_MIN)
        if new_nu > 0.0:
            options.append((nu / new_nu, mu, new_nu))
    if not options:
        return mu * phi * phi, nu / phi
    _, mu, nu = min(options)
    return mu, nu


def _aitken_step(pure, z):
    """Extrapolated step length 1/(1 - r) when the last Newton steps shrink by a steady ratio r, else None.

    ``pure`` holds the previous two unmodified full Newton steps (Δ_{k-2}, Δ_{k-1}), ``z`` is Δ_k. At a
    singular minimiser Newton's method converges linearly along a fixed direction, Δ_{j+1} ≈ rΔ_j; the
    remaining distance is then Δ_k(1 + r + r² + ...) = Δ_k/(1 - r) (Aitken's Δ² extrapolation).
    """
    if len(pure) < 2:
        return None
    d0, d1 = pure
    n0, n1, n2 = (float(np.linalg.norm(v)) for v in (d0, d1, z))
    if not (n0 > 0 and n1 > 0 and n2 > 0):
        return None
    c1 = float(d0 @ d1) / (n0 * n1)
    c2 = float(d1 @ z) / (n1 * n2)
    r1, r2 = n1 / n0, n2 / n1
    if min(c1, c2) < _AITKEN_COS or not _AITKEN_R[0] <= r2 <= _AITKEN_R[1] or abs(r2 - r1) > _AITKEN_DR * r2:
        return None
    return 1.0 / (1.0 - r2)


#: The power-law estimate of the acceptable step replaces the refused step length in the shift only when it is
#: this many times below ``shift_below`` (far beyond what another halving round would find).
_EST_BELOW = 0.125


class Trial(NamedTuple):
    """A line-search trial point: the iterate, its values and derivatives, and the merit there."""

    x: np.ndarray
    lam: np.ndarray
    f: float
    c: np.ndarray
    g: np.ndarray
    G: object
    grad_lag: np.ndarray
    merit: float


def _armijo(evaluate_at, phi0, dmerit, beta, kkt, alpha_ext, max_backtracks, floor, soc=None):
    """Armijo backtracking on the merit: the extrapolated step ``alpha_ext`` first (when given), then
    alpha = 1, 1/2, ... at most ``max_backtracks`` times, stopping before alpha would drop below ``floor``.

    ``evaluate_at(alpha)`` returns a :class:`Trial` or None when f or c is not finite. Returns ``(accepted, extrapolated, at_floor, alpha, t)``: alpha is the accepted step, or the
    last refused one when ``at_floor``; t the last trial tuple. ``soc(t)``, when given, returns the full step's
    second-order correction (a Trial) after alpha = 1 is refused; it is accepted under the same test (reported as
    ``extrapolated``: not a pure Newton step).
    """
    if alpha_ext is not None:
        t = evaluate_at(alpha_ext)
        if t is not None and math.isfinite(t.merit) and t.merit <= phi0 + beta * alpha_ext * dmerit:
            return True, True, False, alpha_ext, t
    alpha, t = 1.0, None
    excess = None  # phi(2 alpha) - phi0 - 2 alpha dmerit of the previous refused trial
    for _ in range(max_backtracks):
        t = evaluate_at(alpha)
        phit = t.merit if t is not None else math.inf
        if math.isfinite(phit) and phit <= phi0 + beta * alpha * dmerit:
            return True, False, False, alpha, t
        if alpha == 1.0 and soc is not None and t is not None:
            ts = soc(t)
            if ts is not None and math.isfinite(ts.merit) and ts.merit <= phi0 + beta * dmerit:
                return True, True, False, 1.0, ts
        # Rounding floor: once the predicted decrease is below the merit's rounding level, the Armijo test
        # compares noise; accept a step that still reduces the KKT residual.
        if math.isfinite(phit) and -beta * alpha * dmerit <= 64 * _EPS * (abs(phi0) + 1.0):
            if math.hypot(np.linalg.norm(t.grad_lag), np.linalg.norm(t.c)) < kkt:
                return True, False, False, alpha, t
        now = phit - phi0 - alpha * dmerit if math.isfinite(phit) else None
        est = _acceptable_step(excess, now, alpha, dmerit, beta) if floor > 0 else None
        if alpha * 0.5 < floor or (est is not None and est < _EST_BELOW * floor):
            # at the floor: report the step length the merit would accept (the power-law fit of the last two
            # refusals) when it is shorter than the last refused one, so one shift round shortens enough
            return False, False, True, alpha if est is None or est >= _EST_BELOW * floor else est, t
        excess = now
        alpha *= 0.5
    return False, False, False, alpha, t


def _acceptable_step(excess2, excess1, alpha, dmerit, beta):
    """The step length the Armijo test would accept, from the nonlinear parts e = phi(a) - phi0 - a dmerit of two
    refused trials at 2 alpha and alpha: with e(a) = A a^p (p = log2(e(2 alpha)/e(alpha)) in (1, 8]), Armijo
    holds for A a^(p-1) <= (1 - beta)|dmerit|. None when the fit does not apply."""
    if excess2 is None or excess1 is None or not (excess1 > 0 and excess2 > excess1) or not dmerit < 0:
        return None
    p = min(math.log2(excess2 / excess1), 8.0)
    if not p > 1.0 + 1e-3:
        return None
    coef = excess1 / alpha**p
    return ((1.0 - beta) * -dmerit / coef) ** (1.0 / (p - 1.0))


#: The objective is scaled (by a power of two) so that |sigma grad f(x0)|_inf lies in [_GRAD_LO, _GRAD_HI].
_GRAD_LO, _GRAD_HI = 1.0, 1e3
#: Divergence: |x|_inf above _DIVERGE max(|x0|_inf, 1), f below -_DIVERGE max(|f(x0)|, 1), or |x|_inf grown
#: _DIVERGE_STALLED-fold over a stalled window.
_DIVERGE, _DIVERGE_STALLED = 1e20, 1e3


def _objective_scale(g) -> float:
    """sigma = 2^k with |sigma g|_inf in [_GRAD_LO, _GRAD_HI] (1 when |g|_inf is already there, or is 0)."""
    gmax = float(np.abs(g).max()) if g.size else 0.0
    if not (gmax > 0.0 and math.isfinite(gmax)) or _GRAD_LO <= gmax <= _GRAD_HI:
        return 1.0
    if gmax > _GRAD_HI:
        k = math.floor(math.log2(_GRAD_HI / gmax))
    else:
        k = math.ceil(math.log2(_GRAD_LO / gmax))
    return math.ldexp(1.0, max(-1000, min(1000, k)))


#: Multiple of the unit roundoff in the rounding floor of the outer KKT residual (see :func:`_kkt_floor`).
_KKT_FLOOR_C = 2.0
#: ROUNDING_FLOOR is a success only within this factor of `tol` (the Status catalogue's promise).
_FLOOR_TOL_FACTOR = 1000.0


#: Local infeasibility: over the last _INF_WINDOW iterates ||c|| above max(_INF_MIN_C, 1000 tol), ||G'c|| <=
#: _INF_RATIO ||G||_F ||c||, the Newton steps unable to satisfy their linearized constraints (||G dx + c|| >=
#: _INF_LINEAR ||c||: c has a large part outside range(G)) and ||c|| fell by less than _INF_DECREASE (relative); at
#: the penalty limits (no descent direction) the ratio bound _INF_RATIO_AT_LIMIT and one such step suffice.
_INF_MIN_C, _INF_RATIO, _INF_WINDOW, _INF_DECREASE, _INF_RATIO_AT_LIMIT, _INF_LINEAR = 1e-6, 1e-3, 3, 1e-2, 1e-2, 0.5


def _infeasibility(G, c):
    """(||c||, ||G'c|| / (||G|| ||c||)): the second is the scale-free gradient of ||c||²/2 (0 at a stationary
    point of the violation). ||G|| is the Frobenius norm, or 8 power steps on G'G for an operator."""
    from ._inner import _fro

    cn = float(np.linalg.norm(c))
    if not cn > 0:
        return 0.0, 0.0
    gtc = np.asarray(G.T @ c).ravel()
    gn = _fro(G)
    if gn is None:
        v = np.cos(np.arange(G.shape[1]) + 1.0)
        gn = 0.0
        for _ in range(8):
            nv = float(np.linalg.norm(v))
            if not nv > 0 or not math.isfinite(nv):
                break
            w = np.asarray(G @ (v / nv)).ravel()
            gn = float(np.linalg.norm(w))
            v = np.asarray(G.T @ w).ravel()
    return cn, (float(np.linalg.norm(gtc)) / (gn * cn) if gn > 0 else 0.0)


def _locally_infeasible(infeas, linear, tol) -> bool:
    """The test above; ``linear`` holds ||G dx + c|| / ||c|| of the steps taken."""
    if len(infeas) <= _INF_WINDOW or len(linear) < _INF_WINDOW:
        return False
    last = infeas[-_INF_WINDOW:]
    return (min(cn for cn, _ in last) > max(_INF_MIN_C, 1e3 * tol) and max(r for _, r in last) <= _INF_RATIO
            and min(linear[-_INF_WINDOW:]) >= _INF_LINEAR
            and last[-1][0] >= (1.0 - _INF_DECREASE) * infeas[-_INF_WINDOW - 1][0])


def _linear_residual(G, dx, c) -> float:
    """||G dx + c|| / ||c|| (0 when c = 0)."""
    cn = float(np.linalg.norm(c))
    return float(np.linalg.norm(np.asarray(G @ dx).ravel() + c)) / cn if cn > 0 else 0.0


def _infeasible_detail(infeas, nit) -> str:
    cn, ratio = infeas[-1]
    return (f"At iteration {nit} ||c(x)|| = {cn:.3g} (at x0: {infeas[0][0]:.3g}) while ||G'c|| = {ratio:.2g} ||G|| "
            "||c||: the constraints look inconsistent near here. Check the constraints for a contradiction, or "
            "start from another x0.")


def _kkt_floor(system, g, x, lam) -> float:
    """Rounding floor of the computed KKT residual ||(grad f + G'lam, c)||: the rounding of grad f + G'lam and of c
    at x, and the change of both under a perturbation of x and lam by one unit roundoff,
    C u (||grad f|| + ||K|| (||x|| + ||lam||))."""
    return _KKT_FLOOR_C * _EPS / 2 * (float(np.linalg.norm(g)) + system.norm() * (
        float(np.linalg.norm(x)) + float(np.linalg.norm(lam))))


#: Near the floor (within _STALL_FLOORS times it) a run whose KKT residual decreased by less than _STALL_DECREASE
#: over _STALL_WINDOW iterations has stagnated (rounding noise drives the steps).
_STALL_FLOORS, _STALL_WINDOW, _STALL_DECREASE = 1e4, 10, 1e-3


def _at_floor(kkt, tol, kfloor) -> bool:
    """Whether the outer KKT residual is at its rounding floor ``kfloor`` and within 1000 `tol`."""
    return kkt <= _FLOOR_TOL_FACTOR * tol and kkt <= kfloor


def _floor_detail(kkt, kfloor, what) -> str:
    return (f"The KKT residual {kkt:.3g} is at the rounding level {kfloor:.3g} of the problem's data ({what} stopped "
            "improving); a tighter `tol` cannot be met in double precision.")


def _inner_detail(sketch, out, threshold, needed, budget, kkt) -> str:
    why = {"budget": f"its budget of {budget} iterations ran out",
           "floor": "it stopped improving (rounding errors of an ill-conditioned Newton system)",
           "singular": "the KKT matrix is numerically singular",
           "preconditioner": "the preconditioner is not positive definite",
           "nonfinite": "its iterate became NaN or inf"}.get(out.reason, out.reason)
    advice = ("raise `inner_maxiter` or use sketch='minres' or 'direct'" if out.reason == "budget"
              else "use sketch='direct', or check that the constraint Jacobian has full row rank")
    return (f"At KKT residual {kkt:.3g} the inner solver ({sketch}) reached ||r|| = {out.residual:.3g}, above the "
            f"accuracy {needed:.3g} the descent test needs (target {threshold:.3g}): {why}; {advice}.")


def minimize(fun, x0, *, jac, hess, constraints, method="adasketch", sketch="auto", tol=1e-8, maxiter=1000, rng=None,
             callback=None, verbose=False, **method_options) -> ConstrainedResult:
    r"""Minimise f(x) subject to c(x) = 0 by adaptive inexact Newton steps on an exact augmented Lagrangian.

    .. math::

        \min_{x\in\mathbb R^n} f(x) \quad\text{s.t.}\quad c(x) = 0 \in \mathbb R^m,
        \qquad L(x,\lambda) = f(x) + \lambda^\top c(x).

    **Method** (AdaSketch-Newton, Hong, Na, Mahoney & Kolar 2023). At :math:`z_k = (x_k,\lambda_k)` with
    :math:`G_k = \nabla c(x_k)^\top`, the Newton–KKT system

    .. math::

        \begin{bmatrix} B_k & G_k^\top\\ G_k & 0\end{bmatrix}
        \begin{bmatrix}\Delta x\\ \Delta\lambda\end{bmatrix}
        = -\begin{bmatrix}\nabla_x L_k\\ c_k\end{bmatrix} =: b_k

    is solved *inexactly*, by a randomized iterative sketching method (``sketch``), until the adaptive
    accuracy test :math:`\|K_k z - b_k\|_2 \le \theta_k\delta_k\|b_k\|_2` holds (``accuracy="practical"``,
    default) or the paper's :math:`\|K_k\|_2\,\psi_k\,\|K_k z - b_k\|_2 \le \theta_k\delta_k\|b_k\|_2`,
    :math:`\psi_k = 20\max(\|B_k\|^2,1)/(\min(\xi_G,1)\min(\xi_B,1))`, :math:`\xi_G=\lambda_{\min}(G_kG_k^\top)`
    (``accuracy="paper"``, n ≤ 1000; it asks for far more sketch steps). The direction must be a descent
    direction of the exact augmented Lagrangian

    .. math::

        \mathcal L_{\mu,\nu}(x,\lambda) = L(x,\lambda) + \frac\mu2\|c(x)\|^2 + \frac\nu2\|\nabla_xL(x,\lambda)\|^2,
        \qquad \nabla\mathcal L_{\mu,\nu}^\top\Delta \le -\frac\nu2\|b_k\|^2,

    whose gradient uses the Lagrangian Hessian :math:`\nabla^2_xL` (:math:`\nabla_x\mathcal L_{\mu,\nu} =
    \nabla_xL + \nu\nabla_x^2L\nabla_xL + \mu G^\top c`, :math:`\nabla_\lambda\mathcal L_{\mu,\nu} = c + \nu G\nabla_xL`).
    While it is not, :math:`\delta\leftarrow \max(\delta/\phi^4, \delta_{\min})` and the penalty grows: with
    ``accuracy="paper"`` by the paper's joint rule :math:`\mu \leftarrow \phi^2\mu`, :math:`\nu\leftarrow\nu/\phi`
    (``factor`` :math:`\phi = 1.5`; δ is also capped by :math:`\delta_{\rm trial} =
    (\tfrac12-\beta)\nu/((1+\mu+\nu)\Upsilon^2\psi^2)`, :math:`\Upsilon = \max(\|G\|,\|\nabla_x^2L\|,1)`); by
    default one parameter is sized from the direction actually taken. The test reads :math:`a + \mu b_\mu +
    \nu b_\nu \le -\tfrac\nu2\|b_k\|^2` with :math:`b_\mu = c^\top G\Delta x` (about :math:`-\|c\|^2`) and
    :math:`b_\nu` the part of :math:`\nabla_x^2L\nabla_xL` and :math:`G\nabla_xL`; either μ is raised (when
    :math:`b_\mu < 0`) or ν lowered, to φ times past the value at which the test holds with equality and at
    least by φ² (μ) or φ (ν), whichever moves its parameter by the smaller factor. A Hessian shift δ_w adds
    :math:`+\nu\delta_w|\nabla_xL^\top\Delta x|` to the derivative, so a heavily shifted step needs
    :math:`\nu \lesssim 1/\delta_w` whatever μ is; the joint rule then drove μ to its limit 1e8 (COPS elec np =
    50 from its feasible start: the merit's μ‖c‖² term then refused full steps on the spheres for the rest of the
    run, 149 iterations; now 45 with μ = 1). The sketch iterations *continue from the current iterate*. μ only
    grows, ν and δ only shrink, over the whole run. Then Armijo backtracking (halving from α = 1) on
    :math:`\mathcal L_{\mu,\nu}` with constant ``beta`` moves x and λ by the same α.
    Defaults are the paper's: μ₀ = 1, ν₀ = 0.1, δ₀ = 0.1, β = 0.1, φ = 1.5, ξ_B = 0.1.

    **Details the paper leaves open, as chosen here.**

    * :math:`\theta_k` (``theta``): a constant in (0, 1]; ``"superlinear"``: :math:`\theta_k = \min(1,
      \|b_k\|/\|b_0\|)` (forcing term proportional to the KKT residual, so local convergence becomes
      superlinear, quadratic for the exact Hessian); ``"auto"`` (default): 1 (as the paper's code) for the
      sketching solvers, ``"superlinear"`` for the Krylov solvers, whose cost grows only with
      :math:`\log(1/\theta_k)`; or a callable ``theta(k, kkt, kkt0)``.
    * Hessian modification (inertia correction, re-decided at every iteration as IPOPT does [6]):
      :math:`B = \nabla_x^2L + \delta_w I`. Each iteration first tries :math:`\delta_w = 0`; B is refused when
      the dense :math:`LDL^\top` factorization of K (``sketch="direct"`` on dense input; Bunch–Kaufman) shows
      an inertia other than (n, m, 0), i.e. :math:`Z^\top BZ` is not positive definite, and otherwise (sparse
      or iterative inner solvers, no inertia available) when the tangential part t of the step (t =
      :math:`K^{-1}(b_1, 0)` from a sparse LU, else Δx) has :math:`t^\top Bt \le` ``hess_tol``
      :math:`\cdot s\,\|t\|^2`, s = max(max|H_ii|, ‖H‖_F/√n, ‖∇f‖/max(‖x‖, 1)). A refused B is retried with
      :math:`\delta_w = \max(10^{-20}s, \delta_w^{\rm last}/3)` (the last nonzero shift of an earlier
      iteration), or :math:`10^{-4}s` when none was needed yet, then 8 times larger per refusal (100 times while
      no earlier iteration needed one). The shift therefore decays when the curvature turns positive: a shift
      kept for the rest of the run (the hanging chain on CSR input: B = H + 0.003 I for 1000 iterations at a
      linear rate) and a shift of the size of ‖H‖ whenever :math:`\lambda_{\min}(Z^\top HZ) \le 10^{-8}\|H\|`
      (the Thomson problem's rotational null space: every step a scaled gradient step) are gone. Without
      inertia (sparse input) a saddle point of the reduced problem can attract the iteration: with the curvature
      test only along the step, it is the KKT point nearest the path, not always a minimiser. When B is
      diagonal (sparse or operator input) its entries below :math:`10^{-8}\max|B_{ii}|` are lifted to
      :math:`\xi_B\max|B_{ii}|` first. The sketching solvers (Kaczmarz, Gaussian) keep the earlier rule on
      dense input (:math:`\omega = \|\nabla^2_xL\|_2 + \xi_B\max(\|\nabla^2_xL\|_2, s_f)` when
      :math:`\lambda_{\min}(Z^\top\nabla_x^2L\,Z) \le` ``hess_tol`` :math:`\|\nabla^2_xL\|_2`): their contraction
      rate needs a well-conditioned K, which a small decaying shift does not give.
    * Step-length safeguard (a Levenberg–Marquardt shift driven by the line search): when the Armijo search
      would have to cut α below ``shift_below`` (1/4: the Newton model holds on less than a quarter of the
      step), with α the last refused step length and :math:`q = \Delta x^\top B\Delta x/\|\Delta x\|^2` the
      curvature along the step,

      .. math::

          B \leftarrow B + q\,(1/\alpha - 1)\,I

      and the direction is recomputed (from z = 0, under the same accuracy and descent tests), at most
      ``max_shifts`` (8) times per iteration. On an eigendirection of B with eigenvalue q this shortens the
      step by exactly the refused factor α; since q includes the previous shifts, repeated rounds grow the
      shift geometrically until the null-space part of Δx has a length the merit accepts. The rule is
      invariant under :math:`f \to sf` and :math:`x \to \sigma x`. The shift moves only the null-space part of
      Δx (:math:`G\Delta x = -c` fixes the rest) and adds :math:`-\nu\omega\nabla_xL^\top\Delta x` to
      :math:`\nabla\mathcal L_{\mu,\nu}^\top\Delta`, so the rounds stop once a shift beyond
      :math:`\|\nabla_x^2L\|` shortens the step by less than 10%, or once the shifted direction needed a
      penalty update; the last direction then gets the ordinary search down to ``max_backtracks`` halvings.
      B stays in the paper's class (:math:`Z^\top BZ \succ 0`, bounded), so the analysis is unchanged.
    * Extrapolated step at singular minimisers: where :math:`Z^\top\nabla_x^2L\,Z` is singular at the
      solution (HS26, HS49, HS50: quartic terms) Newton converges only linearly, :math:`\Delta_{k+1} \approx
      r\Delta_k` (r = 2/3 for a quartic). When the last two unmodified full Newton steps and the current one
      are parallel (cosines ≥ 0.99) and shrink by a steady ratio (two ratios r within 5%, r ∈ [0.3, 0.9]),
      the line search first tries :math:`\alpha = 1/(1-r)`, the remaining length of the geometric series
      (Aitken's :math:`\Delta^2` extrapolation along the Newton direction, the idea of Kelley–Suresh [4] and
      Griewank [5] for Newton at singular points), under the same Armijo test; if refused, the ordinary
      search from α = 1 follows (one extra evaluation). ``extrapolate=False`` turns it off.
    * Rank-deficient Jacobian: when :math:`\sigma_{\min}(G) \le` ``rank_tol`` :math:`\cdot\max(1,\sigma_{\max}(G))`
      (dense input, n ≤ 1000), or when the factorization of K is singular (a pivot below 1e3 u times the
      largest) or an inner solve breaks down, the (2,2) block becomes :math:`-\rho I` with :math:`\rho =
      10^{-8}` (IPOPT's :math:`\delta_c`; then :math:`\delta_w` as above while K stays singular): a duplicated
      constraint row costs nothing (the dense chain with a repeated row stopped at iteration 0). When that step
      leaves :math:`\|G\Delta x + c\| > 10^{-2}\|c\|` the linearized constraints are inconsistent (HS61 at x₀ =
      0), and :math:`\rho = \min(1, \|b_k\|_2)` (stabilised SQP, vanishing at a KKT point) is used instead;
      with a sketching solver that is the rule on rank deficiency. The accuracy test applies to the regularised
      system and the descent test is unchanged.
    * Inner solver hand-over: when the solver that ``sketch="auto"`` chose (MINRES, Schur-CG) cannot be set up
      (a Schur complement that does not fit in memory), stops short of the accuracy test, or meets a Hessian
      that is no longer diagonal (Schur-CG), the run continues with the factorization of K (``sketch="direct"``;
      explicit matrices), and ``result.sketch`` says ``"direct"``. A solver chosen by name is kept, and its
      failure ends the run with ``INNER_SOLVER``.
    * Local infeasibility: when, over three iterations, :math:`\|c\|` stays above max(1e-6, 1000 ``tol``) and
      falls by less than 1%, :math:`\|G^\top c\| \le 10^{-3}\|G\|_F\|c\|` (a stationary point of
      :math:`\|c\|^2`) and the Newton steps cannot satisfy their linearized constraints (:math:`\|G\Delta x +
      c\| \ge \|c\|/2`), the run ends with ``Status.INFEASIBLE`` (also at the penalty limits below, with
      :math:`\|G^\top c\| \le 10^{-2}\|G\|_F\|c\|`).
    * Second-order correction (``soc=True``): when the full step α = 1 is refused and the inner solver holds a
      factorization of K, the corrected point :math:`x + \Delta x + s` with :math:`K(s, \cdot) = (0,
      -c(x+\Delta x))` (the same factorization) is tried under the same Armijo test before backtracking: the
      remedy for the Maratos effect, where the curvature of the constraints makes the merit refuse a good Newton
      step (the Thomson problem's spheres: np = 20 took 163 iterations without it, 25 with it).
    * Rounding floor of the line search: when the Armijo decrease :math:`\beta\alpha\nabla\mathcal
      L_{\mu,\nu}^\top\Delta` is below 64 ulp of :math:`|\mathcal L_{\mu,\nu}|+1`, a trial point that reduces
      the KKT residual is accepted (the Armijo test would compare rounding noise).
    * Inner accuracy floor: no inner solver is asked for less than the rounding floor
      :math:`16u(\|K\|\|z\| + \|b_k\|)` of its own residual (‖K‖ by its Frobenius norm, or power steps for an
      operator), and when ``theta`` asks for more than the solver attains (MINRES or Schur-CG recurrences that
      stop while the true residual does not follow, an LU solve that iterative refinement cannot improve, an
      exhausted budget) the direction is kept as long as the paper's accuracy :math:`\|Kz - b_k\| \le
      \delta_k\|b_k\|` (θ = 1) holds: the forcing term is floored, not the run ended.
    * Multipliers start at ``lambda0``; by default at the least-squares estimate :math:`\arg\min_\lambda
      \|\nabla f(x_0) + G^\top\lambda\|` (IPOPT's) when n + m ≤ 3000 and the matrices are explicit (0 when
      that fails or exceeds 1000 in the scaled problem; 0 for larger problems, for the sketching solvers, and
      in the paper's code), so that the first Hessian holds the constraints' curvature (on the Thomson
      problem λ₀ = 0 gives an indefinite reduced Hessian and a shift of 1e5 at the first step).
    * The penalty loop stops at μ > 1e8 or ν < 1e-8: the direction is then accepted if it is a descent
      direction at all, otherwise the run stops with ``success=False``.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float``.
    x0 : array_like, shape (n,)
        Starting point.
    jac : callable or True
        Gradient ``jac(x) -> (n,)``, or True when ``fun`` returns ``(f, g)``.
    hess : callable
        ``hess(x) -> (n, n)`` Hessian of f: dense array, scipy sparse matrix or LinearOperator.
    constraints : dict, NonlinearConstraint or list of them
        Equality constraints: ``{"type": "eq", "fun", "jac", "hess"}`` with ``hess(x, v)`` =
        :math:`\sum_i v_i\nabla^2 c_i(x)`, or ``scipy.optimize.NonlinearConstraint`` with ``lb == ub`` (and
        callable ``jac``/``hess``). Jacobians and Hessians may be dense, sparse or LinearOperators; sparse
        input stays sparse end to end. Inequalities are refused (use ``scipy.optimize.minimize``).
    method : {"adasketch"}
        The algorithm (one so far).
    sketch : {"auto", "kaczmarz", "block_kaczmarz", "gaussian", "minres", "schur_cg", "direct"}
        Inner solver, every one under the same adaptive accuracy test. ``"kaczmarz"`` (randomized Kaczmarz,
        row-norm or uniform ``sampling``), ``"block_kaczmarz"`` (``block_size`` rows, default
        :math:`\lceil\sqrt{n+m}\rceil`) and ``"gaussian"`` (``block_size`` Gaussian columns, default 1) are the
        paper's sketch-and-project solvers (:func:`numopt.linalg.sketch_and_project`); they need explicit
        matrices and take :math:`10^3`–:math:`10^5` steps even on tiny problems. ``"minres"``: preconditioned
        MINRES with the block preconditioner :math:`\mathrm{diag}(|\mathrm{diag}\,B|, \hat S)`;
        ``"schur_cg"`` (B diagonal only): preconditioned CG on the Schur complement :math:`GB^{-1}G^\top`. The
        Schur approximation :math:`\hat S` is Pearson–Wathen's :math:`F\hat D_y^{-1}F^\top` with the
        Laplacian-type block :math:`F = G_y + \Gamma` when G has the distributed-control structure
        :math:`[G_y, G_u]` (G_u a permuted diagonal), solved by SuperLU or pyamg (``laplacian_solver``);
        otherwise the formed :math:`G\hat D^{-1}G^\top`. ``"direct"``: LU of the KKT matrix.
        ``"auto"``: ``"direct"`` when n + m ≤ 3000 and the matrices are explicit, else ``"schur_cg"`` when
        the Lagrangian Hessian is diagonal (at λ₀ and at λ = 1, so that it stays diagonal), else ``"direct"`` when
        G is sparse and the fill of the KKT factorization, estimated before factorizing (an ILU probe of the
        minimum-degree order with its fill capped at 5 nnz(K)), is small, else ``"minres"``. The sparse
        factorization keeps that minimum-degree order for the run when the probe finds it cheap, otherwise
        SuperLU's COLAMD.
    tol : float, default 1e-8
        Stop when the scaled KKT residual :math:`\|(\sigma\nabla_xL(x,\lambda), c(x))\|_2 \le` ``tol``.
        The objective scale σ makes the test independent of the units of f: it is the power of two that brings
        :math:`\|\sigma\nabla f(x_0)\|_\infty` into [1, 1000] (σ = 1 when it is already there or zero; IPOPT's
        gradient-based scaling, here also upwards), and the whole method runs on σf, so f × 10^±150 gives the
        same x. ``kkt_residual`` reports the unscaled value, ``scaled_kkt_residual`` the tested one. When the
        residual reaches its rounding level :math:`2u(\|\sigma\nabla f\| + \|K\|(\|x\|+\|\sigma\lambda\|))`
        (K the KKT matrix) within 1000 ``tol``, the run ends with ``Status.ROUNDING_FLOOR``, a success; a ``tol``
        further below that floor ends with ``STAGNATION`` once ten iterations near the floor gain less than 0.1%.
    maxiter : int, default 1000
        Outer iterations.
    rng : None, int, SeedSequence or Generator
        Randomness of the sketches; a seeded run is reproducible bit for bit.
    callback : callable, optional
        ``callback(intermediate_result)`` after every outer iteration; raise StopIteration to stop.
    verbose : bool
        Print one row per outer iteration.
    **method_options
        ``mu0`` (1), ``nu0`` (0.1), ``delta0`` (0.1), ``beta`` (0.1), ``factor`` (1.5), ``xi_B`` (0.1),
        ``delta_min`` (1e-6), ``theta`` ("auto"), ``accuracy`` ("practical"), ``inner_maxiter`` (per outer
        iteration: 1e7 Kaczmarz steps, 1e6 Gaussian steps, 1000 Krylov iterations; the paper's code caps
        at 1e5-1e6), ``sampling`` ("row_norm"), ``block_size``,
        ``check_every`` (sketch steps between residual checks, default max(epoch, 64)), ``lambda0``, ``warm_start`` (True: the
        sketches start from :math:`z^0 = t\,\Delta_{k-1}`, t minimising :math:`\|K t\Delta_{k-1} - b\|`,
        instead of the paper's :math:`z^0 = 0`), ``hess_tol`` (1e-8, relative to the curvature scale s),
        ``rank_tol`` (1e-8), ``max_backtracks`` (40), ``shift_below`` (0.25), ``max_shifts`` (8), ``extrapolate``
        (True), ``soc`` (True), ``laplacian_solver`` ("auto": SuperLU up to 300,000 rows, then pyamg when installed; "splu";
        "amg").

    Returns
    -------
    ConstrainedResult

    Raises
    ------
    TypeError
        A non-callable oracle, an unknown keyword, a wrong argument type, or a sketching solver with a
        LinearOperator.
    ValueError
        Shapes that do not match x0 or c(x0), non-finite values or derivatives at x0, an inequality
        constraint, ``tol <= 0`` or another option out of range.

    Warns
    -----
    numopt.ConvergenceWarning
        When the run stops before ``tol``; the result then has ``success=False``, and ``status`` says why:
        ``MAXITER``; ``INFEASIBLE`` (a point of local infeasibility, see above); ``INNER_SOLVER`` (the inner solver could not reach even the paper's accuracy
        :math:`\delta_k\|b_k\|`, or could not be set up); ``NO_DESCENT`` (no descent direction for the merit at the
        penalty limits: degenerate constraints); ``STAGNATION`` (the line search refused every step, or ``tol`` is
        below the rounding floor); ``DIVERGED`` (:math:`\|x\|_\infty` beyond :math:`10^{20}\max(1,\|x_0\|_\infty)`,
        f below :math:`-10^{20}\max(1,|\sigma f(x_0)|)`, or :math:`\|x\|` grown 1000-fold over ten iterations
        that did not reduce the KKT residual: f is probably unbounded below); ``NONFINITE``. ``detail`` gives the
        numbers and what to try.

    References
    ----------
    .. [1] I. Hong, S. Na, M. W. Mahoney and M. Kolar, "Constrained optimization via exact augmented
       Lagrangian and randomized iterative sketching", ICML 2023, PMLR 202:13174-13198. arXiv:2305.18379.
    .. [2] S. Na, M. Anitescu and M. Kolar, "An adaptive stochastic sequential quadratic programming with
       differentiable exact augmented Lagrangians", Math. Program. (2023). arXiv:2102.05320.
    .. [3] J. W. Pearson and A. J. Wathen, "A new approximation of the Schur complement in preconditioners
       for PDE-constrained optimization", Numer. Linear Algebra Appl. 19 (2012), 816-829.
    .. [4] C. T. Kelley and R. Suresh, "A new acceleration method for Newton's method at singular points",
       SIAM J. Numer. Anal. 20 (1983), 1001-1009.
    .. [5] A. Griewank, "On solving nonlinear equations with simple singularities or nearly singular
       solutions", SIAM Rev. 27 (1985), 537-563.
    .. [6] A. Wächter and L. T. Biegler, "On the implementation of an interior-point filter line-search algorithm
       for large-scale nonlinear programming", Math. Program. 106 (2006), 25-57 (Section 3.1: inertia correction).

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.constrained import minimize
    >>> c = np.array([3.0, 4.0])   # min c'x on the unit circle: x = -c/|c|
    >>> res = minimize(lambda x: c @ x, np.array([1.0, 0.0]), jac=lambda x: c, hess=lambda x: np.zeros((2, 2)),
    ...                constraints={"type": "eq", "fun": lambda x: [x @ x - 1], "jac": lambda x: 2 * x[None],
    ...                             "hess": lambda x, v: 2 * v[0] * np.eye(2)})
    >>> res.success, np.round(res.x, 8), round(float(res.multipliers[0]), 8)
    (True, array([-0.6, -0.8]), 2.5)
    """
    method = check_choice(method, "method", FUNC, tuple(METHODS))
    return METHODS[method](fun, x0, jac=jac, hess=hess, constraints=constraints, sketch=sketch, tol=tol,
                           maxiter=maxiter, rng=rng, callback=callback, verbose=verbose, **method_options)


def _adasketch_one_blas_thread(fun, x0, **kwargs):
    """:func:`_adasketch` with one BLAS thread for sparse, operator and small dense problems (decided once the
    matrices' kinds are known): their BLAS calls are vector operations and small dense factorizations, for which
    OpenBLAS's threads only spin. Under a load of 8-12 on 2 cores they multiplied the CPU time of LUKVLE1 n = 1e4 by
    2.8-6 (0.18 s with one thread, 0.51 s with the default; the old MINRES path 0.72 s against 4.46 s)."""
    import contextlib

    with contextlib.ExitStack() as stack:
        return _adasketch(fun, x0, _blas_stack=stack, **kwargs)


def _adasketch(fun, x0, *, jac, hess, constraints, sketch, tol, maxiter, rng, callback, verbose, _blas_stack=None,
               **opts):
    x = as_float_array(x0, "x0", FUNC, ndim=1, copy=True)
    n = x.shape[0]
    if n == 0:
        raise fail(FUNC, "x0", "have at least one entry", "an empty array")
    sketch = check_choice(sketch, "sketch", FUNC, SKETCHES)
    tol = check_scalar(tol, "tol", FUNC, low=0.0, low_inclusive=False)
    maxiter = check_int(maxiter, "maxiter", FUNC, low=0)
    rng = check_rng(rng, FUNC)
    callback = check_callable(callback, "callback", FUNC)
    verbose = check_bool(verbose, "verbose", FUNC)
    o = _options(opts, n)
    orc = Oracles(fun, jac, hess, constraints, n, FUNC)

    f, c = orc.f_and_c(x)
    m = c.shape[0]
    g, G = orc.grad_jac(x)
    lam = np.zeros(m) if o["lambda0"] is None else o["lambda0"]
    if lam.shape[0] != m:
        raise fail(FUNC, "lambda0", f"have length m = {m} (the number of constraint values at x0)",
                   f"length {lam.shape[0]}")
    # the solver works on sigma f (multipliers sigma lambda): exact, sigma is a power of two
    sigma = _objective_scale(g)
    if sigma != 1.0:
        orc.scale = sigma
        f, g, lam = f * sigma, g * sigma, lam * sigma
    if o["lambda0"] is None and sketch not in ("kaczmarz", "block_kaczmarz", "gaussian"):
        # (the sketching solvers start from 0 as the paper's code: from the least-squares estimate HS27's second
        # Newton system was out of Kaczmarz's reach in 1e7 steps)
        lam = _ls_multipliers(g, G)
    x0_inf = max(float(np.abs(x).max()), 1.0)
    f0_abs = max(abs(f), 1.0)
    f0_user = f / sigma
    H = orc.hessian(x, lam)
    orc.done_first()
    kinds = {matrix_kind(G), matrix_kind(H)}
    explicit = "operator" not in kinds
    # Exact reduced-Hessian / Jacobian-rank checks only for small *dense* input: sparse input is never densified.
    dense_checks = n <= DENSE_CHECK_LIMIT and kinds == {"dense"}
    if _blas_stack is not None and ("dense" not in kinds or n <= DENSE_CHECK_LIMIT):
        _blas_stack.enter_context(single_blas_thread())
    if sketch in ("kaczmarz", "block_kaczmarz", "gaussian", "direct") and not explicit:
        raise fail(FUNC, "sketch", "be 'minres' or 'auto' when a Jacobian or Hessian is a LinearOperator "
                   f"(sketch={sketch!r} reads rows of the KKT matrix)", repr(sketch), error=TypeError)
    if o["accuracy"] == "paper" and not dense_checks:
        raise fail(FUNC, "accuracy", f"be 'practical' unless n <= {DENSE_CHECK_LIMIT} and the matrices are "
                   "dense (the paper's test needs ||K||, lambda_min(G G') and ||B||)", repr(o["accuracy"]))
    diag0 = _is_diagonal(H) if explicit else None
    if sketch == "schur_cg" and diag0 is None:
        raise fail(FUNC, "sketch", "be 'schur_cg' only when the Lagrangian Hessian is diagonal (use 'minres')",
                   "'schur_cg' with a non-diagonal Hessian")
    # an inner solver that `auto` chose and that fails hands over to the LU/LDL' of the KKT matrix (explicit input)
    can_fallback = sketch == "auto" and explicit
    if sketch == "auto":
        slu = None
        if explicit and n + m <= AUTO_DIRECT_LIMIT:
            sketch = "direct"
        elif diag0 is not None and (m == 0 or _is_diagonal(orc.hessian(x, np.ones(m))) is not None):
            # (diagonal also with nonzero multipliers: a Hessian diagonal only at lambda0 = 0, as ORTHREGA's, would
            # make schur_cg hand over at iteration 1 after forming its Schur approximation)
            sketch = "schur_cg"
        elif explicit and matrix_kind(G) == "sparse" and (slu := _cheap_factorization(H, G)) is not None:
            # the fill of the KKT factorization, estimated before factorizing, is small: direct (ORTHREGA-style
            # N = 10000: MINRES' Schur approximation cost 16 s before handing over; LUKVLE1 n = 1e4: 15 MINRES
            # iterations against 11 factorizations)
            sketch = "direct"
        else:
            sketch = "minres"
    sketching = sketch in ("kaczmarz", "block_kaczmarz", "gaussian")
    if sketching:
        inner = SketchInner(sketch, sampling=o["sampling"], block_size=o["block_size"],
                            check_every=o["check_every"], rng=rng)
    elif sketch == "direct":
        inner = DirectInner()
        if can_fallback and slu is not None:
            inner._slu = slu
    elif sketch == "minres":
        inner = MinresInner(o["laplacian_solver"])
    else:
        inner = SchurCGInner(o["laplacian_solver"])
    if o["block_size"] is not None and sketch == "kaczmarz" and o["block_size"] != 1:
        raise fail(FUNC, "block_size", "be 1 for sketch='kaczmarz'", repr(o["block_size"]))
    inner_budget = o["inner_maxiter"] or _INNER_BUDGET[sketch]
    theta_opt = o["theta"]
    if theta_opt == "auto":
        theta_opt = 1.0 if sketching or sketch == "direct" else "superlinear"

    mu, nu, delta = o["mu0"], o["nu0"], o["delta0"]
    beta, phi = o["beta"], o["factor"]
    grad_lag = g + np.asarray(G.T @ lam).ravel()
    kkt = float(math.hypot(np.linalg.norm(grad_lag), np.linalg.norm(c)))
    kkt0 = kkt
    hist = {"alpha": [], "inner": [], "theta": [], "modified": [], "rho": [], "shifts": []}
    mus, nus, deltas, kkts = [mu], [nu], [delta], [kkt]
    xnorms = [float(np.abs(x).max())]
    infeas = [_infeasibility(G, c)]  # (||c||, ||G'c|| / (||G|| ||c||)) per iterate
    linear = []  # ||G dx + c|| / ||c|| of each step taken

    def abs_kkt():
        """The KKT residual of the user's (unscaled) problem."""
        return float(math.hypot(np.linalg.norm(grad_lag) / sigma, np.linalg.norm(c)))

    abs_kkts = [abs_kkt()]
    inner_total = 0
    nit = 0
    printer = IterationPrinter(["nit", "kkt", "fun", "|c|", "mu", "nu", "delta", "alpha", "inner"]) if verbose else None
    if printer is not None:
        printer.row(0, kkt, f / sigma, float(np.linalg.norm(c)), mu, nu, delta, "", "")
    status, message = None, ""
    dw_last = 0.0  # the last nonzero inertia-correcting shift delta_w
    prev_step = None
    pure_steps = []  # the last (at most 2) consecutive unmodified full Newton steps, for _aitken_step

    prep_error = None
    handovers = []  # (iteration, why) where an inner solver handed over to the direct one

    def prepare(system_):
        """inner.prepare, handing over to DirectInner when `auto`'s choice cannot be set up; a failure that cannot
        be handed over is kept in prep_error (never raised out of minimize)."""
        nonlocal inner, prep_error
        prep_error = None
        try:
            inner.prepare(system_)
            return
        except (RuntimeError, ValueError, np.linalg.LinAlgError, MemoryError) as exc:
            if not (can_fallback and not isinstance(inner, DirectInner)):
                prep_error = exc
                return
            hand_over(f"its setup failed ({type(exc).__name__})")
        inner.prepare(system_)

    def rebuild(B_, rho_, diag_):
        """The KKT system of (B, G, rho, diag), prepared, and the zero start of its inner solve."""
        system_ = KKTSystem(B_, G, rho_, diagonal=diag_)
        prepare(system_)
        return system_, np.zeros(n + m)

    def hand_over(why):
        nonlocal inner, inner_budget
        handovers.append((nit, f"{sketch}: {why}"))
        inner = DirectInner()
        inner_budget = max(inner_budget, 1)

    def make_result(st, msg=""):
        return ConstrainedResult(
            x=x.copy(), status=st, detail=msg, nit=nit, multipliers=lam / sigma, fun=f / sigma,
            kkt_residual=abs_kkts[-1], scaled_kkt_residual=kkt, objective_scale=sigma,
            constraint_violation=float(np.linalg.norm(c)), nfev=orc.nfev, njev=orc.njev, nhev=orc.nhev,
            inner_iterations=inner_total, sketch="direct" if handovers else sketch, mu_history=np.array(mus), nu_history=np.array(nus),
            delta_history=np.array(deltas), kkt_history=np.array(abs_kkts),
            history={k: np.array(v) for k, v in hist.items()})

    while True:
        if not (math.isfinite(kkt) and math.isfinite(f)):
            status = Status.NONFINITE
            break
        if kkt <= tol:
            status = Status.SUCCESS
            break
        if nit >= maxiter:
            status = Status.MAXITER
            message = (f"After {nit} iterations the scaled KKT residual is {kkt:.3g} > tol = {tol:.3g} ({kkt0:.3g} at "
                       "x0); raise `maxiter`, or start closer to a solution (x0, lambda0).")
            break
        if nit > 0:
            H = orc.hessian(x, lam)
            if not finite_matrix(H):
                status = Status.NONFINITE
                message = "The Hessian of the Lagrangian is not finite at the current iterate."
                break
        # ---- stalled: the last _STALL_WINDOW iterations gained less than _STALL_DECREASE ----------------
        stalled = len(kkts) > _STALL_WINDOW and \
            min(kkts[-_STALL_WINDOW:]) > (1.0 - _STALL_DECREASE) * min(kkts[:-_STALL_WINDOW])
        # ---- divergence: |x| beyond 1e20 |x0| or f below -1e20 |f0| (IPOPT's diverging_iterates_tol), or |x| grew
        # 1000-fold over iterations that did not reduce the KKT residual
        xinf = xnorms[-1]
        if xinf > _DIVERGE * x0_inf or f < -_DIVERGE * f0_abs or \
                (stalled and xinf > _DIVERGE_STALLED * max(xnorms[-_STALL_WINDOW - 1], 1.0)):
            status = Status.DIVERGED
            message = (f"At iteration {nit} |x|_inf = {xinf:.3g} (x0: {xnorms[0]:.3g}) and f = {f / sigma:.3g} "
                       f"(f(x0) = {f0_user:.3g}) while the KKT residual "
                       f"is {abs_kkts[-1]:.3g}: f looks unbounded below on the constraint set. Add constraints "
                       "(or bounds written as constraints) that keep x bounded, or check the sign of f.")
            break
        # ---- local infeasibility: ||c|| stays away from 0 while c is (nearly) orthogonal to range(G') ----------
        if _locally_infeasible(infeas, linear, tol):
            status = Status.INFEASIBLE
            message = _infeasible_detail(infeas, nit)
            break
        # ---- the rounding floor of the KKT residual --------------------------------------------------
        if stalled or kkt <= _FLOOR_TOL_FACTOR * tol:
            kfloor = _kkt_floor(KKTSystem(H, G), g, x, lam)
            if _at_floor(kkt, tol, kfloor):
                status, message = Status.ROUNDING_FLOOR, _floor_detail(kkt, kfloor, "the KKT residual")
                break
            if stalled and kkt <= _STALL_FLOORS * kfloor:
                if kkt <= _FLOOR_TOL_FACTOR * tol:
                    status, message = Status.ROUNDING_FLOOR, _floor_detail(kkt, kfloor, "the KKT residual")
                else:
                    status = Status.STAGNATION
                    message = (f"The KKT residual {kkt:.3g} decreased by less than {_STALL_DECREASE:.1%} over the last "
                               f"{_STALL_WINDOW} iterations, within {_STALL_FLOORS:g} times its rounding level "
                               f"{kfloor:.3g}; `tol` = {tol:.3g} is out of reach in double precision.")
                break
        # ---- theta_k ----------------------------------------------------------------------------
        if callable(theta_opt):
            theta = float(theta_opt(nit, kkt, kkt0))
            if not 0.0 < theta <= 1.0:
                raise fail(FUNC, "theta", "return a value in (0, 1]", repr(theta))
        elif theta_opt == "superlinear":
            theta = min(1.0, kkt / kkt0)
        else:
            theta = float(theta_opt)
        # ---- B_k and the safeguards ---------------------------------------------------------------
        omega, rho = 0.0, 0.0
        geo = None
        diag = None
        if dense_checks:
            geo = _Geometry(H, G, o, float(np.linalg.norm(g)) / max(float(np.linalg.norm(x)), 1.0), reduced=sketching)
            omega = geo.omega
            if geo.rank_deficient:
                rho = min(1.0, kkt) if sketching else _RHO_C
        if explicit:
            diag = _is_diagonal(H)
        if diag is not None and not dense_checks:
            top = float(np.abs(diag).max()) if diag.size else 0.0
            low = float(diag.min()) if diag.size else 0.0
            floor = 1e-8 * top if top > 0 else o["xi_B"]
            if low < floor:
                omega = o["xi_B"] * max(top, 1.0 if top == 0 else top) - low
        # inertia-correcting regularization, re-decided here at every iteration (IPOPT's delta_w): first
        # delta_w = 0; a direction whose tangential part has curvature below hess_tol * scale retries with
        # delta_w_last / 3 (or _DW_FIRST * scale), growing 8-fold (100-fold when no earlier one) per failure
        curv_scale = _curvature_scale(H, g, x)
        kappa = o["hess_tol"] * curv_scale
        # a diagonal B > 0 is positive definite: no test needed
        test_curvature = diag is None or not (diag.size and float(diag.min()) + omega > 0.0)
        if sketching and dense_checks:
            test_curvature = False  # the reduced-Hessian shift above decided
        dw = 0.0
        B = _add_shift(H, omega)
        if diag is not None and omega:
            diag = diag + omega
        if sketch == "schur_cg" and diag is None and can_fallback and not isinstance(inner, DirectInner):
            hand_over("the Lagrangian Hessian is no longer diagonal")
        if sketch == "schur_cg" and diag is None and not isinstance(inner, DirectInner):
            status = Status.INNER_SOLVER
            message = (f"sketch='schur_cg' needs a diagonal Lagrangian Hessian, and at iteration {nit} it is no longer "
                       "diagonal (nonlinear constraints add their Hessians); use sketch='minres'.")
            break
        b = -np.concatenate([grad_lag, c])
        bnorm = kkt
        merit_parts = _MeritParts.at(grad_lag, c, H, G)
        paper = o["accuracy"] == "paper"

        def scales(mu_, nu_):
            """(multiplier of ||r|| in the test, delta_trial) for the paper's test."""
            Kd = np.block([[geo.Hd + omega * np.eye(n), geo.Gd.T], [geo.Gd, -rho * np.eye(m)]])
            knorm = float(np.linalg.norm(Kd, 2))
            bn = float(np.linalg.norm(geo.Hd, 2)) + omega
            xi_g = geo.sigma_min ** 2
            psi = 20.0 * max(bn * bn, 1.0) / (max(min(xi_g, 1.0), _EPS) * min(o["xi_B"], 1.0))
            ups = max(geo.sigma_max, geo.h_norm, 1.0)
            trial = (0.5 - beta) * nu_ / ((1.0 + mu_ + nu_) * ups * ups * psi * psi)
            return knorm * psi, trial

        if paper:
            kscale, trial = scales(mu, nu)
            delta = max(min(delta, trial), o["delta_min"])
        else:
            kscale = 1.0
        system = KKTSystem(B, G, rho, diagonal=diag)
        prepare(system)
        if prep_error is not None:
            status = Status.INNER_SOLVER
            message = (f"Setting up the inner solver ({sketch}) failed at iteration {nit} ({prep_error}); use "
                       "sketch='direct' or 'minres'.")
            break
        z = np.zeros(n + m)
        if o["warm_start"] and prev_step is not None and not inner.exact:
            # z0 = t * previous direction, t minimising ||K (t d) - b||: consecutive Newton directions are nearly
            # parallel where convergence is slow (degenerate minimisers), and there the sketches are slowest.
            kd = system.matvec(prev_step)
            kk = float(kd @ kd)
            if kk > 0 and math.isfinite(kk):
                z = (float(kd @ b) / kk) * prev_step
        step_inner = 0
        failed = None
        curvature_retries = 0
        shift_rounds = 0
        prev_norm = math.inf
        used = 0
        while True:
            # ---- inexact Newton direction under the accuracy and descent tests ------------------------
            penalty_updates = 0
            while True:
                if prep_error is not None:
                    failed = (Status.INNER_SOLVER, f"Setting up the inner solver ({sketch}) failed at iteration {nit} "
                              f"({prep_error}); use sketch='direct' or 'minres'.")
                    break
                threshold = theta * delta * bnorm / kscale
                out = inner.solve(z, b, threshold, inner_budget - used)
                used += out.steps
                step_inner += out.steps
                z = out.z
                if not out.ok and math.isfinite(out.residual) and out.residual <= delta * bnorm / kscale:
                    # The forcing term theta_k < 1 asked for more than the inner solver attains (its rounding floor
                    # or budget), but the paper's accuracy delta_k ||b_k|| (theta = 1) holds: keep the direction.
                    out.ok = True
                if not out.ok:
                    kfloor = _kkt_floor(system, g, x, lam)
                    if _at_floor(kkt, tol, kfloor):
                        failed = (Status.ROUNDING_FLOOR, _floor_detail(kkt, kfloor, "the inner solve"))
                        break
                    if can_fallback and not isinstance(inner, DirectInner):
                        hand_over(f"it stopped at ||r|| = {out.residual:.3g} ({out.reason})")
                        prepare(system)
                        z = np.zeros(n + m)
                        continue
                    if out.reason in ("singular", "floor", "preconditioner") and curvature_retries < _DW_TRIES:
                        # a singular factorization: IPOPT's delta_c (the (2,2) block -rho I) first, then delta_w
                        if rho == 0.0:
                            rho = _RHO_C
                        else:
                            omega, diag, dw, B = _raise_dw(H, omega, diag, dw, dw_last, curv_scale)
                        system, z = rebuild(B, rho, diag)
                        curvature_retries += 1
                        continue
                    if rho == 0.0 and out.reason != "budget" or (rho == 0.0 and not dense_checks):
                        rho = min(1.0, kkt)
                        system, z = rebuild(B, rho, diag)
                        continue
                    failed = (Status.INNER_SOLVER, _inner_detail(sketch, out, threshold, delta * bnorm / kscale,
                                                                 inner_budget, kkt))
                    break
                dx, dl = z[:n], z[n:]
                if 0.0 < rho < min(1.0, kkt) and float(np.linalg.norm(np.asarray(G @ dx).ravel() + c)) > \
                        _INCONSISTENT * float(np.linalg.norm(c)):
                    # the small delta_c left G dx = -c far from satisfied: the linearized constraints are
                    # inconsistent (not merely duplicated), so regularize as stabilized SQP, rho = min(1, ||b||)
                    rho = min(1.0, kkt)
                    system, z = rebuild(B, rho, diag)
                    continue
                if test_curvature and curvature_retries < _DW_TRIES and shift_rounds == 0:
                    if not _curvature_ok(inner, b, dx, B, kappa, n, m):
                        omega, diag, dw, B = _raise_dw(H, omega, diag, dw, dw_last, curv_scale)
                        system, z = rebuild(B, rho, diag)
                        curvature_retries += 1
                        continue
                dmerit = _dmerit(dx, dl, grad_lag, c, merit_parts, mu, nu)
                if dmerit <= -0.5 * nu * bnorm * bnorm:
                    break
                if mu >= _MU_MAX or nu <= _NU_MIN:
                    if dmerit < 0.0:
                        break
                    if infeas[-1][0] > max(_INF_MIN_C, 1e3 * tol) and \
                            infeas[-1][1] <= _INF_RATIO_AT_LIMIT and _linear_residual(G, dx, c) >= _INF_LINEAR:
                        failed = (Status.INFEASIBLE, _infeasible_detail(infeas, nit))
                        break
                    failed = (Status.NO_DESCENT,
                              f"At KKT residual {kkt:.3g} the directional derivative of the augmented Lagrangian "
                              f"along the Newton direction is {dmerit:.3g} >= 0 with mu = {mu:.3g} and nu = {nu:.3g} "
                              "(limits 1e8 and 1e-8). Check that the constraint Jacobian has full row rank near "
                              "the solution (drop redundant constraints), or rescale the constraints.")
                    break
                if paper:
                    mu, nu = mu * phi * phi, nu / phi
                else:
                    mu, nu = _penalty_update(dx, dl, grad_lag, c, merit_parts, bnorm, mu, nu, phi)
                penalty_updates += 1
                if paper:
                    kscale, trial = scales(mu, nu)
                    delta = max(min(delta / phi**4, trial), o["delta_min"])
                else:
                    delta = max(delta / phi**4, o["delta_min"])
            if failed is not None:
                break
            # ---- Armijo line search on the merit -------------------------------------------------------
            # A shift changes only the null-space part of the step; once a shift beyond the Hessian's own scale
            # shortens the step by less than 10%, the step is its range-space part (fixed by G dx = -c) and more
            # shift would only inflate dl.
            dx_norm = float(np.linalg.norm(dx))
            last_round = shift_rounds >= o["max_shifts"] or (shift_rounds > 0 and (
                penalty_updates > 0 or dx_norm > 0.9 * prev_norm and omega >= _hessian_scale(H, geo)))
            prev_norm = dx_norm
            floor = 0.0 if last_round else o["shift_below"]
            phi0 = merit_value(f, c, grad_lag, lam, mu, nu)

            def evaluate_at(a):
                return evaluate_point(x + a * dx, lam + a * dl)

            def evaluate_point(xa, la):
                with np.errstate(all="ignore"):
                    fa, ca = orc.f_and_c(xa)
                    if not (np.isfinite(fa) and np.isfinite(ca).all()):
                        return None
                    ga, Ga = orc.grad_jac(xa)
                    gla = ga + np.asarray(Ga.T @ la).ravel()
                    return Trial(xa, la, fa, ca, ga, Ga, gla, merit_value(fa, ca, gla, la, mu, nu))

            alpha_ext = (_aitken_step(pure_steps, z) if o["extrapolate"] and omega == 0.0 and rho == 0.0
                         and shift_rounds == 0 else None)
            def soc(t1):
                """Second-order correction of the full step (Maratos effect): x + dx + ds with
                K (ds, .) = (0, -c(x + dx)), the current factorization of K."""
                if not (inner.exact and not getattr(inner, "fail", True)):
                    return None
                with np.errstate(all="ignore"):
                    ds = inner._apply(np.concatenate([np.zeros(n), -t1.c]))[:n]
                if not np.isfinite(ds).all():
                    return None
                return evaluate_point(t1.x + ds, t1.lam)

            accepted, extrapolated, at_floor, alpha, t = _armijo(evaluate_at, phi0, dmerit, beta, kkt, alpha_ext,
                                                                 o["max_backtracks"], floor,
                                                                 soc if o["soc"] else None)
            if accepted or not at_floor:
                break
            # ---- step-length safeguard: the Newton model holds on less than `shift_below` of the step -------
            # alpha is the last refused step length. Shift B by q (1/alpha - 1), q = dx'B dx / |dx|^2 the
            # curvature along the step: on an eigendirection of B with eigenvalue q this shortens the step by
            # exactly that factor alpha. (q <= 0 can only come from the range-space part: then |B dx|/|dx|.)
            q = _step_curvature(B, dx, bnorm)
            if q is None:
                break
            add = q * (1.0 / alpha - 1.0)
            omega += add
            B = _add_shift(H, omega)
            if diag is not None:
                diag = diag + add
            system, z = rebuild(B, rho, diag)  # not the old step: it may pass the new system's (relative) accuracy test
            shift_rounds += 1
        inner_total += step_inner
        if failed is not None:
            status, message = failed
            break
        if not accepted:
            kfloor = _kkt_floor(system, g, x, lam)
            if _at_floor(kkt, tol, kfloor):
                status, message = Status.ROUNDING_FLOOR, _floor_detail(kkt, kfloor, "the line search")
            else:
                status = Status.STAGNATION
                message = (f"The Armijo line search on the augmented Lagrangian refused every step down to "
                           f"alpha = {alpha:.3g} at KKT residual {kkt:.3g} (tol {tol:.3g}); the Newton direction is "
                           "too inexact or the derivatives disagree with `fun`: check `jac`/`hess` against finite "
                           "differences, or use sketch='direct'.")
            break
        linear.append(_linear_residual(G, z[:n], c))
        x, lam, f, c, g, G, grad_lag = t.x, t.lam, t.f, t.c, t.g, t.G, t.grad_lag
        prev_step = z
        if dw > 0.0:
            dw_last = dw
        if alpha == 1.0 and omega == 0.0 and rho == 0.0 and not extrapolated:
            pure_steps = (pure_steps + [z])[-2:]
        else:
            pure_steps = []
        kkt = float(math.hypot(np.linalg.norm(grad_lag), np.linalg.norm(c)))
        nit += 1
        hist["alpha"].append(alpha)
        hist["inner"].append(step_inner)
        hist["theta"].append(theta)
        hist["modified"].append(omega)
        hist["rho"].append(rho)
        hist["shifts"].append(shift_rounds)
        mus.append(mu)
        nus.append(nu)
        deltas.append(delta)
        kkts.append(kkt)
        abs_kkts.append(abs_kkt())
        xnorms.append(float(np.abs(x).max()))
        infeas.append(_infeasibility(G, c))
        if printer is not None:
            printer.row(nit, kkt, f / sigma, float(np.linalg.norm(c)), mu, nu, delta, alpha, step_inner)
        if callback is not None and call_callback(callback, make_result(Status.SUCCESS if kkt <= tol
                                                                         else Status.MAXITER)):
            status = Status.CALLBACK
            break
    return finish(make_result(status, message), FUNC)


#: ``method=`` dispatch.
METHODS = {"adasketch": _adasketch_one_blas_thread}
