"""The per-cell searcher and schedulers of a tuned sweep, driven directly (no Ray cluster, seconds): what Tune's
controller would call, with fake trials; a kill simulated by saving, building a new searcher and restoring it
beside a trials table that ran on after the save."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ray.tune.search import Searcher

from raycnn.sweep.results import part_file
from raycnn.sweep.space import Dimension
from raycnn.sweep.cell_scheduler import CellScheduler, dataset_of
from raycnn.sweep.confirm import best_values, front_values, tuning_done
from raycnn.sweep.tuned import CellSearcher

SPACE = (Dimension("train.lr", "loguniform", (1e-4, 1e-1)),)


def slots(cells=("a", "b"), per_cell=3) -> dict[str, list[dict]]:
    found, number = {}, 1
    for cell in cells:
        found[cell] = []
        for sample in range(1, per_cell + 1):
            found[cell].append({"trial_id": f"t{number:04d}", "name": f"{cell}-tune{sample:02d}", "stage": "tune",
                                "cell": cell, "values": {}, "config": {"train": {"lr": 1e-3}, "model": {}}})
            number += 1
    return found


def searcher(kind="tpe", run_dir=None, **kw) -> CellSearcher:
    return CellSearcher(slots(**kw), kind, SPACE, "val_accuracy", seed=0, run_dir=run_dir)


def test_slots_are_filled_cell_by_cell_with_the_cells_own_values_then_finished():
    search = searcher()
    given = [search.suggest(f"T{i}") for i in range(6)]
    assert [g["trial"]["cell"] for g in given] == ["a", "b", "a", "b", "a", "b"]      # fewest given first
    assert [g["trial"]["trial_id"] for g in given] == ["t0001", "t0004", "t0002", "t0005", "t0003", "t0006"]
    for g in given:
        lr = g["trial"]["config"]["train"]["lr"]
        assert 1e-4 <= lr <= 1e-1 and g["trial"]["tuned"] == {"train.lr": lr} and g["trial"]["values"]["train.lr"] == lr
    assert len({g["trial"]["config"]["train"]["lr"] for g in given}) == 6               # never a value twice
    assert search.suggest("T6") == Searcher.FINISHED


def test_a_cells_results_reach_its_own_searcher_only():
    search = searcher()
    seen = {"a": [], "b": []}
    for cell, inner in search.inner.items():              # record what each cell's own searcher is told
        original = inner.on_trial_complete
        inner.on_trial_complete = lambda trial_id, result=None, error=False, cell=cell, original=original: (
            seen[cell].append((trial_id, error)), original(trial_id, result, error=error))
    a1, b1 = search.suggest("T0"), search.suggest("T1")
    search.on_trial_result("T0", {"val_accuracy": 0.5, "epoch": 1, "training_iteration": 1})
    search.on_trial_complete("T0", {"val_accuracy": 0.9, "epoch": 4, "training_iteration": 4})
    search.on_trial_complete("T1", None, error=True)                    # an error is an observation too
    assert search.observed == {"a": 1, "b": 1}
    assert seen == {"a": [("T0", False)], "b": [("T1", True)]}
    assert a1["trial"]["cell"] == "a" and b1["trial"]["cell"] == "b"


def write_table(run_dir, rows: list[dict]) -> None:
    path = run_dir / part_file("trials", 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_a_restored_searcher_continues_without_repeating_a_slot_or_a_value(tmp_path):
    """Kill after Tune saved the searcher at 2 of 6 slots; before the kill, the table saw slot 3 start and end,
    and slot 4 start. After the restore: slot 3 is an observation (not run again), slot 4 keeps its values."""
    run_dir = tmp_path / "run"
    before = searcher(run_dir=str(run_dir))
    first = [before.suggest(f"T{i}") for i in range(2)]
    before.on_trial_complete("T0", {"val_accuracy": 0.8, "epoch": 4, "training_iteration": 4})
    before.save(str(tmp_path / "searcher.pkl"))                            # Tune's last saved state
    late = [before.suggest(f"T{i}") for i in (2, 3)]                       # ran on after the save (t0002, t0005)
    write_table(run_dir, [
        {"trial_id": first[0]["trial"]["trial_id"], "status": "completed", "tuned": json.dumps(first[0]["trial"]["tuned"]),
         "best_val_accuracy": 0.8, "epochs_completed": 4},
        {"trial_id": late[0]["trial"]["trial_id"], "status": "completed", "tuned": json.dumps(late[0]["trial"]["tuned"]),
         "best_val_accuracy": 0.7, "epochs_completed": 4},
        {"trial_id": late[1]["trial"]["trial_id"], "status": "running", "tuned": json.dumps(late[1]["trial"]["tuned"]),
         "best_val_accuracy": 0.4, "epochs_completed": 1}])
    after = searcher(run_dir=str(run_dir))
    after.restore(str(tmp_path / "searcher.pkl"))
    resumed = []
    while (given := after.suggest(f"R{len(resumed)}")) not in (None, Searcher.FINISHED):
        resumed.append(given["trial"])
    ids = [t["trial_id"] for t in resumed]
    assert late[0]["trial"]["trial_id"] not in ids                          # ended after the save: not run again
    assert resumed[0]["trial_id"] == late[1]["trial"]["trial_id"]           # started: continues with its values
    assert resumed[0]["tuned"] == late[1]["trial"]["tuned"]
    every = [t["tuned"]["train.lr"] for t in resumed] + [g["trial"]["tuned"]["train.lr"] for g in first + late[:1]]
    assert sorted(ids + [first[0]["trial"]["trial_id"], first[1]["trial"]["trial_id"], late[0]["trial"]["trial_id"]]) \
        == [f"t{i:04d}" for i in range(1, 7)]                               # every slot once
    assert len(set(every)) == len(every)                                    # no value twice
    assert after.observed["a"] + after.observed["b"] >= 2


FRONT = [("best_val_accuracy", "max"), ("params", "min")]


def test_a_pareto_search_tells_each_cell_every_objective_and_takes_a_slot_that_ended_after_the_save(tmp_path):
    run_dir = tmp_path / "run"
    make = lambda: CellSearcher(slots(), "tpe", SPACE, "val_accuracy", seed=0, run_dir=str(run_dir), objectives=FRONT)
    before = make()
    given = [before.suggest(f"T{i}") for i in range(2)]
    assert [g["trial"]["cell"] for g in given] == ["a", "b"]
    before.on_trial_result("T0", {"val_accuracy": 0.5, "params": 900, "epoch": 1, "training_iteration": 1})
    before.on_trial_complete("T0", {"best_val_accuracy": 0.8, "params": 900, "epoch": 4, "training_iteration": 4})
    before.on_trial_complete("T1", {"val_accuracy": 0.0, "params": 900, "epoch": 0}, error=True)   # no accuracy
    assert [t.values for t in before.inner["a"]._ot_study.trials if t.values] == [[0.8, 900.0]]
    assert [t.state.name for t in before.inner["b"]._ot_study.trials] == ["FAIL"]
    before.save(str(tmp_path / "searcher.pkl"))
    late = before.suggest("T2")                                            # t0002 ran on after the save
    write_table(run_dir, [{"trial_id": late["trial"]["trial_id"], "status": "completed", "epochs_completed": 4,
                           "tuned": json.dumps(late["trial"]["tuned"]), "best_val_accuracy": 0.9, "params": 300}])
    after = make()
    after.restore(str(tmp_path / "searcher.pkl"))
    resumed = after.suggest("R0")
    assert resumed["trial"]["trial_id"] != late["trial"]["trial_id"]
    told = sorted(t.values for t in after.inner["a"]._ot_study.trials if t.values)
    assert told == [[0.8, 900.0], [0.9, 300.0]]                            # both objectives of the late slot
    assert [t.values for t in after.inner["a"]._ot_study.best_trials] == [[0.9, 300.0]]


def test_a_trial_stopped_after_tunes_trial_list_was_copied_comes_back_and_its_searcher_is_not_told_twice(tmp_path):
    """After a kill, Tune's copy of its trial list in the run folder can be older than its copy of the searcher
    (it copies them one by one in the background): a trial that HyperBand stopped while paused (its cell's
    BOHB was told it ended) comes back paused, is resumed, reports and ends again. Seen on 2026-12-05: the
    resumed sweep died in TuneBOHB with KeyError on that trial's id."""
    before = searcher(kind="bohb", per_cell=2)
    assert before.suggest("T0") and before.suggest("T1")
    at = lambda epoch: {"val_accuracy": 0.1 * epoch, "epoch": epoch, "training_iteration": epoch,
                        "hyperband_info": {"budget": epoch}}
    before.on_trial_result("T0", at(1))
    before.on_pause("T0")
    before.on_trial_complete("T0", at(1))                  # HyperBand stopped it, paused
    before.save(str(tmp_path / "searcher.pkl"))
    after = searcher(kind="bohb", per_cell=2)
    after.restore(str(tmp_path / "searcher.pkl"))
    after.on_unpause("T0")                                 # Tune's older list: paused, so resumed
    after.on_trial_result("T0", at(2))
    after.on_pause("T0")
    after.on_trial_complete("T0", at(2))
    after.on_trial_result("T1", at(1))                     # the other cell's trial still reaches its BOHB
    after.on_trial_complete("T1", at(1))
    assert after.observed == {"a": 1, "b": 1}              # each trial counted once


