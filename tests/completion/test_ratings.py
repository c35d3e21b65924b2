"""Ratings data (issue 18): center="global"/"biases", reg_scale="counts", value_range, cold rows and
columns, the synthetic ratings generator, MatrixCompletion's score and validation, masked arrays and
float32/int64 input (issue 16)."""

import warnings

import numpy as np
import pytest

from numopt import ConvergenceWarning
from numopt.completion import MatrixCompletion, complete_matrix
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
