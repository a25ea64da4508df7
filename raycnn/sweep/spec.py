"""Sweep files: what a study varies, and the explicit list of trials it expands to.

A sweep file (YAML) looks like:

    name: quickstart
    question: Which architecture and kernel size learn digits best, with and without augmentation?
    fixed:                      # any single-run config field (see raycnn/config.py)
      data: {dataset: digits}
      train: {epochs: 12}
    variants:                   # optional: alternatives, each merged into fixed, crossed with space
      - {model: {arch: custom_cnn, filters: [64, 128], convs_per_block: 1}}
      - {model: {arch: alexnet_small}}
    space:                      # section.key: a list (= grid) or one of the forms below
      model.arch: [custom_cnn, alexnet_small]
      model.kernel_size: {grid: [3, 5]}
      train.lr: {loguniform: [0.0003, 0.003]}
    num_samples: 1              # draws of the random dimensions per grid point
    seeds: 1                    # every configuration repeated with train.seed = 0 .. seeds-1
    scheduler: {kind: asha, grace_period: 2, reduction_factor: 2}   # or {kind: fifo}; hyperband: BOHB's
    resources: {cpus: 1, gpus: 0}
    max_concurrent: 2
    storage: runs               # a local folder, or a URI (s3://..., gs://...) on clusters
    max_failures: 2             # retries of a trial that raised an unexpected error
    skip_invalid: false

Random dimensions (`choice`, `uniform`, `loguniform`, `randint`) are drawn here, with a fixed seed,
so the trial list is explicit, checkable before Ray starts, and the same on every resume.

A tuned comparison adds a `tune:` block: every cell of the grid (variants x `space`, which then holds
grid dimensions only) gets its own search over the tuning space, then a confirm stage:

    tune:
      space: {train.lr: {loguniform: [0.0003, 0.01]}, train.weight_decay: {loguniform: [1e-6, 1e-3]}}
      num_samples: 8            # tuning trials per cell
      searcher: tpe             # tpe (Optuna's TPE) | random | bohb (with HyperBand brackets per cell)
      confirm_seeds: 3          # each cell's best values re-trained with fresh seeds 1..3 to the full budget
      per: [model.arch]         # optional: the space keys that make the cells; the other space keys
                                # are searched within each cell (a choice of their values)

The tuning trials are slots known in advance (cell x sample, `stage: tune`); the searcher fills in
their values when each one starts. Confirm trials (`stage: confirm`) follow when every search ended.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from raycnn.config import (SECTIONS, RunConfig, absolute_path, coerce, replace_field, run_config_from_dict)
from raycnn.errors import ConfigError
from raycnn.yamlfile import load_yaml

SPACE_FORMS = ("grid", "choice", "uniform", "loguniform", "randint")
MAX_TRIALS = 100_000           # a sweep that expands to more is refused unless --max-trials says otherwise
MAX_FILE_BYTES = 1 << 20       # a sweep file is a few hundred lines; anything larger is not one
MAX_DEPTH, MAX_NODES = 12, 200_000   # nesting and size of the loaded YAML (aliases count every time)
SCHEDULERS = ("asha", "fifo", "hyperband")   # hyperband: BOHB's brackets (HyperBandForBOHB), tune.searcher bohb
SAMPLING_SEED = 0


@dataclass(frozen=True)
class SchedulerConfig:
    kind: str = "asha"
    grace_period: int = 1              # epochs every trial runs before ASHA may stop it
    reduction_factor: int = 3          # ASHA keeps the top 1/reduction_factor at each rung
    max_epochs: int | None = None      # None = train.epochs of each trial

    def rungs(self, max_epochs: int) -> list[int]:
        """The epochs below max_epochs at which the scheduler may stop a trial: for ASHA grace_period x
        reduction_factor^k; for HyperBand every bracket's milestones, max_epochs / reduction_factor^s x
        reduction_factor^k (as Ray's HyperBandScheduler rounds them)."""
        if self.kind == "hyperband":
            return hyperband_milestones(max_epochs, self.reduction_factor)
        if self.kind != "asha":
            return []
        found, epoch = [], self.grace_period
        while epoch < max_epochs:
            found.append(epoch)
            epoch *= self.reduction_factor
        return found


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


@dataclass(frozen=True)
class ResourcesConfig:
    cpus: float = 1.0
    gpus: float = 0.0                  # fractions (0.25) let several trials share one GPU


@dataclass(frozen=True)
class Dimension:
    key: str                           # section.key of RunConfig
    form: str                          # grid | choice | uniform | loguniform | randint
    values: tuple                      # the grid/choice values, or (low, high)


SEARCHERS = ("tpe", "random", "bohb")


@dataclass(frozen=True)
class TuneBlock:
    space: tuple[Dimension, ...]       # uniform / loguniform / choice / randint dimensions
    num_samples: int = 8               # tuning trials per cell
    searcher: str = "tpe"
    confirm_seeds: int = 3
    seed: int = 0                      # the searchers' seed (cell i uses seed + i)
    per: tuple[str, ...] = ()          # the space keys that make the cells (default: all); the others are searched


@dataclass(frozen=True)
class SweepConfig:
    name: str
    question: str
    fixed: RunConfig
    variants: tuple[RunConfig, ...] = ()  # each is `fixed` with the variant's keys merged in
    space: tuple[Dimension, ...] = ()
    num_samples: int = 1
    seeds: int = 1
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    max_concurrent: int | None = None
    storage: str = "runs"              # relative: against the folder the command runs in (stored absolute)
    max_failures: int = 2
    skip_invalid: bool = False
    tune: TuneBlock | None = None      # a tuned comparison (see the module's docstring)
    source: str = "sweep"              # the file it came from, for messages

    def varied_keys(self) -> list[str]:
        """Config keys that differ between trials (the sweep axes, plus the seed when repeated)."""
        keys = (["variant"] if len(self.variants) > 1 else []) + [d.key for d in self.space]
        return keys + (["train.seed"] if self.seeds > 1 and "train.seed" not in keys else [])


@dataclass(frozen=True)
class TrialSpec:
    trial_id: str                      # stable: t0001, t0002, ... in expansion order
    name: str                          # readable: custom_cnn-digits-flip_crop-k5-s0
    config: RunConfig
    values: dict[str, Any]             # the varied keys and this trial's values
    stage: str | None = None           # tuned sweeps: "tune" or "confirm"
    cell: str | None = None            # tuned sweeps: the grid cell it belongs to
    tuned: dict[str, Any] | None = None  # confirm trials: the cell's best tuning values


TOP_LEVEL = {f.name for f in fields(SweepConfig)} - {"source"}


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; ConfigError names the file and the key."""
    return sweep_from_dict(read_sweep_yaml(path), str(path))


def read_sweep_yaml(path: str | Path) -> Any:
    """The file's YAML, refused in one line when it cannot be a sweep file: too large, binary, not
    UTF-8, not YAML, or nested or aliased into more values than any sweep has."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: {size / 2**20:.1f} MB is too large for a sweep file (at most "
                              f"{MAX_FILE_BYTES >> 20} MB); is it the right file?")
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the sweep file ({err.strerror})") from None
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, data.index(b"\0"), data.index(b"\0") + 1, "NUL byte")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: binary data, not a YAML sweep file; pass a .yaml file such as "
                          f"sweeps/quickstart.yaml") from None
    try:
        raw = load_yaml(text)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply for a sweep file (at most {MAX_DEPTH} levels)") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())[:300]})") from None
    _check_shape(raw, str(path))
    return raw


