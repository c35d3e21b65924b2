"""Ratings data (issue 18): center="global"/"biases", reg_scale="counts", value_range, cold rows and
columns, the synthetic ratings generator, MatrixCompletion's score and validation, masked arrays and
float32/int64 input (issue 16)."""

import warnings

import numpy as np
import pytest

from numopt import ConvergenceWarning
from numopt.completion import MatrixCompletion, UnderdeterminedWarning, complete_matrix
from numopt.completion._data import synthetic_ratings
from numopt.completion._ratings import Biases

from . import low_rank, problem, sample


def _rmse(res, split):
    r, c, v, _ = split
    return float(np.sqrt(np.mean((res.predict(r, c) - v) ** 2)))


@pytest.fixture(scope="module")
def ratings():
    return synthetic_ratings(600, 300, 24000, rng=3)


def test_generator_reproduces_ratings_statistics(ratings):
    d = ratings
    r, c, v, shape = d.train
    assert shape == (600, 300) and r.dtype == np.int64 and c.dtype == np.int64
    sizes = [s[0].shape[0] for s in (d.train, d.val, d.test)]
    assert sum(sizes) == 24000 and sizes[0] == 19200
    allr = np.concatenate([s[0] for s in (d.train, d.val, d.test)])
    allc = np.concatenate([s[1] for s in (d.train, d.val, d.test)])
    assert np.unique(allr * 300 + allc).shape[0] == 24000   # distinct pairs, splits disjoint
    vals = np.concatenate([s[2] for s in (d.train, d.val, d.test)])
    assert set(np.unique(vals).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 3.3 < vals.mean() < 3.8
    counts = np.bincount(allr, minlength=600)
    assert counts.max() > 8 * np.median(counts)   # heavy-tailed activity (Zipf)
    # the noise floor is the RMSE of the Bayes predictor
    bayes = float(np.sqrt(np.mean((d.expected[2] - d.test[2]) ** 2)))
    np.testing.assert_allclose(bayes, d.noise_floor, rtol=0.05)
    twin = synthetic_ratings(600, 300, 24000, rng=3)
    np.testing.assert_array_equal(twin.test[2], d.test[2])
    with pytest.raises(ValueError, match="synthetic_ratings: `split` must sum to 1"):
        synthetic_ratings(10, 10, 20, split=(0.5, 0.1, 0.1))


def test_biases_beat_raw_ratings_and_the_bias_baseline(ratings):
    # before: raw ratings completed at rank k gave a test RMSE worse than the global mean (ML-100K: 3.70)
    d = ratings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        biased = complete_matrix(d.train, 4, reg=0.05, reg_scale="counts", center="biases", value_range=(1, 5),
                                 tol=1e-4, maxiter=200, rng=0)
    base = Biases(_obs(d.train), "biases", 5.0)
    base.update()
    r, c, v, _ = d.test
    baseline = float(np.sqrt(np.mean((np.clip(base.mean + base.b[r] + base.c[c], 1, 5) - v) ** 2)))
    mean_only = float(np.sqrt(np.mean((d.train[2].mean() - v) ** 2)))
    ours = _rmse(biased, d.test)
    assert ours < baseline < mean_only
    assert ours < 1.25 * d.noise_floor
    pred = biased.predict(r, c)
    assert pred.min() >= 1.0 and pred.max() <= 5.0
    np.testing.assert_allclose(biased.mean, d.train[2].mean(), atol=0.3)


def _obs(triplet):
    from numopt.completion._data import as_observations

    return as_observations(triplet)


def test_cold_rows_and_columns_are_predicted_from_the_biases():
    rng = np.random.default_rng(0)
    m, n = 50, 40
    X = np.where(rng.random((m, n)) < 0.5, rng.integers(1, 6, (m, n)).astype(float), np.nan)
    X[7] = np.nan       # a cold row
    X[:, 3] = np.nan    # a cold column
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = complete_matrix(X, 2, center="biases", reg=1.0, value_range=(1, 5), maxiter=20, rng=0)
    dense = res.to_dense()
    assert np.isfinite(dense).all()
    assert res.row_bias[7] == 0.0 and res.col_bias[3] == 0.0
    np.testing.assert_allclose(dense[7], np.clip(res.mean + res.col_bias, 1, 5), atol=1e-12)
    np.testing.assert_allclose(dense[:, 3], np.clip(res.mean + res.row_bias, 1, 5), atol=1e-12)
    np.testing.assert_allclose(res.predict(7, 3), np.clip(res.mean, 1, 5))


def test_center_global_recovers_a_shifted_low_rank_matrix():
    A, B = low_rank(120, 100, 2, seed=4)
    M = A @ B.T
    r, c = sample(120, 100, 3, 6.0, seed=4)   # at least 3 observations per row and column
    res = complete_matrix((r, c, M[r, c] + 7.5, (120, 100)), 3, center="global", tol=1e-10, rng=0)
    # a shift is rank one: rank 3 with the fitted mean reproduces M + 7.5 exactly
    np.testing.assert_allclose(res.to_dense(), M + 7.5, atol=1e-6 * np.abs(M).max())
    assert not res.row_bias.any() and not res.col_bias.any()


def test_objective_never_increases_with_biases_and_counts():
    d = synthetic_ratings(200, 120, 5000, rng=5)
    for reg_scale, reg in (("none", 0.5), ("counts", 0.05)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = complete_matrix(d.train, 3, reg=reg, reg_scale=reg_scale, center="biases", tol=1e-9, maxiter=30,
                                  rng=0)
        obj = res.history["objective"][1:]
        assert np.all(np.diff(obj) <= 1e-9 * obj[0])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"center": "mean"}, ValueError, "`center` must be one of"),
    ({"value_range": (5, 1)}, ValueError, r"`value_range` must have lo < hi"),
    ({"value_range": 5}, TypeError, r"`value_range` must be None or a pair"),
    ({"reg_scale": "rows"}, ValueError, "`reg_scale` must be one of"),
    ({"reg_scale": "counts", "solver": "cg"}, ValueError, "`solver` must be 'auto' or 'exact' with reg_scale"),
    ({"center": "biases", "split": True}, ValueError, "`center` must be 'none' with split=True"),
])
def test_bad_ratings_arguments(kwargs, error, match):
    M, A, B, r, c, v = problem(30, 20, 2, 5.0, 1.0)
    with pytest.raises(error, match=match):
        complete_matrix((r, c, v, (30, 20)), 2, **kwargs)


