r"""Randomized sketching operators: Gaussian, sparse sign, CountSketch and the SRHT.

A sketch is a random matrix :math:`S \in \mathbb{R}^{s \times n}` with :math:`s \ll n` that is drawn once
(at construction, from ``rng``) and then applied to many matrices. Every sketch here is scaled so that
:math:`\mathbb{E}[S^\top S] = I_n`, hence :math:`\mathbb{E}\|S x\|_2^2 = \|x\|_2^2`. The quantity that
sketch-and-solve / sketch-and-precondition methods rely on is the *subspace embedding* property: for an
:math:`n \times k` matrix :math:`Q` with orthonormal columns,

.. math::

    1 - \varepsilon \le \sigma_{\min}(S Q) \le \sigma_{\max}(S Q) \le 1 + \varepsilon ,

which :meth:`Sketch.distortion_bound` quantifies for each family (a theorem for the Gaussian sketch and
CountSketch, an empirically calibrated bound for sparse sign with :math:`\zeta \ge 8` and for the SRHT).

Choosing a sketch (Martinsson & Tropp 2020, sec. 9): sparse sign with :math:`\zeta = 8` is the default
choice, its cost is :math:`O(\zeta\,\mathrm{nnz}(A))` whatever :math:`s`; the SRHT costs
:math:`O(n d \log n)` and needs no sparsity; the Gaussian sketch is the best understood but costs
:math:`O(s n d)`; CountSketch is the cheapest (:math:`O(\mathrm{nnz}(A))`) but needs :math:`s \sim k^2`.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .._validation import as_float_array, as_operator, check_choice, check_int, check_rng, check_scalar, fail

__all__ = ["make_sketch", "Sketch", "GaussianSketch", "SparseSignSketch", "CountSketch", "SRHT"]

#: Empirical constant of the sparse sign bound (zeta >= 8); see :class:`SparseSignSketch`.
SPARSE_SIGN_FACTOR = 1.25
#: Empirical constant of the Gaussian-type term of the SRHT bound; see :class:`SRHT`.
SRHT_FACTOR = 1.1
#: Coherence constant mu of the sampling (matrix Chernoff) term of the SRHT bound: the rows of H D Q for a
#: coordinate-aligned Q have squared norms <= mu k / n_pad (Hadamard entries are +-1/sqrt(n_pad): mu = 1;
#: orthonormal DCT-II entries are at most sqrt(2/n): mu = 2).
SRHT_COHERENCE = {"dct": 2.0, "hadamard": 1.0}

#: Columns of a matrix transformed together by the SRHT (bounded scratch memory, cache-sized blocks;
#: measured on a 20000 x 200 matrix).
_SRHT_BLOCK = {"dct": 32, "hadamard": 64}
#: Entries per transformed block above which the SRHT uses every core (scipy.fft workers and the
#: parallel transpose kernel); below it thread wake-up costs more than it saves.
_PARALLEL_SIZE = 1 << 18


def _gaussian_eps(k: int, s: int, delta: float) -> float:
    """Davidson-Szarek / Vershynin Cor. 5.35 for an s x k matrix with iid N(0, 1/s) entries."""
    return math.sqrt(k / s) + math.sqrt(2.0 * math.log(2.0 / delta) / s)


def _countsketch_eps(k: int, s: int, delta: float) -> float:
    """Second-moment (Markov) bound of Nelson-Nguyen / Woodruff Thm 2.9 for hashing sketches."""
    return math.sqrt((k * k + k) / (s * delta))


def _sparse_sign_eps(k: int, s: int, delta: float, zeta: int) -> float:
    """Empirical sparse sign bound: the Gaussian formula at s_eff = min(s, zeta^2 (k + 1) / 2), times a constant."""
    return SPARSE_SIGN_FACTOR * _gaussian_eps(k, min(float(s), zeta * zeta * (k + 1) / 2.0), delta)


def _bisect(f, lo: float, hi: float) -> float:
    """Root of an increasing function f on [lo, hi] (f(lo) <= 0 <= f(hi)) to double precision."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if f(mid) < 0.0:
            lo = mid
        else:
            hi = mid
    return hi


def _chernoff_eps(k: int, s: int, delta: float, mu: float) -> float:
    r"""Matrix Chernoff bound for sampling s of n rows without replacement, rows of leverage <= mu k / n.

    With :math:`R = \mu k / s` and :math:`L = \ln(2k/\delta)`, the eigenvalues of :math:`(SQ)^\top SQ` lie in
    :math:`[1 - t_-, 1 + t_+]` with probability :math:`\ge 1 - \delta`, where
    :math:`t_- + (1 - t_-)\ln(1 - t_-) = R L` (or :math:`t_- = 1` when :math:`RL \ge 1`) and
    :math:`(1 + t_+)\ln(1 + t_+) - t_+ = R L` (Tropp 2011, Thm 2.2; Tropp 2012, Thm 1.1).
    """
    target = mu * k / s * math.log(2.0 * k / delta)
    if target >= 1.0:
        t_lo = 1.0
    else:
        t_lo = _bisect(lambda t: t + (1.0 - t) * math.log1p(-t) - target, 0.0, 1.0)
    hi = 1.0
    while (1.0 + hi) * math.log1p(hi) - hi < target:
        hi *= 2.0
    t_hi = _bisect(lambda t: (1.0 + t) * math.log1p(t) - t - target, 0.0, hi)
    return max(1.0 - math.sqrt(max(0.0, 1.0 - t_lo)), math.sqrt(1.0 + t_hi) - 1.0)


