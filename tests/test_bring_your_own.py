"""Your own model and data, and torchvision's zoo: in raycnn.train, in a real Ray sweep, and every
bad input as one line with exit 2 before any training."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cli_process import run_cli
from conftest import REPO, SHARED_DATASETS, SMALL_SET, needs_mnist
from test_cli import train

MODELS = '''
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, in_channels, num_classes, width=8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.body(x)


def raises(num_classes):
    raise ValueError("width must be even")


def three_logits(in_channels, num_classes):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
'''

DATA = '''
import torch
from torch.utils.data import Dataset


class Bars(Dataset):
    classes = ["none", "row", "column"]

    def __init__(self, train=True):
        self.count = 240 if train else 60
        self.noise = torch.rand(self.count, 10, 10, generator=torch.Generator().manual_seed(int(train))) * 0.3

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        label, image = index % 3, self.noise[index].clone()
        if label == 1:
            image[4:6, :] += 0.7
        if label == 2:
            image[:, 4:6] += 0.7
        return image.clamp(0, 1).unsqueeze(0), label


class Unlabelled(Bars):
    def __getitem__(self, index):
        return super().__getitem__(index)[0]
'''


@pytest.fixture
def code_dir(tmp_path) -> Path:
    (tmp_path / "my_models.py").write_text(MODELS)
    (tmp_path / "my_data.py").write_text(DATA)
    (tmp_path / "broken.py").write_text("import numpy\nraise ImportError('needs the lab_tools package')\n")
    return tmp_path


def test_a_model_from_your_own_file_trains_and_is_recorded(code_dir):
    done = train("--arch", "my_models.py:TinyNet", "--set", "model.kwargs.width=12", "--epochs", "1",
                 "--out", "run", "--quiet", cwd=code_dir)
    assert done.returncode == 0, done.stderr
    result = json.loads((code_dir / "run" / "result.json").read_text())
    (record,) = result["code"]
    assert record["ref"] == f"{code_dir / 'my_models.py'}:TinyNet" and record["path"] == str(code_dir / "my_models.py")
    assert record["sha256"] == hashlib.sha256(MODELS.encode()).hexdigest()
    assert result["params"] == (1 * 12 * 9 + 12) + (12 * 10 + 10)            # conv + linear, width 12
    assert result["config"]["model"]["kwargs"] == {"width": 12}


def test_your_own_dataset_class_trains_with_its_class_names(code_dir):
    done = train("--dataset", "my_data.py:Bars", "--arch", "my_models.py:TinyNet", "--epochs", "3", "--lr", "0.01",
                 "--out", "run", "--quiet", cwd=code_dir)
    assert done.returncode == 0, done.stderr
    result = json.loads((code_dir / "run" / "result.json").read_text())
    assert [c["class"] for c in result["per_class"]] == ["none", "row", "column"]
    assert sum(c["support"] for c in result["per_class"]) == 60                  # its own test split
    assert result["test_accuracy"] > 0.34


@needs_mnist
def test_a_torchvision_dataset_by_name_reads_the_offline_folder(tmp_path):
    done = train("--dataset", "torchvision/MNIST", "--data-root", str(SHARED_DATASETS), "--no-download",
                 "--subset", "0.02", "--epochs", "3", "--batch-size", "32", "--out", str(tmp_path / "run"), "--quiet",
                 *SMALL_SET, "--precision", "fp32")
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert [c["class"] for c in result["per_class"]] == [str(d) for d in range(10)]
    assert abs(sum(c["support"] for c in result["per_class"]) - 200) <= 10   # 2% of each class of 10,000
    assert result["test_accuracy"] > 0.5


def test_a_torchvision_zoo_model_trains_at_the_smallest_size_it_reports(tmp_path):
    from raycnn.models import build_model, count_parameters

    small = train("--arch", "torchvision/squeezenet1_1", "--epochs", "1", "--out", str(tmp_path / "a"))
    assert small.returncode == 2 and "pass --image-size 24 (the smallest size that works)" in small.stderr
    assert not (tmp_path / "a").exists()
    done = train("--arch", "torchvision/squeezenet1_1", "--image-size", "24", "--subset", "0.5", "--epochs", "1",
                 "--out", str(tmp_path / "b"), "--quiet")
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "b" / "result.json").read_text())
    assert result["epochs_completed"] == 1 and len(result["per_class"]) == 10
    expected = build_model("torchvision/squeezenet1_1", in_channels=1, num_classes=10, input_size=(24, 24))
    assert result["params"] == count_parameters(expected)     # grey input, 10-class head
    listed = train("--list-models")
    assert listed.returncode == 0 and "torchvision/convnext_tiny" in listed.stdout and "custom_cnn" in listed.stdout


@pytest.mark.parametrize("args, message", [
    (["--arch", "missing.py:Net"], "missing.py: no such file"),
    (["--arch", "broken.py:Net"], "model.arch: importing"),
    (["--arch", "my_models.py:Nope"], "my_models.py has no 'Nope'; it defines: TinyNet"),
    (["--arch", "my_models.py:raises"], "raised ValueError: width must be even"),
    (["--arch", "my_models.py:three_logits"], "has shape (2, 3), not (2, 10): one logit per class"),
    (["--arch", "my_models.py:TinyNet", "--set", "model.dropout=0.2"], "does not take this option; its options are: width"),
    (["--arch", "no_such_package.nets:build"], "no module named 'no_such_package'"),
    (["--arch", "torchvision/resnet5000"], "torchvision has no classification model 'resnet5000'"),
    (["--dataset", "my_data.py:Unlabelled"], "item 0 is a Tensor, not (image, label)"),
    (["--dataset", "torchvision/SVHN", "--data-root", "nowhere", "--no-download"], "nowhere and download is off"),
])
def test_bad_own_code_is_one_line_and_exit_2(code_dir, args, message, monkeypatch, capsys):
    from raycnn.train import main       # in this process: one CLI start per case would cost ~4 s each

    monkeypatch.chdir(code_dir)
    code = main([*args, "--epochs", "1", "--out", "run"])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if "broken.py" in args:
        assert "ImportError: needs the lab_tools package" in err
    assert not (code_dir / "run").exists()


def test_pretrained_weights_offline_are_one_line_and_exit_2(tmp_path):
    import socket

    import torch

    if list((Path(torch.hub.get_dir()) / "checkpoints").glob("squeezenet1_1-*")):
        pytest.skip("the weights are cached on this machine")
    try:
        socket.getaddrinfo("download.pytorch.org", 443)
        pytest.skip("download.pytorch.org resolves here: the weights could download")
    except OSError:
        pass
    done = train("--arch", "torchvision/squeezenet1_1", "--weights", "DEFAULT", "--image-size", "24", "--epochs", "1",
                 "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and "model.weights: cannot download the DEFAULT weights" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == "NO-RAY\n" and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_model_from_a_file_runs_in_a_real_sweep_in_two_processes_and_a_second_ctrl_c_quits_at_once(code_dir):
    sweep = code_dir / "mine.yaml"
    sweep.write_text("""
