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
    return rows
