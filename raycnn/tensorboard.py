"""TensorBoard logging of a run's epochs under stable tags, one writer per run, with HParams.

Tags: train/loss, train/accuracy, val/loss, val/accuracy, lr, throughput/images_per_second,
time/epoch_seconds, at step = epoch. A run's events go to LOGDIR/<run name>, where the run name says
what the run is (custom_cnn-cifar10-flip_crop-k5-s0), so `tensorboard --logdir LOGDIR` lists runs by
name. The HParams dashboard gets the run's hyperparameters (the core fields plus whatever a sweep
varies) and its metrics (val/accuracy, test/accuracy, params, time/train_seconds) from the first
epoch on, while the run is still going. A resumed run appends from the epoch it continues at and tells TensorBoard to drop anything an
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


HPARAM_METRICS = ("val/accuracy", "test/accuracy", "params", "time/train_seconds")
CORE_FIELDS = ("model.arch", "data.dataset", "augment.preset", "model.kernel_size", "train.seed",
               "train.optimizer", "train.lr", "train.batch_size", "train.epochs", "data.subset")


def hyperparameters(config, varied: tuple[str, ...] = ()) -> dict:
    """{section.key: value} for the core fields and the varied ones; lists and None as text."""
    flat = {f"{section}.{key}": value for section, values in config.to_dict().items() for key, value in values.items()}
    keys = list(CORE_FIELDS) + [k for k in varied if k not in CORE_FIELDS and k in flat]
    return {k: flat[k] if isinstance(flat[k], (int, float, str, bool)) else str(flat[k]) for k in keys}


def run_name(config) -> str:
    """arch-dataset-augment-kKERNEL-sSEED: what a run is, at a glance."""
    return (f"{config.model.arch}-{config.data.dataset}-{config.augment.preset}-k{config.model.kernel_size}"
            f"-s{config.train.seed}")


class EpochLogger:
    """Writes each epoch's metrics to LOGDIR/<name>; call it as a fit() report callback."""

    def __init__(self, logdir: str | Path, name: str, hparams: dict | None = None):
        self.path = Path(logdir) / name
        self.hparams = hparams or {}
        self.writer = None  # opened at the first epoch, which tells whether this run was resumed

    def __call__(self, metrics, extra: dict[str, float] | None = None) -> None:
        """Log one epoch; `extra` adds run-level scalars (test/accuracy, params, time/train_seconds)."""
        if self.writer is None:
            self._open(metrics.epoch)
        for tag, field in EPOCH_TAGS.items():
            self.writer.add_scalar(tag, getattr(metrics, field), global_step=metrics.epoch)
        for tag, value in (extra or {}).items():
            if value is not None:
                self.writer.add_scalar(tag, value, global_step=metrics.epoch)
        self.writer.flush()

    def _open(self, epoch: int) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        self.writer = SummaryWriter(log_dir=str(self.path), purge_step=epoch if epoch > 1 else None)
        if self.hparams:  # TensorBoard keeps the first session record of a run: write it once
            experiment, session_start, _ = hparams(self.hparams, {tag: None for tag in HPARAM_METRICS})
            for summary in (experiment, session_start) if epoch == 1 else ():
                self.writer.file_writer.add_summary(summary)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
