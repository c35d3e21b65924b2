"""Input checks shared by the public functions of :mod:`numopt.unmixing` (through numopt/_validation.py)."""

from __future__ import annotations

import numpy as np

from .._validation import _describe, as_float_array, check_int, fail

__all__ = ["as_spectra", "check_n_endmembers", "as_endmember_matrix"]


def as_spectra(Y, func: str, *, nonnegative: bool = True):
    """``Y`` as a C-contiguous float64 ``(L, N)`` matrix (channels x pixels) and the cube shape.

    A 3-D ``Y`` is a cube ``(rows, cols, L)`` (bands last, as image libraries store it); its pixels are
    taken in C order, pixel ``n`` = ``(n // cols, n % cols)``, and ``cube_shape = (rows, cols)``.
    Integer input (Jasper Ridge is uint16) is converted once. Negative entries are refused, not clipped
    (multiplicative updates need ``Y >= 0``; the message says how to clip calibration noise).

    Returns ``(Y2, cube_shape, converted)`` where ``converted`` says whether ``Y2`` is a new array.
    """
    if Y is None or isinstance(Y, (str, bytes)):
        raise fail(func, "Y", "be an array of shape (L, N) or a cube (rows, cols, L)", _describe(Y), error=TypeError)
    out = as_float_array(Y, "Y", func, ndim=(2, 3))
    converted = not (isinstance(Y, np.ndarray) and np.shares_memory(out, Y))
    cube_shape = None
    if out.ndim == 3:
        rows, cols, L = out.shape
        cube_shape = (rows, cols)
        out = np.ascontiguousarray(out.reshape(rows * cols, L).T)
        converted = True
    L, N = out.shape
    if L < 2 or N < 2:
        raise fail(func, "Y", "have at least 2 channels and 2 pixels", f"shape {out.shape} (L, N)")
    if nonnegative and (out < 0).any():
        flat = int(np.flatnonzero(out.ravel() < 0)[0])
        l, n = divmod(flat, N)
        raise fail(func, "Y", "be nonnegative (negative reflectance is refused, not clipped: if it is calibration "
                   "noise, pass np.maximum(Y, 0))", f"Y[{l}, {n}] = {out[l, n]:.6g} (channel {l}, pixel {n})")
    return out, cube_shape, converted


def check_n_endmembers(value, L: int, N: int, func: str) -> int:
    """``2 <= n_endmembers <= min(L, N)``."""
    k = check_int(value, "n_endmembers", func)
    if k < 2 or k > min(L, N):
        raise fail(func, "n_endmembers", f"be in [2, min(L, N)] = [2, {min(L, N)}]", repr(k))
    return k


def as_endmember_matrix(M, L: int, func: str, name: str = "M"):
    """``M`` as a float64 ``(L, K)`` matrix with ``1 <= K <= L``."""
    M = as_float_array(M, name, func, ndim=2)
    if M.shape[0] != L or M.shape[1] < 1 or M.shape[1] > L:
        raise fail(func, name, f"have shape (L, K) with L = {L} channels (those of `Y`) and 1 <= K <= L",
                   f"shape {M.shape}")
    return M