def test_a_searcher_and_scheduler_pickled_before_an_upgrade_still_resume(tmp_path):
    """Tune keeps the searcher (searcher-state-*.pkl, tuner.pkl) and the scheduler (tuner.pkl) pickled: a run
    started before a field was added is resumed by the code that has it."""
    import pickle

    old = searcher(kind="bohb", per_cell=2)
    old.suggest("T0")
    state = old.__getstate__()
    del state["ended"]                                      # as raycnn wrote it before 2026-12-05
    (tmp_path / "searcher.pkl").write_bytes(pickle.dumps(state))
    after = searcher(kind="bohb", per_cell=2)
    after.restore(str(tmp_path / "searcher.pkl"))
    revived = pickle.loads(pickle.dumps(old))               # Tune's tuner.pkl: the object itself
    del revived.ended
    revived = pickle.loads(pickle.dumps(revived))
    for search in (after, revived):
        search.on_trial_complete("T0", {"val_accuracy": 0.5, "epoch": 1, "hyperband_info": {"budget": 1}})
        assert search.observed == {"a": 1, "b": 0}
    scheduler = CellScheduler("asha", time_attr="epoch", metric="val_accuracy", mode="max", max_t=8)
    del scheduler.group
    restored = pickle.loads(pickle.dumps(scheduler))
    restored.on_trial_add(Controller([]), Trial("a", "a1"))
    assert set(restored.by_cell) == {"a"}


