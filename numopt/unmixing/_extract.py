r"""Endmember extraction (VCA), fully constrained least squares (FCLS) and the unmixing metrics."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np

from .._blas import single_blas_thread
from .._result import Result, Status, finish
from .._validation import as_float_array, check_rng, fail
from . import _kernels
from ._common import as_endmember_matrix, as_spectra, check_n_endmembers, spectra

__all__ = ["vca", "VCAResult", "fcls", "FCLSResult", "sad", "abundance_rmse", "match_endmembers",
           "EndmemberMatch", "FCLS_KKT_TOL"]

#: ``fcls`` reports success when the scaled KKT residual of every pixel is at most this.
FCLS_KKT_TOL = 1e-10


# --------------------------------------------------------------------------------------------------
# VCA
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True, repr=False)
class VCAResult(Result):
    """Result of :func:`vca`.

    Attributes
    ----------
    x, endmembers : ndarray, shape (L, K)
        The selected pixels ``Y[:, indices]`` (columns of the data, so nonnegative when ``Y`` is).
    indices : ndarray of int, shape (K,)
        The pixels chosen, in the order VCA found them.
    snr_db : float
        VCA's signal-to-noise estimate (dB); ``inf`` for noiseless data.
    projection : str
        ``"orthogonal"`` (SNR above ``15 + 10 log10 K`` dB) or ``"affine"`` (below: projection onto the
        ``K - 1``-dimensional affine hull, as in the paper).
    """

    endmembers: Any = None
    indices: Any = None
    snr_db: float = math.nan
    projection: str = ""


def vca(Y, n_endmembers, *, rng=None) -> VCAResult:
    r"""Vertex component analysis: pick ``K`` pixels at the vertices of the data simplex.

    Nascimento & Bioucas-Dias (2005). The data are projected onto a ``K``-dimensional signal subspace
    (SVD of :math:`YY^\top/N`, or of the centred covariance when the estimated SNR is below
    :math:`15 + 10\log_{10}K` dB, then lifted to a cone), and ``K`` times a random direction
    orthogonal to the endmembers found so far picks the pixel of largest :math:`|f^\top y_n|`.

    Choices made here: the endmembers returned are the selected **pixels of** ``Y`` (not their
    projections onto the subspace, which can be negative), so they are a valid nonnegative start for
    :func:`unmix`; the SNR estimate of noiseless data (signal power minus total power at rounding level)
    is taken as infinite. The random directions come from ``rng`` only.

    Parameters
    ----------
    Y : array_like, shape (L, N) or (rows, cols, L)
        Nonnegative spectra, channels x pixels (or a cube, bands last).
    n_endmembers : int
        ``K``, with ``2 <= K <= min(L, N)``.
    rng : None, int, SeedSequence or numpy.random.Generator
        Source of the random directions.

    Returns
    -------
    VCAResult
        ``endmembers`` (L x K), ``indices``, ``snr_db``.

    Raises
    ------
    ValueError
        Non-finite or negative ``Y``; ``n_endmembers`` outside ``[2, min(L, N)]``.

    References
    ----------
    J. M. P. Nascimento and J. M. Bioucas-Dias, "Vertex component analysis: a fast algorithm to unmix
    hyperspectral data", IEEE TGRS 43(4), 898-910, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.unmixing import vca, sad
    >>> rng = np.random.default_rng(0)
    >>> M = rng.uniform(0.1, 1.0, size=(50, 3))
    >>> A = rng.dirichlet(np.ones(3), size=200).T
    >>> A[:, :3] = np.eye(3)                                   # one pure pixel per endmember
    >>> res = vca(M @ A, 3, rng=0)
    >>> sorted(res.indices.tolist())
    [0, 1, 2]
    """
    func = "vca"
    Y, _, _ = as_spectra(Y, func)
    L, N = Y.shape
    K = check_n_endmembers(n_endmembers, L, N, func)
    gen = check_rng(rng, func)
    idx, snr, proj = _vca_indices(Y, K, gen)
    E = np.ascontiguousarray(Y[:, idx])
    return VCAResult(x=E, endmembers=E, indices=idx, snr_db=snr, projection=proj, status=Status.SUCCESS, nit=K)


def _top_eigvecs(C, k):
    """The ``k`` leading eigenvectors of the symmetric ``C``, each signed so that its largest-magnitude entry is
    positive (so rounding-level changes of ``C``, e.g. from rescaling ``Y``, cannot flip the VCA geometry)."""
    w, V = np.linalg.eigh(C)
    V = V[:, ::-1][:, :k]
    big = np.abs(V).argmax(axis=0)
    return V * np.sign(V[big, np.arange(k)])


@single_blas_thread()
def _vca_indices(Y, K, gen):
    """The VCA pixel indices of ``Y`` (L x N, clean; an array or a :class:`~._common.Spectra`), with the SNR
    estimate and the projection used."""
    S = spectra(Y)
    L, N = S.shape
    r_m = S.mean()
    gram = S.gram() / N                                            # L x L, no centred copy of Y
    cov = gram - np.outer(r_m, r_m)
    Ud = _top_eigvecs(cov, K)
    x_p = S.project(Ud) - (Ud.T @ r_m)[:, None]                    # K x N
    P_y = float(np.trace(gram))
    P_x = float((x_p * x_p).sum() / N + r_m @ r_m)
    noise = P_y - P_x
    signal = P_x - K / L * P_y
    if noise <= 1e-12 * P_y:
        snr = math.inf
    elif signal <= 0:
        snr = -math.inf
    else:
        snr = 10 * math.log10(signal / noise)
    snr_th = 15 + 10 * math.log10(K)
    if snr < snr_th:
        proj = "affine"
        d = K - 1
        x = x_p[:d]
        c = math.sqrt(float(np.max((x * x).sum(axis=0))))
        ym = np.vstack([x, np.full((1, N), c if c > 0 else 1.0)])
    else:
        proj = "orthogonal"
        Ud = _top_eigvecs(gram, K)
        x_p = S.project(Ud)                                        # K x N
        u = x_p.mean(axis=1)
        denom = u @ x_p
        tiny = 1e-300
        denom = np.where(np.abs(denom) > tiny, denom, tiny)
        ym = x_p / denom
    Aw = np.zeros((K, K))
    Aw[K - 1, 0] = 1.0
    idx = np.zeros(K, dtype=np.int64)
    for i in range(K):
        w = gen.standard_normal(K)
        f = w - Aw @ (np.linalg.pinv(Aw) @ w)
        nf = np.linalg.norm(f)
        f = f / nf if nf > 0 else w / np.linalg.norm(w)
        v = f @ ym
        j = int(np.argmax(np.abs(v)))
        Aw[:, i] = ym[:, j]
        idx[i] = j
    return idx, snr, proj


@single_blas_thread()
def _maxvol_refine(Y, idx, max_sweeps=50, min_gain=1.0 + 1e-9):
    """Grow the simplex of the pixels ``idx`` by N-FINDR swaps in the ``K-1``-dimensional PCA subspace.

    With ``E = [1; X_idx]`` (K x K) and ``V = E^-1 [1; X]``, replacing vertex ``i`` by pixel ``n`` scales the
    simplex volume by ``|V_in|`` (Cramer's rule): each sweep makes the best such swap while it grows the
    volume by more than the factor ``min_gain``. Returns the new indices.
    """
    S = spectra(Y)
    L, N = S.shape
    K = idx.size
    r_m = S.mean()
    cov = S.gram() / N - np.outer(r_m, r_m)
    U = _top_eigvecs(cov, K - 1)
    X = np.vstack([np.ones((1, N)), S.project(U) - (U.T @ r_m)[:, None]])
    idx = idx.copy()
    for _ in range(max_sweeps * K):
        E = X[:, idx]
        try:
            V = np.linalg.solve(E, X)
        except np.linalg.LinAlgError:
            break
        absV = np.abs(V)
        flat = int(np.argmax(absV))
        i, n = divmod(flat, N)
        if absV[i, n] <= min_gain:
            break
        idx[i] = n
    return idx


@single_blas_thread()
def _robust_band_weights(Y, K, its=10):
    r"""Band weights in (0, 1] that are small on outlier bands, from a reweighted rank-``K`` fit of ``Y``.

    With :math:`C = YY^\top/N`, weights :math:`w` and :math:`P` the projector on the ``K`` leading
    eigenvectors of :math:`W^{1/2} C W^{1/2}`, the residual of band ``l`` is divided by
    :math:`1 - P_{ll}` (its leverage): a corrupted band that the rank-``K`` fit captures by itself has a
    small residual but a leverage near 1, so this leave-one-band-out residual is large, where the plain
    residual would trust it most. :math:`w_l \propto 1/\text{that residual}`, ``its`` reweightings,
    normalised to a maximum of 1. ``O(L^2 N + its L^3)``.
    """
    S = spectra(Y)
    L, N = S.shape
    C = S.gram() / N
    w = np.ones(L)
    eye = np.eye(L)
    for _ in range(its):
        s = np.sqrt(w)
        Cw = C * np.outer(s, s)
        U = _top_eigvecs(Cw, K)
        lev = (U * U).sum(axis=1)
        R = eye - U @ U.T
        r = np.sqrt(np.maximum(np.einsum("ij,jk,ki->i", R, Cw, R), 0.0)) / s
        press = r / np.maximum(1.0 - lev, 1e-12)
        top = press.max()
        if not top > 0:
            return np.ones(L)
        w = 1.0 / np.maximum(press, 1e-12 * top)
        w /= w.max()
    return w


# --------------------------------------------------------------------------------------------------
# FCLS
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True, repr=False)
class FCLSResult(Result):
    """Result of :func:`fcls`.

    Attributes
    ----------
    x, abundances : ndarray, shape (K, N)
        The exact FCLS abundances (columns on the unit simplex; exact zeros off the support).
    kkt_residual : float
        The largest scaled KKT residual over the pixels (see :func:`fcls`).
    passes : int
        Active-set passes summed over the pixels (``nit`` is the largest for one pixel).
    cube_shape : tuple or None
        ``(rows, cols)`` when ``Y`` was a cube.
    """

    abundances: Any = None
    kkt_residual: float = math.nan
    passes: int = 0
    cube_shape: Any = None


def fcls(Y, M) -> FCLSResult:
    r"""Fully constrained least squares abundances, exact, for every pixel.

    .. math::

        \hat a_n = \arg\min_{a \ge 0,\ \mathbf 1^\top a = 1} \tfrac12 \|y_n - M a\|_2^2,
        \qquad n = 1, \dots, N.

    With :math:`G = M^\top M` and :math:`B = M^\top Y` (two BLAS products), each pixel is a ``K``-variable
    QP solved by a primal active-set method in a Numba kernel (no allocation in the pixel loop): the
    equality-constrained problem on the free set is solved exactly (bordered system, Gaussian
    elimination with partial pivoting), so the result is exact up to rounding, unlike the soft
    sum-to-one of the delta-augmented NNLS trick. The answer is then **checked** against the KKT
    conditions: with :math:`g = Ga_n - b_n` and :math:`\nu` the mean of :math:`g` on the support,

    .. math::

        r_n = \max\bigl(\max_{a_i>0}|g_i - \nu|,\ \max_{a_i=0}(\nu - g_i)_+,\ |\mathbf 1^\top a_n - 1|\bigr)
        / (\max|G| + \|b_n\|_\infty),

    and ``kkt_residual`` is the largest :math:`r_n` (``success`` when it is at most 1e-10).

    Parameters
    ----------
    Y : array_like, shape (L, N) or (rows, cols, L)
        Spectra (any finite real values).
    M : array_like, shape (L, K)
        Endmembers. A singular :math:`M^\top M` (collinear endmembers) is handled with a ridge of
        1e-14 of its largest diagonal entry (the abundances are then not unique).

    Returns
    -------
    FCLSResult

    Raises
    ------
    ValueError
        Non-finite ``Y`` or ``M``; ``M`` without ``L`` rows.

    References
    ----------
    D. C. Heinz and C.-I Chang, "Fully constrained least squares linear spectral mixture analysis",
    IEEE TGRS 39(3), 529-545, 2001. Nocedal & Wright, *Numerical Optimization*, Alg. 16.3.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.unmixing import fcls
    >>> M = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> res = fcls(M @ np.array([[0.3, 1.0], [0.7, 0.0]]), M)
    >>> np.round(res.abundances, 12).tolist(), res.success
    ([[0.3, 1.0], [0.7, 0.0]], True)
    """
    func = "fcls"
    Y, cube_shape, _ = as_spectra(Y, func, nonnegative=False)
    L, N = Y.shape
    M = as_endmember_matrix(M, L, func)
    A, kkt, passes, worst, bad = _fcls_core(Y, M)
    if kkt <= FCLS_KKT_TOL:
        status, detail = Status.SUCCESS, f"Largest scaled KKT residual {kkt:.1e} over {N} pixels."
    else:
        status = Status.STAGNATION
        detail = (f"Largest scaled KKT residual {kkt:.1e} > {FCLS_KKT_TOL:g} ({bad} pixels hit the pass budget or a "
                  "singular system); the endmembers are nearly collinear: check cond(M) or drop one.")
    return finish(FCLSResult(x=A, abundances=A, kkt_residual=kkt, passes=passes, cube_shape=cube_shape,
                             status=status, nit=worst, detail=detail), func)


@single_blas_thread()
def _fcls_core(Y, M):
    """FCLS of clean ``Y`` (L x N; an array or a :class:`~._common.Spectra`) on ``M`` (L x K):
    (A, kkt residual, passes, max passes, bad pixels)."""
    G = np.ascontiguousarray(M.T @ M)
    B = np.ascontiguousarray(spectra(Y).project(M))
    K, N = B.shape
    A = np.empty((K, N))
    stats = np.zeros(3, dtype=np.int64)
    _kernels.fcls_columns(G, B, A, stats)
    kkt = fcls_kkt_residual(G, B, A)
    return A, float(kkt.max()) if N else 0.0, int(stats[0]), int(stats[1]), int(stats[2])


def fcls_kkt_residual(G, B, A):
    """Per-pixel scaled KKT residual of ``A`` for ``min 1/2 a'Ga - b'a, a >= 0, 1'a = 1`` (see :func:`fcls`)."""
    g = G @ A - B
    supp = A > 0
    cnt = supp.sum(axis=0)
    nu = np.where(cnt > 0, (g * supp).sum(axis=0) / np.maximum(cnt, 1), g.min(axis=0))
    dev = g - nu
    on = np.where(supp, np.abs(dev), 0.0).max(axis=0)
    off = np.where(supp, 0.0, np.maximum(-dev, 0.0)).max(axis=0)
    feas = np.maximum(np.abs(A.sum(axis=0) - 1.0), np.maximum(-A, 0.0).max(axis=0))
    scale = np.abs(G).max() + np.abs(B).max(axis=0)
    return np.maximum(np.maximum(on, off) / np.where(scale > 0, scale, 1.0), feas)


# --------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------


def _pair(M_true, M_est, func, names=("M_true", "M_est")):
    Mt = as_float_array(M_true, names[0], func, ndim=2)
    Me = as_float_array(M_est, names[1], func, ndim=2)
    if Mt.shape[0] != Me.shape[0]:
        raise fail(func, names[1], f"have {Mt.shape[0]} rows (those of `{names[0]}`)", f"shape {Me.shape}")
    return Mt, Me


def _sad_matrix(Mt, Me):
    nt = np.linalg.norm(Mt, axis=0)
    ne = np.linalg.norm(Me, axis=0)
    C = (Mt.T @ Me) / np.maximum(np.outer(nt, ne), 1e-300)
    return np.arccos(np.clip(C, -1.0, 1.0))


def sad(M_true, M_est) -> np.ndarray:
    r"""Spectral angle distance per endmember, in radians: :math:`\arccos\frac{m_k^\top\hat m_k}{\|m_k\|\|\hat m_k\|}`.

    Columns are compared in the order given (match them first with :func:`match_endmembers`). The
    angle is scale invariant; a zero column gives :math:`\pi/2`.

    >>> import numpy as np
    >>> from numopt.unmixing import sad
    >>> sad(np.eye(3)[:, :2], np.array([[2.0, 1.0], [0.0, 1.0], [0.0, 0.0]])).round(6).tolist()
    [0.0, 0.785398]
    """
    func = "sad"
    Mt, Me = _pair(M_true, M_est, func)
    if Mt.shape != Me.shape:
        raise fail(func, "M_est", f"have the shape of `M_true` {Mt.shape}", f"shape {Me.shape}")
    nt = np.linalg.norm(Mt, axis=0)
    ne = np.linalg.norm(Me, axis=0)
    c = (Mt * Me).sum(axis=0) / np.maximum(nt * ne, 1e-300)
    return np.arccos(np.clip(c, -1.0, 1.0))


def abundance_rmse(A_true, A_est) -> np.ndarray:
    r"""Root-mean-square abundance error per endmember: :math:`\sqrt{\frac1N\sum_n (A_{kn} - \hat A_{kn})^2}`.

    Rows are compared in the order given (permute ``A_est`` with :func:`match_endmembers` first).

    >>> import numpy as np
    >>> from numopt.unmixing import abundance_rmse
    >>> abundance_rmse(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]])).round(6).tolist()
    [0.707107]
    """
    func = "abundance_rmse"
    At = as_float_array(A_true, "A_true", func, ndim=2)
    Ae = as_float_array(A_est, "A_est", func, ndim=2)
    if At.shape != Ae.shape:
        raise fail(func, "A_est", f"have the shape of `A_true` {At.shape}", f"shape {Ae.shape}")
    return np.sqrt(((At - Ae) ** 2).mean(axis=1))


class EndmemberMatch(NamedTuple):
    """Output of :func:`match_endmembers`: ``M_est[:, perm]`` lines up with ``M_true``; ``sad`` per endmember."""

    perm: np.ndarray
    sad: np.ndarray


def match_endmembers(M_true, M_est) -> EndmemberMatch:
    r"""Match estimated to true endmembers by the assignment of least total SAD (Hungarian method).

    ``scipy.optimize.linear_sum_assignment`` on the ``K_true x K_est`` SAD matrix; ``K_est >= K_true``
    is allowed (the extra estimates are left out).

    Returns
    -------
    EndmemberMatch
        ``perm`` (``M_est[:, perm]`` and ``A_est[perm]`` are in the order of ``M_true``) and ``sad``, the
        matched angles in radians.

    >>> import numpy as np
    >>> from numopt.unmixing import match_endmembers
    >>> M = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> match_endmembers(M, 3 * M[:, ::-1]).perm.tolist()
    [1, 0]
    """
    from scipy.optimize import linear_sum_assignment

    func = "match_endmembers"
    Mt, Me = _pair(M_true, M_est, func)
    if Me.shape[1] < Mt.shape[1]:
        raise fail(func, "M_est", f"have at least the {Mt.shape[1]} columns of `M_true`", f"shape {Me.shape}")
    S = _sad_matrix(Mt, Me)
    rows, cols = linear_sum_assignment(S)
    perm = cols[np.argsort(rows)]
    return EndmemberMatch(perm=perm.astype(np.int64), sad=S[np.arange(Mt.shape[1]), perm])
