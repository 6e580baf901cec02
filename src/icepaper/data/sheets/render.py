"""Render a synthetic CPI sheet (crops, timestamps, header) in the style of the real ones."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .palette import grey_to_sheet_rgb

# --------------------------------------------------------------------------- rendering


def render_sheet(
    crops: Sequence[np.ndarray],
    timestamps: Sequence[str] | None = None,
    header: str = "",
    width: int = 792,
    height: int = 1024,
    seed: int = 0,
    return_boxes: bool = False,
):
    """A synthetic CPI sheet (H, W, 3) uint8 RGB in the style of the real ones.

    White canvas, a black one-line ``header``, the grey ``crops`` (uint8, dark particle on
    a light background) packed left to right in rows with 1 px gaps, a small black
    timestamp under each crop (``"\n"`` splits it into lines, as "20: 9:\n12:589" on the
    real sheets), everything through the blue ``PALETTE``. Crop grey levels are clipped to
    12..250 so a particle never reads as text (black) or canvas. Each row starts at x = 0
    or 48 px (``seed``), as on the real sheets; crops that no longer fit are left out.
    With ``return_boxes=True`` also returns the (x, y, w, h) of every placed crop, the
    ground truth for ``extract_sheet``.

    >>> import numpy as np
    >>> rgb, boxes = render_sheet([np.full((20, 30), 200, np.uint8)], ["12:00"], return_boxes=True, seed=1)
    >>> rgb.shape, rgb.dtype.name, len(boxes), boxes[0][2:]
    ((1024, 792, 3), 'uint8', 1, (30, 20))
    """
    rng = np.random.default_rng(seed)
    timestamps = list(timestamps) if timestamps is not None else [""] * len(crops)
    if len(timestamps) != len(crops):
        raise ValueError(f"{len(crops)} crops but {len(timestamps)} timestamps")
    grey = np.full((height, width), 255, np.uint8)
    text = np.zeros((height, width), bool)
    line_h = 10
    if header:
        _put_text(text, header, (4, 16), 0.5)
    row_top = 27 if header else 0
    x, row_bottom = int(rng.choice([0, 48])), row_top
    boxes: list[tuple[int, int, int, int]] = []
    for img, ts in zip(crops, timestamps):
        img = np.clip(np.asarray(img, dtype=np.uint8), 12, 250)
        if img.ndim != 2:
            raise ValueError(f"crops must be 2-D grey arrays, got shape {img.shape}")
        h, w = img.shape
        if w > width:
            continue
        if x + w > width:  # next row, below the tallest crop (and timestamp) of this one
            x, row_top = int(rng.choice([0, 48])), row_bottom + 1
            if x + w > width:
                x = 0
        if row_top + h > height:
            break
        grey[row_top:row_top + h, x:x + w] = img
        boxes.append((x, row_top, w, h))
        lines = ts.split("\n") if ts else []
        for k, line in enumerate(lines):
            _put_text(text, line, (x, row_top + h + line_h * (k + 1) - 2), 0.33)
        row_bottom = max(row_bottom, row_top + h + line_h * len(lines))
        x += w + 1
    rgb = grey_to_sheet_rgb(grey)
    rgb[text] = 0
    return (rgb, boxes) if return_boxes else rgb


def _put_text(mask: np.ndarray, s: str, org: tuple[int, int], scale: float) -> None:
    """Draw ``s`` (black, 1 px strokes, no anti-aliasing) into the boolean text ``mask``."""
    m = np.zeros(mask.shape, np.uint8)
    cv2.putText(m, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, lineType=cv2.LINE_8)
    mask |= m > 0
