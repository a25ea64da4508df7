"""Tuned comparisons: the tune: block checked before launch, each cell searched on its own, a kill -9
of the driver mid-search and --resume (no slot repeated or lost, the searches' observations kept),
then the confirm stage with fresh seeds, and the report on the confirm trials only."""

from __future__ import annotations

import json
import os
import signal

import pytest

from cli_process import run_cli
from test_analysis import analysis_cli
from test_sweep_ray import finish, start_sweep, table, wait_for_trials, write_sweep

TUNED = """
fixed: {data: {dataset: digits}, model: {arch: custom_cnn, filters: [16, 32], dense_units: [64]},
        train: {epochs: 4, batch_size: 64, device: cpu}}
space: {model.kernel_size: [3, 5]}
tune:
  space: {train.lr: {loguniform: [0.0003, 0.01]}}
  num_samples: 4
  searcher: tpe
  confirm_seeds: 2
scheduler: {kind: fifo}
resources: {cpus: 1}
max_concurrent: 2
"""

# BOHB: its HyperBand brackets per cell (no scheduler.kind: BOHB's own). A cell's 4 trials fill its first
# bracket (4 trials from 1 epoch, keep 1/2): all pause at epoch 1, two go on to 2, one to 4.
BOHB = TUNED.replace("searcher: tpe", "searcher: bohb").replace("scheduler: {kind: fifo}", "scheduler: {reduction_factor: 2}")


