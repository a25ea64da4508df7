"""A trial on a GPU it may share with others (Ray's `resources.gpus: 0.25` puts four trials on one GPU).

Ray only counts fractions; it does not divide memory. Each trial therefore:
- caps PyTorch's allocator at its share of the GPU's memory, less the CUDA context it holds outside the
  allocator (`memory_cap`), so one trial's spike cannot take a neighbour's memory: it runs out itself;
- copies the dataset onto the GPU only when it fits in a quarter of its own share (`data_on_device`), a
  decision that does not depend on what trials starting at the same moment have allocated;
- releases PyTorch's cached memory when it ends (`release_memory`), so a reused Ray worker starts the
  next trial with nothing held;
- sets up determinism when asked (`use_deterministic`): cuDNN's autotuner off, deterministic algorithms on.
A trial that runs out of memory on a shared GPU is retried once alone (a whole GPU) by the sweep
(`raycnn.sweep.run`), and only then recorded as `oom`.
"""

from __future__ import annotations

import gc
import os

import torch

CONTEXT_BYTES = 600 << 20    # a CUDA context with PyTorch's kernels: outside the allocator, per process
DATA_SHARE = 0.25            # the splits go onto the GPU when they fit in this share of the trial's memory
MIN_CAP = 0.02


def memory_cap(share: float, total_bytes: int) -> float | None:
    """The fraction of the GPU's memory the allocator may use with `share` of the GPU; None for a whole GPU."""
    if share <= 0 or share >= 1:
        return None
    return max(MIN_CAP, share - CONTEXT_BYTES / total_bytes)


def trial_memory(share: float, total_bytes: int) -> int:
    """Bytes this trial may allocate on its GPU."""
    cap = memory_cap(share, total_bytes)
    return int(total_bytes * (cap if cap is not None else 1.0))


def data_on_device(data_bytes: int, share: float, total_bytes: int) -> bool:
    """Whether the splits are copied onto the GPU (else they stay mapped on the host, batches copied over)."""
    return data_bytes <= DATA_SHARE * trial_memory(share, total_bytes)


def apply_memory_cap(device: torch.device, share: float) -> float | None:
    """Cap this process's allocator on `device` for `share` of it; returns the cap (None: no cap)."""
    total = torch.cuda.get_device_properties(device).total_memory
    cap = memory_cap(share, total)
    if cap is not None:
        torch.cuda.set_per_process_memory_fraction(cap, device)
    return cap


def release_memory() -> None:
    """Give back the GPU memory the last trial held: Python's garbage first (a tensor in a reference cycle
    keeps its block), then PyTorch's cached blocks. On a CPU, nothing: Python's own collections free the
    host memory, and a full collection costs a reused worker 0.2 s per trial."""
    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def use_deterministic(on: bool) -> None:
    """`train.deterministic`: the same seed gives the same bits on the same device type and versions, at
    some cost in speed (cuDNN's autotuner picks the fastest kernel per run, which may differ)."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")    # cuBLAS' deterministic mode
    if (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) != (on, False):
        torch.use_deterministic_algorithms(on, warn_only=False)     # only on a change: it imports torch's compiler (2 s)
    torch.backends.cudnn.benchmark = not on
    torch.backends.cudnn.deterministic = on
