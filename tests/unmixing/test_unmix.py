"""unmix: oracles (fixed point, noiseless recovery), monotonicity and invariants, symmetries, robustness to
outlier bands, guidance map, bad input."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from numopt import ConvergenceWarning, Status
from numopt.unmixing import METHODS, abundance_rmse, match_endmembers, unmix
from numopt.unmixing._rrlbs import _gamma_for_support, project_scaled_simplex

from . import mixtures, smooth_spectra, spike_bands

ALL = sorted(METHODS)


def _quiet(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return unmix(*args, **kw)


@pytest.fixture(scope="module")
def noisy():
    M = smooth_spectra(40, 3, seed=0)
    Y, A = mixtures(M, 600, seed=0, snr=30)
    return M, Y, A


@pytest.mark.parametrize("method", ALL)
def test_fixed_point_at_the_truth_with_lam_zero(method):
    M = smooth_spectra(30, 3, seed=1)
    Y, A = mixtures(M, 300, seed=1)            # noiseless, exact zeros in A (pure pixels)
    res = _quiet(Y, 3, method=method, lam=0.0, M0=M, A0=A, maxiter=50, tol=0.0)
    assert np.isfinite(res.endmembers).all() and np.isfinite(res.abundances).all()
    assert np.isfinite(res.history["fun"]).all() and np.isfinite(res.channel_weights).all()
    np.testing.assert_allclose(res.endmembers, M, rtol=0, atol=1e-10 * M.max())
    np.testing.assert_allclose(res.abundances, A, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ALL)
def test_every_iteration_lowers_F_and_keeps_the_invariants(method, noisy):
    M, Y, A = noisy
    Y = Y.copy()
    Y[:, 5] = 0.0                               # a blank pixel
    Y[7] = 0.0                                  # a blank band
    seen = []

    def check(r):
        assert (r.endmembers >= 0).all() and (r.abundances >= 0).all()
        assert (r.guidance >= 0).all()
        np.testing.assert_allclose(r.guidance.sum(), Y.shape[1], rtol=1e-12)
        seen.append(r.nit)

    res = _quiet(Y, 3, method=method, maxiter=60, tol=0.0, rng=0, callback=check)
    assert seen == list(range(1, 61))
    f = res.history["fun"]
    assert f.shape == (61,) and np.isfinite(f).all()
    assert (np.diff(f) <= 1e-12 * np.abs(f[:-1])).all(), np.diff(f).max()
    assert res.fun == f[-1]
    assert np.isfinite(res.abundances).all() and np.isfinite(res.endmembers).all()
    assert res.asc_error == pytest.approx(np.abs(res.abundances.sum(0) - 1).max())


@pytest.mark.parametrize("method", ALL)
def test_noiseless_data_give_no_nan_and_recover_the_endmembers(method):
    M = smooth_spectra(30, 3, seed=2)
    Y, A = mixtures(M, 400, seed=2)
    res = _quiet(Y, 3, method=method, maxiter=300, tol=1e-9, rng=0)
    assert np.isfinite(res.abundances).all() and np.isfinite(res.history["fun"]).all()
    assert match_endmembers(M, res.endmembers).sad.max() < 0.05


def test_permutation_equivariance(noisy):
    M, Y, A = noisy
    A0 = (A + 0.01) / (A + 0.01).sum(0)
    ref = _quiet(Y, 3, M0=M, A0=A0, maxiter=40, tol=0.0, lam=0.1)
    perm = [2, 0, 1]
    out = _quiet(Y, 3, M0=M[:, perm], A0=A0[perm], maxiter=40, tol=0.0, lam=0.1)
    np.testing.assert_allclose(out.endmembers, ref.endmembers[:, perm], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.abundances, ref.abundances[perm], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.guidance, ref.guidance, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("c", [1e-3, 7.0, 4096.0])
def test_scale_equivariance(noisy, c):
    M, Y, A = noisy
    ref = _quiet(Y, 3, maxiter=40, tol=0.0, rng=0)
    out = _quiet(c * Y, 3, maxiter=40, tol=0.0, rng=0)
    np.testing.assert_allclose(out.endmembers, c * ref.endmembers, rtol=1e-9)
    np.testing.assert_allclose(out.abundances, ref.abundances, rtol=1e-9, atol=1e-12)


def test_integer_cube_is_accepted(noisy):
    M, Y, A = noisy
    Q = np.round(Y / Y.max() * 5000).astype(np.uint16)          # Jasper-like storage
    cube = Q.T.reshape(20, 30, Y.shape[0])                     # rows x cols x L
    a = _quiet(cube, 3, maxiter=20, tol=0.0, rng=0)
    b = _quiet(Q.astype(float), 3, maxiter=20, tol=0.0, rng=0)
    assert a.cube_shape == (20, 30) and b.cube_shape is None
    np.testing.assert_allclose(a.abundances, b.abundances, rtol=1e-12, atol=1e-14)
    maps = a.abundance_maps()
    assert maps.shape == (3, 20, 30)
    np.testing.assert_array_equal(maps[:, 1, 2], a.abundances[:, 1 * 30 + 2])


@pytest.mark.parametrize("init", ["maxvol", "robust"])
def test_integer_data_are_not_copied_to_float64(init):
    """Issue 14: peak memory <= 4x the input; a uint16 cube's float64 copy alone is 4x (Jasper Ridge measured
    4.60x). The kernels read the integer data in place, so the peak stays far below that."""
    import tracemalloc

    M = smooth_spectra(48, 3, seed=5)
    Y, _ = mixtures(M, 12000, seed=5, snr=30)
    Q = np.round(Y / Y.max() * 5000).astype(np.uint16)          # 1.15 MB; as float64, 4.6 MB
    before = Q.copy()
    _quiet(Q, 3, maxiter=3, tol=0.0, rng=0, init=init)            # compile outside the trace
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        res = _quiet(Q, 3, maxiter=3, tol=0.0, rng=0, init=init)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak <= 2.5 * Q.nbytes, peak / Q.nbytes
    np.testing.assert_array_equal(Q, before)                      # the input is never modified
    ref = _quiet(Q.astype(np.float64), 3, maxiter=3, tol=0.0, rng=0, init=init)
    np.testing.assert_allclose(res.endmembers, ref.endmembers, rtol=1e-10)
    np.testing.assert_allclose(res.abundances, ref.abundances, rtol=1e-10, atol=1e-14)


def test_float_input_is_not_modified_and_signed_integers_are_checked():
    Y = np.random.default_rng(0).uniform(size=(12, 40))
    before = Y.copy()
    _quiet(Y, 3, maxiter=3, rng=0)
    np.testing.assert_array_equal(Y, before)
    Q = np.round(Y * 100).astype(np.int16)
    Q[3, 7] = -2
    with pytest.raises(ValueError, match=r"unmix: `Y` must be nonnegative .*got Y\[3, 7\] = -2 \(channel 3"):
        unmix(Q, 3)


def _known_m(Y, M, method, **kw):
    """The abundance updates of ``unmix`` with the endmembers held at ``M`` (private switch)."""
    from numopt.unmixing._rrlbs import _unmix

    opts = dict(method=method, lam=0.0, p=0.5, guidance="learned", support=0.2, delta=1.0, init="vca", M0=M,
                A0=np.full((M.shape[1], Y.shape[1]), 1.0 / M.shape[1]), tol=0.0, maxiter=500, rng=0, callback=None,
                verbose=False, update_m=False) | kw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _unmix(Y, M.shape[1], **opts)


def test_l21_resists_spiked_bands():
    """10% of the bands replaced by U(0, 5 max), endmembers known: the l2,1 abundances stay near the truth,
    the Frobenius ones do not (ratio measured 0.04); the channel weights put the spiked bands last. (With the
    default delta = 15 the soft sum-to-one row dominates and the multiplicative updates need far more than
    500 iterations to get there: l2,1 RMSE 0.20 against 0.25 after 2000.)"""
    M = smooth_spectra(100, 4, seed=5)
    Yc, A = mixtures(M, 1500, seed=5, snr=30)
    Y, bad = spike_bands(Yc, 0.1, seed=5)
    rob = _known_m(Y, M, "l21")
    fro = _known_m(Y, M, "l1/2")
    np.testing.assert_allclose(rob.endmembers, M, rtol=1e-14)
    err = {name: abundance_rmse(A, r.abundances).mean() for name, r in (("l21", rob), ("fro", fro))}
    assert err["l21"] <= 0.5 * err["fro"], err
    lowest = np.argsort(rob.channel_weights)[:bad.size]
    assert np.isin(bad, lowest).mean() >= 0.9
    assert (fro.channel_weights == 1).all()


def test_blind_unmixing_with_spiked_bands_needs_the_robust_start():
    """Blind, 10% spiked bands: VCA picks spike-dominated pixels (clean-band SAD about 0.3 for every method);
    init="robust" down-weights the spiked bands (weights < 0.05 against > 0.5) and rrlbs lands near the truth
    (measured 0.035 after 500 iterations)."""
    from numopt.unmixing._extract import _robust_band_weights

    M = smooth_spectra(100, 4, seed=5)
    Yc, A = mixtures(M, 1500, seed=5, snr=30)
    Y, bad = spike_bands(Yc, 0.1, seed=5)
    good = np.setdiff1d(np.arange(100), bad)
    w = _robust_band_weights(Y, 4)
    assert w[bad].max() < 0.05 and w[good].min() > 0.5
    sad = {}
    for init in ("vca", "robust", "default"):
        kw = {} if init == "default" else dict(init=init)
        r = _quiet(Y, 4, maxiter=150, tol=0.0, rng=0, **kw)
        sad[init] = match_endmembers(M[good], r.endmembers[good]).sad.mean()
    assert sad["robust"] < 0.1 < 0.2 < sad["vca"], sad
    assert sad["default"] == sad["robust"]       # the default start is the robust one (issue 14's USGS grid)


def test_maxvol_swaps_need_a_real_volume_gain():
    """N-FINDR swaps from pure pixels of a noisy scene only trade them for noise-inflated pixels (volume gains
    of a few %, which cost SAD on the USGS grid: 0.029 against 0.023); a start that misses an endmember (a
    mixed pixel in place of a pure one, as VCA on Jasper Ridge's road) gains by far more and is swapped."""
    from numopt.unmixing._common import Spectra
    from numopt.unmixing._extract import _maxvol_refine
    from numopt.unmixing._rrlbs import MAXVOL_MIN_GAIN

    M = smooth_spectra(60, 3, seed=7)
    Y, A = mixtures(M, 2000, seed=7, snr=25)
    pure = np.array([int(np.argmax(A[k])) for k in range(3)])
    S = Spectra(Y)
    assert sorted(_maxvol_refine(S, pure, min_gain=MAXVOL_MIN_GAIN).tolist()) == sorted(pure.tolist())
    assert sorted(_maxvol_refine(S, pure, min_gain=1 + 1e-9).tolist()) != sorted(pure.tolist())
    mixed = int(np.argmin(np.abs(A - 1 / 3).max(axis=0)))          # the most mixed pixel
    start = np.array([pure[0], pure[1], mixed])
    out = _maxvol_refine(S, start, min_gain=MAXVOL_MIN_GAIN)
    assert A[2, out].max() > 0.9                                   # the third endmember was found


def test_blank_bands_get_weight_zero_and_do_not_swamp_the_fit():
    """All-zero bands: zero residual, so a huge IRLS weight; they must neither set the sum-to-one weight
    (then the updates stall: clean-band SAD 0.041 against 0.028 for Frobenius before the fix) nor the scale
    of the reported channel weights."""
    M = smooth_spectra(60, 3, seed=8)
    Yc, A = mixtures(M, 800, seed=8, snr=30)
    Y, bad = spike_bands(Yc, 0.1, seed=8, kind="blank")
    good = np.setdiff1d(np.arange(60), bad)
    r = _quiet(Y, 3, maxiter=300, tol=0.0, rng=0)
    f = _quiet(Y, 3, method="l1/2", maxiter=300, tol=0.0, rng=0)
    assert (r.channel_weights[bad] == 0).all() and r.channel_weights[good].min() > 0.05
    s_r = match_endmembers(M[good], r.endmembers[good]).sad.mean()
    s_f = match_endmembers(M[good], f.endmembers[good]).sad.mean()
    assert s_r <= 1.05 * s_f, (s_r, s_f)


def test_guidance_map_support_and_modes(noisy):
    M, Y, A = noisy
    N = Y.shape[1]
    res = _quiet(Y, 3, support=0.1, maxiter=30, tol=0.0, rng=0)
    assert round(0.1 * N) / N <= res.history["support"][0] < 0.5
    assert (res.history["support"] >= round(0.1 * N) / N).all()        # the cap 1/support keeps it
    assert res.guidance.max() <= 10.0 + 1e-12
    assert 0 < res.support_fraction < 1 and np.isfinite(res.gamma)
    # the support is the set of the sparsest pixels (small c = sum_k A^p)
    uni = _quiet(Y, 3, guidance="uniform", maxiter=30, tol=0.0, rng=0)
    np.testing.assert_array_equal(uni.guidance, np.ones(N))
    full = _quiet(Y, 3, support=1.0, maxiter=30, tol=0.0, rng=0)
    assert full.gamma == np.inf
    np.testing.assert_allclose(full.abundances, uni.abundances, rtol=1e-12, atol=1e-15)
    h = np.zeros(N)
    h[:50] = 2.0
    fix = _quiet(Y, 3, guidance=h, maxiter=5, tol=0.0, rng=0)
    np.testing.assert_allclose(fix.guidance, h * N / h.sum())


def test_projection_and_gamma_closed_form():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(50)
    h = project_scaled_simplex(v, 50.0)
    assert (h >= 0).all()
    np.testing.assert_allclose(h.sum(), 50.0)
    theta = (v - h)[h > 0]
    np.testing.assert_allclose(theta, theta[0])                  # h = max(v - theta, 0)
    assert (v[h == 0] <= theta[0] + 1e-12).all()
    hc = project_scaled_simplex(v, 50.0, cap=1.5)
    assert hc.max() <= 1.5 and (hc >= 0).all()
    np.testing.assert_allclose(hc.sum(), 50.0)
    free = (hc > 0) & (hc < 1.5)
    np.testing.assert_allclose((v - hc)[free], (v - hc)[free][0])
    theta = (v - hc)[free][0]
    assert (v[hc == 0] <= theta + 1e-12).all() and (v[hc == 1.5] >= theta + 1.5 - 1e-12).all()
    c = rng.uniform(1, 2, size=200)
    lam = 0.7
    g = _gamma_for_support(lam, c, 0.25)
    support = lambda gamma: (project_scaled_simplex(-lam * c / (2 * gamma), 200.0) > 0).sum()
    assert support(g * (1 - 1e-9)) <= 50 and support(g * 1.01) > 50      # g is the boundary of support 50


def test_callback_stop_and_maxiter_warning(noisy):
    M, Y, A = noisy

    def stop(r):
        if r.nit == 3:
            raise StopIteration

    res = unmix(Y, 3, callback=stop, rng=0)
    assert res.status is Status.CALLBACK and not res.success and res.nit == 3
    assert res.history["fun"].shape == (4,)
    with pytest.warns(ConvergenceWarning, match=r"unmix: Stopped at `maxiter` before reaching `tol`\. The last "
                      r"iteration still lowered F by"):
        res = unmix(Y, 3, maxiter=5, tol=0.0, rng=0)
    assert "unmix" not in res.message and not res.success
    ok = unmix(Y, 3, tol=1e-3, rng=0)
    assert ok.success and ok.status is Status.SUCCESS and ok.message.startswith(Status.SUCCESS.value)
    assert ok.keys()[:4] == ["x", "status", "nit", "detail"]


def test_maxiter_zero_returns_the_start(noisy):
    M, Y, A = noisy
    A0 = np.full((3, Y.shape[1]), 1 / 3)
    res = _quiet(Y, 3, M0=M, A0=A0, maxiter=0)
    assert res.nit == 0 and res.history["fun"].shape == (1,) and "maxiter = 0" in res.message
    np.testing.assert_allclose(res.endmembers, M, rtol=1e-15)
    np.testing.assert_array_equal(res.abundances, A0)


def test_verbose_prints_one_row_per_iteration(noisy, capsys):
    M, Y, A = noisy
    _quiet(Y, 3, maxiter=3, tol=0.0, rng=0, verbose=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["nit", "fun", "rel_change", "asc_error", "support", "time"] and len(out) == 4


@pytest.mark.parametrize("kw, err, pattern", [
    (dict(n_endmembers=1), ValueError, r"unmix: `n_endmembers` must be in \[2, min\(L, N\)\] = \[2, 12\]; got 1\."),
    (dict(n_endmembers=13), ValueError, r"`n_endmembers` must be in \[2, min\(L, N\)\]"),
    (dict(p=0.0), ValueError, r"unmix: `p` must be > 0; got 0\.0\."),
    (dict(p=1.5), ValueError, r"unmix: `p` must be <= 1; got 1\.5\."),
    (dict(support=0.0), ValueError, r"unmix: `support` must be > 0"),
    (dict(support=1.01), ValueError, r"unmix: `support` must be <= 1"),
    (dict(lam=-1.0), ValueError, r"unmix: `lam` must be >= 0"),
    (dict(lam="big"), ValueError, r"unmix: `lam` must be one of 'auto'"),
    (dict(method="pca"), ValueError, r"unmix: `method` must be one of 'rrlbs', 'l21', 'l1/2', 'nmf'"),
    (dict(init="svd"), ValueError, r"unmix: `init` must be one of 'robust', 'maxvol', 'vca', 'random'"),
    (dict(M0=np.ones((12, 2))), ValueError, r"unmix: `M0` must have shape \(12, 3\); got shape \(12, 2\)\."),
    (dict(A0=np.ones((3, 5))), ValueError, r"unmix: `A0` must have shape \(3, 40\); got shape \(3, 5\)\."),
    (dict(M0=-np.ones((12, 3))), ValueError, r"unmix: `M0` must be nonnegative"),
    (dict(guidance=np.ones(3)), ValueError, r"unmix: `guidance` must be 'learned', 'uniform' or an array of shape"),
    (dict(guidance="dgs"), ValueError, r"unmix: `guidance` must be one of 'learned', 'uniform'"),
    (dict(maxiter=1.5), TypeError, r"unmix: `maxiter` must be an integer"),
    (dict(verbose="no"), TypeError, r"unmix: `verbose` must be True or False"),
    (dict(Y="neg"), ValueError, r"unmix: `Y` must be nonnegative \(negative reflectance is refused, not clipped: "
                                r"if it is calibration noise, pass np\.maximum\(Y, 0\)\); got Y\[1, 2\] = -0\.25"),
    (dict(Y="nan"), ValueError, r"unmix: `Y` must be finite; got Y\[0, 4\] = inf\."),
    (dict(Y="zero"), ValueError, r"unmix: `Y` must have a positive entry"),
    (dict(Y="1d"), ValueError, r"unmix: `Y` must be 2-D or 3-D"),
    (dict(Y="complex"), TypeError, r"unmix: `Y` must have a real numeric dtype"),
])
def test_bad_input(kw, err, pattern):
    Y = np.random.default_rng(0).uniform(size=(12, 40))
    special = kw.pop("Y", None)
    if special == "neg":
        Y[1, 2] = -0.25
    elif special == "nan":
        Y[0, 4] = np.inf
    elif special == "zero":
        Y[:] = 0
    elif special == "1d":
        Y = Y[0]
    elif special == "complex":
        Y = Y + 0j
    k = kw.pop("n_endmembers", 3)
    with pytest.raises(err, match=pattern):
        unmix(Y, k, **kw)


def test_import_is_cheap_and_public_modules_hold_no_jit():
    code = ("import sys, numopt; assert 'numba' not in sys.modules; import numopt.unmixing as u; "
            "assert 'sklearn' not in sys.modules; "
            "assert {'unmix', 'vca', 'fcls', 'sad', 'abundance_rmse', 'match_endmembers', 'SpectralUnmixing', "
            "'UnmixingResult'} <= set(u.__all__)")
    subprocess.run([sys.executable, "-c", code], check=True)
    import inspect

    from numopt.unmixing import _common, _extract, _rrlbs

    for module in (_common, _extract, _rrlbs):
        assert "@jit" not in inspect.getsource(module)