@pytest.mark.parametrize("tune, message", [
    ("{space: {train.lr: [0.001, 0.01]}}", "a grid is not searched"),
    ("{space: {train.lr: {loguniform: [0, 0.01]}}}", "low > 0"),
    ("{space: {train.nope: {uniform: [0, 1]}}}", "train.nope: unknown key"),
    ("{space: {train.lr: {loguniform: [0.001, 0.01]}}, searcher: grid}", "tune.searcher: 'grid' is not valid"),
    ("{space: {model.kernel_size: {choice: [3, 5]}}}", "both a cell dimension (space) and tuned"),
    ("{space: {train.dropout: {uniform: [0, 1]}}}", "unknown key"),
    ("{space: {train.lr: {loguniform: [0.001, 0.01]}}, searcher: bohb}\nscheduler: {kind: asha}",
     "scheduler.kind: asha does not go with tune.searcher: bohb"),
    ("{space: {train.lr: {loguniform: [0.001, 0.01]}}, objectives: [params, accuracy]}", "write [accuracy] or accuracy"),
    ("{space: {train.lr: {loguniform: [0.001, 0.01]}}, objectives: [accuracy, flops]}", "(costs: params, train_seconds"),
    ("{space: {train.lr: {loguniform: [0.001, 0.01]}}, objectives: [accuracy, params], searcher: bohb}",
     "bohb searches one objective"),
    ("{space: {train.lr: {loguniform: [0.001, 0.01]}}, objectives: [accuracy, params]}\nscheduler: {kind: asha}",
     "stops trials on validation accuracy alone"),
])
def test_a_bad_tune_block_is_one_line_and_exit_2(tmp_path, tune, message, capsys):
    from raycnn.sweep.__main__ import main     # in this process: the CLI's start costs seconds per case

    body = TUNED.split("tune:")[0] + f"tune: {tune}\n" + ("" if "scheduler" in tune else "scheduler: {kind: fifo}\n")
    code = main([str(write_sweep(tmp_path / "bad.yaml", body)), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_bohb_without_its_extra_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    import sys

    from raycnn.sweep.__main__ import main

    monkeypatch.setitem(sys.modules, "hpbandster", None)      # as after `pip install raycnn` (no [bohb])
    code = main([str(write_sweep(tmp_path / "b.yaml", BOHB)), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "bohb needs hpbandster and ConfigSpace (hpbandster is not installed): pip install 'raycnn[bohb]'" in err


def dry_run(sweep) -> tuple[int, str, str]:
    """`python -m raycnn.sweep SWEEP --dry-run`, through the test worker's long-lived CLI process: a dry run
    plans before Ray and never starts it."""
    done = run_cli("raycnn.sweep.__main__", str(sweep), "--dry-run")
    assert "NO-RAY" in done.stdout
    return done.returncode, done.stdout, done.stderr


def test_dry_run_shows_cells_and_both_stages(tmp_path):
    code, out, err = dry_run(write_sweep(tmp_path / "t.yaml", TUNED))
    assert code == 0, err
    assert "tuned comparison: 2 cells, each searched on its own by tpe over train.lr loguniform" in out
    assert "tune stage:    4 trials per cell, 8 in all, at most 32 epochs" in out
    assert "confirm stage: each cell's best values with 2 fresh seeds to the full budget: 4 trials, 16 epochs" in out
    code, out, err = dry_run(write_sweep(tmp_path / "b.yaml", BOHB))
    assert code == 0, err
    assert ("HyperBand per cell (BOHB's, keep 1/2 at each milestone): brackets of 4 trials from 1 epoch, 3 trials "
            "from 2 epochs, 3 trials from 4 epochs; a cell's 4 trials take 4 of 4 from 1 epoch; about 16 epochs if the "
            "brackets stop trials as designed") in out


def test_per_makes_the_cells_and_searches_the_other_space_keys(tmp_path):
    from raycnn.sweep.expand import expand_trials
    from raycnn.sweep.spec import load_sweep

    body = TUNED.replace("space: {model.kernel_size: [3, 5]}",
                         "space: {model.kernel_size: [3, 5], augment.preset: [none, flip_crop]}")
    body = body.replace("  confirm_seeds: 2\n", "  confirm_seeds: 2\n  per: [model.kernel_size]\n")
    sweep = load_sweep(write_sweep(tmp_path / "per.yaml", body))
    assert [d.key for d in sweep.space] == ["model.kernel_size"]
    assert [(d.key, d.form, d.values) for d in sweep.tune.space][-1] == ("augment.preset", "choice", ("none", "flip_crop"))
    trials = expand_trials(sweep)
    assert len(trials) == 8 and len({t.cell for t in trials}) == 2
    with pytest.raises(Exception, match="tune.per: model.arch is not a key of space"):
        load_sweep(write_sweep(tmp_path / "bad.yaml", body.replace("per: [model.kernel_size]", "per: [model.arch]")))


PARETO = """
fixed: {data: {dataset: digits}, model: {arch: custom_cnn, filters: [16, 32]}, train: {epochs: 2, batch_size: 64, device: cpu}}
space: {model.kernel_size: [3, 5]}
tune:
  space: {model.convs_per_block: {randint: [1, 3]}, model.dense_units: {choice: [16, 64]}, train.lr: {loguniform: [0.001, 0.01]}}
  objectives: [accuracy, params]
  num_samples: 4
  confirm_seeds: 1
  confirm_front: 2
resources: {cpus: 1}
max_concurrent: 1       # one trial process: the per-cell searchers' concurrency is the BOHB test's
"""


@pytest.mark.slow
def test_a_pareto_search_runs_every_trial_confirms_each_cells_front_and_reports_both_fronts(tmp_path):
    sweep = write_sweep(tmp_path / "pareto.yaml", PARETO)
    code, out, err = dry_run(sweep)
    assert code == 0, err
    assert "objectives:    accuracy (maximised) and params (minimised)" in out and "no early stopping" in out
    assert "confirm stage: up to 2 members of each cell's front, each with 1 fresh seeds" in out
    run_dir = tmp_path / "runs" / "test"
    code, out, err = finish(start_sweep(str(sweep), "--storage", str(tmp_path / "runs")))
    assert code == 0, err[-3000:]
    rows = table(run_dir, "trials")
    tune = [r for r in rows if r["stage"] == "tune"]
    confirm = [r for r in rows if r["stage"] == "confirm"]
    assert len(tune) == 8 and all(r["status"] == "completed" and r["epochs_completed"] == 2 for r in tune)  # no stopping
    for cell in {r["cell"] for r in tune}:                   # each cell confirms members of its own front
        mine = [r for r in tune if r["cell"] == cell]
        front = {r["tuned"] for r in mine if not any(
            o["best_val_accuracy"] >= r["best_val_accuracy"] and o["params"] <= r["params"]
            and (o["best_val_accuracy"] > r["best_val_accuracy"] or o["params"] < r["params"]) for o in mine)}
        confirmed = {r["tuned"] for r in confirm if r["cell"] == cell}
        assert confirmed <= front and len(confirmed) == min(2, len(front)), (cell, front, confirmed)
    assert all(r["status"] == "completed" and r["seed"] == 1 for r in confirm)

    done = analysis_cli(run_dir, "--out", tmp_path / "report")
    assert done.returncode == 0, done.stderr[-2000:]
    findings = json.loads((tmp_path / "report" / "findings.json").read_text())
    assert findings["objectives"] == ["accuracy", "params"]
    searched = findings["searched_front"]
    assert sorted(r["trial"] for r in searched) == sorted(r["trial_id"] for r in tune)
    assert any(r["on_front"] for r in searched) and all(r["on_cell_front"] for r in searched if r["on_front"])
    assert len(findings["cells"]) == len({(r["cell"], r["tuned"]) for r in confirm})   # each member its own configuration
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Accuracy and cost searched together on digits" in html and "searched front (validation)" in html
    assert "grid&#x27;s cells, confirmed (test)" in html or "grid's cells, confirmed (test)" in html
    assert (tmp_path / "report" / "figures" / "front_digits_params.html").exists()


@pytest.mark.slow
def test_bohb_pauses_stops_and_resumes_trials_per_cell_across_a_kill(tmp_path):
    """The single-objective tuned comparison through Ray, end to end: two cells, each with its own BOHB
    search and brackets, a kill -9 and --resume mid-search, then each cell's best confirmed with fresh seeds
    and the report on the confirm trials only. Optuna's TPE through Ray: the Pareto test above; the per-cell
    searchers and brackets in seconds, with a fake controller: tests/test_cells.py."""
    sweep = write_sweep(tmp_path / "bohb.yaml", BOHB)
    run_dir = tmp_path / "runs" / "test"
    process = start_sweep(str(sweep), "--storage", str(tmp_path / "runs"))
    ended = ("completed", "early_stopped")
    before = wait_for_trials(run_dir, process, "a paused trial went on and three ended", lambda rows: sum(
        r["status"] in ended for r in rows) >= 3 and any((r["started_at_epoch"] or 0) >= 2 for r in rows))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # before the kill, no fault: a trial that began past epoch 1 was paused at a milestone and continued from
    # its own checkpoint; trials behind it in their bracket were stopped by HyperBand
    assert [r for r in before if r["started_at_epoch"] and r["started_at_epoch"] >= 2 and r["restarts"] == 0]
    assert any(r["stop_reason"] == "hyperband" for r in before)
    done_before = {r["trial_id"]: r for r in table(run_dir, "trials") if r["status"] in ended}

    code, out, err = finish(start_sweep(str(sweep), "--storage", str(tmp_path / "runs"), "--resume"))
    assert code == 0, err[-3000:]
    rows = {r["trial_id"]: r for r in table(run_dir, "trials")}
    tune = [r for r in rows.values() if r["stage"] == "tune"]
    assert sorted(r["trial_id"] for r in tune) == [f"t{i:04d}" for i in range(1, 9)]
    assert all(r["status"] in ended and r["tuned"] for r in tune)
    for trial_id, row in done_before.items():                # an ended trial was not run again
        assert (rows[trial_id]["tuned"], rows[trial_id]["started_at"]) == (row["tuned"], row["started_at"])
    values = [json.loads(r["tuned"])["train.lr"] for r in tune]
    assert len(set(values)) == 8 and all(0.0003 <= v <= 0.01 for v in values)
    assert sum(r["stop_reason"] == "hyperband" for r in tune) >= 2
    assert sum(r["epochs_completed"] for r in tune) < 32      # the brackets spent less than every trial's 4 epochs
    for r in tune:                                          # every epoch of a paused and continued trial is there
        epochs = sorted(e["epoch"] for e in table(run_dir, "epochs") if e["trial_id"] == r["trial_id"])
        assert epochs == list(range(1, r["epochs_completed"] + 1)), (r["trial_id"], epochs)
    searches = json.loads((run_dir / "results" / "searches.json").read_text())
    assert {c: (s["given"], s["observed"]) for c, s in searches.items()} == {
        "custom_cnn-digits-flip_shift-k3-s0": (4, 4), "custom_cnn-digits-flip_shift-k5-s0": (4, 4)}
    confirm = [r for r in rows.values() if r["stage"] == "confirm"]
    assert len(confirm) == 4 and all(r["status"] == "completed" and r["epochs_completed"] == 4 for r in confirm)
    assert min(r["started_at"] for r in confirm) >= max(r["ended_at"] for r in tune)    # after every search
    assert {r["seed"] for r in confirm} == {1, 2}                                        # fresh seeds
    for cell in {r["cell"] for r in tune}:       # each cell confirms its own best values (full runs first)
        mine = [r for r in tune if r["cell"] == cell]
        best = max([r for r in mine if r["status"] == "completed"] or mine, key=lambda r: r["best_val_accuracy"])
        assert {r["tuned"] for r in confirm if r["cell"] == cell} == {json.dumps(json.loads(best["tuned"]))}

    done = analysis_cli(run_dir, "--out", tmp_path / "report")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stopped early by BOHB's HyperBand" in (tmp_path / "report" / "report.md").read_text()
    findings = json.loads((tmp_path / "report" / "findings.json").read_text())
    compared = {k.split("/")[1] for r in findings["leaderboard"] for k in r["trials"]}
    assert compared <= {r["trial_id"] for r in confirm}                                # confirm trials only
    (kernel,) = [e for e in findings["kernel_effects"] if e["class"] is None]
    assert kernel["pairs"] == 2 and kernel["seeds"] == 2      # k5 vs k3, matched by seed despite their own lr
    assert [len(c["best_so_far"]) for c in findings["tuning"]] == [4, 4]
    assert (tmp_path / "report" / "figures" / "tuning-digits.png").exists()
