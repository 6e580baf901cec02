"""Measurements on one CPI-sheet crop: its particle mask, streak noise, cut-off and sizes."""

from __future__ import annotations

import cv2
import numpy as np

from icepaper.data.segment import crop_levels, sheet_mask


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
    _, _, bg, dark = crop_levels(np.asarray(g, dtype=np.uint8))
    return bool(w >= min_aspect * h and h <= max_height * mask.shape[0] and bg - dark < max_depth * bg)


def particle_mask(g: np.ndarray, min_contrast: float = 30.0, min_snr: float = 10.0,
                  min_px: int = 6, min_dominance: float = 0.7, join_px: int = 3,
                  min_depth: float = 0.3) -> tuple[np.ndarray, bool]:
    """(particle mask, one dominant particle?) of a grey crop: ``icepaper.data.segment.sheet_mask``.

    >>> crop = np.full((24, 24), 200, np.uint8); crop[8:16, 6:18] = 30
    >>> mask, single = particle_mask(crop)
    >>> single, int(mask.sum())
    (True, 96)
    """
    return sheet_mask(g, min_contrast, min_snr, min_px, min_dominance, join_px, min_depth)


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
    _, _, bg, dark = crop_levels(g)
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
