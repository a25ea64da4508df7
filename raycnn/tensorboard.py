"""TensorBoard logging of a run's epochs under stable tags, one writer per run, with HParams.

Tags: train/loss, train/accuracy, val/loss, val/accuracy, lr, throughput/images_per_second,
time/epoch_seconds, at step = epoch. A run's events go to LOGDIR/<run name>, where the run name says
what the run is (custom_cnn-cifar10-flip_crop-k5-s0), so `tensorboard --logdir LOGDIR` lists runs by
name. The HParams dashboard gets the run's hyperparameters (the core fields plus whatever a sweep
varies) and its metrics (val/accuracy, test/accuracy, params, time/train_seconds) from the first
epoch on, while the run is still going, and the run's status (scalar `trial/status`, an HParams metric whose
column title gives the codes: 0 running, 1 completed, 2 early_stopped, 3 diverged, 4 oom, 5 error; the
word itself in the Text tab, and success/failure in the dashboard's Status filter at the end). A status
decided outside the run (a sweep scheduler stopping it, an error after its retries) is added by the sweep
driver with `record_status`. A resumed run appends from the epoch it continues at and tells TensorBoard to drop anything an
earlier, killed session wrote from that epoch on (purge_step), so no step appears twice.
"""

from __future__ import annotations

import time
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


STATUS_TAG = "trial/status"
STATUS_CODES = {"running": 0, "completed": 1, "early_stopped": 2, "diverged": 3, "oom": 4, "error": 5}
HPARAM_METRICS = ("val/accuracy", "test/accuracy", "params", "time/train_seconds", STATUS_TAG)
METRIC_TITLES = {STATUS_TAG: "status (" + ", ".join(f"{c} {s}" for s, c in STATUS_CODES.items()) + ")"}
CORE_FIELDS = ("model.arch", "data.dataset", "augment.preset", "model.kernel_size", "train.seed",
               "train.optimizer", "train.lr", "train.batch_size", "train.epochs", "data.subset")


def hyperparameters(config, varied: tuple[str, ...] = ()) -> dict:
    """{section.key: value} for the core fields and the varied ones; lists and None as text."""
    flat = {f"{section}.{key}": value for section, values in config.to_dict().items() for key, value in values.items()}
    keys = list(CORE_FIELDS) + [k for k in varied if k not in CORE_FIELDS and k in flat]
    return {k: flat[k] if isinstance(flat[k], (int, float, str, bool)) else str(flat[k]) for k in keys}


def run_name(config) -> str:
    """arch-dataset-augment-kKERNEL-sSEED: what a run is, at a glance."""
    from raycnn.code import short_name

    return (f"{short_name(config.model.arch)}-{short_name(config.data.dataset)}-{config.augment.preset}"
            f"-k{config.model.kernel_size}-s{config.train.seed}")


class EpochLogger:
    """Writes a run's epochs to LOGDIR/<name>: call it as a fit() report callback, hand it each new
    best test evaluation with `new_best(test)`, and `close(final_test)` at the end."""

    PANEL_INTERVAL_S = 30.0  # during training, the test panels are drawn every 30 s at most

    def __init__(self, logdir: str | Path, name: str, hparams: dict | None = None, data_config=None):
        self.path = Path(logdir) / name
        self.hparams = hparams or {}
        self.data_config = data_config
        self.writer = None  # opened at the first epoch, which tells whether this run was resumed
        self.best_test = self.written_test = self.drawn_test = None
        self.last_panels = time.monotonic()  # short trials draw once, at the end
        self.step = 0

    def __call__(self, metrics, may_end: bool = False) -> None:
        """Log one epoch, with the run-level scalars HParams shows (test/accuracy of the best weights so
        far, params, time/train_seconds); `may_end` marks an epoch after which the run may end (its
        planned last one, or one where a scheduler may stop it): the figures are drawn then, so a
        stopped run has them."""
        if self.writer is None:
            self._open(metrics.epoch)
        self.step = metrics.epoch
        for tag, field in EPOCH_TAGS.items():
            self.writer.add_scalar(tag, getattr(metrics, field), global_step=metrics.epoch)
        run_level = {"params": metrics.params, "time/train_seconds": metrics.elapsed_seconds,
                     "test/accuracy": None if self.best_test is None else self.best_test.accuracy}
        for tag, value in run_level.items():
            if value is not None:
                self.writer.add_scalar(tag, value, global_step=metrics.epoch)
        due = may_end or time.monotonic() - self.last_panels >= self.PANEL_INTERVAL_S
        if self.best_test is not None and (self.best_test is not self.written_test or due):
            self._write_test(self.best_test, draw=due and self.best_test is not self.drawn_test)
        self.writer.flush()

    def new_best(self, test) -> None:
        """The test evaluation of new best weights; written with the epoch that produced them."""
        self.best_test = test

    def close(self, final_test=None, status: str | None = None, detail: str = "") -> None:
        """End the run's events: the final test panels, and its status where the run knows it."""
        if self.writer is None and status is not None:   # ended before logging an epoch in this session
            self._open(max(self.step, 1), purge=False)
        if self.writer is not None:
            if final_test is not None and final_test != self.drawn_test:
                self._write_test(final_test, draw=True)
            if status is not None:
                write_status(self.writer, status, self.step, detail)
            self.writer.close()

    def _write_test(self, test, draw: bool) -> None:
        if self.data_config is None:
            return
        from raycnn.data import load_dataset

        log_test_panels(self.writer, self.step, test, load_dataset(self.data_config), figures=draw)
        self.written_test = test
        if draw:
            self.last_panels, self.drawn_test = time.monotonic(), test

    def continues_at(self, epoch: int) -> None:
        """The run continues after `epoch` (from a checkpoint): a status it ends with goes at that step."""
        self.step = epoch

    def _open(self, epoch: int, purge: bool = True) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge: drop what an earlier, killed session logged from this epoch on (it is logged again)
        self.writer = SummaryWriter(log_dir=str(self.path), purge_step=epoch if purge else None)
        # "running" as of the step before this session's first epoch: any end status comes at a later
        # step, so it is the latest whichever event file TensorBoard happens to read first
        self.writer.add_scalar(STATUS_TAG, STATUS_CODES["running"], global_step=epoch - 1)
        if self.hparams and epoch == 1:  # TensorBoard keeps the first session record of a run: write it once
            for summary in hparams_summaries(self.hparams):
                self.writer.file_writer.add_summary(summary)


