"""Label-free representation health (icepaper.ssl.health): known answers, thresholds at their
boundary, and the notebook-03 / 04 / 07 entry points on tiny random-init backbones."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from icepaper.ssl import health as H


def _unit(z):
    return z / np.linalg.norm(z, axis=1, keepdims=True)


# -- metrics against known answers -------------------------------------------------------------
def test_rankme_full_rank_and_rank_one():
    assert H.rankme(np.eye(16)) == pytest.approx(16, rel=1e-4)  # equal singular values: exactly d
    assert H.rankme(3.0 * np.eye(8)[:, :5]) == pytest.approx(5, rel=1e-4)  # min(n, d), scale-free
    rng = np.random.default_rng(0)
    assert 0.9 * 16 < H.rankme(rng.normal(size=(4000, 16))) <= 16
    assert H.rankme(np.outer(rng.normal(size=200), rng.normal(size=32))) == pytest.approx(1, abs=1e-2)
    assert H.rankme(np.zeros((5, 3))) == 1.0
    low = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 64))  # rank 3 in 64 dimensions
    assert 2.0 < H.rankme(low) <= 3.0 + 1e-3


def test_dim_std_collapsed_and_isotropic():
    assert H.dim_std(np.tile([1.0, 2.0, 3.0], (10, 1))) == 0.0
    d = 64
    rng = np.random.default_rng(1)
    assert H.dim_std(rng.normal(size=(5000, d))) == pytest.approx(1 / math.sqrt(d), rel=0.02)
    assert H.dim_std(5 * rng.normal(size=(50, d))) == pytest.approx(H.dim_std(rng.normal(size=(50, d))), rel=0.1)


def test_alignment_known_values():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(20, 8))
    assert H.alignment(z, z) == 0.0
    assert H.alignment(z, 3 * z) == pytest.approx(0.0, abs=1e-12)  # on normalised embeddings
    assert H.alignment(z, -z) == pytest.approx(4.0)  # antipodal: |u - (-u)|^2 = 4
    assert H.alignment(z, -z, alpha=1) == pytest.approx(2.0)
    e = np.eye(2)
    assert H.alignment(e, e[::-1]) == pytest.approx(2.0)  # orthogonal: |u - v|^2 = 2
    with pytest.raises(ValueError, match="differ in shape"):
        H.alignment(z, z[:5])


def test_uniformity_known_values():
    assert H.uniformity(np.ones((6, 4))) == 0.0  # all points coincide
    rng = np.random.default_rng(3)
    z = rng.normal(size=(40, 5))
    u = _unit(z)
    i, j = np.triu_indices(len(u), 1)
    brute = math.log(np.mean(np.exp(-2 * ((u[i] - u[j]) ** 2).sum(1))))
    assert H.uniformity(z) == pytest.approx(brute, rel=1e-9)
    assert H.uniformity(z) < 0
    assert H.uniformity(rng.normal(size=(400, 256))) == pytest.approx(-4.0, abs=0.05)  # |u-v|^2 ~ 2
    assert H.uniformity(np.eye(2), t=1) == pytest.approx(-2.0)
    with pytest.raises(ValueError):
        H.uniformity(np.ones((1, 3)))


# -- the verdict and its thresholds -------------------------------------------------------------
def test_health_verdicts():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(256, 32))
    h = H.health(z, views=(z, z + 0.1 * rng.normal(size=z.shape)))
    assert not h["collapsed"] and h["rank_max"] == 32 and (h["n"], h["d"]) == (256, 32)
    assert 0 < h["alignment"] < 0.1 and h["uniformity"] < -3
    assert h["dim_std_isotropic"] == pytest.approx(1 / math.sqrt(32))
    assert math.isnan(H.health(z)["alignment"])
    point = H.health(np.ones((50, 32)) + 1e-9 * rng.normal(size=(50, 32)))
    assert point["collapsed"] and "RankMe" in point["why"] and "dim std" in point["why"]
    assert point["uniformity"] == pytest.approx(0.0, abs=1e-9)
    cone = H.health(np.ones(128) + 0.05 * rng.normal(size=(500, 128)))  # full rank, narrow cone
    assert cone["collapsed"] and "dim std" in cone["why"] and "RankMe" not in cone["why"]
    low = H.health(rng.normal(size=(500, 1)) @ rng.normal(size=(1, 32)))  # one direction, spread along it
    assert low["collapsed"] and "RankMe" in low["why"] and "dim std" not in low["why"]


def test_thresholds_at_the_boundary():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(64, 16))
    h = H.health(z)
    r, s = h["rankme"], h["dim_std"] * math.sqrt(16)
    assert H.health(z, rank_min=r * (1 + 1e-9))["collapsed"]  # strictly below the limit: collapsed
    assert not H.health(z, rank_min=r * (1 - 1e-9))["collapsed"]
    assert H.health(z, rank_frac=r / 16 * (1 + 1e-9), rank_min=0)["collapsed"]
    assert not H.health(z, rank_frac=r / 16 * (1 - 1e-9), rank_min=0)["collapsed"]
    assert H.health(z, std_frac=s * (1 + 1e-9))["collapsed"]
    assert not H.health(z, std_frac=s * (1 - 1e-9))["collapsed"]
    # the default RankMe limit: 2, or 1 % of min(n, d) when that is larger
    two = np.zeros((10, 400))
    two[:5, 0], two[5:, 1] = 1.0, 1.0  # two equal singular values: RankMe just above 2
    assert 2.0 < H.rankme(two) < 2.01 and not H.health(two, std_frac=0)["collapsed"]
    unequal = two.copy()
    unequal[5:, 1] = 0.5  # two unequal singular values: RankMe < 2
    assert H.rankme(unequal) < 2.0 and H.health(unequal, std_frac=0)["collapsed"]
    big = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 400))  # RankMe ~3 < 1 % of 400 = 4
    assert 2.0 < H.rankme(big) < 4.0 and H.health(big, std_frac=0)["collapsed"]
    assert not H.health(big[:, :100], std_frac=0)["collapsed"]  # the same 3 directions in 100-D: limit 2


def test_health_line_and_table_and_figure():
    rng = np.random.default_rng(6)
    ok, bad = H.health(rng.normal(size=(40, 8))), H.health(np.ones((40, 8)))
    assert H.health_line("net", ok).startswith("net: RankMe") and "-> healthy" in H.health_line("net", ok)
    assert "-> collapsed" in H.health_line("net", bad)
    res = {"a": {"random_init": ok, "trained": bad}, "b": {"random_init": ok, "trained": ok}}
    line = H.run_line("a", res["a"])
    assert line.startswith("a: RankMe 1.0") and "-> collapsed" in line and line.endswith("in training)")
    assert f"RankMe at random init {ok['rankme']:.1f} (fell" in line
    table = H.health_table(res, labels={"a": "A"})
    assert list(table.index) == [("A", "random init"), ("A", "trained"), ("b", "random init"), ("b", "trained")]
    assert table.loc[("A", "trained"), "verdict"] == "collapsed"
    assert table.loc[("b", "trained"), "dim std x sqrt(d)"] == pytest.approx(ok["dim_std"] * math.sqrt(8), abs=1e-3)
    import matplotlib

    matplotlib.use("Agg")
    fig = H.health_figure(res)
    assert len(fig.axes) == 4


def test_check_features_warns_and_records(capsys):
    rec = {}
    cfg = SimpleNamespace(seed=0, record=lambda **k: rec.update(k))
    h = H.check_features(cfg, np.ones((3000, 16), dtype=np.float16), "feats")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("WARNING: collapsed features") and "feats:" in out[0]
    assert h["collapsed"] and h["n"] == 2048 and rec["features_collapsed"] is True
    H.check_features(cfg, np.random.default_rng(0).normal(size=(100, 16)), "feats")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and not out[0].startswith("WARNING") and rec["features_collapsed"] is False


# -- pretraining runs: notebook 03's entry point on tiny random-init backbones --------------------
def _shapes_ds(packed_factory, n=40, size=24):
    import pandas as pd

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] - size / 2
    imgs = []
    for i in range(n):
        r = rng.uniform(3, 8)
        m = (xx**2 + yy**2 < r**2) if i % 2 else ((np.abs(xx) < r) & (np.abs(yy) < 1.5))
        imgs.append(np.clip(np.where(m, 40, 230) + rng.normal(0, 5, m.shape), 0, 255).astype(np.uint8))
    meta = pd.DataFrame({"image_id": [f"s{i:04d}" for i in range(n)],
                         "split": ["train" if i % 4 else "val" for i in range(n)], "source_file": ""})
    return packed_factory(np.stack(imgs), meta, name="shapes")


def test_runs_health_on_random_init_backbones(packed_factory, tmp_path, monkeypatch):
    from icepaper.core.config import setup
    from icepaper.ssl import heldout, pretrain

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    ds = _shapes_ds(packed_factory)
    cfg = setup("03_pretraining", profile="smoke", out=str(tmp_path / "out"))
    rows = H.health_rows(ds, 16, seed=0)
    assert len(rows) == 16 and np.all(np.diff(rows) > 0)
    assert np.isin(rows, ds.indices("train")).all() and np.isin(rows, pretrain.default_indices(ds)).all()
    assert np.array_equal(rows, H.health_rows(ds, 16, seed=0))
    v0, v1 = heldout.two_views(cfg, ds, "moco", rows)
    r0, r1 = heldout.two_views(cfg, ds, "moco", rows[::-1])  # views follow the order of the rows
    assert len(v0) == 16 and np.array_equal(r0.numpy(), v0.numpy()[::-1]) and not np.array_equal(v0, v1)

    def fake_run(method):  # a "trained" network that is its random initialisation
        arch = "vit" if method.startswith("ibot") else "resnet"
        return SimpleNamespace(method=method, load_backbone=lambda device="cpu": pretrain.random_backbone(cfg, arch))

    runs = {m: fake_run(m) for m in ("ibot_vmf", "ibot", "moco")}
    res = H.runs_health(cfg, ds, runs, n_images=16)
    assert set(res) == set(runs)
    for name, pair in res.items():
        for which in ("random_init", "trained"):
            h = pair[which]
            assert h["n"] == 16 and h["rank_max"] == min(16, h["d"]), name
            assert 1.0 <= h["rankme"] <= h["rank_max"] and 0.0 <= h["alignment"] <= 4.0, name
            assert h["uniformity"] <= 0 and isinstance(h["collapsed"], bool), name
        assert pair["trained"] == pytest.approx(pair["random_init"]), name  # same weights, same crops
    assert res["ibot_vmf"]["random_init"] is res["ibot"]["random_init"]  # one reference per architecture
    assert res["ibot_vmf"]["trained"]["d"] == cfg.profile.pretrain["vit_embed_dim"]


# -- notebook 05: label-free health beside the probes (icepaper.representations.health_probes) ---
def _probe_run(y, n_wrong, rng):
    """A probe result that misclassifies ``n_wrong`` random test images of ``y`` (both probes)."""
    p = y.copy()
    p[rng.choice(len(y), n_wrong, replace=False)] = "wrong"
    acc = 100.0 * np.mean(p == y)
    return SimpleNamespace(knn=acc, logreg=acc, y_test=y, knn_pred=p, logreg_pred=p.copy())


def test_rankme_spread_is_the_sd_of_rankme_over_resampled_rows():
    from icepaper.representations import health_probes as HP

    rng = np.random.default_rng(9)
    z = rng.normal(size=(120, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    # the same resamples, scored with a fresh SVD of the resampled rows
    draws = np.random.default_rng(3)
    direct = [H.rankme(z[draws.integers(0, len(z), len(z))]) for _ in range(15)]
    assert HP.rankme_spread(z, n_boot=15, seed=3) == pytest.approx(np.std(direct, ddof=1), rel=1e-6)
    assert HP.rankme_spread(z, n_boot=1) == 0.0
    big = HP.rankme_spread(z[:30], n_boot=40)  # fewer images: a noisier RankMe
    assert big > HP.rankme_spread(np.tile(z, (10, 1)), n_boot=40)


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    from icepaper.representations import health_probes as HP

    rng = np.random.default_rng(7)
    for _ in range(20):
        x, y = rng.integers(0, 4, 6).astype(float), rng.normal(size=6)
        want = spearmanr(x, y).statistic
        got = HP.spearman(x, y)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-12)
    assert math.isnan(HP.spearman([1, 1, 1], [1, 2, 3]))  # constant RankMe: undefined, not 0
    x, ys = rng.normal(size=5), rng.integers(0, 3, (30, 5)).astype(float)  # the bootstrap's vectorised form
    ys[0] = 1.0
    rows = HP._spearman_rows(x, ys)
    assert math.isnan(rows[0]) and np.allclose(rows[1:], [HP.spearman(x, y) for y in ys[1:]], equal_nan=True)
    with pytest.raises(ValueError):
        HP.spearman([1, 2, 3], [1, 2])


def test_health_vs_probes_rank_agreement_and_sentence():
    from icepaper.representations import health_probes as HP

    rng = np.random.default_rng(8)
    n, d = 400, 32
    y = np.array(list("abcd") * (n // 4))
    # RankMe falls with the number of directions used; accuracy falls with the errors planted
    emb = {f"r{k}": rng.normal(size=(n, k)) @ rng.normal(size=(k, d)) for k in (32, 16, 8, 2)}
    res = {name: _probe_run(y, w, rng) for name, w in zip(emb, (40, 80, 160, 240))}
    res["not run"] = None
    t = HP.health_vs_probes({**emb, "not run": emb["r2"]}, res)
    assert list(t.index) == ["r32", "r16", "r8", "r2"]
    assert t.loc["r8", "RankMe"] == pytest.approx(H.rankme(emb["r8"]), abs=0.01)
    assert t.loc["r32", "dim std x sqrt(d)"] == pytest.approx(H.dim_std(emb["r32"]) * math.sqrt(d), abs=1e-3)
    assert (t["n"] == n).all() and (t["d"] == d).all() and t["RankMe"].is_monotonic_decreasing
    agree = HP.rank_agreement(t, res, n_boot=300)
    for probe in ("knn", "logreg"):
        a = agree[probe]
        assert a["rho"] == 1.0 and a["n_networks"] == 4 and a["swap_step"] == pytest.approx(0.2)
        assert a["interval"] == [1.0, 1.0]  # 10 vs 20 vs 40 vs 60 % errors on 400 images: resolved
    flipped = t.assign(**{"kNN %": t["kNN %"].to_numpy()[::-1]})  # accuracy rises as RankMe falls
    assert HP.rank_agreement(flipped, res, n_boot=50)["knn"]["rho"] == -1.0
    # two runs whose accuracies differ by 1 image in 400: the ordering is test-set noise
    close = dict(res, r16=_probe_run(y, 79, rng), r32=_probe_run(y, 80, rng))
    tc = HP.health_vs_probes(emb, close)
    a = HP.rank_agreement(tc, close, n_boot=300)["logreg"]
    assert a["rho"] == pytest.approx(0.8)  # r16 one image above r32: one swapped pair, 1 - 0.2
    assert a["interval"][0] <= 0.8 and a["interval"][1] == 1.0  # resamples put either one first
    other = dict(res, r8=SimpleNamespace(**{**vars(res["r8"]), "y_test": y[::-1]}))  # other test images
    assert HP.rank_agreement(t, other, n_boot=50)["knn"]["interval"] is None
    s = HP.agreement_sentence(t, agree)
    assert "over 4 networks" in s and "kNN rho = +1.00" in s and "[+1.00, +1.00]" in s
    assert "Ordered by RankMe: r32 > r16 > r8 > r2" in s and "moves rho by 0.2" in s and "weak evidence" in s
    assert "every neighbouring pair is more than 2 SD apart" in s  # 32 vs 16 vs 8 vs 2 directions
    assert "at least 3 networks; 2 here" in HP.agreement_sentence(t.iloc[:2], agree)
    # four networks with the same embeddings up to noise: RankMe cannot order them, and says so
    base = rng.normal(size=(n, d))
    same = {f"s{i}": base + 1e-3 * rng.normal(size=(n, d)) for i in range(4)}
    ts = HP.health_vs_probes(same, {k: r for k, r in zip(same, res.values())})
    assert "RankMe does not tell these networks apart" in HP.agreement_sentence(ts, agree)
    rec = HP.summary(t, agree)
    assert rec["spearman"]["knn"] == {"rho": 1.0, "interval": [1.0, 1.0], "n_networks": 4}
    assert set(rec["networks"]) == set(t.index) and rec["n_images"] == n and rec["d"] == d
    import matplotlib

    matplotlib.use("Agg")
    fig = HP.plot_rankme_vs_probes(t)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.containers) == 2 * len(t)  # one error bar per network and probe
    assert [h.get_text() for h in ax.get_legend().get_texts()][:len(t)] == list(t.index)