def test_masked_entries_are_missing_entries():
    # before: the masked values were used as observations (a prediction of 413749.7 where the truth was 3)
    M, A, B, r, c, v = problem(60, 50, 2, 6.0, 1.0, seed=2)
    mask = np.ones(M.shape, dtype=bool)
    mask[r, c] = False
    data = np.where(mask, 413749.7, M)
    res = complete_matrix(np.ma.array(data, mask=mask), 2, tol=1e-10, rng=0)
    np.testing.assert_allclose(res.to_dense(), M, atol=1e-6 * np.abs(M).max())
    # a masked NaN is just missing, an unmasked NaN is missing too
    data2 = data.copy()
    data2[mask] = np.nan
    res2 = complete_matrix(np.ma.array(data2, mask=mask), 2, tol=1e-10, rng=0)
    np.testing.assert_allclose(res2.to_dense(), res.to_dense(), atol=1e-9)


def test_float32_ratings_and_int64_ids_are_accepted():
    d = synthetic_ratings(100, 60, 2000, rng=1)
    r, c, v, shape = d.train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = complete_matrix((r, c, v, shape), 2, center="biases", reg=1.0, maxiter=5, rng=0)
        res = complete_matrix((r.astype(np.int64), c.astype(np.int64), v.astype(np.float32), shape), 2,
                              center="biases", reg=1.0, maxiter=5, rng=0)
    np.testing.assert_allclose(res.predict(r[:50], c[:50]), ref.predict(r[:50], c[:50]), rtol=1e-12)


