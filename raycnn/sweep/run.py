"""Run a validated sweep on Ray Tune: local by default, or on a cluster by address."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
import time
import uuid
from pathlib import Path

import yaml

from raycnn.errors import ConfigError
from raycnn.sweep.placement import AUTOSCALER_NODES, autoscaler_nodes, check_cluster, fits
from raycnn.sweep.spec import SweepConfig, TrialSpec
from raycnn.sweep.results import table_folder
from raycnn.sweep.tune_bridge import quiet_tune_logs, tune_state_files
from raycnn.sweep.storage import (RESULTS, RunStorage, check_writable, remove_work_root, shared_board,
                                  tensorboard_logdir)


def run_directory(sweep: SweepConfig) -> str:
    """RUN_DIR: storage/name, an absolute folder or a URI."""
    return f"{RunStorage(sweep.storage).location}/{sweep.name}"


def check_run_directory(sweep: SweepConfig, trials: list[TrialSpec], resume: bool) -> None:
    """Refuse to overwrite a run, to resume one that is not there, or to resume it with another study;
    refuse storage that cannot take the run (read-only, missing its parent, a full disk)."""
    run_dir = run_directory(sweep)
    storage = RunStorage(run_dir)
    check_writable(RunStorage(sweep.storage), "storage")
    exists = storage.exists("sweep.yaml")
    if exists and not resume:
        raise ConfigError(f"{run_dir} already holds a sweep named {sweep.name!r}; pass --resume to continue "
                          f"it, or --name NEW to start another")
    if resume and not exists:
        raise ConfigError(f"--resume: {run_dir} holds no sweep to continue; drop --resume to start it")
    if resume:
        check_tune_state(storage)
        stored = yaml.safe_load(storage.read_text("sweep.yaml")) or {}
        changes = study_changes(stored, resolved_sweep(sweep, trials)) + code_changes(stored, trials)
        if changes:
            raise ConfigError(f"--resume: {sweep.source} has changed since {run_dir} was started ("
                              f"{'; '.join(changes)}); resuming would mix two studies in one table: undo the "
                              f"edit, or run it as a new sweep with --name NEW")


def code_changes(stored: dict, trials: list[TrialSpec]) -> list[str]:
    """User code whose content differs from what the run started with."""
    before = {r["ref"]: r["sha256"] for r in stored.get("code") or []}
    return [f"{ref} (content {before[ref][:12]} -> {r['sha256'][:12]})" for ref, r in user_code(trials).items()
            if ref in before and before[ref] != r["sha256"]]


def check_tune_state(storage: RunStorage) -> None:
    """Ray Tune resumes from RUN_DIR/experiment_state-*.json, which Tune copies there without a rename:
    a disk that filled during that copy leaves it cut short. Say so before Ray starts, not in a traceback."""
    if not storage.local:
        return
    states = tune_state_files(storage.root)
    if not states:
        raise ConfigError(f"--resume: {storage.location} holds no Ray Tune state (the sweep was stopped before "
                          f"Tune started); run it again with --name NEW, or remove the folder")
    try:
        json.loads(states[-1].read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"--resume: Ray Tune's saved state {states[-1]} is cut short ({type(err).__name__}: "
                          f"{err}; a disk that filled or a kill while Tune copied it); Tune cannot resume this run: "
                          f"its results so far stay in {storage.location}/{RESULTS}; run the sweep again with "
                          f"--name NEW") from None


STUDY_KEYS = ("fixed", "space", "num_samples", "seeds", "scheduler", "tune")   # what makes a study (trials follow)


def study_changes(stored: dict, current: dict, limit: int = 6) -> list[str]:
    """What differs between two resolved sweeps in what they study, as 'key: old -> new' (at most `limit`)."""
    changes = [f"{key}: {_short(old)} -> {_short(new)}" for key, old, new in
               _differences({k: stored.get(k) for k in STUDY_KEYS}, {k: current.get(k) for k in STUDY_KEYS})]
    old_trials, new_trials = stored.get("trials") or [], current.get("trials") or []
    if len(old_trials) != len(new_trials):
        changes.append(f"trials: {len(old_trials)} -> {len(new_trials)}")
    elif not changes:           # same grid, other trials (variants edited): name the first that differs
        for old, new in zip(old_trials, new_trials):
            found = list(_differences(old, new))
            if found:
                key, was, now = found[0]
                changes.append(f"{old.get('trial_id')} {key}: {_short(was)} -> {_short(now)}")
                break
    return changes[:limit] + ([f"and {len(changes) - limit} more"] if len(changes) > limit else [])


def _differences(old, new, prefix: str = ""):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            yield from _differences(old.get(key), new.get(key), f"{prefix}{key}.")
    elif old != new and not (isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)) and list(old) == list(new)):
        yield prefix.rstrip("."), old, new


def _short(value) -> str:
    text = "(none)" if value is None else json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def trial_dicts(trials: list[TrialSpec]) -> list[dict]:
    return [{"trial_id": t.trial_id, "name": t.name, "config": t.config.to_dict(), "values": t.values,
             **({"stage": t.stage, "cell": t.cell} if t.stage else {}),
             **({"tuned": t.tuned} if t.tuned else {})} for t in trials]


def resolved_sweep(sweep: SweepConfig, trials: list[TrialSpec]) -> dict:
    """The sweep as RUN_DIR/sweep.yaml records it: every trial spelled out."""
    return {"name": sweep.name, "question": sweep.question, "source": sweep.source,
            "fixed": sweep.fixed.to_dict(),
            "space": {d.key: {d.form: list(d.values)} for d in sweep.space},
            "num_samples": sweep.num_samples, "seeds": sweep.seeds,
            "scheduler": dataclasses.asdict(sweep.scheduler), "resources": dataclasses.asdict(sweep.resources),
            "max_concurrent": sweep.max_concurrent, "storage": sweep.storage,
            "max_failures": sweep.max_failures, "trials": trial_dicts(trials),
            **({"tune": {**dataclasses.asdict(sweep.tune), "space": {d.key: {d.form: list(d.values)}
                                                                     for d in sweep.tune.space}}}
               if sweep.tune else {})}


def user_code(trials: list[TrialSpec]) -> dict[str, dict]:
    """ref -> {ref, path, sha256, git_commit, git_dirty} of every user model or dataset the trials name."""
    from raycnn import code

    found: dict[str, dict] = {}
    for trial in trials:
        for ref in code.refs(trial.config):
            found.setdefault(ref, code.record(ref))
    return found


def code_copy(record: dict) -> str | None:
    """Where RUN_DIR keeps a copy of a file reference's code (None for an importable module)."""
    from raycnn import code

    return f"code/{record['sha256'][:12]}/{Path(record['path']).name}" if code.is_file_ref(record["ref"]) else None


