"""Datasets: real digits, image folders, the offline MNIST and CIFAR-10 copies, the cache, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import CIFAR_FOLDER, SHARED_DATASETS, needs_cifar, needs_mnist
from raycnn.config import DataConfig
from raycnn.data import list_datasets, load_dataset
from raycnn.data import loader
from raycnn.errors import DataError


def test_registry_lists_every_dataset():
    assert list_datasets() == ["cifar10", "cifar100", "digits", "fashion_mnist", "imagefolder", "mnist"]


def test_digits_splits_are_stratified_and_fixed():
    data = load_dataset(DataConfig(dataset="digits"))
    assert data.classes == tuple("0123456789") and data.input_shape == (1, 8, 8)
    assert data.train_x.dtype == torch.uint8 and data.flip_keeps_label is False
    assert len(data.train_y) + len(data.val_y) + len(data.test_y) == 1797
    assert abs(len(data.test_y) - 0.2 * 1797) <= 10
    assert abs(len(data.val_y) - 0.1 * (len(data.train_y) + len(data.val_y))) <= 10
    for split in (data.train_y, data.val_y, data.test_y):
        assert torch.bincount(split, minlength=10).min() > 0
    again = load_dataset(DataConfig(dataset="digits"))
    assert torch.equal(again.val_x, data.val_x) and torch.equal(again.test_y, data.test_y)


def test_subset_takes_the_fraction_of_every_class():
    full = load_dataset(DataConfig(dataset="digits"))
    quarter = load_dataset(DataConfig(dataset="digits", subset=0.25))
    full_test = torch.bincount(full.test_y, minlength=10)
    quarter_test = torch.bincount(quarter.test_y, minlength=10)
    assert ((quarter_test - 0.25 * full_test).abs() <= 1).all()


def test_a_subset_too_small_to_leave_training_images_is_one_line_before_training(tmp_path):
    """One image of a class after the subset: the validation split would take it and leave none to train
    on (it used to end in a ZeroDivisionError inside the first epoch)."""
    from test_cli import train

    with pytest.raises(DataError, match=r"data.subset 0.005 leaves 10 of 10 classes \(0, \.\.\.\) fewer than 2 "
                                        r"training images.*raise data.subset"):
        load_dataset(DataConfig(dataset="digits", subset=0.005))
    assert len(load_dataset(DataConfig(dataset="digits", subset=0.02)).train_y) >= 10     # three a class: fine
    done = train("--subset", "0.005", "--epochs", "1", "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "raise data.subset" in done.stderr


def make_folder(root: Path, classes=("cat", "dog", "frog"), per_class=6, size=(12, 10), mode="RGB",
                splits=("train", "test")) -> Path:
    rng = np.random.default_rng(0)
    for split in splits:
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
                Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(
                    root / split / name / f"{i}.png")
    return root


def test_image_folder_is_decoded_once_and_cached(tmp_path):
    folder = make_folder(tmp_path / "pets", per_class=10)
    config = DataConfig(dataset="imagefolder", data_path=str(folder), cache_dir=str(tmp_path / "cache"))
    data = load_dataset(config)
    assert data.classes == ("cat", "dog", "frog") and data.input_shape == (3, 10, 12)
    assert len(data.test_y) == 30 and len(data.train_y) + len(data.val_y) == 30
    assert list((tmp_path / "cache").glob("imagefolder-*.pt"))
    shutil.rmtree(folder)                      # from now on only the caches can answer
    loader._SPLITS.clear(), loader._DECODED.clear()
    again = load_dataset(config)
    assert torch.equal(again.train_x, data.train_x) and torch.equal(again.test_y, data.test_y)
    shutil.rmtree(loader.splits_folder(config))   # the splits are made again from the decode cache
    loader._SPLITS.clear(), loader._DECODED.clear()
    assert torch.equal(load_dataset(config).val_x, data.val_x)


def test_a_process_new_to_a_dataset_waits_for_the_one_decoding_it_and_takes_its_cache(tmp_path):
    import threading

    from raycnn.atomic import one_at_a_time

    pets = DataConfig(dataset="imagefolder", data_path=str(make_folder(tmp_path / "pets")), cache_dir=str(tmp_path / "c"))
    other = DataConfig(dataset="imagefolder", data_path=str(make_folder(tmp_path / "o", classes=("a", "b"))),
                       cache_dir=str(tmp_path / "c"))
    path = loader._decoded_path(pets)
    taken = []
    loader.decode_cached(other)
    lock = path.with_name(f".{path.name}.lock")
    with one_at_a_time(lock):                                   # as another process decoding pets would
        waiting = threading.Thread(target=lambda: taken.append(loader.decode_cached(pets)))
        waiting.start()
        wait_for_a_blocked_flock(lock)
        shutil.copy(loader._decoded_path(other), path)          # what the other process decoded
        assert not taken
    waiting.join(timeout=60)
    assert taken[0].classes == ("a", "b")       # what was written while it waited, not a second decode of pets
    loader._DECODED.clear()


def wait_for_a_blocked_flock(lock: Path, timeout: float = 60) -> None:
    """Until the kernel lists a request waiting for `lock` (Linux's /proc/locks: "-> FLOCK ... dev:inode")."""
    import time

    inode, deadline = f":{lock.stat().st_ino} ", time.monotonic() + timeout
    while not any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines()):
        assert time.monotonic() < deadline, f"nothing waited for {lock}"
        time.sleep(0.01)


