"""Real sweeps through Ray at scale.

    python benchmarks/sweep_scale.py [--trials 300] [--class-trials 200] [--classes 10 100 1000]

1. Wall time of N one-second trials (digits, custom_cnn, 1 epoch each, 2 at a time, FIFO) through
   `python -m raycnn.sweep` (tables, TensorBoard, test files, checkpoints, progress line) against bare
   Ray Tune running the same `fit()` per trial with Tune's documented pattern (a function trainable
   that calls `tune.report` each epoch; no raycnn callbacks, no checkpoints). Both are whole commands
   in their own processes, Ray's start and shutdown included. Goal: raycnn within 1.3x of bare Tune.
2. Per-trial wall time of sweeps of 1-epoch trials on a synthetic 100-class image folder, at 20 trials and
   at --class-trials (default 200): a sweep of hundreds of trials should cost no more per trial.
3. Ray Tune's experiment state (`experiment_state-*.json`) per trial, for sweeps on synthetic image
   folders of 10, 100 and 1,000 classes: per-class results and confusion matrices do not travel
   through Tune, so it should not depend on the number of classes.

Writes JSON next to the table (benchmarks/results/sweep_scale.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TRIAL_CONFIG = {"data": {"dataset": "digits"}, "model": {"arch": "custom_cnn"},          # ~1 s on one core
                "train": {"epochs": 1, "device": "cpu", "batch_size": 64}}


def sweep_file(folder: Path, name: str, trials: int, fixed: dict) -> Path:
    import yaml

    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "question": "What does a sweep cost at scale?", "fixed": fixed,
                                    "seeds": trials, "scheduler": {"kind": "fifo"}, "resources": {"cpus": 1},
                                    "max_concurrent": 2, "max_failures": 0}))
    return path


def run_raycnn(folder: Path, name: str, trials: int, fixed: dict) -> float:
    path = sweep_file(folder, name, trials, fixed)
    return timed_command(["-m", "raycnn.sweep", str(path), "--storage", str(folder / "runs")], "raycnn sweep")


def run_bare(folder: Path, trials: int) -> float:
    return timed_command([__file__, "--bare-worker", str(trials), "--storage", str(folder / "bare")], "bare Tune run")


def timed_command(args: list[str], what: str) -> float:
    """Wall seconds of `python ARGS` in its own process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


def bare_worker(trials: int, storage: str) -> None:
    """Ray Tune's documented pattern around the same fit(): what a user writes by hand."""
    import dataclasses

    from raycnn.sweep.tune_bridge import keep_ray_on_loopback

    keep_ray_on_loopback()                  # as the sweep CLI does: its Ray on 127.0.0.1 only
    import ray
    from ray import tune

    from raycnn.config import run_config_from_dict
    from raycnn.fit import fit

    def trainable(params: dict) -> None:
        config = run_config_from_dict(params["config"], "bare")
        fit(config, report=lambda metrics: tune.report(dataclasses.asdict(metrics)))

    configs = [{**TRIAL_CONFIG, "train": {**TRIAL_CONFIG["train"], "seed": seed}} for seed in range(trials)]
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             _node_ip_address="127.0.0.1")
    tune.Tuner(tune.with_resources(trainable, {"cpu": 1}), param_space={"config": tune.grid_search(configs)},
               tune_config=tune.TuneConfig(max_concurrent_trials=2, reuse_actors=True),
               run_config=tune.RunConfig(storage_path=storage, verbose=0)).fit()
    ray.shutdown()


def synthetic_folder(root: Path, classes: int, train_per_class: int = 3, test_per_class: int = 1) -> Path:
    """An image folder of `classes` classes of tiny 8x8 PNGs (class = brightness pattern + noise)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for label in range(classes):
            folder = root / split / f"c{label:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = (rng.integers(0, 255, (8, 8)) // 2 + (label * 37) % 128).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(folder / f"{i}.png")
    return root


def experiment_state_per_trial(folder: Path, classes: int, trials: int) -> dict:
    data = synthetic_folder(folder / f"data{classes}", classes)
    fixed = {"data": {"dataset": "imagefolder", "data_path": str(data), "val_fraction": 0.34},
             "model": {"arch": "custom_cnn", "filters": [8, 16]}, "train": {"epochs": 1, "device": "cpu"}}
    name = f"state{classes}"
    wall = run_raycnn(folder, name, trials, fixed)
    states = sorted((folder / "runs" / name).glob("experiment_state-*.json"))
    state = json.loads(states[-1].read_text())
    sizes = [len(json.dumps(entry)) for entry in state["trial_data"]]
    return {"classes": classes, "trials": trials, "experiment_state_bytes": states[-1].stat().st_size,
            "bytes_per_trial": states[-1].stat().st_size / trials, "largest_trial_entry_bytes": max(sizes),
            "wall_seconds": wall}


def per_trial_at_scale(folder: Path, counts: list[int]) -> list[dict]:
    data = synthetic_folder(folder / "data-scale", 100)
    fixed = {"data": {"dataset": "imagefolder", "data_path": str(data), "val_fraction": 0.34},
             "model": {"arch": "custom_cnn", "filters": [8, 16]}, "train": {"epochs": 1, "device": "cpu"}}
    rows = []
    for count in counts:
        wall = run_raycnn(folder, f"classes100-{count}", count, fixed)
        rows.append({"classes": 100, "trials": count, "wall_seconds": wall, "seconds_per_trial": wall / count})
        print(f"100-class folder, {count} trials: {wall:.1f} s, {wall / count:.2f} s per trial", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=300, help="one-second trials per sweep (0: skip)")
    parser.add_argument("--classes", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--state-trials", type=int, default=8)
    parser.add_argument("--class-trials", type=int, default=200, help="trials of the larger 100-class sweep (0: skip)")
    parser.add_argument("--bare-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sweep_scale.json")
    args = parser.parse_args()
    if args.bare_worker:
        return bare_worker(args.bare_worker, args.storage)
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.trials:
            bare = run_bare(folder, args.trials)
            ours = run_raycnn(folder, "scale", args.trials, TRIAL_CONFIG)
            import pyarrow.parquet as pq

            rows = pq.read_table(folder / "runs" / "scale" / "results" / "trials.parquet").to_pylist()
            trial_seconds = sum(r["train_seconds"] for r in rows) / len(rows)
            report["speed"] = {"trials": args.trials, "bare_tune_seconds": bare, "raycnn_seconds": ours,
                               "ratio": ours / bare, "mean_trial_train_seconds": trial_seconds}
            print(f"(each trial trains for {trial_seconds:.2f} s on average)")
            print(f"{args.trials} one-second trials, 2 at a time: bare Ray Tune {bare:.1f} s, raycnn {ours:.1f} s "
                  f"= {ours / bare:.2f}x (goal <= 1.3x: {'met' if ours / bare <= 1.3 else 'NOT met'}); "
                  f"{ours / args.trials:.2f} s vs {bare / args.trials:.2f} s per trial", flush=True)
        if args.class_trials:
            report["per_trial_at_scale"] = per_trial_at_scale(folder, [20, args.class_trials])
        states = [experiment_state_per_trial(folder, classes, args.state_trials) for classes in args.classes]
    if states:
        report["experiment_state"] = states
        print(f"\n{'classes':>8}{'trials':>8}{'state bytes':>13}{'bytes/trial':>13}{'largest trial':>15}")
        for row in states:
            print(f"{row['classes']:>8}{row['trials']:>8}{row['experiment_state_bytes']:>13}"
                  f"{row['bytes_per_trial']:>13.0f}{row['largest_trial_entry_bytes']:>15}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
