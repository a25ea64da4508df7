"""Repeated random kills of a running sweep, then a check that nothing was lost or doubled:
`python benchmarks/chaos.py [--trials 12 --worker-kills 4 --driver-kills 2 --seed 0]`.

Runs a digits sweep (custom_cnn, ASHA) as a user does, `python -m raycnn.sweep FILE` in its own
session, and at random moments kill -9s trial worker processes (the PIDs the trials recorded in the
trials table; the sweep retries them from their checkpoints) and the driver with every process it
started (each followed by `--resume`). One driver kill is timed to land while a result-table file is
being written (a hidden temporary file is present in results/). The sweep is resumed until it ends.
Then it checks: every trial in trials.parquet exactly once with a final status; every finished epoch
in epochs.parquet exactly once, with no gap before a trial's last epoch; per-class and confusion rows
for every trial with test results; TensorBoard curves without a duplicated or missing step; the report
builds. Prints the kills and what was lost or doubled (the goal: nothing), and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parent.parent
FINAL = {"completed", "early_stopped", "diverged", "oom", "error"}


def write_sweep(folder: Path, trials: int, epochs: int) -> Path:
    path = folder / "chaos.yaml"
    path.write_text(yaml.safe_dump({
        "name": "chaos", "question": "Does a sweep survive repeated kills?",
        "fixed": {"data": {"dataset": "digits"}, "train": {"epochs": epochs, "device": "cpu"}},
        "space": {"train.seed": list(range(trials))},
        "scheduler": {"kind": "asha", "grace_period": 4, "reduction_factor": 2},
        "resources": {"cpus": 1}, "max_concurrent": 2, "max_failures": 20, "storage": str(folder / "runs")}))
    return path


def start(sweep: Path, resume: bool, log: Path) -> subprocess.Popen:
    out = open(log, "a")
    return subprocess.Popen([sys.executable, "-m", "raycnn.sweep", str(sweep)] + (["--resume"] if resume else []),
                            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def read_rows(run_dir: Path, table: str) -> list[dict]:
    try:
        return pq.read_table(run_dir / "results" / f"{table}.parquet").to_pylist()
    except Exception:  # not written yet
        return []


def wait_for_progress(run_dir: Path, process: subprocess.Popen, seconds: float) -> bool:
    """Wait `seconds`, then until some trial is running with a recorded process; False if the sweep ended."""
    deadline = time.monotonic() + seconds
    while process.poll() is None:
        time.sleep(0.3)
        if time.monotonic() >= deadline and running_pids(run_dir):
            return True
    return False


def running_pids(run_dir: Path) -> list[tuple[str, int]]:
    """(trial, pid) of running trials whose recorded process is alive and is a Ray worker."""
    found = []
    for row in read_rows(run_dir, "trials"):
        if row["status"] == "running" and row.get("pid"):
            try:
                cmdline = Path(f"/proc/{row['pid']}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::"):
                found.append((row["trial_id"], row["pid"]))
    return found


def kill_driver(process: subprocess.Popen, run_dir: Path, during_write: bool) -> bool:
    """kill -9 the driver's whole session (it and the Ray it started); True if a table file was
    being written at that moment."""
    caught = False
    if during_write:
        deadline = time.monotonic() + 30
        folders = [run_dir / "results" / f"{t}.parquet" for t in ("trials", "epochs", "classes", "confusion")]
        while time.monotonic() < deadline and not caught:
            for folder in folders:
                try:
                    if any(e.name.startswith(".") and e.name.endswith(".tmp") for e in os.scandir(folder)):
                        caught = True
                        break
                except OSError:
                    continue
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return caught


def run_chaos(args, folder: Path) -> tuple[list[dict], Path, int]:
    rng = random.Random(args.seed)
    sweep, log = write_sweep(folder, args.trials, args.epochs), folder / "sweep.log"
    run_dir = folder / "runs" / "chaos"
    plan = ["worker"] * args.worker_kills + ["driver"] * args.driver_kills
    rng.shuffle(plan)
    write_kill = plan.index("driver") if "driver" in plan else -1
    events, sessions = [], 1
    process, begun = start(sweep, False, log), time.monotonic()
    for index, kind in enumerate(plan):
        if not wait_for_progress(run_dir, process, rng.uniform(2, 6)):
            break                                    # ended before every kill was made
        at = round(time.monotonic() - begun, 1)
        if kind == "worker":
            targets = running_pids(run_dir)
            if not targets:
                continue
            trial, pid = rng.choice(targets)
            os.kill(pid, signal.SIGKILL)
            events.append({"at_s": at, "kill": "worker", "target": f"{trial} pid {pid}"})
            continue
        caught = kill_driver(process, run_dir, during_write=index == write_kill)
        readable = all(read_rows(run_dir, t) for t in ("trials", "epochs"))
        events.append({"at_s": at, "kill": "driver", "target": f"pid {process.pid} and its Ray",
                       "during_table_write": caught, "tables_readable_after": readable})
        process, sessions = start(sweep, True, log), sessions + 1
    while process.wait() != 0:                       # resume until the sweep has ended
        if sessions > len(plan) + 3:
            raise SystemExit(f"the sweep did not end after {sessions} sessions; see {log}")
        process, sessions = start(sweep, True, log), sessions + 1
    return events, run_dir, sessions


def check(run_dir: Path, trials: int, epochs: int) -> dict:
    """What was lost or doubled, by table."""
    import logging

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.ERROR)   # its note on each purge_step: expected here
    rows = read_rows(run_dir, "trials")
    ids = [r["trial_id"] for r in rows]
    expected = [f"t{i:04d}" for i in range(1, trials + 1)]
    epoch_keys = [(e["trial_id"], e["epoch"]) for e in read_rows(run_dir, "epochs")]
    classes, confusion = read_rows(run_dir, "classes"), read_rows(run_dir, "confusion")
    found = {"trials_lost": len(set(expected) - set(ids)), "trials_doubled": len(ids) - len(set(ids)),
             "trials_without_final_status": sum(r["status"] not in FINAL for r in rows),
             "epochs_doubled": len(epoch_keys) - len(set(epoch_keys)), "epochs_lost": 0,
             "test_rows_missing": 0, "test_rows_doubled": 0, "tensorboard_steps_doubled": 0,
             "tensorboard_steps_missing": 0}
    for row in rows:
        have = {n for t, n in epoch_keys if t == row["trial_id"]}
        found["epochs_lost"] += len(set(range(1, (row["epochs_completed"] or 0) + 1)) - have)
        if row["test_accuracy"] is not None:
            mine = [(c["class_index"],) for c in classes if c["trial_id"] == row["trial_id"]]
            cells = [(c["true_class"], c["pred_class"]) for c in confusion if c["trial_id"] == row["trial_id"]]
            found["test_rows_missing"] += (10 - len(set(mine))) + (100 - len(set(cells)))
            found["test_rows_doubled"] += (len(mine) - len(set(mine))) + (len(cells) - len(set(cells)))
        events = EventAccumulator(str(run_dir / "tensorboard" / row["trial_name"]))
        events.Reload()
        steps = [e.step for e in events.Scalars("train/loss")] if "train/loss" in events.Tags()["scalars"] else []
        found["tensorboard_steps_doubled"] += len(steps) - len(set(steps))
        missing = sorted(set(range(1, (row["epochs_completed"] or 0) + 1)) - set(steps))
        found["tensorboard_steps_missing"] += len(missing)
        if missing or len(steps) != len(set(steps)):
            found.setdefault("detail", []).append(f"{row['trial_id']}: TensorBoard steps {steps}, "
                                                  f"restarts {row['restarts']}, started at {row['started_at_epoch']}")
    found["restarts_recorded"] = sum(r["restarts"] or 0 for r in rows)
    found["statuses"] = {s: sum(r["status"] == s for r in rows) for s in sorted({r["status"] for r in rows})}
    report = subprocess.run([sys.executable, "-m", "analysis", str(run_dir)], cwd=REPO, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    found["report_builds"] = report.returncode == 0 and (run_dir / "report" / "report.html").exists()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--worker-kills", type=int, default=4)
    parser.add_argument("--driver-kills", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the run folder (printed)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="raycnn-chaos-"))
    began = time.monotonic()
    events, run_dir, sessions = run_chaos(args, folder)
    found = check(run_dir, args.trials, args.epochs)
    print(f"{'at (s)':>7}  {'kill -9':<7}  target")
    for event in events:
        extra = "" if event["kill"] == "worker" else (
            f"  (during a table write: {'yes' if event['during_table_write'] else 'no'}; "
            f"tables readable after: {'yes' if event['tables_readable_after'] else 'NO'})")
        print(f"{event['at_s']:>7}  {event['kill']:<7}  {event['target']}{extra}")
    bad = {k: v for k, v in found.items() if k.endswith(("_lost", "_doubled", "_missing", "_status")) and v}
    print(f"\nsurvived {len(events)} kills ({sum(e['kill'] == 'worker' for e in events)} of workers, "
          f"{sum(e['kill'] == 'driver' for e in events)} of the driver) over {sessions} sessions "
          f"in {time.monotonic() - began:.0f} s")
    for key, value in found.items():
        print(f"  {key:<30} {value}")
    print("lost or doubled: " + ("nothing" if not bad and found["report_builds"] else json.dumps(bad)))
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "chaos.json").write_text(json.dumps({"args": vars(args), "events": events, "sessions": sessions,
                                                     "found": found, "ok": not bad and found["report_builds"]},
                                                    indent=2))
    print(f"JSON: {results / 'chaos.json'}" + (f"; run kept in {run_dir}" if args.keep else ""))
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0 if not bad and found["report_builds"] else 1)


if __name__ == "__main__":
    main()
