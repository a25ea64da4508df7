"""`load_dataset(config)`: decode once, split once, then map the splits read-only in every process.

Two caches under the cache folder (`data.cache_dir`, else $RAYCNN_CACHE_DIR, else ~/.cache/raycnn):
- `<source key>.pt`: the dataset as its source decodes it (uint8 tensors), written once per machine (by one
  process: another process new to the same dataset waits for it, then maps what it wrote);
- `<source key>-s<subset>-v<val fraction>/`: the splits a run trains on (train/val/test images and
  labels as raw uint8/int64 files, with meta.json: classes, shapes, channel mean and std).
Processes map the split files read-only (`torch.from_file`, copy-on-write), so every trial on a node
shares one copy of the data in the page cache: a trial's own memory does not hold the dataset, and a
dataset larger than memory still trains, its batches read from the map (the kernel pages them in).
The splits are built from the mapped decode cache in chunks, never as a whole second copy in memory.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import torch

from raycnn.atomic import aside, one_at_a_time, written_whole
from raycnn.data.dataset import Dataset, DecodedData, channel_stats, stratified_split
from raycnn.data.sources import DatasetInfo, get_source
from raycnn.errors import DataError

SUBSET_SEED = 0      # fixed: every trial of a study sees the same subset...
VALIDATION_SEED = 1  # ...and the same validation split, whatever its training seed
SPLITS = ("train", "val", "test")
SPLITS_VERSION = 1
CHUNK_BYTES = 64 << 20  # splits are copied out of the decode cache this much at a time
_DECODED: dict[Path, DecodedData] = {}                       # this process's mapped caches
_SPLITS: dict[Path, tuple[dict, dict[str, torch.Tensor]]] = {}


def cache_folder(config) -> Path:
    folder = config.cache_dir or os.environ.get("RAYCNN_CACHE_DIR") or Path.home() / ".cache" / "raycnn"
    return Path(folder).expanduser()


def load_dataset(config) -> Dataset:
    """The run's train/val/test splits, mapped from this machine's split cache (built on first use)."""
    folder = splits_folder(config)
    if folder not in _SPLITS:
        if not (folder / "meta.json").exists():
            _write_splits(folder, decode_cached(config), config)
        _SPLITS[folder] = _map_splits(folder)
    meta, tensors = _SPLITS[folder]
    size = (config.image_size,) * 2 if config.image_size else tuple(meta["shape"])
    return Dataset(name=config.dataset, classes=tuple(meta["classes"]), **tensors,
                   flip_keeps_label=meta["flip_keeps_label"], mean=tuple(meta["mean"]), std=tuple(meta["std"]),
                   image_size=size)


def splits_folder(config) -> Path:
    return _decoded_path(config).with_name(
        f"{_decoded_path(config).stem}-s{config.subset:g}-v{config.val_fraction:g}-splits{SPLITS_VERSION}")


def describe_dataset(config) -> DatasetInfo:
    """Channels, size (after image_size) and class count, without decoding when not cached yet.
    Raises DataError when the data is neither present nor downloadable."""
    meta_file = splits_folder(config) / "meta.json"
    path = _decoded_path(config)
    decoded = _DECODED.get(path) or (_read_cache(path) if path.exists() else None)
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        info = DatasetInfo(meta["channels"], tuple(meta["shape"]), len(meta["classes"]))
    elif decoded is not None:
        info = DatasetInfo(decoded.train_x.shape[1], tuple(decoded.train_x.shape[2:]), len(decoded.classes))
    elif get_source(config.dataset).describe is None:      # torchvision/..., a user's Dataset: decode once
        decoded = decode_cached(config)
        info = DatasetInfo(decoded.train_x.shape[1], tuple(decoded.train_x.shape[2:]), len(decoded.classes))
    else:
        info = get_source(config.dataset).describe(config)
    if config.image_size:
        info = DatasetInfo(info.channels, (config.image_size, config.image_size), info.num_classes)
    return info


def _decoded_path(config) -> Path:
    return cache_folder(config) / f"{get_source(config.dataset).cache_key(config)}.pt"


def decode_cached(config) -> DecodedData:
    """The decoded dataset: from this process's memo, else the disk cache (mapped), else its source."""
    path = _decoded_path(config)
    if path in _DECODED:
        return _DECODED[path]
    decoded = _read_cache(path)
    if decoded is None:
        with one_at_a_time(path.with_name(f".{path.name}.lock")):    # two processes new to a dataset: one decodes
            decoded = _read_cache(path)            # written by the process this one waited for
            if decoded is None:
                _write_cache(path, get_source(config.dataset).decode(config))
                decoded = _read_cache(path)     # mapped: the decoded copy in memory is let go
    _DECODED[path] = decoded
    return decoded


