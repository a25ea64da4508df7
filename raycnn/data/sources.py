"""Dataset sources: each decodes one dataset into uint8 tensors (`DecodedData`). Registered by name.

A source is `fn(config: DataConfig) -> DecodedData`. It runs once per dataset and machine; the
result is cached on disk by `raycnn.data.loader`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.error import URLError

import numpy as np
import torch

from raycnn.data.dataset import DecodedData, stratified_split
from raycnn.data.folders import check_fits_in_memory, decode_folder, first_image, is_class_folder_tree, scan_folder
from raycnn.errors import DataError
from raycnn.registry import Registry

Source = Callable[..., DecodedData]
CacheKey = Callable[..., str]


@dataclass(frozen=True)
class DatasetInfo:
    """What models need to know about a dataset, found without decoding it."""

    channels: int
    size: tuple[int, int]
    num_classes: int


Describe = Callable[..., DatasetInfo]  # raises DataError when the data is neither present nor downloadable


@dataclass(frozen=True)
class DatasetSource:
    decode: Source
    cache_key: CacheKey
    describe: Describe | None      # None: describe by decoding (into the cache) once


DATASETS: Registry[DatasetSource] = Registry("dataset", DataError)
list_datasets = DATASETS.names


def get_source(name: str) -> DatasetSource:
    """A registered dataset, a torchvision dataset (`torchvision/SVHN`) or a user's Dataset (`file.py:Name`)."""
    from raycnn.data import external

    if external.is_external(name):
        external.dataset_class(name)           # ConfigError now if it does not resolve
        return DatasetSource(external.decode, external.cache_key, None)
    return DATASETS.get(name)

DIGITS_TEST_FRACTION = 0.2  # digits ships no test split: a fixed stratified 20% is held out


def register_dataset(name: str, cache_key: CacheKey, describe: Describe) -> Callable[[Source], Source]:
    """Register a source under `name`: `cache_key(config)` names what it decodes (root, size);
    `describe(config)` checks the data is there (or downloadable) and gives its shape cheaply."""
    def decorator(fn: Source) -> Source:
        DATASETS.add(name, DatasetSource(fn, cache_key, describe))
        return fn
    return decorator


# --- scikit-learn digits: real data shipped inside the package, the offline default -------------

@register_dataset("digits", cache_key=lambda config: "digits-v1",
                  describe=lambda config: DatasetInfo(1, (8, 8), 10))
def load_digits(config) -> DecodedData:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.from_numpy(np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    test_idx, train_idx = stratified_split(labels, DIGITS_TEST_FRACTION, seed=0)
    return DecodedData(classes=tuple(str(d) for d in range(10)),
                       train_x=images[train_idx], train_y=labels[train_idx],
                       test_x=images[test_idx], test_y=labels[test_idx], flip_keeps_label=False)


# --- torchvision datasets: downloaded into data_root when online -------------------------------

TORCHVISION = {  # name: (torchvision class, folder it creates under data_root, flip keeps label, info)
    "mnist": ("MNIST", "MNIST/raw", False, DatasetInfo(1, (28, 28), 10)),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw", True, DatasetInfo(1, (28, 28), 10)),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", True, DatasetInfo(3, (32, 32), 10)),
    "cifar100": ("CIFAR100", "cifar-100-python", True, DatasetInfo(3, (32, 32), 100)),
}


def _torchvision_key(name: str) -> Callable[..., str]:
    def key(config) -> str:
        folder = Path(config.data_root) / "cifar10"
        if name == "cifar10" and is_class_folder_tree(folder):   # the same images as imagefolder: one cache
            return _imagefolder_key(dataclasses.replace(config, data_path=str(folder), image_size=None))
        return f"{name}-{_path_digest(config.data_root)}"
    return key