name: mine
question: does my model run in Ray?
fixed: {data: {dataset: digits}, train: {epochs: 2, device: cpu}}
variants:
  - {model: {arch: my_models.py:TinyNet, kwargs: {width: 4}}}
  - {model: {arch: my_models.py:TinyNet, kwargs: {width: 16}}}
scheduler: {kind: fifo}
resources: {cpus: 1, gpus: 0}
max_concurrent: 2
""")
    from raycnn.sweep.trainable import HOLD
    from test_sweep_ray import finish, wait_for_trials

    command = [sys.executable, "-m", "raycnn.sweep", str(sweep), "--storage", str(code_dir / "runs")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    never = code_dir / "never"              # both trials wait after epoch 1: two processes, whatever the timing
    process = subprocess.Popen(command, cwd=code_dir, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, env={**env, HOLD: f"1:{never}"})
    run = code_dir / "runs" / "mine"
    wait_for_trials(run, process, "both trials held after epoch 1", lambda rows: len(rows) == 2 and all(
        r["status"] == "running" and r["epochs_completed"] == 1 and r["pid"] for r in rows))
    sent = time.monotonic()                 # Ctrl-C twice: the second quits at once, whatever the trials do
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process, timeout=60)
    assert time.monotonic() - sent < 10 and code == 130, err[-2000:]
    # the resume hint: from the second Ctrl-C (stderr), or from the summary (stdout) when the first one had
    # already stopped everything before the second arrived (a fresh clone's run hit that order once)
    assert "raycnn: Ctrl-C: stopping" in err and "continue with the same command plus --resume" in out + err
    assert "Traceback" not in err
    rows = sorted(pq.read_table(run / "results" / "trials.parquet").to_pylist(), key=lambda r: r["trial_id"])
    assert all(r["epochs_completed"] >= 1 for r in rows) and rows[0]["pid"] != rows[1]["pid"]   # kept
    assert [r["params"] for r in rows] == [4 * 9 + 4 + 4 * 10 + 10, 16 * 9 + 16 + 16 * 10 + 10]
    assert rows[0]["trial_name"] == "TinyNet-digits-flip_shift-k3-s0-v1" and rows[0]["arch"] == "my_models.py:TinyNet"
    digest = hashlib.sha256(MODELS.encode()).hexdigest()
    assert all(json.loads(r["code"])[0]["sha256"] == digest for r in rows)
    assert (run / "code" / digest[:12] / "my_models.py").read_text() == MODELS      # what every trial loaded
    (code_dir / "my_models.py").write_text(MODELS + "\n# edited\n")
    again = run_cli("raycnn.sweep.__main__", *command[3:], "--resume", cwd=code_dir)   # refused before Ray
    assert again.returncode == 2 and "my_models.py:TinyNet (content" in again.stderr, again.stderr