def write_run_files(storage: RunStorage, sweep: SweepConfig, trials: list[TrialSpec]) -> None:
    from raycnn.environment import environment_record
    from raycnn.precision import resolve_device
    import ray

    records = user_code(trials)
    for record in records.values():            # the code that ran, beside its results; trials load it
        if code_copy(record):
            storage.write_text(code_copy(record), Path(record["path"]).read_text())
    storage.write_text("sweep.yaml", yaml.safe_dump({**resolved_sweep(sweep, trials), "code": list(records.values())},
                                                    sort_keys=False))
    environment = environment_record(resolve_device("auto"))
    environment["nodes"] = [{"host": n.get("NodeManagerHostname"), "resources": n.get("Resources")}
                            for n in ray.nodes() if n.get("Alive")]
    storage.write_text("environment.json", json.dumps(environment, indent=2))


def trial_label(trial) -> str:
    """Tune's name and folder for a trial: t0001-custom_cnn-digits-none-k3-s0."""
    return f"{trial.config['trial']['trial_id']}-{trial.config['trial']['name']}"[:120]


def build_tuner(sweep: SweepConfig, trials: list[TrialSpec], resume: bool, stage: str | None = None):
    """The Tune experiment of a sweep; a tuned sweep has two: stage "tune" (its searches, trials = the
    tuning slots) and "confirm" (trials = slots + confirm trials, in RUN_DIR/confirm)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from raycnn.sweep.progress import ProgressPrinter
    from raycnn.sweep.tables import ResultTables
    from raycnn.sweep.trainable import METRIC, TIME_ATTR, run_trial
    from raycnn.sweep.tuned import CellScheduler, CellSearcher

    run_dir = run_directory(sweep)
    experiment = f"{run_dir}/confirm" if stage == "confirm" else run_dir
    trainable = tune.with_resources(run_trial, {"cpu": sweep.resources.cpus, "gpu": sweep.resources.gpus})
    if resume:
        return tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True)
    max_epochs = sweep.scheduler.max_epochs or max(t.config.train.epochs for t in trials)
    asha = dict(time_attr=TIME_ATTR, metric=METRIC, mode="max", max_t=max_epochs,
                grace_period=sweep.scheduler.grace_period, reduction_factor=sweep.scheduler.reduction_factor)
    scheduler = ASHAScheduler(**asha) if sweep.scheduler.kind == "asha" and stage is None else FIFOScheduler()
    board = shared_board(run_dir)
    stops = sweep.scheduler.rungs(max_epochs)   # a trial draws its TensorBoard figures where it may be stopped
    records = user_code(trials)
    copies = {ref: RunStorage(run_dir).path(code_copy(r)) for ref, r in records.items()
              if code_copy(r) and RunStorage(run_dir).local}
    specs = [{**spec, "tensorboard": board, "stop_epochs": stops, "run_dir": run_dir, "code_root": os.getcwd(),
              "code": {ref: copies[ref] for ref in _refs(spec) if ref in copies},
              "code_records": [records[ref] for ref in _refs(spec)]} for spec in trial_dicts(trials)]
    running = [spec for spec in specs if stage is None or spec.get("stage") == stage]
    callbacks = [ResultTables(run_dir, specs, on_end=record_trial_end, stopped_by=sweep.scheduler.kind),
                 ProgressPrinter(len(running), run_dir)]
    search = {"param_space": {"trial": tune.grid_search(running)}, "search_alg": None, "num_samples": 1}
    if stage == "tune":
        slots: dict[str, list[dict]] = {}
        for spec in running:
            slots.setdefault(spec["cell"], []).append(spec)
        # in results/: a file in RUN_DIR itself would be overwritten by Tune with its own older copy on resume
        report = RunStorage(run_dir).path(f"{RESULTS}/searches.json") if RunStorage(run_dir).local else None
        searcher = CellSearcher(slots, sweep.tune.searcher, sweep.tune.space, METRIC, sweep.tune.seed, report,
                                run_dir)
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


def start_ray(address: str | None) -> None:
    import ray

    from raycnn.config import absolute_path
    from raycnn.sweep import interrupt

    if os.environ.get("RAYCNN_CACHE_DIR"):   # trials inherit it, in working folders of their own
        os.environ["RAYCNN_CACHE_DIR"] = absolute_path(os.environ["RAYCNN_CACHE_DIR"])
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # raycnn writes each trial's TensorBoard events itself (readable run names, stable tags);
    # Ray's own loggers would write every curve a second time under hashed names.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # raycnn.sweep.interrupt handles Ctrl-C and SIGTERM alike, and asks Tune to stop through SIGUSR1
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    # a trial's error is one line in the trials table and the summary, not a traceback on the terminal
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    quiet_tune_logs(lambda: (interrupt.stop_reason() or "").startswith("storage full"))
    if address is None:
        # "local": never join a stale cluster named in Ray's temp folder (ray_current_cluster)
        ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    else:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")


def prepare_datasets(trials: list[TrialSpec]) -> None:
    """Decode and split each dataset of the sweep once, into this machine's cache, before any trial
    starts: trials then map the cached splits (one copy in memory per machine) instead of decoding."""
    from raycnn.data import load_dataset

    for data in {t.config.data for t in trials}:
        load_dataset(data)


def prepare_cluster(sweep: SweepConfig, trials: list[TrialSpec]) -> None:
    """On a cluster (--address): every alive node decodes the sweep's datasets into its own cache, once,
    and when storage is a folder, shows that it sees that folder: on several nodes Ray needs storage
    they all share (a bucket, or NFS mounted at the same path everywhere). Runs before any trial."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    root = RunStorage(sweep.storage)
    token = uuid.uuid4().hex
    marker = f".raycnn-node-check-{token}"
    if root.local:
        root.write_text(marker, token)
    try:
        task = ray.remote(num_cpus=0, max_retries=0)(check_node)
        data = sorted({t.config.data for t in trials}, key=repr)
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        reports = ray.get([task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                           .remote(root.path(marker) if root.local else None, token, data) for node in nodes])
    finally:
        if root.local:
            Path(root.path(marker)).unlink(missing_ok=True)
    alive = [n.get("Resources") or {} for n in ray.nodes() if n.get("Alive")]
    if root.local and len(reports) == 1 and not any(fits(sweep.resources.cpus, sweep.resources.gpus, n) for n in alive):
        # one node now, and it cannot run a trial: trials can only run on nodes yet to join
        reports.append({"node": "workers the autoscaler will start", "sees_storage": False, "error": None})
    problem = cluster_problem(root.location, reports)
    if problem:
        raise ConfigError(problem)
    waiting = check_cluster(sweep.resources.cpus, sweep.resources.gpus, alive,
                            autoscaler_nodes(os.environ.get(AUTOSCALER_NODES)))
    print(f"datasets ready on {len(reports)} node(s); storage {root.location} seen by all of them")
    if waiting:
        print(f"raycnn: {waiting}", flush=True)


