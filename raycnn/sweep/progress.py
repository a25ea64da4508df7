"""A compact live progress line for the sweep, in place of Ray's verbose trial tables.

Counts are kept as trials change status, so a line costs the same at 10 trials and at 10,000."""

from __future__ import annotations

import sys
import time
from collections import Counter

from ray import tune

from raycnn.sweep.storage import tensorboard_logdir

PRINT_INTERVAL_S = 10.0
FAILED = ("error", "diverged", "oom")


class ProgressPrinter(tune.Callback):
    def __init__(self, total: int, run_dir: str, clock=time.monotonic):
        self.total, self.run_dir, self.clock = total, run_dir, clock
        self.status: dict[str, str] = {}
        self.counts: Counter = Counter()
        self.epochs: dict[str, int] = {}
        self.best: tuple[float, str] | None = None
        self.started = clock()
        self.last_print = 0.0

    def setup(self, **info) -> None:
        self.started = self.clock()
        print(f"sweep: {self.total} trials -> {self.run_dir}", flush=True)
        print(f"watch: tensorboard --logdir {tensorboard_logdir(self.run_dir)}", flush=True)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._set(_name(trial), "running")

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        name = _name(trial)
        if result.get("final"):
            self._set(name, result.get("status", "completed"))
        if "val_accuracy" in result and result.get("epoch"):
            self.epochs[name] = int(result["epoch"])
            if self.best is None or result["val_accuracy"] > self.best[0]:
                self.best = (result["val_accuracy"], name)
        self._print()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        name = _name(trial)
        if self.status.get(name) == "running":   # ended between epochs: by the scheduler
            planned = trial.config["trial"]["config"]["train"]["epochs"]
            self._set(name, "completed" if self.epochs.get(name, 0) >= planned else "early_stopped")
        self.epochs.pop(name, None)
        self._print()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._set(_name(trial), "error")
        self._print()

    def on_experiment_end(self, trials, **info) -> None:
        self._print(force=True)

    def _set(self, name: str, status: str) -> None:
        previous = self.status.get(name)
        if previous is not None:
            self.counts[previous] -= 1
        self.status[name] = status
        self.counts[status] += 1

    def _print(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last_print < PRINT_INTERVAL_S:
            return
        self.last_print = now
        running = self.counts["running"]
        ended = sum(self.counts.values()) - running
        pending = self.total - running - ended
        failed = sum(self.counts[s] for s in FAILED)
        elapsed = now - self.started
        eta = f", ETA ~{_minutes(elapsed / ended * (self.total - ended))}" if ended else ""
        best = f" | best val {self.best[0]:.4f} {self.best[1]}" if self.best else ""
        print(f"[{_minutes(elapsed)}] {pending} pending, {running} running, {self.counts['completed']} done, "
              f"{self.counts['early_stopped']} stopped early, {failed} failed{best}{eta}", file=sys.stdout,
              flush=True)


def _name(trial) -> str:
    return trial.config["trial"]["name"]


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
