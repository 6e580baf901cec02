"""CPI "sheets": find, crop and measure the particles on a PNG collage, and render synthetic ones.

Many public CPI archives keep only sheets: a white canvas with a one-line text header,
particle crops (regions of interest) packed left to right in rows with 1 px gaps, small
black text printed under (and sometimes over the corner of) each crop, all rendered
through a blue palette. ``extract_sheet`` recovers the crops as grey images and measures
the particles; ``render_sheet`` draws a synthetic sheet in the same style.

Colour -> grey (how the blue palette is undone)
    The real sheets are 8-bit palette images. Their 256 colours are one monotone ramp of
    255 colours, black -> navy -> blue -> light blue -> the near-white canvas
    (251, 254, 255), plus one stray yellow entry. Ramp position ``i`` (0..254) is a grey
    level, so each pixel maps back to ``round(i * 255 / 254)``: 0 = black/navy
    (particle), ~180-225 = the light-blue crop background, 255 = the canvas. Colours off
    the ramp (a re-encoded or JPEG sheet) go to the nearest ramp colour; the yellow entry
    maps to 242, the level its neighbours have on the real sheets. Sheets that are already
    grey (R = G = B) are used as they are. ``PALETTE`` is the ramp (it matches the four
    real sheets in ``data/cpi_sheets`` to within 1 per channel) and
    ``render_sheet`` uses it forwards.

Extraction (after the known recipe: threshold near white, drop text, keep large boxes,
minimum-area rectangle x 2.3 um, reject cut-off particles)
    1. Text is pure black (every channel <= 8): it is masked, never part of a crop, and
       painted over (``cv2.inpaint``) where it covers a crop. This removes the header,
       the timestamps under the crops and the size numbers printed on crop corners.
    2. Crops are the 4-connected regions that are neither canvas (grey 255) nor text; the
       1 px canvas gaps separate neighbouring crops. Text pixels enclosed by a crop (crop
       pixels within 3 px on both sides, horizontally and vertically) count as crop, so a
       number printed across a small crop does not split it. Regions under ``min_text_area`` px^2 are
       specks (stray text, tiny slivers) and are counted, not returned.
    3. A crop is rejected, in this order, as ``"too_small"`` when its box is under
       ``min_box`` (width, height) px; ``"text"`` when text covers more than
       ``max_text_frac`` of it; ``"streak"`` when it is a frame of streak noise: at least
       ``max_streak`` (1 %) of its pixels lie on thin bright horizontal streaks
       (``streak_fraction``); ``"no_particle"`` when nothing in it is clearly darker than
       its background, or no single particle dominates it (``particle_mask``);
       ``"streak"`` again when its particle is a thin horizontal band, a smear of
       background residue (``is_horizontal_streak``); and ``"cutoff"`` when the particle
       touches an edge of the crop along ``cutoff_max`` (10 %) or more of that edge's
       length (``cutoff_fraction`` of ``particle_extent``: it ran out of the camera frame).
    4. Sizes: ``width_um``/``height_um`` are the sides of the particle's minimum-area
       rectangle x ``um_per_px``; ``dmax_um`` is its maximum Feret diameter (largest
       distance between two points of its convex hull) x ``um_per_px``.

Defaults, decided by looking at every crop of the four real sheets in
``data/cpi_sheets`` (hand counts and per-crop verdicts in
``tests/data/cpi_sheet_hand_*.csv``): ``min_box=(16, 16)`` keeps the small droplet and
small-ice crops (17-55 px, 20-90 um) that make up most of two sheets -- they are
particles, and the synthetic data have a "small" class too; pass ``min_box=(50, 50)`` for
the recipe's "large particles only". 46 of the 52 crops of the 2002 sheet are frames of
the stationary background (horizontal streaks, vertical bands of stacked streaks, a dark
spot that recurs at the same place), all covered with bright streak pixels (15-93 per
1000 px, against at most 4 per 1000 on every kept crop of the four sheets); ``"streak"``
rejects them.
Checked against the sizes the CPI software printed on the 2014 sheets: ``dmax_um`` is
within 1-5 % of them (e.g. 610 vs 613 um, 86 vs 88 um).
"""

from __future__ import annotations

from .extract import REASONS, SheetCrop, extract_sheet, find_crop_boxes, sheet_counts
from .measure import (
    crop_to_particle,
    cutoff_fraction,
    is_horizontal_streak,
    particle_dims_px,
    particle_extent,
    particle_mask,
    streak_fraction,
)
from .palette import (
    CANVAS_RGB,
    CPI_UM_PER_PX,
    PALETTE,
    grey_to_sheet_rgb,
    read_sheet,
    sheet_to_grey,
)
from .render import render_sheet

__all__ = [
    "CANVAS_RGB", "CPI_UM_PER_PX", "PALETTE", "REASONS", "SheetCrop", "crop_to_particle", "cutoff_fraction",
    "extract_sheet", "find_crop_boxes", "grey_to_sheet_rgb", "is_horizontal_streak", "particle_dims_px",
    "particle_extent", "particle_mask", "read_sheet", "render_sheet", "sheet_counts", "sheet_to_grey",
    "streak_fraction",
]
