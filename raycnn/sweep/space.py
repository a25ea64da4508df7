"""Sweep axes: one `Dimension` per `section.key` of a sweep's `space` (or a tuned sweep's `tune.space`), its
forms (`grid`, `choice`, `uniform`, `loguniform`, `randint`), their checks, and the seeded draws of the
random forms; plus the typed readers of a sweep file's own top-level values."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Mapping

from raycnn.config import SECTIONS, RunConfig, replace_field
from raycnn.config_values import coerce
from raycnn.errors import ConfigError

SPACE_FORMS = ("grid", "choice", "uniform", "loguniform", "randint")
MAX_AXIS_VALUES = 100_000      # an axis with more values is a typo, not a study
SAMPLING_SEED = 0              # random dimensions are drawn with this seed: the same trials on every resume


@dataclass(frozen=True)
class Dimension:
    key: str                           # section.key of RunConfig
    form: str                          # grid | choice | uniform | loguniform | randint
    values: tuple                      # the grid/choice values, or (low, high)


def dimension(key: str, spec: Any, source: str, section: str = "space") -> Dimension:
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
    if len(values) > MAX_AXIS_VALUES:
        raise ConfigError(f"{where}.{form}: {len(values):,} values; a sweep axis has a few (at most {MAX_AXIS_VALUES:,})")
    if form in ("uniform", "loguniform", "randint"):
        check_bounds(where, form, values)
    for value in values if form in ("grid", "choice") else []:
        replace_field(RunConfig(), key, value, f"{where}")  # each value must be valid on its own
    return Dimension(key=key, form=form, values=tuple(values))


def check_bounds(where: str, form: str, values: list) -> None:
    words = [v for v in values if not isinstance(v, (int, float)) or isinstance(v, bool)]
    if words:
        raise ConfigError(f"{where}.{form}: expected numbers, got {words[0]!r}; write [low, high], e.g. [1e-5, 0.01]")
    if len(values) != 2 or values[0] >= values[1] or (form == "loguniform" and values[0] <= 0):
        raise ConfigError(f"{where}.{form}: expected [low, high] with low < high"
                          + (" and low > 0" if form == "loguniform" else "") + f", got {list(values)}")


def draw(dimension: Dimension, rng: random.Random) -> Any:
    low_high = dimension.values
    if dimension.form == "choice":
        return rng.choice(dimension.values)
    if dimension.form == "uniform":
        return rng.uniform(*low_high)
    if dimension.form == "loguniform":
        return math.exp(rng.uniform(math.log(low_high[0]), math.log(low_high[1])))
    return rng.randrange(int(low_high[0]), int(low_high[1]))


def positive_int(raw: Mapping, key: str, default: int, source: str, allow_zero: bool = False) -> int:
    value = coerce(raw.get(key, default), int, f"{source}: {key}")
    if value < (0 if allow_zero else 1):
        raise ConfigError(f"{source}: {key}: {value} is out of range; it must be >= {0 if allow_zero else 1}")
    return value


def optional_positive_int(raw: Mapping, key: str, source: str) -> int | None:
    return None if raw.get(key) is None else positive_int(raw, key, 1, source)


def string(raw: Mapping, key: str, default: str, source: str) -> str:
    return coerce(raw.get(key, default), str, f"{source}: {key}")
