"""Find the crops on a CPI sheet, measure each one's particle and keep or reject it (``REASONS``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .measure import (
    cutoff_fraction,
    is_horizontal_streak,
    particle_dims_px,
    particle_extent,
    particle_mask,
    streak_fraction,
)
from .palette import CPI_UM_PER_PX, read_sheet, sheet_to_grey

REASONS = ("too_small", "text", "streak", "no_particle", "cutoff")


@dataclass
class SheetCrop:
    """One crop found on a sheet; ``reason`` is None when it is kept as a particle.

    ``image``: grey uint8 crop (dark particle on a light background, text painted over);
    ``box``: (x, y, w, h) in sheet pixels; ``um_per_px``: pixel size (um);
    ``width_um``/``height_um``: sides of the particle's minimum-area rectangle (um);
    ``dmax_um``: maximum Feret diameter of the particle (um); ``cutoff``: fraction of the
    crop's outer frame covered by the particle (0..1); ``particle_px``: particle area (px);
    ``text_frac``: fraction of the crop that was covered by text.
    """

    image: np.ndarray
    box: tuple[int, int, int, int]
    um_per_px: float = CPI_UM_PER_PX
    width_um: float = float("nan")
    height_um: float = float("nan")
    dmax_um: float = float("nan")
    cutoff: float = float("nan")
    particle_px: int = 0
    text_frac: float = 0.0
    reason: str | None = None
    mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def kept(self) -> bool:
        return self.reason is None

    @property
    def crop_w_um(self) -> float:
        return self.box[2] * self.um_per_px

    @property
    def crop_h_um(self) -> float:
        return self.box[3] * self.um_per_px

    def as_row(self) -> dict:
        """Metadata of this crop as a flat dict (box, sizes in um, cutoff, reason)."""
        x, y, w, h = self.box
        return {"box_x": x, "box_y": y, "box_w": w, "box_h": h,
                "crop_w_um": self.crop_w_um, "crop_h_um": self.crop_h_um,
                "width_um": self.width_um, "height_um": self.height_um, "dmax_um": self.dmax_um,
                "cutoff": self.cutoff, "particle_px": self.particle_px, "text_frac": self.text_frac,
                "reason": self.reason}


# --------------------------------------------------------------------------- colour




def extract_sheet(
    sheet: str | Path | np.ndarray,
    um_per_px: float = CPI_UM_PER_PX,
    min_text_area: int = 200,
    min_box: tuple[int, int] = (16, 16),
    cutoff_max: float = 0.10,
    max_text_frac: float = 0.25,
    include_rejected: bool = False,
    max_streak: float = 0.01,
) -> list[SheetCrop]:
    """Particles on a CPI sheet (a path or an RGB/grey array), in reading order.

    Returns the kept crops; with ``include_rejected=True`` also the rejected ones, each
    with its ``reason`` (one of ``REASONS``). See the module docstring for the steps and
    the defaults.

    >>> import numpy as np
    >>> from icepaper.data.sheets import render_sheet
    >>> crop = np.full((40, 50), 200, np.uint8); crop[12:28, 15:35] = 40
    >>> crops = extract_sheet(render_sheet([crop, crop], seed=0))
    >>> len(crops), crops[0].box[2:], round(crops[0].dmax_um, 1)
    (2, (50, 40), 58.0)
    """
    rgb = read_sheet(sheet) if isinstance(sheet, str | Path) else np.asarray(sheet)
    grey, text = sheet_to_grey(rgb)
    boxes, _ = find_crop_boxes(grey, text, min_text_area)
    crops = [_measure_crop(grey, text, b, um_per_px, min_box, cutoff_max, max_text_frac, max_streak)
             for b in boxes]
    return crops if include_rejected else [c for c in crops if c.kept]


def find_crop_boxes(grey: np.ndarray, text: np.ndarray, min_text_area: int = 200
                    ) -> tuple[list[tuple[int, int, int, int]], int]:
    """(crop boxes (x, y, w, h) in reading order, number of specks under ``min_text_area``)."""
    crop = (grey < 255) & ~text
    c8 = crop.astype(np.uint8)
    enclosed = ((cv2.morphologyEx(c8, cv2.MORPH_CLOSE, np.ones((1, 7), np.uint8)) > 0)
                & (cv2.morphologyEx(c8, cv2.MORPH_CLOSE, np.ones((7, 1), np.uint8)) > 0))
    region = crop | (text & enclosed)  # text with crop on all four sides belongs to the crop
    n, lab, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=4)
    boxes, specks = [], 0
    for k in range(1, n):
        x, y, w, h, _area = (int(v) for v in stats[k])
        own = crop[y:y + h, x:x + w] & (lab[y:y + h, x:x + w] == k)
        if own.sum() < min_text_area:
            specks += 1
            continue
        ys, xs = np.nonzero(own)
        boxes.append((x + int(xs.min()), y + int(ys.min()),
                      int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
    boxes.sort(key=lambda b: (b[1], b[0]))  # reading order: crops of a row share a top edge
    return boxes, specks


def _measure_crop(grey, text, box, um_per_px, min_box, cutoff_max, max_text_frac, max_streak) -> SheetCrop:
    x, y, w, h = box
    g = grey[y:y + h, x:x + w].copy()
    t = text[y:y + h, x:x + w]
    tfrac = float(t.mean())
    if t.any():
        g = cv2.inpaint(g, t.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    c = SheetCrop(image=g, box=(x, y, w, h), um_per_px=um_per_px, text_frac=tfrac)
    if w < min_box[0] or h < min_box[1]:
        c.reason = "too_small"
        return c
    if tfrac > max_text_frac:
        c.reason = "text"
        return c
    if streak_fraction(g, exclude=t) >= max_streak:
        c.reason = "streak"
        return c
    mask, single = particle_mask(g)
    c.mask = mask
    c.particle_px = int(mask.sum())
    if c.particle_px == 0 or not single:
        c.reason = "no_particle"
        return c
    if is_horizontal_streak(g, mask):
        c.reason = "streak"
        return c
    c.cutoff = cutoff_fraction(particle_extent(g, mask), inset=1)
    c.width_um, c.height_um, c.dmax_um = (v * um_per_px for v in particle_dims_px(mask))
    if c.cutoff >= cutoff_max:
        c.reason = "cutoff"
    return c



def sheet_counts(crops: Sequence[SheetCrop]) -> dict[str, int]:
    """{"found", "kept", and one count per rejection reason} for a list from ``extract_sheet``.

    >>> import numpy as np
    >>> from icepaper.data.sheets import render_sheet
    >>> crop = np.full((40, 50), 200, np.uint8); crop[12:28, 15:35] = 40
    >>> blank = np.full((40, 50), 200, np.uint8)
    >>> sheet_counts(extract_sheet(render_sheet([crop, blank]), include_rejected=True))
    {'found': 2, 'kept': 1, 'too_small': 0, 'text': 0, 'streak': 0, 'no_particle': 1, 'cutoff': 0}
    """
    c = Counter(cr.reason for cr in crops)
    out = {"found": len(crops), "kept": c.get(None, 0)}
    out.update({r: c.get(r, 0) for r in REASONS})
    return out