def _check_shape(raw: Any, source: str) -> None:
    """Walk the loaded YAML once, within budgets: aliases can make a small file expand enormously."""
    budget, stack = MAX_NODES, [(raw, 1)]
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise ConfigError(f"{source}: holds more than {MAX_NODES:,} values (YAML aliases count each time "
                              f"they are used); a sweep file lists its axes, not its trials")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels; a sweep file is "
                              f"section -> key -> value")
        children = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)


def sweep_from_dict(raw: Any, source: str) -> SweepConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a sweep file is a mapping with at least name, question and fixed")
    unknown = sorted(set(raw) - TOP_LEVEL)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(TOP_LEVEL))}")
    for required in ("name", "question"):
        if not isinstance(raw.get(required), str) or not raw[required].strip():
            raise ConfigError(f"{source}: {required}: required, a non-empty string")
    _check_name(raw["name"], source)
    fixed = run_config_from_dict(raw.get("fixed") or {}, f"{source}: fixed")
    variants = _variants(raw.get("variants"), raw.get("fixed") or {}, source)
    space = tuple(_dimension(key, spec, source) for key, spec in (raw.get("space") or {}).items())
    sweep = SweepConfig(
        name=raw["name"], question=raw["question"].strip(), fixed=fixed, variants=variants, space=space,
        num_samples=_positive_int(raw, "num_samples", 1, source), seeds=_positive_int(raw, "seeds", 1, source),
        scheduler=_section(SchedulerConfig, _scheduler_raw(raw), "scheduler", source),
        resources=_section(ResourcesConfig, raw.get("resources"), "resources", source),
        max_concurrent=_optional_positive_int(raw, "max_concurrent", source),
        storage=absolute_path(_string(raw, "storage", "runs", source)),
        max_failures=_positive_int(raw, "max_failures", 2, source, allow_zero=True),
        skip_invalid=coerce(raw.get("skip_invalid", False), bool, f"{source}: skip_invalid"),
        tune=_tune_block(raw.get("tune"), source), source=source)
    _check_scheduler(sweep)
    _check_tuned(sweep)
    return _apply_per(sweep)


