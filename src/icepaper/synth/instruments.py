"""The instruments' imaging parameters (CPI, HOLIMO: pixel size, frame, blur, grey levels,
noise, artefacts) and the per-chunk noise banks the imaging model crops its noise from."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Instrument:
    """Imaging parameters of one probe (grey levels are 0-255; transmittances are fractions
    of the background). Ranges are drawn uniformly per image."""

    name: str
    pixel_um: float  # native um per pixel
    frame_px: int  # sensor frame side (px)
    psf_px: float  # optical blur sigma (native px)
    background: tuple[float, float]  # background grey level
    edge: tuple[float, float]  # transmittance of silhouettes/edges (dark)
    facet: tuple[float, float]  # transmittance of a clear face seen face-on
    noise: tuple[float, float]  # pixel noise sigma (grey levels, native px)
    rows: tuple[float, float]  # horizontal streak noise sigma (grey levels)
    mottle: float  # low-frequency background variation (fraction)
    halo: float  # bright out-of-focus halo amplitude (fraction of background)
    fringe: float  # holographic ringing amplitude (fraction of background)
    fringe_period_px: float  # native px
    fringe_decay_px: float  # native px
    highlight: float  # brightness added along internal facet edges (fraction)
    centre_spot: bool  # bright centre spot on drops
    speckle: bool  # granular (smoothed) noise instead of white noise


INSTRUMENTS: dict[str, Instrument] = {
    "CPI": Instrument(
        "CPI", pixel_um=2.3, frame_px=1024, psf_px=0.9, background=(168.0, 215.0),
        edge=(0.04, 0.14), facet=(0.5, 0.9), noise=(2.0, 6.5), rows=(0.5, 4.0), mottle=0.035,
        halo=0.16, fringe=0.0, fringe_period_px=1.0, fringe_decay_px=1.0, highlight=0.3, centre_spot=True,
        speckle=False,
    ),
    "HOLIMO": Instrument(
        "HOLIMO", pixel_um=3.5, frame_px=2000, psf_px=0.9, background=(105.0, 150.0),
        edge=(0.12, 0.3), facet=(0.3, 0.55), noise=(5.0, 10.0), rows=(0.0, 0.0), mottle=0.09,
        halo=0.0, fringe=0.2, fringe_period_px=3.2, fringe_decay_px=4.5, highlight=0.0, centre_spot=False,
        speckle=True,
    ),
}


def instrument(name: str) -> Instrument:
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise ValueError(f"unknown instrument {name!r}; valid: {', '.join(INSTRUMENTS)}") from None


class NoiseBank:
    """Pre-drawn noise fields; ``crop`` returns a random (h, w) window (a view)."""

    def __init__(self, rng: np.random.Generator, size: int = 256):
        self.size = n = int(size)
        self.white = rng.standard_normal((n, n), dtype=np.float32)
        sm = cv2.GaussianBlur(rng.standard_normal((n, n), dtype=np.float32), (0, 0), 10.0)
        self.smooth = sm / sm.std()
        sp = cv2.GaussianBlur(self.white, (0, 0), 0.8)
        self.speckle = sp / sp.std()
        self.rows = rng.standard_normal(8 * n).astype(np.float32)
        self._mottle: dict[float, np.ndarray] = {}

    def crop(self, field: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        y, x = rng.integers(0, self.size - max(h, w) + 1, 2)
        return field[y : y + h, x : x + w]

    def mottle(self, amplitude: float) -> np.ndarray:
        """Multiplicative low-frequency background field 1 + amplitude * smooth noise."""
        f = self._mottle.get(amplitude)
        if f is None:
            f = self._mottle[amplitude] = (1.0 + amplitude * self.smooth).astype(np.float32)
        return f

    def row(self, h: int, rng: np.random.Generator) -> np.ndarray:
        y = int(rng.integers(0, len(self.rows) - h + 1))
        return self.rows[y : y + h]
