"""Imaging model: orthographic projection of a :class:`~.geometry.Geometry` into an 8-bit ROI.

Two instruments:

``CPI`` (Cloud Particle Imager) [fact: 2.3 um/px, 8-bit, 1024 px frame; artefacts as in
docs/science.md §1]: a dark particle on a bright, slightly mottled background, facets that
transmit light (brighter when seen face-on) separated by dark edges, defocus blur with a
bright halo outside the edge, a bright centre spot on drops (lens effect), horizontal
streak noise, particles cut off by the frame edge.

``HOLIMO`` (holographic imager HOLIMO3B, Chu et al. 2025): the reconstructed amplitude is a grey
image with a dark particle, weak facet contrast, granular speckle noise and ringing
fringes around the edges; pixels are coarser (3.5 um [default]) and the optics blur more.

A particle is placed at a random position in the instrument's frame (near the trigger
point; it is cut off where it leaves the frame); its ROI is a square around the visible
part with a margin. The ROI is drawn at the instrument's native pixel size when that is
smaller than the stored size S and then upsampled (small particles look blocky and
blurry, as real upsampled ROIs do); larger ROIs are drawn directly at S x S. So the
stored image covers ``S * pixel_um`` um and ``pixel_um = roi_um / S``.

Noise comes from per-chunk noise banks (:class:`~.instruments.NoiseBank`) cropped at random
offsets, which keeps generation fast and deterministic. The instruments' parameters are in
:mod:`.instruments`, projection and drawing in :mod:`.raster`; this module composes them.
"""

from __future__ import annotations

import cv2
import numpy as np

from .geometry import Geometry
from .instruments import Instrument, NoiseBank
from .raster import _ONE, SHIFT, _draw, _silhouette_inside_fraction, max_feret, project

# ----------------------------------------------------------------------------- imaging


