"""Centering for ratings data: a global mean and row (user) and column (item) biases fitted jointly with the
low-rank part of :func:`numopt.completion.complete_matrix` (``center="global"`` or ``"biases"``)."""

from __future__ import annotations

import dataclasses

import numpy as np

from . import _kernels
from ._data import Observations

__all__ = ["CENTERS", "Biases"]

#: Values of ``center``.
CENTERS = ("none", "global", "biases")
#: Coordinate-descent passes over (mean, row biases, column biases) per sweep.
BIAS_PASSES = 2


class Biases:
    r"""The offsets :math:`\mu + b_i + c_j` of the model :math:`\hat M_{ij} = \mu + b_i + c_j + \hat X_{ij}`
    and the shifted observations :math:`M_{ij} - \mu - b_i - c_j` the alternating sweeps fit.

    With the low-rank part :math:`\hat X` fixed, :meth:`update` runs BIAS_PASSES passes of exact block
    coordinate descent on :math:`\sum_\Omega (M_{ij} - \mu - b_i - c_j - \hat X_{ij})^2 + \mathrm{reg}
    (\|b\|^2 + \|c\|^2)`: :math:`\mu` the mean of the residual (not penalized), then each
    :math:`b_i = \sum_{j \in \Omega_i} (r_{ij} - \mu - c_j) / (|\Omega_i| + \mathrm{reg})` and the same for
    :math:`c_j`; each step minimizes over its block, so the objective never increases. A row or column with
    no observation has bias 0 (its entries are predicted by :math:`\mu` plus the other side's bias).
    """

    def __init__(self, obs: Observations, center: str, reg: float, counts: bool = False):
        m, n = obs.shape
        self.center, self.reg, self.counts = center, reg, counts
        self.rows, self.cols, _ = obs.coo()            # CSR order
        self.col_of = np.empty(obs.nnz, dtype=obs.col_idx.dtype)
        _kernels.expand_indptr(obs.col_ptr, self.col_of)  # CSC order: rows are obs.col_idx
        self.row_val, self.col_val = obs.row_val, obs.col_val   # the data (scaled units)
        self.n_row = obs.row_counts().astype(np.float64)
        self.n_col = obs.col_counts().astype(np.float64)
        self.mean = 0.0
        self.b = np.zeros(m)
        self.c = np.zeros(n)
        self.shifted = dataclasses.replace(obs, row_val=obs.row_val.copy(), col_val=obs.col_val.copy())

    def _offsets_csr(self):
        return self.mean + self.b[self.rows] + self.c[self.cols]

    def update(self, Uo=None, Vw=None) -> float:
        """Refit the offsets to the data minus the low-rank part ``Uo Vw^T`` (none: zero), rewrite the shifted
        values; returns the observed squared residual of the whole model."""
        if Uo is None:
            r = self.row_val
        else:
            pred = np.empty(self.row_val.shape[0])
            if pred.shape[0]:
                _kernels.predict_entries(np.ascontiguousarray(Uo), np.ascontiguousarray(Vw),
                                         self.rows.astype(np.int64), self.cols.astype(np.int64), pred)
            r = self.row_val - pred
        nnz = max(r.shape[0], 1)
        m, n = self.b.shape[0], self.c.shape[0]
        for _ in range(BIAS_PASSES):
            self.mean = float(np.sum(r - self.b[self.rows] - self.c[self.cols]) / nnz)
            if self.center == "biases":
                s = np.bincount(self.rows, weights=r - self.mean - self.c[self.cols], minlength=m)
                self.b = np.divide(s, self.n_row * self._shrink(self.n_row), out=np.zeros(m), where=self.n_row > 0)
                s = np.bincount(self.cols, weights=r - self.mean - self.b[self.rows], minlength=n)
                self.c = np.divide(s, self.n_col * self._shrink(self.n_col), out=np.zeros(n), where=self.n_col > 0)
        off = self._offsets_csr()
        np.subtract(self.row_val, off, out=self.shifted.row_val)
        np.subtract(self.col_val, self.mean + self.b[self.shifted.col_idx] + self.c[self.col_of],
                    out=self.shifted.col_val)
        e = r - off
        return float(e @ e)

    def _shrink(self, counts):
        """(count + ridge weight) / count: the ridge is reg, or reg * count with ``counts``."""
        if self.counts:
            return np.full(counts.shape, 1.0 + self.reg)
        return 1.0 + np.divide(self.reg, counts, out=np.zeros(counts.shape), where=counts > 0)

    def penalty(self) -> float:
        if self.counts:
            return self.reg * float(self.n_row @ (self.b * self.b) + self.n_col @ (self.c * self.c))
        return self.reg * float(self.b @ self.b + self.c @ self.c)
