"""Diversity analysis: binning, class similarity, kappa by metadata groups and the verdict sentences."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from icepaper.diversity import trends as D
from icepaper.diversity.kappa_validation import sample_vmf
from icepaper.papers import ko2025 as T


def test_quantile_bins_and_class_similarity():
    v = np.r_[np.linspace(-50, 0, 100), np.nan]
    lab, centres = D.quantile_bins(v, 4)
    assert lab.isna().sum() == 1 and sorted(lab.dropna().unique()) == [0, 1, 2, 3]
    assert np.all(np.diff(centres.to_numpy()) > 0)
    lab, centres = D.quantile_bins(np.r_[10 ** np.linspace(1, 3, 100)], 2, log=True)
    assert centres.iloc[0] < 100 < centres.iloc[1]
    mu = np.eye(8)
    from scipy.stats import vonmises_fisher

    x = np.concatenate([vonmises_fisher(mu[i], 50.0).rvs(100, random_state=i) for i in range(3)])
    sim = D.class_similarity(x, np.repeat(["a", "b", "c"], 100))
    assert list(sim.index) == ["a", "b", "c"]
    np.testing.assert_allclose(sim.to_numpy(), sim.to_numpy().T)
    diag, off = np.diag(sim.to_numpy()), sim.to_numpy()[~np.eye(3, dtype=bool)]
    assert diag.min() > 0.5 > 0.1 > np.abs(off).max()


# --------------------------------------------------------------------------- analysis


def _synthetic_meta(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    temp = rng.uniform(-40, 0, n)
    size = 10 ** rng.uniform(1.3, 3.0, n)
    # planted: concentration falls with temperature (diversity rises)
    kap = np.interp(temp, [-40, 0], [120.0, 20.0])
    x = np.stack([sample_vmf(32, k, 1, seed=i)[0] for i, k in enumerate(kap)])
    meta = pd.DataFrame({"temperature_c": temp, "dmax_um": size,
                         "campaign": rng.choice(["A", "B"], n),
                         "habit19": rng.choice(["Column", "Plate", "Small"], n)})
    return x, meta


def test_analysis_with_metadata_recovers_temperature_trend():
    x, meta = _synthetic_meta()
    rep = D.analyse_diversity(x, meta, n_temp_bins=4, n_size_bins=3, min_n=50, equal_n=150, n_boot=60)
    assert set(rep.by) == {"temperature", "size", "campaign", "class"}
    assert rep.label_col == "habit19"
    assert rep.slopes["temperature"].sign == -1  # kappa falls as it gets warmer
    v = T.verdicts(rep)
    assert len(v) == 3 and "agrees with the paper" in v[0]
    res = rep.results()
    assert {"kappa_by_temperature", "kappa_by_size", "kappa_by_campaign", "slopes"} <= set(res)
    assert res["kappa_by_temperature"][0]["x"] < res["kappa_by_temperature"][-1]["x"]
    assert "entropy" in rep.table("temperature").columns
    json.dumps(res)  # JSON-ready


def test_analysis_runs_without_any_metadata():
    x = sample_vmf(16, 20.0, 300, seed=0)
    rep = D.analyse_diversity(x, None, min_n=30, n_boot=20)
    assert list(rep.by) == ["all"] and rep.label_col is None and T.verdicts(rep) == []
    assert set(rep.skipped) == {"kappa vs temperature", "kappa vs particle size", "kappa per campaign",
                                "kappa per class"}
    assert "no temperature_c" in rep.skipped["kappa vs temperature"] and rep.notes == []
    assert np.isfinite(rep.by["all"].table["kappa"].iloc[0])


def test_analysis_with_labels_only_gives_per_class_kappa():
    x = sample_vmf(16, 20.0, 300, seed=0)
    meta = pd.DataFrame({"cpi": np.repeat(["column", "plate", "rare"], [150, 140, 10])})
    rep = D.analyse_diversity(x, meta, min_n=30, n_boot=20)
    assert list(rep.by) == ["class"]
    t = rep.table("class").set_index("group")
    assert np.isfinite(t.loc["column", "kappa"]) and math.isnan(t.loc["rare", "kappa"])
    # the minimum-n guard's note reaches the report; the 3 factors without metadata are skipped
    assert rep.notes == ["class: group 'rare': n=10 is below min_n=30, no kappa"]
    assert len(rep.skipped) == 3 and rep.results()["slopes"] == {}


def _binned(kappas, n=200, p=32, seed=0):
    """Embeddings whose kappa per temperature bin is ``kappas`` (bins at -40, -30, ... deg C)."""
    x = np.concatenate([sample_vmf(p, k, n, seed=seed + i) for i, k in enumerate(kappas)])
    temps = np.repeat(-40.0 + 10.0 * np.arange(len(kappas)), n) + np.random.default_rng(seed).uniform(-1, 1, n * len(kappas))
    return x, pd.DataFrame({"temperature_c": temps})


@pytest.mark.parametrize("kappas,word", [([20.0, 40.0, 80.0, 160.0], "-> fails: ours contradicts the paper"),
                                         ([160.0, 80.0, 40.0, 20.0], "-> holds: ours agrees with the paper")])
def test_trend_verdict_follows_the_measured_slope(kappas, word):
    x, meta = _binned(kappas)
    rep = D.analyse_diversity(x, meta, n_temp_bins=len(kappas), min_n=50, equal_n=150, n_boot=80)
    (v,) = T.verdicts(rep)
    assert v.startswith("Temperature (paper: diversity rises with temperature") and word in v
    assert f"{rep.slopes['temperature'].slope:+.3g}" in v


def test_trend_verdict_unresolved_without_a_trend():
    x, meta = _binned([50.0] * 4, seed=7)
    rep = D.analyse_diversity(x, meta, n_temp_bins=4, min_n=50, equal_n=150, n_boot=80)
    s = rep.slopes["temperature"]
    assert s.ci_low < 0 < s.ci_high
    assert "-> not resolved: the interval contains 0" in T.verdicts(rep)[0]


def test_sensitivity_and_similarity_sentences():
    x, meta = _binned([160.0, 80.0, 40.0, 20.0])
    y, _ = _binned([20.0, 40.0, 80.0, 160.0], seed=3)
    kw = dict(n_temp_bins=4, min_n=50, equal_n=150, n_boot=60)
    reps = {"ssl": D.analyse_diversity(x, meta, **kw), "random": D.analyse_diversity(y, meta, **kw)}
    assert "the networks differ" in T.sensitivity_verdict(reps)
    tab = T.compare_trends(reps)
    assert list(tab["temperature_verdict"]) == ["holds", "fails"]
    same = {"a": reps["ssl"], "b": reps["ssl"]}
    assert "barely moved" not in T.sensitivity_verdict(reps)
    assert "every network shows the paper's direction" in T.sensitivity_verdict(same)
    assert "differ by a median 0.00% per group" in T.sensitivity_verdict(same)
    sim = pd.DataFrame([[0.9, 0.1], [0.1, 0.8]], index=["a", "b"], columns=["a", "b"])
    s = T.similarity_verdict(sim)
    assert "within a class 0.850 vs between classes 0.100" in s and "2 of 2 classes" in s and "ours agrees)" in s
    sim.loc["b", "b"] = 0.05  # class b is closer to a than to itself
    assert "1 of 2 classes" in T.similarity_verdict(sim) and "only in part" in T.similarity_verdict(sim)


def test_entropy_sentence_from_the_bins():
    x, meta = _binned([160.0, 80.0, 40.0, 20.0])
    # label entropy rises bin by bin (1, 2, 3, 4 equally common classes) while kappa falls
    meta["cpi"] = np.concatenate([np.resize(list("abcd"[: i + 1]), 200) for i in range(4)])
    rep = D.analyse_diversity(x, meta, n_temp_bins=4, min_n=50, equal_n=150, n_boot=40)
    s = T.entropy_verdict(rep, "temperature")
    assert "Across 4 temperature bins the Spearman correlation of label entropy and kappa is -1.00" in s
    assert "the two measures agree" in s and "Inside single classes the label entropy is 0" in s
    assert T.entropy_verdict(D.analyse_diversity(x, None, min_n=50, n_boot=10)).startswith("No habit labels")


def test_pseudo_habits_are_kmeans_clusters_numbered_by_size():
    rng = np.random.default_rng(0)
    centres = np.eye(8, dtype=np.float32)[:3] * 5
    x = np.concatenate([c + 0.1 * rng.normal(size=(n, 8)) for c, n in zip(centres, (50, 120, 80))])
    lab = D.pseudo_habits(x, 3, seed=0)
    assert lab.value_counts().to_dict() == {"cluster 01": 120, "cluster 02": 80, "cluster 03": 50}
    assert lab.iloc[:50].nunique() == 1 and lab.iloc[0] == "cluster 03"
    assert D.n_pseudo_habits(2400, 8, 30) == 8 and D.n_pseudo_habits(200, 8, 30) == 3
    assert D.n_pseudo_habits(100, 8, 30) == 0  # not two clusters of 2 x min_n


def test_particle_size_from_metadata_or_the_mask(packed_factory):
    import cv2

    imgs = np.full((4, 32, 32), 230, np.uint8)
    for i, r in enumerate((3, 6, 9)):
        cv2.circle(imgs[i], (16, 16), r, 40, -1)  # image 3 stays blank
    meta = pd.DataFrame({"image_id": list("abcd"), "split": "train", "source_file": ""})
    ds = packed_factory(imgs, meta, name="px")
    size, unit, where = D.particle_size(ds, [0, 1, 2, 3])
    assert unit == "px" and "mask" in where and math.isnan(size[3])
    np.testing.assert_allclose(size[:3], [7, 13, 19], atol=1.5)  # disc diameters 2r + 1
    ds_um = packed_factory(imgs, meta.assign(pixel_um=2.0), name="um")
    size_um, unit, _ = D.particle_size(ds_um, [0, 1, 2])
    assert unit == "um" and np.allclose(size_um, 2.0 * size[:3])
    ds_d = packed_factory(imgs, meta.assign(dmax_um=[10.0, 20.0, 30.0, 40.0]), name="dm")
    d, unit, where = D.particle_size(ds_d, [1, 3], min_n=1)
    assert unit == "um" and "metadata" in where and d.tolist() == [20.0, 40.0]


def test_size_trend_in_pixels_when_given_sizes():
    x, meta = _synthetic_meta()
    px = meta["dmax_um"].to_numpy() / 2.3
    rep = D.analyse_diversity(x, meta.drop(columns="dmax_um"), size=px, size_unit="px",
                              n_temp_bins=4, n_size_bins=3, min_n=50, equal_n=150, n_boot=20)
    assert "size" in rep.by and rep.slopes["size"].units == "decade of size (px)"
    assert rep.results()["size_unit"] == "px" and "kappa vs particle size" not in rep.skipped


def test_a_single_class_is_no_label_scheme():
    meta = pd.DataFrame({"cpi": ["column"] * 5, "habit4": ["Column", "Column_aged"] * 2 + [None]})
    assert D.pick_label_scheme(meta) == "habit4"
    assert D.pick_label_scheme(meta[["cpi"]]) is None


def test_trend_strength_names_the_stronger_network_only_beyond_the_intervals():
    t = np.repeat([-30.0, -20.0, -10.0], 60)
    noise = np.random.default_rng(0).normal(size=(180, 8))
    steep = np.eye(8)[0] + (0.1 + 0.03 * (t[:, None] + 30)) * noise
    flat = np.eye(8)[0] + 0.3 * noise
    meta = pd.DataFrame({"temperature_c": t})
    kw = dict(n_temp_bins=3, min_n=20, n_boot=60)
    steep_rep, flat_rep = D.analyse_diversity(steep, meta, **kw), D.analyse_diversity(flat, meta, **kw)
    rel = steep_rep.relative_slope("temperature")
    mean_k = steep_rep.table("temperature")["kappa"].mean()
    assert rel.slope == pytest.approx(100 * steep_rep.slopes["temperature"].slope / mean_k)
    assert rel.ci_low <= rel.slope <= rel.ci_high and rel.sign == -1
    # either order of the networks: the steep one is named
    for reps in ({"steep": steep_rep, "flat": flat_rep}, {"flat": flat_rep, "steep": steep_rep}):
        assert D.trend_strength(reps, "temperature").endswith("steep shows it more strongly.")
    # the same trend twice (other resamples): no network is named
    again = D.analyse_diversity(steep, meta, **{**kw, "seed": 5})
    assert "no network shows it more strongly" in D.trend_strength({"a": steep_rep, "b": again}, "temperature")
    assert D.trend_strength({"a": steep_rep}, "temperature") == ""
