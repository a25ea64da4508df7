"""Device and numeric precision: what a trial runs on and in.

`precision: auto` picks what the device really does fast:
- CUDA, by compute capability (`gpu_precision`): bf16 autocast from Ampere on (8.0+: A100, A10G, L4, H100,
  RTX 30xx/40xx); fp16 with a grad scaler on Volta and Turing (7.x: V100, T4, RTX 20xx), whose tensor
  cores do fp16 but not bf16 (PyTorch's `is_bf16_supported()` says yes there, because it counts emulation);
  fp32 before (6.x and older: no tensor cores). bf16 asked for on a GPU without it is refused, not emulated;
- CPU: fp32 and bf16 autocast are both timed on the actual model (a few forward+backward steps on
  a copy, outside the trial's random streams) and bf16 is chosen only if it is clearly faster. CPUs
  with AMX or AVX512-BF16 gain ~2x; on others bf16 is emulated and slower. The verdict is cached per
  CPU, torch version, model and input shape in the dataset cache folder, measured by one process at a
  time (a lock beside it); a sweep measures on each node before its trials start, so trials that run
  side by side never time each other (raycnn.trial.settle_precision).
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from pathlib import Path

import torch
from torch import nn

from raycnn.atomic import one_at_a_time, written_whole
from raycnn.errors import ConfigError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
BF16_MIN_SPEEDUP = 1.15       # bf16 must beat fp32 by this factor to be chosen on a CPU
MEASURE_BATCH = 32            # images per timed step: enough to be representative, cheap for AlexNet
_VERDICTS: dict[str, str] = {}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name} was asked for but no CUDA GPU is visible; "
                          f"use --device cpu or --device auto")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    """Autocast context for the forward pass and loss (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def choose_precision(requested: str, device: torch.device, model: nn.Module, input_shape: tuple,
                     channels_last: bool, cache_dir: Path | None = None) -> str:
    if requested != "auto":
        check_requested(requested, device)
        return requested
    if device.type == "cuda":
        return gpu_precision(torch.cuda.get_device_capability(device))
    return _measured_cpu_precision(model, input_shape, channels_last, cache_dir)


def gpu_precision(capability: tuple[int, int]) -> str:
    """What a GPU of this compute capability does natively (see the module's docstring)."""
    if tuple(capability) >= (8, 0):
        return "bf16"
    return "fp16" if tuple(capability) >= (7, 0) else "fp32"


def check_requested(requested: str, device: torch.device) -> None:
    """ConfigError for a precision the device would only emulate (bf16 before Ampere, fp16 on a CPU)."""
    if requested == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision: fp16 needs a CUDA GPU; use bf16 or fp32 on a CPU")
    if requested == "bf16" and device.type == "cuda" and gpu_precision(torch.cuda.get_device_capability(device)) != "bf16":
        major, minor = torch.cuda.get_device_capability(device)
        raise ConfigError(f"train.precision: bf16 is emulated (slow) on this GPU (compute capability {major}.{minor}); "
                          f"use fp16 or auto")


def _measured_cpu_precision(model: nn.Module, input_shape: tuple, channels_last: bool,
                            cache_dir: Path | None) -> str:
    key = verdict_key(model, input_shape, channels_last)
    if key in _VERDICTS:
        return _VERDICTS[key]
    # another process measuring this model: wait for its verdict (no lock without a cache folder)
    with one_at_a_time(Path(cache_dir) / "precision.lock") if cache_dir else contextlib.nullcontext():
        stored = _read_verdicts(cache_dir)
        if key not in stored:
            fp32 = time_training_step(model, input_shape, "fp32", channels_last)
            bf16 = time_training_step(model, input_shape, "bf16", channels_last)
            stored = {**stored, key: "bf16" if fp32 / bf16 >= BF16_MIN_SPEEDUP else "fp32"}
            _write_verdicts(cache_dir, stored)
        _VERDICTS[key] = stored[key]
    return _VERDICTS[key]


def verdict_key(model: nn.Module, input_shape: tuple, channels_last: bool) -> str:
    """What a CPU verdict is kept under: the CPU, torch's version, the model (class, size), its input."""
    from raycnn.environment import cpu_name

    parameters = sum(p.numel() for p in model.parameters())
    return f"{cpu_name()}|{torch.__version__}|{type(model).__name__}|{parameters}|{input_shape}|{channels_last}"


def time_training_step(model: nn.Module, input_shape: tuple, precision: str, channels_last: bool,
                       batch: int = MEASURE_BATCH, steps: int = 2) -> float:
    """Seconds per forward+backward step on a copy of `model` (the trial's RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        trial = copy.deepcopy(model).train()
        memory = torch.channels_last if channels_last else torch.contiguous_format
        trial = trial.to(memory_format=memory)
        images = torch.randn(batch, *input_shape).contiguous(memory_format=memory)
        for step in range(steps + 1):       # the first step warms up
            if step == 1:
                start = time.perf_counter()
            with autocast(torch.device("cpu"), precision):
                loss = trial(images).float().logsumexp(1).mean()
            loss.backward()
        return (time.perf_counter() - start) / steps


def _verdict_file(cache_dir: Path | None) -> Path | None:
    return None if cache_dir is None else Path(cache_dir) / "precision.json"


def _read_verdicts(cache_dir: Path | None) -> dict:
    path = _verdict_file(cache_dir)
    try:
        return json.loads(path.read_text()) if path and path.exists() else {}
    except (OSError, ValueError):
        return {}


def _write_verdicts(cache_dir: Path | None, verdicts: dict) -> None:
    path = _verdict_file(cache_dir)
    if path is None:
        return
    try:
        with written_whole(path) as partial:
            partial.write_text(json.dumps(verdicts, indent=1))
    except OSError:
        pass  # a read-only cache only costs a re-measurement next time
