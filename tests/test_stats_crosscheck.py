"""analysis.stats where it overlaps a well-kept library: Holm's adjustment against statsmodels, the t
interval against scipy, on random inputs (seeded)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from analysis.stats import holm, t_interval


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed):
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.02, 5), rng.uniform(0, 1, 20), [0.05, 0.05, 1.0]])
    rng.shuffle(p)
    _, expected, _, _ = multitest.multipletests(p, alpha=0.05, method="holm")
    assert np.allclose(holm(p), expected)


@pytest.mark.parametrize("n", [2, 3, 5, 30])
def test_t_interval_matches_scipy(n):
    values = np.random.default_rng(n).normal(0.8, 0.05, n)
    mean, low, high = t_interval(values)
    expected = scipy_stats.t.interval(0.95, n - 1, loc=values.mean(), scale=scipy_stats.sem(values))
    assert mean == pytest.approx(values.mean()) and (low, high) == pytest.approx(expected)
