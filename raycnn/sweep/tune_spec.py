"""A tuned sweep's `tune:` block: the space each grid cell searches on its own, how (TPE, random, BOHB),
how many tuning trials per cell and how many fresh seeds confirm each cell's best values."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from raycnn.config import RunConfig, replace_field
from raycnn.errors import ConfigError
from raycnn.sweep.space import Dimension, dimension, positive_int, string


SEARCHERS = ("tpe", "random", "bohb")
# what a tuned sweep may search for: the trial result's key and its direction. Accuracy comes first; with
# a cost after it the search is multi-objective (Optuna's TPE or random sampler on a Pareto front).
OBJECTIVES = {"accuracy": ("best_val_accuracy", "max"), "params": ("params", "min"),
              "train_seconds": ("train_seconds", "min"), "images_per_second": ("images_per_second", "max")}


@dataclass(frozen=True)
class TuneBlock:
    space: tuple[Dimension, ...]       # uniform / loguniform / choice / randint dimensions
    num_samples: int = 8               # tuning trials per cell
    searcher: str = "tpe"
    confirm_seeds: int = 3
    seed: int = 0                      # the searchers' seed (cell i uses seed + i)
    per: tuple[str, ...] = ()          # the space keys that make the cells (default: all); the others are searched
    objectives: tuple[str, ...] = ("accuracy",)   # accuracy, then costs (keys of OBJECTIVES): a Pareto search
    confirm_front: int = 3             # several objectives: each cell's front members confirmed (all, up to this)

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    def metrics(self) -> list[tuple[str, str]]:
        """[(result key, "max" | "min")] of the objectives, accuracy first."""
        return [OBJECTIVES[name] for name in self.objectives]


TUNE_KEYS = {f.name for f in fields(TuneBlock)}


def tune_block(raw: Any, source: str) -> TuneBlock | None:
    if raw is None:
        return None
    where = f"{source}: tune"
    if not isinstance(raw, Mapping) or not isinstance(raw.get("space"), Mapping) or not raw["space"]:
        raise ConfigError(f"{where}: expected a mapping with space: {{train.lr: {{loguniform: [0.0003, 0.01]}}, ...}}")
    unknown = sorted(set(raw) - TUNE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(TUNE_KEYS))}")
    space = tuple(dimension(key, spec, source, "tune.space") for key, spec in raw["space"].items())
    for d in space:
        if d.form == "grid":
            raise ConfigError(f"{where}.space.{d.key}: a grid is not searched; put it in the sweep's space (a cell "
                              f"per value), or search it with {{choice: {list(d.values)}}}")
        for bound in d.values if d.form in ("uniform", "loguniform") else []:
            replace_field(RunConfig(), d.key, bound, f"{where}.space.{d.key}")
    searcher = string(raw, "searcher", "tpe", where)
    if searcher not in SEARCHERS:
        raise ConfigError(f"{where}.searcher: {searcher!r} is not valid; choose one of: {', '.join(SEARCHERS)}")
    if searcher == "bohb":
        check_bohb_installed(where)
    per = raw.get("per") or []
    if not isinstance(per, list) or not all(isinstance(k, str) for k in per):
        raise ConfigError(f"{where}.per: expected a list of space keys, e.g. [model.arch, model.kernel_size]")
    return TuneBlock(space=space, num_samples=positive_int(raw, "num_samples", 8, where), searcher=searcher,
                     confirm_seeds=positive_int(raw, "confirm_seeds", 3, where),
                     seed=positive_int(raw, "seed", 0, where, allow_zero=True), per=tuple(per),
                     objectives=objectives(raw.get("objectives"), searcher, where),
                     confirm_front=positive_int(raw, "confirm_front", 3, where))


def objectives(raw: Any, searcher: str, where: str) -> tuple[str, ...]:
    """tune.objectives: [accuracy] (the default), or [accuracy, a cost] for a Pareto search."""
    if raw is None:
        return ("accuracy",)
    names = [raw] if isinstance(raw, str) else raw
    costs = ", ".join(k for k in OBJECTIVES if k != "accuracy")
    if not isinstance(names, list) or not names or names[0] != "accuracy" or len(set(names)) != len(names) \
            or any(n not in OBJECTIVES for n in names):
        raise ConfigError(f"{where}.objectives: {raw!r} is not valid; write [accuracy] or accuracy then costs, "
                          f"e.g. [accuracy, params] (costs: {costs})")
    if len(names) > 1 and searcher == "bohb":
        raise ConfigError(f"{where}.objectives: bohb searches one objective; with {names} use searcher: tpe or random")
    return tuple(names)


def check_bohb_installed(where: str) -> None:
    try:
        import ConfigSpace  # noqa: F401
        import hpbandster  # noqa: F401
    except ImportError as err:
        raise ConfigError(f"{where}.searcher: bohb needs hpbandster and ConfigSpace ({err.name} is not installed): "
                          f"pip install 'raycnn[bohb]', or use searcher: tpe") from None
