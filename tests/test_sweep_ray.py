"""End-to-end sweeps that really start Ray (slow): ASHA, result tables, faults, kill and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cli_process import run_cli
from conftest import REPO, fill_disk, read_hparams, read_images, read_scalars, read_status, small_disk
from raycnn.config import DataConfig
from raycnn.data import load_dataset
from raycnn.sweep.storage import run_work_root
from raycnn.sweep.trainable import HOLD
from raycnn.sweep.tune_bridge import LOOPBACK_SWITCH
from raycnn.tensorboard import EPOCH_TAGS, STATUS_CODES

pytestmark = pytest.mark.slow
DIGITS_TEST_SIZE = len(load_dataset(DataConfig(dataset="digits")).test_y)
STATE_BYTES = 200_000   # Tune's state of the faults sweep's five trials: 130 kB measured; when per-class results
                        # went into Tune's results, a 100-class trial alone added ~150 kB


def start_sweep(*args: str, hold: str = "") -> subprocess.Popen:
    """The sweep CLI in its own process group, so a test can kill it and every process it started. `hold`:
    where its trials wait for a file (RAYCNN_TEST_HOLD, see raycnn/sweep/trainable.py)."""
    # as a user's shell: the CLI keeps a Ray it starts on loopback itself; one that joins the test's own
    # cluster (started in this process, on loopback) needs the switch too, to reach it at 127.0.0.1
    env = {k: v for k, v in os.environ.items() if k != LOOPBACK_SWITCH or "--address" in args}
    return subprocess.Popen([sys.executable, "-m", "raycnn.sweep", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**env, "PYTHONPATH": str(REPO), HOLD: hold})


def finish(process: subprocess.Popen, timeout: float = 400) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"sweep did not finish in {timeout}s:\n{out[-2000:]}\n{err[-2000:]}")
    return process.returncode, out, err


def table(run_dir: Path, name: str) -> list[dict]:
    return pq.read_table(run_dir / "results" / f"{name}.parquet").to_pylist()


def wait_for_trials(run_dir: Path, process: subprocess.Popen, what: str, ready, timeout: float = 300) -> list[dict]:
    """Poll trials.parquet until `ready(rows)`; on timeout kill the sweep's process group and fail."""
    deadline, rows = time.monotonic() + timeout, []
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        try:
            rows = table(run_dir, "trials")
        except Exception:  # not written yet, or caught between two writes
            continue
        if ready(rows):
            return rows
    os.killpg(process.pid, signal.SIGKILL)
    out, err = process.communicate()
    seen = [(r["trial_id"], r["status"], r["epochs_completed"], r["node_id"], r["error"]) for r in rows]
    pytest.fail(f"the sweep never reached the point where {what}; trials: {seen}\n{out[-1500:]}\n{err[-1500:]}")


def write_sweep(path: Path, body: str) -> Path:
    path.write_text("name: test\nquestion: does it run?\n" + body)
    return path


