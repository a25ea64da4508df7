"""Image folders: DIR/train/<class>/*, DIR/test/<class>/*, optional DIR/val/<class>/*.

Real folders are messy. What each case gets, decided here (modes and orientation: raycnn.data.images):
- hidden files and folders (.DS_Store, macOS's ._photo.jpg, .ipynb_checkpoints) and Thumbs.db or
  desktop.ini: ignored;
- files that are not images by their suffix (notes.txt, labels.csv): skipped, named in one warning line;
- images that do not decode (corrupt, truncated, not an image despite the suffix, over PIL's
  decompression-bomb limit): skipped, counted and named (the first few) in one warning line;
- a class folder with no images in a split, or whose every image fails to decode: refused in one
  line naming it, before any training (a class with no examples cannot be learned or tested);
- images of different sizes, or images that would not fit in memory at their own size: refused,
  asking for --image-size N.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from raycnn.data.dataset import DecodedData
from raycnn.data.images import image_array
from raycnn.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
SYSTEM_FILES = {"thumbs.db", "desktop.ini"}
SPLITS = ("train", "test", "val")
NAMED = 5                  # files named in a warning line; the rest are counted
SMALL_IMAGE = 64 * 64      # pixels: images this small are decoded by one thread (decode_threads)


@dataclass(frozen=True)
class FolderScan:
    """What an image folder holds, found by listing it (nothing decoded)."""

    root: Path
    classes: tuple[str, ...]
    files: dict[str, list[tuple[Path, int]]]     # split -> (image file, class index)
    not_images: tuple[Path, ...]                 # files skipped for their suffix


def is_class_folder_tree(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "test").is_dir()


def scan_folder(root: Path) -> FolderScan:
    """List the folder; DataError (one line) when it is not a class-folder tree or a class has no images."""
    if not is_class_folder_tree(root):
        raise DataError(f"imagefolder: {root} must hold train/<class>/* and test/<class>/* "
                        f"(optionally val/<class>/*); check data.data_path (--data-path)")
    classes = tuple(sorted(p.name for p in (root / "train").iterdir() if p.is_dir() and not _hidden(p)))
    if not classes:
        raise DataError(f"imagefolder: {root / 'train'} has no class folders; expected train/<class>/*")
    files, not_images = {}, []
    for split in (s for s in SPLITS if (root / s).is_dir()):
        files[split] = []
        for index, name in enumerate(classes):
            found, others = _list_class(root, split, name, classes)
            files[split] += [(path, index) for path in found]
            not_images += others
    return FolderScan(root, classes, files, tuple(not_images))


def _list_class(root: Path, split: str, name: str, classes: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    folder = root / split / name
    if not folder.is_dir():
        raise DataError(f"imagefolder: {folder} is missing; every split needs the same class folders as train/ "
                        f"({', '.join(classes)})")
    entries = sorted(p for p in folder.iterdir() if p.is_file() and not _hidden(p))
    images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise DataError(f"imagefolder: {folder} holds no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))}); "
                        f"add images of {name!r} or remove the class folder from every split")
    return images, [p for p in entries if p.suffix.lower() not in IMAGE_SUFFIXES]


def _hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name.lower() in SYSTEM_FILES


def first_image(scan: FolderScan, size: int | None) -> np.ndarray:
    """The first training image that decodes (channels and size of the dataset, found cheaply)."""
    for path, _ in scan.files["train"]:
        array, _ = decode_file(path, size)
        if array is not None:
            return array
    raise DataError(f"imagefolder: no image under {scan.root / 'train'} can be read")


def check_fits_in_memory(scan: FolderScan, first: np.ndarray, size: int | None) -> None:
    """Refuse a folder whose images at their own size would not fit in memory (ask for --image-size)."""
    from raycnn.batches import available_memory

    count = sum(len(files) for files in scan.files.values())
    needed = count * 3 * first.shape[1] * first.shape[2]
    if size is None and needed > available_memory() // 2:
        raise DataError(f"imagefolder: {count:,} images of {first.shape[2]}x{first.shape[1]} px take "
                        f"{needed / 2**30:.1f} GB decoded, more than half the memory here; pass --image-size N "
                        f"(e.g. 224) to resize them as they are decoded")


def decode_folder(root: Path, size: int | None) -> DecodedData:
    """Decode every image of the folder (the messy cases as the module says); one warning line for skips."""
    scan = scan_folder(root)
    threads = decode_threads(scan)
    decoded = {split: _decode_all([path for path, _ in files], size, threads) for split, files in scan.files.items()}
    failed = [(path, reason) for split, files in scan.files.items()
              for (path, _), (array, reason) in zip(files, decoded[split]) if array is None]
    _warn_skipped(scan, failed)
    kept = {split: [(array, label) for (_, label), (array, _) in zip(files, decoded[split]) if array is not None]
            for split, files in scan.files.items()}
    _check_classes(scan, kept, dict(failed))
    sizes = {array.shape[1:] for items in kept.values() for array, _ in items}
    if len(sizes) > 1:
        raise DataError(f"imagefolder: images in {root} have different sizes ({_sizes(sizes)}); "
                        f"pass --image-size N to resize them all to N x N")
    grey = all(array.shape[0] == 1 for items in kept.values() for array, _ in items)
    tensors = {split: _stack([a for a, _ in items], grey) for split, items in kept.items()}
    labels = {split: torch.tensor([label for _, label in items], dtype=torch.int64) for split, items in kept.items()}
    return DecodedData(classes=scan.classes, train_x=tensors["train"], train_y=labels["train"],
                       test_x=tensors["test"], test_y=labels["test"], flip_keeps_label=True,
                       val_x=tensors.get("val"), val_y=labels.get("val"))


def decode_threads(scan: FolderScan) -> int:
    """Threads that decode the folder: one for small images (CIFAR-10's 32 x 32 PNGs: the work per file is
    Python's, under its GIL, and two threads took 1.6x as long as one), else one per core up to 8 (a
    photo's decoding runs outside the GIL: on 17 Flowers two threads took 0.55x as long as one)."""
    from PIL import Image

    try:
        with Image.open(scan.files["train"][0][0]) as image:
            pixels = image.size[0] * image.size[1]
    except (OSError, ValueError, IndexError, Image.DecompressionBombError):
        pixels = SMALL_IMAGE + 1
    return 1 if pixels <= SMALL_IMAGE else max(1, min(8, os.cpu_count() or 1))


def _decode_all(paths: list[Path], size: int | None, threads: int) -> list[tuple[np.ndarray | None, str]]:
    def decode(part: list[Path]) -> list:
        return [decode_file(path, size) for path in part]

    if threads == 1:
        return decode(paths)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [done for part in pool.map(decode, [paths[i:i + 64] for i in range(0, len(paths), 64)]) for done in part]


def decode_file(path: Path, size: int | None) -> tuple[np.ndarray | None, str]:
    """(uint8 [C, H, W], "") or (None, why it cannot be read)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image_array(image, size), ""
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError) as err:
        reason = "not an image" if isinstance(err, UnidentifiedImageError) else " ".join(str(err).split())[:80]
        return None, reason


def _warn_skipped(scan: FolderScan, failed: list[tuple[Path, str]]) -> None:
    parts = []
    if failed:
        named = ", ".join(f"{_relative(scan, p)} ({why})" for p, why in failed[:NAMED])
        parts.append(f"{len(failed)} image(s) that do not decode: {named}" + _more(failed))
    if scan.not_images:
        named = ", ".join(_relative(scan, p) for p in scan.not_images[:NAMED])
        parts.append(f"{len(scan.not_images)} file(s) that are not images: {named}" + _more(scan.not_images))
    if parts:
        print(f"raycnn: warning: imagefolder {scan.root}: skipped {'; and '.join(parts)}", file=sys.stderr, flush=True)


def _check_classes(scan: FolderScan, kept: dict, failed: dict) -> None:
    for split, items in kept.items():
        present = {label for _, label in items}
        for index, name in enumerate(scan.classes):
            if index not in present:
                example = next(p for p, label in scan.files[split] if label == index)
                raise DataError(f"imagefolder: none of the images in {scan.root / split / name} can be read (e.g. "
                                f"{example.name}: {failed.get(example, 'unreadable')}); replace them or remove the class")


def _relative(scan: FolderScan, path: Path) -> str:
    return str(path.relative_to(scan.root))


def _more(items) -> str:
    return f" and {len(items) - NAMED} more" if len(items) > NAMED else ""


def _stack(images: list[np.ndarray], grey: bool) -> torch.Tensor:
    if not grey:
        images = [np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img for img in images]
    return torch.from_numpy(np.stack(images)).contiguous()


def _sizes(sizes: set) -> str:
    shown = sorted(f"{w}x{h}" for h, w in sizes)
    return ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
