"""Result tables of a sweep, RUN_DIR/results/*.parquet, kept current while the sweep runs.

- trials.parquet: one row per trial (every trial of the sweep, exactly once; pending ones too)
- epochs.parquet: trial_id, epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds
- classes.parquet: trial_id, class_index, class_name, precision, recall, f1, support (test set)
- confusion.parquet: trial_id, true_class, pred_class, count (test set, best-validation weights)

`ResultTables` is a Tune callback in the driver: it rewrites the tables (atomically) when trials
report, finish or fail, and reloads them when a sweep is resumed, so a crash loses nothing written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
from ray import tune

from raycnn.sweep.storage import RESULTS, RunStorage

TRIAL_COLUMNS = ["trial_id", "trial_name", "status", "arch", "dataset", "augment", "kernel_size", "seed",
                 "epochs_completed", "best_val_accuracy", "test_accuracy", "test_loss", "params",
                 "train_seconds", "images_per_second", "error", "stop_reason", "started_at_epoch", "node_id", "gpu_ids"]
EPOCH_COLUMNS = ["trial_id", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
WRITE_INTERVAL_S = 2.0


def flat_config(config: dict) -> dict[str, Any]:
    """{section: {key: v}} -> {"section.key": v}, lists and mappings as JSON text."""
    return {f"{section}.{key}": (json.dumps(value) if isinstance(value, (list, dict)) else value)
            for section, values in config.items() for key, value in values.items()}


def pending_row(spec: dict) -> dict[str, Any]:
    config = spec["config"]
    row = {column: None for column in TRIAL_COLUMNS}
    row.update(trial_id=spec["trial_id"], trial_name=spec["name"], status="pending",
               arch=config["model"]["arch"], dataset=config["data"]["dataset"],
               augment=config["augment"]["preset"], kernel_size=config["model"]["kernel_size"],
               seed=config["train"]["seed"], epochs_completed=0)
    return {**row, **flat_config(config)}


class ResultTables(tune.Callback):
    def __init__(self, run_location: str, specs: list[dict], on_end: Callable[[dict, dict], None] | None = None):
        self.run_location = run_location          # RUN_DIR: a folder or a URI
        self.on_end = on_end                      # on_end(spec, row): a status the driver decided
        self.storage: RunStorage | None = None
        self.specs = {spec["trial_id"]: spec for spec in specs}
        self.trials: dict[str, dict] = {}
        self.epochs: dict[tuple[str, int], dict] = {}
        self.tests: dict[str, dict] = {}          # trial_id -> {"per_class": [...], "confusion": [[...]]}
        self.last_write = 0.0

    def setup(self, **info) -> None:
        self.storage = RunStorage(self.run_location)
        self.trials = {tid: pending_row(spec) for tid, spec in self.specs.items()}
        self._load_existing()

    # --- Tune events ---------------------------------------------------------------------------

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        row = self.trials[_trial_id(trial)]
        if row["status"] in ("pending", "error"):
            row["status"] = "running"
        self.write(force=True)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        trial_id = _trial_id(trial)
        if "epoch" in result and "train_loss" in result:
            self.epochs[(trial_id, int(result["epoch"]))] = {c: result.get(c) for c in EPOCH_COLUMNS} | {
                "trial_id": trial_id, "epoch": int(result["epoch"])}
        self._update_row(trial_id, result)
        self.write(force=bool(result.get("final")))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        trial_id = _trial_id(trial)
        row = self.trials[trial_id]
        if row["status"] == "running":           # ended between epochs: the scheduler stopped it
            planned = self.specs[trial_id]["config"]["train"]["epochs"]
            finished = (row["epochs_completed"] or 0) >= planned
            row.update(status="completed" if finished else "early_stopped",
                       stop_reason=None if finished else "asha")
            self._ended(trial_id)
        self.write(force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        row = self.trials[_trial_id(trial)]
        row.update(status="error", error=_error_message(trial))
        self._ended(_trial_id(trial))
        self.write(force=True)

    def _ended(self, trial_id: str) -> None:
        if self.on_end is not None:
            try:
                self.on_end(self.specs[trial_id], self.trials[trial_id])
            except Exception as err:  # a record beside the tables: never lose the tables for it
                print(f"raycnn: could not record the end of {trial_id}: {err}")

    def on_experiment_end(self, trials, **info) -> None:
        self.write(force=True)

    # --- rows ------------------------------------------------------------------------------------

    def _update_row(self, trial_id: str, result: dict) -> None:
        row = self.trials[trial_id]
        epochs = [e for (tid, _), e in self.epochs.items() if tid == trial_id]
        if epochs:
            row.update(epochs_completed=max(e["epoch"] for e in epochs),
                       best_val_accuracy=max(e["val_accuracy"] for e in epochs),
                       train_seconds=sum(e["seconds"] for e in epochs))
        for key in ("test_accuracy", "test_loss", "params", "images_per_second", "error", "stop_reason",
                    "started_at_epoch", "node_id", "gpu_ids"):
            if result.get(key) is not None:
                row[key] = result[key]
        if result.get("final"):
            row["status"] = result["status"]
            if result.get("train_seconds") is not None:
                row["train_seconds"] = result["train_seconds"]
        if result.get("per_class"):
            self.tests[trial_id] = {"per_class": json.loads(result["per_class"]),
                                    "confusion": json.loads(result["confusion"])}

    def _load_existing(self) -> None:
        read = lambda name: self.storage.read_table(f"{RESULTS}/{name}.parquet")  # noqa: E731
        trials, epochs, classes, confusion = (read(n) for n in ("trials", "epochs", "classes", "confusion"))
        for row in trials.to_pylist() if trials is not None else []:
            if row["trial_id"] in self.trials:
                self.trials[row["trial_id"]] = row
        for row in epochs.to_pylist() if epochs is not None else []:
            self.epochs[(row["trial_id"], row["epoch"])] = row
        if classes is not None and confusion is not None:
            class_rows, confusion_rows = classes.to_pylist(), confusion.to_pylist()
            for trial_id in {r["trial_id"] for r in class_rows}:
                self.tests[trial_id] = _test_from_rows(trial_id, class_rows, confusion_rows)

    # --- files -----------------------------------------------------------------------------------

    def write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_write < WRITE_INTERVAL_S:
            return
        self.last_write = now
        ordered = [self.trials[tid] for tid in sorted(self.trials)]
        self._write("trials", ordered, TRIAL_COLUMNS)
        self._write("epochs", [self.epochs[k] for k in sorted(self.epochs)], EPOCH_COLUMNS)
        self._write("classes", self._class_rows(), ["trial_id", "class_index", "class_name", "precision",
                                                    "recall", "f1", "support"])
        self._write("confusion", self._confusion_rows(), ["trial_id", "true_class", "pred_class", "count"])

    def _write(self, name: str, rows: list[dict], leading: list[str]) -> None:
        columns = leading + sorted({k for row in rows for k in row} - set(leading))
        if rows:
            table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        else:
            table = pa.table({c: pa.array([], pa.null()) for c in columns})
        self.storage.write_table(f"{RESULTS}/{name}.parquet", table)

    def _class_rows(self) -> list[dict]:
        return [{"trial_id": tid, "class_index": i, "class_name": row["class"], "precision": row["precision"],
                 "recall": row["recall"], "f1": row["f1"], "support": row["support"]}
                for tid in sorted(self.tests) for i, row in enumerate(self.tests[tid]["per_class"])]

    def _confusion_rows(self) -> list[dict]:
        rows = []
        for tid in sorted(self.tests):
            for true, counts in enumerate(self.tests[tid]["confusion"]):
                rows += [{"trial_id": tid, "true_class": true, "pred_class": pred, "count": int(count)}
                         for pred, count in enumerate(counts)]
        return rows


def _trial_id(trial) -> str:
    return trial.config["trial"]["trial_id"]


def _error_message(trial) -> str:
    """The last error of a trial as one line: the exception's own message where it can be had."""
    text = ""
    for read in (lambda: getattr(trial.get_pickled_error(), "cause", None), trial.get_pickled_error,
                 trial.get_error, lambda: Path(trial.error_file).read_text()):
        try:
            found = read()
        except Exception:  # the error record is best effort; the trial's error.txt stays on disk
            continue
        if found:
            text = str(found)
            break
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "the trial failed; see error.txt in its folder"
    return lines[-1][:500]


def _test_from_rows(trial_id: str, classes: list[dict], confusion: list[dict]) -> dict:
    mine = sorted((r for r in classes if r["trial_id"] == trial_id), key=lambda r: r["class_index"])
    size = len(mine)
    matrix = [[0] * size for _ in range(size)]
    for r in confusion:
        if r["trial_id"] == trial_id:
            matrix[r["true_class"]][r["pred_class"]] = r["count"]
    per_class = [{"class": r["class_name"], "precision": r["precision"], "recall": r["recall"],
                  "f1": r["f1"], "support": r["support"]} for r in mine]
    return {"per_class": per_class, "confusion": matrix}