def test_quickstart_sweep_writes_consistent_tables(tmp_path):
    code, out, err = finish(start_sweep("sweeps/quickstart.yaml", "--storage", str(tmp_path),
                                        "--set", "fixed.train.epochs=3", "--set", "scheduler.grace_period=1",
                                        "--set", "max_concurrent=1"))
    assert code == 0, err[-3000:]
    assert "not only on 127.0.0.1" not in err            # the Ray it started listened on loopback alone
    run_dir = tmp_path / "quickstart"
    assert f"tensorboard --logdir {run_dir}" in out and " pending, " in out and "stopped early" in out
    trials = table(run_dir, "trials")
    assert sorted(r["trial_id"] for r in trials) == [f"t{i:04d}" for i in range(1, 9)]
    statuses = {r["status"] for r in trials}
    assert "early_stopped" in statuses and "completed" in statuses and statuses <= {"completed", "early_stopped"}
    for row in trials:
        assert row["arch"] in ("custom_cnn", "alexnet_small") and row["dataset"] == "digits"
        assert row["params"] > 0 and 0 <= row["test_accuracy"] <= 1 and row["train.epochs"] == 3
        assert (row["epochs_completed"] == 3) == (row["status"] == "completed")
    epochs = table(run_dir, "epochs")
    for row in trials:
        mine = sorted(e["epoch"] for e in epochs if e["trial_id"] == row["trial_id"])
        assert mine == list(range(1, row["epochs_completed"] + 1))
        assert max(e["val_accuracy"] for e in epochs if e["trial_id"] == row["trial_id"]) == row["best_val_accuracy"]
    confusion, classes = table(run_dir, "confusion"), table(run_dir, "classes")
    for row in trials:
        cells = [c for c in confusion if c["trial_id"] == row["trial_id"]]
        assert len(cells) == 100 and sum(c["count"] for c in cells) == DIGITS_TEST_SIZE
        correct = sum(c["count"] for c in cells if c["true_class"] == c["pred_class"])
        assert correct / DIGITS_TEST_SIZE == pytest.approx(row["test_accuracy"])
        per_class = [c for c in classes if c["trial_id"] == row["trial_id"]]
        assert [c["class_name"] for c in per_class] == list("0123456789")
        assert sum(c["support"] for c in per_class) == DIGITS_TEST_SIZE
    precisions = {}                          # precision auto: decided per model before trials, not by each
    for row in trials:
        precisions.setdefault((row["arch"], row["kernel_size"]), set()).add(row["precision"])
    assert all(len(chosen) == 1 for chosen in precisions.values()), precisions
    assert (run_dir / "sweep.yaml").exists() and (run_dir / "environment.json").exists()
    boards = {path.name: path for path in (run_dir / "tensorboard").iterdir()}
    assert set(boards) == {row["trial_name"] for row in trials}     # one readable run per trial
    for row in trials:
        scalars = read_scalars(boards[row["trial_name"]])
        assert set(EPOCH_TAGS) <= set(scalars)
        assert [step for step, _ in scalars["val/accuracy"]] == list(range(1, row["epochs_completed"] + 1))
        assert scalars["params"][-1][1] == row["params"]
        assert scalars["test/accuracy"][-1][1] == pytest.approx(row["test_accuracy"])
        hparams, metric_tags = read_hparams(boards[row["trial_name"]])
        assert hparams["model.arch"] == row["arch"] and hparams["augment.preset"] == row["augment"]
        assert hparams["model.kernel_size"] == row["kernel_size"]
        assert metric_tags == ["val/accuracy", "test/accuracy", "params", "time/train_seconds", "trial/status"]
        status = read_status(boards[row["trial_name"]])            # written by the trial or the driver
        assert status["code"] == STATUS_CODES[row["status"]] and status["end"] == "STATUS_SUCCESS"
        assert status["texts"][-1].startswith(row["status"])
        assert {f"classes/f1/{d}" for d in "0123456789"} <= set(scalars)   # stopped trials too
        images = read_images(boards[row["trial_name"]])   # stopped trials too: drawn at ASHA's rungs
        assert min(images["test/confusion_matrix"]) >= 10 * 48 and "test/misclassified" in images
    assert not list(run_dir.glob("t0001*/events.out.tfevents*"))     # Ray's own logger is off: one writer
    assert not run_work_root(str(run_dir)).exists()          # no trial left its scratch folder (ASHA stops too)


