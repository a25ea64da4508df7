"""What a sweep costs beyond its trials' own training: `python benchmarks/sweep_overhead.py`.

Runs 16 short trials on digits (custom_cnn, 3 epochs, FIFO) as a user does, `python -m raycnn.sweep
FILE` in its own process, and compares the command's whole wall time (Python's start, Ray's start,
the datasets, the trials, the end of the sweep and Ray's shutdown) with the trials' own training time:
per-trial overhead = (wall time x concurrency - sum of trial training seconds) / trials. It also
splits off the start (command start to the first trial's start) and the tail (the last trial's end
to the command's exit), from the trials table's started_at/ended_at. Target on the 2-core development
machine: <= 2 s per trial. Writes JSON next to the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

import pyarrow.parquet as pq  # noqa: E402


def measure(trials: int, epochs: int, concurrency: int, storage: str) -> dict:
    name = f"overhead-{int(time.time())}"
    sweep = Path(storage) / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": name, "question": "What does a sweep cost beyond training?",
        "fixed": {"data": {"dataset": "digits"}, "train": {"epochs": epochs, "device": "cpu"}},
        "space": {"train.seed": list(range(trials))}, "scheduler": {"kind": "fifo"},
        "resources": {"cpus": 1}, "max_concurrent": concurrency, "storage": storage}))
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "raycnn.sweep", str(sweep)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    end = time.time()
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed ({done.returncode}): {done.stderr[-2000:]}")
    rows = pq.read_table(Path(storage) / name / "results" / "trials.parquet").to_pylist()
    training = sum(r["train_seconds"] for r in rows)
    return {"trials": trials, "epochs": epochs, "concurrency": concurrency, "wall_seconds": end - start,
            "trial_training_seconds": training,
            "overhead_per_trial_seconds": ((end - start) * concurrency - training) / trials,
            "start_seconds": min(r["started_at"] for r in rows) - start,
            "tail_seconds": end - max(r["ended_at"] for r in rows),
            "statuses": sorted({r["status"] for r in rows})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="whole sweeps; the median is the figure")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sweep_overhead.json")
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as storage:
            runs.append(measure(args.trials, args.epochs, args.concurrency, storage))
    print(f"\n{'trials':>7}{'concurrency':>13}{'wall s':>9}{'training s':>12}{'start s':>9}{'tail s':>8}"
          f"{'overhead s/trial':>18}")
    for report in runs:
        print(f"{report['trials']:>7}{report['concurrency']:>13}{report['wall_seconds']:>9.1f}"
              f"{report['trial_training_seconds']:>12.1f}{report['start_seconds']:>9.1f}{report['tail_seconds']:>8.1f}"
              f"{report['overhead_per_trial_seconds']:>18.2f}")
    median = statistics.median(r["overhead_per_trial_seconds"] for r in runs)
    print(f"median overhead: {median:.2f} s per trial (target <= 2)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs, "median_overhead_per_trial_seconds": median}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