def check_node(marker: str | None, token: str, data: list) -> dict:
    """Runs on one node: does it see the storage folder, and can it load every dataset (into its cache)?"""
    import socket

    from raycnn.data import load_dataset

    sees = marker is None or (Path(marker).exists() and Path(marker).read_text() == token)
    error = None
    if sees:
        try:
            for config in data:
                load_dataset(config)
        except Exception as err:  # reported by the driver as one line, before any trial
            error = f"{type(err).__name__}: {err}"
    return {"node": socket.gethostname(), "sees_storage": sees, "error": error}


def cluster_problem(location: str, reports: list[dict]) -> str | None:
    """What keeps the sweep from running on these nodes, as one line; None when nothing does."""
    blind = [r["node"] for r in reports if not r["sees_storage"]]
    if blind and len(reports) > 1:
        return (f"storage {location} is a folder that {len(blind)} of the cluster's {len(reports)} nodes "
                f"({', '.join(sorted(set(blind)))}) cannot see; on several nodes Ray needs shared storage: pass "
                f"--storage s3://BUCKET/PATH (or a folder on NFS mounted at the same path on every node)")
    failed = [r for r in reports if r["error"]]
    if failed:
        return f"node {failed[0]['node']} cannot load the sweep's data: {failed[0]['error']}"
    return None


