"""The result tables' files: what a reader sees while the driver writes them, what an event rewrites,
resume, and the compaction of the trials' own test files. The driver's callback is fed the events
Tune sends it (start, one result per epoch, end), with the rows a raycnn trial reports."""

from __future__ import annotations

import threading

import pandas as pd
import pyarrow.parquet as pq
import pytest

from raycnn.sweep.results import SHARD_TRIALS, part_file, read_test_table, write_test_results
from raycnn.sweep.runfiles import trial_dicts
from raycnn.sweep.expand import expand_trials
from raycnn.sweep.spec import sweep_from_dict
from raycnn.sweep.storage import RunStorage
from raycnn.sweep.tables import ResultTables


class Trial:
    """What the callback reads of a Tune trial."""

    def __init__(self, spec: dict):
        self.config = {"trial": spec}


def specs(count: int, run_dir: str, epochs: int = 3) -> list[dict]:
    sweep = sweep_from_dict({"name": "t", "question": "?", "seeds": count, "fixed": {"train": {"epochs": epochs}}},
                            "test")
    return [{**spec, "run_dir": run_dir} for spec in trial_dicts(expand_trials(sweep))]


def result(spec: dict, epoch: int, epochs: int) -> dict:
    row = {"trial_id": spec["trial_id"], "epoch": epoch, "train_loss": 1.0, "train_accuracy": 0.5,
           "val_loss": 1.0, "val_accuracy": epoch / 10, "lr": 0.001, "seconds": 1.5, "elapsed_seconds": 1.5 * epoch,
           "test_accuracy": epoch / 10, "test_loss": 1.0, "params": 1000, "final": epoch == epochs}
    if epoch == epochs:
        row.update(status="completed", train_seconds=1.5 * epoch)
    return row


def run_trial(tables: ResultTables, spec: dict, epochs: int, first: int = 1) -> None:
    trial = Trial(spec)
    tables.on_trial_start(iteration=0, trials=[], trial=trial)
    for epoch in range(first, epochs + 1):
        tables.on_trial_result(iteration=0, trials=[], trial=trial, result=result(spec, epoch, epochs))
        tables.on_step_end(iteration=0, trials=[])
    tables.on_trial_complete(iteration=0, trials=[], trial=trial)


def test_a_reader_never_sees_half_a_write_a_lost_or_a_doubled_row(tmp_path):
    run_dir = str(tmp_path / "run")
    trials = specs(250, run_dir)
    clock = iter(range(10**9)).__next__               # every step is a new second: a write each time
    tables = ResultTables(run_dir, trials, clock=lambda: float(clock()))
    tables.setup()
    seen, failures, done = [], [], threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                rows = pd.read_parquet(tmp_path / "run" / "results" / "trials.parquet")
                epochs = pd.read_parquet(tmp_path / "run" / "results" / "epochs.parquet")
            except Exception as err:                  # a torn or half-renamed file would land here
                failures.append(repr(err))
                continue
            seen.append((len(rows), rows["trial_id"].is_unique, epochs.duplicated(["trial_id", "epoch"]).any()))

    reader = threading.Thread(target=read)
    reader.start()
    for spec in trials:
        run_trial(tables, spec, epochs=3)
    tables.on_experiment_end(trials=[])
    done.set()
    reader.join()
    assert not failures and len(seen) > 20
    assert all(count == 250 and unique and not doubled for count, unique, doubled in seen)
    rows = pd.read_parquet(tmp_path / "run" / "results" / "trials.parquet")
    assert (rows["status"] == "completed").all() and (rows["epochs_completed"] == 3).all()
    assert len(pd.read_parquet(tmp_path / "run" / "results" / "epochs.parquet")) == 750


def test_an_event_rewrites_only_its_trials_part(tmp_path):
    run_dir = str(tmp_path / "run")
    trials = specs(5 * SHARD_TRIALS, run_dir)
    tables = ResultTables(run_dir, trials)
    tables.setup()
    parts = sorted((tmp_path / "run" / "results" / "trials.parquet").iterdir())
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(5)]
    before = {p.name: p.stat().st_ino for p in parts}
    spec = trials[3 * SHARD_TRIALS + 7]             # a trial of the fourth part
    tables.on_trial_result(iteration=0, trials=[], trial=Trial(spec), result=result(spec, 1, 3))
    tables.write()
    after = {p.name: p.stat().st_ino for p in (tmp_path / "run" / "results" / "trials.parquet").iterdir()}
    assert [name for name in after if after[name] != before[name]] == ["part-00003.parquet"]
    assert [p.name for p in (tmp_path / "run" / "results" / "epochs.parquet").iterdir()] == ["part-00003.parquet"]


