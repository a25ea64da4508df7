"""What raycnn needs from Ray Tune that Tune has no public API for, in one place.

Everything else in raycnn uses Tune's public API (Tuner, TuneConfig, RunConfig, Callback, Searcher,
TrialScheduler, tune.report). Each hook here is checked by tests/test_tune_bridge.py, which fails with
one line naming the installed Ray version when the behaviour it relies on changes; run it first after
upgrading Ray.

1. `stop_tune`: a graceful stop asked from raycnn's own handlers (Ctrl-C, SIGTERM, a full disk). Tune's
   documented graceful stop is a SIGINT to the process in `Tuner.fit`; raycnn owns SIGINT (through
   Tune's documented TUNE_DISABLE_SIGINT_HANDLER) to treat SIGTERM and a full disk alike and to say what
   happens, so it calls the handler Tune registers for the same stop on SIGUSR1.
2. `tell_bohb`: BOHB told the result of a configuration it did not see through a trial (a tuning slot
   that ended after Tune's last saved state). TuneBOHB has no `add_evaluated_point`.
2b. `tell_optuna_front`: the same for a multi-objective OptunaSearch, whose `add_evaluated_point`
   takes a single value; the trial goes into its Optuna study (`_ot_study`, with its space `_space`).
3. `CellView`: HyperBand (BOHB's scheduler) moves a part-full bracket on when none of the experiment's
   trials runs; per cell, it must look at its own cell's trials, plus a stand-in for trials to come.
4. `tune_state_files`: the experiment state a `Tuner.restore` reads (RUN_DIR/experiment_state-*.json),
   checked before a resume so that a torn file is one line, not Tune's traceback.
5. `quiet_tune_logs`: two records Tune logs that raycnn replaces with its own lines.
6. `keep_ray_on_loopback`: a one-machine Ray on 127.0.0.1 only. On Linux Ray turns
   `ray.init(_node_ip_address="127.0.0.1")` into the machine's network address and its GCS, raylet and
   workers listen on every interface (code execution for anyone on the network: by default Ray
   authenticates no one).
   The switch Ray itself uses on macOS and Windows (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read when Ray is
   first imported) keeps every Ray process on loopback.
7. `start_workers_on_demand`: a local Ray's raylet starts a worker process per CPU as soon as the sweep
   connects (Ray's `prestart_worker_first_driver`, set through its RAY_ environment prefix). Tune's trials
   did not run in them (Ray 2.60: each trial got a process of its own; the prestarted ones stayed idle), so
   each cost about a second of CPU and its memory for nothing; off, Ray starts a worker when one is needed.
8. (in raycnn.sweep.tables) `Callback.get_state` is called when Tune saves its experiment state:
   ResultTables writes the tables then, so they are never behind what a resume starts from.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Callable

TUNE_SIGNAL_MODULE = "ray.tune.tune"          # where Tune's interrupt handler is defined
LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"    # ray._private.ray_constants.ENABLE_RAY_CLUSTER
PRESTART_SWITCH = "RAY_prestart_worker_first_driver"     # RayConfig prestart_worker_first_driver, read by the raylet
STATE_GLOB = "experiment_state-*.json"
QUIET_MESSAGES = ("Trials did not complete",)            # always replaced by raycnn's summary
STORAGE_FULL_MESSAGES = ("Experiment state snapshotting failed",)   # replaced once a full disk stopped the sweep


def stop_tune() -> bool:
    """Ask the `Tuner.fit` running in this process to stop as on its own interrupt: running trials stop,
    keep their checkpoints and stay resumable; Tune saves its state. False before Tune's first `fit` in
    this process (Tune leaves its handler registered after a fit ends; calling it then does nothing)."""
    handler = signal.getsignal(signal.SIGUSR1) if hasattr(signal, "SIGUSR1") else None
    if not callable(handler) or getattr(handler, "__module__", None) != TUNE_SIGNAL_MODULE:
        return False
    handler(signal.SIGUSR1, None)
    return True


def tell_bohb(searcher, values: dict, score: float, budget: int) -> None:
    """Give TuneBOHB (searching `mode="max"`) the score `values` reached after `budget` epochs."""
    from ray.tune.search.bohb.bohb_search import _BOHBJobWrapper

    searcher.bohber.new_result(_BOHBJobWrapper(-score, max(int(budget), 1), dict(values)))


def tell_optuna_front(searcher, values: dict, scores: list[float]) -> None:
    """Give a multi-objective OptunaSearch the objective values `values` reached, as a finished trial."""
    import optuna

    searcher._ot_study.add_trial(optuna.trial.create_trial(values=[float(v) for v in scores], params=dict(values),
                                                           distributions=searcher._space))


class CellView:
    """The Tune controller as one cell's scheduler sees it: the same, except that it lists that cell's
    trials only, plus a stand-in running trial while the cell's searcher has slots still to give. HyperBand
    moves a part-full bracket on when none of its trials runs (`any(t.status == RUNNING ...)` over
    `get_trials()`); without the stand-in it would do so whenever other cells had their turn."""

    def __init__(self, controller, cell: str, cell_of: Callable, coming: bool = False):
        self._controller, self._cell, self._cell_of, self._coming = controller, cell, cell_of, coming

    def get_trials(self):
        mine = [t for t in self._controller.get_trials() if self._cell_of(t) == self._cell]
        return mine + [Coming()] if self._coming else mine

    def __getattr__(self, name: str):
        return getattr(self._controller, name)


class Coming:
    """A trial the cell's searcher has yet to suggest, as HyperBand's check for running trials sees it."""
    status = "RUNNING"


def tune_state_files(run_dir: str) -> list[Path]:
    """Tune's saved experiment states in a local RUN_DIR, oldest first (a resume reads the newest)."""
    return sorted(Path(run_dir).glob(STATE_GLOB), key=lambda p: p.stat().st_mtime)


def quiet_tune_logs(storage_full: Callable[[], bool]) -> None:
    """Drop Tune's line listing unfinished trials (raycnn's summary says which did not finish and how to go
    on) and, once a full disk stopped the sweep, the traceback of the state save raycnn refused."""
    def keep(record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (message.startswith(QUIET_MESSAGES) or (storage_full() and message.startswith(STORAGE_FULL_MESSAGES)))

    logging.getLogger(TUNE_SIGNAL_MODULE).addFilter(keep)


def keep_ray_on_loopback() -> bool:
    """Before this process first imports Ray: the Ray it starts uses 127.0.0.1 (node address, every port).
    False (nothing changed) where Ray is imported already or the switch is set."""
    if "ray" in sys.modules or LOOPBACK_SWITCH in os.environ:
        return False
    os.environ[LOOPBACK_SWITCH] = "0"
    return True


def start_workers_on_demand() -> None:
    """Before a local Ray starts: its raylet starts no idle workers ahead of need (unless the user set the
    switch). It reads the switch from its environment, inherited from this process."""
    os.environ.setdefault(PRESTART_SWITCH, "0")