TUNE_KEYS = {f.name for f in fields(TuneBlock)}


def _tune_block(raw: Any, source: str) -> TuneBlock | None:
    if raw is None:
        return None
    where = f"{source}: tune"
    if not isinstance(raw, Mapping) or not isinstance(raw.get("space"), Mapping) or not raw["space"]:
        raise ConfigError(f"{where}: expected a mapping with space: {{train.lr: {{loguniform: [0.0003, 0.01]}}, ...}}")
    unknown = sorted(set(raw) - TUNE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(TUNE_KEYS))}")
    space = tuple(_dimension(key, spec, source, "tune.space") for key, spec in raw["space"].items())
    for d in space:
        if d.form == "grid":
            raise ConfigError(f"{where}.space.{d.key}: a grid is not searched; put it in the sweep's space (a cell "
                              f"per value), or search it with {{choice: {list(d.values)}}}")
        for bound in d.values if d.form in ("uniform", "loguniform") else []:
            replace_field(RunConfig(), d.key, bound, f"{where}.space.{d.key}")
    searcher = _string(raw, "searcher", "tpe", where)
    if searcher not in SEARCHERS:
        raise ConfigError(f"{where}.searcher: {searcher!r} is not valid; choose one of: {', '.join(SEARCHERS)}")
    per = raw.get("per") or []
    if not isinstance(per, list) or not all(isinstance(k, str) for k in per):
        raise ConfigError(f"{where}.per: expected a list of space keys, e.g. [model.arch, model.kernel_size]")
    return TuneBlock(space=space, num_samples=_positive_int(raw, "num_samples", 8, where), searcher=searcher,
                     confirm_seeds=_positive_int(raw, "confirm_seeds", 3, where),
                     seed=_positive_int(raw, "seed", 0, where, allow_zero=True), per=tuple(per))


def _apply_per(sweep: SweepConfig) -> SweepConfig:
    """tune.per: the cells are the grid of those space keys; every other space key is searched in each
    cell (as a choice of its values), like the tuning space."""
    if sweep.tune is None or not sweep.tune.per:
        return sweep
    keys = [d.key for d in sweep.space]
    unknown = [k for k in sweep.tune.per if k not in keys]
    if unknown:
        raise ConfigError(f"{sweep.source}: tune.per: {unknown[0]} is not a key of space ({', '.join(keys) or 'empty'}); "
                          f"per names the space keys that make the cells")
    cells = tuple(d for d in sweep.space if d.key in sweep.tune.per)
    searched = tuple(Dimension(d.key, "choice", d.values) for d in sweep.space if d.key not in sweep.tune.per)
    return dataclasses.replace(sweep, space=cells, tune=dataclasses.replace(sweep.tune, space=sweep.tune.space + searched))


