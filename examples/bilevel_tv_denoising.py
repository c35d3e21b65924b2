"""Learning the two hyperparameters of TV denoising with MAID, against HOAG and a fixed accuracy.
==============================================================================================

A smoothed anisotropic TV denoiser, θ = (log α, log ν), is learned on four scikit-image images at 64²
(the training half of bench B4: camera, coins, moon, checkerboard; σ = 0.1) and judged on the four held-out
ones (three synthetic piecewise-constant images when scikit-image is not installed). MAID adapts the lower-level accuracy ε and the adjoint accuracy δ itself and certifies
every step as a decrease of the exact loss; the peers (HOAG with a geometric tolerance schedule, and MAID's
line search at a frozen ε = 1e-3) are those of ``python -m bench bilevel``. The plot shows the exact upper
loss (re-solved tightly) against the cost, lower-level + CG iterations, and MAID's ε_k, δ_k.
Run from the repository root: ``python examples/bilevel_tv_denoising.py`` (writes bilevel_tv_denoising.png
when matplotlib is installed). It runs in about 15 s with one BLAS thread, which it sets itself: the
lower-level vectors (4 x 64² = 16 384 numbers) are too short to gain from OpenBLAS's threads, whose
spin-waits make every norm and dot product many times slower on a busy machine.
"""

# %%
import pathlib
import sys
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))   # for bench's peers

from bench.bilevel import TV_IMAGES, fixed_eps, hoag, tv_images  # noqa: E402
from numopt import ConvergenceWarning  # noqa: E402
from numopt.bilevel import maid, tv_denoising_problem  # noqa: E402
from numopt.bilevel._problem import fista  # noqa: E402

rng = np.random.default_rng(0)
# one BLAS thread, restored at the end (the docs' gallery runs every example in one process)
blas = threadpool_limits(1, user_api="blas")
warnings.simplefilter("ignore", ConvergenceWarning)   # every method stops at the same `budget` here


def image(n=32):
    x = np.zeros((n, n))
    for _ in range(6):
        a, b = rng.integers(0, n, 2)
        w, h = rng.integers(4, n // 2, 2)
        x[a:a + w, b:b + h] += rng.uniform(-0.5, 1.0)
    return x


try:
    clean_all, noisy_all = tv_images()                       # 8 scikit-image images, 64 x 64, sigma = 0.1
    clean, noisy, held_clean, held_noisy = clean_all[:4], noisy_all[:4], clean_all[4:], noisy_all[4:]
    names = TV_IMAGES[4:]
except ImportError:
    print("scikit-image is not installed: synthetic images instead")
    clean = np.stack([image() for _ in range(3)])
    noisy = clean + 0.1 * rng.standard_normal(clean.shape)
    held_clean = held_noisy = None
problem = tv_denoising_problem(noisy, clean)
theta0, budget = np.array([-5.0, -5.0]), 8000


def exact_f(theta, x0=None):
    """The upper loss at a tightly solved lower level (the quantity every method is judged on); FISTA starts
    from ``x0`` (the solution at a nearby θ saves most of the iterations) or from the noisy images."""
    start = noisy if x0 is None else x0
    out = fista(lambda x: problem.lower_grad(x, theta), start, 1.0, problem.lower_L(theta), 1e-9, 100_000)
    return problem.upper_fun(out.x), out.x


def exact_curve(points):
    """(cost, exact f) at about 25 of a method's recorded (θ, cost) points, each solve warm-started."""
    series, x = [(0, f0)], x_theta0
    for theta, cost in points[:: max(1, len(points) // 25)]:
        f, x = exact_f(theta, x)
        series.append((cost, f))
    return series


# %% Run the three methods, recording (θ, cost) at each accepted step
curves = {}
pts = []
res = maid(problem, theta0, budget=budget, tol=1e-6,
           callback=lambda r: pts.append((r.theta.copy(), r.n_lower + r.n_linear)))
curves["MAID"] = pts
pts_h = []
hoag(problem, theta0, budget=budget, clip=12, callback=lambda t, c: pts_h.append((t.copy(), c)))
curves["HOAG-geometric"] = pts_h
pts_f = []
fixed_eps(problem, theta0, 1e-3, budget=budget,
          callback=lambda r: pts_f.append((r.theta.copy(), r.n_lower + r.n_linear)))
curves["fixed eps = 1e-3"] = pts_f

f0, x_theta0 = exact_f(theta0)
loss = {name: exact_curve(p) for name, p in curves.items()}
best = min(v for series in loss.values() for _, v in series)


def psnr(x):
    return 10 * np.log10(clean.size / np.sum((x - clean) ** 2))


print(f"MAID: theta = {res.theta}, status {res.status.name}, {res.nit} steps, certified = {res.certified}")
print(f"training PSNR noisy {psnr(noisy):.2f} dB -> learned TV {psnr(exact_f(res.theta)[1]):.2f} dB")
if held_clean is not None:
    held = tv_denoising_problem(held_noisy, held_clean)
    den = fista(lambda x: held.lower_grad(x, res.theta), held_noisy, 1.0, held.lower_L(res.theta), 1e-9, 100_000).x
    for name, d, y, c in zip(names, den, held_noisy, held_clean):
        gain = 10 * np.log10(np.sum((y - c) ** 2) / np.sum((d - c) ** 2))
        print(f"held-out {name}: PSNR gain {gain:.2f} dB")
for name, series in loss.items():
    print(f"{name:18s} final exact loss {series[-1][1]:.6f} at cost {series[-1][0]}")

# %% Plot
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot written")
else:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for name, series in loss.items():
        c, v = zip(*series)
        ax1.semilogy(np.maximum(c, 1), np.asarray(v) - best + 1e-6, marker=".", label=name)
    ax1.set_xscale("log")
    ax1.set_xlabel("lower-level + CG iterations")
    ax1.set_ylabel("exact upper loss - best found")
    ax1.set_title("Upper-level loss against lower-level work")
    ax1.legend()
    acc = res.history["accepted"]
    ax2.semilogy(res.history["eps"][acc], label="eps_k")
    ax2.semilogy(res.history["delta"][acc], "--", label="delta_k")
    ax2.set_xlabel("MAID outer iteration")
    ax2.set_ylabel("tolerance")
    ax2.set_title("MAID: inexactness of the accepted steps")
    ax2.legend()
    fig.tight_layout()
    fig.savefig("bilevel_tv_denoising.png", dpi=120)
    print("wrote bilevel_tv_denoising.png")
blas.restore_original_limits()