def test_diverged_oom_error_trials_and_a_full_disk_do_not_lose_the_others_and_100_classes_stay_out_of_tune(tmp_path):
    """One faults sweep, one trial process at a time: a diverged and an out-of-memory trial end as such and the
    others run; the disk fills under the 100-class trial and the sweep stops cleanly; after space is freed a
    resume finishes it from its checkpoint, and the last trial errors (a trial's error ends its process:
    last, and not retried, so the sweep starts two trial processes in all)."""
    data = image_folder(tmp_path / "data", classes=100)
    sweep = write_sweep(tmp_path / "faults.yaml", f"""
fixed: {{train: {{epochs: 4}}, model: {{filters: [16, 32]}}}}
variants:
  - {{}}
  - {{model: {{batch_norm: false}}, train: {{optimizer: sgd, lr: 1.0e+12}}}}
  - {{model: {{dense_units: [131072, 131072]}}}}
  - {{data: {{dataset: imagefolder, data_path: {data}, val_fraction: 0.34}}, model: {{filters: [8, 16]}},
     train: {{epochs: 3}}}}
  - {{data: {{oversample: {{zebra: 2.0}}}}}}
scheduler: {{kind: fifo}}
max_failures: 0         # retries: the killed-worker test's
max_concurrent: 1       # one trial process: what runs beside what is not under test here
""")
    # a sweep asks for 64 MB free to start (and to resume); None without root: no full disk then
    with small_disk(tmp_path / "disk", 96, or_skip=False) as disk:
        run_dir = (disk or tmp_path) / "runs" / "test"
        stopped = fill_the_disk_under_the_100_class_trial(sweep, run_dir, tmp_path / "release") if disk else {}
        code, out, err = finish(start_sweep(str(sweep), "--storage", str(run_dir.parent), *(["--resume"] if disk else [])))
        rows = {r["trial_id"]: r for r in table(run_dir, "trials")}
        assert code == 1, f"an errored trial makes the command exit non-zero: {err[-2000:]}"
        assert [rows[t]["status"] for t in ("t0001", "t0002", "t0003", "t0004", "t0005")] == [
            "completed", "diverged", "oom", "completed", "error"]
        assert (rows["t0004"]["epochs_completed"], rows["t0004"]["started_at_epoch"]) == (3, 3 if disk else 1)
        if disk:
            assert rows["t0001"]["train_seconds"] == stopped["t0001"]["train_seconds"]      # not run again
        epochs = sorted((e["trial_id"], e["epoch"]) for e in table(run_dir, "epochs") if e["trial_id"] == "t0004")
        assert epochs == [("t0004", 1), ("t0004", 2), ("t0004", 3)]                   # none lost, none twice
        assert "diverged" in rows["t0002"]["error"] and "allocate memory" in rows["t0003"]["error"]
        assert "zebra" in rows["t0005"]["error"] and "error in t0005" in out
        assert rows["t0001"]["test_accuracy"] > 0.5
        for row in rows.values():                    # TensorBoard says the same, failures as failures
            status = read_status(run_dir / "tensorboard" / row["trial_name"])
            assert status["code"] == STATUS_CODES[row["status"]]
            assert status["end"] == ("STATUS_SUCCESS" if row["status"] == "completed" else "STATUS_FAILURE")
        # 100 classes: per-class results and the confusion matrix go to raycnn's tables, not into Tune's state
        classes, confusion = table(run_dir, "classes"), table(run_dir, "confusion")
        assert len([c for c in classes if c["trial_id"] == "t0004"]) == 100
        cells = [c for c in confusion if c["trial_id"] == "t0004"]
        assert len(cells) == 100 * 100 and sum(c["count"] for c in cells) == 200
        correct = sum(c["count"] for c in cells if c["true_class"] == c["pred_class"])
        assert correct / 200 == pytest.approx(rows["t0004"]["test_accuracy"])
        state = sorted(run_dir.glob("experiment_state-*.json"))[-1].read_text()   # Ray Tune's own record
        assert "per_class" not in state and "confusion" not in state
        assert len(state) < STATE_BYTES


def fill_the_disk_under_the_100_class_trial(sweep: Path, run_dir: Path, release: Path) -> dict:
    """Run the faults sweep on its small disk until its 100-class trial is 2 epochs in, fill the disk, let the
    trial go on: the sweep stops with one line saying so, its tables readable. Returns its trials, by id."""
    process = start_sweep(str(sweep), "--storage", str(run_dir.parent), hold=f"t0004@2:{release}")
    wait_for_trials(run_dir, process, "the 100-class trial held 2 epochs in", lambda rows: any(
        r["trial_id"] == "t0004" and r["epochs_completed"] == 2 for r in rows))
    filler = fill_disk(run_dir.parent.parent)
    release.touch()                                # epoch 3's checkpoint meets the full disk
    code, out, err = finish(process, timeout=120)
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith(f"error: storage full: the disk holding {run_dir} is full")
    assert "free space, then run the same command plus --resume" in err
    stopped = {r["trial_id"]: r for r in table(run_dir, "trials")}    # the tables on disk stay readable
    assert stopped["t0004"]["status"] != "completed" and stopped["t0004"]["epochs_completed"] == 2
    assert stopped["t0005"]["status"] == "pending"           # the error comes after the resume
    filler.unlink()
    return stopped