def render(
    g: Geometry | None,
    inst: Instrument,
    size: int,
    rng: np.random.Generator,
    bank: NoiseBank,
    defocus_px: float = 0.0,
    blank_um: float | None = None,
    native: bool = False,
) -> tuple[np.ndarray, dict]:
    """Image one particle (or a blank frame when ``g`` is None).

    Returns ``(img, info)``: ``img`` is (size, size) uint8 (or the native-resolution
    rectangular ROI when ``native``), ``info`` has ``pixel_um`` (um per stored pixel),
    ``roi_um`` (ROI side), ``dmax_um`` (maximum Feret diameter of the visible part, um),
    ``cutoff_frac`` (fraction of the projected area outside the frame) and ``render_px``.
    """
    pix = inst.pixel_um
    frame = inst.frame_px * pix
    u = rng.random(12).tolist()  # all scalar draws of this image at once (fast)
    cutoff = 0.0
    dmax = float("nan")
    if g is None:
        L = float(blank_um if blank_um is not None else 40.0 + 210.0 * u[0])
        Lx = Ly = L
        proj = None
        ox = oy = 0.0
    else:
        proj = project(g)
        (lx, ly), (hx, hy) = proj.lo.tolist(), proj.hi.tolist()
        # position in the frame: near the trigger point, cut where it leaves the frame
        cx, cy = (frame / 2 + frame / 5 * rng.standard_normal(2)).tolist()
        cx, cy = min(max(cx, 0.0), frame), min(max(cy, 0.0), frame)
        sx, sy = cx - 0.5 * (lx + hx), cy - 0.5 * (ly + hy)
        lx, hx, ly, hy = lx + sx, hx + sx, ly + sy, hy + sy
        vlx, vhx, vly, vhy = max(lx, 0.0), min(hx, frame), max(ly, 0.0), min(hy, frame)
        shift = np.array([sx, sy])
        vis = proj.pts + shift
        if lx < 0 or ly < 0 or hx > frame or hy > frame:
            vis = np.clip(vis, 0.0, frame)
            cutoff = 1.0 - _silhouette_inside_fraction(proj.shifted(shift), frame)
        dmax = max_feret(vis)
        margin = 1.1 + 0.35 * u[0]
        if native:
            Lx = min((vhx - vlx) * margin + 6 * pix, frame)
            Ly = min((vhy - vly) * margin + 6 * pix, frame)
        else:
            Lx = Ly = min(max(vhx - vlx, vhy - vly) * margin + 6 * pix, frame)
        x0 = min(max(0.5 * (vlx + vhx) - Lx / 2, 0.0), frame - Lx)
        y0 = min(max(0.5 * (vly + vhy) - Ly / 2, 0.0), frame - Ly)
        ox, oy = x0 - sx, y0 - sy  # ROI origin in particle coordinates
        L = max(Lx, Ly)
    if native:
        W, H = max(int(round(Lx / pix)), 4), max(int(round(Ly / pix)), 4)
        scale = 1.0 / pix
        out_px = None
    else:
        W = H = min(max(int(round(L / pix)), 8), size)
        scale = W / L
        out_px = size
    info = {"cutoff_frac": cutoff, "dmax_um": dmax, "roi_um": L,
            "pixel_um": pix if native else L / size, "render_px": W}
    ratio = scale * pix  # render px per native px (<= 1)

    img = np.ones((H, W), np.float32)
    look = {
        "edge": inst.edge[0] + (inst.edge[1] - inst.edge[0]) * u[1],
        "facet": inst.facet[0] + (inst.facet[1] - inst.facet[0]) * u[2],
        "spot": inst.centre_spot,
        "inset": max(0.7, 2.2 * ratio),  # dark rims ~2 native px wide between facets
        "highlight": inst.highlight,
    }
    if proj is not None:
        _draw(img, proj, np.array([ox, oy]), scale, look)
    else:
        _blank_smears(img, rng)

    sigma = (inst.psf_px**2 + defocus_px**2) ** 0.5 * ratio
    if proj is not None and (inst.halo > 0 or inst.fringe > 0):
        _, mf = cv2.threshold(img, 0.985, 1.0, cv2.THRESH_BINARY_INV)  # 1 on the particle
    if inst.halo > 0 and proj is not None:
        # diffraction halo: bright just outside the edge, darker just inside; added before
        # the defocus blur, which then spreads it (a wide soft halo when out of focus)
        a = inst.halo * (0.4 + min(defocus_px, 3.0) / 2.0) * (0.6 + 0.6 * u[3])
        ring = cv2.GaussianBlur(mf, (0, 0), max(0.8, 1.5 * ratio))
        img = cv2.scaleAdd(cv2.subtract(ring, mf), a, img)
    if inst.fringe > 0 and proj is not None:
        # holographic ringing: damped cosine of the distance to the particle (native px)
        d = cv2.distanceTransform(cv2.threshold(mf, 0.5, 1, cv2.THRESH_BINARY_INV)[1].astype(np.uint8),
                                  cv2.DIST_L2, 3)
        period = inst.fringe_period_px * (0.85 + 0.35 * u[3])
        a = inst.fringe * (0.6 + 0.7 * u[4])
        lut = _fringe_lut(period, inst.fringe_decay_px, ratio, a)
        fr = cv2.LUT(cv2.convertScaleAbs(d, alpha=4.0), lut)
        img = cv2.scaleAdd(mf, -0.3 * a, cv2.add(img, fr))
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)

    bg = inst.background[0] + (inst.background[1] - inst.background[0]) * u[5]
    field = bank.speckle if inst.speckle else bank.white
    noise = inst.noise[0] + (inst.noise[1] - inst.noise[0]) * u[6]
    if H <= bank.size and W <= bank.size:
        m = bank.size - max(H, W) + 1
        y, x = int(u[7] * m), int(u[8] * m)
        mottle = bank.mottle(inst.mottle)[y : y + H, x : x + W]
        y, x = int(u[9] * m), int(u[10] * m)
        grain = field[y : y + H, x : x + W]
    else:  # very large native ROIs (sheets only)
        mottle = cv2.resize(bank.mottle(inst.mottle), (W, H))
        grain = rng.standard_normal((H, W), dtype=np.float32)
    out = cv2.scaleAdd(grain, noise, cv2.multiply(img, mottle, scale=bg))
    if inst.rows[1] > 0:
        rs = (inst.rows[0] + (inst.rows[1] - inst.rows[0]) * u[11]) * (3.0 if g is None else 1.0)
        out += rs * bank.row(H, rng)[:, None]
    if inst.fringe > 0 and u[11] < 0.3:  # fringes of an out-of-plane neighbour
        out += _ring_pattern(H, W, rng) * (bg * 0.05)
    img8 = cv2.convertScaleAbs(np.maximum(out, 0.0, out=out))
    if out_px is not None and W != out_px:
        img8 = cv2.resize(img8, (out_px, out_px), interpolation=cv2.INTER_LINEAR)
    return img8, info


def _blank_smears(img: np.ndarray, rng: np.random.Generator) -> None:
    """Blank frame: faint dark horizontal smears (background-subtraction residue)."""
    H, W = img.shape
    for _ in range(int(rng.integers(0, 4))):
        c = (int(rng.uniform(0, W) * _ONE), int(rng.uniform(0, H) * _ONE))
        ax = (int(rng.uniform(0.1, 0.5) * W * _ONE), int(rng.uniform(0.02, 0.08) * H * _ONE) + _ONE)
        cv2.ellipse(img, c, ax, float(rng.normal(0, 4)), 0, 360, float(rng.uniform(0.6, 0.92)), -1, cv2.LINE_AA, SHIFT)


def _fringe_lut(period_px: float, decay_px: float, ratio: float, amp: float) -> np.ndarray:
    """Damped cosine fringe profile at quarter render pixels, as a (1, 256) float32 LUT."""
    d = np.arange(256, dtype=np.float32) / (4.0 * ratio)  # native px
    lut = amp * np.cos(d * (2 * np.pi / period_px)) * np.exp(-d / decay_px)
    return lut.astype(np.float32).reshape(1, 256)


def _ring_pattern(H: int, W: int, rng: np.random.Generator) -> np.ndarray:
    """Concentric Fresnel rings of an out-of-focus particle outside the ROI."""
    cy, cx = rng.uniform(-H, 2 * H), rng.uniform(-W, 2 * W)
    y = (np.arange(H, dtype=np.float32) - cy)[:, None]
    x = (np.arange(W, dtype=np.float32) - cx)[None, :]
    k = rng.uniform(0.002, 0.01) * 64.0 / max(H, W)
    return np.cos((x * x + y * y) * k).astype(np.float32)
