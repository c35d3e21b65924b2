"""Fill Numba's on-disk cache for every kernel of :mod:`numopt.unmixing` (for ``numopt compile``)."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["precompile"]


def precompile() -> None:
    """Compile (or load from the cache) every unmixing kernel through the public functions on a tiny cube:
    FCLS, every ``unmix`` method (the learned guidance runs the capped-simplex projection), for float64 data
    and for uint16 data (the kernels that read ``Y`` convert integers as they read, one specialisation per
    dtype; other integer types compile on first use)."""
    from . import fcls, unmix, vca

    rng = np.random.default_rng(0)
    L, K, N = 8, 3, 40
    M = 0.1 + rng.uniform(size=(L, K))
    A = rng.dirichlet(np.ones(K), size=N).T
    Y = M @ A
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a tiny problem stopped at maxiter: convergence warnings
        fcls(Y, vca(Y, K, rng=0).endmembers)
        for data in (Y, np.round(Y * 1000).astype(np.uint16)):
            for method in ("rrlbs", "l21", "l1/2", "nmf"):
                unmix(data, K, method=method, maxiter=2, rng=0)
