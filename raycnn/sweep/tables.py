"""`ResultTables`: the Tune callback in the sweep driver that keeps RUN_DIR/results/ current.

The tables and their layout are described in `raycnn.sweep.results`. Each Tune event updates one
trial's row in memory (looking at that trial's own epochs only, never at other trials) and marks its
part dirty; dirty parts are written every WRITE_INTERVAL_S, whenever Tune saves its experiment state
(`get_state`), and when the sweep ends. Tables on disk are therefore never behind the state a
`--resume` starts from: a trial Tune will not run again has its rows written, and one it will run
again rewrites its own rows (one row per trial and epoch, however often an epoch is reported).
Epoch rows (tuples, in EPOCH_COLUMNS order) of parts whose trials have all ended are dropped from
memory once written (and read back only if one of their trials runs again), so the driver holds the
epochs of running trials only.
"""

from __future__ import annotations

import errno
import time
from pathlib import Path
from typing import Callable

from ray import tune

from raycnn.sweep.results import (EPOCH_COLUMNS, EPOCH_SCHEMA, compact_test_results, conform, part_file, pending_row,
                                  rows_table, shard_of, table_folder, trials_schema, tuples_table)
from raycnn.sweep import interrupt
from raycnn.sweep.storage import RunStorage, is_storage_full
from runformat import ENDED

WRITE_INTERVAL_S = 2.0
VAL, SECONDS = EPOCH_COLUMNS.index("val_accuracy"), EPOCH_COLUMNS.index("seconds")
ROW_FIELDS = ("test_accuracy", "test_loss", "params", "images_per_second", "error", "stop_reason",
              "started_at_epoch", "node_id", "gpu_ids", "pid", "precision", "device_name", "gpu_share", "gpu_peak_mb")
RESTARTABLE = ("pending", "error", "interrupted")   # statuses a (resumed) sweep runs again