def test_killed_sweep_resumes_without_losing_or_repeating_trials(tmp_path):
    sweep = write_sweep(tmp_path / "long.yaml", """
fixed: {train: {epochs: 4}, model: {filters: [16, 32], dense_units: [64]}}   # small: seconds an epoch
space: {train.seed: [0, 1, 2]}
scheduler: {kind: fifo}
resources: {cpus: 1}
max_concurrent: 1
trackers: [mlflow]
""")
    run_dir = tmp_path / "runs" / "test"
    process = start_sweep(str(sweep), "--storage", str(tmp_path / "runs"), hold=f"t0002@3:{tmp_path / 'never'}")
    wait_for_trials(run_dir, process, "a finished trial and one held 3 epochs in", lambda rows: any(
        r["status"] == "completed" for r in rows) and any(
        r["status"] == "running" and r["epochs_completed"] == 3 for r in rows))
    os.killpg(process.pid, signal.SIGKILL)               # the driver and the Ray it started
    process.wait()
    before = {r["trial_id"]: r for r in table(run_dir, "trials")}
    interrupted = [t for t, r in before.items() if r["status"] == "running"]
    done_before = [t for t, r in before.items() if r["status"] == "completed"]
    wait_until_gone([before[t]["pid"] for t in interrupted])   # a worker outlives its raylet by a moment
    newest = {}                                          # a kill during a write on a node's disk: cut short
    for trial_id in interrupted:
        folders = sorted((run_dir / "checkpoints" / trial_id).glob("epoch-*"))
        assert len(folders) >= 2                         # the newest two are kept (a third while one is copied)
        newest[trial_id] = (folders[-1] / "last.pt", epoch_of(folders[-2]))
        newest[trial_id][0].write_bytes(b"")

    again = run_cli("raycnn.sweep.__main__", str(sweep), "--storage", str(tmp_path / "runs"))     # refused before Ray
    assert again.returncode == 2 and "already holds a sweep" in again.stderr
    changed = run_cli("raycnn.sweep.__main__", str(sweep), "--storage", str(tmp_path / "runs"), "--resume",
                      "--set", "fixed.train.epochs=12")
    assert changed.returncode == 2 and "fixed.train.epochs: 4 -> 12" in changed.stderr
    assert "mix two studies" in changed.stderr and "NO-RAY" in again.stdout + changed.stdout
    code, out, err = finish(start_sweep(str(sweep), "--storage", str(tmp_path / "runs"), "--resume"))
    assert code == 0, err[-3000:]
    after = {r["trial_id"]: r for r in table(run_dir, "trials")}
    assert sorted(after) == ["t0001", "t0002", "t0003"]
    assert all(r["status"] == "completed" and r["epochs_completed"] == 4 for r in after.values())
    for trial_id in done_before:                        # finished trials were not rerun
        assert after[trial_id]["started_at_epoch"] == 1 and after[trial_id]["train_seconds"] == before[trial_id]["train_seconds"]
    for trial_id in interrupted:                        # continued from the older checkpoint, with a warning
        cut, older_epoch = newest[trial_id]
        assert after[trial_id]["started_at_epoch"] == older_epoch + 1
        assert f"{cut} is unreadable (zero bytes); continued from" in after[trial_id]["warning"]
        assert f"raycnn: warning: {trial_id}" in out
    epochs = table(run_dir, "epochs")
    assert len(epochs) == 12 and len({(e["trial_id"], e["epoch"]) for e in epochs}) == 12
    for trial_id in interrupted:                        # the curve continues, no step written twice
        steps = [s for s, _ in read_scalars(run_dir / "tensorboard" / after[trial_id]["trial_name"])["train/loss"]]
        assert steps == list(range(1, 5))
    assert not run_work_root(str(run_dir)).exists()     # what the killed trials left is gone
    check_mlflow_after_resume(run_dir, after)


