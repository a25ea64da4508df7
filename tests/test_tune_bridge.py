"""Every hook of raycnn.sweep.tune_bridge against the installed Ray. A failure here is one line naming the
Ray version and what changed: what raycnn relies on where Tune has no public API (see the bridge module)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import ray

from raycnn.sweep import tune_bridge


def broke(what: str) -> str:
    return f"Ray {ray.__version__}: {what}; see raycnn/sweep/tune_bridge.py"


class FakeTrial:
    """What HyperBand reads of a Tune trial."""

    def __init__(self, trial_id: str, cell: str):
        self.trial_id, self.status, self.config = trial_id, "RUNNING", {"trial": {"cell": cell}}

    def __repr__(self) -> str:
        return self.trial_id


class FakeController:
    def __init__(self, trials):
        self.trials = trials
        self.search_alg = type("Alg", (), {"searcher": type("S", (), {"on_pause": lambda self, t: None,
                                                                        "on_unpause": lambda self, t: None})()})()

    def get_trials(self):
        return self.trials


def test_hyperband_waits_for_a_cells_coming_trials_and_moves_on_without_them():
    from ray.tune.schedulers import HyperBandForBOHB

    scheduler = HyperBandForBOHB(time_attr="epoch", metric="val_accuracy", mode="max", max_t=4, reduction_factor=2)
    mine = [FakeTrial("a1", "a"), FakeTrial("a2", "a")]
    other = FakeTrial("b1", "b")                     # another cell's running trial
    controller = FakeController(mine + [other])
    cell_of = lambda t: t.config["trial"]["cell"]
    for trial in mine:
        scheduler.on_trial_add(tune_bridge.CellView(controller, "a", cell_of), trial)
    for score, trial in zip((0.5, 0.7), mine):
        decision = scheduler.on_trial_result(tune_bridge.CellView(controller, "a", cell_of), trial,
                                             {"epoch": 1, "val_accuracy": score})
        assert decision == "PAUSE", broke("HyperBandForBOHB no longer pauses trials of a part-full bracket")
        trial.status = "PAUSED"
    waiting = scheduler.choose_trial_to_run(tune_bridge.CellView(controller, "a", cell_of, coming=True))
    assert waiting is None, broke("HyperBand moved a bracket on while a running trial was listed (CellView's stand-in)")
    assert scheduler.choose_trial_to_run(controller) is None   # another cell's trial runs: Tune's own view waits too
    moved = scheduler.choose_trial_to_run(tune_bridge.CellView(controller, "a", cell_of))
    assert moved in mine, broke("HyperBand no longer moves a part-full bracket on when none of its trials runs")


def test_bohb_takes_a_result_it_did_not_see_through_a_trial():
    from ray import tune
    from ray.tune.search.bohb import TuneBOHB

    searcher = TuneBOHB(space=TuneBOHB.convert_search_space({"x": tune.uniform(0, 1)}), metric="acc", mode="max", seed=0)
    for i in range(8):
        tune_bridge.tell_bohb(searcher, {"x": i / 10}, score=i / 10, budget=2)
    seen = getattr(searcher.bohber, "configs", {}).get(2, [])
    assert len(seen) == 8 and 2 in searcher.bohber.kde_models, broke(
        "TuneBOHB's model did not take results given through its job wrapper")
    assert searcher.suggest("next") is not None


def test_a_multi_objective_optuna_search_takes_a_result_it_did_not_see_through_a_trial():
    from raycnn.sweep.space import Dimension
    from raycnn.sweep.tuned import make_searcher

    searcher = make_searcher("tpe", (Dimension("train.lr", "loguniform", (1e-4, 1e-1)),), "val_accuracy", 0,
                             [("best_val_accuracy", "max"), ("params", "min")])
    for i in range(3):
        tune_bridge.tell_optuna_front(searcher, {"train.lr": 10 ** -(i + 2)}, [0.5 + i / 10, 1000 * (3 - i)])
    study = searcher._ot_study
    assert [t.values for t in study.trials] == [[0.5, 3000.0], [0.6, 2000.0], [0.7, 1000.0]], broke(
        "OptunaSearch's study did not take a multi-objective result")
    assert [t.params["train.lr"] for t in study.best_trials] == [1e-4], broke("Optuna's front is not the one told")
    assert "train.lr" in searcher.suggest("next"), broke("OptunaSearch did not suggest after a result it was told")


def test_stop_tune_ends_fit_a_restore_runs_the_trial_again_and_state_files_are_where_it_reads_them(
        tmp_path, local_ray, monkeypatch):
    from ray import tune

    monkeypatch.setenv("TUNE_DISABLE_SIGINT_HANDLER", "1")      # raycnn owns SIGINT, as the sweep does
    seen, once, saves = {"results": 0}, tmp_path / "stopped-once", []

    class StopAtThird(tune.Callback):            # restored with the Tuner: the file says it already stopped
        def on_trial_result(self, iteration, trials, trial, result, **info):
            seen["results"] += 1
            if result["training_iteration"] == 3 and not once.exists():
                once.touch()
                seen["asked"] = tune_bridge.stop_tune()

        def get_state(self):                     # ResultTables writes the tables when Tune saves its state
            saves.append(tune_bridge.tune_state_files(str(tmp_path / "stop")))
            return None

    def steps(config):
        for step in range(40):
            time.sleep(0.05)
            tune.report({"step": step})

    run_config = tune.RunConfig(name="stop", storage_path=str(tmp_path), verbose=0, callbacks=[StopAtThird()])
    tune.Tuner(steps, run_config=run_config).fit()
    assert seen.get("asked"), broke(f"Tune no longer registers its interrupt handler in {tune_bridge.TUNE_SIGNAL_MODULE}")
    assert seen["results"] < 40, broke("Tune's interrupt handler no longer stops the experiment")
    assert saves, broke("Tune no longer calls Callback.get_state when it saves its experiment state")
    assert tune_bridge.tune_state_files(str(tmp_path / "stop")), broke(
        f"Tune's experiment state is no longer saved as {tune_bridge.STATE_GLOB}")
    seen["results"] = 0
    grid = tune.Tuner.restore(str(tmp_path / "stop"), steps, resume_unfinished=True).fit()
    assert grid[0].metrics.get("step") == 39, broke(
        "a trial stopped through Tune's interrupt is not run again by Tuner.restore(resume_unfinished=True)")


def test_a_local_ray_is_kept_on_loopback():
    script = ("from raycnn.sweep.tune_bridge import keep_ray_on_loopback; switched = keep_ray_on_loopback(); "
              "import ray.util; print(switched, ray.util.get_node_ip_address())")
    env = {k: v for k, v in os.environ.items() if k != tune_bridge.LOOPBACK_SWITCH}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "127.0.0.1"], broke(
        f"{tune_bridge.LOOPBACK_SWITCH}=0 no longer gives a local Ray the address 127.0.0.1 ({done.stdout.strip()}"
        f"{done.stderr.strip()[-300:]})")


WORKERS_BESIDE_AN_ACTOR = """
import os
from raycnn.sweep.tune_bridge import keep_ray_on_loopback, start_workers_on_demand
keep_ray_on_loopback()
start_workers_on_demand()
import ray
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")