def _load_torchvision(name: str, config) -> DecodedData:
    if name == "cifar10" and is_class_folder_tree(Path(config.data_root) / "cifar10"):
        return decode_folder(Path(config.data_root) / "cifar10", None)
    class_name, folder, flip_ok, _ = TORCHVISION[name]
    import torchvision

    dataset_cls = getattr(torchvision.datasets, class_name)
    root = Path(config.data_root).expanduser()
    try:
        train = dataset_cls(str(root), train=True, download=config.download)
        test = dataset_cls(str(root), train=False, download=config.download)
    except (RuntimeError, OSError, URLError) as err:
        raise DataError(_missing_message(name, root / folder, config.download, _last_line(err))) from None
    classes = tuple(c.split(" - ")[0] for c in train.classes)  # MNIST names classes "0 - zero"
    return DecodedData(classes=classes, train_x=_as_nchw(train.data), train_y=torch.as_tensor(train.targets),
                       test_x=_as_nchw(test.data), test_y=torch.as_tensor(test.targets),
                       flip_keeps_label=flip_ok)


def _last_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[-1] if lines else type(err).__name__


def _missing_message(name: str, folder: Path, download: bool, reason: str | None) -> str:
    why = f"download failed ({reason})" if download else "download is off"
    return (f"dataset {name}: files not found in {folder} and {why}. Put torchvision's {name} files "
            f"there, or point --data-root at the folder that holds them, or run once with internet access")


def _as_nchw(data) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(data), dtype=torch.uint8)
    if tensor.ndim == 3:                      # MNIST-style [N, H, W]
        return tensor.unsqueeze(1).contiguous()
    return tensor.permute(0, 3, 1, 2).contiguous()  # CIFAR-style [N, H, W, C]


def _describe_torchvision(name: str, config) -> DatasetInfo:
    class_name, folder, _, info = TORCHVISION[name]
    root = Path(config.data_root).expanduser()
    present = (root / folder).is_dir() and any((root / folder).iterdir())
    if present or (name == "cifar10" and is_class_folder_tree(root / "cifar10")):
        return info
    if not config.download:
        raise DataError(_missing_message(name, root / folder, False, None))
    reason = _unreachable(_download_url(class_name))
    if reason:
        raise DataError(_missing_message(name, root / folder, True, reason))
    return info


def _download_url(class_name: str) -> str:
    import torchvision

    dataset_cls = getattr(torchvision.datasets, class_name)
    return dataset_cls.mirrors[0] if hasattr(dataset_cls, "mirrors") else dataset_cls.url


def _unreachable(url: str, timeout: float = 5.0) -> str | None:
    """None if `url` answers, else why not."""
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
        return None
    except Exception as err:  # any failure to connect means: cannot download from here
        return str(getattr(err, "reason", err))


for _name in TORCHVISION:
    register_dataset(_name, cache_key=_torchvision_key(_name),
                     describe=lambda config, _name=_name: _describe_torchvision(_name, config))(
        lambda config, _name=_name: _load_torchvision(_name, config))


# --- image folders: train/<class>/*, test/<class>/*, optional val/<class>/* (raycnn.data.folders) --

def _imagefolder_key(config) -> str:
    return f"imagefolder-{_path_digest(config.data_path)}-{config.image_size or 'native'}"


def _describe_image_folder(config) -> DatasetInfo:
    """Classes from the folders (every class folder checked for images); channels and size from the first
    training image that decodes; refused when the images would not fit in memory at their own size."""
    scan = scan_folder(Path(config.data_path))
    image = first_image(scan, config.image_size)
    check_fits_in_memory(scan, image, config.image_size)
    return DatasetInfo(image.shape[0] if image.shape[0] == 1 else 3, tuple(image.shape[1:]), len(scan.classes))


@register_dataset("imagefolder", cache_key=_imagefolder_key, describe=_describe_image_folder)
def load_image_folder(config) -> DecodedData:
    return decode_folder(Path(config.data_path), config.image_size)


def _path_digest(path: str | None) -> str:
    resolved = str(Path(path or ".").expanduser().resolve())
    return hashlib.sha1(resolved.encode()).hexdigest()[:10]
