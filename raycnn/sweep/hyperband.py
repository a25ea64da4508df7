"""HyperBand and ASHA arithmetic, for `--dry-run` and the TensorBoard figure epochs: the brackets Ray's
HyperBandForBOHB fills, their milestones, which brackets a cell's trials take, and the epochs each spends."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raycnn.sweep.spec import SweepConfig, TrialSpec


def hyperband_brackets(max_t: int, eta: int) -> list[tuple[int, int]]:
    """(trials, first milestone) of each bracket of one HyperBand band, in the order Ray's
    HyperBandForBOHB fills them (most trials, fewest epochs first); brackets of 0 epochs are skipped."""
    count = int(round(math.log(max_t) / math.log(eta))) + 1
    return [(int(math.ceil(count / (s + 1) * eta ** s)), int(max_t * eta ** (-s)))
            for s in reversed(range(count)) if int(max_t * eta ** (-s)) > 0]


def hyperband_milestones(max_t: int, eta: int) -> list[int]:
    found = set()
    for _, rung in hyperband_brackets(max_t, eta):
        while rung < max_t:
            found.add(rung)
            rung = min(rung * eta, max_t)
    return sorted(found)


def fill_brackets(brackets: list[tuple[int, int]], trials: int) -> list[tuple[int, int, int]]:
    """(trials placed, bracket size, first milestone) of each bracket a cell's trials go into, in order
    (bands repeat); the last one may be part-full."""
    used, left = [], trials
    while left > 0:
        for size, rung in brackets:
            take = min(size, left)
            used.append((take, size, rung))
            left -= take
            if not left:
                break
    return used


def bracket_epochs(live: int, size: int, rung: int, max_t: int, eta: int) -> int:
    """Epochs one bracket spends: its trials run to each milestone, then it keeps ceil(size / eta) (of
    the bracket's planned size, as Ray's HyperBand does, so a part-full bracket may keep every trial)."""
    spent = live * rung
    while rung < max_t:
        size = -(-size // eta)
        live = min(live, size)
        spent += live * (min(rung * eta, max_t) - rung)
        rung = min(rung * eta, max_t)
    return spent


def scheduler_max_t(sweep: SweepConfig, trials: list[TrialSpec]) -> int:
    """The epochs the scheduler plans to (Tune's max_t): scheduler.max_epochs, else the longest trial's."""
    return sweep.scheduler.max_epochs or max(t.config.train.epochs for t in trials)


def asha_epochs(sweep: SweepConfig, trials: list[TrialSpec]) -> int:
    """Epochs ASHA spends when each rung keeps 1/reduction_factor of the trials that reach it."""
    factor = sweep.scheduler.reduction_factor
    total = 0.0
    for trial in trials:
        max_t = sweep.scheduler.max_epochs or trial.config.train.epochs
        share, previous = 1.0, 0
        for rung in sweep.scheduler.rungs(max_t):
            total += share * (rung - previous)
            previous, share = rung, share / factor
        total += share * (max_t - previous)
    return round(total)
