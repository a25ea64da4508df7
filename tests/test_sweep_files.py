"""Sweep files: loading, validation, expansion, dry runs and bad input; nothing here starts Ray."""

from __future__ import annotations

import subprocess

import pytest

from cli_process import run_cli
from conftest import REPO, fill_disk, small_disk
from raycnn.errors import ConfigError
from raycnn.sweep.hyperband import asha_epochs
from raycnn.sweep.expand import expand_trials
from raycnn.sweep.spec import load_sweep, sweep_from_dict
from raycnn.sweep.validate import find_problems

SWEEP_FILES = sorted((REPO / "sweeps").glob("*.yaml"))
BASE = {"name": "t", "question": "q?", "fixed": {"train": {"epochs": 4}}}


def test_there_are_sweep_files():
    assert {p.stem for p in SWEEP_FILES} >= {"quickstart"}


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_every_sweep_file_loads_and_opens_with_its_question(path):
    sweep = load_sweep(path)
    assert path.read_text().lstrip().startswith("# Question:")
    trials = expand_trials(sweep)
    assert trials and len({t.name for t in trials}) == len(trials)


def test_quickstart_is_valid_offline_and_varies_three_axes():
    sweep = load_sweep(REPO / "sweeps" / "quickstart.yaml")
    trials = expand_trials(sweep)
    assert len(trials) == 8 and sweep.scheduler.kind == "asha"
    assert find_problems(sweep, trials) == []
    assert {t.config.data.dataset for t in trials} == {"digits"}


def test_grid_times_samples_times_seeds():
    sweep = sweep_from_dict({**BASE, "space": {"model.kernel_size": [3, 5], "train.lr": {"loguniform": [1e-4, 1e-2]},
                                               "augment.preset": {"choice": ["none", "standard"]}},
                             "num_samples": 3, "seeds": 2}, "s.yaml")
    trials = expand_trials(sweep)
    assert len(trials) == 2 * 3 * 2
    assert all(1e-4 <= t.config.train.lr <= 1e-2 for t in trials)
    assert [t.config.train.seed for t in trials[:4]] == [0, 1, 0, 1]
    assert trials[0].config.train.lr == trials[1].config.train.lr       # seeds repeat one configuration
    assert len({t.trial_id for t in trials}) == 12 and trials[0].trial_id == "t0001"
    assert expand_trials(sweep) == trials                                # the same list on every run
    assert "s0" in trials[0].name and "lr=" in trials[0].name


@pytest.mark.parametrize("raw,message", [
    ({**BASE, "epochs": 3}, "unknown key 'epochs'; valid keys:"),
    ({"name": "t", "fixed": {}}, "question: required"),
    ({**BASE, "fixed": {"model": {"arch": "vgg"}}}, "fixed: model.arch: 'vgg' is not valid"),
    ({**BASE, "space": {"model.arch": ["custom_cnn", "vgg"]}}, "space.model.arch: model.arch: 'vgg' is not valid"),
    ({**BASE, "space": {"lr": [0.1]}}, "space.lr: not a config key"),
    ({**BASE, "space": {"train.lr": {"loguniform": [0, 1]}}}, "loguniform: expected [low, high] with low < high and low > 0"),
    ({**BASE, "space": {"train.lr": {"normal": [0, 1]}}}, "expected a list or one of"),
    ({**BASE, "scheduler": {"kind": "pbt"}}, "scheduler.kind: 'pbt' is not valid; choose one of: asha, fifo"),
    ({**BASE, "scheduler": {"grace": 2}}, "scheduler.grace: unknown key; valid keys: kind, grace_period"),
    ({**BASE, "resources": {"gpus": "half"}}, "resources.gpus: expected a number"),
    ({**BASE, "name": "a b"}, "name: 'a b' is used as a folder name"),
])
def test_bad_sweep_values_name_file_and_key(raw, message):
    with pytest.raises(ConfigError) as err:
        sweep_from_dict(raw, "bad.yaml")
    assert str(err.value).startswith("bad.yaml: ") and message in str(err.value)


