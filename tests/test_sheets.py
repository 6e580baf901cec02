"""CPI sheets: palette inversion, crop recovery on synthetic sheets, rejection reasons, real sheets."""

from __future__ import annotations

import numpy as np
import pytest

from icepaper import paths
from icepaper.data.sheets import (
    PALETTE,
    cutoff_fraction,
    extract_sheet,
    grey_to_sheet_rgb,
    particle_dims_px,
    render_sheet,
    sheet_counts,
    sheet_to_grey,
)


def _blob(h, w, rng, level=40, bg=200, frac=0.3):
    img = (bg + rng.normal(0, 3, (h, w))).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    r = min(h, w) * frac
    img[((yy - h / 2) / r) ** 2 + ((xx - w / 2) / (r * rng.uniform(0.7, 1.3))) ** 2 < 1] = level
    return img


def test_palette_is_monotone_and_inverts():
    assert PALETTE.shape == (255, 3)
    lum = PALETTE @ np.array([0.299, 0.587, 0.114])
    assert (np.diff(lum) > 0).all()
    assert tuple(PALETTE[-1]) == (251, 254, 255) and tuple(PALETTE[0]) == (0, 0, 0)
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    back, text = sheet_to_grey(grey_to_sheet_rgb(g))
    assert np.abs(back.astype(int) - g).max() <= 1
    assert text[g <= 5].all() and not text[g >= 12].any()


def test_synthetic_sheet_recovers_every_crop():
    rng = np.random.default_rng(0)
    crops = [_blob(int(rng.integers(20, 110)), int(rng.integers(20, 110)), rng) for _ in range(50)]
    stamps = [f"20: 9:\n12:{i:03d}" for i in range(50)]
    rgb, boxes = render_sheet(crops, stamps, header="3/31/2008 20:09:09 <---->200microns",
                              return_boxes=True)
    assert rgb.shape == (1024, 792, 3) and rgb.dtype == np.uint8
    assert len(boxes) >= 30
    got = extract_sheet(rgb)
    assert sheet_counts(got)["kept"] == len(boxes)
    assert {c.box for c in got} == set(boxes)
    # the crops come back as the grey images that were placed (palette round trip, no text)
    for c in got[:10]:
        k = boxes.index(c.box)
        ref = np.clip(crops[k], 12, 250).astype(int)
        assert np.abs(c.image.astype(int) - ref).max() <= 1
        assert c.cutoff < 0.1 and c.dmax_um > 0


def test_rejection_reasons():
    rng = np.random.default_rng(1)
    ok = _blob(60, 60, rng)
    tiny = _blob(10, 40, rng)
    blank = (200 + rng.normal(0, 3, (60, 60))).clip(0, 255).astype(np.uint8)
    cut = _blob(60, 60, rng)
    cut[:, :25] = 40  # particle runs into the left edge
    rgb = render_sheet([ok, tiny, blank, cut], ["a", "b", "c", "d"], header="h")
    got = extract_sheet(rgb, include_rejected=True)
    assert [c.reason for c in got] == [None, "too_small", "no_particle", "cutoff"]
    assert sheet_counts(got) == {"found": 4, "kept": 1, "too_small": 1, "text": 0,
                                 "no_particle": 1, "cutoff": 1}
    assert len(extract_sheet(rgb)) == 1


def test_particle_size_from_min_area_rectangle():
    m = np.zeros((80, 80), bool)
    m[30:40, 10:70] = True  # 60 x 10 px bar
    w, h, dmax = particle_dims_px(m)
    assert (w, h) == (10, 60) and dmax == pytest.approx(np.hypot(59, 9) + 1, abs=0.01)
    assert cutoff_fraction(m) == 0.0
    m[:, :] = False
    m[0:80, 0:20] = True
    assert cutoff_fraction(m) > 0.1


def test_text_over_crops_is_removed():
    rng = np.random.default_rng(2)
    crop = _blob(40, 40, rng)
    rgb, boxes = render_sheet([crop], ["12:34"], header="h", return_boxes=True)
    x, y, w, h = boxes[0]
    rgb[y + h - 8:y + h - 1, x + 1:x + 12] = 0  # a "size number" printed on the crop corner
    (c,) = extract_sheet(rgb)
    assert c.box == boxes[0] and c.text_frac > 0
    assert c.image.min() >= 12 and c.image[-3, 3] > 150  # painted over with background


REAL = paths.cpi_sheets_dir()


@pytest.mark.skipif(not REAL.is_dir(), reason="real CPI sheets not available")
def test_real_sheets_sizes_match_printed_values():
    """Sizes printed by the CPI software on one real sheet (um) vs our max Feret diameter."""
    got = extract_sheet(REAL / "CP20140422_212000_170.png")
    big = sorted((c.dmax_um for c in got if c.dmax_um > 200), reverse=True)
    printed = [655, 613, 581, 369, 281]
    assert len(big) == len(printed)
    for ours, theirs in zip(big, printed):
        assert abs(ours - theirs) / theirs < 0.06


def test_crop_to_particle_then_sheet_roundtrip():
    from icepaper.data.sheets import crop_to_particle

    rng = np.random.default_rng(3)
    big = _blob(96, 96, rng, frac=0.15)
    roi = crop_to_particle(big, margin=5)
    assert roi.shape[0] < 60 and roi.shape[1] < 70 and roi.min() == big.min()
    rgb, boxes = render_sheet([roi] * 5, ["t"] * 5, header="h", return_boxes=True)
    assert len(extract_sheet(rgb)) == 5
