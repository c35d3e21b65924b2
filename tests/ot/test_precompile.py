"""numopt.ot._precompile fills the cache for every kernel the solvers call."""

import warnings

import numpy as np
from numba.core.registry import CPUDispatcher

from numopt.linalg import _kernels as LK
from numopt.ot import _kernels as K
from numopt.ot import empirical_sinkhorn, sinkhorn_knopp, sinkhorn_log, sinkhorn_newton_sparse
from numopt.ot._precompile import precompile


def _signatures():
    out = {}
    for mod in (K, LK):
        for name in dir(mod):
            obj = getattr(mod, name)
            if isinstance(obj, CPUDispatcher):
                out[f"{mod.__name__}.{name}"] = set(obj.signatures)
    return out


def test_precompile_covers_every_kernel_the_solvers_use():
    """After precompile(), solves of both shapes, zero-mass entries, a shifted M, both sparsities and
    the underflow fallbacks compile nothing new; precompile() covers every kernel of ot/_kernels.py."""
    precompile()
    before = _signatures()
    # every kernel defined in ot/_kernels.py that Python calls (helpers called only from compiled
    # kernels come with their callers, from the cache too, without a signature of their own)
    ours = [name for name in dir(K) if isinstance(getattr(K, name), CPUDispatcher)
            and getattr(K, name).py_func.__module__ == K.__name__
            and not name.startswith("_") and name not in ("exp_poly", "exp_flush")]
    assert len(ours) == 24  # 20 kernels and the 4 serial twins
    assert [name for name in ours if not before[f"{K.__name__}.{name}"]] == []
    rng = np.random.default_rng(0)
    for n, m in ((30, 40), (40, 30)):
        M = rng.uniform(size=(n, m))
        a = np.r_[0.0, rng.uniform(size=n - 1)]
        sinkhorn_newton_sparse(None, None, M, 1e-3, switch_sweeps=0)
        sinkhorn_newton_sparse(a / a.sum(), None, M * 1e3 + 1e6, 1.0, sparsity="topk")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sinkhorn_log(None, None, M * 1e3, 0.1, maxiter=30)
            sinkhorn_knopp(None, None, M * 1e3, 0.1, maxiter=30)
        x, y = rng.uniform(size=(n, 3)), rng.uniform(size=(m, 3))
        for metric in ("sqeuclidean", "euclidean"):
            res = empirical_sinkhorn(x, y, 0.01, a=a / a.sum(), metric=metric, tol=1e-8, switch_sweeps=0,
                                     sinkhorn_maxiter=3)
            assert res.nit_newton > 0 and res.plan_sparse.nnz > 0
    after = _signatures()
    new = {k: after[k] - before.get(k, set()) for k in after if after[k] - before.get(k, set())}
    assert new == {}
