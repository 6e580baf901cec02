"""2-D geometric features on analytic shapes."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from icepaper.data.features import BASELINE_13, FEATURES, TALK_7, geometric_features


def _canvas(s: int = 128) -> np.ndarray:
    return np.full((s, s), 230, np.uint8)


def disc(r: int = 40, s: int = 128) -> np.ndarray:
    im = _canvas(s)
    cv2.circle(im, (s // 2, s // 2), r, 20, -1)
    return im


def rect(w: int, h: int, s: int = 128) -> np.ndarray:
    im = _canvas(s)
    x0, y0 = (s - w) // 2, (s - h) // 2
    im[y0:y0 + h, x0:x0 + w] = 20
    return im


def star(n: int = 4, s: int = 128) -> np.ndarray:
    im = _canvas(s)
    c = s // 2
    for k in range(n):
        t = 2 * math.pi * k / n
        cv2.line(im, (c, c), (int(c + 50 * math.cos(t)), int(c + 50 * math.sin(t))), 20, 9)
    return im


def test_feature_lists():
    assert len(BASELINE_13) == 13 and len(set(BASELINE_13)) == 13
    assert len(TALK_7) == 7
    assert set(BASELINE_13) <= set(FEATURES) and set(TALK_7) <= set(FEATURES)


def test_disc():
    f = geometric_features(disc(40)[None]).iloc[0]
    assert f.circularity == pytest.approx(1.0, abs=0.05)
    assert f.solidity == pytest.approx(1.0, abs=0.03)
    assert f.aspect_ratio == pytest.approx(1.0, abs=0.03)
    assert f.elliptical_aspect_ratio == pytest.approx(1.0, abs=0.03)
    assert f.area_ratio == pytest.approx(1.0, abs=0.06)
    assert f.equiv_diameter == pytest.approx(80, rel=0.03)
    assert f.complexity == pytest.approx(10 * (0.1 - 1 / (4 * math.pi)), abs=0.05)
    assert f.extreme_points == 0
    assert f.extreme_spread < 0.05


def test_rectangle_and_square():
    f = geometric_features(rect(80, 20)[None]).iloc[0]
    assert f.aspect_ratio == pytest.approx(20 / 80, abs=0.03)
    assert f.elliptical_aspect_ratio < 0.4
    sq = geometric_features(rect(50, 50)[None]).iloc[0]
    assert sq.solidity == pytest.approx(1.0, abs=1e-6)
    assert sq.aspect_ratio == pytest.approx(1.0, abs=1e-6)
    assert sq.circularity == pytest.approx(math.pi / 4, abs=0.03)


def test_star_has_tips_and_is_complex():
    f = geometric_features(np.stack([star(4), disc(30)]))
    assert f.extreme_points[0] == 4
    assert f.complexity[0] > f.complexity[1]
    assert f.solidity[0] < 0.6


def test_units_scale_with_pixel_um():
    ims = np.stack([disc(30), disc(30)])
    px = geometric_features(ims)
    um = geometric_features(ims, pixel_um=np.array([1.0, 2.3]))
    assert um.area[1] == pytest.approx(px.area[1] * 2.3**2)
    assert um.perimeter[1] == pytest.approx(px.perimeter[1] * 2.3)
    assert um.perimeter_area_ratio[1] == pytest.approx(px.perimeter_area_ratio[1] / 2.3)
    assert um.circularity[1] == pytest.approx(px.circularity[1])


def test_blank_image_gives_nan_row():
    ims = np.stack([_canvas(), disc(20), np.zeros((128, 128), np.uint8)])
    f = geometric_features(ims, pixel_um=2.3)
    assert list(f.columns) == FEATURES and len(f) == 3
    assert f.iloc[0].isna().all() and f.iloc[2].isna().all()
    assert f.iloc[1].notna().all()


def test_otsu_agrees_with_half_depth_on_clean_shapes():
    a = geometric_features(disc(35)[None]).iloc[0]
    b = geometric_features(disc(35)[None], method="otsu").iloc[0]
    assert a.area == pytest.approx(b.area, rel=0.02)
