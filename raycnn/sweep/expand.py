"""A sweep's explicit list of trials: variants x grid points x samples x seeds, in a fixed order, each a
`TrialSpec` with a stable id (t0001 ...) and a readable name; a tuned sweep's tuning slots and confirm
trials. Counted before expanding, so a typo such as `seeds: 10000000` is refused at once."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import fields
from typing import Any

from raycnn.config import RunConfig, replace_field
from raycnn.errors import ConfigError
from raycnn.sweep.space import SAMPLING_SEED, draw
from raycnn.sweep.spec import SweepConfig, TrialSpec

MAX_TRIALS = 100_000           # a sweep that expands to more is refused unless --max-trials says otherwise


def count_trials(sweep: SweepConfig) -> int:
    """How many trials the sweep expands to, counted without expanding it (tuned: both stages)."""
    grid = math.prod(len(d.values) for d in sweep.space if d.form == "grid")
    cells = max(1, len(sweep.variants)) * grid
    if sweep.tune is not None:
        confirmed = sweep.tune.confirm_front if sweep.tune.multi else 1     # at most: a front may be smaller
        return cells * (sweep.tune.num_samples + confirmed * sweep.tune.confirm_seeds)
    return cells * sweep.num_samples * sweep.seeds


def check_trial_count(sweep: SweepConfig, limit: int = MAX_TRIALS) -> int:
    """The trial count, or ConfigError when it is above `limit` (a typo such as seeds: 10000000)."""
    count = count_trials(sweep)
    if count > limit:
        epochs = max([sweep.fixed.train.epochs] + [v.train.epochs for v in sweep.variants])
        raise ConfigError(f"{sweep.source}: expands to {count:,} trials (up to {count * epochs:,} epochs), more "
                          f"than the limit of {limit:,}; check seeds, num_samples and the grid, or pass "
                          f"--max-trials {count} to run them all")
    return count


def expand_trials(sweep: SweepConfig) -> list[TrialSpec]:
    """Every trial of the sweep, in a fixed order: variants x grid points x samples x seeds. A tuned
    sweep: its tuning slots (cell x sample); the confirm trials come from `confirm_trials`."""
    if sweep.tune is not None:
        return tuning_slots(sweep)
    grid = [d for d in sweep.space if d.form == "grid"]
    randoms = [d for d in sweep.space if d.form != "grid"]
    rng = random.Random(SAMPLING_SEED)
    trials: list[TrialSpec] = []
    bases = list(enumerate(sweep.variants, start=1)) or [(0, sweep.fixed)]
    for variant, base in bases:
        for point in itertools.product(*(d.values for d in grid)):
            for _ in range(sweep.num_samples):
                drawn = {d.key: draw(d, rng) for d in randoms}
                for seed in range(sweep.seeds):
                    values = {**dict(zip((d.key for d in grid), point)), **drawn}
                    if sweep.seeds > 1 or "train.seed" in values:
                        values.setdefault("train.seed", seed)
                    trials.append(_trial(sweep, base, len(trials) + 1, values, variant))
    return trials


def cells(sweep: SweepConfig) -> list[TrialSpec]:
    """The grid's cells (variants x grid points), one spec each, untuned."""
    plain = SweepConfig(**{**{f.name: getattr(sweep, f.name) for f in fields(SweepConfig)}, "tune": None})
    return expand_trials(plain)


def tuning_slots(sweep: SweepConfig) -> list[TrialSpec]:
    found = []
    for cell in cells(sweep):
        for sample in range(1, sweep.tune.num_samples + 1):
            found.append(TrialSpec(trial_id=f"t{len(found) + 1:04d}", name=f"{cell.name}-tune{sample:02d}",
                                   config=cell.config, values=dict(cell.values), stage="tune", cell=cell.name))
    return found


def confirm_trials(sweep: SweepConfig, best: dict[str, list[dict[str, Any]]], first_number: int) -> list[TrialSpec]:
    """Each cell's chosen tuning values ({cell: [{key: value}, ...]}: its best, or with several objectives
    the members of its front) with fresh seeds 1 .. confirm_seeds (the tuning trials ran with seed 0: seed
    0 again would repeat the tuning trial, not confirm it)."""
    found = []
    for cell in cells(sweep):
        members = best[cell.name]
        for index, values in enumerate(members):
            config = cell.config
            for key, value in values.items():
                config = replace_field(config, key, value, f"{sweep.source}: tune.space.{key}")
            front = f"-front{index + 1}" if len(members) > 1 else ""
            for seed in range(1, sweep.tune.confirm_seeds + 1):
                seeded = replace_field(config, "train.seed", seed, "confirm")
                found.append(TrialSpec(trial_id=f"t{first_number + len(found):04d}",
                                       name=f"{cell.name}{front}-confirm-s{seed}", config=seeded,
                                       values={**cell.values, **values, "train.seed": seed},
                                       stage="confirm", cell=cell.name, tuned=dict(values)))
    return found


def _trial(sweep: SweepConfig, config: RunConfig, number: int, values: dict[str, Any], variant: int) -> TrialSpec:
    for key, value in values.items():
        config = replace_field(config, key, value, f"{sweep.source}: space.{key}")
    name = trial_name(config, values) + (f"-v{variant}" if len(sweep.variants) > 1 else "")
    if variant:
        values = {"variant": variant, **values}
    return TrialSpec(trial_id=f"t{number:04d}", name=name, config=config, values=values)


def trial_name(config: RunConfig, values: dict[str, Any]) -> str:
    """arch-dataset-augment-kKERNEL-sSEED, plus any other varied field as key=value."""
    from raycnn.code import short_name

    core = [short_name(config.model.arch), short_name(config.data.dataset), config.augment.preset,
            f"k{config.model.kernel_size}", f"s{config.train.seed}"]
    named = {"model.arch", "data.dataset", "augment.preset", "model.kernel_size", "train.seed"}
    extra = [f"{key.split('.', 1)[1]}={_short(value)}" for key, value in values.items() if key not in named]
    return "-".join(core + extra)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "x".join(_short(v) for v in value)
    return str(value)
