"""Augmentation presets on batched tensors: shapes, ranges, seeding, flips, class targeting, oversampling."""

from __future__ import annotations

import pytest
import torch

from raycnn.augment import Augmenter, build_augmenter, list_presets
from raycnn.batches import epoch_length, epoch_order
from raycnn.config import AugmentConfig, DataConfig
from raycnn.data import load_dataset


def images(n=64, c=3, size=32, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def half_white(n=128, size=32):
    """Left half 1, right half 0: a mirrored image is easy to spot."""
    x = torch.zeros(n, 1, size, size)
    x[..., : size // 2] = 1.0
    return x


@pytest.mark.parametrize("preset", list_presets())
@pytest.mark.parametrize("shape", [(1, 8), (1, 28), (3, 32)])
def test_preset_shape_range_and_seed(preset, shape):
    x = images(c=shape[0], size=shape[1])
    labels = torch.zeros(len(x), dtype=torch.int64)
    augment = Augmenter(preset, flip_ok=True)
    first = augment(x, labels, torch.Generator().manual_seed(7))
    again = augment(x, labels, torch.Generator().manual_seed(7))
    other = augment(x, labels, torch.Generator().manual_seed(8))
    assert first.shape == x.shape and first.dtype == torch.float32
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert torch.equal(first, again)
    if preset == "none":
        assert torch.equal(first, x)
    else:
        assert not torch.equal(first, other)
        assert not torch.equal(first, x)


@pytest.mark.parametrize("preset", ["flip_crop", "standard"])
def test_flips_happen_only_where_the_dataset_allows(preset):
    x = half_white()
    labels = torch.zeros(len(x), dtype=torch.int64)

    def mirrored_share(flip_ok: bool) -> float:
        out = Augmenter(preset, flip_ok)(x, labels, torch.Generator().manual_seed(0))
        left, right = out[..., 6:12].mean(dim=(1, 2, 3)), out[..., 20:26].mean(dim=(1, 2, 3))
        return (right > left).float().mean().item()

    assert mirrored_share(flip_ok=False) == 0.0
    assert 0.3 < mirrored_share(flip_ok=True) < 0.7


def test_digits_never_flip():
    digits = load_dataset(DataConfig(dataset="digits"))
    augment = build_augmenter(AugmentConfig(preset="flip_crop"), digits)
    assert digits.flip_keeps_label is False
    x = half_white(size=8)
    out = augment(x, torch.zeros(len(x), dtype=torch.int64), torch.Generator().manual_seed(0))
    assert (out[..., 1:7, 1:3] == 1.0).all()   # a 1-px crop shift never brings the dark half there


def test_class_preset_touches_only_those_classes():
    x = images(n=100)
    labels = torch.arange(100) % 10
    augment = Augmenter("none", flip_ok=True, class_preset="strong", class_ids=(3, 5))
    out = augment(x, labels, torch.Generator().manual_seed(0))
    targeted = (labels == 3) | (labels == 5)
    assert torch.equal(out[~targeted], x[~targeted])
    changed = (out[targeted] - x[targeted]).abs().amax(dim=(1, 2, 3)) > 0
    assert changed.all()


def test_class_preset_on_a_batch_with_none_or_only_the_targeted_classes():
    # an undersampled class can be absent from a batch (found by a real follow-up sweep: it crashed)
    x = images(n=20, size=8)
    augment = Augmenter("flip_crop", flip_ok=True, class_preset="strong", class_ids=(3,))
    none = augment(x, torch.zeros(20, dtype=torch.int64), torch.Generator().manual_seed(0))
    only = augment(x, torch.full((20,), 3), torch.Generator().manual_seed(0))
    assert none.shape == only.shape == x.shape and not torch.equal(none, only)


def test_class_preset_by_name_through_the_config():
    digits = load_dataset(DataConfig(dataset="digits"))
    augment = build_augmenter(AugmentConfig(preset="flip_crop", class_preset="strong", classes=("8",)), digits)
    assert augment.class_ids.tolist() == [8]


def test_oversampling_repeats_classes_by_weight():
    labels = torch.arange(1000) % 4                      # 250 images per class
    weights = torch.tensor([1.0, 2.0, 1.5, 0.5], dtype=torch.float64)
    order = epoch_order(labels, weights, torch.Generator().manual_seed(0))
    counts = torch.bincount(labels[order], minlength=4).tolist()
    assert counts == [250, 500, 375, 125]
    assert len(order) == epoch_length(labels, weights)
    picked_twice = torch.bincount(order, minlength=1000)[labels == 1]
    assert (picked_twice == 2).all()                     # weight 2: every image twice, not a random draw


def test_a_split_larger_than_memory_is_read_in_shuffled_blocks():
    from raycnn.batches import BLOCK_IMAGES, WINDOW_BLOCKS

    ragged = torch.zeros(10 * BLOCK_IMAGES + 123, dtype=torch.int64)
    order = epoch_order(ragged, None, torch.Generator().manual_seed(0), blocks=True)
    assert sorted(order.tolist()) == list(range(len(ragged)))     # every image once
    labels = torch.zeros(10 * BLOCK_IMAGES, dtype=torch.int64)
    order = epoch_order(labels, None, torch.Generator().manual_seed(0), blocks=True)
    window = WINDOW_BLOCKS * BLOCK_IMAGES
    first = order[:window] // BLOCK_IMAGES                        # the first window reads a few blocks only
    assert len(first.unique()) == WINDOW_BLOCKS and not torch.equal(order[:window].sort().values, order[:window])
    again = epoch_order(labels, None, torch.Generator().manual_seed(0), blocks=True)
    assert torch.equal(order, again)                              # seeded like every other order
