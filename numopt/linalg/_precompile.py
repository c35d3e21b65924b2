"""Fill the on-disk Numba cache for every kernel of :mod:`numopt.linalg` (for ``numopt compile``).

Each kernel is reached with the argument types the solvers feed it: through the public functions on
tiny problems where a path exists (every method, sketch and operator kind), and directly for the
parallel twins that only large inputs select and for the kernels other families call.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["precompile"]


def precompile() -> None:
    """Compile (or load from the cache) every Numba kernel of the linalg family on tiny inputs."""
    import scipy.sparse as sp

    from .._result import ConvergenceWarning
    from . import _kernels
    from ._cg import cg
    from ._kaczmarz import sketch_and_project
    from ._lstsq import lstsq_sketched
    from ._sketch import SRHT
    from ._sparse import csr_matvec

    rng = np.random.default_rng(0)
    dense = rng.standard_normal((24, 4)) + np.eye(24, 4)
    csr = sp.csr_array(dense)
    b = dense @ np.ones(4)
    spd = np.eye(4) * 2.0 + 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # CG (cg_step, cg_direction) and the CSR products (serial, transposed)
        cg(spd, np.ones(4))
        cg(sp.csr_array(spd), np.ones(4))
        csr_matvec(csr, np.ones(4))
        csr_matvec(csr, np.ones(24), transpose=True)
        # sketched least squares: every sketch on dense and sparse input (scatter, DCT and Walsh-Hadamard
        # transposes, the fused normal products)
        for A in (dense, csr):
            for sketch in ("sparse_sign", "countsketch", "srht", "gaussian"):
                lstsq_sketched(A, b, sketch=sketch, sketch_size=12, rng=0)
            lstsq_sketched(A, b, sketch_size=24)
            # sketch-and-project: single rows and blocks, dense and CSR
            for method, block_size in (("kaczmarz", 1), ("block_kaczmarz", 3)):
                sketch_and_project(A, b, method=method, block_size=block_size, maxiter=8, rng=0)
        SRHT(12, 24, transform="hadamard", rng=0).apply(dense)
    # parallel twins that only large inputs select, and the kernels of other families
    out = np.empty(24)
    _kernels.csr_matvec_parallel(csr.indptr, csr.indices, csr.data, np.ones(4), out)
    partial, sq = np.empty((2, 4)), np.empty(2)
    _kernels.dense_normal_matvec(dense, np.ones(4), b, partial, sq, np.empty(4))
    _kernels.csr_normal_matvec(csr.indptr, csr.indices, csr.data, np.ones(4), b, partial, sq, np.empty(4))
    _kernels.scale_transpose_parallel(dense, np.ones(24), 0, np.empty((4, 24)))
    _kernels.scale_transpose_serial(dense, np.ones(24), 0, np.empty((4, 24)))
    _kernels.csr_weighted_gram(csr.indptr, csr.indices, csr.data, np.ones(24), np.zeros((4, 4)))
