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

Tests over many classes (is this class weaker than the mean class? is this pair confused more than
chance?) need p-values far smaller than a bootstrap of a few hundred replicates can resolve, so they
use a normal test: the standard error holds the test set's sampling (the variance of the bootstrap
draws within each unit: a seed, or for weak classes a trial) plus the variance between units, which
a few units estimate badly per class and is therefore pooled over the classes tested together (the
median, scaled to a chi-square's mean, so that a few classes with real differences do not set it for
all), and never below a class's own spread over units.
Holm's correction then keeps the chance of any false claim in a family at 5%.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RNG_SEED = 0


def metric_vector(confusion: np.ndarray) -> np.ndarray:
    """[accuracy, f1 (K), recall (K), precision (K)] of one or a stack (..., K, K) of matrices."""
    counts = np.asarray(confusion, dtype=float)
    return metrics_from(np.diagonal(counts, axis1=-2, axis2=-1), counts.sum(axis=-1), counts.sum(axis=-2))


def metrics_from(tp: np.ndarray, true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The metric vector from per-class correct counts, true counts (support) and predicted counts."""
    tp, true, pred = (np.asarray(a, dtype=float) for a in (tp, true, pred))
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(true > 0, tp / true, 0.0)
        precision = np.where(pred > 0, tp / pred, 0.0)
        f1 = np.where(true + pred > 0, 2 * tp / (true + pred), 0.0)
        accuracy = tp.sum(axis=-1) / np.maximum(true.sum(axis=-1), 1)
    return np.concatenate([accuracy[..., None], f1, recall, precision], axis=-1)


@dataclass
class Estimate:
    point: np.ndarray           # metric vector
    replicates: np.ndarray      # (B, len(point))
    seeds: int
    units: int                  # trials or pairs behind it
    t_half: np.ndarray | None = None   # half-width of the t interval over seeds (two or more seeds)
    per_seed: np.ndarray | None = None  # (S, V) the point of each seed
    within: np.ndarray | None = None    # (V,) test-set sampling variance of one seed's point (mean over seeds)
    bounded: bool = False               # a mean of rates (accuracy, recall, F1): its interval stays within [0, 1]

    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        tail = (1 - LEVEL) / 2 * 100
        low, high = np.percentile(self.replicates, tail, axis=0), np.percentile(self.replicates, 100 - tail, axis=0)
        if self.t_half is not None:
            low, high = np.minimum(low, self.point - self.t_half), np.maximum(high, self.point + self.t_half)
        if self.bounded:                # the t interval over a few seeds can pass 100%, which no rate can
            low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
        return low, high

    def standard_error(self, coords=slice(None)) -> np.ndarray:
        """Standard error of point[coords]: test-set sampling plus the seed-to-seed variance pooled
        over these coordinates (and at least each one's own spread over seeds)."""
        within = self.within[coords]
        seeds = len(self.per_seed)
        variance = within
        if seeds > 1:
            from scipy import stats

            spread = self.per_seed[:, coords].var(axis=0, ddof=1)
            # the median over coordinates, scaled to the mean of a chi-square: a few coordinates with
            # real differences between units (a class that one configuration lifts) do not set it
            typical = stats.chi2.median(seeds - 1) / (seeds - 1)
            between = max(0.0, float(np.median(spread / typical - within)))
            variance = np.maximum(within + between, spread)
        return np.sqrt(variance / seeds)

    def p_values(self, coords=slice(None), below: bool = False) -> np.ndarray:
        """p of "no difference from 0" for point[coords]: two-sided, or one-sided against "below 0"."""
        from scipy import stats

        point, error = self.point[coords], self.standard_error(coords)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(error > 0, point / np.where(error > 0, error, 1.0), np.sign(point) * np.inf)
        z = np.where((error == 0) & (point == 0), 0.0, z)
        return stats.norm.cdf(z) if below else 2 * stats.norm.sf(np.abs(z))

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
            self._draws[key] = self._redraw(key)
        return self._draws[key]

    def prepare(self, keys) -> None:
        """Redraw these trials now, on every core (the draws release the GIL; each trial has its own
        generator, so the result does not depend on the order or the number of threads)."""
        import os
        from concurrent.futures import ThreadPoolExecutor

        missing = [k for k in dict.fromkeys(keys) if k not in self._draws]
        with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
            for key, drawn in zip(missing, pool.map(self._redraw, missing)):
                self._draws[key] = drawn

    def _redraw(self, key: str) -> np.ndarray:
        """Each row redrawn over its non-zero cells only, largest first (a multinomial stops at the
        last non-zero share); only what the metrics need is summed: the diagonal and column totals."""
        rng = np.random.default_rng([RNG_SEED, zlib.crc32(key.encode())])
        counts = self.confusion[key]
        size = len(counts)
        support = counts.sum(axis=1)
        width = max(1, int((counts > 0).sum(axis=1).max()))
        cells = np.argsort(-counts, axis=1, kind="stable")[:, :width]          # (K, m) column of each cell
        shares = np.take_along_axis(counts, cells, axis=1) / np.maximum(support, 1)[:, None]
        shares[support == 0, 0] = 1.0
        drawn = rng.multinomial(support, shares, size=(self.replicates, size))   # (B, K, m)
        diagonal = cells == np.arange(size)[:, None]
        where = diagonal.argmax(axis=1)                    # the diagonal cell of each row, if it is drawn
        tp = drawn[:, np.arange(size), where] * diagonal.any(axis=1)
        columns = np.zeros((size * width, size))
        columns[np.arange(size * width), cells.ravel()] = 1.0
        pred = drawn.reshape(self.replicates, -1) @ columns
        return metrics_from(tp, np.broadcast_to(support, tp.shape), pred)

    def mean(self, members: list[tuple[str, object]], transform=None) -> Estimate:
        """Mean metric over trials [(key, seed)]: per seed first, then over (resampled) seeds.
        `transform` maps metric vectors (..., V) to the quantity estimated (e.g. class F1 minus the mean)."""
        found = self._over_seeds({key: seed for key, seed in members}, lambda k: self.point(k), lambda k: self.draws(k),
                                 transform)
        found.bounded = transform is None       # the metrics themselves are rates; a transform may make differences
        return found

    def paired(self, pairs: list[tuple[str, str, object]]) -> Estimate:
        """Mean difference over matched pairs [(key, baseline key, seed)]."""
        units = {(a, b): seed for a, b, seed in pairs}
        return self._over_seeds(units, lambda u: self.point(u[0]) - self.point(u[1]),
                                lambda u: self.draws(u[0]) - self.draws(u[1]))

    def _over_seeds(self, units: dict, point, draws, transform=None) -> Estimate:
        transform = transform or (lambda values: values)
        seeds = sorted({str(s) for s in units.values()})
        by_seed = [[u for u, s in units.items() if str(s) == seed] for seed in seeds]
        points = np.stack([transform(np.mean([point(u) for u in group], axis=0)) for group in by_seed])
        boots = np.stack([transform(np.mean([draws(u) for u in group], axis=0)) for group in by_seed])  # (S, B, V)
        t_half = None
        if len(seeds) > 1:
            chosen = self.rng.integers(0, len(seeds), size=(self.replicates, len(seeds)))
            replicates = boots[chosen, np.arange(self.replicates)[:, None]].mean(axis=1)
            t_half = _t_quantile(len(seeds) - 1) * points.std(axis=0, ddof=1) / np.sqrt(len(seeds))
        else:
            replicates = boots[0]
        return Estimate(points.mean(axis=0), replicates, len(seeds), len(units), t_half, points,
                        boots.var(axis=1, ddof=1).mean(axis=0))


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values (same order): reject where adjusted < 0.05 keeps the family-wise error at 5%."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, p[order] * (len(p) - np.arange(len(p))))
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


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
