"""Bench suite ``bilevel``: numopt.bilevel.maid against HOAG and fixed-accuracy peers written here, and scikit-learn.

Cost is the paper's: total lower-level (FISTA) + CG iterations, line-search trials included (plus wall time).
Quality is always judged on the *exact* f(θ) (closed forms here), never on g at an inexact lower iterate.

Peers (same oracles, same counters, same FISTA and CG, so only the outer logic differs)
-----
* ``HOAG-geo/quad/cubic``: Pedregosa's HOAG (ICML 2016) rules re-implemented (fabianp/hoag no longer runs on
  SciPy 1.17 / NumPy 2): tolerance ε_k = ε₀·0.9^k, ε₀/k², ε₀/k³ for both the lower solve and CG; step 1/L with
  L₀ = ‖z₀‖/√d, L ×0.95 after a step that passed HOAG's inexact test, ×2 with the step undone when the upper
  value grew by 20 %. θ clipped to [-6, 6]... only for log-weight problems (as HOAG does), not for §4.1.
* ``fixed eps``: MAID's line search with ε = δ frozen and steps along -z (the authors' ``fixed_eps`` baseline);
  ``fixed eps +metric`` gives it MAID's limited-memory BFGS metric too (reported beside the target, for honesty:
  MAID's default ``memory=5`` is not in the paper).
* scikit-learn ``GridSearchCV(Ridge, 50 alphas, PredefinedSplit)`` and ``RidgeCV`` (efficient LOO, another criterion).

Cases
-----
* ``B1 quadratic``: §4.1 with H = A₂ᵀA₂ of eigenvalues linspace(1, κ), A₁, A₃ uniform: n = 1000, d = 10
  (κ = 10) from ε₀ ∈ {1e-1, 1e-3, 1e-5}; and n = 80, d = 4 at κ ∈ {2, 10, 30}: cost to a relative gap 5e-3
  in the exact f against fixed ε = 1e-4. Targets: ‖θ-θ*‖/‖θ*‖ ≤ 1e-3; costs from the three ε₀ within 2x;
  at κ ≥ 20 cost ≤ 0.6x fixed ε = 1e-4.
* ``B2 ridge``: p = 200, 500 training + 200 validation samples. Scalar: |log λ - log λ*| ≤ 1e-3 (brentq),
  wall ≤ GridSearchCV. Per feature (200 hyperparameters, budget 3e4): validation loss ≤ the scalar optimum.
* ``B3 Tikhonov``: N = 1024 (513 hyperparameters), 8 random walks, σ = 0.3, FISTA lower level:
  f ≤ f*(1 + 1e-3) within 3e4 LL+CG iterations and ≤ 20 s; the best scalar λ for reference.
* ``B5 logistic``: scikit-learn's digits (pixels / 16), 600/600/597 split, 650 per-weight hyperparameters,
  θ₀ = -3, budget 3e4: validation cross-entropy ≤ 0.75x the best 25-point scalar-C grid (scikit-learn
  ``LogisticRegression``) and ≤ HOAG-geometric's; test cross-entropy and accuracy reported, not gated.
* ``B4 TV``: smoothed TV denoising, θ = (log α, log ν), on eight scikit-image images (``TV_IMAGES``, shipped
  with the package) resized to 64², σ = 0.1, four to train and four held out, θ₀ = (-5, -5): held-out PSNR
  gain ≥ 7 dB; cost to a 1e-3 relative gap in the exact f (f* = the best value seen, polished by
  Nelder-Mead on the exact f) ≤ 1.3x the best of HOAG-geometric and fixed ε = 1e-3; the gap reached from
  every ε₀ ∈ {1e-5, 1e-3, 1e-1}; ≤ 60 s. Also reported: MAID with ``memory=0`` (the paper's steps), fixed ε with
  the metric, and the held-out PSNR ceiling (the best mean gain of any θ, by Nelder-Mead on the held-out PSNR).
  Budget 2e4 LL+CG iterations per run (8e3 with ``--quick``). Skipped with a note without scikit-image (the
  ``bench`` extra).
``--quick`` drops the n = 1000 quadratic to n = 300 and the ε₀ sweep to 2 values.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import numpy as np

from numopt import ConvergenceWarning
from numopt.bilevel import maid, quadratic_problem, ridge_problem, tikhonov_fourier_problem
from numopt.bilevel._maid import CONSTANTS, _maid
from numopt.bilevel._oracle import Lower, Oracle, Stop

from ._runner import Row


# --------------------------------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------------------------------


def hoag(problem, theta0, *, schedule="geometric", eps0=1e-1, budget=30_000, maxiter=100_000, clip=None,
         callback=None):
    """HOAG's outer loop (Pedregosa 2016, as in fabianp/hoag) on numopt's oracles; returns (theta, ora)."""
    theta0 = np.asarray(theta0, dtype=float)
    x0 = problem.lower_x0(theta0)
    ora = Oracle(problem, theta0.shape, x0.shape, budget)
    theta = theta0.reshape(-1).copy()
    lower = Lower(x0.reshape(-1).copy(), None, math.inf)
    q, L_step, g_old, eps_old, theta_old, lower_old = None, None, math.inf, eps0, theta.copy(), lower
    d = theta.size
    try:
        for k in range(maxiter):
            if schedule == "geometric":
                eps = eps0 * 0.9**k
            elif schedule == "quadratic":
                eps = eps0 / (k + 1) ** 2
            else:
                eps = eps0 / (k + 1) ** 3
            mu = ora.mu(theta)
            if lower.grad_norm > mu * eps:
                lower = ora.solve(theta, lower.x, eps)
            up = ora.upper(lower.x)
            q, _ = ora.adjoint(lower.x, theta, up.grad, eps, q)
            z = -ora.cross(lower.x, theta, q)
            if L_step is None:
                L_step = max(np.linalg.norm(z) / math.sqrt(d), 1e-12)
            # HOAG's acceptance of the previous step (inexact sufficient decrease), else undo and halve
            incr = np.linalg.norm(theta - theta_old)
            if up.value <= g_old + 0.25 * eps + eps_old * 1.25 * incr - L_step * incr * incr:
                L_step *= 0.95
            elif up.value >= 1.2 * g_old:
                L_step *= 2.0
                theta, lower = theta_old.copy(), lower_old
                eps0 *= 0.5
                continue
            theta_old, lower_old, g_old, eps_old = theta.copy(), lower, up.value, eps
            theta = theta - z / L_step
            if clip is not None:
                theta = np.clip(theta, -clip, clip)
            if callback is not None:
                callback(theta_old, ora.n_lower + ora.n_linear)
    except Stop:
        pass
    return theta_old.reshape(theta0.shape), ora


def fixed_eps(problem, theta0, eps, *, budget=30_000, maxiter=100_000, callback=None, memory=0):
    """MAID's line search with ε = δ frozen: with ``memory=0`` (steps along -z) the authors' fixed-accuracy
    baseline; ``memory=5`` gives it MAID's limited-memory BFGS metric too (then ω is not tested either)."""
    x0 = problem.lower_x0(theta0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _maid(problem, np.asarray(theta0, float), np.asarray(x0, float), eps0=eps, delta0=eps, step0=None,
                     tol=1e-12, maxiter=maxiter, budget=budget, callback=callback,
                     constants=dataclasses.replace(CONSTANTS, memory=memory), fixed=True)


def run_maid(problem, theta0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return maid(problem, theta0, **kw)


def _trace():
    """A callback recording (θ, cost) at each accepted step, for the exact-f curve."""
    pts = []
    times = []
    t0 = time.perf_counter()

    def cb(r):
        pts.append((r.theta.copy(), r.n_lower + r.n_linear))
        times.append(time.perf_counter() - t0)

    cb.times = times
    return pts, cb


def cost_to_gap(points, exact_f, fstar, gap):
    """First cost at which (f(θ) - f*)/|f*| ≤ gap along the recorded points, or inf."""
    for theta, cost in points:
        if (exact_f(theta) - fstar) / abs(fstar) <= gap:
            return cost
    return math.inf


# --------------------------------------------------------------------------------------------------------------
# B1: quadratic
# --------------------------------------------------------------------------------------------------------------


def make_quadratic(n, d, cond, seed=0):
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    A2 = Q * np.sqrt(np.linspace(1.0, cond, n))
    A3 = rng.uniform(size=(n, d))
    A1 = rng.uniform(size=(n, n)) / n
    b2 = A2 @ rng.uniform(size=n)
    b1 = A1 @ rng.uniform(size=n) + 0.01 * rng.standard_normal(n)
    return quadratic_problem(A1, b1, A2, A3, b2)


def _quad_f(p):
    return lambda t: p.upper_fun(np.linalg.solve(p.H, p.c - p.C @ t))


def case_quadratic(repeat, quick):
    rows = []
    n = 300 if quick else 1000
    p = make_quadratic(n, 10, 10.0)
    ts = p.theta_star()
    costs = {}
    for e0 in ((1e-1, 1e-5) if quick else (1e-1, 1e-3, 1e-5)):
        t0 = time.perf_counter()
        res = run_maid(p, np.ones(10), eps0=e0, delta0=e0, tol=1e-7, maxiter=20_000, budget=400_000)
        wall = time.perf_counter() - t0
        err = np.linalg.norm(res.theta - ts) / np.linalg.norm(ts)
        costs[e0] = res.n_lower + res.n_linear
        rows.append(Row(f"B1 quad eps0={e0:g}", f"n={n} d=10 cond(H)=10", wall, "theta* (lstsq)", float("nan"),
                        f"|th-th*|/|th*| {err:.1e}", "",
                        f"{res.status.name} nit={res.nit} cost={costs[e0]}; target rel err<=1e-3: "
                        f"{'met' if err <= 1e-3 else 'MISSED'}"))
    spread = max(costs.values()) / min(costs.values())
    rows.append(Row("B1 quad eps0 spread", f"n={n} d=10", float("nan"), "", float("nan"), f"max/min cost {spread:.2f}",
                    "", f"target <= 2: {'met' if spread <= 2 else 'MISSED'}"))
    for cond in (2.0, 10.0, 30.0):
        p = make_quadratic(80, 4, cond, seed=1)
        f, ts = _quad_f(p), p.theta_star()
        fstar = f(ts)
        pts, cb = _trace()
        t0 = time.perf_counter()
        res = run_maid(p, np.ones(4), tol=1e-9, maxiter=20_000, budget=400_000, callback=cb)
        wall = time.perf_counter() - t0
        c_maid = cost_to_gap([(np.ones(4), 0)] + pts, f, fstar, 5e-3)
        pts_f, cb_f = _trace()
        t0 = time.perf_counter()
        fx = fixed_eps(p, np.ones(4), 1e-4, budget=400_000, maxiter=20_000, callback=cb_f)
        wall_f = time.perf_counter() - t0
        c_fix = cost_to_gap([(np.ones(4), 0)] + pts_f, f, fstar, 5e-3)
        steps_m = next((i + 1 for i, (t, _) in enumerate(pts) if (f(t) - fstar) / fstar <= 5e-3), -1)
        steps_f = next((i + 1 for i, (t, _) in enumerate(pts_f) if (f(t) - fstar) / fstar <= 5e-3), -1)
        pts_h = []
        hoag(p, np.ones(4), budget=400_000, callback=lambda t, c: pts_h.append((t, c)))
        c_hoag = cost_to_gap(pts_h, f, fstar, 5e-3)
        ratio = c_maid / c_fix
        target = "" if cond < 20 else f"; target cost<=0.6x fixed: {'met' if ratio <= 0.6 else 'MISSED'}"
        # fixed eps does not test omega <= (1 - eta)|z|: count its accepted steps that MAID would not certify,
        # and the cost of the fixed eps that certifies every step
        acc = np.asarray(fx.history["accepted"], bool)
        unc = int((np.asarray(fx.history["omega"]) > (1 - CONSTANTS.eta) * np.asarray(fx.history["grad_norm"]))[acc]
                  .sum())
        pts_c, cb_c = _trace()
        fixed_eps(p, np.ones(4), 1e-6, budget=400_000, maxiter=20_000, callback=cb_c)
        c_cert = cost_to_gap([(np.ones(4), 0)] + pts_c, f, fstar, 5e-3)
        pts_m, cb_m = _trace()
        fixed_eps(p, np.ones(4), 1e-4, budget=400_000, maxiter=20_000, callback=cb_m, memory=CONSTANTS.memory)
        c_met = cost_to_gap([(np.ones(4), 0)] + pts_m, f, fstar, 5e-3)
        target += (f"; fixed eps=1e-4 took {unc}/{int(acc.sum())} steps with omega > (1-eta)|z| (not certified); "
                   f"fixed eps=1e-6 (every step certified) cost {c_cert} ({c_maid / c_cert:.2f}x); fixed eps=1e-4 "
                   f"with MAID's metric cost {c_met} ({c_maid / c_met:.2f}x)")
        rows.append(Row(f"B1 quad cond={cond:g}", "n=80 d=4 gap 5e-3", wall, "fixed eps=1e-4", wall_f,
                        f"cost {c_maid} vs {c_fix} ({ratio:.2f}x)", "",
                        f"outer steps {steps_m} vs {steps_f}; HOAG-geo cost {c_hoag}; final rel err "
                        f"{np.linalg.norm(res.theta - ts) / np.linalg.norm(ts):.1e}{target}"))
    return rows


# --------------------------------------------------------------------------------------------------------------
# B2: ridge
# --------------------------------------------------------------------------------------------------------------


def case_ridge(repeat, quick):
    from scipy.optimize import brentq

    rng = np.random.default_rng(0)
    p_feat, n_train, n_val = 200, 500, 200
    X = rng.standard_normal((n_train + n_val, p_feat))
    w = rng.standard_normal(p_feat) * (rng.random(p_feat) < 0.3)
    y = X @ w + 2.0 * rng.standard_normal(n_train + n_val)
    Xt, yt, Xv, yv = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    prob = ridge_problem(Xt, yt, Xv, yv)
    t_star = brentq(lambda t: prob.exact_gradient(np.array([t]))[0], -10, 15, xtol=1e-14)
    f_star = prob.upper_fun(prob.exact_solution(np.array([t_star])))
    rows = []
    times = []
    for _ in range(max(1, min(repeat, 3))):
        t0 = time.perf_counter()
        res = run_maid(ridge_problem(Xt, yt, Xv, yv), np.zeros(1), tol=1e-6)
        times.append(time.perf_counter() - t0)
    wall = float(np.median(times))
    dlog = abs(res.theta[0] - t_star)
    peer_s, peer_note = float("nan"), "scikit-learn absent"
    try:
        from sklearn.linear_model import Ridge, RidgeCV
        from sklearn.model_selection import GridSearchCV, PredefinedSplit
    except ImportError:  # pragma: no cover - optional peer
        pass
    else:
        alphas = np.logspace(-3, 4, 50)
        split = PredefinedSplit(np.r_[np.full(n_train, -1), np.zeros(n_val)])
        gtimes = []
        for _ in range(max(1, min(repeat, 3))):
            t0 = time.perf_counter()
            gs = GridSearchCV(Ridge(fit_intercept=False), {"alpha": alphas}, cv=split,
                              scoring="neg_mean_squared_error", refit=False).fit(X, y)
            gtimes.append(time.perf_counter() - t0)
        peer_s = float(np.median(gtimes))
        a_grid = gs.best_params_["alpha"]
        t0 = time.perf_counter()
        rcv = RidgeCV(alphas=alphas, fit_intercept=False).fit(Xt, yt)
        t_rcv = time.perf_counter() - t0
        peer_note = (f"grid alpha {a_grid:.4g} (|dlog| {abs(math.log(a_grid) - t_star):.2e}); RidgeCV(LOO) "
                     f"alpha {rcv.alpha_:.4g} in {t_rcv:.3f} s")
    ok = dlog <= 1e-3 and wall <= peer_s
    rows.append(Row("B2 ridge scalar", f"p={p_feat} n={n_train}+{n_val}", wall, "GridSearchCV 50 alphas", peer_s,
                    f"|log l - log l*| {dlog:.1e}", "",
                    f"{res.status.name} nit={res.nit} cost={res.n_lower + res.n_linear}; {peer_note}; "
                    f"target |dlog|<=1e-3 and wall<=grid: {'met' if ok else 'MISSED'}"))
    # HOAG and fixed-eps on the scalar problem: cost to |dlog| <= 1e-3 would need the path; report final dlog
    th_h, ora_h = hoag(prob, np.zeros(1), budget=res.n_lower + res.n_linear, clip=12)
    fx = fixed_eps(prob, np.zeros(1), 1e-3, budget=res.n_lower + res.n_linear)
    rows.append(Row("B2 ridge scalar, same cost", f"budget {res.n_lower + res.n_linear}", float("nan"),
                    "HOAG-geo / fixed eps=1e-3", float("nan"),
                    f"|dlog| {abs(th_h[0] - t_star):.1e} / {abs(fx.theta[0] - t_star):.1e}", "",
                    f"MAID |dlog| {dlog:.1e} at the same cost"))
    # per feature
    pf = ridge_problem(Xt, yt, Xv, yv, per_feature=True)
    t0 = time.perf_counter()
    res_pf = run_maid(pf, np.full(p_feat, t_star), budget=30_000)
    wall_pf = time.perf_counter() - t0
    f_pf = pf.upper_fun(pf.exact_solution(res_pf.theta))
    th_h, _ = hoag(pf, np.full(p_feat, t_star), budget=30_000, clip=12)
    f_h = pf.upper_fun(pf.exact_solution(th_h))
    rows.append(Row("B2 ridge per-feature", f"p={p_feat}, 200 hyperparameters", wall_pf, "HOAG-geo (same budget)",
                    float("nan"), f"val loss {f_pf:.4f} vs scalar* {f_star:.4f}", "",
                    f"{res_pf.status.name} nit={res_pf.nit} cost={res_pf.n_lower + res_pf.n_linear}; HOAG val loss "
                    f"{f_h:.4f}; target <= scalar optimum: {'met' if f_pf <= f_star else 'MISSED'}"))
    return rows


# --------------------------------------------------------------------------------------------------------------
# B3: per-frequency Tikhonov
# --------------------------------------------------------------------------------------------------------------


def case_tikhonov(repeat, quick):
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(1)
    N, m = 1024, 8
    clean = np.cumsum(rng.standard_normal((m, N)), axis=1)
    noisy = clean + 0.3 * rng.standard_normal(clean.shape)
    p = tikhonov_fourier_problem(noisy, clean)
    fstar = p.optimal_value()
    d = N // 2 + 1
    pts, cb = _trace()
    t0 = time.perf_counter()
    res = run_maid(p, np.zeros(d), tol=1e-6, budget=30_000, maxiter=300, callback=cb)
    wall = time.perf_counter() - t0
    gap = p.exact_value(res.theta) / fstar - 1
    c3 = cost_to_gap(pts, p.exact_value, fstar, 1e-3)
    t_reach = next((cb.times[i] for i, (_, c) in enumerate(pts) if c == c3), math.inf)
    pts_h = []
    t0 = time.perf_counter()
    hoag(p, np.zeros(d), budget=30_000, clip=12, callback=lambda t, c: pts_h.append((t.copy(), c)))
    wall_h = time.perf_counter() - t0
    c3_h = cost_to_gap(pts_h, p.exact_value, fstar, 1e-3)
    gap_h = min(p.exact_value(t) for t, _ in pts_h) / fstar - 1 if pts_h else math.nan
    pts_f, cb_f = _trace()
    fixed_eps(p, np.zeros(d), 1e-3, budget=30_000, callback=cb_f)
    c3_f = cost_to_gap(pts_f, p.exact_value, fstar, 1e-3)
    best_scalar = minimize_scalar(lambda t: p.exact_value(np.full(d, t)), bounds=(-10, 10), method="bounded")
    gap_scalar = best_scalar.fun / fstar - 1
    ok = c3 <= 30_000 and t_reach <= 20
    rows = [Row("B3 Tikhonov per frequency", f"N={N} m={m} d={d}", wall, "HOAG-geo (3e4 budget)", wall_h,
                f"gap {gap:.1e} (1e-3 at cost {c3}, {t_reach:.1f} s)", "",
                f"{res.status.name} nit={res.nit} cost={res.n_lower + res.n_linear}; HOAG cost to 1e-3 {c3_h}, best "
                f"gap {gap_h:.1e}; fixed eps=1e-3 cost to 1e-3 {c3_f}; best scalar lambda gap {gap_scalar:.1e}; "
                f"target gap<=1e-3 within 3e4 its and 20 s: {'met' if ok else 'MISSED'}")]
    return rows


# --------------------------------------------------------------------------------------------------------------
# B4: TV denoising on scikit-image images
# --------------------------------------------------------------------------------------------------------------

#: The eight scikit-image images of B4 (all shipped inside the package, no download): the first four train,
#: the last four are held out; each half has three photographs and one synthetic piecewise-constant image.
TV_IMAGES = ("camera", "coins", "moon", "checkerboard", "astronaut", "clock", "chelsea", "shepp_logan_phantom")


def tv_images(side=64, sigma=0.1, seed=0):
    """(clean, noisy) stacks, shape (8, side, side): grey levels scaled to [0, 1], area-resized."""
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.transform import resize

    out = []
    for name in TV_IMAGES:
        x = np.asarray(getattr(data, name)(), dtype=np.float64)
        if x.ndim == 3:
            x = rgb2gray(x[..., :3] / 255.0)
        x = resize(x, (side, side), anti_aliasing=True)
        x = (x - x.min()) / (x.max() - x.min())
        out.append(x)
    clean = np.stack(out)
    noisy = clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape)
    return clean, noisy


def _tv_exact(problem, noisy, theta, tol=1e-9):
    from numopt.bilevel._problem import fista

    theta = np.asarray(theta, dtype=float)
    out = fista(lambda x: problem.lower_grad(x, theta), noisy, 1.0, problem.lower_L(theta), tol, 200_000)
    return out.x


def first_at_gap(points, exact_f, fstar, gap, stride):
    """Index of the first point with (f(θ) - f*)/|f*| ≤ gap (or None), evaluating every ``stride``-th point,
    then the points before the first hit (exact when f decreases along the points, as on MAID's accepted
    steps; otherwise the index found is at most ``stride`` - 1 points late)."""
    n = len(points)
    hit = next((min(i, n - 1) for i in range(stride - 1, n + stride - 1, stride)
                if (exact_f(points[min(i, n - 1)][0]) - fstar) / abs(fstar) <= gap), None)
    if hit is None:
        return None
    first = hit
    for i in range(hit - 1, max(hit - stride, -1), -1):
        if (exact_f(points[i][0]) - fstar) / abs(fstar) <= gap:
            first = i
        else:
            break
    return first


def case_tv(repeat, quick):
    try:
        clean, noisy = tv_images()
    except ImportError:
        return [Row("B4 TV scikit-image", "", float("nan"), "", float("nan"), "", "",
                    "skipped: scikit-image is not installed (pip install numopt[bench])")]
    from scipy.optimize import minimize

    from numopt.bilevel import tv_denoising_problem

    tr, te = slice(0, 4), slice(4, 8)
    p = tv_denoising_problem(noisy[tr], clean[tr])
    cache = {}

    def f(theta):
        key = tuple(np.round(np.asarray(theta, float), 12))
        if key not in cache:
            cache[key] = p.upper_fun(_tv_exact(p, noisy[tr], theta))
        return cache[key]

    theta0 = np.array([-5.0, -5.0])
    budget = 8_000 if quick else 20_000
    runs = {}
    pts, cb = _trace()
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_maid(p, theta0, tol=1e-6, budget=budget, callback=cb)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    runs["MAID"] = pts
    pts_h = []
    t0 = time.perf_counter()
    hoag(p, theta0, budget=budget, clip=12, callback=lambda t, c: pts_h.append((t.copy(), c)))
    wall_h = time.perf_counter() - t0
    runs["HOAG-geo"] = pts_h
    pts_f, cb_f = _trace()
    fixed_eps(p, theta0, 1e-3, budget=budget, callback=cb_f)
    runs["fixed eps=1e-3"] = pts_f
    pts_fm, cb_fm = _trace()
    fixed_eps(p, theta0, 1e-3, budget=budget, callback=cb_fm, memory=CONSTANTS.memory)
    runs["fixed eps=1e-3 +metric"] = pts_fm
    pts_0, cb_0 = _trace()
    run_maid(p, theta0, tol=1e-6, budget=budget, callback=cb_0, memory=0)
    runs["MAID memory=0"] = pts_0
    # f*: the best exact value seen, polished by Nelder-Mead on the exact f (two hyperparameters)
    cands = [t for name in runs for t, _ in runs[name][-5:]]
    best = min(cands, key=f)
    nm = minimize(f, best, method="Nelder-Mead", options=dict(xatol=1e-5, fatol=1e-10, maxfev=200))
    fstar = min(f(best), float(nm.fun))
    gap = 1e-3
    firsts = {name: first_at_gap(pts_, f, fstar, gap, max(1, len(pts_) // 40)) for name, pts_ in runs.items()}
    costs = {name: math.inf if i is None else runs[name][i][1] for name, i in firsts.items()}
    t_gap = math.inf if firsts["MAID"] is None else cb.times[firsts["MAID"]]
    ref = min(costs["HOAG-geo"], costs["fixed eps=1e-3"])
    ratio = costs["MAID"] / ref
    ref_all = min(ref, costs["fixed eps=1e-3 +metric"])
    # held-out PSNR at the learned theta
    pt = tv_denoising_problem(noisy[te], clean[te])
    den = _tv_exact(pt, noisy[te], res.theta)

    def psnr(x, c):
        return 10 * np.log10(1.0 / np.mean((x - c) ** 2))

    def mean_gain(theta):
        d = _tv_exact(pt, noisy[te], theta, tol=1e-7)
        return float(np.mean([psnr(d[i], clean[te][i]) - psnr(noisy[te][i], clean[te][i]) for i in range(4)]))

    gains = [psnr(den[i], clean[te][i]) - psnr(noisy[te][i], clean[te][i]) for i in range(4)]
    # the ceiling: the best mean held-out gain any shared theta gives (Nelder-Mead on the held-out PSNR itself,
    # from the learned theta; 6.82 dB with these images, so the >= 7 dB target is out of reach of smoothed TV)
    ceiling = -minimize(lambda t: -mean_gain(t), res.theta, method="Nelder-Mead",
                        options=dict(xatol=1e-3, fatol=1e-4, maxfev=80)).fun
    rows = [Row("B4 TV scikit-image 64x64", "4 train + 4 held-out, sigma 0.1, theta0 (-5,-5)", wall,
                "best of HOAG-geo / fixed eps=1e-3", float("nan"),
                f"cost to gap 1e-3 {costs['MAID']} vs {ref} ({ratio:.2f}x)", "",
                f"{res.status.name} nit={res.nit} cost={res.n_lower + res.n_linear} (budget {budget}) CPU {cpu:.1f} s, "
                f"gap 1e-3 reached at {t_gap:.2f} s wall; theta "
                f"{np.round(res.theta, 3).tolist()} vs NM {np.round(nm.x, 3).tolist()}; final gap "
                f"{f(res.theta) / fstar - 1:.1e}; costs to 1e-3: HOAG-geo {costs['HOAG-geo']}, fixed "
                f"{costs['fixed eps=1e-3']}, fixed with MAID's metric {costs['fixed eps=1e-3 +metric']} (MAID "
                f"{costs['MAID'] / ref_all:.2f}x the best of the three), MAID memory=0 (the paper's steps) "
                f"{costs['MAID memory=0']} (HOAG wall {wall_h:.1f} s); held-out PSNR gains "
                f"{', '.join(f'{n} {g:.2f}' for n, g in zip(TV_IMAGES[4:], gains))} dB (mean {np.mean(gains):.2f}; the best mean any theta gives on the held-out images, by "
                f"Nelder-Mead on their PSNR: {ceiling:.2f}); "
                f"targets: gain >= 7 dB on each held-out image: {'met' if min(gains) >= 7 else 'MISSED'} (mean "
                f"{'>=' if np.mean(gains) >= 7 else '<'} 7), cost <= 1.3x: {'met' if ratio <= 1.3 else 'MISSED'}, "
                f"<= 60 s: {'met' if wall <= 60 else 'MISSED'} (wall of the whole budgeted run)")]
    sweep = []
    for e0 in ((1e-5, 1e-1) if quick else (1e-5, 1e-3, 1e-1)):
        pts_e, cb_e = _trace()
        r = run_maid(p, theta0, eps0=e0, delta0=e0, tol=1e-6, budget=budget, callback=cb_e)
        i = first_at_gap(pts_e, f, fstar, gap, max(1, len(pts_e) // 40))
        sweep.append((e0, r.status.name, math.inf if i is None else pts_e[i][1], f(r.theta) / fstar - 1))
    ok = all(c < math.inf for _, _, c, _ in sweep)
    rows.append(Row("B4 TV eps0 sweep", "eps0 in [1e-5, 1e-1]", float("nan"), "", float("nan"),
                    "; ".join(f"{e:g}: {st} cost {c} gap {g:.1e}" for e, st, c, g in sweep), "",
                    f"target: reaches gap 1e-3 from every eps0: {'met' if ok else 'MISSED'}"))
    return rows


# --------------------------------------------------------------------------------------------------------------
# B5: multinomial logistic regression on digits
# --------------------------------------------------------------------------------------------------------------


def case_logistic(repeat, quick):
    from numopt.bilevel import logistic_problem
    from numopt.bilevel._problems import _cross_entropy

    try:
        from sklearn.datasets import load_digits
        from sklearn.linear_model import LogisticRegression
    except ImportError:  # pragma: no cover - optional peer
        return [Row("B5 logistic digits", "", float("nan"), "scikit-learn absent", float("nan"), "", "", "skipped")]
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    perm = np.random.default_rng(0).permutation(len(y))
    X, y = X[perm], y[perm]
    Xt, yt, Xv, yv, Xs, ys = X[:600], y[:600], X[600:1200], y[600:1200], X[1200:], y[1200:]
    p = logistic_problem(Xt, yt, Xv, yv)
    aug = lambda A: np.hstack([A, np.ones((A.shape[0], 1))])  # noqa: E731
    budget = 10_000 if quick else 30_000

    def scores(W):
        ce_v = _cross_entropy(aug(Xv) @ W, yv) / len(yv)
        Zs = aug(Xs) @ W
        return ce_v, _cross_entropy(Zs, ys) / len(ys), float(np.mean(np.argmax(Zs, 1) == ys))

    theta0 = np.full(p.theta_shape(), -3.0)
    t0 = time.perf_counter()
    res = run_maid(p, theta0, budget=budget)
    wall = time.perf_counter() - t0
    v_m, t_m, a_m = scores(res.x_lower)
    th_h, ora_h = hoag(p, theta0, budget=budget, clip=12)
    ora_h.budget = math.inf   # the final evaluation is outside the budget
    lower = ora_h.solve(th_h.reshape(-1), np.zeros(p.shape).reshape(-1), 1e-8)
    v_h, t_h, a_h = scores(lower.x.reshape(p.shape))
    t0 = time.perf_counter()
    best = (math.inf, None, None)
    for C in np.logspace(-3, 3, 25):
        clf = LogisticRegression(C=C, max_iter=5000).fit(Xt, yt)
        P = np.clip(clf.predict_proba(Xv), 1e-300, None)
        ce = float(-np.mean(np.log(P[np.arange(len(yv)), yv])))
        if ce < best[0]:
            best = (ce, C, clf)
    t_grid = time.perf_counter() - t0
    ce_g, C_g, clf = best
    Ps = np.clip(clf.predict_proba(Xs), 1e-300, None)
    t_g = float(-np.mean(np.log(Ps[np.arange(len(ys)), ys])))
    a_g = float(clf.score(Xs, ys))
    ok = v_m <= 0.75 * ce_g and v_m <= v_h
    return [Row("B5 logistic digits 650 hp", f"600/600/597, budget {budget}", wall, "25-point C grid (sklearn)",
                t_grid, f"val CE {v_m:.4f} vs {ce_g:.4f}", "",
                f"{res.status.name} nit={res.nit} cost={res.n_lower + res.n_linear}; HOAG-geo val CE {v_h:.4f}; test "
                f"CE/acc MAID {t_m:.4f}/{a_m:.3f}, HOAG {t_h:.4f}/{a_h:.3f}, grid (C={C_g:.3g}) {t_g:.4f}/{a_g:.3f}; "
                f"target val CE <= 0.75x grid and <= HOAG: {'met' if ok else 'MISSED'}")]


CASES = [case_quadratic, case_ridge, case_tikhonov, case_tv, case_logistic]


def run(repeat: int = 5, quick: bool = False) -> list[Row]:
    rows = []
    for case in CASES:
        rows.extend(case(repeat, quick))
    return rows
