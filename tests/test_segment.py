"""One particle segmenter (``icepaper.data.segment``): every caller gets bit-identical masks to its
old implementation, copied here as the reference, on synthetic images from the default generator."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from icepaper.augment import particle_stats
from icepaper.data import segment
from icepaper.data.features import particle_mask as features_particle_mask
from icepaper.data.sheets import particle_mask as sheet_particle_mask

# --------------------------------------------------------------------------- the old implementations


def _old_features_mask(image, method="half_depth", min_contrast=12.0):
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {img.shape}")
    img = img.astype(np.uint8, copy=False)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    bg = float(np.median(border))
    lo = float(img.min())
    if bg - lo < min_contrast:
        return None
    if method == "half_depth":
        thr = bg - 0.5 * (bg - lo)
        return np.where(img < thr, 255, 0).astype(np.uint8)
    if method == "otsu":
        _, m = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        return m
    raise ValueError(method)


def _old_levels(g):
    s = cv2.GaussianBlur(g, (3, 3), 0)
    t, _ = cv2.threshold(s, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    above = s > t
    bg = float(np.median(s[above])) if above.any() else float(np.median(s))
    if min(s.shape) >= 6:
        ring = np.concatenate([s[:2].ravel(), s[-2:].ravel(), s[2:-2, :2].ravel(), s[2:-2, -2:].ravel()])
        bg = max(bg, float(np.median(ring)))
    return s, above, bg, float(np.percentile(s, 0.5))


def _old_sheet_mask(g, min_contrast=30.0, min_snr=10.0, min_px=6, min_dominance=0.7, join_px=3, min_depth=0.3):
    g = np.asarray(g, dtype=np.uint8)
    empty = np.zeros(g.shape, bool)
    if g.size < 4:
        return empty, False
    s, above, bg, dark = _old_levels(g)
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
    first = np.unique(lab.ravel(), return_index=True)[1]
    group = glab.ravel()[first]
    totals = np.bincount(group, weights=areas)
    best = int(totals.argmax())
    keep = (areas > 0) & (group == best)
    return keep[lab], bool(totals[best] >= min_dominance * areas.sum())


def _old_augment_mask(a):
    """The segmentation inside augment's old ``particle_stats``: (mask, dark, peak) or None."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    dark = np.clip(float(np.median(border)) - a.astype(np.float32), 0, None)
    peak = float(dark.max())
    if peak < 10:
        return None
    n, lab, stats, _ = cv2.connectedComponentsWithStats((dark > 0.5 * peak).astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    return np.isin(lab, 1 + np.flatnonzero(areas >= 0.1 * areas.max())), dark, peak


def _old_particle_stats(a):
    out = _old_augment_mask(a)
    if out is None:
        return float("nan"), 0.0, False
    mask, dark, peak = out
    cut = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    support = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    m = cv2.moments(np.where(support & (dark > 0.1 * peak), dark, 0).astype(np.float32))
    cov = np.array([[m["mu20"], m["mu11"]], [m["mu11"], m["mu02"]]]) / m["m00"]
    ev = np.linalg.eigvalsh(cov)
    ar = float(np.sqrt(max(ev[0], 0.0) / ev[1])) if ev[1] > 0 else float("nan")
    return ar, float(mask.mean()), cut


# --------------------------------------------------------------------------- images


def _edge_cases():
    rng = np.random.default_rng(0)
    blank = np.full((32, 32), 200, np.uint8)
    faint = blank.copy()
    faint[10:20, 10:20] = 190  # contrast 10: the augment threshold exactly, under the features one
    noise = rng.integers(0, 256, (32, 32)).astype(np.uint8)
    bright = blank.copy()
    bright[5:9, 5:9] = 255  # brighter than the background only
    specks = blank.copy()
    specks[4:20, 4:20] = 20
    specks[28, 28] = 30  # a speck far smaller than 10 % of the particle
    cut = blank.copy()
    cut[0:12, 8:14] = 40
    half = blank.copy()
    half[3:9, 3:9] = 199  # odd contrast: half-levels of the median background
    half[20, :] = 201
    return [blank, faint, noise, bright, specks, cut, half]


@pytest.fixture(scope="module")
def images():
    from icepaper.synth.generate import generate_particles

    imgs, _ = generate_particles(48, image_size=64, seed=0)
    rng = np.random.default_rng(1)
    crops = []  # off-centre crops and stretched copies, as the recipes' views give particle_stats
    for im in imgs[:16]:
        y, x = rng.integers(0, 24, 2)
        crops.append(np.ascontiguousarray(im[y:y + 40, x:x + 40]))
        crops.append(cv2.resize(im, (64, 40), interpolation=cv2.INTER_CUBIC))
    return list(imgs) + crops + _edge_cases()


@pytest.fixture(scope="module")
def rois():
    from icepaper.synth.generate import generate_rois

    crops, _ = generate_rois(24, seed=0)
    return list(crops) + _edge_cases()


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("method", ["half_depth", "otsu"])
def test_features_mask_is_bit_identical(images, method):
    for im in images:
        old, new = _old_features_mask(im, method), features_particle_mask(im, method)
        assert (old is None) == (new is None)
        if old is not None:
            assert new.dtype == old.dtype and np.array_equal(new, old)


def test_features_mask_float_input_is_cast_as_before(images):
    im = images[0].astype(np.float64) + 0.7
    assert np.array_equal(features_particle_mask(im), _old_features_mask(im))


def test_sheet_mask_is_bit_identical(rois, images):
    for g in rois + images[:24]:
        old_mask, old_single = _old_sheet_mask(g)
        new_mask, new_single = sheet_particle_mask(g)
        assert new_single == old_single and new_mask.dtype == old_mask.dtype and np.array_equal(new_mask, old_mask)
    g = rois[0]
    old = _old_sheet_mask(g, min_contrast=20.0, min_px=3, join_px=2)
    new = segment.particle_mask(g, "sheet", min_contrast=20.0, min_px=3, join_px=2)
    assert new[1] == old[1] and np.array_equal(new[0], old[0])


def test_augment_particle_stats_are_bit_identical(images):
    for im in images:
        old, new = _old_particle_stats(im), particle_stats(im)
        np.testing.assert_array_equal(np.array(new[:2]), np.array(old[:2]))  # NaN == NaN here
        assert new[2] == old[2]
        ref = _old_augment_mask(im)
        mask, found = segment.particle_mask(im, "half_depth", min_contrast=10, min_region_frac=0.1)
        assert found == (ref is not None)
        assert np.array_equal(mask, ref[0] if ref is not None else np.zeros(im.shape, bool))


def test_the_methods_differ():
    """The sheet method is another algorithm (smoothing, noise test, joined regions), not a setting."""
    im = np.full((24, 24), 200, np.uint8)
    im[6:18, 6:18] = 120
    im[20, 20] = 100
    assert segment.particle_mask(im)[0][20, 20]  # half_depth keeps every dark pixel
    assert not segment.particle_mask(im, min_region_frac=0.1)[0][20, 20]  # augment drops the speck
    assert not segment.particle_mask(im, "sheet")[0][20, 20]
    with pytest.raises(ValueError):
        segment.particle_mask(im, "nope")
    with pytest.raises(TypeError):
        segment.particle_mask(im, "otsu", min_px=3)
