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
        self.reg_row = self.reg_col = reg   # the ridge weights of b and c (learned apart with ``reg="auto"``)
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
        self.ptr = obs.row_ptr
        self._resid = np.empty(obs.nnz)    # work space of update
        self._col_sum = np.empty(n)

    def update(self, Uo=None, Vw=None) -> float:
        """Refit the offsets to the data minus the low-rank part ``Uo Vw^T`` (none: zero), rewrite the shifted
        values; returns the observed squared residual of the whole model (``_kernels.fit_offsets``)."""
        m, n = self.b.shape[0], self.c.shape[0]
        if Uo is None:
            Uo, Vw = np.zeros((m, 0)), np.zeros((n, 0))
        biases = self.center == "biases"
        den_row = self.n_row * self._shrink(self.n_row, self.reg_row)
        den_col = self.n_col * self._shrink(self.n_col, self.reg_col)
        mean, e2 = _kernels.fit_offsets(self.ptr, self.cols, self.row_val, np.ascontiguousarray(Uo),
                                        np.ascontiguousarray(Vw), den_row, den_col, BIAS_PASSES, biases, self.b,
                                        self.c, self._resid, self._col_sum)
        self.mean = float(mean)
        _kernels.shift_values(self.row_val, self.rows, self.cols, self.mean, self.b, self.c, self.shifted.row_val)
        _kernels.shift_values(self.col_val, self.shifted.col_idx, self.col_of, self.mean, self.b, self.c,
                              self.shifted.col_val)
        return float(e2)

    def _shrink(self, counts, reg):
        """(count + ridge weight) / count: the ridge is reg, or reg * count with ``counts``."""
        if self.counts:
            return np.full(counts.shape, 1.0 + reg)
        return 1.0 + np.divide(reg, counts, out=np.zeros(counts.shape), where=counts > 0)

    def penalty(self) -> float:
        if self.counts:
            return self.reg * float(self.n_row @ (self.b * self.b) + self.n_col @ (self.c * self.c))
        return self.reg_row * float(self.b @ self.b) + self.reg_col * float(self.c @ self.c)

    # -- reg="auto": the bias priors learned by empirical Bayes (see complete_matrix) -----------------------
    def variance(self, noise_var) -> float:
        r"""The posterior variance of the offsets summed over the observations,
        :math:`\sum_\Omega \sigma^2 / (n_i + \lambda_b) + \sigma^2 / (m_j + \lambda_c)` (0 for ``"global"``:
        the mean's own variance, :math:`\sigma^2 / |\Omega|`, is left out)."""
        if self.center != "biases":
            return 0.0
        return noise_var * (_seen_fraction_sum(self.n_row, self.reg_row)
                            + _seen_fraction_sum(self.n_col, self.reg_col))

    def learn(self, noise_var) -> None:
        r"""The ridge weights :math:`\lambda_b = \sigma^2 / \tau_b^2` of the prior :math:`b_i \sim N(0, \tau_b^2)`
        with :math:`\tau_b^2` the mean posterior second moment :math:`b_i^2 + \sigma^2 / (n_i + \lambda_b)` over
        the observed rows (an EM step); the same for the columns."""
        if self.center == "biases":
            self.reg_row = _learned_ridge(self.b, self.n_row, self.reg_row, noise_var)
            self.reg_col = _learned_ridge(self.c, self.n_col, self.reg_col, noise_var)


def _seen_fraction_sum(counts, reg):
    """sum over the rows of counts / (counts + reg) (0 for a row without observation)."""
    return float(np.sum(np.divide(counts, counts + reg, out=np.zeros(counts.shape), where=counts > 0)))


def _learned_ridge(bias, counts, reg, noise_var):
    """noise_var / (mean posterior second moment of the observed rows' biases); ``reg`` when there is none."""
    seen = counts > 0
    if not seen.any():
        return reg
    second = float(np.mean(bias[seen] ** 2 + noise_var / (counts[seen] + reg)))
    return noise_var / second if second > 0 else reg
