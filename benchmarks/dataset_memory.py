"""Memory a trial's data costs, and training from a dataset larger than memory: `python benchmarks/dataset_memory.py`.

1. Sharing: K trial processes (1 to --processes) load the same dataset (a synthetic 10-class set of
   3x32x32 uint8 images, --images of them, registered as dataset `synthetic` in this file) and read
   every training image through the batch path (random batches, as an epoch does). Each then reports its
   memory from /proc/self/smaps_rollup: RSS, PSS (shared pages divided among the processes that map
   them) and private anonymous memory. With the split cache mapped read-only, the dataset is in the
   page cache once per machine: a trial's private memory should not grow with the dataset, and the
   PSS of K processes should add up to about one copy. `--copy` makes each process hold its own copy
   (what raycnn did before: torch.load into memory), for comparison.
2. Larger than memory: where this machine lets us make a memory cgroup (cgroup v1, as root), one
   process trains custom_cnn for one epoch on a dataset larger than the cgroup's limit (page cache
   included), its batches read from the map, and reports images per second, against the same epoch
   without the limit.

Writes JSON next to the table (benchmarks/results/dataset_memory.json).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from raycnn.config import DataConfig, run_config_from_dict  # noqa: E402
from raycnn.data import DecodedData, load_dataset, loader, register_dataset  # noqa: E402
from raycnn.data.sources import DatasetInfo  # noqa: E402

IMAGES = int(os.environ.get("RAYCNN_BENCH_IMAGES", "200000"))
CGROUP = Path("/sys/fs/cgroup/memory")


@register_dataset("synthetic", cache_key=lambda config: f"synthetic-{IMAGES}",
                  describe=lambda config: DatasetInfo(3, (32, 32), 10))
def synthetic(config) -> DecodedData:
    """Random images whose mean brightness tells the class (learnable, and incompressible)."""
    generator = torch.Generator().manual_seed(0)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % 10
        images = torch.randint(0, 128, (n, 3, 32, 32), dtype=torch.uint8, generator=generator)
        return images + (labels * 12).to(torch.uint8).view(-1, 1, 1, 1), labels

    train_x, train_y = split(IMAGES)
    test_x, test_y = split(max(1000, IMAGES // 20))
    return DecodedData(tuple(str(i) for i in range(10)), train_x, train_y, test_x, test_y, flip_keeps_label=True)


def memory() -> dict[str, int]:
    """KB from /proc/self/smaps_rollup: Rss, Pss, Private anonymous."""
    found = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss", "Anonymous", "Private_Dirty"):
            found[key] = int(rest.split()[0])
    return found


def read_like_an_epoch(copy: bool | None, barrier, results) -> None:
    """copy None: a process that loads no data at all (what a trial process costs by itself)."""
    from raycnn.batches import BatchPipeline

    if copy is None:
        barrier.wait()
        results.put(memory())
        barrier.wait()
        return
    dataset = load_dataset(DataConfig(dataset="synthetic"))
    train_x = dataset.train_x.clone() if copy else dataset.train_x
    pipeline = BatchPipeline(dataset, torch.device("cpu"), channels_last=False)
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(os.getpid()))
    total = 0.0
    for start in range(0, len(order), 512):
        total += float(pipeline(train_x[order[start:start + 512]]).mean())
    barrier.wait()                        # every process holds the data now
    results.put(memory())
    barrier.wait()


def sharing(processes: int, copy: bool) -> list[dict]:
    rows = []
    context = mp.get_context("spawn")
    for count in range(1, processes + 1):
        barrier, results = context.Barrier(count), context.Queue()
        workers = [context.Process(target=read_like_an_epoch, args=(copy, barrier, results)) for _ in range(count)]
        for worker in workers:
            worker.start()
        reports = [results.get(timeout=600) for _ in workers]
        for worker in workers:
            worker.join()
        rows.append({"processes": count, "copy": copy,
                     "rss_mb_each": max(r["Rss"] for r in reports) / 1024,
                     "pss_mb_total": sum(r["Pss"] for r in reports) / 1024,
                     "anonymous_mb_each": max(r["Anonymous"] for r in reports) / 1024})
    return rows


def train_one_epoch(limit_bytes: int | None, results) -> None:
    if limit_bytes:
        group = CGROUP / f"raycnn-bench-{os.getpid()}"
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
        (group / "cgroup.procs").write_text(str(os.getpid()))
    from raycnn.fit import fit

    config = run_config_from_dict({"data": {"dataset": "synthetic", "val_fraction": 0.01},
                                   "model": {"arch": "custom_cnn", "filters": [8, 16]},
                                   "train": {"epochs": 1, "device": "cpu", "batch_size": 256, "precision": "fp32"}},
                                  "benchmark")
    result = fit(config)
    peak = int((group / "memory.max_usage_in_bytes").read_text()) / 2**20 if limit_bytes else None
    results.put({"limit_mb": (limit_bytes or 0) / 2**20, "images_per_second": result.train_images_per_second,
                 "val_accuracy": result.val_accuracy, "rss_mb": memory()["Rss"] / 1024, "group_peak_mb": peak})


def larger_than_memory(images: int, limit_mb: int) -> list[dict]:
    probe = CGROUP / f"raycnn-bench-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        print(f"(no memory cgroup can be made here: {err.strerror}; the larger-than-memory run is skipped)")
        return []
    os.environ["RAYCNN_BENCH_IMAGES"] = str(images)        # a larger synthetic set, read at import
    global IMAGES
    IMAGES = images
    config = DataConfig(dataset="synthetic", val_fraction=0.01)
    dataset = load_dataset(config)                   # made here, outside the limit
    print(f"larger than memory: {len(dataset.train_x)} training images, {dataset.train_x.numel() / 2**20:.0f} MB, "
          f"memory limit {limit_mb} MB (page cache included)")
    del dataset
    loader._SPLITS.clear(), loader._DECODED.clear()   # unmapped here: the limited process pages them in itself
    context = mp.get_context("spawn")
    rows = []
    for limit in (None, limit_mb << 20):
        _drop_page_cache(loader.splits_folder(config))   # pages cached earlier are charged to another group
        results = context.Queue()
        worker = context.Process(target=train_one_epoch, args=(limit, results))
        worker.start()
        rows.append(results.get(timeout=3600))
        if limit:
            rows[-1]["limit_failcnt"] = int((CGROUP / f"raycnn-bench-{worker.pid}" / "memory.failcnt").read_text())
        worker.join()
        for group in CGROUP.glob("raycnn-bench-*"):
            if group.name != "raycnn-bench-probe":
                try:
                    group.rmdir()
                except OSError:
                    pass
    return rows


def _drop_page_cache(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as file:
            os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def main() -> None:
    global IMAGES
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--images", type=int, default=IMAGES, help="training images (3x32x32 each)")
    parser.add_argument("--skip-large", action="store_true", help="skip the larger-than-memory training run")
    parser.add_argument("--large-images", type=int, default=500000, help="training images of the larger run")
    parser.add_argument("--limit-mb", type=int, default=768, help="memory limit of the larger run")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "dataset_memory.json")
    args = parser.parse_args()
    os.environ["RAYCNN_BENCH_IMAGES"] = str(args.images)   # the spawned processes read it at import
    IMAGES = args.images
    with tempfile.TemporaryDirectory() as cache:
        os.environ["RAYCNN_CACHE_DIR"] = cache
        start = time.perf_counter()
        dataset = load_dataset(DataConfig(dataset="synthetic"))
        size_mb = dataset.train_x.numel() / 2**20
        print(f"synthetic dataset: {len(dataset.train_x)} training images, {size_mb:.0f} MB as uint8 "
              f"(decoded and split in {time.perf_counter() - start:.1f} s)")
        rows = sharing(1, copy=None) + sharing(args.processes, copy=False) + sharing(min(2, args.processes), copy=True)
        print(f"\n{'processes':>10}{'data':>10}{'RSS MB each':>13}{'PSS MB total':>14}{'anon MB each':>14}")
        for row in rows:
            data = {None: "none", False: "mapped", True: "own copy"}[row["copy"]]
            print(f"{row['processes']:>10}{data:>10}{row['rss_mb_each']:>13.0f}"
                  f"{row['pss_mb_total']:>14.0f}{row['anonymous_mb_each']:>14.0f}")
        alone = rows[0]["anonymous_mb_each"]
        extra = max(r["anonymous_mb_each"] for r in rows if r["copy"] is False) - alone
        copied = max(r["anonymous_mb_each"] for r in rows if r["copy"]) - alone
        print(f"private memory the data adds to each trial process: {extra:.0f} MB mapped, {copied:.0f} MB "
              f"with its own copy (the dataset is {size_mb:.0f} MB; a process that loads no data: {alone:.0f} MB)")
        large = [] if args.skip_large else larger_than_memory(args.large_images, args.limit_mb)
        for row in large:
            limit = f"a {row['limit_mb']:.0f} MB memory limit" if row["limit_mb"] else "no memory limit"
            peak = f", the group's peak {row['group_peak_mb']:.0f} MB" if row["group_peak_mb"] else ""
            print(f"one epoch with {limit}: {row['images_per_second']:.0f} images/s, "
                  f"val accuracy {row['val_accuracy']:.3f}, RSS at the end {row['rss_mb']:.0f} MB{peak}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"dataset_mb": size_mb, "sharing": rows, "data_mb_per_trial_mapped": extra,
                                    "data_mb_per_trial_copied": copied,
                                    "larger_than_memory": large}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
