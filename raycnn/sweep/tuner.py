"""The Ray Tune experiment of a sweep: the trainable with its resources, the scheduler (ASHA, FIFO, or per
cell with a tuned sweep), the searcher of a tuned sweep's cells, the callbacks that keep the tables and the
progress line, and Tune's run settings."""

from __future__ import annotations

import os

from raycnn.sweep.hyperband import scheduler_max_t
from raycnn.sweep.runfiles import code_copy, run_directory, trial_dicts, user_code
from raycnn.sweep.spec import SweepConfig, TrialSpec
from raycnn.sweep.storage import RESULTS, RunStorage, shared_board


def trial_label(trial) -> str:
    """Tune's name and folder for a trial: t0001-custom_cnn-digits-none-k3-s0."""
    return f"{trial.config['trial']['trial_id']}-{trial.config['trial']['name']}"[:120]


ALONE = "alone"      # the stage that retries, each with a whole GPU, trials that ran out of memory on a shared one


def build_tuner(sweep: SweepConfig, trials: list[TrialSpec], resume: bool, stage: str | None = None,
                only: set[str] | None = None):
    """The Tune experiment of a sweep; a tuned sweep has two: stage "tune" (its searches, trials = the
    tuning slots) and "confirm" (trials = slots + confirm trials, in RUN_DIR/confirm). Stage "alone"
    (RUN_DIR/alone) runs the trials in `only` again with a whole GPU each."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    from raycnn.sweep.progress import ProgressPrinter
    from raycnn.sweep.tables import ResultTables
    from raycnn.sweep.trainable import METRIC, TIME_ATTR, run_trial
    from raycnn.sweep.cell_scheduler import CellScheduler, dataset_of
    from raycnn.sweep.tuned import CellSearcher

    run_dir = run_directory(sweep)
    experiment = f"{run_dir}/{stage}" if stage in ("confirm", ALONE) else run_dir
    share = 1.0 if stage == ALONE else sweep.resources.gpus
    trainable = tune.with_resources(run_trial, {"cpu": sweep.resources.cpus, "gpu": max(share, sweep.resources.gpus)})
    if resume:
        return tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True)
    max_epochs = scheduler_max_t(sweep, trials)
    asha = dict(time_attr=TIME_ATTR, metric=METRIC, mode="max", max_t=max_epochs,
                grace_period=sweep.scheduler.grace_period, reduction_factor=sweep.scheduler.reduction_factor)
    # a plain sweep's ASHA compares a trial with the trials on its own dataset only
    scheduler = (CellScheduler("asha", group=dataset_of, **asha) if sweep.scheduler.kind == "asha" and stage is None
                 else FIFOScheduler())
    board = shared_board(run_dir)
    stops = sweep.scheduler.rungs(max_epochs)   # a trial draws its TensorBoard figures where it may be stopped
    records = user_code(trials)
    copies = {ref: RunStorage(run_dir).path(code_copy(r)) for ref, r in records.items()
              if code_copy(r) and RunStorage(run_dir).local}
    specs = [{**spec, "tensorboard": board, "stop_epochs": stops, "run_dir": run_dir, "code_root": os.getcwd(),
              "gpu_share": share if spec["trial_id"] in (only or ()) or stage != ALONE else sweep.resources.gpus,
              "alone": stage == ALONE,
              "code": {ref: copies[ref] for ref in _refs(spec) if ref in copies},
              "code_records": [records[ref] for ref in _refs(spec)]} for spec in trial_dicts(trials)]
    running = [spec for spec in specs if (stage is None or spec.get("stage") == stage or
                                          (stage == ALONE and spec["trial_id"] in only))]
    callbacks = [ResultTables(run_dir, specs, on_end=record_trial_end, stopped_by=sweep.scheduler.kind),
                 ProgressPrinter(len(running), run_dir)]
    if sweep.trackers:
        from raycnn.sweep.trackers import build_trackers

        callbacks += build_trackers(sweep.trackers, run_dir, sweep.name)
    search = {"param_space": {"trial": tune.grid_search(running)}, "search_alg": None, "num_samples": 1}
    if stage == "tune":
        slots: dict[str, list[dict]] = {}
        for spec in running:
            slots.setdefault(spec["cell"], []).append(spec)
        # in results/: a file in RUN_DIR itself would be overwritten by Tune with its own older copy on resume
        report = RunStorage(run_dir).path(f"{RESULTS}/searches.json") if RunStorage(run_dir).local else None
        searcher = CellSearcher(slots, sweep.tune.searcher, sweep.tune.space, METRIC, sweep.tune.seed, report,
                                run_dir, sweep.tune.metrics())
        search = {"param_space": {}, "search_alg": searcher, "num_samples": len(running)}
        if sweep.scheduler.kind == "hyperband":      # BOHB's brackets: no grace period, trials pause at milestones
            scheduler = CellScheduler("hyperband", searcher, **{k: v for k, v in asha.items() if k != "grace_period"})
        else:
            scheduler = CellScheduler("asha", **asha) if sweep.scheduler.kind == "asha" else FIFOScheduler()
    return tune.Tuner(
        trainable,
        param_space=search["param_space"],
        tune_config=tune.TuneConfig(scheduler=scheduler, search_alg=search["search_alg"],
                                    num_samples=search["num_samples"], max_concurrent_trials=sweep.max_concurrent,
                                    reuse_actors=True, trial_name_creator=trial_label,
                                    trial_dirname_creator=trial_label),
        run_config=tune.RunConfig(
            name=experiment.rsplit("/", 1)[1], storage_path=experiment.rsplit("/", 1)[0], verbose=0,
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
            # with a bucket, each trial's TensorBoard events live in its folder: sync them with it
            # trials keep their own checkpoints in RUN_DIR/checkpoints (raycnn.sweep.trainable): Tune has
            # none to keep, so its state never points at a deleted one and is not saved per checkpoint
            sync_config=tune.SyncConfig(sync_artifacts=board is None)))


def _refs(spec: dict) -> list[str]:
    from raycnn import code

    return [name for name in (spec["config"]["model"]["arch"], spec["config"]["data"]["dataset"]) if code.is_ref(name)]


def record_trial_end(spec: dict, row: dict) -> None:
    """A status the trial could not write itself (stopped by the scheduler, failed after its retries)
    goes into its TensorBoard run too, so the HParams dashboard shows it."""
    from raycnn.tensorboard import record_status

    if spec.get("tensorboard"):
        record_status(spec["tensorboard"], spec["name"], row["status"], row.get("epochs_completed") or 0,
                      row.get("error") or (f"stopped by {row['stop_reason']}" if row.get("stop_reason") else ""))
