"""Augmentation presets: pure functions on batched float images in [0, 1], shape [N, C, H, W].

Every random draw comes from an explicit `torch.Generator` on the images' device, so the same
seed gives the same batch on CPU and GPU alike, and nothing runs per sample in Python.

Presets (sizes scale with the image; figures given for 32x32):
- `none`: identity.
- `flip_crop`: random crop after zero padding by 1/8 of the side (4 px), horizontal flip.
- `flip_shift`: a shift of up to 1/16 of the side (2 px) with mirrored edges, horizontal flip (airbench's).
- `standard`: rotation +-15 deg, shift +-10%, zoom +-10% (one affine warp), horizontal flip.
- `strong`: standard + cutout (a square of 1/4 of the side) + brightness and contrast +-20%.
Flips are skipped when the dataset says a mirror image changes the label (digits, MNIST).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from raycnn.errors import ConfigError
from raycnn.registry import Registry

Preset = Callable[[torch.Tensor, torch.Generator, bool], torch.Tensor]
PRESETS: Registry[Preset] = Registry("augmentation preset", ConfigError, sort=False)
register_preset = PRESETS.register
get_preset = PRESETS.get
list_presets = PRESETS.names


# --- operations ---------------------------------------------------------------------------------

def _uniform(n: int, low: float, high: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) * (high - low) + low


def flip_lr(images: torch.Tensor, generator: torch.Generator, probability: float = 0.5) -> torch.Tensor:
    flip = torch.rand(len(images), generator=generator, device=images.device) < probability
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def random_crop(images: torch.Tensor, generator: torch.Generator, pad: int, mode: str = "constant") -> torch.Tensor:
    """Pad by `pad` on each side (zeros, or `mode="reflect"`: the image mirrored at its edges), then crop
    back to the original size at a random offset."""
    n, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), mode=mode)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=images.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_affine(images: torch.Tensor, generator: torch.Generator, degrees: float, shift: float,
                  zoom: float) -> torch.Tensor:
    """Rotate by +-degrees, translate by +-shift of the side, scale by 1+-zoom; zeros fill the edges."""
    n, device = len(images), images.device
    angle = _uniform(n, -degrees, degrees, generator, device) * (math.pi / 180)
    scale = _uniform(n, 1 - zoom, 1 + zoom, generator, device)
    # affine_grid maps output to input coordinates in [-1, 1]: a side spans 2 units.
    tx = _uniform(n, -2 * shift, 2 * shift, generator, device)
    ty = _uniform(n, -2 * shift, 2 * shift, generator, device)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def cutout(images: torch.Tensor, generator: torch.Generator, size: int) -> torch.Tensor:
    """Zero one size x size square per image at a random centre (it may hang over the edge)."""
    n, _, h, w = images.shape
    cy = torch.randint(0, h, (n,), generator=generator, device=images.device)
    cx = torch.randint(0, w, (n,), generator=generator, device=images.device)
    ys = torch.arange(h, device=images.device)[None, :]
    xs = torch.arange(w, device=images.device)[None, :]
    inside_y = (ys - cy[:, None]).abs() <= size // 2
    inside_x = (xs - cx[:, None]).abs() <= size // 2
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
    return images * keep[:, None, :, :]


def brightness_contrast(images: torch.Tensor, generator: torch.Generator, amount: float) -> torch.Tensor:
    n, device = len(images), images.device
    brightness = _uniform(n, 1 - amount, 1 + amount, generator, device)[:, None, None, None]
    contrast = _uniform(n, 1 - amount, 1 + amount, generator, device)[:, None, None, None]
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * contrast + mean).mul(brightness).clamp(0.0, 1.0)


# --- presets ------------------------------------------------------------------------------------

@register_preset("none")
def preset_none(images: torch.Tensor, generator: torch.Generator, flip_ok: bool) -> torch.Tensor:
    return images


@register_preset("flip_crop")
def preset_flip_crop(images: torch.Tensor, generator: torch.Generator, flip_ok: bool) -> torch.Tensor:
    images = random_crop(images, generator, pad=max(1, round(images.shape[-1] / 8)))
    return flip_lr(images, generator) if flip_ok else images


@register_preset("flip_shift")
def preset_flip_shift(images: torch.Tensor, generator: torch.Generator, flip_ok: bool) -> torch.Tensor:
    """airbench's: a shift of up to 1/16 of the side (2 px) with mirrored edges, and a flip: lighter than
    flip_crop, which suits runs of a few epochs."""
    images = random_crop(images, generator, pad=max(1, round(images.shape[-1] / 16)), mode="reflect")
    return flip_lr(images, generator) if flip_ok else images


@register_preset("standard")
def preset_standard(images: torch.Tensor, generator: torch.Generator, flip_ok: bool) -> torch.Tensor:
    images = random_affine(images, generator, degrees=15.0, shift=0.1, zoom=0.1)
    return flip_lr(images, generator) if flip_ok else images


@register_preset("strong")
def preset_strong(images: torch.Tensor, generator: torch.Generator, flip_ok: bool) -> torch.Tensor:
    images = preset_standard(images, generator, flip_ok)
    images = cutout(images, generator, size=max(1, round(images.shape[-1] / 4)))
    return brightness_contrast(images, generator, amount=0.2)


# --- per-class augmentation ---------------------------------------------------------------------

class Augmenter:
    """Applies `preset` to every image, or `class_preset` to images whose label is in `class_ids`."""

    def __init__(self, preset: str, flip_ok: bool, class_preset: str | None = None,
                 class_ids: tuple[int, ...] = ()):
        self.preset = get_preset(preset)
        self.class_preset = get_preset(class_preset) if class_preset else None
        self.class_ids = torch.tensor(class_ids, dtype=torch.int64)
        self.flip_ok = flip_ok

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.class_preset is None:
            return self.preset(images, generator, self.flip_ok)
        targeted = torch.isin(labels, self.class_ids.to(labels.device))
        out = torch.empty_like(images)
        for chosen, preset in ((~targeted, self.preset), (targeted, self.class_preset)):
            if chosen.any():             # a batch may hold none of the targeted classes (or only them)
                out[chosen] = preset(images[chosen], generator, self.flip_ok)
        return out


def build_augmenter(config, dataset) -> Augmenter:
    """An Augmenter for an AugmentConfig and the Dataset it will see (class names resolved)."""
    class_ids = tuple(dataset.class_index(name) for name in config.classes)
    return Augmenter(config.preset, dataset.flip_keeps_label, config.class_preset, class_ids)
