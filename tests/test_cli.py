"""`python -m raycnn.train` as a user runs it: files written, resume, one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from cli_process import run_cli
from conftest import REPO

RESULT_KEYS = {"test_accuracy", "test_loss", "val_accuracy", "params", "train_seconds",
               "train_images_per_second", "epochs_completed", "per_class", "confusion", "config", "environment"}


def train(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """`python -m raycnn.train ARGS` run by the test worker's long-lived CLI process (cli_process): the same
    main(), output and exit code, without an interpreter's start and torch's import (~4 s) per command.
    Its stdout ends with the NO-RAY / RAY-IMPORTED line."""
    return run_cli("raycnn.train", *args, cwd=cwd or REPO)


def train_process(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """`python -m raycnn.train ARGS` as a process of its own, exactly as a user starts it."""
    return subprocess.run([sys.executable, "-m", "raycnn.train", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


def test_one_run_writes_result_config_and_checkpoints(tmp_path):
    out = tmp_path / "run"
    done = train_process("--dataset", "digits", "--arch", "alexnet_small", "--epochs", "2", "--augment", "flip_crop",
                 "--kernel-size", "5", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "epoch   2" in done.stdout and "test accuracy" in done.stdout
    result = json.loads((out / "result.json").read_text())
    assert RESULT_KEYS <= set(result)
    assert result["epochs_completed"] == 2 and len(result["per_class"]) == 10
    assert set(result["per_class"][0]) == {"class", "precision", "recall", "f1", "support"}
    assert result["config"]["model"] == {**result["config"]["model"], "arch": "alexnet_small", "kernel_size": 5}
    assert result["environment"]["torch"] and result["environment"]["device"] == "cpu"
    assert yaml.safe_load((out / "config.yaml").read_text()) == result["config"]
    assert (out / "checkpoints" / "best.pt").exists() and (out / "checkpoints" / "last.pt").exists()
    from conftest import read_hparams, read_images, read_scalars, read_status
    from raycnn.tensorboard import EPOCH_TAGS

    scalars = read_scalars(out / "tensorboard" / "alexnet_small-digits-flip_crop-k5-s0")
    f1_tags = {f"classes/f1/{d}" for d in "0123456789"}
    assert set(scalars) == set(EPOCH_TAGS) | {"test/accuracy", "params", "time/train_seconds", "trial/status"} | f1_tags
    images = read_images(out / "tensorboard" / "alexnet_small-digits-flip_crop-k5-s0")
    assert min(images["test/confusion_matrix"]) >= 10 * 48    # 10 classes, 48 px cells and labels
    assert set(images) == {"test/confusion_matrix", "test/per_class_f1", "test/misclassified"}
    assert [s for s, _ in scalars["train/loss"]] == [1, 2] and scalars["params"][-1][1] == result["params"]
    assert scalars["val/accuracy"][-1][1] == pytest.approx(result["history"][-1]["val_accuracy"])
    hparams, _ = read_hparams(out / "tensorboard" / "alexnet_small-digits-flip_crop-k5-s0")
    assert hparams["model.arch"] == "alexnet_small" and hparams["model.kernel_size"] == 5
    status = read_status(out / "tensorboard" / "alexnet_small-digits-flip_crop-k5-s0")
    assert status == {"code": 1, "texts": ["completed"], "end": "STATUS_SUCCESS"}


def test_resume_continues_and_a_rerun_is_refused(tmp_path):
    out = str(tmp_path / "run")
    assert train("--epochs", "1", "--out", out).returncode == 0
    again = train("--epochs", "1", "--out", out)
    assert again.returncode == 2 and "already holds a run; pass --resume" in again.stderr
    resumed = train("--epochs", "3", "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch   1" not in resumed.stdout and "epoch   3" in resumed.stdout
    assert json.loads((tmp_path / "run" / "result.json").read_text())["epochs_completed"] == 3


def test_config_file_and_set_overrides(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model: {filters: [16, 32], convs_per_block: 1}\ntrain: {epochs: 1, optimizer: sgd, lr: 0.05}\n")
    out = tmp_path / "run"
    done = train("--config", str(config), "--set", "model.dropout=0.4", "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    saved = json.loads((out / "result.json").read_text())["config"]
    assert saved["model"]["filters"] == [16, 32] and saved["model"]["dropout"] == 0.4
    assert saved["train"]["optimizer"] == "sgd"


@pytest.mark.parametrize("args,message", [
    (["--arch", "vgg16"], "model.arch: 'vgg16' is not valid; choose one of: airbench, alexnet, alexnet_cifar"),
    (["--dataset", "svhn"], "data.dataset: 'svhn' is not valid; choose one of: cifar10"),
    (["--epochs", "-3"], "train.epochs: -3 is out of range; it must be >= 1"),
    (["--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
    (["--arch", "alexnet"], "alexnet with kernel size 3 cannot take 1x8x8 inputs"),
    (["--dataset", "mnist", "--data-root", "{tmp}/nothing", "--no-download"],
     "files not found in {tmp}/nothing/MNIST/raw and download is off"),
    (["--dataset", "mnist", "--data-root", "{tmp}/offline"], "files not found in {tmp}/offline/MNIST/raw and"),
    (["--dataset", "imagefolder"], "the imagefolder dataset needs a folder; pass --data-path"),
    (["--set", "model.widht=3"], "model.widht: unknown key"),
    (["--config", "{tmp}/missing.yaml"], "--config {tmp}/missing.yaml: cannot read it"),
    (["--resume"], "holds no checkpoint to continue"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = run_cli("raycnn.train", *args, "--out", str(tmp_path / "out"))   # the real command: the tests above
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert message.replace("{tmp}", str(tmp_path)) in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out" / "result.json").exists()
