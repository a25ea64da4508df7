"""A compact live progress line for the sweep, in place of Ray's verbose trial tables."""

from __future__ import annotations

import sys
import time

from ray import tune

PRINT_INTERVAL_S = 10.0


class ProgressPrinter(tune.Callback):
    def __init__(self, total: int, run_dir: str):
        self.total, self.run_dir = total, run_dir
        self.status: dict[str, str] = {}
        self.epochs: dict[str, int] = {}
        self.best: tuple[float, str] | None = None
        self.started = time.monotonic()
        self.last_print = 0.0

    def setup(self, **info) -> None:
        self.started = time.monotonic()
        print(f"sweep: {self.total} trials -> {self.run_dir}", flush=True)
        from raycnn.sweep.run import tensorboard_logdir

        print(f"watch: tensorboard --logdir {tensorboard_logdir(self.run_dir)}", flush=True)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.status[_name(trial)] = "running"

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        name = _name(trial)
        if result.get("final"):
            self.status[name] = result.get("status", "completed")
        if "val_accuracy" in result and result.get("epoch"):
            self.epochs[name] = int(result["epoch"])
            if self.best is None or result["val_accuracy"] > self.best[0]:
                self.best = (result["val_accuracy"], name)
        self._print()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        name = _name(trial)
        if self.status.get(name) == "running":   # ended between epochs: by the scheduler
            planned = trial.config["trial"]["config"]["train"]["epochs"]
            self.status[name] = "completed" if self.epochs.get(name, 0) >= planned else "early_stopped"
        self._print(force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.status[_name(trial)] = "error"
        self._print(force=True)

    def _print(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_print < PRINT_INTERVAL_S:
            return
        self.last_print = now
        counts = {s: list(self.status.values()).count(s) for s in set(self.status.values())}
        running = counts.get("running", 0)
        ended = sum(v for s, v in counts.items() if s != "running")
        pending = self.total - running - ended
        failed = sum(counts.get(s, 0) for s in ("error", "diverged", "oom"))
        elapsed = now - self.started
        eta = f", ETA ~{_minutes(elapsed / ended * (self.total - ended))}" if ended else ""
        best = f" | best val {self.best[0]:.4f} {self.best[1]}" if self.best else ""
        print(f"[{_minutes(elapsed)}] {pending} pending, {running} running, {counts.get('completed', 0)} done, "
              f"{counts.get('early_stopped', 0)} stopped early, {failed} failed{best}{eta}", file=sys.stdout,
              flush=True)


def _name(trial) -> str:
    return trial.config["trial"]["name"]


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
