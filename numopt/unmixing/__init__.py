"""Hyperspectral unmixing: robust blind unmixing, VCA, exact FCLS and the usual metrics.

* :func:`unmix` -- blind unmixing ``Y ~ M A`` by multiplicative updates: ``method="rrlbs"`` is an
  RRLbS-style (reconstructed) model after Zhu, Wang, Fan, Meng, Pan (arXiv:1409.0685): an l2,1 loss
  grouped by channel (outlier bands count by their norm) plus an lp sparsity penalty weighted per pixel
  by a learned, sparse guidance map; ``"l21"``, ``"l1/2"`` (L1/2-NMF) and ``"nmf"`` are the nested
  simpler models.
* :func:`vca` -- vertex component analysis (Nascimento & Bioucas-Dias 2005).
* :func:`fcls` -- exact fully constrained least squares for every pixel (Numba active set, KKT-checked).
* :func:`sad`, :func:`abundance_rmse`, :func:`match_endmembers` -- metrics, Hungarian matching.
* :class:`SpectralUnmixing` -- the same as a scikit-learn style estimator (no scikit-learn import).

Layout: ``Y`` is channels x pixels ``(L, N)``; a cube ``(rows, cols, L)`` (bands last) is accepted.
"""

from ._extract import (EndmemberMatch, FCLSResult, VCAResult, abundance_rmse, fcls, match_endmembers, sad,
                       vca)
from ._estimator import SpectralUnmixing
from ._rrlbs import METHODS, UnmixingResult, unmix

__all__ = ["unmix", "UnmixingResult", "vca", "VCAResult", "fcls", "FCLSResult", "sad", "abundance_rmse",
           "match_endmembers", "EndmemberMatch", "METHODS", "SpectralUnmixing"]
