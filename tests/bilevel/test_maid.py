"""MAID's safeguards beyond the paper (the metric's step cap)."""

import numpy as np

from numopt.bilevel import BilevelRidge


def test_metric_step_is_capped_by_the_memory_steps():
    """A metric direction H_m z from a pair with small curvature was huge: the first trial asked for
    theta ~ +-700 (exp overflow, an error under the test run's warning filter) on this per-feature ridge;
    the first trial now moves at most ``metric_growth`` times the longest stored step."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((160, 40))
    y = X @ rng.standard_normal(40) + 3 * rng.standard_normal(160)
    est = BilevelRidge(per_feature=True, budget=5000).fit(X, y)
    theta = est.result_.theta
    assert np.all(np.isfinite(theta)) and np.max(np.abs(theta)) < 50
    assert np.isfinite(est.score(X, y))
