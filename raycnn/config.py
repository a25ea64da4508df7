"""Run configuration: one frozen dataclass per section, validated once when it is built.

A run is `RunConfig(data, model, augment, train)`. Build it from a nested mapping (YAML, the CLI,
a sweep) with `run_config_from_dict(mapping, source)`: unknown keys, wrong types and bad values
raise `ConfigError` naming the key, the source and the valid choices. Defaults live here and only
here, except architecture options (filters, dropout, ...), whose defaults are the keyword defaults
of each model constructor; `None` in `ModelConfig` means "the architecture's default".
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from raycnn.config_values import coerce, plain
from raycnn.errors import ConfigError, ModelError

OPTIMIZERS = ("adam", "adamw", "sgd", "adadelta")
SCHEDULES = ("constant", "reduce_on_plateau", "cosine", "linear", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
POOLINGS = ("max", "avg")
HEADS = ("flatten", "gap")


def _check_choice(key: str, value: Any, choices: typing.Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{key}: {value!r} is not valid; choose one of: {', '.join(choices)}")


def _check_range(key: str, value: float | None, low: float, high: float | None = None,
                 low_open: bool = False) -> None:
    if value is None:
        return
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high):
        bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(f"{key}: {value!r} is out of range; it must be {bound}")


def absolute_path(path: str) -> str:
    """A path the user typed, made absolute against the folder the command runs in (`~` expanded), so
    that it means the same in a trial, whose working folder is its own. URIs (s3://...) stay as they are."""
    return path if "://" in path else os.path.abspath(os.path.expanduser(path))


def _settle_paths(config: Any, names: tuple[str, ...]) -> None:
    """Make a frozen config's path fields absolute, once, as it is built (see absolute_path)."""
    from raycnn import code

    for name in names:
        value = getattr(config, name)
        if value is not None:
            settled = code.absolute_ref(value) if name in ("arch", "dataset") else absolute_path(value)
            object.__setattr__(config, name, settled)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"
    # paths: relative ones are against the folder the command runs in, and stored absolute
    data_root: str = "data"            # torchvision datasets live (or are downloaded) here
    data_path: str | None = None       # imagefolder only: folder with train/<class>/* and test/<class>/*
    cache_dir: str | None = None       # decoded-tensor cache; None = $RAYCNN_CACHE_DIR or ~/.cache/raycnn
    download: bool = True              # torchvision datasets: download into data_root when missing
    subset: float = 1.0                # per-class stratified fraction of train and test
    val_fraction: float = 0.1          # stratified validation split taken from train (fixed seed)
    image_size: int | None = None      # resize to image_size x image_size (None = native size)
    oversample: tuple[tuple[str, float], ...] = ()  # (class, weight): weight 2 = each image twice per epoch

    def __post_init__(self) -> None:
        from raycnn.data import list_datasets
        from raycnn.data.external import dataset_class, is_external

        _settle_paths(self, ("dataset", "data_root", "data_path", "cache_dir"))
        if is_external(self.dataset):
            dataset_class(self.dataset)
        else:
            _check_choice("data.dataset", self.dataset, list_datasets() + ["torchvision/<Name>", "file.py:Name",
                                                                           "module:Name"])
        _check_range("data.subset", self.subset, 0.0, 1.0, low_open=True)
        _check_range("data.val_fraction", self.val_fraction, 0.0, 0.9, low_open=True)
        _check_range("data.image_size", self.image_size, 1)
        for name, weight in self.oversample:
            _check_range(f"data.oversample.{name}", weight, 0.0, low_open=True)
        if self.dataset == "imagefolder" and not self.data_path:
            raise ConfigError("data.data_path: the imagefolder dataset needs a folder; "
                              "pass --data-path DIR (DIR/train/<class>/*, DIR/test/<class>/*)")


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "custom_cnn"
    kernel_size: int = 3
    # Architecture options; None = the architecture's own default. Not every arch takes every option.
    filters: tuple[int, ...] | None = None
    convs_per_block: int | None = None
    batch_norm: bool | None = None
    pooling: str | None = None
    head: str | None = None
    dense_units: tuple[int, ...] | None = None
    dropout: float | None = None
    weights: str | None = None         # torchvision zoo models: pretrained weights (e.g. DEFAULT); None = random
    kwargs: tuple[tuple[str, Any], ...] = ()    # more keywords for your own model's constructor (model.kwargs)

    def __post_init__(self) -> None:
        from raycnn.models import check_arch, check_model_options, list_models
        from raycnn.models.external import is_external

        _settle_paths(self, ("arch",))
        if not is_external(self.arch):
            _check_choice("model.arch", self.arch, list_models() + ["torchvision/<name>", "file.py:Name",
                                                                    "module:Name"])
        check_arch(self.arch)
        _check_range("model.kernel_size", self.kernel_size, 1)
        _check_range("model.convs_per_block", self.convs_per_block, 1)
        _check_range("model.dropout", self.dropout, 0.0, 0.95)
        if self.pooling is not None:
            _check_choice("model.pooling", self.pooling, POOLINGS)
        if self.head is not None:
            _check_choice("model.head", self.head, HEADS)
        for name in ("filters", "dense_units"):
            for units in getattr(self, name) or ():
                _check_range(f"model.{name}", units, 1)
        check_model_options(self.arch, self.options())

    def options(self) -> dict[str, Any]:
        """Architecture options that were set (not None), as constructor keywords."""
        skip = {"arch", "kernel_size", "kwargs"}
        found = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name not in skip and getattr(self, f.name) is not None}
        return {**found, **dict(self.kwargs)}