def _read_cache(path: Path) -> DecodedData | None:
    if not path.exists():
        return None
    try:
        return DecodedData.from_state(torch.load(path, weights_only=True, mmap=True))
    except Exception:  # a truncated or foreign file: decode again and overwrite it
        return None


def _write_cache(path: Path, decoded: DecodedData) -> None:
    try:
        with written_whole(path) as partial, open(partial, "wb") as stream:   # never half a file to a reader
            torch.save(decoded.to_state(), stream)      # a Python stream: a full disk is an OSError
    except OSError as err:
        raise _unwritable(path, err) from None


def _unwritable(path: Path, err: OSError) -> DataError:
    return DataError(f"cannot write the dataset cache {path} ({err.strerror}); set --cache-dir or "
                     f"$RAYCNN_CACHE_DIR to a writable folder with room for the dataset")


# --- the split cache ---------------------------------------------------------------------------

def _split_indices(decoded: DecodedData, config) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """split -> (source images, source labels, indices into them), after subset and validation split."""
    train = _subset(decoded.train_y, config.subset)
    test = _subset(decoded.test_y, config.subset)
    if decoded.val_x is not None:
        val = (decoded.val_x, decoded.val_y, _subset(decoded.val_y, config.subset))
    else:
        _check_room_for_validation(decoded, train, config)
        val_part, train_part = stratified_split(decoded.train_y[train], config.val_fraction, VALIDATION_SEED)
        val, train = (decoded.train_x, decoded.train_y, train[val_part]), train[train_part]
    return {"train": (decoded.train_x, decoded.train_y, train), "val": val,
            "test": (decoded.test_x, decoded.test_y, test)}


def _check_room_for_validation(decoded: DecodedData, train: torch.Tensor, config) -> None:
    """The validation split takes at least one image of each class from train: a class needs two."""
    counts = torch.bincount(decoded.train_y[train], minlength=len(decoded.classes))
    short = [name for name, count in zip(decoded.classes, counts.tolist()) if count < 2]
    if short:
        named = short[0] + (", ..." if len(short) > 1 else "")
        raise DataError(f"data.subset {config.subset:g} leaves {len(short)} of {len(decoded.classes)} classes "
                        f"({named}) fewer than 2 training images, and the validation split takes one image of "
                        f"each class: raise data.subset (or set it to 1.0)")


def _subset(labels: torch.Tensor, fraction: float) -> torch.Tensor:
    if fraction >= 1.0:
        return torch.arange(len(labels))
    chosen, _ = stratified_split(labels, fraction, SUBSET_SEED)
    return chosen


def _write_splits(folder: Path, decoded: DecodedData, config) -> None:
    """Write the splits aside, then rename the folder into place (a concurrent writer's copy wins)."""
    partial = aside(folder)
    try:
        partial.mkdir(parents=True)
        meta = {"version": SPLITS_VERSION, "classes": list(decoded.classes), "channels": decoded.train_x.shape[1],
                "shape": list(decoded.train_x.shape[2:]), "flip_keeps_label": decoded.flip_keeps_label, "sizes": {}}
        for split, (images, labels, index) in _split_indices(decoded, config).items():
            written = _copy_rows(images, index, partial / f"{split}_x.u8")
            torch.save(labels[index].clone(), partial / f"{split}_y.pt")
            meta["sizes"][split] = len(index)
            if split == "train":
                meta["mean"], meta["std"] = channel_stats(written)
        (partial / "meta.json").write_text(json.dumps(meta))
        try:
            partial.rename(folder)
        except OSError:
            if not (folder / "meta.json").exists():
                raise
    except OSError as err:
        raise _unwritable(folder, err) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _copy_rows(images: torch.Tensor, index: torch.Tensor, path: Path) -> torch.Tensor:
    """images[index] into a new file-backed tensor, a chunk at a time."""
    shape = (len(index), *images.shape[1:])
    out = torch.from_file(str(path), shared=True, size=max(1, math.prod(shape)), dtype=torch.uint8)
    out = out[:math.prod(shape)].view(shape)
    step = max(1, CHUNK_BYTES // max(1, math.prod(images.shape[1:])))
    for start in range(0, len(index), step):
        out[start:start + step] = images[index[start:start + step]]
    return out


def _map_splits(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    meta = json.loads((folder / "meta.json").read_text())
    tensors = {}
    for split in SPLITS:
        shape = (meta["sizes"][split], meta["channels"], *meta["shape"])
        mapped = torch.from_file(str(folder / f"{split}_x.u8"), shared=False, size=max(1, math.prod(shape)),
                                 dtype=torch.uint8)
        tensors[f"{split}_x"] = mapped[:math.prod(shape)].view(shape)
        tensors[f"{split}_y"] = torch.load(folder / f"{split}_y.pt", weights_only=True)
    return meta, tensors