def _check_tuned(sweep: SweepConfig) -> None:
    if sweep.tune is None:
        return
    randoms = [d.key for d in sweep.space if d.form != "grid"]
    if randoms or sweep.num_samples != 1 or sweep.seeds != 1:
        raise ConfigError(f"{sweep.source}: a tuned sweep takes its cells from grid dimensions of space and its seeds "
                          f"from tune.confirm_seeds: move {', '.join(randoms) or 'num_samples / seeds'} into tune")
    both = sorted({d.key for d in sweep.space} & {d.key for d in sweep.tune.space})
    if both:
        raise ConfigError(f"{sweep.source}: {both[0]} is both a cell dimension (space) and tuned (tune.space); keep one")


def _variants(raw: Any, fixed: Mapping, source: str) -> tuple[RunConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(v, Mapping) for v in raw):
        raise ConfigError(f"{source}: variants: expected a list of mappings like {{model: {{arch: alexnet_small}}}}")
    return tuple(run_config_from_dict(_merge(fixed, variant), f"{source}: variants[{i}]")
                 for i, variant in enumerate(raw))


def _merge(base: Mapping, extra: Mapping) -> dict:
    merged = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
    for section, values in extra.items():
        if isinstance(values, Mapping) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged


def _check_name(name: str, source: str) -> None:
    if not all(c.isalnum() or c in "-_." for c in name) or name.startswith(".") or len(name) > 100:
        raise ConfigError(f"{source}: name: {name!r} is used as a folder name inside the storage folder; use up "
                          f"to 100 letters, digits, - _ . (not starting with a dot)")


def _dimension(key: str, spec: Any, source: str, section: str = "space") -> Dimension:
    where = f"{source}: {section}.{key}"
    section, _, name = str(key).partition(".")
    if section not in SECTIONS or not name:
        raise ConfigError(f"{where}: not a config key; use section.key with a section from: {', '.join(SECTIONS)}")
    if isinstance(spec, list):
        spec = {"grid": spec}
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in SPACE_FORMS:
        raise ConfigError(f"{where}: expected a list or one of {{{', '.join(f'{f}: ...' for f in SPACE_FORMS)}}}")
    form, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}.{form}: expected a non-empty list")
    if len(values) > MAX_TRIALS:
        raise ConfigError(f"{where}.{form}: {len(values):,} values; a sweep axis has a few (at most {MAX_TRIALS:,})")
    if form in ("uniform", "loguniform", "randint"):
        _check_bounds(where, form, values)
    for value in values if form in ("grid", "choice") else []:
        replace_field(RunConfig(), key, value, f"{where}")  # each value must be valid on its own
    return Dimension(key=key, form=form, values=tuple(values))


def _check_bounds(where: str, form: str, values: list) -> None:
    words = [v for v in values if not isinstance(v, (int, float)) or isinstance(v, bool)]
    if words:
        raise ConfigError(f"{where}.{form}: expected numbers, got {words[0]!r}; write [low, high], e.g. [1e-5, 0.01]")
    if len(values) != 2 or values[0] >= values[1] or (form == "loguniform" and values[0] <= 0):
        raise ConfigError(f"{where}.{form}: expected [low, high] with low < high"
                          + (" and low > 0" if form == "loguniform" else "") + f", got {list(values)}")


def _section(cls: type, raw: Any, name: str, source: str) -> Any:
    from raycnn.config import section_values

    return cls(**section_values(cls, raw or {}, name, source))


def _scheduler_raw(raw: Mapping) -> Any:
    """The scheduler block; with tune.searcher bohb and no scheduler.kind, BOHB's own: hyperband."""
    given, tune = raw.get("scheduler"), raw.get("tune")
    bohb = isinstance(tune, Mapping) and tune.get("searcher") == "bohb"
    if bohb and (given is None or isinstance(given, Mapping) and "kind" not in given):
        return {**(given or {}), "kind": "hyperband"}
    return given


