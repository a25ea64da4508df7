"""Run a validated sweep on Ray Tune: local by default, or on a cluster by address.

The run folder's files (runfiles), the checks before a start or resume (resume), the Tune experiment
(tuner) and the work on every node (cluster) have their own modules; this one starts Ray, runs the
experiment (both stages of a tuned sweep), and prints the summary."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import time

from raycnn.code import last_line
from raycnn.errors import ConfigError
from raycnn.sweep.cluster import clean_work_folders, prepare_cluster, prepare_node, say_precisions
from raycnn.sweep.results import table_folder
from raycnn.sweep.runfiles import run_directory, write_run_files
from raycnn.sweep.spec import SweepConfig, TrialSpec
from raycnn.sweep.storage import RESULTS, RunStorage, tensorboard_logdir
from raycnn.sweep.tune_bridge import keep_ray_on_loopback, quiet_tune_logs, start_workers_on_demand
from raycnn.sweep.tuner import ALONE, build_tuner


TRIAL_STOP_WAIT_S = 3600


def start_ray(address: str | None) -> None:
    if address is None:
        keep_ray_on_loopback()          # before Ray is imported: it reads the switch once
    else:
        check_reachable(address)
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
    # A trial the scheduler stops goes on with its epoch until its next report; Tune waits this long for it
    # before giving its process to the next trial (default 2 s: a longer epoch made that trial abort, unrun)
    stop_wait = os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", str(TRIAL_STOP_WAIT_S))
    if address is None:
        # "local": never join a stale cluster named in Ray's temp folder (ray_current_cluster); one machine's
        # traffic stays on loopback (no firewall prompt, nothing listening on the network). Its workers inherit
        # this environment (no runtime_env needed) and start when a trial needs one
        start_workers_on_demand()
        ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 _node_ip_address="127.0.0.1")
        _warn_unless_loopback(ray.util.get_node_ip_address(), ray.__version__)
    else:
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR",
                     runtime_env={"env_vars": {"TUNE_FUNCTION_THREAD_TIMEOUT_S": stop_wait}})
        except ConnectionError as err:
            raise ConfigError(cannot_join(address, err, os.environ.get("RAY_AUTH_MODE"))) from None


def check_reachable(address: str) -> None:
    """A HOST:PORT that nothing answers at is one line at once: Ray's own join retries it for minutes."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return                          # auto, or a Ray client address: Ray resolves those itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as err:
        raise ConfigError(f"--address {address}: nothing answers there ({err.strerror or err}); start the cluster "
                          f"(`ray start --head --port {port}` on its head) or pass the address `ray status` shows "
                          f"there") from None


def cannot_join(address: str, err: BaseException, auth_mode: str | None) -> str:
    """One line for a cluster that `ray.init(address=...)` could not join (before any work)."""
    token = "" if auth_mode == "token" else (
        "; a cluster with token authentication (Ray 2.60's `ray start --head` turns it on unless told "
        "RAY_AUTH_MODE=disabled; cluster/*.yaml set it) needs RAY_AUTH_MODE=token here too, with its token in "
        "~/.ray/auth_token")
    return (f"--address {address}: could not join the Ray cluster there ({last_line(err)}); check that it is up "
            f"(`ray status --address {address}`){token}")


def _warn_unless_loopback(node_ip: str, version: str) -> None:
    if node_ip != "127.0.0.1":
        print(f"raycnn: warning: Ray {version} listens on {node_ip}, not only on 127.0.0.1 (see "
              f"raycnn/sweep/tune_bridge.py); run this sweep on a trusted network only", file=sys.stderr)


def run_sweep(sweep: SweepConfig, trials: list[TrialSpec], address: str | None, resume: bool) -> int:
    """Run (or resume) the sweep; returns the exit code: 0; 1 if any trial ended in error or the disk
    filled; 130 if it was stopped (Ctrl-C, SIGTERM) before every trial ended."""
    from raycnn.sweep import interrupt

    started = time.monotonic()
    run_dir = run_directory(sweep)
    storage = RunStorage(run_dir)
    start_ray(address)
    import ray                                   # after start_ray, which sets what Ray reads on import

    interrupt.install()
    try:
        clean_work_folders(run_dir, address)     # what trials of a killed session left
        if address is None:
            say_precisions(prepare_node([t.config for t in trials]))
        else:
            prepare_cluster(sweep, trials)
        if not resume:
            write_run_files(storage, sweep, trials)
        if sweep.tune is None:
            if not storage.exists(f"{ALONE}/tuner.pkl"):
                fit_tuner(build_tuner(sweep, trials, resume))
            run_alone(sweep, trials, storage)
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


def run_alone(sweep: SweepConfig, trials: list[TrialSpec], storage: RunStorage) -> None:
    """Trials that ran out of memory on a shared GPU (a neighbour's peak may have been the cause), once more
    each with a whole GPU, in RUN_DIR/alone; out of memory again, they end `oom`. Continued on --resume."""
    from raycnn.sweep import interrupt
    from raycnn.sweep.results import mark_for_retry
    from raycnn.sweep.trainable import SHARED_OOM

    started = storage.exists(f"{ALONE}/tuner.pkl")
    rows = storage.read_table(table_folder("trials")).to_pylist()
    again = {r["trial_id"] for r in rows if r["status"] == "oom" and r.get("stop_reason") == SHARED_OOM}
    if interrupt.stop_reason() or not (again or started):
        return
    if again:
        print(f"raycnn: {len(again)} trial(s) ran out of memory on a shared GPU; running them again, each with a "
              f"whole GPU", flush=True)
        mark_for_retry(storage, again, "out of memory on a shared GPU: retried alone")
    fit_tuner(build_tuner(sweep, trials, started, stage=ALONE, only=again))


def run_tuned(sweep: SweepConfig, slots: list[TrialSpec], resume: bool, storage: RunStorage) -> None:
    """The tuning stage (continued on --resume), then, once every search has ended, the confirm stage."""
    from raycnn.sweep import interrupt
    from raycnn.sweep.confirm import confirm_stage, tuning_done

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
