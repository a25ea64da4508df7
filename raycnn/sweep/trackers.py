"""Experiment trackers beside TensorBoard: MLflow and Weights & Biases, through Ray Tune's integrations.

Chosen in the sweep file (`trackers: [mlflow]`) or with `--tracker mlflow` (repeatable). Every trial is
one tracker run named as its TensorBoard run (`custom_cnn-cifar10-none-k3-s0`), with its settings as
params (`train.lr`, ...), its epochs as metrics at step = epoch, its final test metrics, and tags for the
trial id, stage, cell and seed. Only the sweep's driver writes (Tune callbacks), so an SQLite store never
sees two writers.

- **MLflow** (`pip install "raycnn[mlflow]"`): the store is `$MLFLOW_TRACKING_URI` when set, else
  `sqlite:///RUN_DIR/mlflow.db` (MLflow's file store is deprecated). Ray's `MLflowLoggerCallback` names a
  run after Tune's trial, logs Tune's whole config dict, counts steps from 1 again when a trial is restored
  and starts a new run for a trial after `--resume`; `MLflowTracker` keeps its setup and replaces those
  three hooks: a trial's run is found again by its `raycnn.trial_id` tag after a resume, and an epoch
  already logged is not logged again (so a kill -9 and `--resume` neither duplicate runs nor steps).
- **Weights & Biases** (`pip install "raycnn[wandb]"`): Ray's `WandbLoggerCallback`, offline unless
  `WANDB_MODE` says otherwise or an API key is set, its files under RUN_DIR/wandb (`wandb sync` uploads
  them later), each trial's run id fixed by its trial id so a resumed trial continues its run; a sweep
  stopped with trials still running (SIGTERM, Ctrl-C) ends their runs and stops in seconds.
A tracker that cannot start (package missing, a tracking URI that does not answer, W&B online without an
API key) is refused in one line before any trial (`check_trackers`).
"""

from __future__ import annotations

import importlib
import os

from ray.air.integrations.mlflow import MLflowLoggerCallback

from raycnn.errors import ConfigError
from raycnn.sweep.spec import TRACKERS
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_second")
FINAL_METRICS = ("test_accuracy", "test_loss", "best_val_accuracy", "params", "train_seconds")


def mlflow_uri(run_dir: str) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{run_dir}/mlflow.db"


def check_trackers(names: tuple[str, ...], run_dir: str) -> None:
    """ConfigError (one line) for a tracker that cannot start; called before Ray starts."""
    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"trackers: {name!r} is not a tracker raycnn knows; choose from: {', '.join(TRACKERS)}")
        try:
            importlib.import_module(name)
        except ImportError:
            raise ConfigError(f"trackers: {name} needs the {name} package: pip install 'raycnn[{name}]'") from None
    if "mlflow" in names:
        _check_mlflow(mlflow_uri(run_dir))
    if "wandb" in names and _wandb_mode() == "online" and not os.environ.get("WANDB_API_KEY"):
        raise ConfigError("trackers: wandb is online (WANDB_MODE=online) but WANDB_API_KEY is not set; set it, or "
                          "run offline (unset WANDB_MODE) and `wandb sync RUN_DIR/wandb` later")


def _check_mlflow(uri: str) -> None:
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(uri.removeprefix("sqlite:///")) or ".", exist_ok=True)
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}  # no answer: say so now
    before = {key: os.environ.get(key) for key in quick}
    os.environ.update({k: v for k, v in quick.items() if before[k] is None})
    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as err:  # any failure to reach the store: one line, before any trial
        raise ConfigError(f"trackers: mlflow cannot use the tracking store {uri} ({type(err).__name__}: "
                          f"{str(err).splitlines()[0][:200]}); check MLFLOW_TRACKING_URI") from None
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)


def _wandb_mode() -> str:
    return os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")


def build_trackers(names: tuple[str, ...], run_dir: str, experiment: str) -> list:
    found = []
    if "mlflow" in names:
        found.append(MLflowTracker(run_dir, experiment))
    if "wandb" in names:
        os.makedirs(f"{run_dir}/wandb", exist_ok=True)
        mode = _wandb_mode()
        # Ray's callback asks for an API key even offline, where W&B needs none: a placeholder then
        key = os.environ.get("WANDB_API_KEY") or ("offline-no-account" if mode == "offline" else None)
        found.append(wandb_tracker()(project=os.environ.get("WANDB_PROJECT") or experiment, mode=mode,
                                     api_key=key, dir=run_dir, resume="allow", excludes=["trial", "history"]))
    return found


