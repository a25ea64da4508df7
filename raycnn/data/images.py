"""One PIL image -> a uint8 array [C, H, W]: the one place image modes, orientation and size are settled.

What real photo folders hold, and what becomes of it:
- grey (L, 1), 16-bit grey (I;16, I) and grey with alpha (LA): one channel, 16-bit scaled to 8;
- RGB, CMYK, YCbCr, palette (P) images: three channels;
- transparency (RGBA, LA, a palette with a transparent colour): laid over white, as viewers show it;
- a camera's EXIF orientation: applied, so a portrait photo stands upright;
- a large JPEG: decoded at a reduced scale close to the target size (`draft`), then resized.
"""

from __future__ import annotations

import numpy as np

GREY = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def image_array(image, size: int | None) -> np.ndarray:
    """`image` (a PIL image) as uint8 [C, H, W] with C = 1 (grey) or 3, resized to size x size when given."""
    from PIL import Image, ImageOps

    if size is not None and image.format == "JPEG":
        image.draft(image.mode, (size, size))      # decode at 1/2, 1/4 or 1/8 scale when that is still large enough
    image = ImageOps.exif_transpose(image)
    grey = image.mode in GREY
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _eight_bit(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = _over_white(image.convert("RGBA"))
    image = image.convert("L" if grey else "RGB")
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy()


def _eight_bit(image):
    """16-bit or integer/float grey to 8-bit L, keeping the brightness (PIL's convert would clip at 255)."""
    from PIL import Image

    values = np.asarray(image).astype(np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
    if image.mode == "F":
        top = max(1.0, float(values.max()))
    return Image.fromarray(np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8), mode="L")


def _over_white(image):
    from PIL import Image

    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, image)
