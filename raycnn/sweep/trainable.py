"""The Ray Tune trial: a thin adapter around `raycnn.fit.fit`. The only training code that knows Ray.

Each epoch it reports the epoch's metrics plus the test accuracy and loss of the best weights so far
(small, flat scalars: what the scheduler and the trials table need). Its checkpoints (last.pt,
best.pt, test_at_best.json) are its own, not Tune's (`raycnn.sweep.trial_checkpoints`): written to
RUN_DIR before the epoch is reported and read back when the trial starts again (a retry after its
process died, or a resumed sweep), so no saved state of Tune's can point at a checkpoint that is gone,
and Tune's state does not grow with checkpoints. The first report of a trial that
continues carries the epochs its checkpoint has (`history`), so the epochs table gets every epoch
even when the driver died before it recorded one. The best weights' per-class results and confusion matrix never pass
through Tune: the trial writes them into the result tables itself, once per change of its best
weights (`raycnn.sweep.results.write_test_results`). Its scratch folder is
$TMPDIR/raycnn-work/<run>/<trial id>, removed when it ends (and by the sweep, for a killed trial).
A trial that ASHA stops is killed between two
epochs, and its last report already holds everything the result tables need. A NaN loss ends the
trial as `diverged` and running out of memory (CUDA or CPU) as `oom` (neither retried); any other error propagates,
so Tune retries the trial (from its last checkpoint) up to `max_failures` times (the trials table
counts them in `restarts`). A checkpoint that does not read back (cut short on a node's disk) is
passed over for the older one kept beside it, or the trial starts over; the warning reaches the driver.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import ray
from ray import tune

from raycnn import checkpoint as ckpt
from raycnn import code
from raycnn.config import run_config_from_dict
from raycnn.errors import is_out_of_memory
from raycnn.evaluation import TestEvaluation
from raycnn.fit import FitResult, TrainingDiverged, count_trial_parameters, fit
from raycnn.gpu import release_memory
from raycnn.sweep.results import write_test_results
from raycnn.sweep.storage import run_work_root
from raycnn.sweep.trial_checkpoints import TrialCheckpoints
from raycnn.tensorboard import EpochLogger, hyperparameters

TEST_FILE = "test_at_best.json"
SHARED_OOM = "out of memory on a shared GPU"   # stop_reason of an oom the sweep retries alone
HOLD = "RAYCNN_TEST_HOLD"   # tests only: "[TRIAL@]EPOCH:FILE,...": a trial waits after reporting EPOCH until FILE exists
METRIC = "val_accuracy"
TIME_ATTR = "epoch"  # not training_iteration: that restarts from 1 when a trial is restored


def run_trial(params: dict) -> None:
    """Entry point given to `tune.Tuner`; `params["trial"]` is a TrialSpec as a plain dict."""
    spec = params["trial"]
    code.use_root(spec.get("code_root"))         # this process's cwd is its trial folder, not the driver's
    code.use_copies(spec.get("code", {}))        # user code: the copy in RUN_DIR/code, on every node
    config = run_config_from_dict(spec["config"], f"trial {spec['trial_id']}")
    work = run_work_root(spec["run_dir"]) / spec["trial_id"]
    shutil.rmtree(work, ignore_errors=True)     # an earlier, killed attempt's: its checkpoints are in RUN_DIR
    work.mkdir(parents=True)
    try:
        _run(spec, config, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(spec: dict, config, work: Path) -> None:
    checkpoints = work / "checkpoints"
    own = TrialCheckpoints(spec["run_dir"], spec["trial_id"])
    own.claim()                                      # an older attempt still running (a cut-off node) stops
    resumed, warnings = own.restore(checkpoints)
    catch_up = {"history": ckpt.read_history(checkpoints)} if resumed else {}   # sent once, with the first report
    best = {"test": _read_test(checkpoints)}
    board = EpochLogger(spec.get("tensorboard") or tune.get_context().get_trial_dir(), spec["name"],
                        hyperparameters(config, tuple(spec.get("values", {}))), config.data)
    stop_epochs = set(spec.get("stop_epochs", ()))   # where the scheduler may stop it: figures then
    share = spec.get("gpu_share") or 0.0
    base = {"trial_id": spec["trial_id"], "trial_name": spec["name"],
            "node_id": ray.get_runtime_context().get_node_id(),
            "gpu_ids": json.dumps([str(g) for g in ray.get_gpu_ids()]),   # shared ids: fractional GPUs
            "gpu_share": share, "pid": os.getpid()}
    if warnings:                                      # the driver prints it and keeps it in the trials table
        base["warning"] = "; ".join(warnings)[:1000]

    def on_improvement(test: TestEvaluation) -> None:
        board.new_best(test)
        best["test"] = dataclasses.asdict(test)
        write_test_results(spec["run_dir"], spec["trial_id"], test.per_class, test.confusion)
        checkpoints.mkdir(parents=True, exist_ok=True)
        (checkpoints / TEST_FILE).write_text(json.dumps(best["test"]))

    if best["test"] is not None:                      # continued: the best weights' test results so far
        board.new_best(TestEvaluation(**best["test"]))
    if catch_up:
        board.continues_at(catch_up["history"][-1]["epoch"] if catch_up["history"] else 0)

    def report(metrics) -> None:
        base.setdefault("started_at_epoch", metrics.epoch)  # > 1 when continued from a checkpoint
        base.setdefault("params", metrics.params)
        # TensorBoard first: Tune may stop this trial inside tune.report
        board(metrics, may_end=metrics.epoch >= config.train.epochs or metrics.epoch in stop_epochs)
        own.save(checkpoints, metrics.epoch)      # before the report: every reported epoch is in a checkpoint
        tune.report({**base, **dataclasses.asdict(metrics), **_test_columns(best["test"]), "final": False,
                     **_pop(catch_up)})
        _hold_for_test(spec["trial_id"], metrics.epoch)

    result, end = None, {}
    try:
        result = fit(config, report=report, out_dir=work, resume=resumed, on_improvement=on_improvement,
                     durable_checkpoints=False,   # scratch: TrialCheckpoints.save copies it durably
                     gpu_share=share if share > 0 else 1.0, on_start=base.update)
        if best["test"] is None or best["test"]["confusion"] != result.confusion:  # not written yet
            write_test_results(spec["run_dir"], spec["trial_id"], result.per_class, result.confusion)
        end = _final_metrics(base, result)
    except TrainingDiverged as err:
        end = _end_metrics(base, "diverged", str(err), best["test"], config)
    except RuntimeError as err:
        if not is_out_of_memory(err):
            raise                                # retried by Tune from the last checkpoint
        end = _end_metrics(base, "oom", " ".join(str(err).split())[:500], best["test"], config)
        if 0 < share < 1 and not spec.get("alone"):
            end["stop_reason"] = SHARED_OOM     # the sweep retries it once with a whole GPU
    finally:  # stopped by the scheduler or failed: no status here; the sweep driver records it
        board.close(final_test=result.test_evaluation() if result is not None else None,
                    status=None if end.get("stop_reason") == SHARED_OOM else end.get("status"),
                    detail=end.get("error") or end.get("stop_reason") or "")
        end.update(peak_gpu_memory(config.train.device))
        release_memory()                          # a reused worker starts its next trial with nothing held
    tune.report({**end, **_pop(catch_up)})


def peak_gpu_memory(device: str) -> dict:
    """{gpu_peak_mb: the most this trial's process allocated on its GPU} (nothing on a CPU)."""
    import torch

    if not torch.cuda.is_available() or device == "cpu":
        return {}
    return {"gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20}


def _hold_for_test(trial_id: str, epoch: int) -> None:
    """Tests only: with RAYCNN_TEST_HOLD=EPOCH:FILE every trial waits after reporting EPOCH until FILE exists
    (t0002@EPOCH:FILE: that trial only; several holds separated by commas), so a test kills or inspects a
    sweep at a known point instead of guessing with sleeps."""
    for hold in filter(None, os.environ.get(HOLD, "").split(",")):
        where, _, release = hold.partition(":")
        who, _, at = where.rpartition("@")
        if epoch == int(at) and who in ("", trial_id):
            while not os.path.exists(release):
                time.sleep(0.05)


def _pop(once: dict) -> dict:
    found = dict(once)
    once.clear()
    return found


def _end_metrics(base: dict, status: str, error: str, test: dict | None, config) -> dict:
    """A trial that cannot go on and must not be retried: its status, with what it had."""
    params = base.get("params") or count_trial_parameters(config)   # ended before its first epoch
    return {**base, **_test_columns(test), "final": True, "status": status, "error": error,
            "epoch": 0, "val_accuracy": 0.0, "params": params}


def _final_metrics(base: dict, result: FitResult) -> dict:
    last = dataclasses.asdict(result.history[-1])
    return {**base, **last, "test_accuracy": result.test_accuracy, "test_loss": result.test_loss, "final": True,
            "status": "early_stopped" if result.status == "early_stopped" else "completed",
            "stop_reason": "patience" if result.status == "early_stopped" else None,
            "best_val_accuracy": result.val_accuracy, "best_epoch": result.best_epoch,
            "params": result.params, "train_seconds": result.train_seconds,
            "images_per_second": result.train_images_per_second, "precision": result.precision,
            "device": result.device}


def _test_columns(test: dict | None) -> dict:
    """Test accuracy and loss of the best weights so far: scalars, whatever the number of classes."""
    if not test:
        return {}
    return {"test_accuracy": test["accuracy"], "test_loss": test["loss"]}


def _read_test(checkpoints: Path) -> dict | None:
    path = checkpoints / TEST_FILE
    return json.loads(path.read_text()) if path.exists() else None
