"""The sweep driver's bookkeeping cost per trial, at 100 to 10,000 trials: `python benchmarks/driver_scale.py`.

Drives the two Tune callbacks the sweep driver runs (`ResultTables`, which keeps RUN_DIR/results/
current, and `ProgressPrinter`) with the events of a sweep, in the order Tune delivers them, without
Ray or training: every trial starts, reports each of its epochs with the metrics a raycnn trial
reports (100 classes, but only scalars travel), and ends; Tune's loop ticks between events and its
experiment checkpoint (which makes the tables flush) comes every 10 s. Time is simulated (each epoch
takes 1 s and `--concurrency` trials run at once), so the tables are written as often as in a real
sweep of that shape. The trials' own test-result files are written beforehand (outside the timed
part: trials write them, not the driver), and the final compaction of those files is timed on its own.

Prints driver milliseconds per trial (events, and the final compaction) and the driver's memory
growth per trial; goal: flat from 100 to 10,000 trials (within 20%), under 20 ms per trial.
Writes JSON next to the table (benchmarks/results/driver_scale.json).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from raycnn.sweep.progress import ProgressPrinter  # noqa: E402
from raycnn.sweep.results import write_test_results  # noqa: E402
from raycnn.sweep.runfiles import trial_dicts  # noqa: E402
from raycnn.sweep.tuner import record_trial_end  # noqa: E402
from raycnn.sweep.expand import expand_trials  # noqa: E402
from raycnn.sweep.spec import sweep_from_dict  # noqa: E402
from raycnn.sweep.tables import ResultTables  # noqa: E402

CHECKPOINT_PERIOD_S = 10.0   # Tune saves its experiment state (and so calls get_state) at least this often


class SimulatedClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeTrial:
    """What the callbacks read of a Tune trial: its config."""

    def __init__(self, spec: dict):
        self.config = {"trial": spec}


def make_specs(trials: int, epochs: int, run_dir: str, board: str | None) -> list[dict]:
    sweep = sweep_from_dict({"name": "scale", "question": "bookkeeping cost?", "seeds": trials,
                             "fixed": {"train": {"epochs": epochs}}, "scheduler": {"kind": "fifo"}}, "benchmark")
    return [{**spec, "tensorboard": board, "stop_epochs": [], "run_dir": run_dir}
            for spec in trial_dicts(expand_trials(sweep))]


def epoch_result(spec: dict, epoch: int, final: bool) -> dict:
    """What a raycnn trial reports after an epoch (raycnn/sweep/trainable.py): scalars only."""
    result = {"trial_id": spec["trial_id"], "trial_name": spec["name"], "node_id": "a" * 56, "gpu_ids": "[]",
              "started_at_epoch": 1, "params": 1_471_466, "epoch": epoch, "train_loss": 1.0 / epoch,
              "train_accuracy": 0.5, "val_loss": 1.1 / epoch, "val_accuracy": 0.4 + epoch / 100, "lr": 1e-3,
              "seconds": 1.0, "images_per_second": 900.0, "elapsed_seconds": float(epoch),
              "test_accuracy": 0.4, "test_loss": 1.2, "final": final}
    if final:
        result.update(status="completed", best_val_accuracy=0.4 + epoch / 100, train_seconds=float(epoch))
    return result


def write_trial_test_files(specs: list[dict], run_dir: str, classes: int) -> None:
    per_class = [{"class": f"class{i:03d}", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 100}
                 for i in range(classes)]
    confusion = [[50 if i == j else 0 for j in range(classes)] for i in range(classes)]
    for spec in specs:
        write_test_results(run_dir, spec["trial_id"], per_class, confusion)


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


def drive(specs: list[dict], epochs: int, concurrency: int, asha: bool, clock: SimulatedClock,
          callbacks: list) -> int:
    """Feed the callbacks a sweep's events; returns how many trials the scheduler stopped."""
    trials = [FakeTrial(spec) for spec in specs]
    stopped, waiting, running = 0, list(reversed(trials)), []
    next_checkpoint = CHECKPOINT_PERIOD_S
    while waiting or running:
        while waiting and len(running) < concurrency:
            trial = waiting.pop()
            for callback in callbacks:
                callback.on_trial_start(iteration=0, trials=trials, trial=trial)
            running.append([trial, 0])
        for slot in list(running):
            trial, done = slot
            slot[1] = epoch = done + 1
            result = epoch_result(trial.config["trial"], epoch, final=epoch == epochs)
            for callback in callbacks:
                callback.on_trial_result(iteration=0, trials=trials, trial=trial, result=result)
            clock.now += 1.0 / concurrency
            stop = asha and epoch < epochs and epoch in (1, 3, 9, 27) and hash(trial.config["trial"]["trial_id"]) % 3
            if epoch == epochs or stop:
                stopped += bool(stop)
                for callback in callbacks:
                    callback.on_trial_complete(iteration=0, trials=trials, trial=trial)
                running.remove(slot)
            for callback in callbacks:
                callback.on_step_end(iteration=0, trials=trials)
            if clock.now >= next_checkpoint:
                for callback in callbacks:
                    callback.get_state()
                next_checkpoint += CHECKPOINT_PERIOD_S
    return stopped


