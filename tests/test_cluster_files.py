"""cluster/gpu.yaml and cluster/onprem.yaml: valid for the installed Ray's cluster launcher, and holding
what the README promises."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from raycnn.sweep.cluster import cluster_problem

FILES = ("cluster/gpu.yaml", "cluster/onprem.yaml")


def load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.mark.parametrize("name", FILES)
def test_the_cluster_launcher_accepts_it(name):
    """The cluster launcher's own schema (ray/autoscaler/ray-schema.json, the file `ray up` validates
    against), read as a file: no private Ray module."""
    import json
    from pathlib import Path

    import jsonschema
    import ray.autoscaler

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = load(name)
    jsonschema.validate(config, schema)
    types = config.get("available_node_types", {})
    assert not types or config["head_node_type"] in types
    assert sum(t.get("min_workers", 0) for t in types.values()) <= config.get("max_workers", 0) or not types


@pytest.mark.parametrize("name", FILES)
def test_every_node_installs_raycnn_with_gpu_torch_and_token_auth(name):
    config, text = load(name), (REPO / name).read_text()
    assert config["file_mounts"]["~/raycnn"] == "."                         # the working tree
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"   # the token, from outside the repo
    setup = " ".join(config["setup_commands"])
    assert "-e ~/raycnn" in setup and '"torch>=2.4"' in setup and "download.pytorch.org/whl/cu" in setup
    assert '"ray[default,tune]==' in setup                     # the nodes run the Ray that `ray up` runs
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in config[key] if "ray start" in c]
        assert starts and all("RAY_AUTH_MODE=token" in c for c in starts)
    (head,) = [c for c in config["head_start_ray_commands"] if "ray start" in c]
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head      # dashboard: port-forward only
    assert "RAYCNN_STORAGE=" in head
    for secret in ("aws_access_key", "aws_secret", "AKIA", "RAY_AUTH_TOKEN=", "password"):
        assert secret not in text


def test_aws_cluster_has_gpu_workers_spot_shared_storage_and_ssh_only():
    config = load("cluster/gpu.yaml")
    workers = config["available_node_types"]["gpu_worker"]
    assert workers["node_config"]["InstanceType"].startswith(("g5.", "g6."))
    assert workers["min_workers"] == 0 and workers["max_workers"] >= 1
    assert workers["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert config["available_node_types"]["head"]["resources"] == {"CPU": 0}     # trials only on GPU workers
    (head,) = [c for c in config["head_start_ray_commands"] if "ray start" in c]
    assert "RAYCNN_STORAGE=s3://" in head
    assert 'RAYCNN_AUTOSCALER_NODES="CPU=4,GPU=1"' in head and "g5.xlarge" in str(config)   # the worker it adds
    rules = config["provider"]["security_group"]["IpPermissions"]
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(22, 22)]


def test_onprem_cluster_lists_hosts_and_uses_nfs():
    config = load("cluster/onprem.yaml")
    assert config["provider"]["type"] == "local" and config["provider"]["worker_ips"]
    (head,) = [c for c in config["head_start_ray_commands"] if "ray start" in c]
    assert "RAYCNN_STORAGE=/mnt/nfs/" in head


def test_readme_walks_through_a_cluster_run():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Running on a cluster", 1)[1].split("\n## ", 1)[0]
    for step in ("ray get-auth-token --generate", "ray up cluster/gpu.yaml", "ray job submit --working-dir .",
                 "--address auto", "--storage s3://", "ray dashboard cluster/gpu.yaml", "--port-forward",
                 "python -m analysis", "ray down cluster/gpu.yaml", "spot"):
        assert step in section, step


def test_a_folder_that_some_nodes_cannot_see_is_refused():
    reports = [{"node": "head", "sees_storage": True, "error": None},
               {"node": "gpu-7", "sees_storage": False, "error": None}]
    problem = cluster_problem("/home/me/runs", reports)
    assert "gpu-7" in problem and "needs shared storage" in problem and "--storage s3://" in problem
    assert cluster_problem("/mnt/nfs/runs", [dict(r, sees_storage=True) for r in reports]) is None
    failed = [{"node": "gpu-7", "sees_storage": True, "error": "DataError: no MNIST here"}]
    assert "gpu-7 cannot load the sweep's data: DataError: no MNIST here" in cluster_problem("s3://b/r", failed)