def test_trials_map_one_shared_copy_of_the_splits(tmp_path):
    """The images a run trains on are the cache file's pages (mapped read-only), not a private copy."""
    config = DataConfig(dataset="digits", cache_dir=str(tmp_path / "cache"), subset=0.5)
    data = load_dataset(config)
    folder = loader.splits_folder(config)
    for split in ("train", "val", "test"):
        images = getattr(data, f"{split}_x")
        assert (folder / f"{split}_x.u8").stat().st_size == images.numel()
        mapped = torch.from_file(str(folder / f"{split}_x.u8"), shared=False, size=images.numel(), dtype=torch.uint8)
        assert torch.equal(mapped.view(images.shape), images)
    if Path("/proc/self/maps").exists():     # Linux: the process maps the file instead of holding a copy
        assert str(folder / "train_x.u8") in Path("/proc/self/maps").read_text()
    shutil.rmtree(folder)
    loader._SPLITS.clear()
    fresh = load_dataset(config)
    assert torch.equal(fresh.train_x, data.train_x) and fresh.mean == data.mean   # the same split, rebuilt


def test_image_folder_with_val_split_and_grey_images(tmp_path):
    folder = make_folder(tmp_path / "grey", mode="L", splits=("train", "val", "test"))
    data = load_dataset(DataConfig(dataset="imagefolder", data_path=str(folder)))
    assert data.channels == 1
    assert len(data.train_y) == len(data.val_y) == len(data.test_y) == 18


def test_mixed_sizes_ask_for_image_size(tmp_path):
    folder = make_folder(tmp_path / "mixed")
    Image.new("RGB", (40, 30)).save(folder / "test" / "cat" / "big.png")
    with pytest.raises(DataError, match="different sizes.*--image-size"):
        load_dataset(DataConfig(dataset="imagefolder", data_path=str(folder)))
    data = load_dataset(DataConfig(dataset="imagefolder", data_path=str(folder), image_size=16))
    assert data.input_shape == (3, 16, 16) and data.test_x.shape[-2:] == (16, 16)


def test_not_a_class_folder_tree(tmp_path):
    with pytest.raises(DataError, match="must hold train/<class>/\\* and test/<class>/\\*"):
        load_dataset(DataConfig(dataset="imagefolder", data_path=str(tmp_path)))


def test_missing_torchvision_files_offline_name_the_folder(tmp_path):
    with pytest.raises(DataError, match=f"files not found in {tmp_path}/MNIST/raw and download is off"):
        load_dataset(DataConfig(dataset="mnist", data_root=str(tmp_path), download=False))


@needs_mnist
def test_mnist_from_the_offline_copy():
    data = load_dataset(DataConfig(dataset="mnist", data_root=str(SHARED_DATASETS)))
    assert data.classes == tuple("0123456789") and data.input_shape == (1, 28, 28)
    assert len(data.train_y) + len(data.val_y) == 60000 and len(data.test_y) == 10000
    assert abs(data.mean[0] - 0.1307) < 0.002
    assert data.flip_keeps_label is False


@needs_cifar
def test_cifar10_class_folders_as_imagefolder_and_as_cifar10():
    data = load_dataset(DataConfig(dataset="imagefolder", data_path=str(CIFAR_FOLDER), subset=0.1))
    assert data.classes[:4] == ("airplane", "automobile", "bird", "cat") and data.input_shape == (3, 32, 32)
    assert torch.bincount(data.test_y).tolist() == [100] * 10
    assert data.flip_keeps_label is True
    by_name = load_dataset(DataConfig(dataset="cifar10", data_root=str(SHARED_DATASETS), subset=0.1))
    assert torch.equal(by_name.test_x, data.test_x)