def _check_scheduler(sweep: SweepConfig) -> None:
    if sweep.scheduler.kind not in SCHEDULERS:
        raise ConfigError(f"{sweep.source}: scheduler.kind: {sweep.scheduler.kind!r} is not valid; "
                          f"choose one of: {', '.join(SCHEDULERS)}")
    bohb = sweep.tune is not None and sweep.tune.searcher == "bohb"
    if bohb != (sweep.scheduler.kind == "hyperband"):
        raise ConfigError(f"{sweep.source}: scheduler.kind: {sweep.scheduler.kind} " + (
            "does not go with tune.searcher: bohb, which stops and resumes trials in its own HyperBand brackets; "
            "write scheduler: {kind: hyperband, reduction_factor: 3} (or leave kind out)" if bohb else
            "is BOHB's bracket scheduler; use it with tune: {searcher: bohb, ...}, or choose asha or fifo"))
    for key in ("grace_period", "reduction_factor", "max_epochs"):
        value = getattr(sweep.scheduler, key)
        if value is not None and value < (2 if key == "reduction_factor" else 1):
            raise ConfigError(f"{sweep.source}: scheduler.{key}: {value} is out of range")
    if sweep.resources.cpus < 0 or sweep.resources.gpus < 0:
        raise ConfigError(f"{sweep.source}: resources: cpus and gpus must be >= 0")


def _positive_int(raw: Mapping, key: str, default: int, source: str, allow_zero: bool = False) -> int:
    value = coerce(raw.get(key, default), int, f"{source}: {key}")
    if value < (0 if allow_zero else 1):
        raise ConfigError(f"{source}: {key}: {value} is out of range; it must be >= {0 if allow_zero else 1}")
    return value


def _optional_positive_int(raw: Mapping, key: str, source: str) -> int | None:
    return None if raw.get(key) is None else _positive_int(raw, key, 1, source)


def _string(raw: Mapping, key: str, default: str, source: str) -> str:
    return coerce(raw.get(key, default), str, f"{source}: {key}")


# --- expansion --------------------------------------------------------------------------------

def count_trials(sweep: SweepConfig) -> int:
    """How many trials the sweep expands to, counted without expanding it (tuned: both stages)."""
    grid = math.prod(len(d.values) for d in sweep.space if d.form == "grid")
    cells = max(1, len(sweep.variants)) * grid
    if sweep.tune is not None:
        return cells * (sweep.tune.num_samples + sweep.tune.confirm_seeds)
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
                drawn = {d.key: _draw(d, rng) for d in randoms}
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


def confirm_trials(sweep: SweepConfig, best: dict[str, dict[str, Any]], first_number: int) -> list[TrialSpec]:
    """Each cell's best tuning values ({cell: {key: value}}) with fresh seeds 1 .. confirm_seeds (the
    tuning trials ran with seed 0: seed 0 again would repeat the best tuning trial, not confirm it)."""
    found = []
    for cell in cells(sweep):
        config = cell.config
        for key, value in best[cell.name].items():
            config = replace_field(config, key, value, f"{sweep.source}: tune.space.{key}")
        for seed in range(1, sweep.tune.confirm_seeds + 1):
            seeded = replace_field(config, "train.seed", seed, "confirm")
            found.append(TrialSpec(trial_id=f"t{first_number + len(found):04d}", name=f"{cell.name}-confirm-s{seed}",
                                   config=seeded, values={**cell.values, **best[cell.name], "train.seed": seed},
                                   stage="confirm", cell=cell.name, tuned=dict(best[cell.name])))
    return found


def _draw(dimension: Dimension, rng: random.Random) -> Any:
    low_high = dimension.values
    if dimension.form == "choice":
        return rng.choice(dimension.values)
    if dimension.form == "uniform":
        return rng.uniform(*low_high)
    if dimension.form == "loguniform":
        return math.exp(rng.uniform(math.log(low_high[0]), math.log(low_high[1])))
    return rng.randrange(int(low_high[0]), int(low_high[1]))


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