def check_mlflow_after_resume(run_dir: Path, rows: dict) -> None:
    """MLflow, read back through MlflowClient with no server: one run per trial, named as its TensorBoard run,
    its settings as params, every epoch once (steps 1..4), final test metrics, tags."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("test").experiment_id])
    assert sorted(r.data.tags["raycnn.trial_id"] for r in runs) == sorted(rows)          # no run twice
    for run in runs:
        row = rows[run.data.tags["raycnn.trial_id"]]
        assert run.info.run_name == row["trial_name"] and run.data.tags["raycnn.seed"] == str(row["seed"])
        assert run.data.params["model.arch"] == "custom_cnn" and run.data.params["train.epochs"] == "4"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
        assert sorted(steps) == list(range(1, 5))                                          # no epoch twice
        assert run.data.metrics["test_accuracy"] == pytest.approx(row["test_accuracy"])
        assert run.info.status == "FINISHED" and run.data.tags["raycnn.status"] == "completed"


def wait_until_gone(pids: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids if pid):
        if time.monotonic() > deadline:
            pytest.fail(f"trial processes {pids} still alive {timeout}s after their sweep was killed")
        time.sleep(0.2)


def epoch_of(checkpoint_folder: Path) -> int:
    import torch

    return torch.load(checkpoint_folder / "last.pt", weights_only=True)["state"]["epoch"]


def test_a_killed_worker_is_retried_and_sigterm_stops_the_sweep_for_resume(tmp_path):
    """One trial (trials on another node going on while one is lost: the simulated cluster's test): its
    process killed, it is retried from its checkpoint; a SIGTERM then stops the sweep for --resume."""
    sweep = write_sweep(tmp_path / "s.yaml", """
fixed: {train: {epochs: 5}, model: {filters: [16, 32], dense_units: [64]}}
scheduler: {kind: fifo}
resources: {cpus: 1}
max_failures: 2
trackers: [wandb]
""")
    run_dir = tmp_path / "runs" / "test"
    first, second = tmp_path / "first", tmp_path / "second"          # the trial waits at epoch 2, then at 4
    process = start_sweep(str(sweep), "--storage", str(tmp_path / "runs"), hold=f"2:{first},4:{second}")
    (victim,) = wait_for_trials(run_dir, process, "the trial held 2 epochs in", lambda rows: len(rows) == 1 and all(
        r["status"] == "running" and r["epochs_completed"] == 2 and r["pid"] for r in rows))
    # how long Tune waits for a stopped trial's epoch: set by raycnn, inherited
    assert b"TUNE_FUNCTION_THREAD_TIMEOUT_S=3600\0" in Path(f"/proc/{victim['pid']}/environ").read_bytes()
    os.kill(victim["pid"], signal.SIGKILL)              # its process only (OOM killer, a crash): not the sweep
    first.touch()
    wait_for_trials(run_dir, process, "the killed trial trained on from its checkpoint", lambda rows: all(
        r["status"] == "running" and r["epochs_completed"] == 4 and r["restarts"] == 1 for r in rows))
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)                 # what a cluster scheduler sends
    code, out, err = finish(process, timeout=60)
    assert time.monotonic() - sent < 20, "SIGTERM stops the sweep within seconds"
    assert code == 130 and "stopped by SIGTERM" in out and "plus --resume" in out, err[-2000:]
    assert "raycnn: SIGTERM: stopping" in err and "Traceback" not in err
    assert [r["status"] for r in table(run_dir, "trials")] == ["interrupted"]

    code, out, err = finish(start_sweep(str(sweep), "--storage", str(tmp_path / "runs"), "--resume"))
    assert code == 0, err[-3000:]
    (after,) = table(run_dir, "trials")
    assert (after["status"], after["epochs_completed"], after["restarts"]) == ("completed", 5, 1)
    assert "actor is dead" in after["error"]            # why it restarted
    assert sorted(e["epoch"] for e in table(run_dir, "epochs")) == [1, 2, 3, 4, 5]
    steps = [s for s, _ in read_scalars(run_dir / "tensorboard" / victim["trial_name"])["train/loss"]]
    assert steps == list(range(1, 6))
    offline = {p.name for p in (run_dir / "wandb").glob("offline-run-*/run-*.wandb")}    # W&B, offline
    assert len(offline) == 1, offline           # one run for the trial (Tune's trial id), continued after the resume


def image_folder(root: Path, classes: int, train: int = 3, test: int = 2) -> Path:
    """`classes` classes of tiny grey PNGs (brightness tells the class, plus noise)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        for label in range(classes):
            (root / split / f"c{label:03d}").mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 64, (8, 8)) + (label * 191) % 192
                Image.fromarray(pixels.astype(np.uint8), "L").save(root / split / f"c{label:03d}" / f"{i}.png")
    return root


