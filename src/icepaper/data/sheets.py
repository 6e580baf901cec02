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
    real sheets in ``shared/data/cpi_sheets`` to within 1 per channel) and
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
``shared/data/cpi_sheets`` (hand counts and per-crop verdicts in
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

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

CPI_UM_PER_PX = 2.3  # [fact] CPI pixel size
CANVAS_RGB = (251, 254, 255)
_TEXT_MAX = 8  # a pixel whose channels are all <= this is text
_YELLOW = (255, 255, 0)
_YELLOW_GREY = 242
REASONS = ("too_small", "text", "streak", "no_particle", "cutoff")


def _make_palette() -> np.ndarray:
    """The 255-colour blue ramp of CPI sheets, index 0 (black) .. 254 (canvas), (255, 3) uint8."""
    i = np.arange(255, dtype=float)
    r = np.interp(i, [0, 192, 254], [0, 0, 251])
    g = np.interp(i, [0, 95, 254], [0, 0, 254])
    b = np.interp(i, [0, 188, 254], [0, 255, 255])
    return np.floor(np.stack([r, g, b], 1) + 1e-9).astype(np.uint8)


PALETTE = _make_palette()


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


# --------------------------------------------------------------------------- extraction


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


def _levels(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(3x3-smoothed crop, background pixels, background level, dark level) of a grey crop.

    Background pixels are those above the crop's Otsu threshold. The background level is
    the larger of their median and the median of the crop's outer 2-px ring (a region of
    interest is cut with a margin of background around its particle; when a large,
    textured particle fills most of the crop, Otsu separates its dark core from its
    lighter parts and the ring is the better estimate). The dark level is the 0.5th
    percentile of the crop.
    """
    s = cv2.GaussianBlur(g, (3, 3), 0)
    t, _ = cv2.threshold(s, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    above = s > t
    bg = float(np.median(s[above])) if above.any() else float(np.median(s))
    if min(s.shape) >= 6:
        ring = np.concatenate([s[:2].ravel(), s[-2:].ravel(), s[2:-2, :2].ravel(), s[2:-2, -2:].ravel()])
        bg = max(bg, float(np.median(ring)))
    return s, above, bg, float(np.percentile(s, 0.5))


def streak_fraction(g: np.ndarray, exclude: np.ndarray | None = None, step: int = 25) -> float:
    """Fraction (0..1) of a crop's pixels on thin bright horizontal streaks.

    A pixel counts when it is at least ``step`` grey levels brighter than the median of
    itself and its upper and lower neighbours: a bright line one or two pixels high, or
    a single bright spike. Frames triggered by noise are covered with them (the
    horizontal streak noise of the CPI background, bright where the background
    subtraction overshoots); a particle is dark and never makes them. Pixels within 1 px
    of ``exclude`` (printed text) are not counted.
    """
    g = np.asarray(g, dtype=np.int16)
    if g.shape[0] < 3 or g.size == 0:
        return 0.0
    a, b, c = g[:-2], g[1:-1], g[2:]
    med = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    hit = (b - med) >= step
    valid = np.ones(b.shape, bool)
    if exclude is not None and np.any(exclude):
        near = cv2.dilate(np.asarray(exclude, np.uint8), np.ones((3, 3), np.uint8)) > 0
        valid = ~near[1:-1]
    return float(hit[valid].mean()) if valid.any() else 0.0


def is_horizontal_streak(g: np.ndarray, mask: np.ndarray, min_aspect: float = 3.0,
                         max_height: float = 0.2, max_depth: float = 0.5) -> bool:
    """True when the particle ``mask`` of crop ``g`` is a faint horizontal smear, not a particle.

    Streak noise and the smears of background-subtraction residue on blank frames are
    drawn along the rows: a band at least ``min_aspect`` times wider than high, at most
    ``max_height`` of the crop high and faint (its darkest point less than ``max_depth``
    of the way from the background to black). A particle's region of interest is cut
    around it with a margin, so even a thin horizontal needle fills more of its crop's
    height, and an ice or water particle in the CPI's bright field is dark.
    """
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return False
    w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    _, _, bg, dark = _levels(np.asarray(g, dtype=np.uint8))
    return bool(w >= min_aspect * h and h <= max_height * mask.shape[0] and bg - dark < max_depth * bg)


def particle_mask(g: np.ndarray, min_contrast: float = 30.0, min_snr: float = 10.0,
                  min_px: int = 6, min_dominance: float = 0.7, join_px: int = 3,
                  min_depth: float = 0.3) -> tuple[np.ndarray, bool]:
    """(particle mask, one dominant particle?) of a grey crop (dark particle, light background).

    Background ``bg`` and dark level ``dark`` as in ``_levels``; ``noise`` = robust (MAD)
    spread of the pixel-scale texture (the crop minus its Gaussian blur, sigma 1.5 px) over
    the background pixels at least 2 px away from darker ones. There is no particle when
    ``bg - dark`` is under ``max(min_contrast, min_depth * bg)`` grey levels (an ice or
    water particle in the CPI's bright field is dark; fainter smudges are background
    residue) or under ``min_snr`` x noise (a mottled, noisy frame with nothing in it).
    Otherwise, after a 3x3 Gaussian, a pixel is particle when darker than
    ``bg - max(min_contrast, (bg - dark) / 2)``: the half-contrast edge, which follows the
    blurred rim of out-of-focus particles as well as sharp ones. Dark regions under
    ``min_px`` are dropped; regions less than ``2 * join_px`` px apart or joined by pixels
    darker than a quarter of the contrast are parts of one particle (the dark plates and
    the lighter, hollow column of a capped column; the arms of an aggregate). The mask is
    the largest particle. ``one dominant particle`` is False when it holds under
    ``min_dominance`` of all dark pixels: several similar dark smudges and no particle
    (blank or out-of-focus frames) or several separate particles in one frame.
    """
    g = np.asarray(g, dtype=np.uint8)
    empty = np.zeros(g.shape, bool)
    if g.size < 4:
        return empty, False
    s, above, bg, dark = _levels(g)
    hp = g.astype(np.float32) - cv2.GaussianBlur(g, (0, 0), 1.5).astype(np.float32)
    clear = above & (cv2.erode(above.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    ref = hp[clear] if clear.sum() >= 16 else hp[above] if above.sum() >= 16 else hp
    noise = max(1.4826 * float(np.median(np.abs(ref))), 1.0)
    if bg - dark < max(min_contrast, min_depth * bg) or (bg - dark) / noise < min_snr:
        return empty, False
    m = s < bg - max(min_contrast, 0.5 * (bg - dark))
    n, lab, st, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    areas = st[:, 4].astype(float)
    areas[0] = 0
    areas[areas < min_px] = 0
    if areas.max() == 0:
        return empty, False
    near = cv2.dilate(m.astype(np.uint8), np.ones((2 * join_px + 1, 2 * join_px + 1), np.uint8))
    near |= (s < bg - max(min_contrast, 0.25 * (bg - dark))).astype(np.uint8)
    _, glab = cv2.connectedComponents(near, connectivity=8)
    first = np.unique(lab.ravel(), return_index=True)[1]  # a pixel of each dark region
    group = glab.ravel()[first]  # the particle it belongs to
    totals = np.bincount(group, weights=areas)
    best = int(totals.argmax())
    keep = (areas > 0) & (group == best)
    return keep[lab], bool(totals[best] >= min_dominance * areas.sum())


def particle_extent(g: np.ndarray, mask: np.ndarray, min_contrast: float = 30.0, inset: int = 1,
                    max_slope: float = 0.03, depth: int = 5) -> np.ndarray:
    """The particle ``mask`` of a crop grown out to the crop edge where the particle reaches it.

    For ``cutoff_fraction(..., inset)``; sizes use ``mask``. Two cases where the
    half-contrast ``mask`` stops short of an edge the particle runs into:

    - a bright rim: real sheet crops often have a 1 px line brighter than the
      background (by a tenth of the contrast) along the camera-frame edge, and the
      smoothing in ``particle_mask`` blends it with the particle behind it, so behind a
      rim pixel the particle may start one pixel further in;
    - a light end: the end of a particle that runs out of the frame can be lighter than
      its core (the top of a tall aggregate), so the crop-wide half-contrast level misses
      it. Along each line perpendicular to the edge, from ``inset`` px inside it to the
      first particle pixel, the particle continues to the edge when every pixel is
      darker than a quarter of the contrast below the background, the line is flat (its
      brightness changes by at most ``max_slope`` x contrast per px) and the pixel at the
      edge is darker than half-way between the background and the darkest of the first
      ``depth`` particle pixels on the line (the half-contrast edge, measured locally).
      The halo of a blurred edge brightens towards the edge and fails.

    Grey levels along each line are averaged over 3 px parallel to the edge.
    """
    mask = np.asarray(mask, bool)
    g = np.asarray(g, dtype=np.uint8)
    if not mask.any() or min(mask.shape) <= 2 * inset + 3:
        return mask
    _, _, bg, dark = _levels(g)
    contrast = bg - dark
    dark_enough = g < bg - max(min_contrast, 0.25 * contrast)
    out = mask.copy()
    for k in range(4):  # the four edges, each turned to the top
        m, d, o = np.rot90(mask, k), np.rot90(dark_enough, k), np.rot90(out, k)
        gv = np.rot90(g, k).astype(np.float32)
        rim = gv[0] >= bg + 0.1 * contrast
        o[inset] |= rim & m[inset + 1]
        gv = cv2.blur(gv, (3, 1))  # 3 px along the edge, against pixel noise
        first = inset + m[inset:].argmax(0)  # first particle row at or below the band, per column
        for j in np.nonzero(m[inset:].any(0) & ~o[:inset + 1].any(0))[0]:
            r = first[j]
            flat = abs(gv[inset, j] - gv[r - 1, j]) <= max_slope * contrast * max(r - 1 - inset, 1)
            inner = float(gv[r:r + depth, j].min())
            if d[inset:r, j].all() and flat and gv[inset, j] < 0.5 * (bg + inner):
                o[inset:r, j] = True
    return out


def cutoff_fraction(mask: np.ndarray, inset: int = 1) -> float:
    """Cut-off fraction (0..1) of a particle mask: the largest share of one crop edge it touches.

    For each of the four edges, the fraction of its length along which the particle comes
    within ``inset`` px of it; the largest of the four. ``extract_sheet`` applies it to
    ``particle_extent``, which accounts for the bright rim and light ends that keep a
    particle cut off by the camera frame a pixel or more away from the crop edge.
    """
    m = np.asarray(mask, bool)
    if m.size == 0 or not m.any():
        return 0.0
    k = max(min(inset, min(m.shape) // 2 - 1), 0) + 1
    return float(max(m[:k].any(0).mean(), m[-k:].any(0).mean(),
                     m[:, :k].any(1).mean(), m[:, -k:].any(1).mean()))


def particle_dims_px(mask: np.ndarray) -> tuple[float, float, float]:
    """(width, height, dmax) of a particle mask in pixels.

    width <= height are the sides of the minimum-area rectangle around all particle
    pixels; dmax is the maximum Feret diameter (largest distance between hull points).
    Pixel centres are used, so a single pixel measures 1 x 1 px (each side + 1 px).
    """
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return 0.0, 0.0, 0.0
    pts = np.stack([xs, ys], 1).astype(np.float32)
    (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
    hull = cv2.convexHull(pts).reshape(-1, 2)
    d = np.sqrt(((hull[:, None, :] - hull[None, :, :]) ** 2).sum(-1)).max() if len(hull) > 1 else 0.0
    w, h = sorted((float(rw) + 1.0, float(rh) + 1.0))
    return w, h, float(d) + 1.0


def crop_to_particle(img: np.ndarray, margin: int = 6) -> np.ndarray:
    """The region of interest of a grey image: the particle's bounding box plus ``margin`` px.

    Turns square dataset images into CPI-like crops of varying size for ``render_sheet``;
    an image without a detectable particle is returned whole.
    """
    img = np.asarray(img, dtype=np.uint8)
    mask, _ = particle_mask(img)
    if not mask.any():
        return img
    ys, xs = np.nonzero(mask)
    y0, y1 = max(int(ys.min()) - margin, 0), min(int(ys.max()) + margin + 1, img.shape[0])
    x0, x1 = max(int(xs.min()) - margin, 0), min(int(xs.max()) + margin + 1, img.shape[1])
    return img[y0:y1, x0:x1]


def sheet_counts(crops: Sequence[SheetCrop]) -> dict[str, int]:
    """{"found", "kept", and one count per rejection reason} for a list from ``extract_sheet``."""
    c = Counter(cr.reason for cr in crops)
    out = {"found": len(crops), "kept": c.get(None, 0)}
    out.update({r: c.get(r, 0) for r in REASONS})
    return out


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