def run_sweep(sweep: SweepConfig, trials: list[TrialSpec], address: str | None, resume: bool) -> int:
    """Run (or resume) the sweep; returns the exit code: 0; 1 if any trial ended in error or the disk
    filled; 130 if it was stopped (Ctrl-C, SIGTERM) before every trial ended."""
    import ray

    from raycnn.sweep import interrupt

    started = time.monotonic()
    run_dir = run_directory(sweep)
    storage = RunStorage(run_dir)
    start_ray(address)
    interrupt.install()
    try:
        clean_work_folders(run_dir, address)     # what trials of a killed session left
        if address is None:
            prepare_datasets(trials)
        else:
            prepare_cluster(sweep, trials)
        if not resume:
            write_run_files(storage, sweep, trials)
        if sweep.tune is None:
            fit_tuner(build_tuner(sweep, trials, resume))
        else:
            run_tuned(sweep, trials, resume, storage)
    finally:
        try:
            mark_interrupted(storage)
            clean_work_folders(run_dir, address)
        finally:
            interrupt.uninstall()
            ray.shutdown()
    rows = storage.read_table(table_folder("trials")).to_pylist()
    return print_summary(rows, storage.location, time.monotonic() - started, interrupt.stop_reason())


def run_tuned(sweep: SweepConfig, slots: list[TrialSpec], resume: bool, storage: RunStorage) -> None:
    """The tuning stage (continued on --resume), then, once every search has ended, the confirm stage."""
    from raycnn.sweep import interrupt
    from raycnn.sweep.tuned import confirm_stage, tuning_done

    def rows() -> list[dict]:
        table = storage.read_table(table_folder("trials"))
        return table.to_pylist() if table is not None else []

    confirm_started = storage.exists("confirm/tuner.pkl")
    if not confirm_started and not (resume and tuning_done(rows())):
        fit_tuner(build_tuner(sweep, slots, resume, stage="tune"))
        if interrupt.stop_reason() or not tuning_done(rows()):
            return                                   # stopped: --resume continues the searches
    confirm = confirm_stage(sweep, slots, rows())
    fit_tuner(build_tuner(sweep, slots + confirm, confirm_started, stage="confirm"))


