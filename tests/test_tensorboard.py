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
    assert set(scalars) == set(EPOCH_TAGS) | {"trial/status", "params", "time/train_seconds"}
    assert scalars["train/loss"] == [(1, 11.0), (2, 12.0), (3, 13.0), (4, 4.0), (5, 5.0), (6, 6.0)]


def test_status_shows_running_from_the_first_epoch_then_how_the_run_ended(tmp_path):
    from conftest import read_hparams, read_status
    from raycnn.tensorboard import STATUS_CODES, STATUS_TAG, record_status

    board = EpochLogger(tmp_path, "run", hparams={"model.arch": "custom_cnn", "model.kernel_size": 3})
    board(epoch(1, loss=1.0))
    hparams, metric_tags = read_hparams(tmp_path / "run")      # read while the run is still going
    assert hparams == {"model.arch": "custom_cnn", "model.kernel_size": 3} and STATUS_TAG in metric_tags
    assert read_status(tmp_path / "run") == {"code": STATUS_CODES["running"], "texts": [], "end": None}
    board(epoch(2, loss=0.5))
    board.close()                                # stopped from outside: the run cannot say how
    (own,) = (tmp_path / "run").glob("events.out.tfevents.*")   # as if made in a later second than now:
    parts = own.name.split(".")                                 # the record must still be read last
    own.rename(own.with_name(".".join(parts[:3] + [str(int(parts[3]) + 100)] + parts[4:])))
    record_status(tmp_path, "run", "early_stopped", step=2, detail="stopped by asha")
    assert read_status(tmp_path / "run") == {"code": 2, "texts": ["early_stopped: stopped by asha"],
                                             "end": "STATUS_SUCCESS"}
    assert read_scalars(tmp_path / "run")[STATUS_TAG] == [(0, 0.0), (2, 2.0)]


def test_a_run_that_fails_ends_as_a_failure(tmp_path):
    from conftest import read_status

    board = EpochLogger(tmp_path, "run", hparams={"model.arch": "custom_cnn"})
    board(epoch(1, loss=float("nan")))
    board.close(status="diverged", detail="loss is NaN at epoch 1")
    assert read_status(tmp_path / "run") == {"code": 3, "texts": ["diverged: loss is NaN at epoch 1"],
                                             "end": "STATUS_FAILURE"}


def test_hparams_dashboard_titles_the_status_column_with_its_codes():
    from tensorboard.plugins.hparams import plugin_data_pb2
    from raycnn.tensorboard import hparams_summaries

    experiment, _ = hparams_summaries({"model.arch": "custom_cnn"})
    content = plugin_data_pb2.HParamsPluginData.FromString(experiment.value[0].metadata.plugin_data.content)
    titles = {m.name.tag: m.display_name for m in content.experiment.metric_infos}
    assert titles["trial/status"] == ("status (0 running, 1 completed, 2 early_stopped, 3 diverged, 4 oom, "
                                      "5 error)")
    assert titles["val/accuracy"] == "val/accuracy"


def test_confusion_panel_colours_cells_by_share_of_the_true_class():
    import numpy as np
    from raycnn.panels import DARK, confusion_image

    classes = tuple("abcdefghij")
    dark = lambda image: int((image == DARK).all(axis=-1).sum())
    perfect = confusion_image((np.eye(10, dtype=int) * 30).tolist(), classes)
    uniform = confusion_image(np.full((10, 10), 3).tolist(), classes)
    assert dark(perfect) >= 10 * 40 * 40 and dark(uniform) == 0          # diagonal cells fully dark
    many = confusion_image(np.eye(100, dtype=int).tolist(), tuple(f"c{i}" for i in range(100)))
    assert many.shape[0] > 100 * 6 and many.shape[2] == 3                # 100 classes: small cells, no counts
