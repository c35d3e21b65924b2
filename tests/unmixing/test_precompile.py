"""numopt.unmixing._precompile: every kernel gets compiled (for `numopt compile`)."""

import numba

from numopt.unmixing import _kernels as K
from numopt.unmixing._precompile import precompile


def test_precompile_compiles_every_public_kernel():
    assert precompile() is None
    kernels = {name: obj for name, obj in vars(K).items()
               if isinstance(obj, numba.core.registry.CPUDispatcher) and not name.startswith("_")}
    assert {"fcls_columns", "residual_row_norms", "abundance_update", "penalty_stats", "gram_rows", "products_yat",
            "products_wty", "mu_rows", "capped_simplex"} <= set(kernels)
    missing = [name for name, kernel in kernels.items() if not kernel.signatures]
    assert not missing, f"not compiled by precompile(): {missing}"
