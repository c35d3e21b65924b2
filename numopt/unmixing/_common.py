"""Input checks shared by the public functions of :mod:`numopt.unmixing` (through numopt/_validation.py)."""

from __future__ import annotations

import numpy as np

from .._validation import _describe, as_float_array, check_int, fail

__all__ = ["as_spectra", "as_spectra_native", "check_n_endmembers", "as_endmember_matrix", "Spectra", "spectra"]


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


#: Integer dtypes that :func:`as_spectra_native` keeps as they are (no float64 copy: the kernels convert
#: while reading). Wider integers gain nothing (float64 is the same size) and are converted.
NATIVE_INTEGER_ITEMSIZE = 4
#: Bytes of float64 per converted block of columns in :class:`Spectra` (a small multiple of the L2 cache).
BLOCK_BYTES = 1 << 20


def as_spectra_native(Y, func: str):
    """Like :func:`as_spectra`, but an integer ``Y`` of at most 4 bytes per entry (uint16 for Jasper Ridge)
    keeps its dtype: returns ``(Y2, cube_shape)`` with ``Y2`` C-contiguous ``(L, N)``, float64 or that integer
    type. A 2-D C-contiguous input is used as is (not copied); a cube is transposed once, in its own dtype."""
    if Y is None or isinstance(Y, (str, bytes)) or not hasattr(Y, "dtype"):
        return as_spectra(Y, func)[:2]
    dt = np.dtype(Y.dtype)
    if dt.kind not in "iu" or dt.itemsize > NATIVE_INTEGER_ITEMSIZE:
        return as_spectra(Y, func)[:2]
    Y = np.asarray(Y)
    if Y.ndim not in (2, 3):
        raise fail(func, "Y", "be 2-D or 3-D", f"an array of shape {Y.shape}")
    cube_shape = None
    if Y.ndim == 3:
        rows, cols, L = Y.shape
        cube_shape = (rows, cols)
        out = np.ascontiguousarray(Y.reshape(rows * cols, L).T)
    else:
        out = np.ascontiguousarray(Y)
    L, N = out.shape
    if L < 2 or N < 2:
        raise fail(func, "Y", "have at least 2 channels and 2 pixels", f"shape {out.shape} (L, N)")
    if dt.kind == "i" and out.size and out.min() < 0:
        l, n = np.unravel_index(int(np.argmin(out)), out.shape)
        raise fail(func, "Y", "be nonnegative (negative reflectance is refused, not clipped: if it is calibration "
                   "noise, pass np.maximum(Y, 0))", f"Y[{l}, {n}] = {out[l, n]} (channel {l}, pixel {n})")
    return out, cube_shape


class Spectra:
    """The data ``diag(w) * scale * Y`` for the start-up algebra (VCA, N-FINDR swaps, FCLS), without forming it.

    ``Y`` is the clean ``(L, N)`` array (float64 or a narrow integer type). Products are taken over blocks of
    columns converted to float64 (about :data:`BLOCK_BYTES` each), so an integer cube is never copied whole;
    float64 data with unit scale and no weights go straight to BLAS.
    """

    def __init__(self, Y, scale: float = 1.0, w=None):
        self.Y = Y
        self.scale = float(scale)
        self.w = None if w is None else np.asarray(w, dtype=np.float64)
        self.shape = Y.shape

    def weighted(self, w) -> "Spectra":
        """The same data with the channels multiplied by ``w`` (on top of any weights already set)."""
        w = np.asarray(w, dtype=np.float64)
        return Spectra(self.Y, self.scale, w if self.w is None else self.w * w)

    @property
    def direct(self) -> bool:
        return self.Y.dtype == np.float64 and self.scale == 1.0 and self.w is None

    def _factor(self):
        return self.scale if self.w is None else self.scale * self.w[:, None]

    def blocks(self):
        """``(start, block)`` with ``block`` the float64 columns ``start:start + width`` of the data."""
        L, N = self.shape
        if self.direct:
            yield 0, self.Y
            return
        width = max(64, BLOCK_BYTES // (8 * L))
        f = self._factor()
        for n0 in range(0, N, width):
            B = self.Y[:, n0:n0 + width].astype(np.float64)
            B *= f
            yield n0, B

    def mean(self) -> np.ndarray:
        """Mean spectrum, shape (L,)."""
        m = self.Y.mean(axis=1, dtype=np.float64)
        return m * (self.scale if self.w is None else self.scale * self.w)

    def gram(self) -> np.ndarray:
        """``Y Y^T`` (L x L) of the (weighted, scaled) data."""
        L = self.shape[0]
        C = np.zeros((L, L))
        for _, B in self.blocks():
            C += B @ B.T
        return C

    def project(self, U) -> np.ndarray:
        """``U^T Y`` (U is L x k), shape (k, N)."""
        U = np.asarray(U, dtype=np.float64)
        if self.direct:
            return U.T @ self.Y
        out = np.empty((U.shape[1], self.shape[1]))
        for n0, B in self.blocks():
            out[:, n0:n0 + B.shape[1]] = U.T @ B
        return out

    def columns(self, idx) -> np.ndarray:
        """The float64 columns ``idx`` of the data (L x len(idx)), a new C-contiguous array."""
        B = self.Y[:, idx].astype(np.float64)
        B *= self._factor()
        return np.ascontiguousarray(B)


def spectra(Y) -> Spectra:
    """``Y`` (an array or already a :class:`Spectra`) as a :class:`Spectra`."""
    return Y if isinstance(Y, Spectra) else Spectra(Y)
