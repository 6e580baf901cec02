"""The blue CPI-sheet palette: read a sheet, undo the palette to grey (and text), or apply it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CPI_UM_PER_PX = 2.3  # [fact] CPI pixel size
CANVAS_RGB = (251, 254, 255)
_TEXT_MAX = 8  # a pixel whose channels are all <= this is text
_YELLOW = (255, 255, 0)
_YELLOW_GREY = 242


def _make_palette() -> np.ndarray:
    """The 255-colour blue ramp of CPI sheets, index 0 (black) .. 254 (canvas), (255, 3) uint8."""
    i = np.arange(255, dtype=float)
    r = np.interp(i, [0, 192, 254], [0, 0, 251])
    g = np.interp(i, [0, 95, 254], [0, 0, 254])
    b = np.interp(i, [0, 188, 254], [0, 255, 255])
    return np.floor(np.stack([r, g, b], 1) + 1e-9).astype(np.uint8)


PALETTE = _make_palette()


def read_sheet(path: str | Path) -> np.ndarray:
    """A sheet file as an (H, W, 3) uint8 RGB array; IOError naming the file if unreadable."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise OSError(f"{path}: cannot read CPI sheet ({e.__class__.__name__}: {e})") from e


def sheet_to_grey(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grey uint8, text mask) of a sheet: the blue palette undone (module docstring)."""
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        grey = rgb.astype(np.uint8)
        return grey, grey <= _TEXT_MAX
    rgb = rgb[..., :3].astype(np.uint8)
    text = rgb.max(-1) <= _TEXT_MAX
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return rgb[..., 0].copy(), text
    flat = rgb.reshape(-1, 3)
    codes = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2]
    ucodes, inv = np.unique(codes, return_inverse=True)
    ucol = np.stack([(ucodes >> 16) & 255, (ucodes >> 8) & 255, ucodes & 255], 1).astype(np.float32)
    pal = PALETTE.astype(np.float32)
    levels = np.empty(len(ucol), dtype=np.uint8)
    for s in range(0, len(ucol), 4096):  # nearest ramp colour, in chunks
        d = ((ucol[s:s + 4096, None, :] - pal[None]) ** 2).sum(-1)
        levels[s:s + 4096] = np.round(d.argmin(1) * 255.0 / 254.0).astype(np.uint8)
    levels[(ucol == np.array(_YELLOW, np.float32)).all(1)] = _YELLOW_GREY
    return levels[inv.ravel()].reshape(rgb.shape[:2]), text


def grey_to_sheet_rgb(grey: np.ndarray) -> np.ndarray:
    """Grey levels (uint8) through the blue CPI palette -> (H, W, 3) uint8 RGB."""
    idx = np.round(np.asarray(grey, dtype=np.float32) * 254.0 / 255.0).astype(np.intp)
    return PALETTE[idx]
