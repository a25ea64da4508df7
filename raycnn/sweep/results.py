"""The result tables of a sweep: RUN_DIR/results/<table>.parquet, each a Parquet dataset (a folder).

    pandas.read_parquet("RUN_DIR/results/trials.parquet")     # or pyarrow.parquet.read_table(...)

- trials.parquet: one row per trial (every trial of the sweep, exactly once; pending ones too); status
  pending, running, completed, early_stopped, diverged, oom, error, or interrupted (the sweep was
  stopped, by Ctrl-C, SIGTERM or a full disk, while it ran: `--resume` continues it)
- epochs.parquet: trial_id, epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds
- classes.parquet: trial_id, class_index, class_name, precision, recall, f1, support (test set)
- confusion.parquet: trial_id, true_class, pred_class, count (test set, best-validation weights)

Why this layout: the cost of keeping the tables current must not grow with the sweep. Trials and
their epochs are kept in parts of SHARD_TRIALS trials each (`part-00003.parquet` holds trials
301-400 in sweep order): an event rewrites only its trial's part, whose size is bounded, never the
whole table. A trial's test results (per class and confusion, K and K*K rows) are written once per
change of its best weights, by the trial itself, as its own file (`t0001.parquet`), so they never
pass through Ray Tune's results, and no other trial's rows are written again; when every trial has
ended they are compacted into parts, so a finished sweep of thousands of trials is a few files.

Every file appears whole (written aside under a hidden name, then renamed; an object store replaces
whole objects) and every row lives in exactly one file, so a reader at any moment sees each trial once,
with the rows of its last write. Every part of a table has the same schema, fixed when the sweep
starts, so the folder reads as one table. The one exception: while the final compaction of a part
runs (milliseconds), its trials' test rows exist both in the part and in their own files; readers that
must be exact then keep one copy per key (`read_test_table` does; `python -m analysis` does too).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raycnn.code import display_ref
from runformat import TRIAL_FIELDS
from raycnn.sweep.storage import RESULTS, RunStorage

SHARD_TRIALS = 100
TRIAL_COLUMNS = list(TRIAL_FIELDS)
EPOCH_SCHEMA = pa.schema([("trial_id", pa.string()), ("epoch", pa.int64()), ("train_loss", pa.float64()),
                          ("train_accuracy", pa.float64()), ("val_loss", pa.float64()),
                          ("val_accuracy", pa.float64()), ("lr", pa.float64()), ("seconds", pa.float64())])
EPOCH_COLUMNS = EPOCH_SCHEMA.names
CLASS_SCHEMA = pa.schema([("trial_id", pa.string()), ("class_index", pa.int64()), ("class_name", pa.string()),
                          ("precision", pa.float64()), ("recall", pa.float64()), ("f1", pa.float64()),
                          ("support", pa.int64())])
CONFUSION_SCHEMA = pa.schema([("trial_id", pa.string()), ("true_class", pa.int64()),
                              ("pred_class", pa.int64()), ("count", pa.int64())])
TEST_KEYS = {"classes": ["trial_id", "class_index"], "confusion": ["trial_id", "true_class", "pred_class"]}


def table_folder(name: str) -> str:
    return f"{RESULTS}/{name}.parquet"


def part_file(name: str, shard: int) -> str:
    return f"{table_folder(name)}/part-{shard:05d}.parquet"


def shard_of(position: int) -> int:
    """The part a trial's rows live in, by its position in the sweep (0-based)."""
    return position // SHARD_TRIALS


# --- trials -----------------------------------------------------------------------------------

def flat_config(config: dict) -> dict[str, Any]:
    """{section: {key: v}} -> {"section.key": v}, lists and mappings as JSON text."""
    return {f"{section}.{key}": (json.dumps(value) if isinstance(value, (list, dict)) else value)
            for section, values in config.items() for key, value in values.items()}


