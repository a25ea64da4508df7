"""Paths mean what they meant where the user typed them; numbers are numbers however ML people write them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from cli_process import run_cli
from conftest import REPO
from raycnn.config import replace_field, run_config_from_dict
from raycnn.errors import ConfigError
from raycnn.sweep.placement import autoscaler_nodes, check_cluster, check_local
from raycnn.sweep.spec import load_sweep, sweep_from_dict
from raycnn.yamlfile import load_yaml

BASE = {"name": "t", "question": "q?", "fixed": {"train": {"epochs": 2}}}


@pytest.mark.parametrize("text,number", [("1e-3", 1e-3), ("5e-4", 5e-4), ("1E-5", 1e-5), (".5", 0.5), ("-.5", -0.5),
                                         ("+2e3", 2000.0), ("3", 3), ("1.5e-2", 0.015)])
def test_numbers_as_ml_people_write_them(text, number):
    assert load_yaml(text) == number and type(load_yaml(text)) is type(number)


def test_words_stay_words_and_plain_yaml_is_untouched():
    assert load_yaml("[none, e5, 1e, 1.2.3, adam]") == ["none", "e5", "1e", "1.2.3", "adam"]
    assert yaml.safe_load("1e-3") == "1e-3"          # PyYAML's own loader is left as it was


def test_sweep_file_numbers_in_fixed_and_tune_space(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nquestion: q?\nfixed: {train: {lr: 1e-3, weight_decay: 5E-4, epochs: 2}}\n"
                    "space: {model.arch: [custom_cnn, alexnet_small]}\n"
                    "tune: {space: {train.weight_decay: {loguniform: [1e-5, 1e-2]}}, num_samples: 2}\n")
    sweep = load_sweep(path)
    assert sweep.fixed.train.lr == 1e-3 and sweep.fixed.train.weight_decay == 5e-4
    assert sweep.tune.space[0].values == (1e-5, 1e-2)


def test_a_value_that_is_not_a_number_says_what_and_where(tmp_path):
    with pytest.raises(ConfigError, match=r"s.yaml: fixed: train.lr: expected a number, got 'fast'"):
        sweep_from_dict({**BASE, "fixed": {"train": {"lr": "fast"}}}, "s.yaml")
    with pytest.raises(ConfigError, match=r"tune.space.train.lr.loguniform: expected numbers, got 'low'"):
        sweep_from_dict({**BASE, "space": {"model.kernel_size": [3]},
                         "tune": {"space": {"train.lr": {"loguniform": ["low", 0.1]}}}}, "s.yaml")


def test_train_cli_takes_scientific_numbers_from_set_and_config(tmp_path):
    from raycnn.train import build_parser, config_from_args

    config_file = tmp_path / "run.yaml"
    config_file.write_text("train: {weight_decay: 1e-4, lr: .5}\n")
    args = build_parser().parse_args(["--config", str(config_file), "--set", "train.lr=1e-3", "--set",
                                      "train.label_smoothing=1E-1"])
    config = config_from_args(args)
    assert (config.train.lr, config.train.weight_decay, config.train.label_smoothing) == (1e-3, 1e-4, 0.1)


def test_relative_paths_are_absolute_against_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = run_config_from_dict({"data": {"dataset": "imagefolder", "data_path": "photos", "cache_dir": "~/c",
                                            "data_root": "../shared"}})
    assert config.data.data_path == str(tmp_path / "photos")
    assert config.data.data_root == str(tmp_path.parent / "shared")      # normalised, no ".."
    assert config.data.cache_dir == os.path.expanduser("~/c")
    assert run_config_from_dict({}).data.data_root == str(tmp_path / "data")   # the default too
    moved = replace_field(config, "data.data_path", "other")
    assert moved.data.data_path == str(tmp_path / "other")
    assert run_config_from_dict(config.to_dict()) == config                 # what a trial rebuilds is the same


def test_a_model_file_reference_is_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "tiny.py").write_text((REPO / "examples" / "tiny_net.py").read_text())
    monkeypatch.chdir(tmp_path)
    config = run_config_from_dict({"model": {"arch": "nets/tiny.py:TinyNet"}})
    assert config.model.arch == f"{tmp_path / 'nets' / 'tiny.py'}:TinyNet"
    assert run_config_from_dict({"model": {"arch": "alexnet_small"}}).model.arch == "alexnet_small"


def test_sweep_storage_and_data_are_absolute_in_the_loaded_sweep(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = sweep_from_dict({**BASE, "storage": "out/runs", "fixed": {"data": {"data_root": "d"}},
                             "space": {"data.data_root": ["d1", "d2"]}}, "s.yaml")
    assert sweep.storage == str(tmp_path / "out" / "runs")
    assert sweep.fixed.data.data_root == str(tmp_path / "d")
    from raycnn.sweep.expand import expand_trials

    assert [t.config.data.data_root for t in expand_trials(sweep)] == [str(tmp_path / "d1"), str(tmp_path / "d2")]


def test_set_reaches_a_space_key_with_dots(tmp_path):
    from raycnn.sweep.__main__ import build_parser, load_with_overrides

    args = build_parser().parse_args([str(REPO / "sweeps" / "quickstart.yaml"), "--set", "space.model.kernel_size=[7]",
                                      "--set", "fixed.train.lr=2e-3"])
    sweep = load_with_overrides(args)
    assert {d.key: d.values for d in sweep.space}["model.kernel_size"] == (7,)
    assert sweep.fixed.train.lr == 2e-3


# --- placement: a sweep that cannot place a trial says so -----------------------------------------

def test_local_sweep_asking_for_a_gpu_here_is_refused_naming_the_setting():
    with pytest.raises(ConfigError, match=r"resources.gpus: each trial asks for 0.5 GPU, but this machine has none.*"
                                          r"--set resources.gpus=0"):
        check_local(1, 0.5, {"CPU": 2, "GPU": 0})
    with pytest.raises(ConfigError, match=r"resources.cpus: each trial asks for 4 CPUs, this machine has 2"):
        check_local(4, 0, {"CPU": 2, "GPU": 0})
    with pytest.raises(ConfigError, match=r"asks for 2 GPUs, this machine has 1"):
        check_local(1, 2, {"CPU": 8, "GPU": 1})
    check_local(2, 0.25, {"CPU": 2, "GPU": 1})


def test_cluster_placement_waits_only_for_nodes_an_autoscaler_can_add():
    cpu_head = [{"CPU": 4.0, "memory": 1e9}]
    assert check_cluster(1, 0, cpu_head, []) is None
    waiting = check_cluster(1, 0.25, cpu_head, autoscaler_nodes("CPU=4,GPU=1"))
    assert "waiting for the autoscaler to add a node of 4 CPU, 1 GPU" in waiting and "4 CPU, 0 GPU" in waiting
    with pytest.raises(ConfigError, match=r"each trial asks for 1 CPU and 2 GPU on one node, the cluster has: "
                                          r"4 CPU, 0 GPU; 8 CPU, 1 GPU; the autoscaler may add: 4 CPU, 1 GPU"):
        check_cluster(1, 2, cpu_head + [{"CPU": 8.0, "GPU": 1.0}], autoscaler_nodes("CPU=4,GPU=1"))
    with pytest.raises(ConfigError, match="expected node shapes like"):
        autoscaler_nodes("GPU")


def test_gpu_sweep_on_this_machine_is_refused_before_ray_starts(tmp_path):
    """The issue's case: the quickstart with resources.gpus=0.5 on a machine without a GPU."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    run = run_cli("raycnn.sweep.__main__", REPO / "sweeps" / "quickstart.yaml", "--set", "resources.gpus=0.5",
                  "--storage", tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "NO-RAY" in run.stdout, run.stderr
    assert "--set resources.gpus=0" in run.stderr and not list(Path(tmp_path).iterdir())
