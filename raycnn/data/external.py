"""Datasets that are not raycnn's own: torchvision's classification datasets by name
(`torchvision/SVHN`, `torchvision/STL10`, ...) and a user's `torch.utils.data.Dataset` by import path
(`my_data.py:Shapes`, `my_package.data:Shapes`).

Both go through the same decode-once cache, stratified subset, validation split and class names as
the built-ins. The dataset class is built with what it accepts by name: `root` (--data-root),
`download`, and `train=True/False` or `split="train"/"test"` (or "trainval"/"test"); one that has
no split gets a fixed stratified 20% test split. Each item must be `(image, label)`: a PIL image, a
uint8 or float [0, 1] tensor (C, H, W) or (H, W), or a numpy array (H, W[, C]); an int label.
Class names: the dataset's `classes` attribute, else the label numbers. Horizontal flips keep the
label only where that is known (listed below for torchvision; a user's class says so with a
`flip_keeps_label = True` attribute).
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import numpy as np
import torch

from raycnn import code
from raycnn.data.dataset import DecodedData, stratified_split
from raycnn.data.images import image_array
from raycnn.errors import ConfigError, DataError

ZOO = "torchvision/"
FLIP_SAFE = {"CIFAR10", "CIFAR100", "FashionMNIST", "STL10", "Flowers102", "OxfordIIITPet", "EuroSAT", "Food101",
             "Caltech101", "Caltech256", "DTD", "FGVCAircraft", "StanfordCars", "SUN397", "Country211",
             "ImageNet", "Imagenette", "PCAM", "RenderedSST2"}
TEST_FRACTION = 0.2


def is_external(name: str) -> bool:
    return name.startswith(ZOO) or code.is_ref(name)


def dataset_class(name: str):
    """The torchvision class or the user's Dataset class/factory `name` refers to (ConfigError if none)."""
    if name.startswith(ZOO):
        import torchvision

        attr = name[len(ZOO):]
        found = getattr(torchvision.datasets, attr, None)
        if not inspect.isclass(found) or attr.startswith("_"):
            names = [n for n in torchvision.datasets.__all__ if n[0].isupper()]
            raise ConfigError(f"data.dataset: torchvision has no dataset {attr!r}; its datasets: {', '.join(names[:40])}")
        return found
    found = code.load(name, "data.dataset")
    if not callable(found):
        raise ConfigError(f"data.dataset: {name} is a {type(found).__name__}, not a Dataset class or function")
    return found


def cache_key(config) -> str:
    name = config.dataset
    digest = hashlib.sha256(str(Path(config.data_root).expanduser().resolve()).encode()).hexdigest()[:10]
    size = config.image_size or "native"
    if name.startswith(ZOO):
        return f"tv-{name[len(ZOO):]}-{digest}-{size}"
    source = code.content_hash(name)[:12]
    return f"user-{name.rpartition(':')[2]}-{source}-{digest}-{size}"


def decode(config) -> DecodedData:
    cls = dataset_class(config.dataset)
    train, test = _splits(cls, config)
    train_x, train_y = _decode_all(train, config)
    classes = _classes(train, train_y)
    if test is None:                      # no split of its own: a fixed stratified 20% is the test set
        test_idx, train_idx = stratified_split(train_y, TEST_FRACTION, seed=0)
        test_x, test_y, train_x, train_y = train_x[test_idx], train_y[test_idx], train_x[train_idx], train_y[train_idx]
    else:
        test_x, test_y = _decode_all(test, config)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(f"data.dataset {config.dataset}: train images are {tuple(train_x.shape[1:])}, test images "
                        f"{tuple(test_x.shape[1:])}; pass --image-size N to resize both")
    flip = getattr(cls, "flip_keeps_label", None)
    flip = bool(flip) if flip is not None else cls.__name__ in FLIP_SAFE and config.dataset.startswith(ZOO)
    return DecodedData(classes=classes, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
                       flip_keeps_label=flip)


