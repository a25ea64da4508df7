"""Estimates with 95% confidence intervals, from confusion matrices and seeds.

Every metric of a trial (accuracy; per class F1, recall, precision) is a function of its test
confusion matrix. One bootstrap serves every comparison: each replicate redraws every trial's
confusion matrix from its own counts (each true-class row multinomially, with that row's support),
and, where a comparison has several seeds, also resamples the seeds with replacement. With one seed
the interval therefore comes from the support counts alone; with several it also holds the
seed-to-seed variation. Intervals are the 2.5 and 97.5 percentiles of the replicates, widened where
needed to the t interval over the per-seed values: a bootstrap over 3 seeds cannot show how far a
mean of 3 may be off (benchmarks/interval_coverage.py: 9-11% of no-effect intervals excluded 0 with
3 seeds before, ~5% after).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RNG_SEED = 0


def metric_vector(confusion: np.ndarray) -> np.ndarray:
    """[accuracy, f1 (K), recall (K), precision (K)] of one or a stack (..., K, K) of matrices."""
    counts = np.asarray(confusion, dtype=float)
    tp = np.diagonal(counts, axis1=-2, axis2=-1)
    true, pred = counts.sum(axis=-1), counts.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(true > 0, tp / true, 0.0)
        precision = np.where(pred > 0, tp / pred, 0.0)
        f1 = np.where(true + pred > 0, 2 * tp / (true + pred), 0.0)
        accuracy = tp.sum(axis=-1) / np.maximum(counts.sum(axis=(-2, -1)), 1)
    return np.concatenate([accuracy[..., None], f1, recall, precision], axis=-1)


@dataclass
class Estimate:
    point: np.ndarray           # metric vector
    replicates: np.ndarray      # (B, len(point))
    seeds: int
    units: int                  # trials or pairs behind it
    t_half: np.ndarray | None = None   # half-width of the t interval over seeds (two or more seeds)

    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        tail = (1 - LEVEL) / 2 * 100
        low, high = np.percentile(self.replicates, tail, axis=0), np.percentile(self.replicates, 100 - tail, axis=0)
        if self.t_half is not None:
            low, high = np.minimum(low, self.point - self.t_half), np.maximum(high, self.point + self.t_half)
        return low, high

    def __sub__(self, other: "Estimate") -> "Estimate":
        halves = [h for h in (self.t_half, other.t_half) if h is not None]
        t_half = np.sqrt(sum(h ** 2 for h in halves)) if halves else None
        return Estimate(self.point - other.point, self.replicates - other.replicates,
                        min(self.seeds, other.seeds), min(self.units, other.units), t_half)


class Bootstrap:
    def __init__(self, confusion: dict[str, np.ndarray], replicates: int | None = None):
        self.confusion = confusion
        self.rng = np.random.default_rng(RNG_SEED)
        sizes = [len(m) for m in confusion.values()] or [2]
        self.replicates = replicates or (2000 if max(sizes) <= 20 else 400)
        self._points: dict[str, np.ndarray] = {}
        self._draws: dict[str, np.ndarray] = {}

    def point(self, key: str) -> np.ndarray:
        if key not in self._points:
            self._points[key] = metric_vector(self.confusion[key])
        return self._points[key]

    def draws(self, key: str) -> np.ndarray:
        """(B, V) metric vectors of the trial's confusion matrix redrawn from its counts."""
        if key not in self._draws:
            counts = self.confusion[key]
            support = counts.sum(axis=1)
            shares = counts / np.maximum(support, 1)[:, None]
            shares[support == 0] = np.eye(len(counts))[support == 0]
            drawn = self.rng.multinomial(support, shares, size=(self.replicates, len(counts)))
            self._draws[key] = metric_vector(drawn)
        return self._draws[key]

    def mean(self, members: list[tuple[str, object]]) -> Estimate:
        """Mean metric over trials [(key, seed)]: per seed first, then over (resampled) seeds."""
        return self._over_seeds({key: seed for key, seed in members}, lambda k: self.point(k), lambda k: self.draws(k))

    def paired(self, pairs: list[tuple[str, str, object]]) -> Estimate:
        """Mean difference over matched pairs [(key, baseline key, seed)]."""
        units = {(a, b): seed for a, b, seed in pairs}
        return self._over_seeds(units, lambda u: self.point(u[0]) - self.point(u[1]),
                                lambda u: self.draws(u[0]) - self.draws(u[1]))

    def _over_seeds(self, units: dict, point, draws) -> Estimate:
        seeds = sorted({str(s) for s in units.values()})
        by_seed = [[u for u, s in units.items() if str(s) == seed] for seed in seeds]
        points = np.stack([np.mean([point(u) for u in group], axis=0) for group in by_seed])
        boots = np.stack([np.mean([draws(u) for u in group], axis=0) for group in by_seed])  # (S, B, V)
        t_half = None
        if len(seeds) > 1:
            chosen = self.rng.integers(0, len(seeds), size=(self.replicates, len(seeds)))
            replicates = boots[chosen, np.arange(self.replicates)[:, None]].mean(axis=1)
            t_half = _t_quantile(len(seeds) - 1) * points.std(axis=0, ddof=1) / np.sqrt(len(seeds))
        else:
            replicates = boots[0]
        return Estimate(points.mean(axis=0), replicates, len(seeds), len(units), t_half)


def _t_quantile(df: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + LEVEL / 2, df))


def t_interval(values) -> tuple[float, float, float]:
    """Mean and 95% t interval of plain numbers (NaN bounds for fewer than two)."""
    data = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(data) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(data.mean())
    if len(data) < 2:
        return mean, float("nan"), float("nan")
    half = _t_quantile(len(data) - 1) * data.std(ddof=1) / np.sqrt(len(data))
    return mean, mean - half, mean + half