def test_impossible_combinations_and_missing_data_are_found_per_trial(tmp_path):
    sweep = sweep_from_dict({**BASE, "space": {"model.arch": ["custom_cnn", "alexnet"],
                                               "data.dataset": ["digits", "mnist"]},
                             "fixed": {"data": {"data_root": str(tmp_path), "download": False}}}, "s.yaml")
    problems = {p.trial.name: p.message for p in find_problems(sweep, expand_trials(sweep))}
    assert set(problems) == {"alexnet-digits-flip_shift-k3-s0", "alexnet-mnist-flip_shift-k3-s0",
                             "custom_cnn-mnist-flip_shift-k3-s0"}
    assert "--image-size" in problems["alexnet-digits-flip_shift-k3-s0"]
    assert "files not found" in problems["custom_cnn-mnist-flip_shift-k3-s0"]


def test_asha_budget_estimate():
    sweep = sweep_from_dict({**BASE, "fixed": {"train": {"epochs": 12}}, "space": {"train.seed": [0, 1, 2, 3]},
                             "scheduler": {"grace_period": 3, "reduction_factor": 2}}, "s.yaml")
    # per trial: 3 epochs, half go on to 6 (+1.5), a quarter to 12 (+1.5)
    assert asha_epochs(sweep, expand_trials(sweep)) == 24
    assert sweep.scheduler.rungs(12) == [3, 6] and sweep.scheduler.rungs(3) == []


def sweep_cli(*args, cwd=REPO) -> subprocess.CompletedProcess:
    """`python -m raycnn.sweep ARGS` through the worker's CLI process; its stdout ends with NO-RAY when Ray
    was never imported (every command here stops before Ray)."""
    return run_cli("raycnn.sweep.__main__", *args, cwd=cwd)