def _splits(cls, config):
    params = _parameters(cls)
    common = {}
    if "root" in params:
        common["root"] = str(Path(config.data_root).expanduser())
    if "download" in params:
        common["download"] = config.download
    if "train" in params:
        return _build(cls, config, train=True, **common), _build(cls, config, train=False, **common)
    if "split" in params:
        for train_split in ("train", "trainval"):
            try:
                train = _build(cls, config, split=train_split, **common)
            except _BadSplit:
                continue
            return train, _build(cls, config, split="test", **common)
        raise DataError(f"data.dataset {config.dataset}: takes a split, but neither 'train' nor 'trainval' "
                        f"with 'test'; wrap it in your own Dataset class that takes train=True/False")
    return _build(cls, config, **common), None


class _BadSplit(Exception):
    pass


def _build(cls, config, **kwargs):
    try:
        return cls(**kwargs)
    except ValueError as err:
        if "split" in kwargs and "split" in str(err).lower():
            raise _BadSplit() from None
        raised = err
    except Exception as err:        # the dataset's own code: its error, in one line
        raised = err
    if config.dataset.startswith(ZOO) and isinstance(raised, (RuntimeError, OSError)):
        why = "download is off" if not config.download else f"download failed ({code.last_line(raised)})"
        raise DataError(f"dataset {config.dataset}: not found in {Path(config.data_root).expanduser()} and {why}. "
                        f"Put torchvision's files there, point --data-root at them, or run once with internet access")
    raise DataError(f"data.dataset {config.dataset}: {cls.__name__}({_args(kwargs)}) raised {code.last_line(raised)}")


def _args(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _parameters(cls) -> dict:
    try:
        return dict(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return {}


def _decode_all(dataset, config) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        count = len(dataset)
    except TypeError:
        raise DataError(f"data.dataset {config.dataset}: has no len(); raycnn needs a map-style Dataset") from None
    if count == 0:
        raise DataError(f"data.dataset {config.dataset}: has no items")
    images, labels = [], []
    for index in range(count):
        item = dataset[index]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise DataError(f"data.dataset {config.dataset}: item {index} is a {type(item).__name__}"
                            f"{f' of {len(item)}' if isinstance(item, (tuple, list)) else ''}, not (image, label)")
        image, label = item
        images.append(_image(image, index, config))
        labels.append(_label(label, index, config))
    shapes = {i.shape for i in images}
    if len(shapes) > 1:
        raise DataError(f"data.dataset {config.dataset}: images have different sizes (e.g. "
                        f"{', '.join(str(s) for s in list(shapes)[:3])}); pass --image-size N to resize them to N x N")
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)


def _image(image, index: int, config) -> np.ndarray:
    """(C, H, W) uint8, resized to image_size where set."""
    from PIL import Image

    if isinstance(image, torch.Tensor):
        array = image.detach().cpu().numpy()
        if array.dtype != np.uint8:
            array = np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        array = array[None] if array.ndim == 2 else array
        if array.ndim != 3:
            raise DataError(f"data.dataset {config.dataset}: item {index}'s image tensor has shape {tuple(image.shape)}; "
                            f"expected (C, H, W) or (H, W)")
        image = Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))
    elif isinstance(image, np.ndarray):
        array = image if image.dtype == np.uint8 else np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
        image = Image.fromarray(array)
    elif not isinstance(image, Image.Image):
        raise DataError(f"data.dataset {config.dataset}: item {index}'s image is a {type(image).__name__}; "
                        f"expected a PIL image, a tensor or a numpy array (and no transform that makes it something else)")
    return image_array(image, config.image_size)


def _label(label, index: int, config) -> int:
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        label = label.item()
    if isinstance(label, (np.integer,)):
        label = int(label)
    if not isinstance(label, int) or isinstance(label, bool) or label < 0:
        raise DataError(f"data.dataset {config.dataset}: item {index}'s label is {label!r}; expected a class "
                        f"number 0, 1, ... (an int)")
    return label


def _classes(dataset, labels: torch.Tensor) -> tuple[str, ...]:
    count = int(labels.max()) + 1
    names = getattr(dataset, "classes", None)
    if isinstance(names, (list, tuple)) and len(names) >= count and all(isinstance(n, str) for n in names):
        return tuple(n.split(" - ")[0] for n in names)
    return tuple(str(i) for i in range(count))
