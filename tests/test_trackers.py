"""Trackers that cannot start are refused in one line before any trial; the real-store checks (every trial a
run, params, per-epoch history, no duplicate after kill -9 and --resume) run in test_sweep_ray's kill test."""

from __future__ import annotations

import sys

import pytest

from conftest import REPO
from raycnn.errors import ConfigError
from raycnn.sweep.trackers import check_trackers


def test_an_unknown_tracker_is_refused():
    with pytest.raises(ConfigError, match="'neptune' is not a tracker raycnn knows; choose from: mlflow, wandb"):
        check_trackers(("neptune",), "/tmp/x")


def test_a_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ConfigError, match=r"mlflow needs the mlflow package: pip install 'raycnn\[mlflow\]'"):
        check_trackers(("mlflow",), "/tmp/x")


def test_a_tracking_uri_that_does_not_answer_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"mlflow cannot use the tracking store http://127.0.0.1:9 .*MLFLOW_TRACKING_URI"):
        check_trackers(("mlflow",), str(tmp_path))


def test_the_default_store_is_sqlite_in_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    check_trackers(("mlflow",), str(tmp_path / "run"))
    assert (tmp_path / "run" / "mlflow.db").exists()


def test_wandb_online_without_a_key_is_refused(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="WANDB_API_KEY is not set"):
        check_trackers(("wandb",), "/tmp/x")


def test_a_sweep_with_a_bad_tracker_exits_2_in_one_line_before_ray(tmp_path, capsys):
    from raycnn.sweep.__main__ import main

    code = main([str(REPO / "sweeps" / "quickstart.yaml"), "--tracker", "neptune", "--storage", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "trackers: 'neptune' is not valid" in err
