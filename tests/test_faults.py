"""Faults without Ray: checkpoints cut short or zero bytes, checkpoint writes on a full disk."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import fill_disk, small_disk
from raycnn import checkpoint as ckpt
from raycnn.config import run_config_from_dict
from raycnn.fit import fit
from test_cli import train


def digits_config(epochs: int):
    return run_config_from_dict({"data": {"dataset": "digits"}, "train": {"epochs": epochs}}, "test")


def cut_short(path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_an_unreadable_last_checkpoint_starts_the_run_over_with_one_warning(tmp_path, keep):
    out = tmp_path / "run"
    assert train("--epochs", "2", "--out", str(out), "--quiet").returncode == 0
    cut_short(out / "checkpoints" / "last.pt", keep)
    resumed = train("--epochs", "3", "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    warnings = [line for line in resumed.stderr.splitlines() if "warning" in line]
    assert warnings == [f"raycnn: warning: {out / 'checkpoints' / 'last.pt'} is unreadable "
                        f"({'zero bytes' if keep == 0 else warnings[0].split('(', 1)[1].split(')')[0]}); "
                        f"starting this run over from epoch 1"]
    assert "epoch   1" in resumed.stdout and "Traceback" not in resumed.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["epochs_completed"] == 3 and [h["epoch"] for h in result["history"]] == [1, 2, 3]
    ckpt.check_readable(out / "checkpoints")           # and the new checkpoint is whole


def test_a_sweep_trial_passes_over_an_unreadable_checkpoint_for_the_older_one(tmp_path):
    from ray import tune

    from raycnn.sweep.trainable import restore_checkpoint

    trial = tmp_path / "t0001-custom_cnn"
    for epochs in (1, 2):                    # the two checkpoints Tune keeps, as Tune lays them out
        fit(digits_config(epochs), out_dir=tmp_path / "run", resume=True)
        shutil.copytree(tmp_path / "run" / "checkpoints", trial / f"checkpoint_00000{epochs - 1}")
    newest = trial / "checkpoint_000001"
    (newest / "last.pt").write_bytes(b"")
    work = tmp_path / "work"
    resumed, warnings = restore_checkpoint(tune.Checkpoint(str(newest)), work)
    assert resumed and len(warnings) == 1
    assert warnings[0] == (f"{newest / 'last.pt'} is unreadable (zero bytes); "
                           f"continued from {trial / 'checkpoint_000000'}")
    assert torch.load(work / "last.pt", weights_only=True)["state"]["epoch"] == 1
    cut_short(trial / "checkpoint_000000" / "best.pt", 0.3)
    resumed, warnings = restore_checkpoint(tune.Checkpoint(str(newest)), work)
    assert not resumed and not work.exists()
    assert warnings[0].endswith("no readable checkpoint left, started over from epoch 1")
    assert "checkpoint_000000/best.pt is unreadable" in warnings[0]


def test_a_checkpoint_write_on_a_full_disk_keeps_the_previous_one(tmp_path):
    with small_disk(tmp_path / "disk", 16) as disk:
        fit(digits_config(1), out_dir=disk / "run")
        before = (disk / "run" / "checkpoints" / "last.pt").read_bytes()
        fill_disk(disk)
        with pytest.raises(OSError):
            fit(digits_config(2), out_dir=disk / "run", resume=True)
        left = sorted(p.name for p in (disk / "run" / "checkpoints").iterdir())
        assert left == ["best.pt", "last.pt"]        # no half-written file beside them
        assert (disk / "run" / "checkpoints" / "last.pt").read_bytes() == before
