"""Can a trial be placed at all? Said in one line before Ray waits for resources that never come.

A trial needs one node with `resources.cpus` CPUs and `resources.gpus` GPUs free. Ray Tune waits
for such a node without end; raycnn checks first:
- on this machine (no --address), before Ray starts: the GPUs torch sees and the CPUs this process
  may use; a sweep that asks for more is refused, naming the setting to change;
- on a cluster, once joined: the alive nodes' resources; when none can take a trial, the sweep waits
  only if an autoscaler can add a node that can (the node shapes it may add, declared by the cluster
  file in RAYCNN_AUTOSCALER_NODES, e.g. "CPU=4,GPU=1;CPU=8,GPU=4"), saying so; otherwise it is refused.
"""

from __future__ import annotations

import os

from raycnn.errors import ConfigError

AUTOSCALER_NODES = "RAYCNN_AUTOSCALER_NODES"


def this_machine() -> dict[str, float]:
    """What a local Ray cluster started here offers: the CPUs this process may run on, the GPUs torch sees."""
    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {"CPU": float(cpus), "GPU": float(torch.cuda.device_count())}


def fits(cpus: float, gpus: float, node: dict) -> bool:
    return cpus <= node.get("CPU", 0.0) + 1e-9 and gpus <= node.get("GPU", 0.0) + 1e-9


def describe(node: dict) -> str:
    return f"{node.get('CPU', 0):g} CPU, {node.get('GPU', 0):g} GPU"


def check_local(cpus: float, gpus: float, machine: dict[str, float]) -> None:
    """ConfigError naming the setting when this machine cannot run one trial of the sweep."""
    if gpus > 0 and machine["GPU"] == 0:
        raise ConfigError(f"resources.gpus: each trial asks for {gpus:g} GPU, but this machine has none (torch sees no "
                          f"CUDA device); run on the CPU with --set resources.gpus=0, or on a GPU machine or cluster "
                          f"(--address)")
    if gpus > machine["GPU"]:
        raise ConfigError(f"resources.gpus: each trial asks for {gpus:g} GPUs, this machine has {machine['GPU']:g}; "
                          f"lower it with --set resources.gpus={machine['GPU']:g}")
    if cpus > machine["CPU"]:
        raise ConfigError(f"resources.cpus: each trial asks for {cpus:g} CPUs, this machine has {machine['CPU']:g}; "
                          f"lower it with --set resources.cpus={machine['CPU']:g}")


def autoscaler_nodes(text: str | None) -> list[dict[str, float]]:
    """The node shapes an autoscaler may add, from RAYCNN_AUTOSCALER_NODES ("CPU=4,GPU=1;CPU=8,GPU=4")."""
    shapes = []
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        try:
            shapes.append({k.strip(): float(v) for k, v in (item.split("=") for item in part.split(","))})
        except ValueError:
            raise ConfigError(f"{AUTOSCALER_NODES}={text!r}: expected node shapes like CPU=4,GPU=1;CPU=8,GPU=4") from None
    return shapes


def check_cluster(cpus: float, gpus: float, nodes: list[dict], shapes: list[dict]) -> str | None:
    """None when an alive node can take a trial; a line saying what the sweep waits for when only a node
    the autoscaler may add can; ConfigError (what it asked, what the cluster has) when nothing can."""
    if any(fits(cpus, gpus, node) for node in nodes):
        return None
    asked = f"each trial asks for {cpus:g} CPU and {gpus:g} GPU on one node"
    has = "; ".join(describe(node) for node in nodes) or "no nodes"
    able = [shape for shape in shapes if fits(cpus, gpus, shape)]
    if able:
        return (f"no node can run a trial yet ({asked}; the cluster has: {has}); waiting for the autoscaler to add "
                f"a node of {describe(able[0])}")
    added = f"; the autoscaler may add: {', '.join(describe(s) for s in shapes)}" if shapes else ""
    raise ConfigError(f"no node of the cluster can run a trial: {asked}, the cluster has: {has}{added}; lower "
                      f"resources.cpus / resources.gpus (--set resources.gpus=...) or add such nodes")