def pending_row(spec: dict) -> dict[str, Any]:
    config = spec["config"]
    row = {column: None for column in TRIAL_COLUMNS}
    row.update(trial_id=spec["trial_id"], trial_name=spec["name"], status="pending",
               arch=display_ref(config["model"]["arch"]), dataset=display_ref(config["data"]["dataset"]),
               augment=config["augment"]["preset"], kernel_size=config["model"]["kernel_size"],
               seed=config["train"]["seed"], epochs_completed=0, restarts=0,
               code=json.dumps(spec["code_records"]) if spec.get("code_records") else None,
               stage=spec.get("stage"), cell=spec.get("cell"),
               tuned=json.dumps(spec["tuned"]) if spec.get("tuned") else None)
    return {**row, **flat_config(config)}


def trials_schema(rows: Iterable[dict]) -> pa.Schema:
    """The fixed columns, then every config column (sorted) typed by the values the sweep gives it."""
    seen: dict[str, set[type]] = {}
    for row in rows:
        for key, value in row.items():
            if key not in TRIAL_FIELDS:
                seen.setdefault(key, set()).add(type(value))
    fields = [pa.field(name, kind) for name, kind in TRIAL_FIELDS.items()]
    return pa.schema(fields + [pa.field(key, _arrow_type(seen[key])) for key in sorted(seen)])


def _arrow_type(kinds: set[type]) -> pa.DataType:
    kinds = kinds - {type(None)}
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def conform(row: dict, schema: pa.Schema) -> dict:
    """The row with every column of `schema`, and text where a string column holds something else."""
    out = {}
    for field in schema:
        value = row.get(field.name)
        out[field.name] = str(value) if value is not None and pa.types.is_string(field.type) \
            and not isinstance(value, str) else value
    return out


def rows_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Conformed rows (see `conform`) as a table of exactly `schema`."""
    return pa.table([pa.array([row[f.name] for row in rows], type=f.type) for f in schema], schema=schema)


def tuples_table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Rows given as tuples in the schema's column order."""
    columns = list(zip(*rows)) if rows else [()] * len(schema)
    return pa.table([pa.array(list(c), type=f.type) for c, f in zip(columns, schema)], schema=schema)


# --- test results: written by the trial ------------------------------------------------------

def test_tables(trial_id: str, per_class: list[dict], confusion: list[list[int]]) -> tuple[pa.Table, pa.Table]:
    """A trial's per-class rows and its confusion matrix as long rows (true, pred, count)."""
    classes = pa.table({
        "trial_id": pa.array([trial_id] * len(per_class), pa.string()),
        "class_index": pa.array(range(len(per_class)), pa.int64()),
        "class_name": pa.array([str(r["class"]) for r in per_class], pa.string()),
        "precision": pa.array([r["precision"] for r in per_class], pa.float64()),
        "recall": pa.array([r["recall"] for r in per_class], pa.float64()),
        "f1": pa.array([r["f1"] for r in per_class], pa.float64()),
        "support": pa.array([r["support"] for r in per_class], pa.int64())}, schema=CLASS_SCHEMA)
    matrix = np.asarray(confusion, dtype=np.int64)
    size = matrix.shape[0]
    cells = pa.table({
        "trial_id": pa.array([trial_id] * (size * size), pa.string()),
        "true_class": pa.array(np.repeat(np.arange(size), size)),
        "pred_class": pa.array(np.tile(np.arange(size), size)),
        "count": pa.array(matrix.reshape(-1))}, schema=CONFUSION_SCHEMA)
    return classes, cells


def write_test_results(run_dir: str, trial_id: str, per_class: list[dict], confusion: list[list[int]]) -> None:
    """The trial's own files: results/classes.parquet/<trial>.parquet and results/confusion.parquet/<trial>.parquet."""
    storage = RunStorage(run_dir)
    classes, cells = test_tables(trial_id, per_class, confusion)
    storage.write_table(f"{table_folder('classes')}/{trial_id}.parquet", classes)
    storage.write_table(f"{table_folder('confusion')}/{trial_id}.parquet", cells)


