"""Read any particle image as grey uint8 and bring it to the packed convention.

The packed convention: square, single-channel uint8, dark particle on a bright
background. ``read_grey`` decodes a file of any common mode; ``to_packed`` fixes the
polarity, letterboxes to a square with the image's own background level and resizes.

Mode conversions (``read_grey``)
    * ``L`` (8-bit grey): as is. ``1`` (bilevel): 0/255.
    * ``RGB``, ``CMYK``, ``YCbCr``...: luminance (ITU-R 601-2, what Pillow's "L" gives).
    * ``RGBA``, ``LA``, palette with transparency: alpha-composited on white (a
      transparent pixel is background), then luminance.
    * 16-bit and 32-bit integer (``I;16``, ``I``): scaled linearly from ``[0, 2**b - 1]`` to
      ``[0, 255]``, where ``b`` is the smallest of 8, 10, 12, 14, 16 bits that holds the
      image's maximum -- so 12-bit camera data stored in 16-bit containers keep their
      contrast, and full-range 16-bit data are divided by 257.
    * float (``F``): values in [0, 1] are scaled by 255, other ranges min-max stretched.
    * multi-frame files (TIFF stacks): the first frame.

Size limits (``load_grey``)
    Files over ``MAX_PIXELS`` (20000 x 20000 px) are refused with an error naming the
    file (Pillow's own decompression-bomb check, 179 Mpx, is replaced by this one, so a
    14000 x 14000 mosaic reads). Large images are decoded once and reduced by an integer
    factor to about ``max_side`` (JPEGs are decoded at reduced scale), so memory stays near
    one decoded copy. ``MIN_SIDE`` (4 px on the longer side) is the importers' minimum:
    smaller images would be blank frames after resizing.

Polarity (``to_packed``)
    Optical-array probes (2D-S, PIP, CIP) give binary shadow images that are often stored
    as a white particle on black. ``polarity="auto"`` inverts an image whose background
    (the median of its outermost pixel ring) is dark (< 100): every stored image is then a
    dark particle on a bright background, like CPI. ``"dark"`` means the file already has
    a dark particle (never invert); ``"bright"`` means a bright particle (always invert).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
POLARITIES = ("auto", "dark", "bright")
DARK_BACKGROUND = 100  # border median below this -> the background is dark (auto polarity)
MAX_PIXELS = 20000 * 20000  # larger files are refused (decompression-bomb guard; 1 byte/px decoded grey)
MIN_SIDE = 4  # px: an image whose longer side is shorter is too small to show a particle


class ImageReadError(ValueError):
    """An image file that cannot be decoded; the message names the file and the problem."""


def read_grey(path: str | Path, max_side: int | None = None) -> tuple[np.ndarray, str]:
    """(grey uint8 image, original Pillow mode) of an image file; ImageReadError if unreadable.

    ``max_side``: the image may come back reduced by an integer factor as long as its longer
    side stays >= ``max_side`` (``load_grey``).
    """
    grey, mode, _ = load_grey(path, max_side)
    return grey, mode


def load_grey(path: str | Path, max_side: int | None = None) -> tuple[np.ndarray, str, tuple[int, int]]:
    """(grey uint8 image, original Pillow mode, original (height, width) in px) of an image file.

    Raises ImageReadError naming the file for a missing, unreadable, empty, non-image,
    truncated or too large (> ``MAX_PIXELS``) file. With ``max_side`` a large image is
    reduced by the integer factor ``f = longer side // max_side`` (box average; JPEGs are
    decoded at reduced scale) so memory stays near one decoded copy of the file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ImageReadError(f"{path}: cannot access file ({e.strerror or e})") from e
    if path.is_dir():
        raise ImageReadError(f"{path}: a folder named like an image file, not an image")
    if size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    try:
        with _no_pil_pixel_limit(), Image.open(path) as im:
            mode = im.mode
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageReadError(f"{path}: image is {w}x{h} px ({w * h / 1e6:.0f} Mpx), above the "
                                     f"{MAX_PIXELS / 1e6:.0f} Mpx limit for one particle image "
                                     f"(decompression-bomb guard); crop or downscale it")
            n_frames = getattr(im, "n_frames", 1)
            f = max(w, h) // max_side if max_side else 1
            if f >= 2 and im.format == "JPEG":
                im.draft(im.mode, (w // f, h // f))  # DCT scaling: decode at 1/2, 1/4 or 1/8
            im.load()
            f = max(im.size) // max_side if max_side else 1
            if f >= 2 and im.mode == "1":
                im = im.convert("L")  # exact; Pillow reduces "L" but not "1"
            if f >= 2 and im.mode in ("L", "RGB", "I", "F"):
                im, f = im.reduce(f), 1  # box average in Pillow: no full-size numpy copy
            grey = pil_to_grey(im)
    except ImageReadError:
        raise
    except UnidentifiedImageError as e:
        raise ImageReadError(f"{path}: not a readable image (unknown or corrupt format)") from e
    except PermissionError as e:
        raise ImageReadError(f"{path}: cannot read file ({e.strerror or e})") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageReadError(f"{path}: cannot decode image ({e})") from e
    if grey.size == 0:
        raise ImageReadError(f"{path}: image has no pixels ({grey.shape})")
    if f >= 2:
        hh, ww = grey.shape
        grey = cv2.resize(grey, (max(1, ww // f), max(1, hh // f)), interpolation=cv2.INTER_AREA)
    if n_frames > 1:
        mode = f"{mode} ({n_frames} frames, first used)"
    return grey, mode, (h, w)


@contextlib.contextmanager
def _no_pil_pixel_limit():
    """Switch off Pillow's own decompression-bomb check (``load_grey`` applies ``MAX_PIXELS``)."""
    from PIL import Image

    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def pil_to_grey(im) -> np.ndarray:
    """A loaded Pillow image of any mode -> grey uint8 array (conversions in the module docstring)."""
    from PIL import Image

    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("L"))
    if mode == "L":
        return np.asarray(im)
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode.startswith("I"):
        a = np.asarray(im)
        lo = int(a.min())
        top = int(a.max()) - min(lo, 0)
        bits = next((b for b in (8, 10, 12, 14, 16) if top < 2**b), None)
        full = float(2**bits - 1) if bits else float(max(top, 1))
        if a.dtype.kind == "u" and a.dtype.itemsize <= 2:  # a lookup table: no wide temporaries
            lut = np.clip(np.round(np.arange(2 ** (8 * a.dtype.itemsize)) * (255.0 / full)), 0, 255)
            return lut.astype(np.uint8)[a]
        b = a.astype(np.float32)
        if lo < 0:
            b -= lo
        return np.clip(np.round(b * np.float32(255.0 / full)), 0, 255).astype(np.uint8)
    if mode == "F":
        a = np.asarray(im).astype(np.float64)
        a = np.nan_to_num(a, nan=0.0)
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.round(a * 255).astype(np.uint8)
        return np.round((a - lo) * (255.0 / max(hi - lo, 1e-12))).astype(np.uint8)
    return np.asarray(im.convert("L"))


def border_level(img: np.ndarray) -> int:
    """Median grey level of the outermost pixel ring (the image's background level)."""
    a = np.asarray(img)
    if a.shape[0] < 3 or a.shape[1] < 3:
        return int(np.median(a))
    ring = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    return int(np.median(ring))


def needs_inversion(img: np.ndarray, polarity: str = "auto") -> bool:
    """Whether ``img`` must be inverted to show a dark particle on a bright background."""
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    if polarity == "dark":
        return False
    if polarity == "bright":
        return True
    return border_level(img) < DARK_BACKGROUND


def letterbox(img: np.ndarray, fill: int | None = None) -> np.ndarray:
    """Pad ``img`` to a square (centred) with ``fill`` (default: its own background level)."""
    h, w = img.shape
    if h == w:
        return img
    fill = border_level(img) if fill is None else int(fill)
    side = max(h, w)
    out = np.full((side, side), fill, dtype=np.uint8)
    y0, x0 = (side - h) // 2, (side - w) // 2
    out[y0:y0 + h, x0:x0 + w] = img
    return out


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """Resize a square image to (size, size): area averaging down, bicubic up."""
    side = img.shape[0]
    if side == size:
        return np.ascontiguousarray(img)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(img, (size, size), interpolation=interp)


def to_packed(img: np.ndarray, size: int, polarity: str = "auto") -> tuple[np.ndarray, float, bool]:
    """(size x size uint8 image, um-per-px factor, inverted?) for a grey image of any shape.

    The factor multiplies the original pixel size: stored ``pixel_um`` = original
    ``pixel_um`` x factor, where factor = (longer side of the original) / ``size``.

    >>> import numpy as np
    >>> img = np.full((20, 40), 200, np.uint8); img[5:15, 10:30] = 30
    >>> out, factor, inverted = to_packed(img, 16)
    >>> out.shape, factor, inverted
    ((16, 16), 2.5, False)
    """
    img = np.asarray(img, dtype=np.uint8)
    inverted = needs_inversion(img, polarity)
    if inverted:
        img = 255 - img
    sq = letterbox(img)
    return resize_square(sq, size), sq.shape[0] / float(size), inverted