def test_a_simulated_gpu_cluster_refuses_a_local_folder_packs_gpus_survives_losing_a_node_and_retries_oom(
        tmp_path, monkeypatch):
    """One simulated cluster, three things a GPU cluster does: with only its head (no CPUs, like
    cluster/gpu.yaml's) a local storage folder is refused before any trial; with two one-GPU workers, four
    trials share the GPUs by halves and survive losing a node mid-trial; a trial out of memory on a shared
    GPU is run again alone with a whole GPU."""
    from ray.cluster_utils import Cluster

    release = tmp_path / "release"
    monkeypatch.setenv(HOLD, f"2:{release}")                         # every trial waits after epoch 2
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # trials only on workers
    try:
        refused = write_sweep(tmp_path / "refused.yaml", "fixed: {train: {epochs: 1}}\nresources: {cpus: 1, gpus: 1}\n")
        code, out, err = finish(start_sweep(str(refused), "--storage", str(tmp_path / "refused"), "--address",
                                            cluster.address), timeout=120)
        assert code == 2 and "needs shared storage" in err and "--storage s3://" in err, err[-2000:]
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "refused" / "test").exists()

        workers = [cluster.add_node(num_cpus=2, num_gpus=1) for _ in range(2)]   # one (simulated) GPU each
        cluster.wait_for_nodes()
        sweep = write_sweep(tmp_path / "cluster.yaml", """
fixed: {train: {epochs: 4, device: cpu}, model: {filters: [16, 32], dense_units: [64]}}
variants:
  - {train: {seed: 0}}
  - {train: {seed: 1}}
  - {train: {seed: 2}}
  - {train: {seed: 3}}
  - {model: {dense_units: [131072, 131072]}}
scheduler: {kind: fifo}
resources: {cpus: 1, gpus: 0.5}
max_failures: 3
""")
        run_dir = tmp_path / "runs" / "test"
        process = start_sweep(str(sweep), "--storage", str(tmp_path / "runs"), "--address", cluster.address)
        victim = workers[1]
        rows = wait_for_trials(run_dir, process, "two trials share each worker's GPU, held after epoch 2", lambda rows:
                               all(sum(r["node_id"] == w.node_id and r["status"] == "running" for r in rows) == 2
                                   for w in workers) and all(r["epochs_completed"] == 2 for r in rows
                                                             if r["status"] == "running"))
        running = [r for r in rows if r["status"] == "running"]
        assert {r["gpu_ids"] for r in running} == {'["0"]'}      # half a GPU each: two trials on one GPU
        assert {r["trial_id"] for r in running} == {"t0001", "t0002", "t0003", "t0004"}
        moved = [r["trial_id"] for r in running if r["node_id"] == victim.node_id]
        cluster.remove_node(victim)                        # the node disappears mid-trial
        release.touch()
        code, out, err = finish(process)
        assert code == 0, err[-3000:]
        assert "datasets ready on the 2 node(s) that can run a trial; storage" in out   # not on the head
        assert "seen by all 3" in out
        rows = {r["trial_id"]: r for r in table(run_dir, "trials")}
        trained = [rows[t] for t in ("t0001", "t0002", "t0003", "t0004")]
        assert all(r["status"] == "completed" and r["epochs_completed"] == 4 for r in trained)
        for trial_id in moved:
            assert rows[trial_id]["started_at_epoch"] > 1           # resumed from its checkpoint...
            assert rows[trial_id]["node_id"] == workers[0].node_id  # ...on the node that was left
        for row in trained:                                         # the others went on undisturbed
            assert row["trial_id"] in moved or (row["started_at_epoch"], row["restarts"]) == (1, 0)
        epochs = table(run_dir, "epochs")
        assert len(epochs) == 16 and len({(e["trial_id"], e["epoch"]) for e in epochs}) == 16
        assert all(r["gpu_share"] == 0.5 and r["precision"] in ("fp32", "bf16") and r["device_name"] for r in trained)
        assert "1 trial(s) ran out of memory on a shared GPU; running them again, each with a whole GPU" in out
        oom = rows["t0005"]
        assert oom["status"] == "oom" and oom["gpu_share"] == 1.0 and oom["stop_reason"] is None
        assert "retried alone" in oom["warning"] and "allocate memory" in oom["error"]
    finally:
        cluster.shutdown()
