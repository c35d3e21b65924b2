"""Bench suite ``torch``: forward + backward of ``numopt.torch``'s OT losses against POT's torch backend.

Same inputs (2-D uniform point clouds, squared Euclidean cost normalised to max 1, uniform weights, float64,
CPU), the loss :math:`\\langle P, M\\rangle` and its gradient with respect to ``M``:

* numopt: ``sinkhorn_loss(..., value="cost")``, SNS forward to an L1 marginal error of 1e-9, implicit
  backward (one CG solve with the dual Hessian);
* POT: ``ot.sinkhorn2(a, b, M, reg, method="sinkhorn_log")`` on torch tensors, autodiff through the unrolled
  iterations (POT's default), ``stopThr`` 1e-9 (its L2 column error) and ``numItermax`` 1e5.

POT's autodiff keeps every iteration's n x m intermediates: when its forward iteration count (measured first,
without gradient) times 3 n m doubles exceeds 6 GiB, the row says so instead of running it. Peak memory is
tracemalloc's (numopt's NumPy work) for numopt and the estimate above for POT. A last row gives the bridge's
overhead above the NumPy call on a tiny problem (n = 10).

Bridges of parts 2 and 3, timed in CPU seconds (``time.process_time``: the bench machine is shared, so wall time
means little there):

* ``fcls`` forward + backward (KKT adjoint) against the NumPy ``numopt.unmixing.fcls`` forward alone;
* ``implicit_argmin`` on ridge regression, forward + backward, against torch autograd through the closed form
  ``torch.linalg.solve`` (the gradients must agree);
* ``maid`` on the same scalar ridge problem written in torch (``TorchBilevelProblem``, exact constants) and in
  NumPy (``ridge_problem``): time, outer iterations and the θ difference.
"""

from __future__ import annotations

import time

import numpy as np

from ._runner import Row, median_time, mib, peak_memory

_BUDGET = 6 * 2**30