@dataclass(frozen=True)
class AugmentConfig:
    preset: str = "flip_shift"         # applied to every training image (raycnn's recipe; the users': none)
    class_preset: str | None = None    # applied instead of `preset` to images of `classes`
    classes: tuple[str, ...] = ()      # class names that get `class_preset`

    def __post_init__(self) -> None:
        from raycnn.augment import list_presets

        _check_choice("augment.preset", self.preset, list_presets())
        if self.class_preset is not None:
            _check_choice("augment.class_preset", self.class_preset, list_presets())
        if bool(self.classes) != (self.class_preset is not None):
            raise ConfigError("augment.classes and augment.class_preset go together: name the classes "
                              "and the preset they get (e.g. classes: [cat, dog], class_preset: strong)")


@dataclass(frozen=True)
class TrainConfig:
    # raycnn's recipe (README "Time to accuracy"); the users' notebooks: adam, 1e-3, batch 128, constant or
    # reduce_on_plateau, no label smoothing, no test-time flip, no averaging (recipes/users.yaml)
    epochs: int = 10
    batch_size: int = 64               # images per step (and per lr: lr is not scaled with it)
    optimizer: str = "adamw"
    lr: float = 3e-3                   # peak learning rate (onecycle: the maximum)
    momentum: float = 0.9              # sgd only
    nesterov: bool = False             # sgd only
    weight_decay: float = 0.05         # L2 (adam, sgd, adadelta) or decoupled (adamw)
    schedule: str = "onecycle"         # per batch: constant, cosine, linear (to 0), onecycle; or reduce_on_plateau
    warmup_epochs: float = 0.0         # linear warmup from ~0 to lr over this many epochs (not onecycle: its own)
    plateau_patience: int = 3          # reduce_on_plateau: epochs without val-loss improvement
    plateau_factor: float = 0.5        # reduce_on_plateau: lr multiplier
    label_smoothing: float = 0.1
    test_time_flip: bool = True        # evaluate on each image and its mirror (datasets where a flip keeps the label)
    ema_decay: float | None = 0.999    # evaluate an exponential moving average of the weights (per step); null: off
    early_stopping: int | None = None  # patience in epochs on val accuracy; None = off
    seed: int = 0
    device: str = "auto"               # auto, cpu, cuda, cuda:N
    precision: str = "auto"            # auto = fastest measured on this device (fp32/bf16/fp16)
    channels_last: bool = True         # NHWC memory layout (faster for convs on CPU and tensor cores)
    deterministic: bool = False        # the same bits for the same seed on the same device type (slower on GPUs)
    compile: bool = False              # torch.compile the training forward pass (off: measured slower on CPU)

    def __post_init__(self) -> None:
        _check_range("train.epochs", self.epochs, 1)
        _check_range("train.batch_size", self.batch_size, 1)
        _check_range("train.lr", self.lr, 0.0, low_open=True)
        _check_range("train.momentum", self.momentum, 0.0, 1.0)
        _check_range("train.weight_decay", self.weight_decay, 0.0)
        _check_range("train.plateau_patience", self.plateau_patience, 0)
        _check_range("train.plateau_factor", self.plateau_factor, 0.0, 1.0, low_open=True)
        _check_range("train.label_smoothing", self.label_smoothing, 0.0, 0.99)
        _check_range("train.warmup_epochs", self.warmup_epochs, 0.0, float(self.epochs))
        _check_range("train.ema_decay", self.ema_decay, 0.0, 0.99999, low_open=True)
        _check_range("train.early_stopping", self.early_stopping, 1)
        _check_choice("train.optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("train.schedule", self.schedule, SCHEDULES)
        _check_choice("train.precision", self.precision, PRECISIONS)
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"train.device: {self.device!r} is not valid; use auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists for tuples, a mapping for oversample): YAML/JSON-ready."""
        out = plain(dataclasses.asdict(self))
        out["data"]["oversample"] = dict(self.data.oversample)
        out["model"]["kwargs"] = {k: plain(v) for k, v in self.model.kwargs}
        return out


SECTIONS = {"data": DataConfig, "model": ModelConfig, "augment": AugmentConfig, "train": TrainConfig}


def run_config_from_dict(mapping: Mapping[str, Any] | None, source: str = "config") -> RunConfig:
    """Build and validate a RunConfig from {section: {key: value}}; errors name `source`."""
    mapping = mapping or {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections ({', '.join(SECTIONS)}), "
                          f"got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown section {unknown[0]!r}; valid sections: {', '.join(SECTIONS)}")
    sections = {name: section_from_dict(name, mapping.get(name) or {}, source) for name in SECTIONS}
    return RunConfig(**sections)


def section_from_dict(section: str, values: Mapping[str, Any], source: str) -> Any:
    """Build one section's dataclass; errors read `source: section.key: what is wrong`."""
    cls = SECTIONS[section]
    kwargs = section_values(cls, values, section, source)
    try:
        return cls(**kwargs)
    except (ConfigError, ModelError) as err:
        raise ConfigError(f"{source}: {err}") from None


def section_values(cls: type, values: Mapping[str, Any], section: str, source: str) -> dict[str, Any]:
    """Check a mapping against a dataclass's fields and types: the keyword arguments to build it."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: {section}: expected a mapping of keys, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    try:
        for key, value in values.items():
            if key not in hints or key == "source":
                valid = ", ".join(k for k in hints if k != "source")
                raise ConfigError(f"{section}.{key}: unknown key; valid keys: {valid}")
            kwargs[key] = coerce(value, hints[key], f"{section}.{key}")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return kwargs


def replace_field(config: RunConfig, dotted_key: str, value: Any, source: str = "override") -> RunConfig:
    """Return `config` with `section.key` set to `value` (coerced and validated)."""
    section, _, key = dotted_key.partition(".")
    if section not in SECTIONS or not key:
        raise ConfigError(f"{source}: {dotted_key!r} is not a config key; use section.key with a section "
                          f"from: {', '.join(SECTIONS)}")
    values = {f.name: getattr(getattr(config, section), f.name)
              for f in dataclasses.fields(SECTIONS[section])}
    values[key] = value
    return dataclasses.replace(config, **{section: section_from_dict(section, values, source)})
