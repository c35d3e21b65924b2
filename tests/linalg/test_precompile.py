"""The linalg precompile hook (issue 11 item 7) reaches every kernel on tiny inputs."""

import numba

from numopt.linalg import _kernels
from numopt.linalg._precompile import precompile


def test_precompile_compiles_every_kernel():
    assert precompile() is None
    dispatchers = {name: f for name, f in vars(_kernels).items() if isinstance(f, numba.core.registry.CPUDispatcher)}
    inline = {"csr_row_dot", "csr_row_axpy"}  # inlined into their callers, never called alone
    missing = sorted(name for name, f in dispatchers.items() if not f.signatures and name not in inline)
    assert missing == []
