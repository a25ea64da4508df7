"""Every file in sweeps/ works as its README says, the way users run it: from their own project folder (not
the checkout), with relative paths for the data, their model file and the storage, changed only by --set
(the offline data, a tiny subset, 1 epoch, CPU). Data that is not offline (CIFAR-100, the 5 flower
photos) is planned unchanged with --dry-run and trained on a small synthetic stand-in.

Two depths. Every file, in seconds: planned from the project folder (data found, every model built),
every distinct trial configuration trained for an epoch on a sliver of its data (fit(), no Ray). A few
files (END_TO_END), and every file with RAYCNN_TEST_ALL=1 (`make test-all`): the real sweep through Ray,
each trial ending (completed, or stopped early by its scheduler), then `python -m analysis` building
the report. The other Ray paths (ASHA's stops, the tuned searchers, BOHB, faults, kills) have their own
real-Ray tests in test_sweep_ray.py and test_tuned.py; the shipped files add no Ray path of their own."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import CIFAR_PRESENT, MNIST_PRESENT, REPO, SHARED_DATASETS
from raycnn.fit import fit
from raycnn.sweep.__main__ import build_parser, load_with_overrides
from raycnn.sweep.__main__ import run as sweep_cli_main
from raycnn.sweep.expand import expand_trials
from raycnn.sweep.validate import find_problems

SWEEPS = REPO / "sweeps"
TINY = ["fixed.train.epochs=1", "resources.cpus=1", "resources.gpus=0", "fixed.train.device=cpu",
        "fixed.train.precision=fp32"]    # fp32: no timing of bf16 against fp32 for each new model
SHARED = (SHARED_DATASETS / "FashionMNIST").is_dir() and (SHARED_DATASETS / "flowers17").is_dir()
# file -> (--set overrides beyond TINY, the data it needs offline)
RUNS = {
    "quickstart": (["scheduler.grace_period=1"], None),
    "your_model": ([], None),
    "tuned_digits": (["tune.num_samples=2", "tune.confirm_seeds=1", "scheduler.grace_period=1"], None),
    "bohb_digits": (["fixed.train.epochs=2", "tune.num_samples=2", "tune.confirm_seeds=1"], None),
    "pareto_digits": (["tune.num_samples=2", "tune.confirm_seeds=1", "tune.confirm_front=1"], None),
    "kernels": (["fixed.data.data_root=DATA", "fixed.data.subset=0.01", "space.data.dataset=[mnist,fashion_mnist,cifar10]",
                 "space.model.kernel_size=[3]", "space.augment.preset=[flip_crop]", "scheduler.grace_period=1",
                 "max_concurrent=1"], "shared"),
    "custom_vs_alexnet": (["fixed.data.data_root=DATA", "fixed.data.subset=0.02", "seeds=1"], "shared"),
    "sample25": (["fixed.data.data_root=DATA", "fixed.data.subset=0.02", "seeds=1"], "shared"),
    "augmentation": (["fixed.data.data_root=DATA", "fixed.data.subset=0.02", "seeds=1"], "shared"),
    "fashion_mnist": (["fixed.data.data_root=DATA", "fixed.data.subset=0.02", "seeds=1"], "shared"),
    "flowers17": (["fixed.data.data_path=DATA/flowers17", "fixed.data.subset=0.03"], "shared"),   # 1 image a class
    "alexnet_original": (["fixed.data.data_path=STANDIN5", "seeds=1"], "synthetic"),
    "cifar100_kernels": (["fixed.data.dataset=imagefolder", "fixed.data.data_path=STANDIN32", "seeds=1"], "synthetic"),
    "tuned_kernels": (["fixed.data.data_path=STANDIN32", "fixed.data.dataset=imagefolder", "tune.num_samples=2",
                       "tune.confirm_seeds=1", "scheduler.grace_period=1"], "synthetic"),
}
END_TO_END = {"kernels"}   # a relative data root across three datasets and ASHA (a model file from a project
                          # folder through Ray: test_bring_your_own's real sweep)
RUN_ALL = os.environ.get("RAYCNN_TEST_ALL") == "1"
NOT_OFFLINE = {"alexnet_original": "data/flowers", "cifar100_kernels": "cifar100", "tuned_kernels": "cifar100",
               "kernels": "cifar100"}


def test_every_shipped_sweep_file_has_a_run_here():
    assert sorted(RUNS) == sorted(p.stem for p in SWEEPS.glob("*.yaml"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A user's project folder beside nothing of raycnn's: their model file, synthetic stand-ins for the
    data that is not offline; the shared datasets reached by a relative path."""
    folder = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "examples", folder / "examples")
    stand_in(folder / "standin5", classes=5, per_class=4, size=64)
    # CIFAR-100's stand-in: 32x32 like it, 20 classes (a 100-class head changes nothing a trial does here, and
    # the CIFAR-100 recipe's model took 8-14 s a configuration on 100; 100 classes: the faults sweep)
    stand_in(folder / "standin32", classes=20, per_class=3, size=32)
    return folder