def _srht_eps(k: int, s: int, delta: float, transform: str) -> float:
    """Empirical SRHT bound: max(Gaussian-type term, coordinate-subspace sampling term)."""
    return max(SRHT_FACTOR * _gaussian_eps(k, s, delta), _chernoff_eps(k, s, delta, SRHT_COHERENCE[transform]))


class Sketch:
    r"""Base class of the sketching operators :math:`S \in \mathbb{R}^{s \times n}`.

    Subclasses draw all their randomness in ``__init__`` (a seeded sketch is reproducible bit for bit)
    and implement the products; this class validates the input of :meth:`apply` and provides
    ``S @ A``, :meth:`aslinearoperator` and :meth:`distortion_bound`.

    Attributes
    ----------
    sketch_size : int
        Number of rows :math:`s`.
    n : int
        Number of columns :math:`n` (rows of the matrices it is applied to).
    """

    def __init__(self, sketch_size, n, *, _func: str):
        self.sketch_size = check_int(sketch_size, "sketch_size", _func, low=1)
        self.n = check_int(n, "n", _func, low=1)

    @property
    def shape(self) -> tuple[int, int]:
        """``(sketch_size, n)``."""
        return (self.sketch_size, self.n)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sketch_size={self.sketch_size}, n={self.n})"

    # ---------------------------------------------------------------------------------------------
    # products
    # ---------------------------------------------------------------------------------------------

    def apply(self, A) -> np.ndarray:
        r"""Return :math:`S A` as a dense float64 array.

        Parameters
        ----------
        A : array_like of shape (n,) or (n, d), or scipy sparse matrix/array of shape (n, d)
            Sparse input is never densified as a whole.

        Returns
        -------
        ndarray of shape (s,) for 1-D ``A``, else (s, d)
            C-contiguous float64.

        Raises
        ------
        ValueError
            If ``A`` does not have ``n`` rows, or holds NaN or inf.
        TypeError
            If ``A`` is not a real numeric array or a scipy sparse matrix.
        """
        func = f"{type(self).__name__}.apply"
        import scipy.sparse as sp

        if sp.issparse(A):
            A, _ = as_operator(A, "A", func, sparse_format=self._sparse_format)
            sparse = True
        else:
            A = as_float_array(A, "A", func, ndim=(1, 2))
            sparse = False
        s, n = self.shape
        if A.shape[0] != n:
            rule = f"have {n} rows (shape ({n},) or ({n}, d)) to match the sketch of shape ({s}, {n})"
            raise fail(func, "A", rule, f"shape {tuple(A.shape)}")
        if sparse:
            return self._apply_sparse(A)
        if A.ndim == 1:
            return self._apply_dense(A.reshape(n, 1)).reshape(s)
        return self._apply_dense(A)

    def __matmul__(self, A) -> np.ndarray:
        """``S @ A`` is :meth:`apply`."""
        return self.apply(A)

    def _rapply_checked(self, Y, func: str) -> np.ndarray:
        """:math:`S^\\top Y` for a 1-D or 2-D dense ``Y`` with ``s`` rows (validated here)."""
        Y = as_float_array(Y, "y", func, ndim=(1, 2))
        s, n = self.shape
        if Y.shape[0] != s:
            rule = f"have {s} rows to match the transposed sketch of shape ({n}, {s})"
            raise fail(func, "y", rule, f"shape {Y.shape}")
        if Y.ndim == 1:
            return self._rapply(Y.reshape(s, 1)).reshape(n)
        return self._rapply(Y)

    def aslinearoperator(self):
        r"""The sketch as a :class:`scipy.sparse.linalg.LinearOperator` of shape ``(s, n)``.

        ``matvec``/``matmat`` compute :math:`S x` (as :meth:`apply`), ``rmatvec``/``rmatmat`` compute
        :math:`S^\top y`.
        """
        from scipy.sparse.linalg import LinearOperator

        func = f"{type(self).__name__}.aslinearoperator"
        return LinearOperator(
            self.shape,
            matvec=self.apply,
            matmat=self.apply,
            rmatvec=lambda y: self._rapply_checked(y, func),
            rmatmat=lambda y: self._rapply_checked(y, func),
            dtype=np.float64,
        )

    def distortion_bound(self, k, delta=1e-3) -> float:
        r"""Distortion :math:`\varepsilon` of the subspace embedding for ``k``-dimensional subspaces.

        For any :math:`n \times k` matrix :math:`Q` with orthonormal columns, with probability at least
        :math:`1 - \delta` over the draw of :math:`S`, all singular values of :math:`S Q` lie in
        :math:`[1 - \varepsilon, 1 + \varepsilon]`. The class docstring states the formula and whether
        it is a theorem or an empirical calibration (the empirical ones were checked on families of
        :math:`Q` that include the known worst cases; they are listed there). The value may exceed 1 (then
        the lower end of the interval says nothing): raise ``sketch_size`` until it is comfortably below 1.

        Parameters
        ----------
        k : int
            Dimension of the subspace, ``1 <= k <= n``.
        delta : float, default 1e-3
            Failure probability, in (0, 1).

        Returns
        -------
        float
        """
        func = f"{type(self).__name__}.distortion_bound"
        k = check_int(k, "k", func, low=1, high=self.n)
        delta = check_scalar(delta, "delta", func, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        return float(self._bound(k, delta))

    def todense(self) -> np.ndarray:
        """The sketch as a dense (s, n) float64 array, built independently of :meth:`apply` (for tests)."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    # hooks of the subclasses
    _sparse_format = "csr"

    def _apply_dense(self, A: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply_sparse(self, A) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _rapply(self, Y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _bound(self, k: int, delta: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


# -------------------------------------------------------------------------------------------------
# Gaussian
# -------------------------------------------------------------------------------------------------


class GaussianSketch(Sketch):
    r"""Dense Gaussian sketch: :math:`S_{ij} \sim \mathcal{N}(0, 1/s)` independent.

    The matrix is stored (:math:`s n` floats); :math:`S A` costs :math:`O(s\,n\,d)` for dense ``A`` and
    :math:`O(s\,\mathrm{nnz}(A))` for sparse ``A``.

    Parameters
    ----------
    sketch_size : int
        Number of rows :math:`s \ge 1`.
    n : int
        Number of columns :math:`n \ge 1`.
    rng : None, int, SeedSequence or numpy Generator, optional
        Source of randomness (normalised with :func:`numpy.random.default_rng`).

    Notes
    -----
    **Distortion bound (theorem).** For orthonormal :math:`Q \in \mathbb{R}^{n \times k}`, :math:`SQ` has
    independent :math:`\mathcal{N}(0, 1/s)` entries (rotation invariance), and the Davidson-Szarek
    inequality (Vershynin 2012, Cor. 5.35) gives, with probability at least :math:`1-\delta`,

    .. math::

        \varepsilon = \sqrt{k/s} + \sqrt{2 \ln(2/\delta) / s} .

    References
    ----------
    .. [1] R. Vershynin, "Introduction to the non-asymptotic analysis of random matrices", in
       Compressed Sensing, Cambridge University Press, 2012, Cor. 5.35. arXiv:1011.3027.
    .. [2] D. P. Woodruff, "Sketching as a tool for numerical linear algebra", Found. Trends Theor.
       Comput. Sci. 10 (2014). arXiv:1411.4357.
    """

    def __init__(self, sketch_size, n, *, rng=None):
        func = "GaussianSketch"
        super().__init__(sketch_size, n, _func=func)
        gen = check_rng(rng, func)
        S = gen.standard_normal((self.sketch_size, self.n))
        S *= 1.0 / math.sqrt(self.sketch_size)
        self._matrix = S

    def _apply_dense(self, A):
        return np.ascontiguousarray(self._matrix @ A)

    def _apply_sparse(self, A):
        # (A^T S^T)^T: scipy's sparse @ dense product, the result is dense and small.
        return np.ascontiguousarray(np.asarray(A.T @ self._matrix.T).T)

    def _rapply(self, Y):
        return np.ascontiguousarray(self._matrix.T @ Y)

    def _bound(self, k, delta):
        return _gaussian_eps(k, self.sketch_size, delta)

    def todense(self) -> np.ndarray:
        return self._matrix.copy()


# -------------------------------------------------------------------------------------------------
# Hashing sketches: sparse sign and CountSketch
# -------------------------------------------------------------------------------------------------


def _distinct_rows(gen: np.random.Generator, n: int, s: int, zeta: int) -> np.ndarray:
    """For each of n columns, ``zeta`` distinct rows drawn uniformly from range(s): an (n, zeta) int array.

    Floyd's algorithm vectorised over the columns (O(n zeta^2)) for small zeta; for large zeta the
    ``zeta`` smallest of s uniform keys per column (O(n s), in chunks of bounded memory).
    """
    if zeta <= 16 or zeta * zeta <= 4 * s:
        rows = np.empty((n, zeta), dtype=np.int64)
        for t, m in enumerate(range(s - zeta, s)):
            pick = gen.integers(0, m + 1, size=n)
            if t:
                taken = (rows[:, :t] == pick[:, None]).any(axis=1)
                pick[taken] = m
            rows[:, t] = pick
        return rows
    rows = np.empty((n, zeta), dtype=np.int64)
    chunk = max(1, (1 << 22) // s)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        keys = gen.random((stop - start, s))
        rows[start:stop] = np.argpartition(keys, zeta - 1, axis=1)[:, :zeta]
    return rows


class _HashingSketch(Sketch):
    """Sketch whose column j has ``zeta`` nonzeros ``_signs[j, :]`` at rows ``_rows[j, :]``."""

    _rows: np.ndarray  # (n, zeta) int32 (int64 when s >= 2**31)
    _signs: np.ndarray  # (n, zeta) float64, +-1/sqrt(zeta)

    def _set_hashes(self, rows: np.ndarray, sign_bits: np.ndarray, zeta: int) -> None:
        dtype = np.int32 if self.sketch_size < 2**31 else np.int64
        self._rows = np.ascontiguousarray(rows, dtype=dtype)
        value = 1.0 / math.sqrt(zeta)
        self._signs = np.ascontiguousarray(np.where(sign_bits, value, -value), dtype=np.float64)

    def _apply_dense(self, A):
        from . import _kernels

        out = np.empty((self.sketch_size, A.shape[1]), dtype=np.float64)
        _kernels.sketch_scatter_dense(self._rows, self._signs, A, out)
        return out

    def _apply_sparse(self, A):
        from . import _kernels

        out = np.empty((self.sketch_size, A.shape[1]), dtype=np.float64)
        _kernels.sketch_scatter_csr(self._rows, self._signs, A.indptr, A.indices, A.data, out)
        return out

    def _rapply(self, Y):
        # (S^T Y)[j] = sum_t signs[j, t] * Y[rows[j, t]]: a gather, one nonzero per column at a time.
        out = np.zeros((self.n, Y.shape[1]), dtype=np.float64)
        for t in range(self._rows.shape[1]):
            out += self._signs[:, t, None] * Y[self._rows[:, t]]
        return out

    def todense(self) -> np.ndarray:
        dense = np.zeros(self.shape, dtype=np.float64)
        dense[self._rows, np.arange(self.n)[:, None]] = self._signs
        return dense


class SparseSignSketch(_HashingSketch):
    r"""Sparse sign sketch: each column has exactly :math:`\zeta` nonzeros :math:`\pm 1/\sqrt{\zeta}`.

    The :math:`\zeta` rows of each column are distinct and uniformly random, the signs independent and
    uniform, so :math:`\mathbb{E}[S^\top S] = I`. Applying it costs :math:`O(\zeta\,\mathrm{nnz}(A))` (one
    pass over ``A``) whatever :math:`s`; Martinsson & Tropp recommend :math:`\zeta = 8` in practice.

    Parameters
    ----------
    sketch_size : int
        Number of rows :math:`s \ge 1`.
    n : int
        Number of columns :math:`n \ge 1`.
    nnz_per_column : int, default 8
        :math:`\zeta`, with :math:`1 \le \zeta \le s`.
    rng : None, int, SeedSequence or numpy Generator, optional
        Source of randomness.

    Notes
    -----
    **Distortion bound.** Two bounds are available:

    * *Theorem, any* :math:`\zeta`: the diagonal of :math:`S^\top S` is exactly 1 (distinct rows) and
      its off-diagonal entries have mean zero, are pairwise uncorrelated and have variance :math:`1/s`, so
      :math:`\mathbb{E}\|Q^\top S^\top S Q - I\|_F^2 \le (k^2+k)/s` exactly as for CountSketch
      (Nelson & Nguyen 2013; Woodruff 2014, Thm 2.9), and Markov's inequality gives
      :math:`\varepsilon_{\mathrm{CS}} = \sqrt{(k^2+k)/(s\,\delta)}` (useful only for :math:`s \gg k^2/\delta`).
    * *Empirical, for* :math:`\zeta \ge 8` (**not a theorem**):

      .. math::

          \varepsilon_{\mathrm{emp}} = C \Bigl(\sqrt{k/s_{\mathrm{eff}}} + \sqrt{2\ln(2/\delta)/s_{\mathrm{eff}}}\Bigr),
          \qquad s_{\mathrm{eff}} = \min\bigl(s, \tfrac12 \zeta^2 (k+1)\bigr),

      the Gaussian formula inflated by :math:`C = 1.25` (:data:`SPARSE_SIGN_FACTOR`), with the sketch
      size capped. The cap is needed because for :math:`s \gg \zeta^2 k` a subspace spanned by
      coordinate vectors is perturbed by isolated hash collisions of size :math:`1/\zeta`, which stop
      shrinking like :math:`s^{-1/2}`: without it the Gaussian shape is exceeded (by a factor of about 2
      at :math:`s = 256k`).

    :meth:`distortion_bound` returns :math:`\varepsilon_{\mathrm{CS}}` for :math:`\zeta < 8` and
    :math:`\min(\varepsilon_{\mathrm{CS}}, \varepsilon_{\mathrm{emp}})` for :math:`\zeta \ge 8`.

    *Calibration of* :math:`\varepsilon_{\mathrm{emp}}` (:math:`\varepsilon` observed = :math:`\max(1 -
    \sigma_{\min}(SQ), \sigma_{\max}(SQ) - 1)`): 295,200 draws with :math:`\zeta = 8` (492 configurations
    of 600 draws: :math:`Q` from 7 families -- Haar-random, random coordinate vectors, the leading
    coordinate vectors, half coordinate and half Gaussian columns, Legendre polynomials, block indicators,
    disjoint pairs :math:`(e_a \pm e_b)/\sqrt2` --, :math:`k \in \{1, 2, 4, 8, 16, 32, 50, 64\}`,
    :math:`s/k \in \{4, 8, \dots, 256\}` with :math:`s \le 16384`, :math:`n` uniform in [200, 4096]);
    80,000 more (5,000 per configuration) at the worst configurations (coordinate vectors,
    :math:`k \in \{32, 64\}`, :math:`s/k \in \{24, 32, 48, 64\}`), and 21,600 with :math:`\zeta \in \{12, 16\}`.
    Largest ratio observed / :math:`\varepsilon_{\mathrm{emp}}`: 0.81 for the 0.99-quantile against
    :math:`\delta = 0.01`, 0.84 for the 0.999-quantile of 5,000 draws against :math:`\delta = 10^{-3}`, 0.91
    for the maximum of 600 draws against :math:`\delta = 1/600`.

    References
    ----------
    .. [1] P.-G. Martinsson and J. A. Tropp, "Randomized numerical linear algebra: foundations and
       algorithms", Acta Numerica 29 (2020), sec. 9.2. arXiv:2002.01387.
    .. [2] J. Nelson and H. L. Nguyen, "OSNAP: faster numerical linear algebra algorithms via sparser
       subspace embeddings", FOCS 2013. arXiv:1211.1002.
    .. [3] D. P. Woodruff, "Sketching as a tool for numerical linear algebra", 2014. arXiv:1411.4357.
    """

    def __init__(self, sketch_size, n, *, nnz_per_column=8, rng=None):
        func = "SparseSignSketch"
        super().__init__(sketch_size, n, _func=func)
        zeta = check_int(nnz_per_column, "nnz_per_column", func, low=1, high=self.sketch_size)
        self.nnz_per_column = zeta
        gen = check_rng(rng, func)
        rows = _distinct_rows(gen, self.n, self.sketch_size, zeta)
        sign_bits = gen.integers(0, 2, size=(self.n, zeta), dtype=np.int8)
        self._set_hashes(rows, sign_bits, zeta)

    def __repr__(self) -> str:
        return f"SparseSignSketch(sketch_size={self.sketch_size}, n={self.n}, nnz_per_column={self.nnz_per_column})"

    def _bound(self, k, delta):
        eps = _countsketch_eps(k, self.sketch_size, delta)
        if self.nnz_per_column >= 8:
            eps = min(eps, _sparse_sign_eps(k, self.sketch_size, delta, self.nnz_per_column))
        return eps


class CountSketch(_HashingSketch):
    r"""CountSketch: each column has a single nonzero :math:`\pm 1` at a uniformly random row.

    The cheapest sketch, :math:`O(\mathrm{nnz}(A))`, but a subspace embedding only for
    :math:`s \sim k^2`. It is the sparse sign sketch with :math:`\zeta = 1`.

    Parameters
    ----------
    sketch_size : int
        Number of rows :math:`s \ge 1`.
    n : int
        Number of columns :math:`n \ge 1`.
    rng : None, int, SeedSequence or numpy Generator, optional
        Source of randomness.

    Notes
    -----
    **Distortion bound (theorem).** For orthonormal :math:`Q`,
    :math:`\mathbb{E}\|Q^\top S^\top S Q - I\|_F^2 \le (k^2+k)/s` (Nelson & Nguyen 2013; Woodruff 2014,
    Thm 2.9), so by Markov's inequality :math:`\|Q^\top S^\top S Q - I\|_2 \le \varepsilon` with
    probability at least :math:`1-\delta` for

    .. math::

        \varepsilon = \sqrt{\frac{k^2 + k}{s\,\delta}} ,

    and then every singular value of :math:`SQ` lies in
    :math:`[\sqrt{1-\varepsilon}, \sqrt{1+\varepsilon}] \subset [1-\varepsilon, 1+\varepsilon]`.

    References
    ----------
    .. [1] K. L. Clarkson and D. P. Woodruff, "Low rank approximation and regression in input sparsity
       time", STOC 2013. arXiv:1207.6365.
    .. [2] J. Nelson and H. L. Nguyen, "OSNAP: faster numerical linear algebra algorithms via sparser
       subspace embeddings", FOCS 2013. arXiv:1211.1002.
    .. [3] D. P. Woodruff, "Sketching as a tool for numerical linear algebra", 2014, Thm 2.9.
       arXiv:1411.4357.
    """

    def __init__(self, sketch_size, n, *, rng=None):
        func = "CountSketch"
        super().__init__(sketch_size, n, _func=func)
        gen = check_rng(rng, func)
        rows = gen.integers(0, self.sketch_size, size=(self.n, 1), dtype=np.int64)
        sign_bits = gen.integers(0, 2, size=(self.n, 1), dtype=np.int8)
        self._set_hashes(rows, sign_bits, 1)

    def _bound(self, k, delta):
        return _countsketch_eps(k, self.sketch_size, delta)


# -------------------------------------------------------------------------------------------------
# Subsampled randomized trigonometric / Hadamard transform
# -------------------------------------------------------------------------------------------------


def _next_pow2(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix C (C @ x == scipy.fft.dct(x, type=2, norm="ortho")), built from cosines."""
    k = np.arange(n, dtype=np.int64)[:, None]
    j = np.arange(n, dtype=np.int64)[None, :]
    # cos(pi k (2j + 1) / (2n)) with the integer phase reduced modulo 4n first: an argument in [0, 2 pi)
    # keeps every entry accurate to a few ulps.
    C = np.sqrt(2.0 / n) * np.cos(np.pi * ((k * (2 * j + 1)) % (4 * n)) / (2 * n))
    C[0] /= np.sqrt(2.0)
    return C


def _hadamard_matrix(n_pad: int) -> np.ndarray:
    """Sylvester Hadamard matrix of order n_pad (a power of two), entries +-1, by Kronecker doubling."""
    H = np.ones((1, 1))
    while H.shape[0] < n_pad:
        H = np.block([[H, H], [H, -H]])
    return H


class SRHT(Sketch):
    r"""Subsampled randomized trigonometric (DCT) or Hadamard transform.

    .. math::

        S = \sqrt{n_{\mathrm{pad}}/s}\; P\, H\, D ,

    where :math:`D` is a diagonal of independent random signs, :math:`H` an orthonormal transform and
    :math:`P` selects :math:`s` of the :math:`n_{\mathrm{pad}}` rows uniformly without replacement, so
    that :math:`\mathbb{E}[S^\top S] = I`.

    * ``transform="dct"``: :math:`H` is the orthonormal DCT-II (:func:`scipy.fft.dct`, ``norm="ortho"``),
      no padding, :math:`n_{\mathrm{pad}} = n`.
    * ``transform="hadamard"``: :math:`H` is the Walsh-Hadamard matrix scaled by
      :math:`1/\sqrt{n_{\mathrm{pad}}}`, applied by a fast Numba transform to ``A`` zero-padded to
      :math:`n_{\mathrm{pad}}` = the next power of two :math:`\ge n` rows.

    Applying it costs :math:`O(n_{\mathrm{pad}}\,d \log n_{\mathrm{pad}})`; ``A`` is processed in blocks of at
    most 64 columns, so sparse ``A`` is never densified as a whole.

    Parameters
    ----------
    sketch_size : int
        Number of rows, :math:`1 \le s \le n_{\mathrm{pad}}`.
    n : int
        Number of columns :math:`n \ge 1`.
    rng : None, int, SeedSequence or numpy Generator, optional
        Source of randomness.
    transform : {"dct", "hadamard"}, default "dct"
        The orthonormal transform :math:`H`.

    Notes
    -----
    **Distortion bound (empirical; a theorem only for subspaces spanned by coordinate vectors).**
    :meth:`distortion_bound` returns

    .. math::

        \varepsilon = \max\Bigl(C\,\bigl(\sqrt{k/s} + \sqrt{2\ln(2/\delta)/s}\bigr),\;
        \varepsilon_\chi\Bigr),

    with :math:`C = 1.1` (:data:`SRHT_FACTOR`), where :math:`\varepsilon_\chi` is the matrix Chernoff
    bound for sampling :math:`s` of :math:`n_{\mathrm{pad}}` rows without replacement from a matrix with
    orthonormal columns whose rows have squared norms at most :math:`\mu k / n_{\mathrm{pad}}` (Tropp 2011,
    Thm 2.2): with
    :math:`R = \mu k/s` and :math:`L = \ln(2k/\delta)`, :math:`t_-` solves
    :math:`t + (1-t)\ln(1-t) = RL` (:math:`t_- = 1` if :math:`RL \ge 1`), :math:`t_+` solves
    :math:`(1+t)\ln(1+t) - t = RL`, and
    :math:`\varepsilon_\chi = \max(1 - \sqrt{1 - t_-}, \sqrt{1 + t_+} - 1)`;
    :math:`\mu = 1` for the Hadamard transform (entries :math:`\pm 1/\sqrt{n_{\mathrm{pad}}}`) and
    :math:`\mu = 2` for the DCT (entries at most :math:`\sqrt{2/n}`) (:data:`SRHT_COHERENCE`).

    Why two terms: for :math:`Q` in general position the SRHT behaves like a Gaussian sketch (first
    term). For :math:`Q` spanned by coordinate vectors, :math:`D` only flips signs and :math:`SQ` is a
    uniform sample of rows of :math:`k` columns of :math:`H`; when these columns are periodic (the leading
    columns of the Walsh-Hadamard matrix, or DCT columns whose frequencies share a small period) the
    sample has to hit each of about :math:`k` row classes, a coupon-collector problem that needs
    :math:`s \gtrsim k \ln(k/\delta)`. No constant multiple of the Gaussian formula covers it (for
    :math:`k = 64`, :math:`s = 8k` the smallest singular value is 0 with probability above
    :math:`10^{-3}`; a factor near 2 would be needed, growing like :math:`\sqrt{\ln k}`). For such
    coordinate-aligned :math:`Q` the second term is a theorem (the row-norm condition holds with the
    :math:`\mu` above); for general :math:`Q` it is not, so the bound as a whole is empirical. It is
    vacuous (:math:`\ge 1`) until :math:`s` exceeds about :math:`\mu k \ln(2k/\delta)`. The theorems for
    general :math:`Q` (Tropp 2011: :math:`s \gtrsim (\sqrt{k} + \sqrt{8\ln(kn)})^2 \ln k` rows give
    singular values in [0.40, 1.48] with probability :math:`1 - O(1/k)`) are far more pessimistic.

    *Calibration*: 288,000 draws (480 configurations of 600 draws: both transforms; :math:`Q` from the 7
    families listed in :class:`SparseSignSketch` plus the DCT-periodic coordinate columns
    :math:`j = (a r - 1)/2`, :math:`a = 1, 3, \dots, 2k-1`, :math:`n = k r` with :math:`r` odd;
    :math:`k \in \{1, 2, 4, 8, 16, 32, 50, 64\}`, :math:`s/k \in \{4, 8, 16, 32\}`, :math:`n` uniform in
    :math:`[\max(200, s), 4096]`). The observed distortion never exceeded the bound (0.9- and
    0.99-quantiles against :math:`\delta = 0.1, 0.01`, maximum of 600 draws against :math:`\delta = 1/600`);
    it equalled it only where both are 1 (singular :math:`SQ` for the coupon-collector families, where
    the bound is vacuous as it must be). Where the bound is below 1 the largest ratio observed/bound was
    0.85 (leading Hadamard columns, :math:`k = 16`, :math:`s = 32k`, maximum of 600 draws). For the
    families not spanned by coordinate vectors the observed distortion stayed below 0.77 times the
    Gaussian formula alone.

    References
    ----------
    .. [1] J. A. Tropp, "Improved analysis of the subsampled randomized Hadamard transform", Adv. Adapt.
       Data Anal. 3 (2011). arXiv:1011.1595.
    .. [2] P.-G. Martinsson and J. A. Tropp, "Randomized numerical linear algebra: foundations and
       algorithms", Acta Numerica 29 (2020), sec. 9.3. arXiv:2002.01387.
    .. [3] H. Avron, P. Maymounkov and S. Toledo, "Blendenpik: supercharging LAPACK's least-squares
       solver", SIAM J. Sci. Comput. 32 (2010).
    """

    def __init__(self, sketch_size, n, *, rng=None, transform="dct"):
        func = "SRHT"
        super().__init__(sketch_size, n, _func=func)
        self.transform = check_choice(transform, "transform", func, ("dct", "hadamard"))
        self.n_pad = self.n if self.transform == "dct" else _next_pow2(self.n)
        if self.sketch_size > self.n_pad:
            what = "n" if self.transform == "dct" else "n_pad (the next power of two >= n)"
            raise fail(func, "sketch_size", f"be <= {what} = {self.n_pad} for transform={self.transform!r}",
                       repr(self.sketch_size))
        gen = check_rng(rng, func)
        self._signs = np.where(gen.integers(0, 2, size=self.n, dtype=np.int8), 1.0, -1.0)
        self._selected = np.sort(gen.choice(self.n_pad, size=self.sketch_size, replace=False))
        self._scale = math.sqrt(self.n_pad / self.sketch_size)

    def __repr__(self) -> str:
        return f"SRHT(sketch_size={self.sketch_size}, n={self.n}, transform={self.transform!r})"

    _sparse_format = "csc"  # cheap column blocks

    def _apply_dense(self, A):
        return self._apply_blocks(A, sparse=False)

    def _apply_sparse(self, A):
        return self._apply_blocks(A, sparse=True)

    def _apply_blocks(self, A, *, sparse: bool) -> np.ndarray:
        """:math:`S A` a block of columns at a time (bounded scratch memory; sparse blocks densified one by one)."""
        import scipy.fft

        from . import _kernels

        n, d = A.shape
        s = self.sketch_size
        width = max(1, min(d, _SRHT_BLOCK[self.transform]))
        dct = self.transform == "dct"
        # D and the final scaling folded into one pass: sqrt(n_pad/s) for the orthonormal DCT,
        # sqrt(n_pad/s) / sqrt(n_pad) = 1/sqrt(s) for the unnormalised Walsh-Hadamard kernel.
        weights = self._signs * (self._scale if dct else 1.0 / math.sqrt(s))
        if dct:
            # (width, n) scratch: the transform runs along its contiguous axis; out is built transposed.
            out_t = np.empty((d, s), dtype=np.float64)
            buf = np.empty((width, n), dtype=np.float64)
            large = width * n >= _PARALLEL_SIZE
            workers = -1 if large and (os.cpu_count() or 1) > 1 else 1
            transpose = _kernels.scale_transpose_parallel if large else _kernels.scale_transpose_serial
        else:
            out = np.empty((s, d), dtype=np.float64)
            buf = np.empty((self.n_pad, width), dtype=np.float64)
        for start in range(0, d, width):
            stop = min(d, start + width)
            block = A[:, start:stop].toarray(order="C") if sparse else A[:, start:stop]  # (n, <= width), dense
            if dct:
                work = buf[: stop - start]
                if sparse:
                    transpose(block, weights, 0, work)
                else:
                    transpose(A, weights, start, work)
                work = scipy.fft.dct(work, type=2, norm="ortho", axis=1, overwrite_x=True, workers=workers)
                np.take(work, self._selected, axis=1, out=out_t[start:stop])
            else:
                work = buf if stop - start == width else np.empty((self.n_pad, stop - start), dtype=np.float64)
                np.multiply(block, weights[:, None], out=work[:n])
                work[n:] = 0.0
                _kernels.fwht_inplace(work)
                out[:, start:stop] = work[self._selected]
        return np.ascontiguousarray(out_t.T) if dct else out

    def _rapply(self, Y):
        # S^T Y = sqrt(n_pad/s) D H^T P^T Y
        import scipy.fft

        m = Y.shape[1]
        Z = np.zeros((self.n_pad, m), dtype=np.float64)
        Z[self._selected] = Y
        if self.transform == "dct":
            Z = scipy.fft.idct(Z, type=2, norm="ortho", axis=0, overwrite_x=True)
            Z *= self._scale
        else:
            from . import _kernels

            _kernels.fwht_inplace(Z)
            Z *= 1.0 / math.sqrt(self.sketch_size)
        out = Z[: self.n]
        out *= self._signs[:, None]
        return np.ascontiguousarray(out)

    def _bound(self, k, delta):
        return _srht_eps(k, self.sketch_size, delta, self.transform)

    def todense(self) -> np.ndarray:
        if self.transform == "dct":
            H = _dct_matrix(self.n)
        else:
            H = _hadamard_matrix(self.n_pad)[:, : self.n] / math.sqrt(self.n_pad)
        return self._scale * H[self._selected] * self._signs[None, :]


# -------------------------------------------------------------------------------------------------
# Factory
# -------------------------------------------------------------------------------------------------

_SKETCHES = {
    "gaussian": lambda s, n, rng, zeta, transform: GaussianSketch(s, n, rng=rng),
    "sparse_sign": lambda s, n, rng, zeta, transform: SparseSignSketch(s, n, nnz_per_column=zeta, rng=rng),
    "countsketch": lambda s, n, rng, zeta, transform: CountSketch(s, n, rng=rng),
    "srht": lambda s, n, rng, zeta, transform: SRHT(s, n, rng=rng, transform=transform),
}


def make_sketch(kind, sketch_size, n, *, rng=None, nnz_per_column=8, transform="dct") -> Sketch:
    r"""Draw a random sketching operator :math:`S \in \mathbb{R}^{s \times n}` with :math:`\mathbb{E}[S^\top S] = I`.

    A sketch compresses the :math:`n` rows of a matrix to :math:`s \ll n` while preserving, for every
    :math:`k`-dimensional subspace with :math:`k \lesssim s/4`, the norms of its vectors up to a factor
    :math:`1 \pm \varepsilon`:

    .. math::

        (1-\varepsilon)\|x\|_2 \le \|S x\|_2 \le (1+\varepsilon)\|x\|_2
        \quad \text{for all } x \in \mathrm{range}(Q), \quad \varepsilon = \texttt{S.distortion\_bound(k, delta)} .

    Parameters
    ----------
    kind : {"gaussian", "sparse_sign", "countsketch", "srht"}
        The family (see :class:`GaussianSketch`, :class:`SparseSignSketch`, :class:`CountSketch`,
        :class:`SRHT`). ``"sparse_sign"`` (with ``nnz_per_column=8``) is the recommended default: its
        cost is :math:`O(\zeta\,\mathrm{nnz}(A))`; ``"srht"`` suits dense matrices; ``"gaussian"`` is the
        reference; ``"countsketch"`` needs :math:`s \sim k^2`.
    sketch_size : int
        Number of rows :math:`s \ge 1` (for ``"srht"`` at most :math:`n`, or its padded size).
    n : int
        Number of columns :math:`n \ge 1`, the number of rows of the matrices it will be applied to.
    rng : None, int, SeedSequence or numpy Generator, optional
        All randomness is drawn here, so a seeded sketch is reproducible bit for bit.
    nnz_per_column : int, default 8
        :math:`\zeta` for ``"sparse_sign"``, :math:`1 \le \zeta \le s` (checked but unused for other kinds).
    transform : {"dct", "hadamard"}, default "dct"
        Transform of ``"srht"`` (checked but unused for other kinds).

    Returns
    -------
    Sketch
        Apply it with ``S @ A`` or ``S.apply(A)`` (dense, 1-D or scipy sparse ``A``).

    Raises
    ------
    ValueError
        Unknown ``kind`` or ``transform``, sizes out of range.
    TypeError
        Non-integer sizes, an ``rng`` that is not a seed or a Generator.

    References
    ----------
    .. [1] P.-G. Martinsson and J. A. Tropp, "Randomized numerical linear algebra: foundations and
       algorithms", Acta Numerica 29 (2020). arXiv:2002.01387.
    .. [2] D. P. Woodruff, "Sketching as a tool for numerical linear algebra", 2014. arXiv:1411.4357.

    Examples
    --------
    >>> import numpy as np
    >>> S = make_sketch("sparse_sign", 200, 5000, rng=0)
    >>> S.shape
    (200, 5000)
    >>> Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((5000, 5)))
    >>> (S @ Q).shape
    (200, 5)
    >>> eps = S.distortion_bound(5)          # P(all singular values of SQ in [1 - eps, 1 + eps]) >= 0.999
    >>> round(eps, 2)
    0.55
    >>> sv = np.linalg.svd(S @ Q, compute_uv=False)
    >>> bool(np.all(np.abs(sv - 1.0) <= eps))
    True
    """
    func = "make_sketch"
    kind = check_choice(kind, "kind", func, _SKETCHES)
    # The family-specific options are checked whatever the kind, so that a typo is never silently ignored.
    check_int(nnz_per_column, "nnz_per_column", func, low=1)
    check_choice(transform, "transform", func, ("dct", "hadamard"))
    return _SKETCHES[kind](sketch_size, n, rng, nnz_per_column, transform)