def wandb_tracker() -> type:
    """Ray's W&B callback, ending the runs of trials still running when the sweep stops (SIGTERM, Ctrl-C, a
    full disk): Ray's waits at the experiment's end for every run to finish, and a trial that never ended
    never asked its run to, so a stopped sweep waited `upload_timeout` (30 min) instead of seconds."""
    from ray.air.integrations.wandb import WandbLoggerCallback

    class WandbTracker(WandbLoggerCallback):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.open_runs: set = set()        # trials whose run was started and not asked to end

        def log_trial_start(self, trial):
            self.open_runs.add(trial)
            super().log_trial_start(trial)

        def log_trial_end(self, trial, failed: bool = False):
            self.open_runs.discard(trial)
            super().log_trial_end(trial, failed)

        def on_experiment_end(self, trials, **info):
            for trial in list(self.open_runs):
                self.log_trial_end(trial)
            super().on_experiment_end(trials, **info)

    return WandbTracker


class MLflowTracker(MLflowLoggerCallback):
    """Ray's MLflow callback with raycnn's run names, params, epoch steps and resume (module docstring)."""

    def __init__(self, run_dir: str, experiment: str):
        super().__init__(tracking_uri=mlflow_uri(run_dir), experiment_name=experiment)

    def setup(self, *args, **kwargs):
        from mlflow.tracking import MlflowClient

        super().setup(*args, **kwargs)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        self.experiment_id = self.client.get_experiment_by_name(self.experiment_name).experiment_id
        self.runs: dict[str, str] = {}          # raycnn trial id -> MLflow run id
        self.logged: dict[str, int] = {}        # run id -> last epoch logged

    def log_trial_start(self, trial):
        spec = trial.config["trial"]
        run_id = self._run_of(spec)
        params = {**_flat(spec["config"]), **{k: v for k, v in spec.get("values", {}).items()}}
        existing = self.client.get_run(run_id).data.params
        from mlflow.entities import Param

        fresh = [Param(k, str(v)[:500]) for k, v in params.items() if k not in existing]
        for start in range(0, len(fresh), 100):
            self.client.log_batch(run_id, params=fresh[start:start + 100])

    def log_trial_result(self, iteration, trial, result):
        from mlflow.entities import Metric

        run_id = self._run_of(trial.config["trial"])
        last = self.logged.setdefault(run_id, self._last_epoch(run_id))
        epochs = (result.get("history") or []) + ([result] if "train_loss" in result else [])
        metrics = [Metric(key, float(e[key]), 0, int(e["epoch"])) for e in epochs if int(e["epoch"]) > last
                   for key in EPOCH_METRICS if e.get(key) is not None]
        if result.get("test_accuracy") is not None and "epoch" in result and int(result["epoch"]) > last:
            metrics.append(Metric("test_accuracy_so_far", float(result["test_accuracy"]), 0, int(result["epoch"])))
        if metrics:
            self.client.log_batch(run_id, metrics=metrics)
            self.logged[run_id] = max(m.step for m in metrics)

    def log_trial_end(self, trial, failed: bool = False):
        run_id = self._run_of(trial.config["trial"])
        result = trial.last_result or {}
        for key in FINAL_METRICS:
            if result.get(key) is not None:
                self.client.log_metric(run_id, key, float(result[key]))
        planned = trial.config["trial"]["config"]["train"]["epochs"]
        ended = "completed" if (result.get("epoch") or 0) >= planned else "early_stopped"
        self.client.set_tag(run_id, "raycnn.status", result.get("status") or ("error" if failed else ended))
        self.client.set_terminated(run_id, "FAILED" if failed else "FINISHED")

    def _run_of(self, spec: dict) -> str:
        """The trial's run: created once, found again by its tag after a resume."""
        trial_id = spec["trial_id"]
        if trial_id not in self.runs:
            found = self.client.search_runs([self.experiment_id], f"tags.`raycnn.trial_id` = '{trial_id}'",
                                            max_results=1)
            if found:
                self.runs[trial_id] = found[0].info.run_id
            else:
                tags = {"raycnn.trial_id": trial_id, "raycnn.stage": spec.get("stage") or "",
                        "raycnn.cell": spec.get("cell") or "", "raycnn.seed": str(spec["config"]["train"]["seed"])}
                self.runs[trial_id] = self.client.create_run(self.experiment_id, run_name=spec["name"],
                                                              tags=tags).info.run_id
        return self.runs[trial_id]

    def _last_epoch(self, run_id: str) -> int:
        history = self.client.get_metric_history(run_id, "val_accuracy")
        return max((m.step for m in history), default=0)


def _flat(config: dict) -> dict:
    return {f"{section}.{key}": value for section, values in config.items() for key, value in values.items()}
