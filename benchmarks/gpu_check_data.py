"""The GPU check's data, as a Dataset of your own (`data.dataset: benchmarks/gpu_check_data.py:Cifar10Part`):
part of CIFAR-10 from benchmarks/gpu_data/cifar10-part.npz (written by `gpu_check.py --prepare`), or,
without that file, random images of the same shape (so the check runs anywhere; accuracy then means nothing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parent / "gpu_data" / "cifar10-part.npz"


class Cifar10Part(torch.utils.data.Dataset):
    def __init__(self, train: bool = True):
        split = "train" if train else "test"
        if DATA.exists():
            arrays = np.load(DATA)
            self.images, self.labels = arrays[f"{split}_x"], arrays[f"{split}_y"]
            self.classes = [str(c) for c in arrays["classes"]]
        else:
            rng = np.random.default_rng(0 if train else 1)
            count = 12000 if train else 4000
            self.images = rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)
            self.labels = rng.integers(0, 10, count)
            self.classes = [f"class{i}" for i in range(10)]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return torch.from_numpy(self.images[index]), int(self.labels[index])
