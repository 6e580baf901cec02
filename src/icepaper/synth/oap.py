"""Optical-array-probe (OAP) imaging: binary shadow images as the 2D-S and the PIP record them.

How an OAP images a particle [fact]: a laser beam lights a linear array of photodiodes; a
particle crossing the beam shadows some of them; the array is read once per time slice,
the slice length matched to the airspeed so that it nominally equals the diode spacing.
The image is built slice by slice: here x (columns) runs along the diode array (at most
``n_diodes`` px wide), y (rows) along time (as long as the particle). A diode counts as
occulted when its light drops by 50 % or more (the single-threshold rule of the 2D-S,
CIP and PIP), so the images are binary. Probe software exports them as a white
particle on black.

=========  ==========  =======  ================
probe      pixel (um)  diodes   array width
=========  ==========  =======  ================
2D-S       10          128      1.28 mm  [fact]
PIP        100         64       6.4 mm   [fact]
=========  ==========  =======  ================

Imaging model (:func:`shadow_image`), applied to a randomly oriented 3-D particle from
:mod:`.geometry`:

1. *Time stretch*: a mismatch between the true airspeed and the one that clocks the
   slices scales the time axis by ``stretch`` ~ U(1 - s, 1 + s), s = 0.05 [default].
2. *Placement*: the particle's centre lies uniformly along the array ("center-in"
   acceptance, Heymsfield & Parrish 1978 [fact]), so a particle near an end of the
   array, and every particle wider than the array, is cut off; the slice clock has a
   uniformly random phase.
3. *Shadow*: the silhouette is drawn supersampled (``ss`` x ``ss`` per diode), blurred by
   an out-of-focus spread (Gaussian, sigma ~ |N(0, 0.35)| probe px [default]), averaged
   per pixel into the shadowed fraction, and thresholded at 50 %.
4. *Truncation*: occulted pixels beyond the array are lost; such a particle is
   ``truncated``. ``edge_touching`` is what probe software flags: an end diode occulted
   (every truncated particle in practice, and a few whole ones that just reach an end).
5. *Export*: the occulted region plus ``margin_px`` background pixels on each side,
   clipped at the ends of the array (no diodes beyond), 255 on 0.

A particle whose recorded maximum dimension is under ``min_dmax_px`` pixels is dropped,
as OAP habit classifiers drop 1-2 px images that carry no shape [default: 3 px]; many
kept particles are still only a few pixels across. ``dmax_um`` is the recorded maximum
dimension: the largest distance between occulted pixel centres plus one pixel, in nominal
pixels (so a single pixel is 1 px, a line of k pixels k px).

Not modelled: diffraction fringes and the Poisson spot of far out-of-focus drops
(hollow images), shattering artefacts, stuck bits, the 2D-S's second (orthogonal) channel,
and the grey levels of the CIP-grey.

Labels (:func:`oap_label`): the habit classes of published OAP classifiers (Praz et al.
2018 for 2D-S/HVPS/CPI; Jaffeux et al. 2022, 2025 for 2D-S/PIP/CIP/HVPS), merged into
eight snake_case names (:data:`OAP_CLASSES`), from the particle's construction:

=====================================  ==================================
construction                           ``oap`` label
=====================================  ==================================
recorded Dmax < ``RESOLVED_PX`` px     ``compact`` (no habit visible)
aged, rime degree >= 0.45              ``rimed`` (rimed aggregates, graupel)
aggregate of >= 2 crystals             ``aggregate``
column, needle, capped column (cpc),   ``column_needle``
lollipop (drop frozen on a column)
plate                                  ``plate``
stellar / dendritic plate              ``dendrite``
bullet rosette, budding rosette        ``rosette``
small, frozen drop, liquid drop        ``compact``
irregular, planar polycrystal          ``irregular``
=====================================  ==================================

The rules apply top to bottom. ``RESOLVED_PX`` = 6 px [default]: below it a labeller sees
a blob whatever the 3-D habit. The rime threshold is the one of the CPI ``rimed`` class
(:data:`.labels.RIMED_DEGREE`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from .geometry import Geometry
from .habits import construct
from .labels import RIMED_DEGREE
from .raster import _draw_mask, project
from .rotations import random_rotation


@dataclass(frozen=True)
class Probe:
    """One optical array probe: diode spacing (um), diode count and the imaging defaults."""

    name: str
    pixel_um: float  # diode spacing = nominal slice length (um)
    n_diodes: int
    threshold: float = 0.5  # shadowed fraction that occults a diode [fact]
    defocus_px: float = 0.35  # sd of the out-of-focus blur sigma (probe px) [default]
    stretch: float = 0.05  # half-width of the relative slice-length error [default]
    margin_px: int = 2  # background pixels around the particle in an exported image [default]
    min_dmax_px: int = 3  # smaller recorded particles are dropped [default]

    @property
    def array_um(self) -> float:
        """Width of the diode array (um)."""
        return self.pixel_um * self.n_diodes


PROBES: dict[str, Probe] = {
    "2D-S": Probe("2D-S", pixel_um=10.0, n_diodes=128),
    "PIP": Probe("PIP", pixel_um=100.0, n_diodes=64),
}

#: The merged habit classes of the OAP classifiers (see the module docstring).
OAP_CLASSES: tuple[str, ...] = (
    "aggregate", "column_needle", "compact", "dendrite", "irregular", "plate", "rimed", "rosette",
)
RESOLVED_PX = 6  # recorded Dmax (px) below which no habit is recognisable [default]

_OAP_BASE = {
    "column": "column_needle",
    "needle": "column_needle",
    "cpc": "column_needle",
    "lollipop": "column_needle",
    "plate": "plate",
    "stellar": "dendrite",
    "bullet_rosette": "rosette",
    "budding_rosette": "rosette",
    "small": "compact",
    "frozen_droplet": "compact",
    "liquid_droplet": "compact",
    "irregular": "irregular",
    "planar_polycrystal": "irregular",
}


def probe(name: str) -> Probe:
    """The probe called ``name`` (ValueError listing the valid names otherwise)."""
    try:
        return PROBES[name]
    except KeyError:
        raise ValueError(f"unknown probe {name!r}; valid probes: {', '.join(PROBES)}") from None


def oap_label(habit: str, aged: bool, aggregate: bool, rime_degree: float, dmax_px: float) -> str:
    """OAP habit class of one construction recorded ``dmax_px`` pixels across (rules in the module docstring)."""
    if dmax_px < RESOLVED_PX:
        return "compact"
    if aged and rime_degree >= RIMED_DEGREE:
        return "rimed"
    if aggregate:
        return "aggregate"
    try:
        return _OAP_BASE[habit]
    except KeyError:
        raise ValueError(f"no OAP class for habit {habit!r}; known: {', '.join(_OAP_BASE)}") from None


def recorded_dmax_px(binary: np.ndarray) -> float:
    """Recorded maximum dimension (px) of a binary image: the largest distance between
    occulted pixel centres plus one pixel (0 when nothing is occulted)."""
    yx = np.argwhere(binary)
    if len(yx) == 0:
        return 0.0
    if len(yx) > 2:
        yx = cv2.convexHull(yx[:, ::-1].astype(np.float32)).reshape(-1, 2)
    d = yx[:, None, :].astype(float) - yx[None, :, :]
    return float(np.sqrt((d * d).sum(axis=2).max())) + 1.0


def _supersampling(h_px: int, w_px: int) -> int:
    """Sub-pixels per probe pixel side: finer for small canvases (area fractions to ~1 %)."""
    side = max(h_px, w_px)
    return 8 if side <= 48 else 4 if side <= 256 else 2


def shadow_image(
    g: Geometry,
    pr: Probe,
    rng: np.random.Generator,
    center_um: float | None = None,
    stretch: float | None = None,
    defocus_px: float | None = None,
    phase: float | None = None,
    min_dmax_px: float = 0.0,
) -> tuple[np.ndarray | None, dict]:
    """Binary shadow image of the (already oriented) particle ``g`` as probe ``pr`` records it.

    ``center_um``: position of the particle's centre along the array (um from its first
    diode; default uniform over the array). ``stretch``, ``defocus_px`` (blur sigma, probe
    px) and ``phase`` (slice clock, 0..1) are drawn from the probe's defaults when None.
    ``g`` is modified (stretched along y). ``min_dmax_px``: give up early (None) when the
    silhouette's bounding box is too small to record that many pixels.

    Returns ``(img, info)``: ``img`` is (slices, diodes) uint8, 255 = occulted, 0 =
    background, or None when no diode was occulted (a probe records nothing);
    ``info`` has ``truncated``, ``edge_touching``, ``dmax_px``, ``n_pixels``,
    ``stretch``, ``defocus_px`` and ``first_diode`` (array index of the image's column 0).
    """
    p = pr.pixel_um
    s = float(stretch if stretch is not None else rng.uniform(1 - pr.stretch, 1 + pr.stretch))
    sigma = float(defocus_px if defocus_px is not None else abs(rng.normal(0.0, pr.defocus_px)))
    ph = float(phase if phase is not None else rng.random())
    xc = float(center_um if center_um is not None else rng.uniform(0.0, pr.array_um))
    info = {"truncated": False, "edge_touching": False, "dmax_px": 0.0, "n_pixels": 0,
            "stretch": s, "defocus_px": sigma, "first_diode": 0}
    if s != 1.0:
        g.transform(np.diag([1.0, s, 1.0]))  # sphere radii stay (an error of at most |s - 1|)
    proj = project(g)
    (lx, ly), (hx, hy) = proj.lo.tolist(), proj.hi.tolist()
    # occulted pixel centres lie inside the silhouette's bounding box, which bounds dmax_px
    if np.hypot(hx - lx, hy - ly) / p + 1.0 < min_dmax_px:
        return None, info

    # canvas in probe pixels: diode columns ix0..ix0+W-1, slices from the particle's start
    pad = int(np.ceil(3.0 * sigma)) + 1
    x_shift = xc - 0.5 * (lx + hx)  # particle x + x_shift = um along the array
    ix0 = int(np.floor((lx + x_shift) / p)) - pad
    W = int(np.ceil((hx + x_shift) / p)) + pad - ix0
    H = int(np.ceil((hy - ly) / p + ph)) + 2 * pad
    ss = _supersampling(H, W)
    origin = np.array([ix0 * p - x_shift, ly - (ph + pad) * p])
    m = np.zeros((H * ss, W * ss), np.uint8)
    _draw_mask(m, proj, origin, ss / p)
    f = m.astype(np.float32)
    if sigma > 0.05:
        f = cv2.GaussianBlur(f, (0, 0), sigma * ss)
    frac = cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA)  # mean of each ss x ss block
    occ = frac >= pr.threshold

    diode = ix0 + np.arange(W)
    inside = (diode >= 0) & (diode < pr.n_diodes)
    info["truncated"] = bool(occ[:, ~inside].any())
    occ = occ[:, inside]
    diode = diode[inside]
    if not occ.any():
        return None, info
    rows = np.flatnonzero(occ.any(axis=1))
    cols = np.flatnonzero(occ.any(axis=0))
    occ = occ[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    d0, d1 = int(diode[cols[0]]), int(diode[cols[-1]])
    mg = pr.margin_px
    left, right = min(mg, d0), min(mg, pr.n_diodes - 1 - d1)  # no diodes beyond the array
    img = np.pad(occ, ((mg, mg), (left, right))).astype(np.uint8) * np.uint8(255)
    info.update(edge_touching=bool(d0 == 0 or d1 == pr.n_diodes - 1), dmax_px=recorded_dmax_px(occ),
                n_pixels=int(occ.sum()), first_diode=d0 - left)
    return img, info


def render_oap_table(table: pd.DataFrame, probe_name: str, rng_key) -> tuple[list[np.ndarray | None], pd.DataFrame]:
    """Shadow images of the particles in ``table`` (one chunk of construction rows) on one probe.

    ``rng_key``: seed of this chunk's random stream (orientation, placement, blur).
    Returns the images (None where the probe records nothing or less than
    ``min_dmax_px``) and, per row, ``truncated``, ``edge_touching``, ``dmax_px``,
    ``n_pixels``, ``stretch``, ``defocus_px`` and ``tilt_deg`` (c-axis to viewing axis).
    """
    cv2.setNumThreads(1)
    pr = probe(probe_name)
    rng = np.random.default_rng(rng_key)
    imgs: list[np.ndarray | None] = []
    rec = []
    cols = [table[c].to_numpy() for c in ("habit", "size_um", "aged", "rime_degree", "components")]
    for habit, size, aged, rime, comps in zip(*cols):
        g = construct(habit, float(size), rng, bool(aged), float(rime), comps)
        R = random_rotation(rng)
        g.transform(R)
        img, info = shadow_image(g, pr, rng, min_dmax_px=pr.min_dmax_px)
        if img is not None and info["dmax_px"] < pr.min_dmax_px:
            img = None
        info["tilt_deg"] = float(np.degrees(np.arccos(min(1.0, abs(R[2, 2])))))
        imgs.append(img)
        rec.append(info)
    meas = pd.DataFrame(rec, index=table.index).drop(columns="first_diode")
    return imgs, meas