def read_test_table(storage: RunStorage, name: str) -> pa.Table | None:
    """classes or confusion, one row per key: a trial's own file wins over a part (it is newer)."""
    schema = CLASS_SCHEMA if name == "classes" else CONFUSION_SCHEMA
    files = storage.list_files(table_folder(name))
    if not files:
        return None
    own = [f for f in files if not f.startswith("part-")]
    parts = [storage.read_table(f"{table_folder(name)}/{f}", schema) for f in files if f.startswith("part-")]
    mine = [storage.read_table(f"{table_folder(name)}/{f}", schema) for f in own]
    fresh = {f.removesuffix(".parquet") for f in own}
    if fresh:   # drop the part rows of trials that have their own, newer file
        parts = [t.filter(pc.invert(pc.is_in(t["trial_id"], pa.array(sorted(fresh)))))
                 for t in parts]
    return pa.concat_tables(parts + mine)


def compact_test_results(storage: RunStorage, positions: dict[str, int]) -> int:
    """Merge the trials' own test files into parts of SHARD_TRIALS trials, one part at a time (memory
    bounded by a part); returns the files merged. A part is written whole before the files it replaces
    are removed, so a crash loses nothing (the next compaction finishes the job)."""
    merged = 0
    for name, schema in (("classes", CLASS_SCHEMA), ("confusion", CONFUSION_SCHEMA)):
        folder = table_folder(name)
        by_part: dict[int, list[str]] = {}
        for file in storage.list_files(folder):
            trial_id = file.removesuffix(".parquet")
            if not file.startswith("part-") and trial_id in positions:
                by_part.setdefault(shard_of(positions[trial_id]), []).append(trial_id)
        for part, trial_ids in sorted(by_part.items()):
            tables = [storage.read_table(f"{folder}/{t}.parquet", schema) for t in trial_ids]
            if storage.exists(part_file(name, part)):   # an earlier compaction's rows of other trials
                older = storage.read_table(part_file(name, part), schema)
                tables.insert(0, older.filter(pc.invert(pc.is_in(older["trial_id"], pa.array(trial_ids)))))
            rows = pa.concat_tables(tables).sort_by([(key, "ascending") for key in TEST_KEYS[name]])
            storage.write_table(part_file(name, part), rows)
            for trial_id in trial_ids:
                storage.delete(f"{folder}/{trial_id}.parquet")
            merged += len(trial_ids)
    return merged


def mark_for_retry(storage: RunStorage, trial_ids: set[str], why: str) -> None:
    """Set these trials back to `pending`, saying why in `warning` (a retry stage runs them again)."""
    folder = table_folder("trials")
    for name in storage.list_files(folder):
        table = storage.read_table(f"{folder}/{name}")
        rows = table.to_pylist()
        mine = [row for row in rows if row["trial_id"] in trial_ids]
        for row in mine:
            row.update(status="pending", stop_reason=None, warning="; ".join(filter(None, [row.get("warning"), why])))
        if mine:
            storage.write_table(f"{folder}/{name}", rows_table(rows, table.schema))


def mark_interrupted(storage: RunStorage) -> int:
    """Rewrite the trials parts holding `running` trials with those trials `interrupted` (the sweep was
    stopped while they ran); returns how many. Only the driver calls it, after Tune's loop has ended."""
    folder, marked = table_folder("trials"), 0
    for name in storage.list_files(folder):
        table = storage.read_table(f"{folder}/{name}")
        rows = table.to_pylist()
        running = [row for row in rows if row["status"] == "running"]
        for row in running:
            row["status"] = "interrupted"
        if running:
            storage.write_table(f"{folder}/{name}", rows_table(rows, table.schema))
            marked += len(running)
    return marked
