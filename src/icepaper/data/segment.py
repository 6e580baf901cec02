"""Particle segmentation: the mask of the dark particle on a light background of a grey image.

One module for every caller, each keeping its own method and parameters:
``data.features`` (``"half_depth"`` or ``"otsu"``, min_contrast 12),
``augment`` particle statistics (``"half_depth"``, min_contrast 10, ``min_region_frac`` 0.1)
and ``data.sheets`` on CPI-sheet crops (``"sheet"``, min_contrast 30).
"""

from __future__ import annotations

import cv2
import numpy as np

METHODS = ("half_depth", "otsu", "sheet")


def border_background(img: np.ndarray) -> float:
    """Background grey level of an image: the median of its one-pixel border.

    >>> border_background(np.array([[200, 200, 200], [200, 10, 200], [200, 200, 100]], np.uint8))
    200.0
    """
    a = np.asarray(img)
    return float(np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])))


def particle_mask(image: np.ndarray, method: str = "half_depth", min_contrast: float | None = None,
                  min_region_frac: float = 0.0, **sheet_options) -> tuple[np.ndarray, bool]:
    """(boolean particle mask, found) of a grey image (dark particle, light background).

    ``"half_depth"`` and ``"otsu"`` (a whole image): background ``bg`` = median of the
    border pixels; no particle (all-False mask, found False) when ``bg - min`` is under
    ``min_contrast`` grey levels (default 12). A pixel is particle when darker than half-way
    between ``bg`` and the darkest pixel (``"half_depth"``) or below Otsu's threshold
    (``"otsu"``). With ``min_region_frac`` > 0 only the 8-connected regions at least that
    fraction of the largest one's area are kept (specks and seams elsewhere do not count).
    ``"sheet"`` (a CPI-sheet crop): ``sheet_mask`` (default min_contrast 30; its keyword
    options go in ``sheet_options``); found = one particle dominates the crop.

    >>> img = np.full((5, 5), 200, np.uint8); img[1:3, 1:4] = 20
    >>> mask, found = particle_mask(img)
    >>> found, int(mask.sum())
    (True, 6)
    >>> particle_mask(np.full((5, 5), 200, np.uint8))[1]
    False
    """
    if method == "sheet":
        if min_region_frac:
            raise ValueError("min_region_frac applies to 'half_depth' and 'otsu' only")
        return sheet_mask(image, 30.0 if min_contrast is None else min_contrast, **sheet_options)
    if sheet_options:
        raise TypeError(f"options {sorted(sheet_options)} apply to method 'sheet' only")
    min_contrast = 12.0 if min_contrast is None else min_contrast
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {img.shape}")
    img = img.astype(np.uint8, copy=False)
    bg = border_background(img)
    lo = float(img.min())
    if bg - lo < min_contrast:
        return np.zeros(img.shape, bool), False
    if method == "half_depth":
        thr = bg - 0.5 * (bg - lo)
        mask = img < thr
    elif method == "otsu":
        _, m = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        mask = m > 0
    else:
        raise ValueError(f"unknown threshold method {method!r}; use one of {METHODS}")
    if min_region_frac > 0:
        _, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        if len(areas):
            mask = np.isin(lab, 1 + np.flatnonzero(areas >= min_region_frac * areas.max()))
    return mask, True


# --------------------------------------------------------------------------- CPI-sheet crops


def crop_levels(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
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


def sheet_mask(g: np.ndarray, min_contrast: float = 30.0, min_snr: float = 10.0,
               min_px: int = 6, min_dominance: float = 0.7, join_px: int = 3,
               min_depth: float = 0.3) -> tuple[np.ndarray, bool]:
    """(particle mask, one dominant particle?) of a grey crop (dark particle, light background).

    Background ``bg`` and dark level ``dark`` as in ``crop_levels``; ``noise`` = robust (MAD)
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
    s, above, bg, dark = crop_levels(g)
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