def test_bohb_limits_running_trials_not_paused_ones():
    search = searcher(kind="bohb", per_cell=4)
    assert search.set_max_concurrency(1)                    # bohb: the limit is the searcher's own
    assert search.suggest("T0") is not None
    assert search.suggest("T1") is None                     # one runs: wait
    search.on_pause("T0")                                   # HyperBand paused it at a milestone
    assert search.suggest("T1") is not None                 # a paused trial does not count
    search.on_unpause("T0")
    assert search.suggest("T2") is None


def test_tpe_leaves_the_limit_to_tunes_concurrency_limiter():
    assert searcher().set_max_concurrency(2) is False


class Trial:
    TERMINATED = "TERMINATED"

    def __init__(self, cell: str, trial_id: str):
        self.trial_id, self.status, self.config = trial_id, "RUNNING", {"trial": {"cell": cell}}


class Controller:
    def __init__(self, trials):
        self.trials = trials

    def get_trials(self):
        return self.trials


def first_rung(trials, scores: list[float], **grouping) -> tuple[list[str], CellScheduler]:
    """Each trial's first epoch, in order, through one CellScheduler of ASHA (keep 1/2 from epoch 1)."""
    scheduler = CellScheduler("asha", time_attr="epoch", metric="val_accuracy", mode="max", max_t=8, grace_period=1,
                              reduction_factor=2, **grouping)
    controller = Controller(trials)
    for trial in trials:
        scheduler.on_trial_add(controller, trial)
    return [scheduler.on_trial_result(controller, trial, {"epoch": 1, "val_accuracy": score})
            for trial, score in zip(trials, scores)], scheduler


