"""The one Numba ``jit`` wrapper used by every kernel in numopt.

Policy
------
* ``nopython`` and ``nogil`` always; compilation is lazy (no signature strings), so importing a kernel
  module compiles nothing and each kernel is compiled for the one float64/int32 specialisation its
  caller feeds it on first use.
* ``cache=True`` by default, so a second process loads the compiled code from disk. The cache lives in a
  per-user directory keyed by numopt's version (:func:`cache_directory`: ``$XDG_CACHE_HOME/numopt/<version>``
  or ``~/.cache/numopt/<version>``; ``%LOCALAPPDATA%`` on Windows, ``~/Library/Caches`` on macOS), never
  inside the installed package: files written there are not in pip's RECORD, so an uninstall would leave
  them behind as a namespace package ``numopt`` that shadows the next install. ``NUMOPT_NUMBA_CACHE=0``
  turns the on-disk cache off, ``NUMOPT_NUMBA_CACHE=/some/dir`` puts it there, and a ``NUMBA_CACHE_DIR``
  the user exported wins over the default (read when a kernel module is imported).
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

__all__ = ["jit", "serial_twin", "FASTMATH", "CACHE", "cache_directory", "prange", "set_num_threads",
           "get_num_threads"]

#: NaN-safe fast-math flags: reassociation (vectorised sums), fused multiply-add, reciprocal
#: approximations and no-signed-zeros. ``nnan``/``ninf`` are deliberately absent.
FASTMATH = frozenset({"reassoc", "contract", "arcp", "nsz"})


_OFF = {"0", "false", "no", "off", ""}
_ON = {"1", "true", "yes", "on"}


def _cache_from_env() -> bool:
    return os.environ.get("NUMOPT_NUMBA_CACHE", "1").strip().lower() not in _OFF


#: Whether kernels are cached on disk (``NUMOPT_NUMBA_CACHE``, default on).
CACHE = _cache_from_env()


def _platform_cache_home() -> str:
    import sys

    if sys.platform == "win32":
        return os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Caches")
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


def cache_directory() -> str | None:
    """Where numopt's kernels are cached: None when the cache is off or when numba's own ``NUMBA_CACHE_DIR``
    is set (then numba puts them there); else ``NUMOPT_NUMBA_CACHE`` when it names a directory, else the
    per-user ``<platform cache dir>/numopt/<numopt version>``."""
    if not CACHE or os.environ.get("NUMBA_CACHE_DIR"):
        return None
    value = os.environ.get("NUMOPT_NUMBA_CACHE", "1").strip()
    if value.lower() not in _ON:
        return os.path.abspath(os.path.expanduser(value))
    from . import __version__

    return os.path.join(_platform_cache_home(), "numopt", __version__)


def _function_cache_class():
    """A numba ``FunctionCache`` whose first locator is :func:`cache_directory` (None: numba's default).

    Uses numba's cache-locator classes (stable since numba 0.49); if they move, numba's default locators
    (``__pycache__`` beside the source) are used instead.
    """
    root = cache_directory()
    if root is None:
        return None
    try:
        from numba.core.caching import (
            CompileResultCacheImpl,
            FunctionCache,
            _CacheLocator,
            _SourceFileBackedLocatorMixin,
        )
    except ImportError:  # pragma: no cover - a numba that reorganised its caching module
        return None

    class NumoptCacheLocator(_SourceFileBackedLocatorMixin, _CacheLocator):
        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(root, self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self):
            return self._cache_path

    class NumoptCacheImpl(CompileResultCacheImpl):
        _locator_classes = [NumoptCacheLocator, *CompileResultCacheImpl._locator_classes]

    class NumoptFunctionCache(FunctionCache):
        _impl_class = NumoptCacheImpl

    return NumoptFunctionCache


_FUNCTION_CACHE = _function_cache_class() if CACHE else None

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
        Numba IR inlining, for tiny helpers such as the polynomial ``exp``, and for the helpers of a few
        kernels: a helper compiled on its own (with its wrapper) is compiled again, inlined by LLVM, inside
        every caller, so inlining it as Numba IR saves that first compile.

    Every kernel is built without Numba's C-callable (``cfunc``) wrapper, which serves only a kernel used as
    a first-class function value (``numba.types.FunctionType``; a dispatcher passed to a kernel still
    works): numopt calls its kernels by name, and the wrapper is compiled for nothing otherwise. (Numba's
    ``no_cpython_wrapper`` is not used: a dispatcher without one crashes the interpreter when Python code,
    such as a kernel's ``py_func`` in a test, calls it.)
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
        no_cfunc_wrapper=True,
    )

    def decorate(f):
        if options["cache"] and _FUNCTION_CACHE is not None:
            dispatcher = numba.jit(**{**options, "cache": False})(f)
            dispatcher._cache = _FUNCTION_CACHE(dispatcher.py_func)  # what ``cache=True`` does, relocated
            return dispatcher
        return numba.jit(**options)(f)

    return decorate if func is None else decorate(func)


def serial_twin(kernel):
    """The serial twin of a ``@jit(parallel=True)`` kernel: the same source compiled without ``parallel``
    (``prange`` runs as ``range``), so the two are never written out twice. It is named ``<name>_serial``
    so that the two never share an entry of the on-disk cache (Numba keys cache files by qualified name,
    and its index not by the parallel flag). Use it below the size where threads pay, so that a small
    problem never compiles the parallel version."""
    import types

    f = kernel.py_func
    clone = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_serial", f.__defaults__, f.__closure__)
    clone.__qualname__ = f.__qualname__ + "_serial"
    clone.__doc__ = f"Serial twin of :func:`{f.__name__}` (same source, compiled without ``parallel=True``)."
    return jit(clone)


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