def test_dry_run_lists_trials_and_budget():
    done = sweep_cli("sweeps/quickstart.yaml", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "t0008" in done.stdout and "8 trials; a full grid is 96 epochs" in done.stdout
    assert "NO-RAY" in done.stdout


@pytest.mark.parametrize("content,message", [
    ("name: [unclosed", "not valid YAML"),
    ("name: x\nquestion: q\nfixed: {}\nshedule: 1\n", "unknown key 'shedule'"),
    ("name: x\nquestion: q\nspace: {model.arch: [custom_cnn, lenet]}\n", "'lenet' is not valid"),
    ("name: x\nquestion: q\nfixed: {model: {arch: alexnet}}\n", "1 trial(s) cannot run"),
    ("name: x\nquestion: q\nfixed: {data: {dataset: cifar10, data_root: /nonexistent, download: false}}\n",
     "files not found in /nonexistent"),
    ("name: x\nquestion: q\nfixed: {train: {epochs: 1}}\nspace: {train.lr: [0.1, 0.01]}\n"  # was a traceback, after Ray
     "scheduler: {kind: asha, grace_period: 3}\n", "scheduler.grace_period 3 is past the 1 epoch of the longest trial"),
])
def test_bad_sweep_files_exit_2_before_ray(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    done = sweep_cli(str(path), "--storage", str(tmp_path / "runs"))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "NO-RAY" in done.stdout and not (tmp_path / "runs").exists()


def test_existing_run_name_is_refused_before_ray(tmp_path):
    (tmp_path / "runs" / "quickstart").mkdir(parents=True)
    (tmp_path / "runs" / "quickstart" / "sweep.yaml").write_text("name: quickstart\n")
    done = sweep_cli("sweeps/quickstart.yaml", "--storage", str(tmp_path / "runs"))
    assert done.returncode == 2 and "already holds a sweep named 'quickstart'; pass --resume" in done.stderr
    assert "NO-RAY" in done.stdout


def test_a_cluster_address_nothing_answers_at_is_refused_before_ray(tmp_path):
    import socket

    with socket.socket() as probe:                 # a port of this machine's that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = sweep_cli("sweeps/quickstart.yaml", "--storage", str(tmp_path / "runs"), "--address", f"127.0.0.1:{port}")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "NO-RAY" in done.stdout
    assert not list((tmp_path / "runs").glob("*/sweep.yaml"))     # nothing of a run written
    assert done.stderr.strip() == (f"error: --address 127.0.0.1:{port}: nothing answers there (Connection refused); "
                                   f"start the cluster (`ray start --head --port {port}` on its head) or pass the "
                                   f"address `ray status` shows there")


def test_storage_with_a_missing_parent_is_refused_before_ray(tmp_path):
    done = sweep_cli("sweeps/quickstart.yaml", "--storage", str(tmp_path / "no-such-disk" / "runs"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"its parent folder {tmp_path / 'no-such-disk'} does not exist" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "NO-RAY" in done.stdout
    assert not (tmp_path / "no-such-disk").exists()


def test_read_only_storage_is_refused_before_ray(tmp_path):
    with small_disk(tmp_path / "ro", 8, read_only=True) as folder:
        done = sweep_cli("sweeps/quickstart.yaml", "--storage", str(folder / "runs"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot be written (Read-only file system)" in done.stderr and "NO-RAY" in done.stdout


def test_storage_on_a_full_disk_is_refused_before_ray(tmp_path):
    with small_disk(tmp_path / "disk", 100) as folder:
        fill_disk(folder, leave_bytes=8 * 2**20)
        done = sweep_cli("sweeps/quickstart.yaml", "--storage", str(folder))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "MB free, and a sweep needs at least 64 MB" in done.stderr and "NO-RAY" in done.stdout


def test_resume_with_an_edited_sweep_file_says_what_changed_and_refuses(tmp_path):
    from raycnn.sweep.runfiles import resolved_sweep
    from raycnn.sweep.storage import RunStorage
    import yaml

    original = sweep_from_dict({"name": "study", "question": "q", "fixed": {"train": {"epochs": 3}},
                                "space": {"model.arch": ["custom_cnn", "alexnet_small"]}}, "s.yaml")
    RunStorage(str(tmp_path / "runs" / "study")).write_text(
        "sweep.yaml", yaml.safe_dump(resolved_sweep(original, expand_trials(original)), sort_keys=False))
    (tmp_path / "runs" / "study" / "experiment_state-2026-12-02_02-26-39.json").write_text('{"trial_data": []}')
    path = tmp_path / "s.yaml"
    path.write_text("name: study\nquestion: q\nfixed: {train: {epochs: 5}}\n"
                    "space: {model.arch: [custom_cnn, alexnet_small], train.seed: [0, 1]}\n")
    done = sweep_cli(str(path), "--storage", str(tmp_path / "runs"), "--resume")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip()
    assert f"{path} has changed since {tmp_path / 'runs' / 'study'} was started" in line
    assert "fixed.train.epochs: 3 -> 5" in line and "space.train.seed: (none) -> " in line
    assert "trials: 2 -> 4" in line and "--name NEW" in line and "NO-RAY" in done.stdout
    path.write_text("name: study\nquestion: q\nfixed: {train: {epochs: 3}}\n"
                    "space: {model.arch: [custom_cnn, alexnet_small]}\nmax_concurrent: 1\n")
    from raycnn.sweep.resume import check_run_directory   # the same study (how many at once is no part of it)
    same = sweep_from_dict({"name": "study", "question": "q", "fixed": {"train": {"epochs": 3}}, "max_concurrent": 1,
                            "space": {"model.arch": ["custom_cnn", "alexnet_small"]}, "storage": str(tmp_path / "runs")},
                           str(path))
    check_run_directory(same, expand_trials(same), resume=True)


def test_resume_of_a_run_whose_tune_state_is_cut_short_says_so_before_ray(tmp_path):
    run_dir = tmp_path / "runs" / "quickstart"
    run_dir.mkdir(parents=True)
    (run_dir / "sweep.yaml").write_text("name: quickstart\n")
    (run_dir / "experiment_state-2026-12-02_02-26-39.json").write_text('{"trial_data": [["{\\n  \\"stub\\": fa')
    done = sweep_cli("sweeps/quickstart.yaml", "--storage", str(tmp_path / "runs"), "--resume")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "NO-RAY" in done.stdout
    assert f"Ray Tune's saved state {run_dir / 'experiment_state-2026-12-02_02-26-39.json'} is cut short" in done.stderr
    assert "--name NEW" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def dry_run_with_alexnet_on_digits(tmp_path, extra: str = "") -> subprocess.CompletedProcess:
    """A sweep where one of two trials cannot run (the 224x224 AlexNet on 8x8 digits), dry-run."""
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nquestion: q\n{extra}space: {{model.arch: [custom_cnn, alexnet]}}\n")
    done = sweep_cli(str(path), "--dry-run")
    assert done.returncode == 0, done.stderr
    return done


def test_skip_invalid_drops_what_cannot_run(tmp_path):
    done = dry_run_with_alexnet_on_digits(tmp_path, "skip_invalid: true\n")
    assert "dropping 1 trial(s)" in done.stdout and "1 trials; a full grid is 10 epochs" in done.stdout


def test_variants_cross_the_grid_with_their_own_options():
    sweep = sweep_from_dict({**BASE, "variants": [
        {"model": {"arch": "custom_cnn", "filters": [64, 128], "convs_per_block": 1}},
        {"model": {"arch": "alexnet_small"}}], "space": {"augment.preset": ["none", "standard"]}}, "s.yaml")
    trials = expand_trials(sweep)
    assert [(t.config.model.arch, t.config.augment.preset) for t in trials] == [
        ("custom_cnn", "none"), ("custom_cnn", "standard"), ("alexnet_small", "none"), ("alexnet_small", "standard")]
    assert trials[0].config.model.filters == (64, 128) and trials[2].config.model.filters is None
    assert trials[0].config.train.epochs == 4 and trials[0].name.endswith("-v1")
    with pytest.raises(ConfigError, match=r"variants\[1\]: model.filters: alexnet_small does not take this option"):
        sweep_from_dict({**BASE, "variants": [{"model": {"arch": "custom_cnn"}},
                                              {"model": {"arch": "alexnet_small", "filters": [8]}}]}, "s.yaml")


def test_dry_run_shows_the_whole_plan_with_warnings(tmp_path):
    done = dry_run_with_alexnet_on_digits(tmp_path)
    assert "2 trials" in done.stdout and "warning: 1 trial(s) cannot run" in done.stdout
    assert "t0002 alexnet-digits-flip_shift-k3-s0: architecture alexnet" in done.stdout


def test_run_storage_writes_atomically_to_a_folder_or_a_uri(tmp_path):
    import pyarrow as pa

    from raycnn.sweep.storage import RunStorage

    for location in (str(tmp_path / "plain"), f"file://{tmp_path}/uri"):
        storage = RunStorage(location)
        assert not storage.exists("sweep.yaml")
        storage.write_text("sweep.yaml", "name: x\n")
        storage.write_table("results/trials.parquet", pa.table({"trial_id": ["t0001"]}))
        assert storage.exists("sweep.yaml")
        assert storage.read_table("results/trials.parquet").to_pylist() == [{"trial_id": "t0001"}]
        assert storage.read_table("results/missing.parquet") is None
    assert sorted(p.name for p in (tmp_path / "uri" / "results").iterdir()) == ["trials.parquet"]


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("content,message", [
    (b"name: t\nquestion: q\nseeds: 10000000\n", "expands to 10,000,000 trials"),
    (b"name: t\nquestion: q\nspace: {train.seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], model.kernel_size: [3, 5, 7],"
     b" train.lr: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]}\nseeds: 5000\n", "expands to 1,500,000 trials"),
    (b"name: t\nquestion: q\nfixed: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested"),
    (LAUGHS.encode() + b"name: t\nquestion: q\n", "more than 200,000 values"),
    (b"# " + b"x" * (3 << 20) + b"\nname: t\n", "too large for a sweep file"),
    (bytes(range(256)) * 64, "binary data, not a YAML sweep file"),
    (b"name: ..\nquestion: q\n", "is used as a folder name inside the storage folder"),
])
def test_hostile_sweep_files_are_refused_in_one_line_in_seconds(tmp_path, content, message):
    import time

    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    start = time.monotonic()
    done = sweep_cli(str(path), "--storage", str(tmp_path / "runs"))
    assert done.returncode == 2 and message in done.stderr, done.stderr[-500:]
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert time.monotonic() - start < 30          # seconds, not minutes (the budget is loose for slow CI)
    assert not (tmp_path / "runs").exists()


def test_max_trials_raises_the_limit_and_says_the_cost():
    done = sweep_cli("sweeps/quickstart.yaml", "--dry-run", "--max-trials", "4")
    assert done.returncode == 2 and "expands to 8 trials (up to 96 epochs)" in done.stderr
    assert "--max-trials 8" in done.stderr
    assert sweep_cli("sweeps/quickstart.yaml", "--dry-run", "--max-trials", "8").returncode == 0


def test_an_axis_of_a_million_values_is_refused_before_its_values_are_checked():
    import time

    start = time.monotonic()
    with pytest.raises(ConfigError, match="1,000,000 values; a sweep axis has a few"):
        sweep_from_dict({**BASE, "space": {"train.seed": list(range(1_000_000))}}, "big.yaml")
    assert time.monotonic() - start < 5
