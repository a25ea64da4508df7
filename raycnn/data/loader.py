"""`load_dataset(config)`: decode once (cached on disk), then subset, split and describe.

The decoded uint8 tensors are cached under the cache folder (`data.cache_dir`, else
$RAYCNN_CACHE_DIR, else ~/.cache/raycnn) and memoised in the process, so trials in one worker
and later runs on the same machine never decode again.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from raycnn.data.dataset import Dataset, DecodedData, channel_stats, stratified_split
from raycnn.data.sources import DatasetInfo, get_source
from raycnn.errors import DataError

SUBSET_SEED = 0      # fixed: every trial of a study sees the same subset...
VALIDATION_SEED = 1  # ...and the same validation split, whatever its training seed
_MEMO: dict[Path, DecodedData] = {}


def cache_folder(config) -> Path:
    folder = config.cache_dir or os.environ.get("RAYCNN_CACHE_DIR") or Path.home() / ".cache" / "raycnn"
    return Path(folder).expanduser()


def load_dataset(config) -> Dataset:
    decoded = decode_cached(config)
    train_x, train_y = _subset(decoded.train_x, decoded.train_y, config.subset)
    test_x, test_y = _subset(decoded.test_x, decoded.test_y, config.subset)
    if decoded.val_x is not None:
        val_x, val_y = _subset(decoded.val_x, decoded.val_y, config.subset)
    else:
        val_idx, train_idx = stratified_split(train_y, config.val_fraction, VALIDATION_SEED)
        val_x, val_y, train_x, train_y = train_x[val_idx], train_y[val_idx], train_x[train_idx], train_y[train_idx]
    mean, std = channel_stats(train_x)
    size = (config.image_size,) * 2 if config.image_size else tuple(train_x.shape[2:])
    return Dataset(name=config.dataset, classes=decoded.classes, train_x=train_x, train_y=train_y,
                   val_x=val_x, val_y=val_y, test_x=test_x, test_y=test_y,
                   flip_keeps_label=decoded.flip_keeps_label, mean=mean, std=std, image_size=size)


def describe_dataset(config) -> DatasetInfo:
    """Channels, size (after image_size) and class count, without decoding when not cached yet.
    Raises DataError when the data is neither present nor downloadable."""
    source = get_source(config.dataset)
    path = cache_folder(config) / f"{source.cache_key(config)}.pt"
    decoded = _MEMO.get(path) or (_read_cache(path) if path.exists() else None)
    if decoded is None:
        info = source.describe(config)
    else:
        info = DatasetInfo(decoded.train_x.shape[1], tuple(decoded.train_x.shape[2:]), len(decoded.classes))
    if config.image_size:
        info = DatasetInfo(info.channels, (config.image_size, config.image_size), info.num_classes)
    return info


def decode_cached(config) -> DecodedData:
    """The decoded dataset: from this process's memo, else the disk cache, else its source."""
    source = get_source(config.dataset)
    path = cache_folder(config) / f"{source.cache_key(config)}.pt"
    if path in _MEMO:
        return _MEMO[path]
    decoded = _read_cache(path)
    if decoded is None:
        decoded = source.decode(config)
        _write_cache(path, decoded)
    _MEMO[path] = decoded
    return decoded


def _read_cache(path: Path) -> DecodedData | None:
    if not path.exists():
        return None
    try:
        return DecodedData.from_state(torch.load(path, weights_only=True))
    except Exception:  # a truncated or foreign file: decode again and overwrite it
        return None


def _write_cache(path: Path, decoded: DecodedData) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(decoded.to_state(), partial)
        os.replace(partial, path)  # atomic: concurrent trials never read half a file
    except OSError as err:
        raise DataError(f"cannot write the dataset cache {path} ({err.strerror}); set --cache-dir or "
                        f"$RAYCNN_CACHE_DIR to a writable folder") from None


def _subset(images: torch.Tensor, labels: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    if fraction >= 1.0:
        return images, labels
    chosen, _ = stratified_split(labels, fraction, SUBSET_SEED)
    return images[chosen], labels[chosen]
