"""The training data path: the whole dataset lives on the trial's device as one uint8 tensor, and
each batch is indexed, scaled, resized, augmented and normalized there in a few tensor ops."""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

from raycnn.augment import Augmenter
from raycnn.data import Dataset


def class_weights(dataset: Dataset, oversample: tuple[tuple[str, float], ...]) -> torch.Tensor | None:
    """Per-class sampling weights (1.0 unless oversampled); None when nothing is oversampled."""
    if not oversample:
        return None
    weights = torch.ones(dataset.num_classes, dtype=torch.float64)
    for name, weight in oversample:
        weights[dataset.class_index(name)] = weight
    return weights


BLOCK_IMAGES = 4096     # larger than memory: the epoch visits blocks of this many consecutive images...
WINDOW_BLOCKS = 8       # ...shuffled together WINDOW_BLOCKS at a time


def epoch_order(labels: torch.Tensor, weights: torch.Tensor | None, generator: torch.Generator,
                blocks: bool = False) -> torch.Tensor:
    """Shuffled training indices for one epoch. A class of weight w appears w times as often: each
    image floor(w) times, plus a random (w - floor(w)) share of them once more. The epoch length is
    therefore fixed, which keeps per-step schedules exact.

    `blocks` (for a training split larger than the memory it can be paged into): the blocks of
    BLOCK_IMAGES consecutive images are visited in random order, WINDOW_BLOCKS at a time, and the
    images of those blocks are shuffled together, so each page read from disk serves a whole window
    of batches instead of one image. Without oversampling only."""
    if weights is None and blocks:
        return _block_order(len(labels), generator)
    if weights is None:
        return torch.randperm(len(labels), generator=generator)
    parts = []
    for label, weight in enumerate(weights.tolist()):
        members = (labels == label).nonzero().flatten()
        whole, fraction = int(weight), weight - int(weight)
        extra = members[torch.randperm(len(members), generator=generator)[:round(fraction * len(members))]]
        parts += [members] * whole + [extra]
    indices = torch.cat(parts)
    return indices[torch.randperm(len(indices), generator=generator)]


def _block_order(total: int, generator: torch.Generator) -> torch.Tensor:
    starts = torch.arange(0, total, BLOCK_IMAGES)[torch.randperm((total + BLOCK_IMAGES - 1) // BLOCK_IMAGES,
                                                                 generator=generator)]
    parts = []
    for first in range(0, len(starts), WINDOW_BLOCKS):
        window = torch.cat([torch.arange(s, min(s + BLOCK_IMAGES, total)) for s in starts[first:first + WINDOW_BLOCKS].tolist()])
        parts.append(window[torch.randperm(len(window), generator=generator)])
    return torch.cat(parts)


def exceeds_memory(tensor: torch.Tensor) -> bool:
    """Whether a (mapped) tensor is larger than half the memory this process can fill with page cache:
    the machine's available memory, or its memory cgroup's remaining limit where that is smaller."""
    return tensor.numel() * tensor.element_size() > available_memory() // 2


def available_memory() -> int:
    """Bytes this process could still use: MemAvailable, capped by its cgroup (v2 or v1) limit."""
    found = []
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
        for line in open("/proc/self/cgroup"):
            _, controllers, path = line.strip().split(":", 2)
            if controllers and "memory" not in controllers.split(","):
                continue
            found += _cgroup_room("/sys/fs/cgroup" + ("" if controllers == "" else "/memory"), path)
    except (OSError, ValueError):
        pass
    return min(found) if found else 1 << 62


def _cgroup_room(mount: str, path: str) -> list[int]:
    """Limit minus usage of the cgroup at `path` (as /proc/self/cgroup names it; inside a container the
    mount shows only the tail of that path, so shorter tails are tried too)."""
    parts = [p for p in path.split("/") if p]
    for start in range(len(parts) + 1):
        folder = "/".join([mount] + parts[start:])
        for limit_file, usage_file in (("memory.max", "memory.current"),
                                       ("memory.limit_in_bytes", "memory.usage_in_bytes")):
            try:
                limit = open(f"{folder}/{limit_file}").read().strip()
                usage = int(open(f"{folder}/{usage_file}").read())
            except (OSError, ValueError):
                continue
            return [max(0, int(limit) - usage)] if limit.isdigit() and int(limit) < 1 << 60 else []
    return []


def epoch_length(labels: torch.Tensor, weights: torch.Tensor | None) -> int:
    if weights is None:
        return len(labels)
    counts = torch.bincount(labels, minlength=len(weights)).tolist()
    return sum(int(w) * n + round((w - int(w)) * n) for w, n in zip(weights.tolist(), counts))


def batch_slices(total: int, batch_size: int) -> list[slice]:
    """Batch boundaries; a trailing batch of one image is dropped (batch norm cannot train on it)."""
    slices = [slice(start, min(start + batch_size, total)) for start in range(0, total, batch_size)]
    if len(slices) > 1 and slices[-1].stop - slices[-1].start == 1:
        slices.pop()
    return slices


def gathered(images: torch.Tensor, labels: torch.Tensor, order: torch.Tensor, slices: list[slice],
             device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Each batch's uint8 images and labels, on `device`. Splits on the device are indexed there. Splits on
    the host going to a GPU (too large for the trial's share) are gathered into pinned memory and copied on
    a side stream one batch ahead, so the copy overlaps the step before it (a copy from pageable memory
    would be synchronous, whatever non_blocking says)."""
    if images.device == device or device.type != "cuda":
        for batch in slices:
            index = order[batch]
            yield images[index].to(device), labels[index].to(device)
        return
    stream = torch.cuda.Stream(device)

    def stage(batch: slice) -> tuple[torch.Tensor, torch.Tensor]:
        index = order[batch]
        with torch.cuda.stream(stream):
            return (images[index].pin_memory().to(device, non_blocking=True),
                    labels[index].pin_memory().to(device, non_blocking=True))

    ahead = stage(slices[0]) if slices else None
    for position in range(len(slices)):
        torch.cuda.current_stream(device).wait_stream(stream)
        x, y = ahead
        x.record_stream(torch.cuda.current_stream(device))   # freed only after the compute stream used it
        y.record_stream(torch.cuda.current_stream(device))
        ahead = stage(slices[position + 1]) if position + 1 < len(slices) else None
        yield x, y


class BatchPipeline:
    """Turns uint8 images on the device into normalized float model input, augmenting on request."""

    def __init__(self, dataset: Dataset, device: torch.device, channels_last: bool):
        self.device = device
        self.size = tuple(dataset.image_size)
        self.mean = torch.tensor(dataset.mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(dataset.std, device=device).view(1, -1, 1, 1)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                 augmenter: Augmenter | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).float().div_(255.0)
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", antialias=True, align_corners=False)
        if augmenter is not None:
            x = augmenter(x, labels, generator)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=self.memory_format)

    def batches(self, images: torch.Tensor, labels: torch.Tensor,
                batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Unaugmented batches in order, for evaluation."""
        for start in range(0, len(images), batch_size):
            yield self(images[start:start + batch_size]), labels[start:start + batch_size].to(self.device)
