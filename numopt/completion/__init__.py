"""Low-rank matrix completion by robust alternating minimization in nearly linear time.

* :func:`complete_matrix` -- Gu, Song, Yin, Zhang (ICLR 2024, arXiv:2302.11068): alternating
  minimization whose per-row least-squares updates may be solved inexactly (warm-started CG, or
  sketch-and-precondition with the :mod:`numopt.linalg` sketches), batched in Numba kernels over row blocks run on threads.
  "Robust" means tolerant of inexact updates, not of outliers.
* :func:`complete_matrix_dask` -- the same solver over observations held by a Dask cluster (optional
  extra ``numopt[dask]``; dask is imported only when it is called).
* :class:`MatrixCompletion` -- the same as a scikit-learn style estimator (``fit``/``predict``/
  ``transform``), without importing scikit-learn.

* :func:`synthetic_ratings` -- integer 1-5 star ratings with biases, a low-rank part, noise and Zipf
  popularity, split into train/validation/test, with the exact noise floor (for tests and benchmarks).

For ratings, ``center="biases"`` fits a global mean and row/column biases jointly with the low-rank part,
``reg_scale="counts"`` is ALS-WR's regularization and ``value_range=(1, 5)`` clips the predictions.

Input: a scipy sparse matrix (stored entries are the observations), a triplet
``(rows, cols, values, shape)`` or a dense array with NaN (or a mask) for missing entries. Output: a
:class:`CompletionResult` holding the factors ``U, s, V``; the dense completion is never formed unless
asked for (``to_dense``, refused above 1e8 entries).

Each row-solver path (exact, CG, sketched) is a Numba kernel of its own, compiled on its first use only (about
2-3 s each on a cold cache), so ``numopt tour`` runs the default solver alone: at the tour's size
``solver="auto"`` solves every row exactly, as a user's first call does.
"""

from ._altmin import (SOLVERS, CompletionResult, UnderdeterminedWarning, complete_matrix, low_rank_relative_error,
                      row_costs)
from ._dask import complete_matrix_dask
from ._data import Ratings, synthetic_ratings
from ._estimator import MatrixCompletion, NotFittedError

__all__ = ["complete_matrix", "complete_matrix_dask", "CompletionResult", "MatrixCompletion", "NotFittedError",
           "UnderdeterminedWarning", "row_costs", "low_rank_relative_error", "SOLVERS", "synthetic_ratings", "Ratings"]