def measure(trials: int, epochs: int, classes: int, concurrency: int, asha: bool) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        run_dir = f"{folder}/scale"
        board = f"{run_dir}/tensorboard" if asha else None
        specs = make_specs(trials, epochs, run_dir, board)
        write_trial_test_files(specs, run_dir, classes)
        clock = SimulatedClock()
        tables = ResultTables(run_dir, specs, on_end=record_trial_end, clock=clock)
        progress = ProgressPrinter(len(specs), run_dir, clock=clock)
        before = rss_kb()
        with contextlib.redirect_stdout(io.StringIO()):
            start = time.perf_counter()
            tables.setup()
            progress.setup()
            stopped = drive(specs, epochs, concurrency, asha, clock, [tables, progress])
            events = time.perf_counter() - start
            grown = rss_kb() - before
            start = time.perf_counter()
            tables.on_experiment_end(trials=[])
            progress.on_experiment_end(trials=[])
            compaction = time.perf_counter() - start
        files = sum(1 for _ in Path(run_dir, "results").rglob("*.parquet") if _.is_file())
    return {"trials": trials, "epochs": epochs, "classes": classes, "concurrency": concurrency, "asha": asha,
            "asha_stopped": stopped, "events_ms_per_trial": 1000 * events / trials,
            "compaction_ms_per_trial": 1000 * compaction / trials,
            "driver_ms_per_trial": 1000 * (events + compaction) / trials,
            "rss_growth_kb_per_trial": grown / trials, "result_files": files,
            "simulated_sweep_hours": clock.now / 3600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16, help="trials running at once (simulated)")
    parser.add_argument("--asha", action="store_true", help="ASHA stops 2/3 of the trials at each rung "
                        "(the driver then writes their TensorBoard status)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "driver_scale.json")
    args = parser.parse_args()
    print(f"driver bookkeeping, {args.classes} classes, {args.epochs} epochs per trial, {args.concurrency} "
          f"at once{', ASHA' if args.asha else ''}; peak RSS so far is the process's, growth is per trial")
    print(f"{'trials':>7}{'events ms/trial':>17}{'compaction ms/trial':>21}{'total ms/trial':>16}"
          f"{'RSS KB/trial':>14}{'files':>7}")
    runs = []
    for trials in args.trials:
        report = measure(trials, args.epochs, args.classes, args.concurrency, args.asha)
        runs.append(report)
        print(f"{trials:>7}{report['events_ms_per_trial']:>17.2f}{report['compaction_ms_per_trial']:>21.2f}"
              f"{report['driver_ms_per_trial']:>16.2f}{report['rss_growth_kb_per_trial']:>14.1f}"
              f"{report['result_files']:>7}", flush=True)
    low, high = (min(r["driver_ms_per_trial"] for r in runs), max(r["driver_ms_per_trial"] for r in runs))
    flat = high <= 1.2 * low
    print(f"spread {high / low:.2f}x (goal <= 1.2x: {'met' if flat else 'NOT met'}); "
          f"max {high:.1f} ms per trial (goal < 20: {'met' if high < 20 else 'NOT met'}); "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs, "spread": high / low}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
