"""Shared fixtures: an isolated dataset cache per test session, and the offline dataset folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from raycnn.sweep.tune_bridge import keep_ray_on_loopback, start_workers_on_demand

keep_ray_on_loopback()      # before any test imports Ray: every Ray a test starts listens on 127.0.0.1 only
start_workers_on_demand()   # and starts no idle workers (as a sweep's own local Ray): a Ray started in a test too
if os.environ.get("PYTEST_XDIST_WORKER"):
    # the workers share the machine's cores with each other and with the sweeps they start: one thread each
    # (torch's default, a thread per core in every process, made a 10 s test take 70 s beside a sweep)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = Path(os.environ.get("RAYCNN_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))
MNIST_PRESENT = (SHARED_DATASETS / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
CIFAR_FOLDER = SHARED_DATASETS / "cifar10"
# the custom CNN, small (a fraction of a second an epoch on digits): for tests of what training and sweeps
# do, not of how well a model learns; sweep files in tests spell it `model: {filters: [16, 32], ...}`
SMALL = {"filters": [16, 32], "dense_units": [64]}
SMALL_SET = tuple(a for key, value in SMALL.items() for a in ("--set", f"model.{key}={value}"))   # for the CLIs
CIFAR_PRESENT = (CIFAR_FOLDER / "train" / "cat").is_dir()

needs_mnist = pytest.mark.skipif(not MNIST_PRESENT, reason=f"MNIST not found in {SHARED_DATASETS}")
needs_cifar = pytest.mark.skipif(not CIFAR_PRESENT, reason=f"CIFAR-10 folder not found at {CIFAR_FOLDER}")


@pytest.fixture(scope="session", autouse=True)
def dataset_cache(tmp_path_factory) -> Path:
    """Every test decodes into one session cache, never into the user's ~/.cache/raycnn; with pytest-xdist
    the workers share it (writes to the cache are atomic), so a dataset is decoded once per session."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "raycnn-cache"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["RAYCNN_CACHE_DIR"] = str(folder)
    return folder


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of a TensorBoard run, read back with TensorBoard's own event reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def read_hparams(folder: Path) -> tuple[dict, list[str]]:
    """(hyperparameters of the run's session, metric tags of its HParams experiment)."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(folder))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    values = {k: v.ListFields()[0][1] for k, v in session.session_start_info.hparams.items()}
    return values, [m.name.tag for m in experiment.experiment.metric_infos]


def read_status(folder: Path) -> dict:
    """A run's status as TensorBoard shows it: the last `trial/status` code, the words of the Text
    tab, and the HParams session end ("STATUS_SUCCESS", "STATUS_FAILURE", or None while running)."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
    from tensorboard.util import tensor_util

    events = EventAccumulator(str(folder))
    events.Reload()
    tags = events.Tags()["tensors"]
    code = tensor_util.make_ndarray(events.Tensors("trial/status")[-1].tensor_proto).item()
    texts = [tensor_util.make_ndarray(e.tensor_proto).item().decode() for e in events.Tensors("trial/status/text_summary")] \
        if "trial/status/text_summary" in tags else []
    content = events.PluginTagToContent("hparams").get("_hparams_/session_end_info")
    end = None if content is None else api_pb2.Status.Name(
        plugin_data_pb2.HParamsPluginData.FromString(content).session_end_info.status)
    return {"code": code, "texts": texts, "end": end}


def read_images(folder: Path) -> dict[str, tuple[int, int]]:
    """{tag: (width, height)} of the last image under each tag, decoded."""
    import io

    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"images": 0})
    events.Reload()
    return {tag: Image.open(io.BytesIO(events.Images(tag)[-1].encoded_image_string)).size
            for tag in events.Tags()["images"]}


@contextlib.contextmanager
def small_disk(folder: Path, megabytes: int, read_only: bool = False, or_skip: bool = True):
    """A real filesystem of `megabytes` mounted at `folder` (tmpfs; needs root, else the test is skipped, or
    with or_skip=False gets None): where a test fills a disk or makes one read-only, without touching the
    machine's own."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={megabytes}m" + (",ro" if read_only else "")
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                                   capture_output=True).returncode == 0
    if not mounted and or_skip:
        pytest.skip("needs root and mount (tmpfs) to make a small or read-only disk")
    if not mounted:
        yield None
        return
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill_disk(folder: Path, leave_bytes: int = 0) -> Path:
    """Fill the filesystem holding `folder` until `leave_bytes` are free; returns the filler file."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as stream:
        chunk = b"\0" * 2**20
        while shutil.disk_usage(folder).free > leave_bytes + len(chunk):
            stream.write(chunk)
            stream.flush()
        try:
            while True:
                stream.write(b"\0" * 4096)
                stream.flush()
                if shutil.disk_usage(folder).free <= leave_bytes:
                    break
        except OSError:
            pass
    return filler


# every slow test, longest first (seconds each in a full run on three workers, 2-core AMD EPYC, 2026-12-05)
LONGEST = ("test_bohb_pauses",                    # 128: two sweeps, BOHB's brackets, the report
           "test_a_simulated_gpu_cluster",        # 122: three Ray nodes
           "test_a_killed_worker_is_retried",     # ~100 (67 alone): W&B's logging actor per trial
           "test_diverged_oom",                   # ~90 (46 alone): the faults sweep, a full disk, its resume
           "test_digits_sweep_report",            # 118: two sweeps, three reports
           "test_shipped_sweep_runs_end_to_end",  # 85: three datasets decoded
           "test_killed_sweep_resumes",           # 84
           "test_a_pareto_search",                # 82
           "test_quickstart_sweep",               # 60
           "test_a_model_from_a_file_runs",       # 47
           "test_cifar10_folder_trains")          # 25


# the quick tests that take longest (seconds each, `-m "not slow"` on two workers, same machine and day): first
# among the quick ones, so that the last test a worker takes is a short one
QUICK_LONGEST = ("test_shipped_sweep_plans_and_each_configuration_trains_from_a_project_folder[flowers17]",  # 29
                 "test_cifar10_class_folders",                       # 14: CIFAR-10 decoded, if no test did yet
                 "test_shipped_sweep_plans",                         # 2-9 each, 16 files
                 "test_a_torchvision_dataset_by_name",               # 8
                 "test_one_run_writes_result",                       # 6
                 "test_stop_tune_ends_fit")                          # 6


def pytest_collection_modifyitems(items):
    """The slow tests (real Ray sweeps) first, the longest of them first: pytest-xdist then spreads the many
    quick ones over the workers at the end, instead of one worker finishing a long sweep alone while the
    others idle; among the quick ones too, the longest first."""
    def order(item) -> tuple[bool, int]:
        slow = item.get_closest_marker("slow") is not None
        ranked = LONGEST if slow else QUICK_LONGEST
        return not slow, next((i for i, name in enumerate(ranked) if item.name.startswith(name)), len(ranked))
    items.sort(key=order)
