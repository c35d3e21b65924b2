"""Sketch-and-precondition least squares on an ill-conditioned problem
=====================================================================

A 5000 x 100 least-squares problem with condition number 1e6 and a known solution, solved by
``numopt.linalg.lstsq_sketched`` (sparse sign sketch, QR of the sketch, CG with iterative refinement),
by LAPACK (``numpy.linalg.lstsq``) and by unpreconditioned ``scipy.sparse.linalg.lsqr``, which 2000
iterations (20 times the number of columns) leave far from the solution at this conditioning.
Writes ``lstsq_convergence.png`` when matplotlib is installed. Runs in a few seconds.
"""

# %%
import time

import numpy as np
import scipy.sparse.linalg as spla
from threadpoolctl import threadpool_limits

import numopt.linalg as nl

# A = U diag(s) V^T with log-spaced s (condition 1e6); b = A x* + r, r orthogonal to range(A)
# (the sizes are small so that the example runs in seconds; the comparison holds at larger ones too)
A, b, x_star = nl.ill_conditioned_lstsq(5000, 100, cond=1e6, residual=1e-6, rng=0)
LSQR_ITS = 2000


def forward_error(x):
    return np.linalg.norm(x - x_star) / np.linalg.norm(x_star)


# %% Solve three ways, each with one BLAS thread: a problem of this size gains nothing from OpenBLAS's
# threads, and on a busy machine their spin-waits can make LSQR's 4000 small matrix-vector products
# dozens of times slower.
with threadpool_limits(1, user_api="blas"):
    t = time.perf_counter()
    res = nl.lstsq_sketched(A, b, rng=0)
    t_numopt = time.perf_counter() - t
    t = time.perf_counter()
    x_lapack = np.linalg.lstsq(A, b, rcond=None)[0]
    t_lapack = time.perf_counter() - t
    t = time.perf_counter()
    x_lsqr, *_, lsqr_its = spla.lsqr(A, b, atol=0, btol=0, conlim=0, iter_lim=LSQR_ITS)[:3]
    t_lsqr = time.perf_counter() - t

print(f"{'solver':28s} {'seconds':>8s} {'forward error':>14s}")
print(f"{'numopt lstsq_sketched':28s} {t_numopt:8.3f} {forward_error(res.x):14.1e}  ({res.nit} CG its, {res.status.name})")
print(f"{'numpy.linalg.lstsq (LAPACK)':28s} {t_lapack:8.3f} {forward_error(x_lapack):14.1e}")
print(f"{f'scipy lsqr, {LSQR_ITS} its':28s} {t_lsqr:8.3f} {forward_error(x_lsqr):14.1e}")
print("normal residual after each refinement step:", np.array2string(res.residual_history, precision=2))

# %% Plot the refinement history
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot written")
else:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(res.residual_history, "o-")
    ax.set_xlabel("refinement step")
    ax.set_ylabel("relative normal residual")
    ax.set_title("lstsq_sketched: iterative refinement")
    fig.tight_layout()
    fig.savefig("lstsq_convergence.png", dpi=120)
    print("wrote lstsq_convergence.png")
