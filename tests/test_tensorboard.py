"""TensorBoard events read back with TensorBoard's own reader."""

from __future__ import annotations

from raycnn.fit import EpochMetrics
from raycnn.tensorboard import EPOCH_TAGS, EpochLogger
from conftest import read_scalars


def epoch(number: int, loss: float) -> EpochMetrics:
    return EpochMetrics(epoch=number, train_loss=loss, train_accuracy=0.5, val_loss=loss, val_accuracy=0.5,
                        lr=1e-3, seconds=1.0, images_per_second=100.0)


def test_a_resumed_run_replaces_what_a_killed_session_wrote_after_its_checkpoint(tmp_path):
    first = EpochLogger(tmp_path, "run")
    for n in range(1, 6):                       # killed after logging epoch 5, checkpoint at 3
        first(epoch(n, loss=10.0 + n))
    first.close()
    second = EpochLogger(tmp_path, "run")
    for n in range(4, 7):                       # resumed from epoch 3's checkpoint
        second(epoch(n, loss=float(n)))
    second.close()
    scalars = read_scalars(tmp_path / "run")
    assert set(scalars) == set(EPOCH_TAGS)
    assert scalars["train/loss"] == [(1, 11.0), (2, 12.0), (3, 13.0), (4, 4.0), (5, 5.0), (6, 6.0)]