@pytest.fixture(params=["folder", "uri"])
def run_dir(request, tmp_path) -> str:
    """RUN_DIR as a folder, or as a URI (what a bucket goes through: pyarrow's filesystems)."""
    return str(tmp_path / "run") if request.param == "folder" else f"file://{tmp_path}/run"


def test_left_over_partial_files_are_invisible_and_a_resume_continues_the_tables(tmp_path, run_dir):
    trials = specs(3, run_dir, epochs=4)
    tables = ResultTables(run_dir, trials)
    tables.setup()
    run_trial(tables, trials[0], epochs=4)
    trial = Trial(trials[1])
    tables.on_trial_start(iteration=0, trials=[], trial=trial)
    for epoch in (1, 2, 3):
        tables.on_trial_result(iteration=0, trials=[], trial=trial, result=result(trials[1], epoch, 4))
    tables.get_state()                               # Tune saves its state: the tables are written
    folder = tmp_path / "run" / "results" / "epochs.parquet"
    (folder / ".part-00000.parquet.999-abcdef.tmp").write_bytes(b"PAR1 cut off by a kill")   # a killed write
    assert len(pd.read_parquet(folder)) == 7

    again = ResultTables(run_dir, trials)            # the driver is killed; --resume starts a new one
    again.setup()
    run_trial(again, trials[1], epochs=4, first=3)   # continued from its epoch-2 checkpoint: 3 is reported again
    run_trial(again, trials[2], epochs=4)
    again.on_experiment_end(trials=[])
    epochs = pd.read_parquet(folder)
    assert len(epochs) == 12 and not epochs.duplicated(["trial_id", "epoch"]).any()
    rows = pd.read_parquet(tmp_path / "run" / "results" / "trials.parquet").set_index("trial_id")
    assert list(rows["status"]) == ["completed"] * 3 and list(rows["epochs_completed"]) == [4, 4, 4]
    assert rows.loc["t0002", "train_seconds"] == pytest.approx(6.0)


def test_test_files_are_compacted_into_parts_and_a_newer_own_file_wins(tmp_path, run_dir):
    trials = specs(SHARD_TRIALS + 20, run_dir, epochs=1)
    tables = ResultTables(run_dir, trials)
    tables.setup()
    per_class = [{"class": name, "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2} for name in "abc"]
    for number, spec in enumerate(trials):
        write_test_results(run_dir, spec["trial_id"], per_class, [[number, 1, 1], [0, 2, 0], [0, 0, 2]])
        run_trial(tables, spec, epochs=1)
    tables.on_experiment_end(trials=[])
    for name, rows in (("classes", 3), ("confusion", 9)):
        folder = tmp_path / "run" / "results" / f"{name}.parquet"
        assert sorted(p.name for p in folder.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
        assert len(pd.read_parquet(folder)) == rows * len(trials)
    confusion = pd.read_parquet(tmp_path / "run" / "results" / "confusion.parquet")
    first = confusion[(confusion.true_class == 0) & (confusion.pred_class == 0)].set_index("trial_id")["count"]
    assert list(first) == list(range(len(trials)))   # each trial's own matrix, in sweep order

    write_test_results(run_dir, "t0002", per_class, [[9, 0, 0], [0, 9, 0], [0, 0, 9]])   # a rerun after resume
    storage = RunStorage(run_dir)
    cells = read_test_table(storage, "confusion").to_pandas()
    assert cells[cells.trial_id == "t0002"]["count"].sum() == 27 and len(cells) == 9 * len(trials)
    tables.on_experiment_end(trials=[])
    assert not (tmp_path / "run" / "results" / "confusion.parquet" / "t0002.parquet").exists()
    assert pq.read_table(storage.path(part_file("confusion", 0))).num_rows == 9 * SHARD_TRIALS
