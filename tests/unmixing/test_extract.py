"""vca, fcls and the metrics: oracles (noiseless pure pixels), cvxpy, a brute-force NumPy FCLS reference."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numopt.unmixing import abundance_rmse, fcls, match_endmembers, sad, vca
from numopt.unmixing._extract import fcls_kkt_residual

from . import mixtures, smooth_spectra


def fcls_bruteforce(Y, M):
    """Reference FCLS: every support S, the equality-constrained solve on S, the best feasible one."""
    K = M.shape[1]
    G, B = M.T @ M, M.T @ Y
    A = np.zeros((K, Y.shape[1]))
    for n in range(Y.shape[1]):
        best = np.inf
        for size in range(1, K + 1):
            for S in itertools.combinations(range(K), size):
                S = list(S)
                KKT = np.zeros((size + 1, size + 1))
                KKT[:size, :size] = G[np.ix_(S, S)]
                KKT[:size, size] = -1.0
                KKT[size, :size] = 1.0
                z = np.linalg.solve(KKT, np.r_[B[S, n], 1.0])[:size]
                if z.min() < -1e-12:
                    continue
                a = np.zeros(K)
                a[S] = np.maximum(z, 0)
                val = 0.5 * a @ G @ a - B[:, n] @ a
                if val < best:
                    best, A[:, n] = val, a
    return A


@pytest.mark.parametrize("K", [2, 3, 4])
def test_fcls_matches_bruteforce_reference(K):
    rng = np.random.default_rng(K)
    M = rng.uniform(0, 1, size=(12, K))
    Y = rng.uniform(0, 1, size=(12, 60))
    res = fcls(Y, M)
    assert res.success and res.kkt_residual <= 1e-10
    np.testing.assert_allclose(res.abundances, fcls_bruteforce(Y, M), atol=1e-10)
    assert (res.abundances >= 0).all()
    np.testing.assert_allclose(res.abundances.sum(0), 1.0, atol=1e-13)


@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(2, 6), L=st.integers(6, 20))
def test_fcls_kkt_against_cvxpy(seed, K, L):
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(seed)
    M = rng.uniform(0, 1, size=(L, K))
    Y = M @ rng.dirichlet(np.ones(K), size=3).T + 0.3 * rng.standard_normal((L, 3))
    res = fcls(Y, M)
    G, B = M.T @ M, M.T @ Y
    assert fcls_kkt_residual(G, B, res.abundances).max() <= 1e-10
    for n in range(Y.shape[1]):
        a = cp.Variable(K)
        prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(M @ a - Y[:, n])), [a >= 0, cp.sum(a) == 1])
        prob.solve()
        ours = 0.5 * np.sum((M @ res.abundances[:, n] - Y[:, n]) ** 2)
        assert ours <= prob.value + 1e-7 * (1 + abs(prob.value))
        np.testing.assert_allclose(res.abundances[:, n], a.value, atol=2e-4)


def test_fcls_noiseless_pure_pixels_oracle():
    M = smooth_spectra(80, 4, seed=1)
    Y, A = mixtures(M, 500, seed=1)
    res = fcls(Y, M)
    assert np.abs(res.abundances - A).max() < 1e-6
    assert res.kkt_residual <= 1e-10


def test_fcls_collinear_endmembers_no_nan():
    rng = np.random.default_rng(0)
    m = rng.uniform(0.1, 1, size=20)
    M = np.column_stack([m, 2 * m, rng.uniform(0.1, 1, size=20)])   # columns 0 and 1 collinear
    Y = rng.uniform(0, 1, size=(20, 40))
    res = fcls(Y, M)
    assert np.isfinite(res.abundances).all() and (res.abundances >= 0).all()
    np.testing.assert_allclose(res.abundances.sum(0), 1.0, atol=1e-12)
    ref = fcls_bruteforce(Y, M[:, [1, 2]])        # the better of the collinear pair spans the same cone
    f_ours = ((M @ res.abundances - Y) ** 2).sum(0)
    f_ref = ((M[:, [1, 2]] @ ref - Y) ** 2).sum(0)
    f_ref0 = ((M[:, [0, 2]] @ fcls_bruteforce(Y, M[:, [0, 2]]) - Y) ** 2).sum(0)
    assert (f_ours <= np.minimum(f_ref, f_ref0) + 1e-9).all()


def test_fcls_cube_and_errors():
    M = smooth_spectra(10, 3, seed=2)
    Y, _ = mixtures(M, 12, seed=2, snr=30)
    cube = Y.T.reshape(3, 4, 10)
    res = fcls(cube, M)
    assert res.cube_shape == (3, 4)
    np.testing.assert_allclose(res.abundances, fcls(Y, M).abundances, atol=1e-14)
    with pytest.raises(ValueError, match=r"fcls: `M` must have shape \(L, K\) with L = 10"):
        fcls(Y, M[:5])
    with pytest.raises(ValueError, match=r"fcls: `Y` must be finite; got Y\[0, 1\] = nan"):
        Z = Y.copy()
        Z[0, 1] = np.nan
        fcls(Z, M)


@pytest.mark.parametrize("K", [3, 4, 6])
def test_vca_noiseless_pure_pixels_oracle(K):
    M = smooth_spectra(100, K, seed=K)
    Y, _ = mixtures(M, 800, seed=K, n_pure=1)
    res = vca(Y, K, rng=0)
    assert res.snr_db == np.inf and res.projection == "orthogonal"
    match = match_endmembers(M, res.endmembers)
    assert match.sad.max() < 1e-6
    assert sorted(res.indices.tolist()) == list(range(K))


def test_vca_usgs_pure_pixels_oracle(shared_data):
    import scipy.io as sio

    lib = sio.loadmat(shared_data / "unmixing" / "usgs" / "USGS_1995_Library.mat")["datalib"][:, 3:]
    lib = lib[:, (lib > 0).all(axis=0)]
    rng = np.random.default_rng(0)
    U = lib / np.linalg.norm(lib, axis=0)
    chosen = []
    for j in rng.permutation(lib.shape[1]):
        if all(np.arccos(min(1.0, U[:, j] @ U[:, i])) > 0.15 for i in chosen):
            chosen.append(j)
        if len(chosen) == 4:
            break
    M = lib[:, chosen]
    Y, A = mixtures(M, 1000, seed=0, n_pure=1)
    est = vca(Y, 4, rng=0)
    m = match_endmembers(M, est.endmembers)
    assert m.sad.max() < 1e-6
    assert np.abs(fcls(Y, est.endmembers[:, m.perm]).abundances - A).max() < 1e-6


def test_vca_low_snr_uses_affine_projection_and_is_reproducible():
    M = smooth_spectra(60, 3, seed=3)
    Y, _ = mixtures(M, 400, seed=3, snr=5)
    a, b = vca(Y, 3, rng=7), vca(Y, 3, rng=7)
    assert a.projection == "affine" and a.snr_db < 15 + 10 * np.log10(3)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(set(a.indices.tolist())) == 3


@pytest.mark.parametrize("bad, err, pattern", [
    (dict(n_endmembers=1), ValueError, r"vca: `n_endmembers` must be in \[2, min\(L, N\)\] = \[2, 8\]; got 1"),
    (dict(n_endmembers=9), ValueError, r"`n_endmembers` must be in \[2, min\(L, N\)\]"),
    (dict(n_endmembers=2.0), TypeError, r"`n_endmembers` must be an integer"),
    (dict(Y=-1), ValueError, r"vca: `Y` must be nonnegative \(negative reflectance is refused, not clipped"),
    (dict(rng="x"), TypeError, r"vca: `rng` must be None, an int seed"),
])
def test_vca_bad_input(bad, err, pattern):
    Y = np.random.default_rng(0).uniform(size=(8, 30))
    if bad.get("Y") == -1:
        Y[2, 3] = -0.5
        bad = {}
    kw = dict(n_endmembers=3, rng=0) | bad
    with pytest.raises(err, match=pattern):
        vca(Y, kw.pop("n_endmembers"), **kw)


def test_metrics():
    M = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(sad(M, 5 * M), 0.0, atol=1e-7)
    np.testing.assert_allclose(sad(M[:, :1], M[:, 2:]), [np.pi / 4])
    perm = [2, 0, 1]
    m = match_endmembers(M, 3 * M[:, perm])
    np.testing.assert_array_equal((3 * M[:, perm])[:, m.perm], 3 * M)
    np.testing.assert_allclose(m.sad, 0.0, atol=1e-7)
    A = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(abundance_rmse(A, A[::-1]), [1.0, 1.0])
    with pytest.raises(ValueError, match=r"match_endmembers: `M_est` must have at least the 3 columns"):
        match_endmembers(M, M[:, :2])
    with pytest.raises(ValueError, match=r"sad: `M_est` must have the shape of `M_true`"):
        sad(M, M[:, :2])


def test_tour_rows():
    from numopt.unmixing._tour import tour_rows

    rows = tour_rows()
    assert len(rows) == 3 and all(len(r) == 3 and all(isinstance(x, str) for x in r) for r in rows)
    assert float(rows[0][1].split("max SAD ")[1].split()[0]) < 1e-6
    assert float(rows[1][1].split("max error ")[1].split()[0]) < 1e-6
    assert float(rows[2][1].split("max SAD ")[1].split()[0]) < 0.01


def _run_json(code, **env):
    import os

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tour_uses_one_specialisation_per_kernel():
    """In a fresh process the tour reaches every kernel with one set of argument types (issue 11: compile
    time); ``row_sq`` and ``asc_sq`` are gone (``residual_row_norms`` with M = 0, NumPy)."""
    counts = _run_json("import json, numba\n"
                       "from numopt.unmixing._tour import tour_rows\n"
                       "from numopt.unmixing import _kernels as K\n"
                       "tour_rows()\n"
                       "print(json.dumps({n: len(f.signatures) for n, f in vars(K).items() "
                       "if isinstance(f, numba.core.registry.CPUDispatcher) and not n.startswith('_')}))\n")
    assert "row_sq" not in counts and "asc_sq" not in counts
    assert counts and set(counts.values()) == {1}, counts


def test_fcls_compiles_its_solve_once_cold():
    """A cold compile of the FCLS kernel compiles nothing twice: ``_solve_bordered`` was compiled on its own,
    twice (for a literal and an int ``nfree``, with an 'A'-layout column); it is inlined now. Cache off, so
    the nested compiles happen (a warm cache loads ``fcls_columns`` without them)."""
    events = _run_json("import json\n"
                       "from numba.core import event\n"
                       "seen = []\n"
                       "class L(event.Listener):\n"
                       "    def on_start(self, ev): seen.append(ev.data['dispatcher'].py_func.__qualname__)\n"
                       "    def on_end(self, ev): pass\n"
                       "event.register('numba:compile', L())\n"
                       "import numpy as np\n"
                       "from numopt.unmixing import fcls\n"
                       "M = np.array([[1.0, 0.2, 0.1], [0.3, 1.0, 0.2], [0.1, 0.4, 1.0], [0.5, 0.5, 0.5]])\n"
                       "fcls(M @ np.array([[0.2, 1.0], [0.3, 0.0], [0.5, 0.0]]), M)\n"
                       "print(json.dumps(seen))\n", NUMOPT_NUMBA_CACHE="0")
    assert events.count("fcls_columns") == 1 and "_solve_bordered" not in events, events
    ours = [e for e in events if "<locals>" not in e]   # numba's own overloads (np.empty, max) are compiled once each
    assert len(ours) == len(set(ours)), events


@pytest.mark.parametrize("name", ["numopt.unmixing._extract", "numopt.unmixing._rrlbs", "numopt.unmixing._estimator"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("dtype", [np.float64, np.uint16])
def test_spectra_blocks_match_the_dense_algebra(dtype, monkeypatch):
    """The start-up algebra on column blocks (integer data never converted whole) equals the dense one."""
    from numopt.unmixing import _common
    from numopt.unmixing._common import Spectra

    monkeypatch.setattr(_common, "BLOCK_BYTES", 4096)           # several blocks on a small problem
    rng = np.random.default_rng(0)
    Y = np.round(rng.uniform(0, 1000, size=(9, 700))).astype(dtype)
    w = rng.uniform(0.1, 1, size=9)
    S = Spectra(Y, 1e-3).weighted(w)
    D = (Y.astype(float) * 1e-3) * w[:, None]
    assert sum(1 for _ in S.blocks()) > 1
    U = rng.standard_normal((9, 3))
    np.testing.assert_allclose(S.mean(), D.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(S.gram(), D @ D.T, rtol=1e-12)
    np.testing.assert_allclose(S.project(U), U.T @ D, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S.columns([3, 1]), D[:, [3, 1]], rtol=1e-15)