def test_asha_per_cell_compares_a_trial_with_its_own_cell_only():
    decisions, scheduler = first_rung([Trial("a", "a1"), Trial("a", "a2"), Trial("b", "b1")], [0.9, 0.1, 0.2])
    # cell b's first trial is judged against cell b alone: a low score is not stopped by cell a's 0.9
    assert decisions == ["CONTINUE", "STOP", "CONTINUE"]
    assert set(scheduler.by_cell) == {"a", "b"}


class PlainTrial(Trial):
    def __init__(self, dataset: str, trial_id: str, data_path: str | None = None):
        super().__init__("", trial_id)
        self.config = {"trial": {"config": {"data": {"dataset": dataset, "data_path": data_path}}}}


def test_a_plain_sweeps_asha_compares_a_trial_with_trials_on_its_own_dataset_only():
    trials = [PlainTrial("mnist", "m1"), PlainTrial("mnist", "m2"), PlainTrial("cifar100", "c1"),
              PlainTrial("imagefolder", "f1", "/data/flowers"), PlainTrial("imagefolder", "f2", "/data/birds")]
    decisions, scheduler = first_rung(trials, [0.99, 0.5, 0.3, 0.6, 0.2], group=dataset_of)
    # CIFAR-100's 0.3 is not ranked against MNIST's 0.99; two image folders are two datasets
    assert decisions == ["CONTINUE", "STOP", "CONTINUE", "CONTINUE", "CONTINUE"]
    assert len(scheduler.by_cell) == 4


def test_a_restored_ended_trial_is_kept_out_of_the_brackets():
    scheduler = CellScheduler("asha", time_attr="epoch", metric="val_accuracy", mode="max", max_t=8, grace_period=1,
                              reduction_factor=2)
    ended = Trial("a", "a1")
    ended.status = "TERMINATED"
    scheduler.on_trial_add(Controller([ended]), ended)
    assert scheduler.by_cell == {}


@pytest.mark.parametrize("rows,done", [
    ([{"stage": "tune", "status": "completed"}, {"stage": "tune", "status": "oom"}], True),
    ([{"stage": "tune", "status": "completed"}, {"stage": "tune", "status": "running"}], False),
    ([{"stage": "confirm", "status": "completed"}], False),
])
def test_tuning_is_done_when_every_tuning_slot_ended(rows, done):
    assert tuning_done(rows) is done


def test_best_values_prefer_full_runs_then_the_best_validation():
    rows = [{"stage": "tune", "cell": "a", "trial_id": "t0001", "status": "early_stopped", "best_val_accuracy": 0.99,
             "tuned": json.dumps({"train.lr": 0.1})},
            {"stage": "tune", "cell": "a", "trial_id": "t0002", "status": "completed", "best_val_accuracy": 0.9,
             "tuned": json.dumps({"train.lr": 0.01})},
            {"stage": "tune", "cell": "a", "trial_id": "t0003", "status": "completed", "best_val_accuracy": 0.95,
             "tuned": json.dumps({"train.lr": 0.001})}]
    assert best_values(rows) == {"a": [{"train.lr": 0.001}]}


def test_a_cells_front_is_confirmed_most_accurate_first_and_spread_when_it_is_long():
    def row(n, acc, params, status="completed"):
        return {"stage": "tune", "cell": "a", "trial_id": f"t{n:04d}", "status": status, "best_val_accuracy": acc,
                "params": params, "tuned": json.dumps({"model.width": n})}

    rows = [row(1, 0.90, 500), row(2, 0.80, 100), row(3, 0.85, 600),      # t0003 is dominated by t0001
            row(4, 0.70, 50), row(5, 0.95, 900), row(6, 0.99, 10, status="error")]
    rows[-1]["best_val_accuracy"] = None                                      # an error has no accuracy
    objectives = [("best_val_accuracy", "max"), ("params", "min")]
    assert front_values(rows, objectives, limit=5) == {"a": [{"model.width": n} for n in (5, 1, 2, 4)]}
    assert front_values(rows, objectives, limit=3) == {"a": [{"model.width": n} for n in (5, 2, 4)]}
    assert front_values(rows, objectives, limit=1) == {"a": [{"model.width": 5}]}
    faster = [("best_val_accuracy", "max"), ("images_per_second", "max")]
    both = [{**r, "images_per_second": 1000 - r["params"]} for r in rows]   # the same order as params
    assert front_values(both, faster, limit=5) == front_values(rows, objectives, limit=5)
