"""The one Numba ``jit`` wrapper used by every kernel in numopt.

Policy
------
* ``nopython`` and ``nogil`` always; compilation is lazy (no signature strings), so importing a kernel
  module compiles nothing and each kernel is compiled for the one float64/int32 specialisation its
  caller feeds it on first use.
* ``cache=True`` by default, so a second process loads the compiled code from disk. Set the environment
  variable ``NUMOPT_NUMBA_CACHE=0`` to turn the on-disk cache off (read when a kernel module is imported).
* Never ``fastmath=True``: it lets LLVM assume there is no NaN or inf, which deletes ``np.isnan`` tests.
  :data:`FASTMATH` keeps NaN/inf semantics and still lets LLVM reassociate and vectorise reductions.

Only ``_kernels.py`` modules (and this one) import numba; ``import numopt`` imports none of them.
"""

from __future__ import annotations

import os

# Numba's OpenMP threads spin after each parallel region by default, stealing the cores from the BLAS
# threads that numopt calls right after a kernel (measured: sketched least squares 2x slower). Passive
# waiting costs a few microseconds per parallel region instead. Set before numba loads OpenMP; a value
# the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402

__all__ = ["jit", "FASTMATH", "CACHE", "prange", "set_num_threads", "get_num_threads"]

#: NaN-safe fast-math flags: reassociation (vectorised sums), fused multiply-add, reciprocal
#: approximations and no-signed-zeros. ``nnan``/``ninf`` are deliberately absent.
FASTMATH = frozenset({"reassoc", "contract", "arcp", "nsz"})


def _cache_from_env() -> bool:
    value = os.environ.get("NUMOPT_NUMBA_CACHE", "1").strip().lower()
    return value not in {"0", "false", "no", "off", ""}


#: Whether kernels are cached on disk (``NUMOPT_NUMBA_CACHE``, default on).
CACHE = _cache_from_env()

prange = numba.prange


def jit(func=None, *, parallel: bool = False, fastmath=FASTMATH, cache: bool | None = None, inline: str = "never"):
    """Compile ``func`` lazily with numopt's Numba policy.

    Parameters
    ----------
    func : callable, optional
        The kernel. ``@jit`` and ``@jit(parallel=True)`` are both accepted.
    parallel : bool, default False
        Enable ``prange`` parallel loops. Give every parallel kernel a serial twin for small sizes.
    fastmath : set of str or bool, default :data:`FASTMATH`
        LLVM fast-math flags; ``True`` is refused because it breaks NaN tests.
    cache : bool, optional
        Override the on-disk cache policy (default :data:`CACHE`). Kernels that take function
        arguments must pass ``cache=False``.
    inline : {"never", "always"}
        Numba IR inlining, for tiny helpers such as the polynomial ``exp``.
    """
    if fastmath is True:
        raise ValueError("jit: `fastmath=True` is not allowed (it removes NaN/inf checks); use FASTMATH.")
    options = dict(
        nopython=True,
        nogil=True,
        parallel=parallel,
        fastmath=set(fastmath) if fastmath else False,
        cache=CACHE if cache is None else cache,
        inline=inline,
    )

    def decorate(f):
        return numba.jit(**options)(f)

    return decorate if func is None else decorate(func)


def set_num_threads(n: int) -> None:
    """Set the number of threads used by numopt's parallel kernels (``numba.set_num_threads``).

    ``n`` must be an integer in ``[1, numba.config.NUMBA_NUM_THREADS]`` (TypeError for a non-integer such
    as 1.5, "2" or True; ValueError out of range).
    """
    from ._validation import check_int

    n = check_int(n, "n", "set_num_threads", low=1, high=numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)


def get_num_threads() -> int:
    """Number of threads used by numopt's parallel kernels."""
    return numba.get_num_threads()