@ray.remote(num_cpus=1)
class Probe:
    def ready(self):
        return True

def descendants(pid):
    found = []
    for other in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{other}/stat").read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found += [int(other), *descendants(int(other))]
    return found

probe = Probe.remote()
ray.get(probe.ready.remote())     # the raylet prestarts its workers when this driver connects, before the actor
names = [open(f"/proc/{pid}/comm").read().strip() for pid in descendants(os.getpid())]
print(names.count("ray::Probe"), names.count("ray::IDLE"))
ray.shutdown()
"""


def test_a_local_ray_starts_its_workers_on_demand():
    """The only worker process beside a ready actor is the actor's (without the switch, Ray 2.60 had one idle
    worker beside it; in a sweep, one per CPU, none of which ran a trial)."""
    env = {k: v for k, v in os.environ.items() if k not in (tune_bridge.LOOPBACK_SWITCH, tune_bridge.PRESTART_SWITCH)}
    done = subprocess.run([sys.executable, "-c", WORKERS_BESIDE_AN_ACTOR], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    actors, idle = map(int, done.stdout.split()[-2:])
    assert actors == 1, f"the actor's own worker process was not found ({done.stdout.strip()}): this test sees nothing"
    assert idle == 0, broke(f"{tune_bridge.PRESTART_SWITCH}=0 no longer keeps a local Ray from starting {idle} idle "
                            f"worker(s) ahead of need")


def test_quiet_tune_logs_filter_on_tunes_own_logger():
    import inspect

    import ray.tune.tune as tune_module

    source = inspect.getsource(tune_module)
    for message in tune_bridge.QUIET_MESSAGES:
        assert message in source, broke(f"Tune no longer logs {message!r} from {tune_bridge.TUNE_SIGNAL_MODULE}")
    assert tune_module.__name__ == tune_bridge.TUNE_SIGNAL_MODULE


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()