def _cloud(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(size=(n, 2)), rng.uniform(size=(n, 2))
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    return M / M.max()


def run(repeat: int = 3, quick: bool = False) -> list[Row]:
    import torch

    from numopt.torch import sinkhorn_loss

    try:
        import ot
    except ImportError:  # pragma: no cover - POT is a bench extra
        ot = None
    rows = []
    sizes = (300,) if quick else (500, 2000)
    for n in sizes:
        M_np = _cloud(n)
        for reg in (1e-1, 1e-2, 1e-3):
            def ours():
                M = torch.tensor(M_np, requires_grad=True)
                loss = sinkhorn_loss(None, None, M, reg, tol=1e-9, value="cost")
                loss.backward()
                return loss.item(), M.grad.numpy()

            t_ours, (val, grad) = median_time(ours, repeat=repeat)
            mem = peak_memory(ours)
            peer, t_peer, acc, note = "POT sinkhorn2 autodiff", float("nan"), f"loss {val:.6g}", ""
            if ot is not None:
                a = torch.full((n,), 1.0 / n, dtype=torch.float64)
                with torch.no_grad():
                    _, log = ot.sinkhorn(a, a, torch.tensor(M_np), reg, method="sinkhorn_log", stopThr=1e-9,
                                         numItermax=100_000, log=True, warn=False)
                niter = int(log["niter"]) + 1
                need = niter * 3 * n * n * 8
                if need > _BUDGET:
                    note = f"POT not run: {niter} its x 3 n^2 doubles = {mib(need)} of autodiff tape"
                else:
                    def theirs():
                        M = torch.tensor(M_np, requires_grad=True)
                        loss = ot.sinkhorn2(a, a, M, reg, method="sinkhorn_log", stopThr=1e-9, numItermax=100_000,
                                            warn=False)
                        loss.backward()
                        return loss.item(), M.grad.numpy()

                    t_peer, (pval, pgrad) = median_time(theirs, repeat=max(1, repeat // 2), warmup=0)
                    acc = f"loss diff {abs(pval - val):.1e}, grad diff {np.abs(pgrad - grad).max():.1e}"
                    note = f"POT {niter} its, tape ~{mib(need)}"
            rows.append(Row(f"loss+grad reg={reg:g}", f"n={n}", t_ours, peer, t_peer, acc, mib(mem), note))
    # Bridge overhead on a tiny problem: torch forward + backward against the NumPy forward alone.
    import numopt.ot as not_

    M_np = _cloud(10)
    t_np, _ = median_time(lambda: not_.sinkhorn(None, None, M_np, 0.1, tol=1e-9), repeat=50)

    def tiny():
        M = torch.tensor(M_np, requires_grad=True)
        sinkhorn_loss(None, None, M, 0.1, tol=1e-9).backward()

    t_tiny, _ = median_time(tiny, repeat=50)
    rows.append(Row("bridge overhead (entropic)", "n=10", t_tiny, "numpy sinkhorn only", t_np,
                    f"overhead {1e3 * (t_tiny - t_np):.2f} ms"))
    rows += _bridges(repeat, quick)
    return rows


def _bridges(repeat: int, quick: bool) -> list[Row]:
    """fcls, implicit_argmin and maid on TorchBilevelProblem (CPU seconds)."""
    import torch

    import numopt.unmixing as unm
    from numopt.bilevel import maid, ridge_problem
    from numopt.torch import TorchBilevelProblem, fcls, implicit_argmin

    cpu = time.process_time
    rows = []
    rng = np.random.default_rng(0)
    # fcls: L = 100 channels, K = 6 endmembers, N pixels (Dirichlet abundances, some on faces)
    L, K, N = 100, 6, (2000 if quick else 20000)
    M_np = rng.uniform(size=(L, K))
    A_true = rng.dirichlet(np.full(K, 0.5), size=N).T
    Y_np = M_np @ A_true + 0.01 * rng.standard_normal((L, N))
    W = torch.tensor(rng.standard_normal((K, N)))

    def ours():
        Y, M = torch.tensor(Y_np, requires_grad=True), torch.tensor(M_np, requires_grad=True)
        A = fcls(Y, M)
        (A * W).sum().backward()
        return A.detach().numpy()

    t_ours, A = median_time(ours, repeat=repeat, clock=cpu)
    t_np, res = median_time(lambda: unm.fcls(Y_np, M_np), repeat=repeat, clock=cpu)
    rows.append(Row("fcls fwd+bwd (cpu s)", f"L={L} K={K} N={N}", t_ours, "numpy fcls forward only", t_np,
                    f"A diff {np.abs(A - res.abundances).max():.1e}", note=f"{(A > 0).sum(0).mean():.2f} active/px"))
    # implicit_argmin on ridge against autograd through the closed form
    n, p = 500, (50 if quick else 200)
    X = torch.tensor(rng.standard_normal((n, p)))
    y = torch.tensor(rng.standard_normal(n))
    G, Xty = X.T @ X, X.T @ y

    def h(w, t):
        return 0.5 * w @ (G @ w) - Xty @ w + 0.5 * (t.exp() * w * w).sum()

    def ours_arg():
        t = torch.zeros(p, dtype=torch.float64, requires_grad=True)
        w = implicit_argmin(h, torch.zeros(p, dtype=torch.float64), t, tol=1e-10)
        w.sum().backward()
        return t.grad.numpy().copy(), w.info

    def closed():
        t = torch.zeros(p, dtype=torch.float64, requires_grad=True)
        w = torch.linalg.solve(G + torch.diag(t.exp()), Xty)
        w.sum().backward()
        return t.grad.numpy().copy()

    t_arg, (g_arg, info) = median_time(ours_arg, repeat=repeat, clock=cpu)
    t_cl, g_cl = median_time(closed, repeat=repeat, clock=cpu)
    rows.append(Row("implicit_argmin ridge (cpu s)", f"n={n} p={p}", t_arg, "torch solve autograd", t_cl,
                    f"grad diff {np.abs(g_arg - g_cl).max():.1e}",
                    note=(f"{info.nit} Newton, {info.n_hessp} HVP fwd, {info.cg_nit} CG bwd, "
                          f"res {info.cg_residual:.0e}")))
    # maid: NumPy ridge_problem against the same ridge in torch
    X = rng.standard_normal((60, 5))
    yy = X @ rng.standard_normal(5) + 2.0 * rng.standard_normal(60)
    prob = ridge_problem(X[:25], yy[:25], X[25:], yy[25:])
    Xt, yt, Xv, yv = (torch.tensor(a) for a in (prob.X, prob.y, prob.X_val, prob.y_val))
    tprob = TorchBilevelProblem(lambda w, t: 0.5 * ((Xt @ w - yt) ** 2).sum() + 0.5 * (t.exp() * w * w).sum(),
                                lambda w: 0.5 * ((Xv @ w - yv) ** 2).sum(), (5,), mu=prob.lower_mu,
                                L=prob.lower_L, upper_L=prob.upper_L, lower_cross_norm=prob.lower_cross_norm,
                                lower_hess_lipschitz=0.0, lower_cross_lipschitz=prob.lower_cross_lipschitz,
                                upper_convex=True)
    t_t, rt = median_time(lambda: maid(tprob, np.zeros(1), tol=1e-8), repeat=max(1, repeat // 2), clock=cpu)
    t_n, rn = median_time(lambda: maid(prob, np.zeros(1), tol=1e-8), repeat=repeat, clock=cpu)
    rows.append(Row("maid torch ridge (cpu s)", "n=25 p=5 scalar", t_t, "maid numpy ridge_problem", t_n,
                    f"theta diff {abs(rt.theta[0] - rn.theta[0]):.1e}",
                    note=(f"nit {rt.nit}/{rn.nit}, n_lower {rt.n_lower}/{rn.n_lower}, "
                          f"n_linear {rt.n_linear}/{rn.n_linear}")))
    return rows
