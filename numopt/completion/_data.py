"""The observed entries of a partially observed matrix, validated and stored twice (by rows and by columns).

Accepted forms of ``X`` (see :func:`numopt.completion.complete_matrix`):

* a scipy sparse array or matrix: every stored entry is an observation, explicit zeros included;
* a triplet ``(rows, cols, values, shape)``;
* a dense array in which NaN marks a missing entry; in a numpy masked array, masked entries are missing
  too.

The dense ``m x n`` matrix is never formed from sparse or triplet input.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from .._validation import _describe, as_float_array, fail
from . import _kernels


@dataclasses.dataclass
class Observations:
    """Observed entries as CSR (rows: ``row_ptr``, ``row_idx`` = column of each entry, ``row_val``) and
    CSC (``col_ptr``, ``col_idx`` = row of each entry, ``col_val``); indices sorted within each row /
    column; ``indptr`` int64, indices int32 (int64 beyond 2**31 - 1)."""

    shape: tuple
    row_ptr: np.ndarray
    row_idx: np.ndarray
    row_val: np.ndarray
    col_ptr: np.ndarray
    col_idx: np.ndarray
    col_val: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.row_val.shape[0])

    def row_counts(self) -> np.ndarray:
        return np.diff(self.row_ptr)

    def col_counts(self) -> np.ndarray:
        return np.diff(self.col_ptr)

    def coo(self):
        """(rows, cols, values) in CSR order (row-major, columns sorted)."""
        rows = np.empty(self.nnz, dtype=self.col_idx.dtype)
        _kernels.expand_indptr(self.row_ptr, rows)
        return rows, self.row_idx, self.row_val

    def subset(self, mask: np.ndarray) -> "Observations":
        """The observations selected by a boolean mask over the CSR order."""
        rows, cols, vals = self.coo()
        return build(rows[mask], cols[mask], vals[mask], self.shape)


def _index_dtype(m: int, n: int):
    return np.int32 if max(m, n) < 2**31 else np.int64


def build(rows, cols, vals, shape, func: str = "complete_matrix", name: str = "X") -> Observations:
    """Sort validated COO triplets into an :class:`Observations`; refuses duplicate (row, col) pairs."""
    m, n = shape
    itype = _index_dtype(m, n)
    rows = np.ascontiguousarray(rows, dtype=itype)
    cols = np.ascontiguousarray(cols, dtype=itype)
    vals = np.ascontiguousarray(vals, dtype=np.float64)
    nnz = vals.shape[0]
    # CSR without sorted columns, then CSC (a stable sort by column of row-major data: rows sorted in
    # each column), then CSR again from CSC (columns sorted in each row). Peak: two copies.
    row_ptr = np.empty(m + 1, dtype=np.int64)
    tmp_idx = np.empty(nnz, dtype=itype)
    tmp_val = np.empty(nnz, dtype=np.float64)
    _kernels.counting_sort(rows, m, cols, vals, row_ptr, tmp_idx, tmp_val)
    del rows, cols, vals
    tmp_rows = np.empty(nnz, dtype=itype)
    _kernels.expand_indptr(row_ptr, tmp_rows)
    col_ptr = np.empty(n + 1, dtype=np.int64)
    col_idx = np.empty(nnz, dtype=itype)
    col_val = np.empty(nnz, dtype=np.float64)
    _kernels.counting_sort(tmp_idx, n, tmp_rows, tmp_val, col_ptr, col_idx, col_val)
    # reuse the buffers for the sorted CSR
    col_of = tmp_rows
    _kernels.expand_indptr(col_ptr, col_of)
    _kernels.counting_sort(col_idx, m, col_of, col_val, row_ptr, tmp_idx, tmp_val)
    dup = _kernels.first_duplicate(row_ptr, tmp_idx)
    if dup >= 0:
        i = int(np.searchsorted(row_ptr, dup, side="right") - 1)
        raise fail(func, name, "hold each (row, col) pair at most once (duplicates are refused, not summed)",
                   f"the pair ({i}, {int(tmp_idx[dup])}) more than once")
    return Observations((m, n), row_ptr, tmp_idx, tmp_val, col_ptr, col_idx, col_val)


def _check_shape(shape, func, name):
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise fail(func, f"{name}[3]", "be a shape (m, n)", _describe(shape), error=TypeError)
    out = []
    for v in shape:
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
            raise fail(func, f"{name}[3]", "be a shape (m, n) of integers", _describe(shape), error=TypeError)
        if int(v) < 1:
            raise fail(func, f"{name}[3]", "be a shape (m, n) with m, n >= 1", repr(tuple(shape)))
        out.append(int(v))
    return tuple(out)


def _check_indices(values, bound, what, func, name):
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise fail(func, name, f"have 1-D {what} indices", f"an array of shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise fail(func, name, f"have integer {what} indices", f"dtype {arr.dtype}", error=TypeError)
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi >= bound:
            t = int(np.argmax(arr < 0)) if lo < 0 else int(np.argmax(arr >= bound))
            raise fail(func, name, f"have {what} indices in [0, {bound})", f"{what} index {int(arr[t])} at entry {t}")
    return arr


def _check_values(values, n, func, name):
    vals = np.asarray(values)
    if vals.ndim != 1 or vals.shape[0] != n:
        raise fail(func, name, f"have one value per index pair ({n})", f"values of shape {vals.shape}")
    if vals.dtype.kind not in "iuf":
        raise fail(func, name, "have real numeric values", f"dtype {vals.dtype}", error=TypeError)
    vals = np.ascontiguousarray(vals, dtype=np.float64)
    bad = ~np.isfinite(vals)
    if bad.any():
        t = int(np.argmax(bad))
        raise fail(func, name, "have finite observed values", f"values[{t}] = {vals[t]}")
    return vals


def as_observations(X, func: str = "complete_matrix", name: str = "X") -> Observations:
    """Validate ``X`` (sparse, triplet or NaN-dense) and return its :class:`Observations`."""
    if isinstance(X, Observations):
        return X
    module = type(X).__module__
    if module.startswith("scipy.sparse"):
        import scipy.sparse as sp

        if sp.issparse(X):
            if X.ndim != 2:
                raise fail(func, name, "be 2-D", f"a sparse array of shape {X.shape}")
            if X.dtype.kind not in "iuf":
                raise fail(func, name, "have a real numeric dtype", f"dtype {X.dtype}", error=TypeError)
            m, n = (int(v) for v in X.shape)
            C = X.tocoo()  # never densifies; keeps explicit zeros and duplicates (refused in build)
            vals = _check_values(C.data, C.data.shape[0], func, name)
            rows = np.asarray(C.row if hasattr(C, "row") else C.coords[0])
            cols = np.asarray(C.col if hasattr(C, "col") else C.coords[1])
            return build(rows, cols, vals, (m, n), func, name)
    if isinstance(X, tuple):
        if len(X) != 4:
            raise fail(func, name, "be a sparse matrix, a triplet (rows, cols, values, shape) or a dense array "
                       "with NaN for missing entries", f"a tuple of length {len(X)}", error=TypeError)
        rows, cols, values, shape = X
        m, n = _check_shape(shape, func, name)
        rows = _check_indices(rows, m, "row", func, name)
        cols = _check_indices(cols, n, "column", func, name)
        if rows.shape != cols.shape:
            raise fail(func, name, "have as many row as column indices", f"{rows.shape[0]} and {cols.shape[0]}")
        vals = _check_values(values, rows.shape[0], func, name)
        return build(rows, cols, vals, (m, n), func, name)
    if X is None or isinstance(X, (str, bytes, dict)):
        raise fail(func, name, "be a sparse matrix, a triplet (rows, cols, values, shape) or a dense array "
                   "with NaN for missing entries", _describe(X), error=TypeError)
    if np.ma.isMaskedArray(X):   # masked entries are missing entries (their hidden values are never read)
        mask = np.ma.getmaskarray(X)
        A = as_float_array(np.ma.getdata(X), name, func, ndim=2, finite=False, copy=True)
        A[mask] = np.nan
    else:
        A = as_float_array(X, name, func, ndim=2, finite=False)  # NaN marks a missing entry
    if A.shape[0] < 1 or A.shape[1] < 1:
        what = "feature" if A.shape[1] < 1 else "sample"   # scikit-learn's wording, which its checks expect
        raise fail(func, name, "have at least one row and one column",
                   f"0 {what}(s) (shape={A.shape}) while a minimum of 1 is required")
    inf = np.isinf(A)
    if inf.any():
        i, j = (int(v) for v in np.argwhere(inf)[0])
        raise fail(func, name, "have finite observed values (NaN marks a missing entry)", f"{name}[{i}, {j}] = {A[i, j]}")
    observed = ~np.isnan(A)
    rows, cols = np.nonzero(observed)
    return build(rows, cols, A[rows, cols], A.shape, func, name)


# --------------------------------------------------------------------------------------------------
# A synthetic ratings data set (real ones may not be redistributed here)
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Ratings:
    """A synthetic ratings data set from :func:`synthetic_ratings`.

    Attributes
    ----------
    shape : tuple of int
        ``(n_users, n_items)``.
    train, val, test : tuple ``(rows, cols, values, shape)``
        Disjoint splits of the ratings (int64 indices, float64 values in {1, ..., 5}), each a triplet that
        :func:`complete_matrix` accepts.
    expected : tuple of ndarray
        ``(train, val, test)`` expectations of each rating given the model (the Bayes predictor).
    noise_floor : float
        The RMSE of the Bayes predictor on the test split: no method that sees only the ratings can beat it
        in expectation.
    truth : dict
        The drawn parameters: ``"mean"``, ``"user_bias"`` (m,), ``"item_bias"`` (n,), ``"user_factors"``
        (m, rank), ``"item_factors"`` (n, rank), ``"noise"`` (for oracle bounds that know some of them).
    """

    shape: tuple
    train: tuple
    val: tuple
    test: tuple
    expected: tuple
    noise_floor: float
    truth: dict = dataclasses.field(default_factory=dict)


def synthetic_ratings(n_users=1000, n_items=500, n_ratings=50_000, *, rank=5, mean=3.6, user_std=0.4,
                      item_std=0.5, factor_std=0.6, noise=0.8, popularity=0.9, activity=0.9, split=(0.8, 0.1, 0.1),
                      rng=None) -> Ratings:
    r"""Integer 1-5 star ratings drawn like a public ratings data set (MovieLens-style statistics).

    A latent score :math:`z_{ui} = \mu + b_u + c_i + p_u^\top q_i + \varepsilon_{ui}` with
    :math:`b_u \sim N(0, \text{user\_std}^2)`, :math:`c_i \sim N(0, \text{item\_std}^2)`, rank-``rank``
    factors whose product has standard deviation ``factor_std``, and noise
    :math:`\varepsilon \sim N(0, \text{noise}^2)`, is rounded to the nearest star and clipped to [1, 5].
    Who rates what is skewed as in real data: user :math:`u` is drawn with probability proportional to
    :math:`(1 + \pi(u))^{-\text{activity}}` and item :math:`i` proportional to
    :math:`(1 + \sigma(i))^{-\text{popularity}}` (Zipf laws over random orders :math:`\pi, \sigma`), until
    ``n_ratings`` distinct pairs are drawn: per-user counts are heavy-tailed, and the defaults give a mean
    rating near 3.5. The pairs are split at random into train, validation and test (fractions ``split``).

    The Bayes predictor :math:`E[r_{ui} \mid \mu, b, c, p, q]` and its test RMSE (``noise_floor``) are exact:
    the probability of each star is a difference of normal distribution functions.

    Parameters
    ----------
    n_users, n_items, n_ratings : int
        Shape and number of distinct ratings (at most half of ``n_users * n_items``).
    rank : int
    mean, user_std, item_std, factor_std, noise : float
    popularity, activity : float
        Zipf exponents (>= 0; 0 is uniform).
    split : tuple of 3 floats
        Fractions of train, validation and test (nonnegative, summing to 1).
    rng : None, int, SeedSequence or numpy Generator

    Returns
    -------
    Ratings

    Examples
    --------
    >>> data = synthetic_ratings(200, 100, 4000, rng=0)
    >>> rows, cols, values, shape = data.train
    >>> shape, bool(3.2 < values.mean() < 3.8), sorted(set(values.tolist())) == [1, 2, 3, 4, 5]
    ((200, 100), True, True)
    """
    from scipy.special import ndtr

    from .._validation import check_int, check_rng, check_scalar

    func = "synthetic_ratings"
    m = check_int(n_users, "n_users", func, low=2)
    n = check_int(n_items, "n_items", func, low=2)
    nnz = check_int(n_ratings, "n_ratings", func, low=1, high=(m * n) // 2)
    k = check_int(rank, "rank", func, low=1)
    mean = check_scalar(mean, "mean", func)
    stds = [check_scalar(v, name, func, low=0.0) for v, name in
            ((user_std, "user_std"), (item_std, "item_std"), (factor_std, "factor_std"), (noise, "noise"))]
    pop = check_scalar(popularity, "popularity", func, low=0.0)
    act = check_scalar(activity, "activity", func, low=0.0)
    if not isinstance(split, (tuple, list)) or len(split) != 3:
        raise fail(func, "split", "be 3 fractions (train, validation, test)", _describe(split), error=TypeError)
    fr = [check_scalar(v, f"split[{t}]", func, low=0.0) for t, v in enumerate(split)]
    if abs(sum(fr) - 1.0) > 1e-9:
        raise fail(func, "split", "sum to 1", repr(tuple(split)))
    gen = check_rng(rng, func)
    user_std, item_std, factor_std, noise = stds

    wu = (1.0 + gen.permutation(m)) ** -act
    wi = (1.0 + gen.permutation(n)) ** -pop
    wu /= wu.sum()
    wi /= wi.sum()
    lin = np.zeros(0, dtype=np.int64)
    while lin.shape[0] < nnz:   # distinct pairs, in the order drawn
        draw = int(1.3 * (nnz - lin.shape[0])) + 16
        cand = np.concatenate([lin, gen.choice(m, size=draw, p=wu) * n + gen.choice(n, size=draw, p=wi)])
        _, first = np.unique(cand, return_index=True)
        lin = cand[np.sort(first)]
    lin = lin[:nnz]
    rows, cols = lin // n, lin % n

    b = gen.standard_normal(m) * user_std
    c = gen.standard_normal(n) * item_std
    scale = math.sqrt(factor_std / math.sqrt(k))
    P = gen.standard_normal((m, k)) * scale
    Q = gen.standard_normal((n, k)) * scale
    z = mean + b[rows] + c[cols] + np.einsum("ij,ij->i", P[rows], Q[cols])
    stars = np.clip(np.rint(z + noise * gen.standard_normal(nnz)), 1.0, 5.0)
    # P(star = s | z): the rounded score lands in [s - 1/2, s + 1/2), the end stars take the tails
    if noise > 0:
        edges = ndtr((np.arange(1.5, 5.0)[None, :] - z[:, None]) / noise)      # P(z + eps < 1.5, ..., 4.5)
        probs = np.diff(np.hstack([np.zeros((nnz, 1)), edges, np.ones((nnz, 1))]), axis=1)
        levels = np.arange(1.0, 6.0)
        expected = probs @ levels
        variance = probs @ levels**2 - expected**2
    else:
        expected = np.clip(np.rint(z), 1.0, 5.0)
        variance = np.zeros(nnz)
    order = gen.permutation(nnz)
    n_train = int(round(fr[0] * nnz))
    n_val = int(round(fr[1] * nnz))
    parts = (order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:])
    trip = tuple((rows[ix], cols[ix], stars[ix], (m, n)) for ix in parts)
    floor = math.sqrt(float(np.mean(variance[parts[2]]))) if parts[2].shape[0] else math.nan
    return Ratings(shape=(m, n), train=trip[0], val=trip[1], test=trip[2],
                   expected=tuple(expected[ix] for ix in parts), noise_floor=floor,
                   truth={"mean": mean, "user_bias": b, "item_bias": c, "user_factors": P, "item_factors": Q,
                          "noise": noise})
