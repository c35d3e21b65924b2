"""numopt: numerical optimization and scientific computing solvers from recent papers.

Subpackages are imported on first attribute access, so ``import numopt`` is cheap: it imports neither
numba nor scipy nor any optional dependency (torch, cvxpy, scikit-learn, pyamg) and compiles nothing.

>>> import numopt
>>> numopt.linalg.cg                                       # doctest: +ELLIPSIS
<function cg at ...>
"""

from __future__ import annotations

import importlib

from ._result import ConvergenceWarning, Result, Status

__version__ = "0.1.0.dev0"

# Families that exist; each later family adds its name here (``numopt.torch`` is never listed:
# it must be imported explicitly).
_SUBPACKAGES = ("linalg", "ot", "constrained", "completion", "atomic", "unmixing", "bilevel")

__all__ = ["ConvergenceWarning", "Result", "Status", "set_num_threads", "__version__", *_SUBPACKAGES]


def set_num_threads(n: int) -> None:
    """Number of threads for numopt's parallel Numba kernels (imports numba on first use).

    ``n`` is an integer in ``[1, numba.config.NUMBA_NUM_THREADS]``; anything else raises TypeError
    (not an integer: 1.5, "2", True) or ValueError (out of range), naming ``n``.
    """
    from ._numba import set_num_threads as _set

    _set(n)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'numopt' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBPACKAGES))
