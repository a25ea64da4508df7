"""Faults without Ray: checkpoints cut short or zero bytes, checkpoint writes on a full disk."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import SMALL, SMALL_SET, fill_disk, small_disk
from raycnn import checkpoint as ckpt
from raycnn.config import run_config_from_dict
from raycnn.fit import fit
from test_cli import train


def digits_config(epochs: int):
    return run_config_from_dict({"data": {"dataset": "digits"}, "model": SMALL, "train": {"epochs": epochs}}, "test")


def cut_short(path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_an_unreadable_last_checkpoint_starts_the_run_over_with_one_warning(tmp_path, keep):
    out = tmp_path / "run"
    small = (*SMALL_SET, "--precision", "fp32")
    assert train("--epochs", "2", "--out", str(out), "--quiet", *small).returncode == 0
    cut_short(out / "checkpoints" / "last.pt", keep)
    resumed = train("--epochs", "3", "--out", str(out), "--resume", *small)
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
    from raycnn.sweep.trial_checkpoints import Superseded, TrialCheckpoints

    own = TrialCheckpoints(str(tmp_path / "runs" / "sweep"), "t0001")
    own.claim()
    for epochs in (1, 2, 3):                 # as the trial saves them: the last two are kept
        fit(digits_config(epochs), out_dir=tmp_path / "run", resume=True)
        own.save(tmp_path / "run" / "checkpoints", epochs)
    folder = tmp_path / "runs" / "sweep" / "checkpoints" / "t0001"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch-00002", "epoch-00003", "owner"]
    (folder / "epoch-00003" / "last.pt").write_bytes(b"")
    (folder / ".epoch-00004.123-abcdef.tmp").mkdir()         # left by a kill mid-copy: never read
    work = tmp_path / "work"
    resumed, warnings = own.restore(work)
    assert resumed and warnings == [f"{folder / 'epoch-00003' / 'last.pt'} is unreadable (zero bytes); "
                                    f"continued from {folder / 'epoch-00002'}"]
    assert torch.load(work / "last.pt", weights_only=True)["state"]["epoch"] == 2
    assert not (folder / ".epoch-00004.123-abcdef.tmp").exists()
    cut_short(folder / "epoch-00002" / "best.pt", 0.3)
    resumed, warnings = own.restore(work)
    assert not resumed and not work.exists()
    assert warnings[0].endswith("no readable checkpoint left, started over from epoch 1")
    assert "epoch-00002/best.pt is unreadable" in warnings[0]
    newer = TrialCheckpoints(str(tmp_path / "runs" / "sweep"), "t0001")
    newer.claim()                            # a newer attempt took over: the old one stops writing
    with pytest.raises(Superseded):
        own.save(tmp_path / "run" / "checkpoints", 4)
    assert not (folder / "epoch-00004").exists()


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
