"""numopt.completion._precompile: every kernel gets compiled (for `numopt compile`)."""

import numba

from numopt.completion import _kernels as K
from numopt.completion._precompile import precompile


def test_precompile_compiles_every_public_kernel():
    assert precompile() is None
    kernels = {name: obj for name, obj in vars(K).items()
               if isinstance(obj, numba.core.registry.CPUDispatcher) and not name.startswith("_")
               and obj.py_func.__module__ == K.__name__}   # not the linalg kernels it imports
    assert {"rows_exact_core", "rows_cg", "rows_sketch_core", "rows_min_norm", "sparse_times_dense",
            "observed_sq_residual", "predict_entries", "counting_sort"} <= set(kernels)
    missing = [name for name, kernel in kernels.items() if not kernel.signatures]
    assert not missing, f"not compiled by precompile(): {missing}"
