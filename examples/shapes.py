"""A dataset of your own, for `data.dataset: examples/shapes.py:Shapes`: any map-style
torch.utils.data.Dataset whose items are (image, label).

raycnn builds it with the arguments it names: `train` (True, then False for the test split) or
`split` ("train"/"test"), `root` (--data-root) and `download`. Images may be PIL images, uint8 or
float [0, 1] tensors (C, H, W) or numpy arrays; labels are ints. `classes` names the classes;
`flip_keeps_label` says whether a horizontal flip keeps the label (used by flip augmentation).
"""

import torch
from torch.utils.data import Dataset


class Shapes(Dataset):
    """16x16 grey images of a square, a cross, a bar or nothing, on noise (deterministic)."""

    classes = ["blank", "square", "cross", "bar"]
    flip_keeps_label = True

    def __init__(self, train: bool = True, size: int = 16):
        self.count = 800 if train else 200
        generator = torch.Generator().manual_seed(0 if train else 1)
        self.noise = torch.rand(self.count, size, size, generator=generator) * 0.4
        self.offsets = torch.randint(0, size // 4, (self.count, 2), generator=generator)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        label = index % len(self.classes)
        image = self.noise[index].clone()
        y, x = self.offsets[index].tolist()
        if label == 1:
            image[y + 3:y + 10, x + 3:x + 10] += 0.6
        elif label == 2:
            image[y + 6:y + 8, x + 2:x + 12] += 0.6
            image[y + 2:y + 12, x + 6:x + 8] += 0.6
        elif label == 3:
            image[y + 2:y + 12, x + 6:x + 8] += 0.6
        return image.clamp(0, 1).unsqueeze(0), label
