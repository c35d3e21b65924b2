"""``numopt compile``: fill Numba's on-disk cache for every kernel ahead of time.

Each family that has Numba kernels keeps a ``precompile()`` function in ``numopt/<family>/_precompile.py``
that calls every kernel (serial and parallel twins, every method) on tiny inputs. Running them once in a
Docker image build or on a cluster's shared disk means no user process pays the compile time later
(``NUMOPT_NUMBA_CACHE=0`` turns the cache off, and then this only warms the current process).
"""

from __future__ import annotations

import importlib
import sys
import time

__all__ = ["precompile_families", "run_compile"]


def _precompile_module(family: str):
    name = f"numopt.{family}._precompile"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None  # this family has no Numba kernels of its own
        raise


def precompile_families(families=None, stream=None) -> dict[str, float]:
    """Compile (and cache) the kernels of ``families`` (default: all); return the seconds spent per family."""
    from . import _SUBPACKAGES

    stream = stream or sys.stdout
    names = list(families) if families else list(_SUBPACKAGES)
    unknown = [f for f in names if f not in _SUBPACKAGES]
    if unknown:
        raise ValueError(f"numopt compile: unknown family {', '.join(unknown)}; available: {', '.join(_SUBPACKAGES)}")
    spent = {}
    for family in names:
        module = _precompile_module(family)
        if module is None:
            stream.write(f"numopt.{family}: no Numba kernels of its own\n")
            continue
        t0 = time.perf_counter()
        module.precompile()
        spent[family] = time.perf_counter() - t0
        stream.write(f"numopt.{family}: kernels compiled and cached in {spent[family]:.1f} s\n")
        stream.flush()
    return spent


def run_compile(families=None) -> int:
    """The ``numopt compile`` command: 0 on success, 2 on an unknown family (message on stderr)."""
    from ._numba import CACHE

    try:
        spent = precompile_families(families)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    where = "on disk" if CACHE else "in this process only (NUMOPT_NUMBA_CACHE=0)"
    sys.stdout.write(f"done: {sum(spent.values()):.1f} s in all; kernels cached {where}\n")
    return 0
