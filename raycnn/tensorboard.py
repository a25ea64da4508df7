"""TensorBoard logging of a run's epochs under stable tags, one writer per run.

Tags: train/loss, train/accuracy, val/loss, val/accuracy, lr, throughput/images_per_second,
time/epoch_seconds, at step = epoch. A run's events go to LOGDIR/<run name>, where the run name says
what the run is (custom_cnn-cifar10-flip_crop-k5-s0), so `tensorboard --logdir LOGDIR` lists runs by
name. A resumed run appends from the epoch it continues at and tells TensorBoard to drop anything an
earlier, killed session wrote from that epoch on (purge_step), so no step appears twice.
"""

from __future__ import annotations

from pathlib import Path

EPOCH_TAGS = {
    "train/loss": "train_loss",
    "train/accuracy": "train_accuracy",
    "val/loss": "val_loss",
    "val/accuracy": "val_accuracy",
    "lr": "lr",
    "throughput/images_per_second": "images_per_second",
    "time/epoch_seconds": "seconds",
}


def run_name(config) -> str:
    """arch-dataset-augment-kKERNEL-sSEED: what a run is, at a glance."""
    return (f"{config.model.arch}-{config.data.dataset}-{config.augment.preset}-k{config.model.kernel_size}"
            f"-s{config.train.seed}")


class EpochLogger:
    """Writes each epoch's metrics to LOGDIR/<name>; call it as a fit() report callback."""

    def __init__(self, logdir: str | Path, name: str):
        self.path = Path(logdir) / name
        self.writer = None  # opened at the first epoch, which tells whether this run was resumed

    def __call__(self, metrics) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            resumed_at = metrics.epoch if metrics.epoch > 1 else None
            self.writer = SummaryWriter(log_dir=str(self.path), purge_step=resumed_at)
        for tag, field in EPOCH_TAGS.items():
            self.writer.add_scalar(tag, getattr(metrics, field), global_step=metrics.epoch)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
