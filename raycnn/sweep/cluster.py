"""Before any trial, on every node: the sweep's datasets decoded into the node's cache and each model's
precision decided there (`precision: auto` on a CPU is timed, alone, not by trials running side by side), the storage folder
seen (several nodes need storage they all share), trials placeable; and the scratch folders of killed
trials removed, on every node, at the start and the end of a session."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from raycnn.errors import ConfigError
from raycnn.sweep.placement import AUTOSCALER_NODES, autoscaler_nodes, check_cluster, fits
from raycnn.sweep.spec import SweepConfig, TrialSpec
from raycnn.sweep.storage import RunStorage, remove_work_root


def prepare_node(configs: list) -> dict[str, str]:
    """Decode and split each dataset of the sweep once, into this machine's cache, before any trial
    starts: trials then map the cached splits (one copy in memory per machine) instead of decoding. And
    decide each model's precision here, once (raycnn.trial.settle_precision): returns
    'dataset arch kKERNEL' -> the precision, for the models whose precision is `auto`."""
    from raycnn.data import load_dataset
    from raycnn.trial import settle_precision

    for data in {config.data for config in configs}:
        load_dataset(data)
    verdicts = {f"{c.data.dataset} {c.model.arch} k{c.model.kernel_size}": settle_precision(c)
                for c in _one_per_model(configs)}
    return {model: verdict for model, verdict in verdicts.items() if verdict}


def say_precisions(verdicts: dict[str, str]) -> None:
    """One line when `precision: auto` chose differently for the sweep's models on this machine."""
    if len(set(verdicts.values())) > 1:
        chosen = ", ".join(f"{model} {verdict}" for model, verdict in sorted(verdicts.items()))
        print(f"raycnn: precision auto, timed on this machine before any trial: {chosen}; to run every model "
              f"in one precision, set fixed.train.precision (fp32 or bf16)", flush=True)


def _one_per_model(configs: list) -> list:
    """One run config per (model, data, device, precision, layout): what a precision verdict depends on."""
    seen = {}
    for config in configs:
        key = repr((config.model, config.data, config.train.device, config.train.precision, config.train.channels_last))
        seen.setdefault(key, config)
    return list(seen.values())


def prepare_cluster(sweep: SweepConfig, trials: list[TrialSpec]) -> None:
    """On a cluster (--address): every alive node that can run a trial decodes the sweep's datasets into its
    own cache, once (a head without CPUs for trials, as cluster/gpu.yaml's, does not), and when storage is a
    folder, every alive node shows that it sees that folder: on several nodes Ray needs storage they all
    share (a bucket, or NFS mounted at the same path everywhere). Runs before any trial."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    root = RunStorage(sweep.storage)
    token = uuid.uuid4().hex
    marker = f".raycnn-node-check-{token}"
    if root.local:
        root.write_text(marker, token)
    try:
        task = ray.remote(num_cpus=0, max_retries=0)(check_node)
        configs = _one_per_model([t.config for t in trials])
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        able = [fits(sweep.resources.cpus, sweep.resources.gpus, n.get("Resources") or {}) for n in nodes]
        reports = ray.get([task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                           .remote(root.path(marker) if root.local else None, token, configs if runs else [])
                           for node, runs in zip(nodes, able)])
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
    print(f"datasets ready on the {sum(able)} node(s) that can run a trial; storage {root.location} seen by all "
          f"{len(nodes)}")
    if waiting:
        print(f"raycnn: {waiting}", flush=True)


def check_node(marker: str | None, token: str, configs: list) -> dict:
    """Runs on one node: does it see the storage folder, and can it load every dataset of `configs` (into its
    cache)? (It decides the models' precision there too: prepare_node.) No configs: the storage only."""
    import socket

    sees = marker is None or (Path(marker).exists() and Path(marker).read_text() == token)
    error = None
    if sees and configs:
        try:
            prepare_node(configs)
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
