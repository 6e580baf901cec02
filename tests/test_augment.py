"""Augmentation recipes: shapes, dtypes, determinism and the Ko et al. 2025 domain changes."""

from __future__ import annotations

import json
import pickle

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from icepaper import augment as A
from icepaper.core.profiles import get_profile


def _needle(size: int = 64, angle: float = 30.0) -> np.ndarray:
    """A dark elongated ellipse (aspect ratio 0.25) on a bright background."""
    img = np.full((size, size), 230, np.uint8)
    cv2.ellipse(img, (size // 2, size // 2), (size * 7 // 32, size * 3 // 64), angle, 0, 360, 40, -1)
    return img


def _top_dark(size: int = 64) -> np.ndarray:
    """Top half dark, bottom half mid-grey (both below the solarise threshold)."""
    img = np.full((size, size), 100, np.uint8)
    img[: size // 2] = 20
    return img


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
@pytest.mark.parametrize("name", A.RECIPES)
def test_shapes_and_dtypes(profile, name):
    sizes = get_profile(profile).augment
    recipe = A.build_recipe(name, sizes)
    img = Image.fromarray(_needle(int(sizes["global_size"])), mode="L")
    views = recipe(img)
    assert len(views) == recipe.n_views
    expected_views = {"ibot_cpi": 2 + sizes["n_local"], "ibot_imagenet": 2 + sizes["n_local"],
                      "cssl": 2, "finetune": 1}[name]
    assert recipe.n_views == expected_views
    assert recipe.n_global == (1 if name == "finetune" else 2)
    for i, v in enumerate(views):
        size = sizes["global_size"] if i < recipe.n_global else sizes["local_size"]
        assert v.shape == (1, size, size)
        assert v.dtype == torch.float32
        assert torch.isfinite(v).all()


@pytest.mark.parametrize("name", A.RECIPES)
def test_three_channel_output_and_inputs(name):
    sizes = get_profile("smoke").augment
    recipe = A.build_recipe(name, sizes, in_chans=3)
    img = _needle()
    for x in (img, torch.from_numpy(img), torch.from_numpy(img)[None], Image.fromarray(img).convert("RGB")):
        views = recipe(x)
        assert views[0].shape == (3, sizes["global_size"], sizes["global_size"])
        norm = recipe.params["normalize"]
        assert norm["mean"] == pytest.approx([0.485, 0.456, 0.406])
        raw = views[0] * torch.tensor(norm["std"]).view(3, 1, 1) + torch.tensor(norm["mean"]).view(3, 1, 1)
        assert torch.allclose(raw[0], raw[1], atol=1e-5)  # grey repeated, not invented colour


def test_bad_inputs_fail_clearly():
    recipe = A.build_recipe("finetune", get_profile("smoke").augment)
    with pytest.raises(TypeError, match="uint8"):
        recipe(np.zeros((64, 64), np.float32))
    with pytest.raises(ValueError, match="shape"):
        recipe(np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="in_chans"):
        A.build_recipe("cssl", get_profile("smoke").augment, in_chans=2)


@pytest.mark.parametrize("name", A.RECIPES)
def test_deterministic_under_seed(name):
    recipe = A.build_recipe(name, get_profile("smoke").augment)
    img = _needle()
    torch.manual_seed(7)
    a = recipe(img)
    torch.manual_seed(7)
    b = recipe(img)
    torch.manual_seed(8)
    c = recipe(img)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_unknown_recipe_lists_valid_names():
    with pytest.raises(ValueError, match="unknown augmentation recipe 'simclr'") as e:
        A.build_recipe("simclr", get_profile("smoke").augment)
    for n in A.RECIPES:
        assert n in str(e.value)


def _step_names(recipe, view=0):
    return [s["step"] for s in recipe.params["views"][recipe.views[view].name]["steps"]]


def test_vertical_flips_only_in_ibot_cpi():
    sizes = get_profile("smoke").augment
    cpi, imnet = A.build_recipe("ibot_cpi", sizes), A.build_recipe("ibot_imagenet", sizes)
    assert "vertical_flip" in _step_names(cpi) and "vertical_flip" not in _step_names(imnet)
    # Behaviour: a top-dark image comes out bottom-dark only when flipped vertically.
    img = _top_dark()
    torch.manual_seed(0)

    def flipped_fraction(recipe):
        n = 0
        for _ in range(200):
            v = recipe.views_uint8(img)[0][0].float()
            h = v.shape[0] // 2
            n += bool(v[:h].mean() > v[h:].mean() + 5)
        return n / 200

    assert flipped_fraction(imnet) == 0.0
    assert 0.2 < flipped_fraction(cpi) < 0.6


def test_no_saturation_hue_in_ibot_cpi():
    sizes = get_profile("smoke").augment
    cpi = A.build_recipe("ibot_cpi", sizes).params["views"]["global_1"]["steps"]
    imnet = A.build_recipe("ibot_imagenet", sizes).params["views"]["global_1"]["steps"]
    jit_cpi = next(s for s in cpi if s["step"] == "colour_jitter")
    jit_imnet = next(s for s in imnet if s["step"] == "colour_jitter")
    assert "saturation" not in jit_cpi and "hue" not in jit_cpi
    assert jit_imnet["saturation"] > 0 and jit_imnet["hue"] > 0


def test_aspect_ratio_range_narrower_in_ibot_cpi():
    sizes = get_profile("smoke").augment
    cpi, imnet = A.build_recipe("ibot_cpi", sizes), A.build_recipe("ibot_imagenet", sizes)

    def ratio(recipe, view):
        key = "local" if view >= recipe.n_global else recipe.views[view].name
        return recipe.params["views"][key]["steps"][0]["ratio"]

    for view in (0, 1, 2):
        (lo_c, hi_c), (lo_i, hi_i) = ratio(cpi, view), ratio(imnet, view)
        assert lo_i < lo_c <= 1 <= hi_c < hi_i
    # Behaviour: whole-needle views change their aspect ratio by > 10 % less often.
    img = _needle()
    d_cpi = A.aspect_ratio_change(cpi, img, n_draws=80, seed=0)
    d_imnet = A.aspect_ratio_change(imnet, img, n_draws=80, seed=0)
    frac = [np.nanmean(d[np.isfinite(d)] > np.log(1.1)) for d in (d_cpi, d_imnet)]
    assert frac[0] < frac[1] - 0.1


def test_step_by_step_one_image_per_step():
    img = _needle()
    for name in A.RECIPES:
        steps = A.step_by_step(img, name=name, seed=3)
        recipe = A.build_recipe(name, {"global_size": 64, "local_size": 32, "n_local": 1})
        n_steps = max(len(v.steps) for v in recipe.views)
        assert len(steps) == n_steps + 1
        assert steps[0][0] == "original"
        assert all(isinstance(im, Image.Image) and im.mode == "L" for _, im in steps)
    cssl = [label for label, _ in A.step_by_step(img, "cssl")]
    assert cssl[1].startswith("resize") and cssl[-1].startswith("rotate")
    # Same seed, same panels; the global RNG is left alone.
    torch.manual_seed(1)
    expected = torch.rand(1)
    torch.manual_seed(1)
    a = A.step_by_step(img, "cssl", seed=5)
    assert torch.rand(1) == expected
    b = A.step_by_step(img, "cssl", seed=5)
    assert all(np.array_equal(np.asarray(x[1]), np.asarray(y[1])) for x, y in zip(a, b))


def test_rotation_fills_background_not_black():
    img = np.full((64, 64), 230, np.uint8)
    img[28:36, 8:56] = 30
    rot = A.RotateOnBackground((45.0, 45.0))(torch.from_numpy(img)[None])
    assert rot[0, 0, 0] > 200 and rot[0, -1, -1] > 200


def test_params_json_and_pickle():
    sizes = get_profile("default").augment
    for name in A.RECIPES:
        r = A.build_recipe(name, sizes)
        p = json.loads(json.dumps(r.params))
        assert p["name"] == name and p["n_views"] == r.n_views
        r2 = pickle.loads(pickle.dumps(r))  # DataLoader workers
        torch.manual_seed(0)
        a = r(_needle(96))
        torch.manual_seed(0)
        b = r2(_needle(96))
        assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_eval_transform_single_and_batch():
    t = A.eval_transform(96)
    img = np.full((64, 64), 117, np.uint8)  # ~ the grey mean 0.459 * 255
    x = t(img)
    assert x.shape == (1, 96, 96) and x.dtype == torch.float32
    assert abs(float(x.mean())) < 0.02
    batch = t(np.stack([_needle(), img, _needle()]))
    assert batch.shape == (3, 1, 96, 96)
    assert torch.allclose(batch[1], x)
    assert A.eval_transform(64, in_chans=3)(img).shape == (3, 64, 64)


def test_particle_stats_measures_elongation_and_cuts():
    ar, area, cut = A.particle_stats(_needle())
    assert 0.15 < ar < 0.35 and 0.01 < area < 0.2 and not cut
    edge = np.full((64, 64), 230, np.uint8)
    edge[20:30, 0:20] = 30
    assert A.particle_stats(edge)[2]
    assert np.isnan(A.particle_stats(np.full((64, 64), 200, np.uint8))[0])
    # a rotation keeps the aspect ratio (fill = background, no dark seams)
    rot = A.RotateOnBackground((37.0, 37.0))(torch.from_numpy(_needle(angle=0.0))[None])
    assert A.particle_aspect_ratio(rot) == pytest.approx(ar, rel=0.1)


def test_pick_examples_uses_labels_and_falls_back(packed_factory):
    import pandas as pd

    imgs = np.stack([_needle(angle=a) for a in (0, 40, 80)]
                    + [np.where(_needle(angle=a) < 100, 60, 230).astype(np.uint8) for a in (10, 20)])
    meta = pd.DataFrame({"image_id": [f"i{k}" for k in range(5)], "split": "train", "source_file": "",
                         "cpi": ["needle", "plate", "needle", "aggregate", "column"]})
    ds = packed_factory(imgs, meta)
    ex = dict(A.pick_examples(ds, ("needle", "plate", "aggregate")))
    assert ds.meta["cpi"].iloc[ex["needle"]] == "needle"
    assert ex["plate"] == 1 and ex["aggregate"] == 3
    found, idx = A.pick_particles(ds, "needle", n=5)
    assert found == "needle" and sorted(idx) == [0, 2]
    # no labels at all: chosen by shape, said so
    plain = packed_factory(imgs, name="plain")
    found, idx = A.pick_particles(plain, "needle", n=2)
    assert found == "elongated by shape (no needle label)" and len(idx) == 2
    found, idx = A.pick_particles(plain, "bullet", n=1)  # no shape rule for this kind: random
    assert found.startswith("random") and len(idx) == 1


def test_pick_examples_without_labels_chooses_by_shape(packed_factory):
    bar = np.full((64, 64), 230, np.uint8)
    cv2.rectangle(bar, (10, 29), (53, 34), 40, -1)  # elongated
    disc = np.full((64, 64), 230, np.uint8)
    cv2.circle(disc, (32, 32), 12, 40, -1)  # compact
    star = np.full((64, 64), 230, np.uint8)
    for a in (0, 60, 120):  # three crossing arms: least convex
        cv2.ellipse(star, (32, 32), (22, 3), a, 0, 360, 40, -1)
    ds = packed_factory(np.stack([disc, star, bar]))
    ex = A.pick_examples(ds, ("needle", "plate", "aggregate"))
    assert ex == [("elongated by shape (no needle label)", 2), ("compact by shape (no plate label)", 0),
                  ("irregular by shape (no aggregate label)", 1)]


def test_pick_particles_reads_text_metadata(packed_factory):
    """metadata.csv columns arrive as text: flags and numbers are parsed, not compared as strings."""
    import pandas as pd

    imgs = np.stack([_needle(angle=a) for a in (0, 40, 80, 120)])
    meta = pd.DataFrame({"image_id": [f"i{k}" for k in range(4)], "split": "train", "source_file": "",
                         "cpi": "needle", "aged": ["True", "False", "False", None],
                         "cutoff_frac": ["0.0", "0.3", "0.0", "0.0"], "truncated": ["False", "False", "1", "false"]})
    ds = packed_factory(imgs, meta.astype("string"))
    found, idx = A.pick_particles(ds, "needle", n=4)
    assert found == "needle" and sorted(idx) == [3]  # 0 aged, 1 cut off, 2 truncated