class ResultTables(tune.Callback):
    def __init__(self, run_location: str, specs: list[dict], on_end: Callable[[dict, dict], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, stopped_by: str = "asha"):
        self.run_location = run_location          # RUN_DIR: a folder or a URI
        self.stopped_by = stopped_by              # the stop_reason of a trial the scheduler ended early
        self.on_end = on_end                      # on_end(spec, row): a status the driver decided
        self.clock = clock
        self.specs = {spec["trial_id"]: spec for spec in specs}
        self.position = {spec["trial_id"]: i for i, spec in enumerate(specs)}
        self.members: dict[int, list[str]] = {}   # part -> its trial ids, in sweep order
        for spec in specs:
            self.members.setdefault(shard_of(self.position[spec["trial_id"]]), []).append(spec["trial_id"])
        self.storage: RunStorage | None = None
        self.schema = None
        self.trials: dict[str, dict] = {}
        self.epochs: dict[int, dict[str, dict[int, tuple]]] = {}  # loaded parts: part -> trial -> epoch -> row
        self.dirty_trials: set[int] = set()
        self.dirty_epochs: set[int] = set()
        self.last_write = 0.0

    def setup(self, **info) -> None:
        self.storage = RunStorage(self.run_location)
        rows = [pending_row(spec) for spec in self.specs.values()]
        self.schema = trials_schema(rows)
        self.trials = {row["trial_id"]: conform(row, self.schema) for row in rows}
        existing = self.storage.read_table(table_folder("trials"), self.schema)   # a resumed sweep
        for row in existing.to_pylist() if existing is not None else []:
            if row["trial_id"] in self.trials:
                self.trials[row["trial_id"]] = row
        self.dirty_trials = set(self.members)    # every trial is listed from the start, pending ones too
        self.write()

    # --- Tune events ---------------------------------------------------------------------------

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        trial_id = _trial_id(trial)
        row = self.trials[trial_id]
        tuned = trial.config["trial"].get("tuned")
        if tuned:                                 # a tuning slot: the searcher chose its values at start
            fresh = conform(pending_row(trial.config["trial"]), self.schema)
            row.update({k: v for k, v in fresh.items() if k in _config_columns(fresh)})
            self.specs[trial_id] = trial.config["trial"]
        if row["status"] in RESTARTABLE:
            row.update(status="running", ended_at=None)
        if row["started_at"] is None:
            row["started_at"] = time.time()
        self.dirty_trials.add(self._part(trial_id))

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        trial_id = _trial_id(trial)
        for epoch_result in (result.get("history") or []) + ([result] if "train_loss" in result else []):
            epoch = int(epoch_result["epoch"])   # history: the epochs of the checkpoint a trial continues from
            self._epochs_of(trial_id)[epoch] = (trial_id, epoch) + tuple(epoch_result.get(c) for c in EPOCH_COLUMNS[2:])
            self.dirty_epochs.add(self._part(trial_id))
        self._update_row(trial_id, result)
        self.dirty_trials.add(self._part(trial_id))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        trial_id = _trial_id(trial)
        row = self.trials[trial_id]
        if row["status"] == "running":           # ended between epochs: the scheduler stopped it
            planned = self.specs[trial_id]["config"]["train"]["epochs"]
            finished = (row["epochs_completed"] or 0) >= planned
            row.update(status="completed" if finished else "early_stopped",
                       stop_reason=None if finished else self.stopped_by, ended_at=time.time())
            self._ended(trial_id)
        self.dirty_trials.add(self._part(trial_id))

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        """Its process failed (killed, node lost, an error) and Tune retries it from its last checkpoint."""
        trial_id = _trial_id(trial)
        row = self.trials[trial_id]
        row.update(restarts=(row["restarts"] or 0) + 1, error=_error_message(trial))
        self.dirty_trials.add(self._part(trial_id))
        self._check_space(row["error"])

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        trial_id = _trial_id(trial)
        self.trials[trial_id].update(status="error", error=_error_message(trial), ended_at=time.time())
        self._ended(trial_id)
        self.dirty_trials.add(self._part(trial_id))
        self._check_space(self.trials[trial_id]["error"])

    def on_step_end(self, iteration, trials, **info) -> None:
        if self.clock() - self.last_write >= WRITE_INTERVAL_S:
            self.write()

    def get_state(self) -> None:
        """Tune is saving the experiment state a resume starts from: the tables must not be behind it, so
        when they cannot be written (a full disk) this raises, and Tune keeps its previous state."""
        if not self.write():
            raise OSError(errno.ENOSPC, f"the result tables in {self.run_location} could not be written")
        return None

    def on_experiment_end(self, trials, **info) -> None:
        self.write()
        if all(row["status"] in ENDED for row in self.trials.values()) and not interrupt.stop_reason():
            try:
                compact_test_results(self.storage, self.position)
            except OSError as err:         # the trials' own files stay: the tables read the same
                self._check_space(err)
                if not is_storage_full(err):
                    raise

    def _check_space(self, error) -> None:
        """A write (the driver's or a trial's) failed on a full disk: stop the sweep, resumable."""
        if error and is_storage_full(error):
            if not interrupt.stop_reason():
                print(f"raycnn: the disk holding {self.run_location} is full; stopping the sweep", flush=True)
            interrupt.request_stop(f"storage full: the disk holding {self.run_location} is full")

    def _ended(self, trial_id: str) -> None:
        if self.on_end is not None:
            try:
                self.on_end(self.specs[trial_id], self.trials[trial_id])
            except Exception as err:  # a record beside the tables: never lose the tables for it
                print(f"raycnn: could not record the end of {trial_id}: {err}")

    # --- rows ------------------------------------------------------------------------------------

    def _part(self, trial_id: str) -> int:
        return shard_of(self.position[trial_id])

    def _epochs_of(self, trial_id: str) -> dict[int, dict]:
        """This trial's epoch rows (its part read back first if it was dropped from memory)."""
        part = self._part(trial_id)
        if part not in self.epochs:
            self.epochs[part] = {}
            if self.storage.exists(part_file("epochs", part)):
                columns = self.storage.read_table(part_file("epochs", part), EPOCH_SCHEMA).to_pydict()
                for row in zip(*(columns[c] for c in EPOCH_COLUMNS)):
                    self.epochs[part].setdefault(row[0], {})[row[1]] = row
        return self.epochs[part].setdefault(trial_id, {})

    def _update_row(self, trial_id: str, result: dict) -> None:
        row = self.trials[trial_id]
        epochs = self._epochs_of(trial_id)
        if epochs:
            row.update(epochs_completed=max(epochs), best_val_accuracy=max(e[VAL] for e in epochs.values()),
                       train_seconds=sum(e[SECONDS] for e in epochs.values()))
        for key in ROW_FIELDS:
            if result.get(key) is not None:
                row[key] = result[key]
        if result.get("warning") and result["warning"] != row["warning"]:
            row["warning"] = result["warning"]
            print(f"raycnn: warning: {trial_id} {row['trial_name']}: {result['warning']}", flush=True)
        if result.get("final"):
            row.update(status=result["status"], ended_at=time.time())
            if result.get("train_seconds") is not None:
                row["train_seconds"] = result["train_seconds"]

    # --- files -----------------------------------------------------------------------------------

    def write(self) -> bool:
        """Write the dirty parts; each part file is replaced whole. On a full disk the files keep their
        last rows, the parts stay dirty, the sweep is asked to stop, and this returns False."""
        try:
            self._write_dirty()
        except OSError as err:
            if not is_storage_full(err):
                raise
            self._check_space(err)
            return False
        for part in [p for p in self.epochs if all(self.trials[t]["status"] in ENDED for t in self.members[p])]:
            del self.epochs[part]                 # written, and no trial of it is running
        return True

    def _write_dirty(self) -> None:
        for part in sorted(self.dirty_trials):
            rows = [self.trials[trial_id] for trial_id in self.members[part]]
            self.storage.write_table(part_file("trials", part), rows_table(rows, self.schema))
        for part in sorted(self.dirty_epochs):
            rows = [self.epochs[part][trial_id][epoch] for trial_id in self.members[part]
                    if trial_id in self.epochs[part] for epoch in sorted(self.epochs[part][trial_id])]
            self.storage.write_table(part_file("epochs", part), tuples_table(rows, EPOCH_SCHEMA))
        self.dirty_trials.clear()
        self.dirty_epochs.clear()
        self.last_write = self.clock()


def _config_columns(row: dict) -> set[str]:
    """The columns a tuning slot's values can change: its config, and the short copies of config fields."""
    return {k for k in row if "." in k} | {"tuned", "arch", "dataset", "augment", "kernel_size", "seed"}


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
