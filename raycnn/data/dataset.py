"""The in-memory dataset every trial trains on: uint8 image tensors plus what models need to know."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DecodedData:
    """A dataset decoded once from its source: what the on-disk cache holds."""

    classes: tuple[str, ...]
    train_x: torch.Tensor             # uint8 [N, C, H, W]
    train_y: torch.Tensor             # int64 [N]
    test_x: torch.Tensor
    test_y: torch.Tensor
    flip_keeps_label: bool            # False for digits: a mirrored 2 is not a 2
    val_x: torch.Tensor | None = None  # only when the source ships its own validation split
    val_y: torch.Tensor | None = None

    def to_state(self) -> dict:
        return {k: (list(v) if k == "classes" else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_state(cls, state: dict) -> "DecodedData":
        return cls(**{**state, "classes": tuple(state["classes"])})


@dataclass(frozen=True)
class Dataset:
    """Train/val/test splits as uint8 tensors [N, C, H, W] with int64 labels, ready for batching."""

    name: str
    classes: tuple[str, ...]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    flip_keeps_label: bool
    mean: tuple[float, ...]           # per channel, of the training images scaled to [0, 1]
    std: tuple[float, ...]
    image_size: tuple[int, int]       # (H, W) the models see; batches are resized to it when needed

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.image_size)

    def class_index(self, name: str) -> int:
        from raycnn.errors import DataError

        if name not in self.classes:
            raise DataError(f"class {name!r} is not in dataset {self.name}; its classes are: "
                            f"{', '.join(self.classes)}")
        return self.classes.index(name)


def channel_stats(images: torch.Tensor, chunk: int = 8192) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images on the [0, 1] scale, without a full float copy."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk].to(torch.float64) / 255.0
        total += part.sum(dim=(0, 2, 3))
        squares += (part * part).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(mean.tolist()), tuple(std.clamp_min(1e-3).tolist())


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (chosen, rest): `fraction` of each class chosen at random, at least one per class."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    chosen, rest = [], []
    for label in labels.unique():
        members = order[labels[order] == label]
        take = max(1, round(fraction * len(members))) if fraction > 0 else 0
        chosen.append(members[:take])
        rest.append(members[take:])
    return torch.cat(chosen).sort().values, torch.cat(rest).sort().values
