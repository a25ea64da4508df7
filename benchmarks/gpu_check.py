"""The GPU check: one script, at most ~8 minutes on one GPU, run as it is from a copy of the checkout.

    python benchmarks/gpu_check.py --prepare              # here, once: part of CIFAR-10 into benchmarks/gpu_data/
    python benchmarks/gpu_check.py                        # on the GPU machine (no ../shared there)
    python benchmarks/gpu_check.py --device cpu --quick   # a dry check on a CPU

Data: `--prepare` writes 12,000 training and 4,000 test images of the offline CIFAR-10 copy as one
compressed uint8 file (benchmarks/gpu_data/cifar10-part.npz, ~45 MB, git-ignored, small enough to travel
with the checkout); without it the check uses synthetic images of the same shape and says so (accuracy
then means nothing). Sections, each a row of the printed table and a key of the JSON:
1. throughput of custom_cnn: raycnn's `fit()` epoch, the bare compute of the same model (one batch on the
   device, bf16/fp16 autocast, channels_last) and a hand-written loop over the same on-device data;
2. raycnn's default recipe on the data for a few epochs (test accuracy, wall time);
3. a sweep of 8 trials at `gpus: 0.25` (4 at once on one GPU) against the same 8 at `gpus: 1` (one at a
   time): wall time each, peak GPU memory per trial, statuses (no trial may end `oom`);
4. a forced out-of-memory trial at `gpus: 0.25`: retried once alone, then `oom`;
5. `torch.compile` on and off: seconds to the first step (compile time) and per step after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO / "benchmarks" / "gpu_data" / "cifar10-part.npz"
DATASET_REF = "benchmarks/gpu_check_data.py:Cifar10Part"

from raycnn.config import run_config_from_dict  # noqa: E402
from raycnn.environment import device_name  # noqa: E402
from raycnn.fit import fit, train_one_epoch  # noqa: E402
from raycnn.models import build_model  # noqa: E402
from raycnn.precision import autocast  # noqa: E402
from raycnn.trial import prepare_trial  # noqa: E402


def prepare(shared: Path) -> None:
    """Part of the offline CIFAR-10 copy as one compressed array file, to travel with the checkout."""
    from raycnn.config import DataConfig
    from raycnn.data import load_dataset

    data = load_dataset(DataConfig(dataset="cifar10", data_root=str(shared)))
    g = torch.Generator().manual_seed(0)
    train = torch.randperm(len(data.train_y), generator=g)[:12000]
    test = torch.randperm(len(data.test_y), generator=g)[:4000]
    DATA.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(DATA, train_x=data.train_x[train].numpy(), train_y=data.train_y[train].numpy(),
                        test_x=data.test_x[test].numpy(), test_y=data.test_y[test].numpy(),
                        classes=np.array(data.classes))
    print(f"wrote {DATA} ({DATA.stat().st_size / 2**20:.1f} MB)")


def data_config(quick: bool) -> dict:
    subset = {"subset": 0.1} if quick else {}
    return {"dataset": DATASET_REF, **subset}


def throughput(device: str, quick: bool) -> dict:
    config = run_config_from_dict({"data": data_config(quick), "train": {"epochs": 1, "device": device}})
    trial = prepare_trial(config, out_dir=None, resume=False)
    train_one_epoch(trial)                                  # warm-up (cuDNN autotuning, caches)
    _, _, images, seconds = train_one_epoch(trial)
    batch = 64
    x = trial.pipeline(trial.data["train_x"][:batch])
    y = trial.data["train_y"][:batch].to(trial.device)
    bare = _steps_per_second(trial.model, x, y, trial.precision, trial.device, steps=10 if quick else 50)
    hand = _hand_loop(trial, batch, steps=10 if quick else 50)
    return {"precision": trial.precision, "device": device_name(trial.device), "data_on_device":
            trial.data["train_x"].device.type == trial.device.type, "fit_images_per_second": images / seconds,
            "bare_images_per_second": bare * batch, "hand_loop_images_per_second": hand,
            "fit_vs_bare": images / seconds / (bare * batch)}


def _steps_per_second(model, x, y, precision, device, steps: int) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(steps + 3):
        if step == 3:
            _sync(device)
            start = time.perf_counter()
        with autocast(device, precision):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps / (time.perf_counter() - start)


def _hand_loop(trial, batch: int, steps: int) -> float:
    """A hand-written loop over the same on-device uint8 data: index, scale, normalize, step."""
    model, data, device = trial.model, trial.data, trial.device
    mean = torch.tensor(trial.dataset.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(trial.dataset.std, device=device).view(1, -1, 1, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    order = torch.randperm(len(data["train_y"])).to(data["train_x"].device)
    _sync(device)
    start = time.perf_counter()
    for step in range(steps):
        index = order[step * batch:(step + 1) * batch]
        x = ((data["train_x"][index].to(device).float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)
        with autocast(device, trial.precision):
            loss = F.cross_entropy(model(x).float(), data["train_y"][index].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


def recipe(device: str, epochs: int, quick: bool) -> dict:
    start = time.perf_counter()
    result = fit(run_config_from_dict({"data": data_config(quick), "train": {"epochs": epochs, "device": device}}))
    return {"epochs": epochs, "test_accuracy": result.test_accuracy, "wall_seconds": time.perf_counter() - start,
            "precision": result.precision}


def sweep(name: str, share: float, trials: int, epochs: int, device: str, quick: bool, oom: bool = False) -> dict:
    """A sweep through `python -m raycnn.sweep`, as users run it; its wall time and trials table."""
    import pyarrow.parquet as pq
    import yaml

    gpus = 0 if device == "cpu" else share
    body = {"name": name, "question": "gpu check", "fixed": {"data": data_config(quick),
            "train": {"epochs": epochs, "device": "auto" if gpus else "cpu"}},
            "space": {"train.seed": list(range(trials))}, "scheduler": {"kind": "fifo"},
            "resources": {"cpus": 1, "gpus": gpus}, "max_failures": 0}
    if oom:
        body["fixed"]["model"] = {"dense_units": [131072, 131072]}
    file = REPO / "benchmarks" / "gpu_data" / f"{name}.yaml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(yaml.safe_dump(body))
    storage = REPO / "benchmarks" / "gpu_data" / "runs"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "raycnn.sweep", str(file), "--storage", str(storage), "--name",
                           f"{name}-{time.strftime('%H%M%S')}"], capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    run = max((storage).glob(f"{name}-*"), key=lambda p: p.stat().st_mtime)
    rows = pq.read_table(run / "results" / "trials.parquet").to_pylist()
    return {"wall_seconds": wall, "exit": done.returncode, "statuses": sorted(r["status"] for r in rows),
            "peak_gpu_mb": [r.get("gpu_peak_mb") for r in rows], "warnings": [r["warning"] for r in rows if r["warning"]],
            "stderr_tail": done.stderr.strip().splitlines()[-2:]}


def compile_check(device: str) -> dict:
    out = {}
    torch_device = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    for compiled in (False, True):
        model = build_model("custom_cnn", in_channels=3, num_classes=10, input_size=(32, 32)).to(torch_device)
        model = model.to(memory_format=torch.channels_last)
        forward = torch.compile(model) if compiled else model
        x = torch.randn(64, 3, 32, 32, device=torch_device).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (64,), device=torch_device)
        start = time.perf_counter()
        loss = F.cross_entropy(forward(x), y)
        loss.backward()
        _sync(torch_device)
        first = time.perf_counter() - start
        per_second = _steps_per_second(forward, x, y, "fp32", torch_device, steps=20)
        out["compiled" if compiled else "eager"] = {"first_step_seconds": first, "steps_per_second": per_second}
    return out


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepare", action="store_true", help="write the CIFAR-10 part from ../shared/datasets")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--device", default="auto", help="auto (the GPU), or cpu for a dry check")
    parser.add_argument("--quick", action="store_true", help="a 10%% subset and fewer epochs (the CPU dry check)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu_check.json")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.shared)
        return
    os.environ.setdefault("RAYCNN_GPU_CHECK_SYNTHETIC", "0" if DATA.exists() else "1")
    epochs = 2 if args.quick else 8
    report = {"data": str(DATA) if DATA.exists() else "synthetic CIFAR-shaped images (accuracy means nothing)",
              "torch": torch.__version__, "cuda": torch.version.cuda}
    sections = [("throughput", lambda: throughput(args.device, args.quick)),
                ("recipe", lambda: recipe(args.device, epochs, args.quick)),
                ("sweep_shared", lambda: sweep("shared", 0.25, 8, 2, args.device, args.quick)),
                ("sweep_alone", lambda: sweep("alone", 1.0, 8, 2, args.device, args.quick)),
                ("forced_oom", lambda: sweep("oom", 0.25, 1, 1, args.device, args.quick, oom=True)),
                ("compile", lambda: compile_check(args.device))]
    for key, run in sections:
        start = time.perf_counter()
        try:
            report[key] = run()
        except Exception as err:  # one section failing must not lose the others' figures
            report[key] = {"error": f"{type(err).__name__}: {err}"}
        print(f"{key:<14}{time.perf_counter() - start:>7.1f} s  {json.dumps(report[key])[:300]}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
