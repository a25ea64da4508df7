"""Dataset sources: each decodes one dataset into uint8 tensors (`DecodedData`). Registered by name.

A source is `fn(config: DataConfig) -> DecodedData`. It runs once per dataset and machine; the
result is cached on disk by `raycnn.data.loader`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.error import URLError

import numpy as np
import torch

from raycnn.data.dataset import DecodedData, stratified_split
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

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
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
        if name == "cifar10" and _is_class_folder_tree(folder):   # the same images as imagefolder: one cache
            return _imagefolder_key(dataclasses.replace(config, data_path=str(folder), image_size=None))
        return f"{name}-{_path_digest(config.data_root)}"
    return key


def _load_torchvision(name: str, config) -> DecodedData:
    if name == "cifar10" and _is_class_folder_tree(Path(config.data_root) / "cifar10"):
        return _decode_image_folder(Path(config.data_root) / "cifar10", None)
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
    if present or (name == "cifar10" and _is_class_folder_tree(root / "cifar10")):
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


# --- image folders: train/<class>/*, test/<class>/*, optional val/<class>/* ----------------------

def _imagefolder_key(config) -> str:
    return f"imagefolder-{_path_digest(config.data_path)}-{config.image_size or 'native'}"


def _image_folder_root(config) -> Path:
    root = Path(config.data_path).expanduser()
    if not _is_class_folder_tree(root):
        raise DataError(f"imagefolder: {root} must hold train/<class>/* and test/<class>/* "
                        f"(optionally val/<class>/*); check data.data_path (--data-path)")
    return root


def _describe_image_folder(config) -> DatasetInfo:
    """Class count from the folders; channels and size from the first training image."""
    train = _image_folder_root(config) / "train"
    classes = sorted(p.name for p in train.iterdir() if p.is_dir())
    first = next((f for c in classes for f in sorted((train / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES), None)
    if first is None:
        raise DataError(f"imagefolder: no images under {train}")
    image = _decode_file(first, config.image_size)
    return DatasetInfo(image.shape[0] if image.shape[0] == 1 else 3, tuple(image.shape[1:]), len(classes))


@register_dataset("imagefolder", cache_key=_imagefolder_key, describe=_describe_image_folder)
def load_image_folder(config) -> DecodedData:
    return _decode_image_folder(_image_folder_root(config), config.image_size)


def _is_class_folder_tree(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "test").is_dir()


def _decode_image_folder(root: Path, size: int | None) -> DecodedData:
    classes = tuple(sorted(p.name for p in (root / "train").iterdir() if p.is_dir()))
    if not classes:
        raise DataError(f"imagefolder: {root / 'train'} has no class folders; expected train/<class>/*")
    splits = {split: _list_images(root / split, classes) for split in ("train", "test", "val")
              if (root / split).is_dir()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        decoded = {split: _decode_files(files, size, pool) for split, (files, _) in splits.items()}
    sizes = {img.shape[1:] for images in decoded.values() for img in images}
    if len(sizes) > 1:
        raise DataError(f"imagefolder: images in {root} have different sizes ({_describe(sizes)}); "
                        f"pass --image-size N to resize them all to N x N")
    grey = all(img.shape[0] == 1 for images in decoded.values() for img in images)
    tensors = {split: _stack(images, grey) for split, images in decoded.items()}
    labels = {split: torch.tensor(lbls, dtype=torch.int64) for split, (_, lbls) in splits.items()}
    return DecodedData(classes=classes, train_x=tensors["train"], train_y=labels["train"],
                       test_x=tensors["test"], test_y=labels["test"], flip_keeps_label=True,
                       val_x=tensors.get("val"), val_y=labels.get("val"))


def _list_images(split_dir: Path, classes: tuple[str, ...]) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for index, name in enumerate(classes):
        class_dir = split_dir / name
        if not class_dir.is_dir():
            raise DataError(f"imagefolder: {class_dir} is missing; every split needs the same class "
                            f"folders as train/ ({', '.join(classes)})")
        found = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [index] * len(found)
    if not files:
        raise DataError(f"imagefolder: no images under {split_dir} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files, labels


def _decode_files(files: list[Path], size: int | None, pool: ThreadPoolExecutor) -> list[np.ndarray]:
    return list(pool.map(lambda path: _decode_file(path, size), files, chunksize=256))


def _decode_file(path: Path, size: int | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("L" if image.mode in ("1", "L", "I;16", "I") else "RGB")
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"imagefolder: cannot read image {path} ({err}); remove or replace the file") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _stack(images: list[np.ndarray], grey: bool) -> torch.Tensor:
    if not grey:
        images = [np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img for img in images]
    return torch.from_numpy(np.stack(images)).contiguous()


def _describe(sizes: set) -> str:
    shown = sorted(f"{w}x{h}" for h, w in sizes)
    return ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")


def _path_digest(path: str | None) -> str:
    resolved = str(Path(path or ".").expanduser().resolve())
    return hashlib.sha1(resolved.encode()).hexdigest()[:10]
