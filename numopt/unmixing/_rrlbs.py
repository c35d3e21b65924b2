r"""Robust blind unmixing: l2,1 channel loss + learned lp guidance (RRLbS-style, reconstructed)."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from .._blas import single_blas_thread
from .._result import IterationPrinter, Result, Status, call_callback, finish
from .._validation import (as_float_array, check_bool, check_callable, check_choice, check_int,
                           check_rng, check_scalar, fail)
from . import _kernels
from ._common import Spectra, as_spectra_native, check_n_endmembers
from ._extract import _fcls_core, _maxvol_refine, _robust_band_weights, _vca_indices

__all__ = ["unmix", "UnmixingResult", "METHODS", "LAM_AUTO", "INIT_FLOOR", "MAXVOL_MIN_GAIN"]

#: ``method`` -> (loss, guidance, sparsity, sum-to-one): the four models of :func:`unmix`.
METHODS = {
    "rrlbs": ("l21", "learned", True, True),
    "l21": ("l21", "uniform", True, True),
    "l1/2": ("fro", "uniform", True, True),
    "nmf": ("fro", "uniform", False, False),
}
#: ``lam="auto"``: the lp penalty weighs as much as the data loss at the start point (see ``unmix``). Chosen
#: from the grid {0.05, 0.3, 1, 3} on Samson and Jasper Ridge (one seed, 500 iterations): Jasper was
#: insensitive to it (mean SAD 0.103 with init="maxvol"), Samson best at 1-3 (0.0625-0.0638, against 0.072 at 0.05).
LAM_AUTO = 1.0
#: A start from FCLS has exact zeros, which multiplicative updates can never leave: they are lifted to
#: this value (the column then renormalised to sum 1) before the first update.
INIT_FLOOR = 1e-3
#: Guard of the l2,1 weights, relative to the mean squared channel norm of the data: d_l = 1/(2 sqrt(r_l + eps)).
_EPS_LOSS = 1e-12
#: Guard of the lp penalty: (A + eps)^p, so its slope p (A + eps)^(p-1) stays finite at A = 0.
_EPS_LP = 1e-9
#: Added to every multiplicative-update denominator (0/0 for an all-zero row or column gives 0, not NaN).
_TINY = 1e-300
#: An N-FINDR swap of the ``"maxvol"`` and ``"robust"`` starts must grow the simplex volume by more than this
#: factor. With any gain (1 + 1e-9), on noisy scenes whose VCA pixels are already near-pure the swaps trade them
#: for noise-inflated pixels (gains 1.004-1.05 over 2-3 swaps on the USGS grid's 20-30 dB scenes: SAD 0.029
#: against 0.023 at K = 3); swaps that matter gain far more (Jasper Ridge's road: x14-x50; Samson: x1.2-x2).
MAXVOL_MIN_GAIN = 1.1
_VERBOSE_COLUMNS = ["nit", "fun", "rel_change", "asc_error", "support"]


@dataclasses.dataclass(kw_only=True, repr=False)
class UnmixingResult(Result):
    r"""Result of :func:`unmix`.

    Attributes
    ----------
    x : tuple of ndarray
        ``(endmembers, abundances)``.
    endmembers : ndarray, shape (L, K)
        Estimated endmember spectra, in the units of ``Y``.
    abundances : ndarray, shape (K, N)
        Estimated abundances (nonnegative; columns sum to 1 up to ``asc_error``).
    guidance : ndarray, shape (N,)
        The per-pixel weight :math:`h_n` of the lp penalty, on the scaled simplex
        :math:`\{h \ge 0, \mathbf 1^\top h = N\}` (all ones for uniform guidance).
    channel_weights : ndarray, shape (L,)
        The l2,1 reweighting :math:`d_l \propto 1/\|y^l - m^l A\|`, scaled to a maximum of 1; a small value
        marks an outlier band; an all-zero (blank) band gets 0 (all ones for the Frobenius methods).
    fun : float
        The objective :math:`F` at the returned point (on the data scaled to ``Y / max(Y)``).
    history : dict of ndarray
        ``"fun"`` (entry 0 at the start, then one per iteration), ``"asc_error"``, ``"support"`` (fraction
        of pixels with :math:`h_n > 0`) and ``"time"`` (seconds since the start, per iteration).
    asc_error : float
        :math:`\max_n |\mathbf 1^\top a_n - 1|` (the sum-to-one constraint is soft, delta-augmented).
    lam : float
        The absolute penalty weight :math:`\lambda` used (``lam`` times the data loss at the start,
        divided by the penalty at the start).
    gamma : float
        The weight :math:`\gamma` of :math:`\|h\|^2` (``inf`` for uniform or fixed guidance).
    support_fraction : float
        Fraction of pixels with :math:`h_n > 0` at the end.
    cube_shape : tuple or None
        ``(rows, cols)`` when ``Y`` was a cube; see :meth:`abundance_maps`.
    method : str
        The model solved.
    """

    endmembers: Any = None
    abundances: Any = None
    guidance: Any = None
    channel_weights: Any = None
    fun: float = math.nan
    history: dict = dataclasses.field(default_factory=dict)
    asc_error: float = math.nan
    lam: float = math.nan
    gamma: float = math.nan
    support_fraction: float = math.nan
    cube_shape: Any = None
    method: str = ""

    def abundance_maps(self, shape=None) -> np.ndarray:
        """Abundances as images, shape ``(K, rows, cols)`` (``shape`` defaults to ``cube_shape``; pixel ``n``
        is ``(n // cols, n % cols)``, the order in which a cube is read)."""
        shape = self.cube_shape if shape is None else tuple(shape)
        K, N = self.abundances.shape
        if shape is None or len(shape) != 2 or shape[0] * shape[1] != N:
            raise fail("UnmixingResult.abundance_maps", "shape", f"be (rows, cols) with rows * cols = N = {N}",
                       repr(shape))
        return self.abundances.reshape(K, shape[0], shape[1])


# --------------------------------------------------------------------------------------------------
# Problem and state
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Model:
    """The objective's constants (all on the scaled data ``Y / scale``; ``Y`` itself is kept as given, float64
    or a narrow integer type, and the kernels multiply by ``1 / scale`` as they read it)."""

    Y: np.ndarray
    scale: float
    loss: str            # "l21" | "fro"
    guidance: str        # "learned" | "uniform" | "fixed"
    lam: float
    p: float
    delta: float
    w_delta: float       # weight of the sum-to-one row
    gamma: float
    eps_loss: float
    ysq: np.ndarray = None    # squared norm of each channel of Y
    h_cap: float = math.inf   # upper bound of h (1 / support for the learned map)
    update_m: bool = True     # False: abundances only, for known endmembers (private; used by the tests)
    eps_lp: float = _EPS_LP


@dataclasses.dataclass
class _State:
    M: np.ndarray
    A: np.ndarray
    h: np.ndarray
    rho: np.ndarray      # squared residual norm per channel at (M, A)
    c: np.ndarray        # sum_k (A_kn + eps)^p per pixel at A
    asc_error: float = math.nan
    theta: float = math.nan  # shift of the last h projection (warm start of the next)


def _loss(model, rho):
    if model.loss == "l21":
        return float(np.sqrt(rho + model.eps_loss).sum())
    return 0.5 * float(rho.sum())


def _weights(model, rho):
    """IRLS weights d_l (the quadratic majoriser of the loss at the current residual)."""
    if model.loss == "l21":
        return 0.5 / np.sqrt(rho + model.eps_loss)
    return np.full(rho.shape[0], 0.5)


def _objective(model, st):
    f = _loss(model, st.rho)
    if model.w_delta > 0:
        col = st.A.sum(axis=0)     # sum_n (1'a_n - 1)^2 (NumPy: not worth a kernel to compile)
        col -= 1.0
        f += model.w_delta * model.delta**2 * float(col @ col)
    if model.lam > 0:
        f += model.lam * float(st.h @ st.c)
    if model.guidance == "learned" and math.isfinite(model.gamma):
        f += model.gamma * float(st.h @ st.h)
    return f


def project_scaled_simplex(v, s, cap=math.inf, theta=math.nan, out=None):
    """Euclidean projection of ``v`` onto the capped scaled simplex ``{0 <= h <= cap, sum(h) = s}``.

    ``h = clip(v - theta, 0, cap)`` with the shift ``theta`` found by safeguarded Newton steps on the
    piecewise-linear ``sum`` (bisection bracket; exact once the free set is right) in a Numba kernel;
    ``theta`` warm-starts it. Needs ``cap * len(v) >= s``. Returns ``h`` (or fills ``out``).
    """
    v = np.ascontiguousarray(v, dtype=np.float64)
    out = np.empty_like(v) if out is None else out
    _kernels.capped_simplex(v, float(s), float(cap), float(theta), out)
    return out


def _gamma_for_support(lam, c, support):
    r"""The largest :math:`\gamma` whose h step has support of at most ``m = round(support N)`` pixels.

    The h step is :math:`h = \Pi_{\Delta_N}(-\lambda c / 2\gamma)`, i.e. :math:`h_n = \lambda(\tau - c_n)_+/2\gamma`;
    its support is the set of the smallest :math:`c_n` and grows monotonically with :math:`\gamma`. The
    support has exactly ``m`` pixels when :math:`\tau = c_{(m+1)}`, which gives
    :math:`\gamma = \lambda (m c_{(m+1)} - \sum_{j \le m} c_{(j)}) / 2N` -- the limit a bisection on
    :math:`\gamma` converges to, in closed form.
    """
    N = c.size
    m = max(1, int(round(support * N)))
    if m >= N or lam <= 0:
        return math.inf
    cs = np.partition(c, m)
    head = cs[:m]
    gamma = lam * (m * cs[m] - head.sum()) / (2 * N)
    floor = 1e-12 * lam * max(float(np.abs(c).mean()), 1e-300)
    return max(float(gamma), floor)


def _h_step(model, st):
    if model.guidance != "learned":
        return
    if math.isinf(model.gamma):
        st.h[:] = 1.0
        return
    st.theta = _kernels.capped_simplex(-model.lam * st.c / (2 * model.gamma), float(st.c.size), model.h_cap,
                                       st.theta, st.h)


def _iterate(model, st, work):
    """One alternation from (M, A, h): IRLS weights and residual norms at that point (so ``st.rho`` and the
    objective refer to the incoming iterate), then the M, A and h updates; each step lowers F."""
    Y, M, A = model.Y, st.M, st.A
    ys = 1.0 / model.scale
    _kernels.gram_rows(A, work.AAt)
    _kernels.products_yat(Y, A, ys, work.YA)
    _kernels.mu_rows(model.ysq, M, work.AAt, work.YA, model.loss == "l21", model.update_m, model.eps_loss, _TINY,
                     st.rho, work.d, work.W, work.G)
    _kernels.products_wty(work.W, Y, ys, work.num)
    f = _objective(model, st)
    asc_w = model.w_delta * model.delta**2
    if asc_w > 0:
        work.num += asc_w
    st.asc_error = _kernels.abundance_update(A, work.num, work.G, asc_w, st.h, 0.5 * model.lam, model.p,
                                             model.eps_lp, _TINY, st.c)
    _h_step(model, st)
    return f


@dataclasses.dataclass
class _Work:
    """Preallocated buffers of one iteration."""

    AAt: np.ndarray
    G: np.ndarray
    num: np.ndarray
    d: np.ndarray
    YA: np.ndarray
    W: np.ndarray

    @classmethod
    def new(cls, L, K, N):
        return cls(AAt=np.empty((K, K)), G=np.empty((K, K)), num=np.empty((K, N)), d=np.empty(L),
                   YA=np.empty((L, K)), W=np.empty((L, K)))


# --------------------------------------------------------------------------------------------------
# Front door
# --------------------------------------------------------------------------------------------------


def unmix(Y, n_endmembers, *, method="rrlbs", lam="auto", p=0.5, guidance="learned", support=0.2, delta=15.0,
          init="robust", M0=None, A0=None, tol=1e-5, maxiter=1000, rng=None, callback=None, verbose=False):
    r"""Blind hyperspectral unmixing :math:`Y \approx MA` by multiplicative updates.

    **RRLbS-style (reconstructed).** The model follows Zhu, Wang, Fan, Meng, Pan, "Effective spectral
    unmixing via robust representation and learning-based sparsity" (arXiv:1409.0685) as far as its
    abstract and the authors' sibling papers (DgS-NMF, L1/2-NMF) establish it; the paper body was not
    available, so each choice it may settle differently is listed below. ``method="rrlbs"`` solves

    .. math::

        \min_{M \ge 0,\, A \ge 0,\, h \in \Delta_N}\;
        F = \sum_{l=1}^{L} \sqrt{\|y^l - m^l A\|_2^2 + \epsilon}
          + w_\delta \delta^2 \|\mathbf 1^\top A - \mathbf 1^\top\|_2^2
          + \lambda \sum_{n=1}^{N} h_n \sum_{k=1}^{K} (A_{kn} + \epsilon_p)^p + \gamma \|h\|_2^2,

    :math:`\Delta_N = \{h \ge 0, \mathbf 1^\top h = N\}`, :math:`y^l` the ``l``-th channel (row) of
    ``Y``. The first term is the l2,1 norm of the residual grouped **by channel** (a corrupted band adds
    its norm, not its squared norm); the second the soft sum-to-one constraint of the delta-augmented
    system :math:`\bar Y = [Y; \delta \mathbf 1^\top]`, :math:`\bar M = [M; \delta \mathbf 1^\top]`; the
    third an lp sparsity penalty whose strength per pixel is the learned guidance map :math:`h`.

    Each iteration lowers :math:`F` (tested):

    1. IRLS weights :math:`d_l = 1/(2\sqrt{\|r^l\|^2 + \epsilon})` at the current residual:
       :math:`\sum_l d_l \|r^l\|^2` majorises the loss up to a constant (concavity of the square root).
    2. M step: :math:`M \leftarrow M \odot (YA^\top) \oslash (MAA^\top)` (Lee-Seung; the weights cancel
       because the channels are the rows of ``M``).
    3. A step: :math:`A \leftarrow A \odot (\bar M^\top \bar D \bar Y) \oslash (\bar M^\top \bar D \bar M A +
       \tfrac{\lambda p}{2} (\mathbf 1 h^\top) \odot (A + \epsilon_p)^{p-1})` with
       :math:`\bar D = \mathrm{diag}(d, w_\delta)`; the concave lp term is majorised by its tangent.
    4. h step in closed form: :math:`h = \Pi_{\Delta_N}(-\lambda c / 2\gamma)` (capped, see below),
       :math:`c_n = \sum_k (A_{kn} + \epsilon_p)^p` (a warm-started Newton search for the shift of the
       projection, in a Numba kernel). Sparse (pure-looking)
       pixels get the largest :math:`h_n`, highly mixed pixels get :math:`h_n = 0`.

    The other methods change the model: ``"l21"`` fixes :math:`h = \mathbf 1`; ``"l1/2"`` is L1/2-NMF
    (Qian et al. 2011): Frobenius loss :math:`\tfrac12\|Y - MA\|_F^2` (:math:`d_l = 1/2`,
    :math:`w_\delta = 1/2`) and :math:`h = \mathbf 1`; ``"nmf"`` is plain Lee-Seung NMF (Frobenius, no
    penalty, no sum-to-one row). Cost per iteration: one fused Numba pass over ``Y`` (per channel:
    ``y A^T``, the residual norm from the Gram matrix, the row of ``M``, then ``M^T D Y``; ``2K`` unit-stride
    passes over a row held in cache, no residual matrix), one :math:`O(NK^2)` pass for ``A`` and
    :math:`O(N)` for ``h``.

    Choices the paper may settle differently (reconstructed):

    * Guidance as a per-pixel **weight** on :math:`\sum_k A_{kn}^p` with :math:`h \in \Delta_N` and a
      ridge :math:`\gamma\|h\|^2` (DgS-NMF instead uses a per-pixel exponent :math:`1 - h_n`).
    * :math:`\gamma` and a cap from ``support`` = :math:`\rho`: :math:`h` lives on the capped simplex
      :math:`\{0 \le h \le 1/\rho, \mathbf 1^\top h = N\}`, so at least :math:`\rho N` pixels carry
      guidance, and :math:`\gamma` is set once, at the start point, to the value whose (uncapped) h step has
      exactly :math:`\rho N` pixels with :math:`h_n > 0` (the closed form of the bisection on :math:`\gamma`,
      see :func:`_gamma_for_support`); the capped projection itself is exact (search on its shift).
      :math:`\gamma` and the cap are then kept fixed, so :math:`F` is one function and the iteration is
      monotone; the support at the end is reported (``support_fraction``). Without the cap a fixed
      :math:`\gamma` let the map collapse onto a handful of pixels as the abundances became sparser (seen on
      Jasper Ridge); a data-blind fixed :math:`\gamma` gives a map that is not sparse at all.
    * :math:`w_\delta` (the weight of the sum-to-one row) for the l2,1 loss: the mean IRLS weight at the
      start point over the bands that are not all zero (a blank band's weight is huge and would let the
      sum-to-one row swamp the fit), then fixed (for the Frobenius loss it is 1/2, as in L1/2-NMF).
    * ``lam`` is **relative**: :math:`\lambda` = ``lam`` x (data loss at the start) / (penalty at the start
      with :math:`h = \mathbf 1`). ``"auto"`` is :data:`LAM_AUTO` = 1 (penalty and loss equal at the start).
      The L1/2-NMF rule for
      :math:`\lambda` was derived for the squared Frobenius loss and over-sparsifies under the unsquared
      l2,1 loss (Samson's water endmember collapses).
    * ``Y`` is divided by its largest entry first (``M`` is scaled back), so the method is scale
      equivariant and ``delta`` means what it means for reflectance in [0, 1] (delta = 15 as in the
      L1/2-NMF Samson demo).
    * Start (default ``init="robust"``): the bands are reweighted by a leverage-corrected rank-``K`` fit (a
      spiked band gets a weight near 0), VCA picks ``K`` pixels of the reweighted data and N-FINDR swaps
      grow their simplex while a swap gains more than :data:`MAXVOL_MIN_GAIN` in volume (on Jasper Ridge
      VCA never selects a road pixel, the swaps do: mean SAD 0.105 against 0.361 from ``init="vca"``;
      Samson 0.062 against 0.071; on the USGS grid of the bench, SAD <= Frobenius L1/2's in 18/18 cells with
      spiked or blank bands, where the unweighted swaps managed 13/18); FCLS abundances on the reweighted
      bands with exact zeros lifted to :data:`INIT_FLOOR` (MU cannot leave a zero). ``epsilon = 1e-12`` x the mean
      squared channel norm, :math:`\epsilon_p = 10^{-9}`.

    Parameters
    ----------
    Y : array_like, shape (L, N) or (rows, cols, L)
        Nonnegative spectra (channels x pixels), or a cube with the bands last (see ``cube_shape``).
        Integer input of at most 4 bytes per entry (Jasper Ridge is uint16) is read in its own dtype by the
        kernels and never copied to float64 (a cube is transposed once, in that dtype); wider integers are
        converted once. ``Y`` is never modified. Negative entries are refused, not clipped.
    n_endmembers : int
        ``K``, in ``[2, min(L, N)]``.
    method : {"rrlbs", "l21", "l1/2", "nmf"}
    lam : "auto" or float >= 0
        Relative weight of the lp penalty (see above). Ignored by ``"nmf"``.
    p : float in (0, 1]
        Exponent of the penalty (1/2 uses a square root, not a power).
    guidance : "learned", "uniform" or array of shape (N,)
        ``"learned"`` (the default of ``"rrlbs"``), ``"uniform"`` (:math:`h = 1`) or a fixed nonnegative map
        (DgS-style; rescaled to sum ``N``). Only ``method="rrlbs"`` reads it.
    support : float in (0, 1]
        Target fraction of pixels with :math:`h_n > 0` for the learned map (1 gives a uniform map).
    delta : float >= 0
        Weight of the sum-to-one row (0 turns the constraint off). Ignored by ``"nmf"``.
    init : {"robust", "maxvol", "vca", "random"}
        Start for ``M`` when ``M0`` is not given: ``"robust"`` (the default), VCA and N-FINDR swaps on the
        bands reweighted by a leverage-corrected rank-``K`` fit (``_robust_band_weights``: a spiked band gets
        a weight near 0, so VCA does not pick the pixels where the spikes are largest), and the FCLS start on
        those bands; ``"maxvol"``, the same swaps on the unweighted bands; ``"vca"``, VCA's pixels alone; or
        ``K`` random pixels. ``A`` starts at FCLS on ``M0`` unless ``A0`` is given.
    M0 : array_like, shape (L, K), optional
        Nonnegative start for the endmembers (used as given).
    A0 : array_like, shape (K, N), optional
        Nonnegative start for the abundances (used as given: zeros stay zero under MU).
    tol : float >= 0
        Stop when the relative decrease of :math:`F` over one iteration is at most ``tol``.
    maxiter : int
        Iteration budget.
    rng : None, int, SeedSequence or Generator
        Randomness of VCA and of ``init="random"``.
    callback : callable, optional
        ``callback(intermediate_result)`` after each iteration (an :class:`UnmixingResult` whose arrays are
        the live iterates); raise ``StopIteration`` to stop.
    verbose : bool
        Print one row per iteration.

    Returns
    -------
    UnmixingResult

    Raises
    ------
    ValueError
        Non-finite or negative ``Y``; ``n_endmembers`` outside ``[2, min(L, N)]``; ``M0``/``A0``/``guidance``
        of the wrong shape or negative; ``p`` or ``support`` outside (0, 1]; negative ``lam``, ``delta``,
        ``tol``; unknown ``method``/``init``.
    TypeError
        Wrong argument types.

    Warns
    -----
    ConvergenceWarning
        When ``maxiter`` is reached before ``tol`` (``success=False``).

    References
    ----------
    F. Zhu, Y. Wang, B. Fan, G. Meng, C. Pan, arXiv:1409.0685 (2014). F. Zhu et al., "Spectral unmixing via
    data-guided sparsity", IEEE TIP 23(12), 2014 (arXiv:1403.3155). Y. Qian, S. Jia, J. Zhou,
    A. Robles-Kelly, "Hyperspectral unmixing via L1/2 sparsity-constrained NMF", IEEE TGRS 49(11), 2011.
    F. Nie, H. Huang, X. Cai, C. Ding, "Efficient and robust feature selection via joint l2,1-norms
    minimization", NIPS 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.unmixing import unmix, match_endmembers
    >>> rng = np.random.default_rng(0)
    >>> M = rng.uniform(0.1, 1.0, size=(30, 3))
    >>> A = rng.dirichlet(np.ones(3), size=400).T
    >>> A[:, :3] = np.eye(3)
    >>> res = unmix(M @ A, 3, tol=1e-4, rng=0)
    >>> res.success, bool(match_endmembers(M, res.endmembers).sad.max() < 0.05)
    (True, True)
    """
    res = _unmix(Y, n_endmembers, method=method, lam=lam, p=p, guidance=guidance, support=support, delta=delta,
                 init=init, M0=M0, A0=A0, tol=tol, maxiter=maxiter, rng=rng, callback=callback, verbose=verbose)
    return finish(res, "unmix")


def _unmix(Y, n_endmembers, *, method, lam, p, guidance, support, delta, init, M0, A0, tol, maxiter, rng, callback,
           verbose, update_m=True):
    """:func:`unmix`; ``update_m=False`` keeps ``M0`` fixed (abundance estimation with known endmembers)."""
    func = "unmix"
    method = check_choice(method, "method", func, METHODS)
    loss, guide_default, sparse, asc = METHODS[method]
    Y, cube_shape = as_spectra_native(Y, func)
    L, N = Y.shape
    K = check_n_endmembers(n_endmembers, L, N, func)
    if isinstance(lam, str):
        check_choice(lam, "lam", func, ["auto"])
        lam_rel = LAM_AUTO
    else:
        lam_rel = check_scalar(lam, "lam", func, low=0.0)
    p = check_scalar(p, "p", func, low=0.0, high=1.0, low_inclusive=False)
    support = check_scalar(support, "support", func, low=0.0, high=1.0, low_inclusive=False)
    delta = check_scalar(delta, "delta", func, low=0.0)
    tol = check_scalar(tol, "tol", func, low=0.0)
    maxiter = check_int(maxiter, "maxiter", func, low=0)
    init = check_choice(init, "init", func, ["robust", "maxvol", "vca", "random"])
    callback = check_callable(callback, "callback", func)
    verbose = check_bool(verbose, "verbose", func)
    gen = check_rng(rng, func)
    h_fixed = None
    if isinstance(guidance, str):
        guide = check_choice(guidance, "guidance", func, ["learned", "uniform"])
    else:
        h_fixed = as_float_array(guidance, "guidance", func, ndim=1)
        if h_fixed.shape != (N,):
            raise fail(func, "guidance", f"be 'learned', 'uniform' or an array of shape (N,) = ({N},)",
                       f"shape {h_fixed.shape}")
        if (h_fixed < 0).any() or not h_fixed.sum() > 0:
            raise fail(func, "guidance", "be nonnegative with a positive sum",
                       f"min {h_fixed.min():.6g}, sum {h_fixed.sum():.6g}")
        guide = "fixed"
    if method != "rrlbs":
        guide = guide_default
    M0 = _check_start(M0, "M0", (L, K), func)
    A0 = _check_start(A0, "A0", (K, N), func)

    # the model is fitted to Y / max(Y); Y itself is not copied (nor converted, when it is a narrow integer type)
    scale = float(Y.max())
    if not scale > 0:
        raise fail(func, "Y", "have a positive entry", "an all-zero array")
    Ys = Spectra(Y, 1.0 / scale)

    M, A = _start(Ys, K, init, M0, A0, scale, gen)
    st = _State(M=M, A=A, h=np.ones(N), rho=np.empty(L), c=np.empty(N))
    _kernels.residual_row_norms(Y, 1.0 / scale, M, A, st.rho)
    eps_lp = _EPS_LP
    st.asc_error = _kernels.penalty_stats(A, p, eps_lp, st.c)
    ysq = np.empty(L)
    _kernels.residual_row_norms(Y, 1.0 / scale, np.zeros((L, K)), A, ysq)   # |y^l / scale|^2 (M = 0)
    eps_loss = _EPS_LOSS * max(float(ysq.sum()) / L, 1e-300)
    model = _Model(Y=Y, scale=scale, loss=loss, guidance=guide, lam=0.0, p=p,
                   delta=delta if asc else 0.0, w_delta=0.0, gamma=math.inf, eps_loss=eps_loss, eps_lp=eps_lp, ysq=ysq,
                   update_m=update_m)
    if asc and delta > 0:
        live = ysq > 0      # an all-zero band has zero residual and a huge weight, but carries nothing
        model.w_delta = float(_weights(model, st.rho)[live].mean())
    if sparse and lam_rel > 0:
        pen0 = float(st.c.sum())
        model.lam = lam_rel * _loss(model, st.rho) / max(pen0, 1e-300)
    if model.guidance == "fixed":
        st.h[:] = h_fixed * (N / h_fixed.sum())
    elif model.guidance == "learned" and model.lam > 0:
        model.gamma = _gamma_for_support(model.lam, st.c, support)
        model.h_cap = 1.0 / support
        _h_step(model, st)

    return _run(model, st, method, tol, maxiter, callback, verbose, cube_shape)


def _check_start(X, name, shape, func):
    if X is None:
        return None
    X = as_float_array(X, name, func, ndim=2, copy=True)
    if X.shape != shape:
        raise fail(func, name, f"have shape {shape}", f"shape {X.shape}")
    if (X < 0).any():
        raise fail(func, name, "be nonnegative", f"min {X.min():.6g}")
    return X


def _start(Ys, K, init, M0, A0, scale, gen):
    """Start point from ``Ys`` (a :class:`Spectra`: the data divided by ``scale``, never formed whole)."""
    L, N = Ys.shape
    sw = None
    if init == "robust":
        sw = np.sqrt(_robust_band_weights(Ys, K))
    if M0 is not None:
        M = M0 / scale
    elif init == "robust":
        idx, _, _ = _vca_indices(Ys.weighted(sw), K, gen)
        idx = _maxvol_refine(Ys.weighted(sw), idx, min_gain=MAXVOL_MIN_GAIN)
        M = Ys.columns(idx)
    elif init in ("vca", "maxvol"):
        idx, _, _ = _vca_indices(Ys, K, gen)
        if init == "maxvol":
            idx = _maxvol_refine(Ys, idx, min_gain=MAXVOL_MIN_GAIN)
        M = Ys.columns(idx)
    else:
        M = Ys.columns(gen.choice(N, size=K, replace=False))
    M = np.ascontiguousarray(M)
    if A0 is not None:
        A = np.ascontiguousarray(A0)
    else:
        A = _fcls_core(Ys, M)[0] if sw is None else _fcls_core(Ys.weighted(sw), M * sw[:, None])[0]
        A += INIT_FLOOR
        A /= A.sum(axis=0, keepdims=True)
    return M, A


def _snapshot(model, st, method, nit, hist, status=Status.SUCCESS, detail="", cube_shape=None, d=None):
    L = model.Y.shape[0]
    if model.loss == "l21":
        w = _weights(model, st.rho) if d is None else d
        live = model.ysq > 0
        w = np.where(live, w / w[live].max(), 0.0)
    else:
        w = np.ones(L)
    M = st.M * model.scale
    h = st.h
    return UnmixingResult(x=(M, st.A), endmembers=M, abundances=st.A, guidance=h, channel_weights=w,
                          fun=hist["fun"][-1], history={k: np.asarray(v) for k, v in hist.items()},
                          asc_error=st.asc_error, lam=model.lam, gamma=model.gamma,
                          support_fraction=float((h > 0).mean()), cube_shape=cube_shape, method=method,
                          status=status, nit=nit, detail=detail)


def _run(model, st, method, tol, maxiter, callback, verbose, cube_shape):
    """The iteration loop. ``_iterate`` returns F at its incoming point, so F after update t is known in
    iteration t + 1; the last one costs one more residual pass at the end. ``tol`` compares consecutive
    known values."""
    L, N = model.Y.shape
    work = _Work.new(L, st.A.shape[0], N)
    t0 = time.perf_counter()
    hist = {"fun": [_objective(model, st)], "asc_error": [st.asc_error], "support": [float((st.h > 0).mean())],
            "time": [0.0]}
    printer = IterationPrinter(_VERBOSE_COLUMNS) if verbose else None
    status = Status.MAXITER
    change = math.nan
    nit = 0
    with single_blas_thread():
        for nit in range(1, maxiter + 1):
            f_in = _iterate(model, st, work)
            if nit > 1:
                hist["fun"].append(f_in)
                change = (hist["fun"][-2] - f_in) / max(abs(hist["fun"][-2]), 1e-300)
            hist["asc_error"].append(st.asc_error)
            hist["support"].append(float((st.h > 0).mean()))
            hist["time"].append(time.perf_counter() - t0)
            if printer is not None:
                printer.row(nit, hist["fun"][-1], change, st.asc_error, hist["support"][-1])
            if not (math.isfinite(f_in) and math.isfinite(st.asc_error)):
                status = Status.NONFINITE
                break
            if callback is not None and call_callback(callback, _snapshot(model, st, method, nit, hist,
                                                                         cube_shape=cube_shape)):
                status = Status.CALLBACK
                break
            if nit > 1 and abs(change) <= tol:
                status = Status.SUCCESS
                break
        _kernels.residual_row_norms(model.Y, 1.0 / model.scale, st.M, st.A, st.rho)
        f = _objective(model, st)
        if nit >= 1:
            hist["fun"].append(f)
    if status is Status.SUCCESS:
        detail = (f"Relative decrease of F {change:.1e} <= tol after {nit} iterations; "
                  f"max |1'a - 1| = {st.asc_error:.1e}.")
    elif status is Status.MAXITER and nit == 0:
        detail = "No iteration was run (maxiter = 0): the result is the start point."
    elif status is Status.MAXITER:
        detail = (f"The last iteration still lowered F by {change:.1e} relative (tol {tol:g}); multiplicative updates "
                  "converge sublinearly: raise `maxiter` or loosen `tol`.")
    elif status is Status.NONFINITE:
        detail = f"F = {f} at iteration {nit}; the data or the start point may hold extreme values."
    else:
        detail = f"After {nit} iterations."
    return _snapshot(model, st, method, nit, hist, status=status, detail=detail, cube_shape=cube_shape)