def fit_tuner(tuner) -> None:
    """Run Tune's loop. Stopped for a full disk, whatever Tune raises on the way out (a state it could
    not save, an error file cut short) is that: the previous state and the tables stay for --resume."""
    from raycnn.sweep import interrupt

    try:
        tuner.fit()
    except Exception:
        reason = interrupt.stop_reason()
        if not (reason and reason.startswith("storage full")):
            raise


def mark_interrupted(storage: RunStorage) -> None:
    """Trials still `running` when Tune's loop ended were stopped with the sweep: mark them interrupted."""
    from raycnn.sweep.results import mark_interrupted as mark

    try:
        mark(storage)
    except OSError as err:       # a full disk: the tables keep their last rows, `--resume` still continues
        print(f"raycnn: could not mark interrupted trials in the tables ({err}); --resume continues them anyway")


def clean_work_folders(run_dir: str, address: str | None) -> None:
    """Remove the sweep's trial scratch folders on every node: a trial removes its own when it ends,
    but not when its process is killed (kill -9, a lost node, the scheduler stopping it)."""
    if address is None:               # one machine: the driver's
        remove_work_root(run_dir)
        return
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0, max_retries=0)(remove_work_root)
    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    try:
        ray.get([task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(run_dir)
                 for node in nodes], timeout=120)
    except Exception as err:  # a node that left with its disk: nothing to clean there
        print(f"raycnn: could not clean trial folders on every node ({type(err).__name__}); "
              f"they are under $TMPDIR/raycnn-work on the nodes")


def print_summary(rows: list[dict], run_dir: str, seconds: float, stop_reason: str | None = None) -> int:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    done = [r for r in rows if r.get("test_accuracy") is not None]
    # a tuned sweep names its best confirm trial: its tuning trials were chosen on validation
    confirmed = [r for r in done if r.get("stage") == "confirm"]
    print(f"\nsweep ended after {seconds / 60:.1f} min: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if done:
        best = max(confirmed or done, key=lambda r: r["best_val_accuracy"] or 0)
        print(f"best by validation{' (confirm stage)' if confirmed else ''}: {best['trial_name']} "
              f"(val {best['best_val_accuracy']:.4f}, test {best['test_accuracy']:.4f})")
    print(f"results:     {run_dir}/{RESULTS}/trials.parquet (and epochs, classes, confusion)")
    print(f"tensorboard: tensorboard --logdir {tensorboard_logdir(run_dir)}")
    if importlib.util.find_spec("analysis") is not None:
        local = run_dir.removeprefix("file://")
        print(f"report:      python -m analysis {local}" if "://" not in local else
              f"report:      copy {run_dir}/results (and sweep.yaml) to a folder, then python -m analysis FOLDER")
    failed = [r for r in rows if r["status"] == "error"]
    for row in failed:
        print(f"error in {row['trial_id']} {row['trial_name']}: {row['error']}")
    unfinished = [r for r in rows if r["status"] in ("pending", "running", "interrupted")]
    if stop_reason and stop_reason.startswith("storage full"):
        print(f"error: {stop_reason}; the sweep stopped and its tables hold every result written so far: free "
              f"space, then run the same command plus --resume", file=sys.stderr)
        return 1
    if unfinished:
        why = f"stopped by {stop_reason}: " if stop_reason else ""
        print(f"{why}{len(unfinished)} trial(s) did not finish; continue with the same command plus --resume")
        return 130
    return 1 if failed else 0
