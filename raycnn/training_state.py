"""What a run's training loop carries from epoch to epoch: the metrics of each epoch, and the state a
checkpoint saves (plain data, so `raycnn.fit` and `raycnn.checkpoint` both build on it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int                       # 1-based
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float                        # at the end of the epoch
    seconds: float                   # the epoch's wall time, training and validation
    images_per_second: float         # training images per second of training passes
    elapsed_seconds: float = 0.0     # the run's wall time so far, resumed sessions included
    params: int = 0                  # trainable parameters of the model being trained


@dataclass
class TrainingState:
    """What changes from epoch to epoch; saved with every checkpoint."""

    epoch: int = 0                   # epochs completed
    best_val_accuracy: float = -1.0
    best_epoch: int = 0
    train_seconds: float = 0.0
    train_images: int = 0
    compute_seconds: float = 0.0
    history: list[EpochMetrics] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["history"] = [dataclasses.asdict(m) for m in self.history]
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingState":
        return cls(**{**values, "history": [EpochMetrics(**m) for m in values["history"]]})
