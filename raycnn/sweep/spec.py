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
    trackers: [mlflow]          # optional: mlflow, wandb (raycnn.sweep.trackers), beside TensorBoard

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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from raycnn.config import RunConfig, absolute_path, run_config_from_dict
from raycnn.config_values import coerce
from raycnn.errors import ConfigError
from raycnn.sweep.hyperband import hyperband_milestones
from raycnn.sweep.space import Dimension, dimension, optional_positive_int, positive_int, string
from raycnn.sweep.sweepfile import read_sweep_yaml
from raycnn.sweep.tune_spec import TuneBlock, tune_block

TRACKERS = ("mlflow", "wandb")                # raycnn.sweep.trackers (imports Ray: not loaded to check a file)
SCHEDULERS = ("asha", "fifo", "hyperband")   # hyperband: BOHB's brackets (HyperBandForBOHB), tune.searcher bohb


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


@dataclass(frozen=True)
class ResourcesConfig:
    cpus: float = 1.0
    gpus: float = 0.0                  # fractions (0.25) let several trials share one GPU


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
    trackers: tuple[str, ...] = ()     # mlflow, wandb (raycnn.sweep.trackers), beside TensorBoard
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
    space = tuple(dimension(key, spec, source) for key, spec in (raw.get("space") or {}).items())
    sweep = SweepConfig(
        name=raw["name"], question=raw["question"].strip(), fixed=fixed, variants=variants, space=space,
        num_samples=positive_int(raw, "num_samples", 1, source), seeds=positive_int(raw, "seeds", 1, source),
        scheduler=_section(SchedulerConfig, _scheduler_raw(raw), "scheduler", source),
        resources=_section(ResourcesConfig, raw.get("resources"), "resources", source),
        max_concurrent=optional_positive_int(raw, "max_concurrent", source),
        storage=absolute_path(string(raw, "storage", "runs", source)),
        max_failures=positive_int(raw, "max_failures", 2, source, allow_zero=True),
        skip_invalid=coerce(raw.get("skip_invalid", False), bool, f"{source}: skip_invalid"),
        tune=tune_block(raw.get("tune"), source), trackers=_trackers(raw.get("trackers"), source), source=source)
    _check_scheduler(sweep)
    _check_tuned(sweep)
    return _apply_per(sweep)


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


def _section(cls: type, raw: Any, name: str, source: str) -> Any:
    from raycnn.config import section_values

    return cls(**section_values(cls, raw or {}, name, source))


def _scheduler_raw(raw: Mapping) -> Any:
    """The scheduler block; with no scheduler.kind, tune.searcher bohb gets BOHB's own (hyperband) and a
    search of several objectives gets fifo (every trial to its budget; see _check_scheduler)."""
    given, tune = raw.get("scheduler"), raw.get("tune")
    bohb = isinstance(tune, Mapping) and tune.get("searcher") == "bohb"
    multi = isinstance(tune, Mapping) and isinstance(tune.get("objectives"), list) and len(tune["objectives"]) > 1
    if (bohb or multi) and (given is None or isinstance(given, Mapping) and "kind" not in given):
        return {**(given or {}), "kind": "hyperband" if bohb else "fifo"}
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
    if sweep.tune is not None and sweep.tune.multi and sweep.scheduler.kind != "fifo":
        raise ConfigError(f"{sweep.source}: scheduler.kind: {sweep.scheduler.kind} stops trials on validation accuracy "
                          f"alone, so a cheap model that learns slower would be cut before it reaches the front of "
                          f"tune.objectives {list(sweep.tune.objectives)}; use scheduler: {{kind: fifo}} (or leave it out)")
    for key in ("grace_period", "reduction_factor", "max_epochs"):
        value = getattr(sweep.scheduler, key)
        if value is not None and value < (2 if key == "reduction_factor" else 1):
            raise ConfigError(f"{sweep.source}: scheduler.{key}: {value} is out of range")
    if sweep.resources.cpus < 0 or sweep.resources.gpus < 0:
        raise ConfigError(f"{sweep.source}: resources: cpus and gpus must be >= 0")


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


def _trackers(raw: Any, source: str) -> tuple[str, ...]:
    names = [raw] if isinstance(raw, str) else list(raw or [])
    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"{source}: trackers: {name!r} is not valid; choose from: {', '.join(TRACKERS)}")
    return tuple(dict.fromkeys(names))