def stand_in(root: Path, classes: int, per_class: int, size: int) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", 2)):
        for c in range(classes):
            (root / split / f"c{c:03d}").mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
                    root / split / f"c{c:03d}" / f"{i}.png")


def sweep_cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "raycnn.sweep", *args], cwd=project, capture_output=True,
                          text=True, timeout=600, env=env)


def overrides(project: Path, name: str) -> list[str]:
    data = os.path.relpath(SHARED_DATASETS, project)
    swap = {"DATA": data, "STANDIN5": "standin5", "STANDIN32": "standin32"}
    found = []
    for item in TINY + RUNS[name][0]:
        for word, path in swap.items():
            item = item.replace(word, path)
        found += ["--set", item]
    return found


def skip_without_data(name: str) -> None:
    if RUNS[name][1] == "shared" and not (SHARED and MNIST_PRESENT and CIFAR_PRESENT):
        pytest.skip(f"the offline datasets are not in {SHARED_DATASETS}")


@pytest.mark.parametrize("name", sorted(RUNS))
def test_shipped_sweep_plans_and_each_configuration_trains_from_a_project_folder(project, name, monkeypatch, capsys):
    skip_without_data(name)
    monkeypatch.chdir(project)
    file = os.path.relpath(SWEEPS / f"{name}.yaml", project)
    if name in NOT_OFFLINE:                      # the file as shipped: planned, its data to be downloaded
        assert sweep_cli_main([file, "--dry-run"]) == 0
        assert "trials" in capsys.readouterr().out
    sweep = load_with_overrides(build_parser().parse_args([file, "--storage", "runs", *overrides(project, name)]))
    trials = expand_trials(sweep)
    assert trials and not find_problems(sweep, trials)          # data found, every model built for its input
    paths = [p for t in trials for p in (t.config.data.data_root, t.config.data.data_path) if p]
    assert Path(sweep.storage).is_absolute() and all(Path(p).is_absolute() for p in paths)    # recorded absolute
    for config in distinct_configurations(trials):
        result = fit(sliver(config))
        assert result.status == "completed" and result.epochs_completed == 1, config


def distinct_configurations(trials) -> list:
    """One configuration per trial that differs from the others in more than its seed."""
    found = {}
    for trial in trials:
        config = dataclasses.replace(trial.config, train=dataclasses.replace(trial.config.train, seed=0))
        found.setdefault(repr(config), config)
    return list(found.values())


def sliver(config):
    """One epoch on a few hundred images at most: the configuration's own model, data and recipe."""
    data = config.data
    if data.dataset in ("mnist", "fashion_mnist", "cifar10"):
        data = dataclasses.replace(data, subset=min(data.subset, 0.003))
    return dataclasses.replace(config, data=data, train=dataclasses.replace(config.train, epochs=1))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS) if RUN_ALL else sorted(END_TO_END))
def test_shipped_sweep_runs_end_to_end_from_a_project_folder(project, name):
    skip_without_data(name)
    file = os.path.relpath(SWEEPS / f"{name}.yaml", project)
    run = sweep_cli(project, file, "--storage", "runs", *overrides(project, name))
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    run_dir = project / "runs" / name
    rows = pq.read_table(run_dir / "results" / "trials.parquet").to_pylist()
    assert rows and {r["status"] for r in rows} <= {"completed", "early_stopped"}, \
        [(r["trial_name"], r["status"], r["error"]) for r in rows if r["status"] not in ("completed", "early_stopped")]
    recorded = (run_dir / "sweep.yaml").read_text()
    assert str(project) in recorded and "data_root: data\n" not in recorded     # paths recorded absolute
    report = subprocess.run([sys.executable, "-X", "importtime", "-m", "analysis", f"runs/{name}"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in report.stderr.splitlines() if line.startswith("import time:")]
    assert "analysis.report" in imported and not [m for m in imported if m.split(".")[0] == "raycnn"]  # reads outputs only
    assert (run_dir / "report" / "report.html").stat().st_size > 10_000
    assert json.loads((run_dir / "report" / "findings.json").read_text())["leaderboard"]
