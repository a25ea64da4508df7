"""fit(): learning on real data, resume, early stopping, optimizers and schedules, errors. How accurate and how
fast (MNIST 99% in an epoch or two, CIFAR-10 85%) is measured by benchmarks/time_to_accuracy.py, not here."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from conftest import CIFAR_FOLDER, SMALL, needs_cifar
from raycnn.config import run_config_from_dict
from raycnn.errors import DataError
from raycnn.averaging import evaluated_model
from raycnn.evaluation import evaluate
from raycnn.fit import TrainingDiverged, fit
from raycnn.trial import prepare_trial


def digits(**train):
    """The custom CNN, small, on digits: for what training does (resume, schedules, stops), not how well."""
    return run_config_from_dict({"model": SMALL, "train": {"epochs": 3, **train}})


def test_custom_cnn_learns_digits():
    result = fit(run_config_from_dict({"train": {"epochs": 10}}))
    assert result.test_accuracy >= 0.95
    assert result.params == 487_850 and result.epochs_completed == 10 and result.status == "completed"
    assert sum(row["support"] for row in result.per_class) == sum(map(sum, result.confusion))
    assert [m.epoch for m in result.history] == list(range(1, 11))


class Interrupted(Exception):
    pass


def test_resume_after_a_crash_gives_the_same_result(tmp_path):
    config = run_config_from_dict({
        "model": SMALL, "train": {"epochs": 4, "schedule": "onecycle", "lr": 0.003, "label_smoothing": 0.1},
        "augment": {"preset": "flip_crop", "class_preset": "strong", "classes": ["8"]},
        "data": {"oversample": {"8": 1.5}}})
    straight = fit(config, out_dir=tmp_path / "straight")

    def crash_after_epoch_2(metrics):
        if metrics.epoch == 2:
            raise Interrupted
    with pytest.raises(Interrupted):
        fit(config, report=crash_after_epoch_2, out_dir=tmp_path / "crashed")
    seen = []
    resumed = fit(config, report=lambda m: seen.append(m.epoch), out_dir=tmp_path / "crashed", resume=True)
    assert seen == [3, 4]                                   # continued, did not start over
    assert resumed.test_accuracy == straight.test_accuracy
    assert resumed.confusion == straight.confusion
    drop_time = lambda history: [dataclasses.replace(m, seconds=0, images_per_second=0, elapsed_seconds=0)
                                 for m in history]
    assert drop_time(resumed.history) == drop_time(straight.history)
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "crashed/checkpoints/last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_different_configuration(tmp_path):
    fit(digits(epochs=1), out_dir=tmp_path)
    with pytest.raises(Exception, match=r"different run \(train.lr was 0.003, now 0.01\)"):
        fit(digits(epochs=2, lr=0.01), out_dir=tmp_path, resume=True)


def test_early_stopping_tests_the_best_validation_weights(tmp_path):
    result = fit(digits(epochs=40, early_stopping=2, lr=0.01), out_dir=tmp_path)
    assert result.status == "early_stopped"
    assert result.epochs_completed == result.best_epoch + 2 < 40
    assert result.val_accuracy == max(m.val_accuracy for m in result.history)
    # the tested weights are the best-validation checkpoint, not the last epoch's
    best = torch.load(tmp_path / "checkpoints/best.pt", weights_only=True)
    last = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    assert last["state"]["epoch"] == result.epochs_completed
    assert not all(torch.equal(best[k], last["model"][k]) for k in best)
    trial = prepare_trial(digits(epochs=40, early_stopping=2, lr=0.01), out_dir=None, resume=False)
    evaluated_model(trial.model, trial.average).load_state_dict(best)      # the averaged weights are tested
    _, accuracy, _ = evaluate(trial, trial.data["test_x"], trial.data["test_y"])
    assert accuracy == result.test_accuracy


def test_report_can_stop_training():
    result = fit(digits(epochs=5), report=lambda metrics: metrics.epoch == 2)
    assert result.status == "stopped" and result.epochs_completed == 2


@pytest.mark.parametrize("optimizer,lr", [("adam", 1e-3), ("adamw", 1e-3), ("sgd", 0.05), ("adadelta", 1.0)])
def test_every_optimizer_learns(optimizer, lr):
    result = fit(digits(optimizer=optimizer, lr=lr, weight_decay=1e-4, epochs=4))
    assert result.test_accuracy > 0.5


@pytest.mark.parametrize("schedule", ["constant", "cosine", "linear", "onecycle", "reduce_on_plateau"])
def test_schedules_shape_the_learning_rate(schedule):
    result = fit(digits(schedule=schedule, epochs=4, lr=0.01, plateau_patience=0, plateau_factor=0.5))
    lrs = [m.lr for m in result.history]
    if schedule == "constant":
        assert lrs == [0.01] * 4
    elif schedule in ("cosine", "linear", "onecycle"):
        assert lrs[-1] < 0.001
    else:  # patience 0: halve after every epoch whose val loss is not a new best (torch's 1e-4 rule)
        losses = [m.val_loss for m in result.history]
        for i in range(1, 4):
            improved = losses[i] < min(losses[:i]) * (1 - 1e-4)
            assert lrs[i] == pytest.approx(lrs[i - 1] if improved else lrs[i - 1] * 0.5)


def test_warmup_rises_to_the_peak_then_the_schedule_decays():
    from raycnn.optim import lr_factor

    assert [lr_factor("linear", s, 10, 2) for s in (0, 1, 2)] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert lr_factor("linear", 9, 10, 2) == pytest.approx(0.125)
    assert lr_factor("constant", 5, 10, 0) == 1.0 and lr_factor("cosine", 0, 10, 0) == 1.0
    assert lr_factor("onecycle", 0, 100) == pytest.approx(1 / 25) and lr_factor("onecycle", 30, 100) == 1.0


@pytest.mark.parametrize("schedule", ["constant", "cosine", "linear", "onecycle", "reduce_on_plateau"])
def test_resume_with_more_epochs_rebuilds_the_schedule_for_the_new_length(tmp_path, schedule):
    """Training a finished run longer (--resume with more epochs): the schedule continues from the epoch
    reached, as it would for a run planned with the new length from the start."""
    from raycnn.optim import lr_factor

    short = dict(schedule=schedule, lr=0.01, warmup_epochs=0.5 if schedule == "linear" else 0.0)
    fit(digits(epochs=2, **short), out_dir=tmp_path)
    longer = fit(digits(epochs=4, **short), out_dir=tmp_path, resume=True)
    assert longer.epochs_completed == 4 and [m.epoch for m in longer.history] == [1, 2, 3, 4]
    if schedule not in ("constant", "reduce_on_plateau"):
        trial = prepare_trial(digits(epochs=4, **short), None, False)
        total, warmup = 4 * trial.steps_per_epoch, round(short["warmup_epochs"] * trial.steps_per_epoch)
        for epoch in (3, 4):        # the rate at the end of each resumed epoch: the 4-epoch schedule's
            step = min(epoch * trial.steps_per_epoch, total - 1)
            assert longer.history[epoch - 1].lr == pytest.approx(0.01 * lr_factor(schedule, step, total, warmup))
        assert longer.history[1].lr > longer.history[3].lr


def test_nan_loss_raises_diverged():
    with pytest.raises(TrainingDiverged, match="diverged in epoch 1"):
        fit(run_config_from_dict({"model": {**SMALL, "batch_norm": False}, "train": {"optimizer": "sgd", "lr": 1e12}}))


def test_missing_data_fails_before_training(tmp_path):
    config = run_config_from_dict({"data": {"dataset": "cifar10", "data_root": str(tmp_path), "download": False}})
    with pytest.raises(DataError, match="files not found"):
        fit(config, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@needs_cifar
def test_cifar10_folder_trains_above_chance():
    result = fit(run_config_from_dict({
        "data": {"dataset": "imagefolder", "data_path": str(CIFAR_FOLDER), "subset": 0.05},
        "augment": {"preset": "flip_crop"}, "train": {"epochs": 1}}))
    assert result.test_accuracy > 0.25           # 36% measured after one epoch on 5% (chance: 10%)
    assert result.params == 1_471_466
    assert {row["class"] for row in result.per_class} >= {"cat", "dog"}
