"""Real image folders are messy: each case is converted, skipped with a warning that names the files, or
refused in one line before any work; never a traceback."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from raycnn.config import DataConfig
from raycnn.data import describe_dataset, load_dataset
from raycnn.errors import DataError
from test_cli import train
from test_data import make_folder

RNG = np.random.default_rng(1)


def colour(width=12, height=10, channels=3):
    return RNG.integers(0, 255, (height, width, channels) if channels > 1 else (height, width), dtype=np.uint8)


def load(folder, **kw):
    return load_dataset(DataConfig(dataset="imagefolder", data_path=str(folder), **kw))


def test_grey_rgba_cmyk_palette_and_16_bit_images_are_converted(tmp_path):
    folder = make_folder(tmp_path / "f")
    cat = folder / "train" / "cat"
    Image.fromarray(colour(channels=1), "L").save(cat / "grey.png")
    rgba = np.dstack([np.full((10, 12, 3), 10, np.uint8), np.zeros((10, 12), np.uint8)])
    Image.fromarray(rgba, "RGBA").save(cat / "transparent.png")                   # fully transparent: white
    Image.fromarray(colour()).convert("CMYK").save(cat / "print.jpg")
    Image.fromarray(colour()).convert("P").save(cat / "palette.png", transparency=0)
    Image.fromarray(np.full((10, 12), 65535, np.uint16)).save(cat / "sixteen.png")  # 16-bit white
    Image.fromarray(np.dstack([colour(channels=1), np.full((10, 12), 255, np.uint8)]), "LA").save(cat / "la.png")
    data = load(folder)
    assert data.channels == 3 and len(data.train_y) + len(data.val_y) == 18 + 6
    images = {int(x.float().mean()) for x in (data.train_x, data.val_x)}
    assert images                                   # decoded, all RGB
    from raycnn.data.folders import decode_file

    white, _ = decode_file(cat / "transparent.png", None)
    sixteen, _ = decode_file(cat / "sixteen.png", None)
    assert white.shape == (3, 10, 12) and white.min() == 255 and sixteen.min() == 255


def test_camera_orientation_is_applied(tmp_path):
    folder = make_folder(tmp_path / "f", size=(12, 10))
    photo = Image.fromarray(colour(10, 12))          # stored 10 wide x 12 high, to be shown rotated
    exif = photo.getexif()
    exif[0x0112] = 6                                 # orientation: rotate 90 degrees when shown
    photo.save(folder / "train" / "cat" / "portrait.jpg", exif=exif)
    from raycnn.data.folders import decode_file

    upright, _ = decode_file(folder / "train" / "cat" / "portrait.jpg", None)
    assert upright.shape == (3, 10, 12)              # as the camera meant it: the same size as the others
    assert load(folder).train_x.shape[-2:] == (10, 12)


def test_corrupt_truncated_and_non_image_files_are_skipped_with_one_warning(tmp_path, capfd):
    folder = make_folder(tmp_path / "f")
    cat = folder / "train" / "cat"
    (cat / "corrupt.png").write_bytes(b"not an image at all")
    Image.fromarray(colour(64, 64)).save(tmp_path / "whole.jpg")
    whole = (tmp_path / "whole.jpg").read_bytes()
    (cat / "cut.jpg").write_bytes(whole[:len(whole) // 2])
    (cat / "notes.txt").write_text("labels are in the folder names")
    (cat / ".DS_Store").write_bytes(b"\0\1\2")
    (cat / "._0.png").write_bytes(b"\0\5\7")            # macOS's resource fork twin: ignored
    (folder / "train" / ".ipynb_checkpoints").mkdir()     # not a class
    data = load(folder)
    assert data.classes == ("cat", "dog", "frog") and len(data.train_y) + len(data.val_y) == 18
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "warning" in err and "skipped 2 image(s) that do not decode" in err
    assert "train/cat/corrupt.png (not an image)" in err and "train/cat/cut.jpg (image file is truncated" in err
    assert "1 file(s) that are not images: train/cat/notes.txt" in err and "DS_Store" not in err


def test_an_empty_class_folder_is_refused_before_any_work(tmp_path):
    folder = make_folder(tmp_path / "f")
    (folder / "test" / "frog").mkdir(exist_ok=True)
    for path in (folder / "test" / "frog").iterdir():
        path.unlink()
    (folder / "test" / "frog" / "readme.txt").write_text("todo")
    config = DataConfig(dataset="imagefolder", data_path=str(folder))
    with pytest.raises(DataError, match=r"test/frog holds no images .* add images of 'frog' or remove the class"):
        describe_dataset(config)


def test_a_class_whose_every_image_is_unreadable_is_refused(tmp_path):
    folder = make_folder(tmp_path / "f")
    for path in (folder / "test" / "dog").iterdir():
        path.write_bytes(b"broken")
    with pytest.raises(DataError, match=r"none of the images in .*test/dog can be read \(e.g. 0.png: not an image\)"):
        load(folder)


def test_a_corrupt_first_image_does_not_stop_describe(tmp_path):
    folder = make_folder(tmp_path / "f")
    (folder / "train" / "cat" / "0.png").write_bytes(b"broken")
    assert describe_dataset(DataConfig(dataset="imagefolder", data_path=str(folder))).channels == 3


def test_very_large_photos_are_decoded_small_and_refused_at_full_size_when_too_big(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "f", per_class=2)
    Image.fromarray(np.full((3000, 4000, 3), 128, np.uint8)).save(folder / "train" / "dog" / "huge.jpg", quality=30)
    data = load(folder, image_size=32)
    assert data.train_x.shape[-2:] == (32, 32)
    import raycnn.batches

    monkeypatch.setattr(raycnn.batches, "available_memory", lambda: 2 * 2**20)   # a machine with 2 MB free
    big = make_folder(tmp_path / "big", per_class=2, size=(600, 500))
    with pytest.raises(DataError, match=r"images of 600x500 px take .* pass --image-size N"):
        describe_dataset(DataConfig(dataset="imagefolder", data_path=str(big)))


def test_messy_folder_through_the_cli_is_one_line_not_a_traceback(tmp_path):
    folder = make_folder(tmp_path / "f")
    for path in (folder / "train" / "frog").iterdir():
        path.unlink()
    run = train("--dataset", "imagefolder", "--data-path", "f", "--epochs", "1", cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert f"{folder}/train/frog holds no images" in run.stderr


def test_small_images_are_decoded_by_one_thread_and_photos_by_one_per_core(tmp_path):
    import os

    from raycnn.data.folders import decode_threads, scan_folder

    assert decode_threads(scan_folder(make_folder(tmp_path / "small", size=(32, 32)))) == 1     # CIFAR-sized
    photos = scan_folder(make_folder(tmp_path / "photos", size=(160, 120), per_class=2))
    assert decode_threads(photos) == max(1, min(8, os.cpu_count() or 1))
    data = load(tmp_path / "photos")
    assert data.input_shape == (3, 120, 160) and data.test_y.tolist() == [0, 0, 1, 1, 2, 2]   # every photo, in order
    first = np.asarray(Image.open(tmp_path / "photos" / "test" / "cat" / "0.png")).transpose(2, 0, 1)
    assert np.array_equal(data.test_x[0].numpy(), first)
