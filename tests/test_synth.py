"""The synthetic particle generator: determinism, metadata, physics trends, labels, images, splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icepaper.data.packed import PackedDataset
from icepaper.synth import GENERATOR_VERSION, labels, physics
from icepaper.synth.constructions import sample_constructions
from icepaper.synth.generate import (
    META_COLUMNS,
    generate_dataset,
    generate_particles,
    generate_rois,
)
from icepaper.synth.workers import CHUNK

# One wide campaign spanning every regime, with liquid and processes, for trend tests.
WIDE = physics.Campaign("WIDE", "CPI", (-65.0, 0.0), 1.0, "test", liquid_frac=0.6, cycling=0.5)


@pytest.fixture(scope="module")
def small_set():
    return generate_particles(240, 48, seed=11)


@pytest.fixture(scope="module")
def wide_sample():
    return physics.sample_particles(40_000, WIDE, np.random.default_rng(0), artefact_rate=0.0)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_images_and_meta(small_set):
    imgs, meta = small_set
    imgs2, meta2 = generate_particles(240, 48, seed=11)
    assert np.array_equal(imgs, imgs2)
    pd.testing.assert_frame_equal(meta, meta2)
    imgs3, _ = generate_particles(240, 48, seed=12)
    assert not np.array_equal(imgs, imgs3)


def test_identical_for_one_and_two_workers():
    n = CHUNK + 40  # more than one chunk, so the pool is used
    a, ma = generate_particles(n, 32, seed=5, workers=1)
    b, mb = generate_particles(n, 32, seed=5, workers=2)
    assert np.array_equal(a, b)
    pd.testing.assert_frame_equal(ma, mb)


# ----------------------------------------------------------------------------- metadata


def test_metadata_columns_and_ranges(small_set):
    imgs, meta = small_set
    assert list(meta.columns) == list(META_COLUMNS)
    assert meta["image_id"].is_unique
    assert set(meta["source_file"]) == {"synthetic"}
    assert set(meta["instrument"]) <= {"CPI", "HOLIMO"}
    for name, grp in meta.groupby("campaign"):
        lo, hi = physics.CAMPAIGNS[name].t_range
        assert grp["temperature_c"].between(lo, hi).all(), name
        assert (grp["instrument"] == physics.CAMPAIGNS[name].instrument).all()
    assert (meta["supersaturation"] >= 0).all()
    real = meta[meta["artefact"] != "blank"]
    assert (real["dmax_um"] > 0).all() and (real["size_um"] > 0).all()
    assert meta.loc[meta["artefact"] == "blank", "dmax_um"].isna().all()
    # stored pixels cover the ROI; the particle fits in the stored image
    assert np.allclose(meta["pixel_um"] * imgs.shape[1], meta["roi_um"])
    extent_px = real["dmax_um"] / real["pixel_um"]
    assert (extent_px <= np.sqrt(2) * imgs.shape[1] + 1).all()
    uncut = real[real["cutoff_frac"] == 0]
    assert (uncut["dmax_um"] / uncut["pixel_um"] > 0.3 * imgs.shape[1]).mean() > 0.95
    assert meta["cutoff_frac"].between(0, 1).all()
    # native pixel size: a stored pixel is never finer than the probe's upsampled native pixel
    native = meta["instrument"].map({"CPI": 2.3, "HOLIMO": 3.5})
    assert (meta["pixel_um"] * imgs.shape[1] / native >= 7.5).all()


def test_rois_are_native_resolution():
    rois, meta = generate_rois(12, seed=2, campaign="ARCTIC-MIXED-like")
    assert len(rois) == 12 and all(r.dtype == np.uint8 and r.ndim == 2 for r in rois)
    assert np.allclose(meta["pixel_um"], 2.3, rtol=0.05)
    assert len({r.shape for r in rois}) > 1  # rectangular ROIs of varying size


# ----------------------------------------------------------------------------- physics trends


def test_columns_dominate_between_minus4_and_minus9(wide_sample):
    s = wide_sample
    # single crystals of pristine size (50-500 um; larger ones are mostly aggregates/irregular)
    sel = s[s["temperature_c"].between(-9, -4) & s["size_um"].between(100, 500) & ~s["aggregate"]]
    family = sel["habit"].isin(["column", "needle", "cpc", "lollipop"]).mean()
    assert family > 0.5
    share = sel["habit"].value_counts(normalize=True)
    assert share.index[0] in ("column", "needle", "cpc")
    plates = s[s["temperature_c"].between(-18, -11) & s["size_um"].between(100, 500)]
    assert plates["habit"].isin(["plate", "stellar"]).mean() > plates["habit"].isin(["column", "needle"]).mean()


def test_rosettes_only_colder_than_minus30(wide_sample):
    s = wide_sample
    ros = s["habit"].isin(["bullet_rosette", "budding_rosette"])
    assert ros.sum() > 100
    assert (s.loc[ros, "temperature_c"] < -30).all()
    # and they are common in the cold regime
    cold = s[s["temperature_c"] < -45]
    assert cold["habit"].isin(["bullet_rosette", "budding_rosette"]).mean() > 0.03


def test_aggregation_more_frequent_warm_than_cold():
    d = np.full(2000, 800.0)
    warm = physics.aggregation_probability(np.full(2000, -3.0), d, WIDE).mean()
    cold = physics.aggregation_probability(np.full(2000, -30.0), d, WIDE).mean()
    peak = physics.aggregation_probability(np.full(2000, -15.0), d, WIDE).mean()
    trough = physics.aggregation_probability(np.full(2000, -10.0), d, WIDE).mean()
    assert warm > 3 * cold
    assert peak > trough  # local maximum in the dendritic zone


def test_aggregates_in_samples_warm_vs_cold(wide_sample):
    s = wide_sample
    warm = s[s["temperature_c"] > -5]["aggregate"].mean()
    cold = s[s["temperature_c"] < -20]["aggregate"].mean()
    assert warm > 3 * cold


def test_riming_needs_liquid(wide_sample):
    s = wide_sample
    assert not s.loc[~s["liquid"], "aged"].any()
    assert s[s["temperature_c"] > -15]["aged"].mean() > 5 * s[s["temperature_c"] < -25]["aged"].mean()


def test_mean_size_grows_with_temperature(wide_sample):
    s = wide_sample[wide_sample["habit"] != "liquid_droplet"]
    bins = pd.cut(s["temperature_c"], [-65, -50, -35, -20, -10, 0])
    means = s.groupby(bins, observed=True)["size_um"].mean().to_numpy()
    assert np.all(np.diff(means) > 0), means
    assert means[0] < 120 and means[-1] > 400


def test_no_diversity_parameter_in_physics():
    """The generator encodes physics only: no campaign field or function is about diversity."""
    for c in physics.CAMPAIGNS.values():
        assert not any("divers" in k or "entropy" in k for k in c.__dataclass_fields__)
    assert not any("divers" in name or "entropy" in name for name in dir(physics))


# ----------------------------------------------------------------------------- labels


def test_labels_consistent_across_schemes():
    t = sample_constructions(6000, seed=3)
    assert t["habit19"].dropna().isin(labels.HABIT19).all()
    assert t["habit4"].dropna().isin(labels.HABIT4).all()
    assert t["cpi"].isin(labels.CPI).all()  # every particle has a CPI label
    h4 = t["habit4"].notna()
    assert (t.loc[h4, "habit4"] == t.loc[h4, "habit19"]).all()
    agg = t["habit19"].notna() & t["aggregate"]
    assert t.loc[agg, "habit19"].str.endswith("_aggregate").all()
    aged = t["habit19"].notna() & t["aged"]
    assert t.loc[aged, "habit19"].str.contains("_aged").all()
    art = t["artefact"] != ""
    assert (t.loc[art, "cpi"] == t.loc[art, "artefact"]).all() and t.loc[art, "habit19"].isna().all()
    holimo = t["instrument"] == "HOLIMO"
    assert t.loc[holimo, "habit19"].notna().all()  # every HOLIMO particle is in the 19-class scheme
    cl = t["campaign"] == "CLOUDLAB-like"
    assert t.loc[cl, "habit4"].notna().all()  # CLOUDLAB: column family only
    n20 = t.loc[t["campaign"] == "NASCENT20-like", "habit19"]
    assert not n20.isin(["Lollipop", "CPC", "Lollipop_aggregate", "CPC_aggregate"]).any()
    # single label functions
    assert labels.habit19_label("needle", True, False) == "Column_aged"
    assert labels.habit19_label("frozen_droplet", False, False) == "Frozen droplet"
    assert labels.habit19_label("bullet_rosette", False, False) is None
    assert labels.cpi_label("column", True, False, rime_degree=0.9) == "rimed"


def test_class_imbalance_like_real_archives():
    t = sample_constructions(20_000, seed=4)
    cpi = t.loc[(t["instrument"] == "CPI") & t["cpi"].isin(labels.CPI_ICE), "cpi"]
    share = cpi.value_counts(normalize=True)
    assert share.index[0] == "compact_irregular" and share.iloc[0] > 0.4
    assert share.get("bullet_rosette", 0) < 0.1
    assert share.iloc[0] / share.iloc[-1] > 20
    n19 = t.loc[t["campaign"] == "NASCENT19-like", "habit19"].value_counts(normalize=True)
    assert n19[["Column", "CPC", "Column_aged"]].sum() > 0.4  # Chu et al. 2025: 66.5 %


def test_force_habit():
    imgs, meta = generate_particles(6, 32, seed=1, force_habit="bullet_rosette")
    assert (meta["habit"] == "bullet_rosette").all() and (meta["temperature_c"] < -30).all()
    _, meta = generate_particles(5, 32, seed=1, force_habit="Column_aged_aggregate", campaign="NASCENT19-like")
    assert (meta["habit19"] == "Column_aged_aggregate").all()
    with pytest.raises(ValueError, match="only 0 of"):
        generate_particles(3, 32, seed=1, force_habit="bullet_rosette", campaign="CLOUDLAB-like")
    with pytest.raises(ValueError, match="neither"):
        generate_particles(3, 32, seed=1, force_habit="teapot")
    with pytest.raises(ValueError, match="unknown campaign"):
        generate_particles(3, 32, seed=1, campaign="NOPE")


def test_instrument_override_changes_look():
    a, ma = generate_particles(30, 48, seed=8, campaign="ARCTIC-MIXED-like")
    b, mb = generate_particles(30, 48, seed=8, campaign="ARCTIC-MIXED-like", instrument="HOLIMO")
    assert (mb["instrument"] == "HOLIMO").all() and (ma["instrument"] == "CPI").all()
    assert np.median(a) > np.median(b) + 30  # CPI bright background, HOLIMO grey


# ----------------------------------------------------------------------------- images


def test_images_dark_particle_on_bright_background(small_set):
    imgs, meta = small_set
    assert imgs.dtype == np.uint8 and imgs.shape == (240, 48, 48)
    ok = []
    for img, (_, r) in zip(imgs, meta.iterrows()):
        if r["artefact"] or r["cutoff_frac"] > 0:
            continue
        border = np.concatenate([img[:3].ravel(), img[-3:].ravel(), img[:, :3].ravel(), img[:, -3:].ravel()])
        centre = img[12:36, 12:36]
        # dark particle inside the frame: the darkest pixels are not on the border
        ok.append(np.percentile(centre, 5) < np.median(border) - 25 and border.min() > centre.min())
    assert np.mean(ok) > 0.9
    cpi = imgs[(meta["instrument"] == "CPI").to_numpy()]
    assert np.median(cpi) > 150  # bright CPI background


def test_blank_frames_have_no_particle():
    imgs, meta = generate_particles(40, 32, seed=2, campaign="CIRRUS-COLD-like", force_habit="blank")
    assert (meta["artefact"] == "blank").all()
    assert np.percentile(imgs.reshape(40, -1), 1, axis=1).min() > 90


# ----------------------------------------------------------------------------- dataset


def test_generate_dataset_splits_and_provenance(tmp_path):
    ds = generate_dataset(tmp_path / "ds", n_images=500, image_size=32, seed=3, workers=2, progress=False)
    assert isinstance(ds, PackedDataset) and len(ds) == 500 and ds.size == 32
    m = ds.meta
    assert set(m["split"]) == {"train", "val", "test"}
    ids = [set(m.loc[m["split"] == s, "image_id"]) for s in ("train", "val", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert sum(map(len, ids)) == 500
    assert set(m.loc[m["split"] == "train", "campaign"]) == set(m["campaign"])  # stratified
    counts = m["campaign"].value_counts()
    w = {c.name: c.weight for c in physics.CAMPAIGNS.values()}
    for name, k in counts.items():
        assert abs(k - 500 * w[name] / sum(w.values())) <= 1  # exact mixture proportions
    prov = ds.manifest["provenance"]
    assert prov["generator_version"] == GENERATOR_VERSION and prov["seed"] == 3
    assert prov["n_images"] == 500 and prov["images_per_second"] > 0
    assert set(prov["campaigns"]) == set(physics.CAMPAIGNS)
    assert ds.has_labels("habit19") and ds.has_labels("habit4") and ds.has_labels("cpi")
    # the packed images are the in-memory ones
    imgs, _ = generate_particles(500, 32, seed=3)
    assert np.array_equal(ds.batch(np.arange(500)), imgs)