def test_estimator_exposes_ratings_options_score_and_validation():
    d = synthetic_ratings(300, 150, 9000, rng=2)
    est = MatrixCompletion(rank=[1, 4], reg=[0.02, 0.1], reg_scale="counts", center="biases", value_range=(1, 5),
                           tol=1e-4, maxiter=100, validation_fraction=0.2, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(d.train)
    assert set(est.validation_scores_) == {(1, 0.02), (1, 0.1), (4, 0.02), (4, 0.1)}
    best = min(est.validation_scores_, key=est.validation_scores_.get)
    assert est.best_params_ == {"rank": best[0], "reg": best[1]}
    assert est.U_.shape[1] == best[0]
    score = est.score(d.test)
    np.testing.assert_allclose(score, -_rmse(est.result_, d.test), rtol=1e-12)
    assert score < 0
    # given held-out entries instead of a fraction
    est2 = MatrixCompletion(rank=[1, 4], reg=0.05, reg_scale="counts", center="biases", tol=1e-4, maxiter=50, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est2.fit(d.train, X_val=d.val)
    assert set(est2.validation_scores_) == {(1, 0.05), (4, 0.05)}
    with pytest.raises(ValueError, match="fit: `validation_fraction` must be > 0"):
        MatrixCompletion(rank=[1, 2]).fit(d.train)
    with pytest.raises(ValueError, match=r"score: `X` must have the fitted shape"):
        est.score((np.array([0]), np.array([0]), np.array([1.0]), (5, 5)))


# --------------------------------------------------------------------------------------------------
# reg="auto": variational Bayes (learned priors and noise), and the offsets' Numba kernel
# --------------------------------------------------------------------------------------------------


def test_rows_variational_matches_the_numpy_posterior():
    from numopt.completion import _kernels
    from numopt.completion._data import build

    rng = np.random.default_rng(0)
    m, n, k = 12, 9, 3
    lin = rng.choice(m * n, size=50, replace=False)
    obs = build(lin // n, lin % n, rng.standard_normal(50), (m, n))
    F = rng.standard_normal((n, k))
    L = rng.standard_normal((n, k, k)) * 0.3
    SF = np.ascontiguousarray(L @ L.transpose(0, 2, 1))
    prec = np.array([0.5, 2.0, 3.0])
    noise = 0.7
    X = rng.standard_normal((m, k))
    X0 = X.copy()
    SX = np.zeros((m, k, k))
    stats = np.zeros(5)
    _kernels.rows_variational(0, m, obs.row_ptr, obs.row_idx, obs.row_val, F, SF, X, SX, prec, noise, stats)
    res = dx = var = 0.0
    for i in range(m):
        J = obs.row_idx[obs.row_ptr[i]:obs.row_ptr[i + 1]]
        y = obs.row_val[obs.row_ptr[i]:obs.row_ptr[i + 1]]
        G = F[J].T @ F[J] + SF[J].sum(axis=0)
        S = np.linalg.inv(G / noise + np.diag(prec))
        x = S @ (F[J].T @ y) / noise
        np.testing.assert_allclose(X[i], x, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(SX[i], S, rtol=1e-10, atol=1e-12)
        res += float(np.sum((y - F[J] @ x) ** 2))
        dx += float(np.sum((x - X0[i]) ** 2))
        var += float(np.trace(S @ G) + x @ SF[J].sum(axis=0) @ x)
    np.testing.assert_allclose(stats[[0, 1, 2, 4]], [res, dx, var, np.sum(X * X)], rtol=1e-10)


def test_rows_variational_gives_an_unobserved_row_its_prior():
    from numopt.completion import _kernels

    k = 2
    X, SX, stats = np.ones((1, k)), np.zeros((1, k, k)), np.zeros(5)
    _kernels.rows_variational(0, 1, np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0),
                              np.ones((3, k)), np.zeros((3, k, k)), X, SX, np.array([4.0, 0.5]), 1.0, stats)
    np.testing.assert_allclose(X, 0.0)
    np.testing.assert_allclose(SX[0], np.diag([0.25, 2.0]))


@pytest.mark.parametrize("center, counts", [("global", False), ("biases", False), ("biases", True)])
def test_fit_offsets_matches_numpy_coordinate_descent(center, counts):
    # the NumPy code the kernel replaced (Biases.update, 0.14 s -> 0.03 s per sweep on 8e5 ratings)
    d = synthetic_ratings(80, 50, 1500, rng=7)
    obs = _obs(d.train)
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((80, 2)) * 0.1, rng.standard_normal((50, 2))
    reg = 0.3 if counts else 4.0
    bias = Biases(obs, center, reg, counts=counts)
    e2 = bias.update(U, V)
    rows, cols, vals = obs.coo()
    r = vals - np.einsum("ij,ij->i", U[rows], V[cols])
    n_row, n_col = np.bincount(rows, minlength=80), np.bincount(cols, minlength=50)
    den_row = n_row * (1 + reg) if counts else n_row + reg
    den_col = n_col * (1 + reg) if counts else n_col + reg
    b, c, mean = np.zeros(80), np.zeros(50), 0.0
    for _ in range(2):
        mean = np.mean(r - b[rows] - c[cols])
        if center == "biases":
            b = np.bincount(rows, weights=r - mean - c[cols], minlength=80) / den_row
            c = np.bincount(cols, weights=r - mean - b[rows], minlength=50) / den_col
    np.testing.assert_allclose([bias.mean, e2], [mean, np.sum((r - mean - b[rows] - c[cols]) ** 2)], rtol=1e-12)
    np.testing.assert_allclose(bias.b, b, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bias.c, c, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bias.shifted.row_val, vals - mean - b[rows] - c[cols], rtol=1e-12, atol=1e-14)
    csc_rows, csc_cols = obs.col_idx, np.repeat(np.arange(50), n_col)
    np.testing.assert_allclose(bias.shifted.col_val, obs.col_val - mean - b[csc_rows] - c[csc_cols], rtol=1e-12,
                               atol=1e-14)


def _fit(d, k, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # rows with fewer than k ratings; the ridge grid's non-convergence
        return complete_matrix(d.train, k, center="biases", value_range=(1, 5), maxiter=200, rng=0, **kw)


def test_reg_auto_beats_the_validated_ridge_without_a_grid(ratings):
    # new in issue 18's last stage: no reg value of ALS-WR, at any rank, predicts as well as the learned priors
    d = ratings
    auto = _fit(d, 8, reg="auto", tol=1e-2)
    assert auto.success
    # ALS-WR's best on this split: rank 4, reg 0.1 (1.20x the noise floor; 0.02 ... 0.4 at ranks 4 and 8 tried)
    grid = [_rmse(_fit(d, k, reg=reg, reg_scale="counts", tol=1e-3), d.test) for k in (4, 8) for reg in (0.05, 0.1, 0.2)]
    ours = _rmse(auto, d.test)
    assert ours < 0.98 * min(grid)
    assert ours < 1.2 * d.noise_floor
    # rank 8 on data of rank 5: the dimensions the data do not support are switched off
    assert auto.s[5:].max() < 0.05 * auto.s[0]


def test_reg_auto_is_scale_equivariant(ratings):
    d = ratings
    r, c, v, shape = d.train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        big = complete_matrix((r, c, v * 2.0**40, shape), 3, reg="auto", center="biases", tol=1e-2, maxiter=200,
                              rng=0)
        ref = complete_matrix(d.train, 3, reg="auto", center="biases", tol=1e-2, maxiter=200, rng=0)
    # the values are divided by a power of two near their RMS before solving: the same iterations
    np.testing.assert_allclose(big.predict(r[:100], c[:100]), 2.0**40 * ref.predict(r[:100], c[:100]), rtol=1e-12)


def test_reg_auto_that_stops_at_maxiter_says_what_it_learned():
    d = synthetic_ratings(200, 100, 4000, rng=2)
    with warnings.catch_warnings(), pytest.warns(ConvergenceWarning, match=r"noise standard deviation is [0-9.]+ "
                                                                     r".* try tol=1e-2"):
        warnings.simplefilter("ignore", UnderdeterminedWarning)
        res = complete_matrix(d.train, 3, reg="auto", center="biases", maxiter=2, rng=0)
    assert not res.success and "complete_matrix" not in res.detail


@pytest.mark.parametrize("kwargs, match", [
    ({"reg": "learned"}, "`reg` must be a number >= 0 or 'auto'"),
    ({"reg": "auto", "solver": "cg"}, "`solver` must be 'auto' or 'exact' with reg='auto'"),
    ({"reg": "auto", "reg_scale": "counts"}, "`reg` must be a number with reg_scale='counts' or split=True"),
])
def test_bad_reg_auto_arguments(kwargs, match):
    M, A, B, r, c, v = problem(30, 20, 2, 5.0, 1.0)
    with pytest.raises(ValueError, match=match):
        complete_matrix((r, c, v, (30, 20)), 2, **kwargs)


def test_estimator_validates_reg_auto_among_numbers():
    d = synthetic_ratings(300, 150, 9000, rng=2)
    est = MatrixCompletion(rank=4, reg=[0.05, "auto"], reg_scale="counts", center="biases", value_range=(1, 5),
                           tol=1e-2, maxiter=100, validation_fraction=0.2, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(d.train)
    assert set(est.validation_scores_) == {(4, 0.05), (4, "auto")}
    assert est.best_params_["reg"] == min(est.validation_scores_, key=est.validation_scores_.get)[1]