# --- HParams records and the run's status -------------------------------------------------------

def hparams_summaries(values: dict) -> list:
    """The HParams experiment (metrics with readable column titles) and session-start records."""
    from tensorboard.plugins.hparams import plugin_data_pb2
    from torch.utils.tensorboard.summary import hparams

    experiment, session_start, _ = hparams(values, {tag: None for tag in HPARAM_METRICS})
    content = plugin_data_pb2.HParamsPluginData.FromString(experiment.value[0].metadata.plugin_data.content)
    for info in content.experiment.metric_infos:
        info.display_name = METRIC_TITLES.get(info.name.tag, info.name.tag)
    experiment.value[0].metadata.plugin_data.content = content.SerializeToString()
    return [experiment, session_start]


def session_end_summary(status: str):
    """HParams' session-end record: its Status filter knows only success and failure."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    code = api_pb2.STATUS_SUCCESS if status in ("completed", "early_stopped") else api_pb2.STATUS_FAILURE
    content = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=code, end_time_secs=time.time()),
        version=metadata.PLUGIN_DATA_VERSION)
    plugin = SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString())
    return Summary(value=[Summary.Value(tag=metadata.SESSION_END_INFO_TAG,
                                        metadata=SummaryMetadata(plugin_data=plugin))])


def write_status(writer, status: str, step: int, detail: str = "") -> None:
    """A run's final status: the `trial/status` code, the word (Text tab) and the session's end."""
    writer.add_scalar(STATUS_TAG, STATUS_CODES[status], global_step=step)
    writer.add_text(STATUS_TAG, status + (f": {detail}" if detail else ""), global_step=step)
    writer.file_writer.add_summary(session_end_summary(status))
    writer.flush()


def record_status(logdir: str | Path, name: str, status: str, step: int, detail: str = "") -> None:
    """Add a status decided outside the run (by the sweep driver) to the run LOGDIR/<name>.

    TensorBoard reads a run's event files in name order (events.out.tfevents.<seconds>.<host>.<pid>...)
    and takes the last value it read as the latest: the record is written aside and moved in under a
    name that sorts after the run's own files, so it wins even when both were made in the same second."""
    import os
    import shutil
    import socket
    import tempfile
    import uuid

    from torch.utils.tensorboard import SummaryWriter

    run = Path(logdir) / name
    run.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="raycnn-status-") as aside:
        writer = SummaryWriter(log_dir=aside)
        write_status(writer, status, step, detail)
        writer.close()
        (written,) = Path(aside).glob("events.out.tfevents.*")
        seconds = max([int(time.time())] + [_event_file_seconds(p) + 1 for p in run.glob("events.out.tfevents.*")])
        target = run / f"events.out.tfevents.{seconds}.{socket.gethostname()}.status"
        # aside under a name without "tfevents" (TensorBoard reads any file whose name has it), then renamed
        moving = run / f".raycnn-status-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
        shutil.move(str(written), str(moving))
        moving.rename(target)                                 # appears whole, under its final name


def _event_file_seconds(path: Path) -> int:
    field = path.name.split(".")[3]
    return int(field) if field.isdigit() else 0


# --- test-set panels: written whenever the best weights change, so a stopped trial has them --------

def log_test_panels(writer, step: int, test, dataset, figures: bool = True) -> None:
    """Per-class F1 scalars (classes/f1/<name>), and images: the confusion matrix normalized per
    true class with counts, a per-class F1 bar chart, and a grid of misclassified test images."""
    from raycnn.panels import confusion_image, f1_image, misclassified_grid

    for row in test.per_class:
        writer.add_scalar(f"classes/f1/{_tag(row['class'])}", row["f1"], global_step=step)
    if not figures:
        return
    add_png(writer, "test/confusion_matrix", confusion_image(test.confusion, dataset.classes), step)
    add_png(writer, "test/per_class_f1", f1_image(test.per_class), step)
    if test.misclassified:
        add_png(writer, "test/misclassified", misclassified_grid(test.misclassified, dataset), step)
    writer.flush()


def add_png(writer, tag: str, image, step: int) -> None:
    """An HxWx3 uint8 image as a TensorBoard image. PIL's fastest PNG level: these flat-colour panels
    compress almost as well, in a tenth of the time `SummaryWriter.add_image` takes (~50 ms a panel)."""
    import io

    from PIL import Image
    from tensorboard.compat.proto.summary_pb2 import Summary

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    encoded = Summary.Image(height=image.shape[0], width=image.shape[1], colorspace=image.shape[2],
                            encoded_image_string=buffer.getvalue())
    writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=encoded)]), step)


def _tag(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
