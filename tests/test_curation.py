"""Hierarchical k-means curation: chunked assignment, water-filling, balanced sampling, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icepaper.representations.curation import (
    balance_metrics,
    balanced_sample,
    max_min_ratio,
    normalized_entropy,
    water_fill,
)
from icepaper.representations.kmeans import assign, closest_per_cluster, hierarchical_kmeans


def _mixture(sizes=(3000, 800, 200, 60, 20), dim=16, seed=0):
    """Imbalanced Gaussian mixture: (x float32, component labels)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(len(sizes), dim)) * 4
    x = np.concatenate([means[i] + rng.normal(size=(s, dim)) for i, s in enumerate(sizes)])
    return x.astype(np.float32), np.repeat(np.arange(len(sizes)), sizes)


@pytest.fixture(scope="module")
def mixture_tree():
    x, y = _mixture()
    tree = hierarchical_kmeans(x, [40, 8], resampling_steps=2, seed=0, progress=False)
    return x, y, tree


def test_chunked_assignment_equals_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(503, 12)).astype(np.float32)
    c = rng.normal(size=(17, 12)).astype(np.float32)
    lab, dist = assign(x, c, chunk=64)
    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(lab, d2.argmin(1))
    np.testing.assert_allclose(dist, d2.min(1), rtol=1e-4, atol=1e-4)


def test_closest_per_cluster():
    labels = np.array([0, 0, 0, 1, 1, 2])
    dist = np.array([3.0, 1.0, 2.0, 5.0, 4.0, 9.0])
    np.testing.assert_array_equal(closest_per_cluster(labels, dist, 2), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(closest_per_cluster(labels, dist, 1), [1, 4, 5])


@pytest.mark.parametrize("n", [0, 1, 17, 100, 499, 500])
def test_water_fill_exact_and_even(n):
    sizes = np.array([300, 5, 80, 80, 1, 34])
    q = water_fill(sizes, n, np.random.default_rng(0))
    assert q.sum() == min(n, sizes.sum())
    assert np.all(q <= sizes) and np.all(q >= 0)
    unsat = q < sizes  # clusters not taken whole all get the cap (or cap + 1)
    if unsat.any():
        assert q[unsat].max() - q[unsat].min() <= 1
        assert np.all(q[~unsat] <= q[unsat].max())


def test_hierarchy_is_consistent(mixture_tree):
    x, _, tree = mixture_tree
    assert [lv.k for lv in tree.levels] == [40, 8]
    assert tree.levels[0].labels.shape == (len(x),)
    assert tree.levels[1].labels.shape == (40,)
    for level in (1, 2):
        assert tree.cluster_sizes(level).sum() == len(x)
    np.testing.assert_array_equal(tree.point_labels(2), tree.levels[1].labels[tree.levels[0].labels])


@pytest.mark.parametrize("leaf", ["random", "closest"])
def test_curation_exact_size_and_reproducible(mixture_tree, leaf):
    x, _, tree = mixture_tree
    a = balanced_sample(tree, 1234, seed=3, leaf=leaf)
    assert len(a) == 1234 and len(np.unique(a)) == 1234
    assert a.min() >= 0 and a.max() < len(x)
    np.testing.assert_array_equal(a, balanced_sample(tree, 1234, seed=3, leaf=leaf))
    tree2 = hierarchical_kmeans(x, [40, 8], resampling_steps=2, seed=0, progress=False)
    np.testing.assert_array_equal(a, balanced_sample(tree2, 1234, seed=3, leaf=leaf))
    if leaf == "random":
        assert not np.array_equal(a, balanced_sample(tree, 1234, seed=4, leaf=leaf))


def test_balanced_sampling_more_uniform_than_random(mixture_tree):
    x, y, tree = mixture_tree
    n = len(x) // 3
    cur = balanced_sample(tree, n, seed=0)
    rnd = np.random.default_rng(0).choice(len(x), n, replace=False)
    classes = np.arange(5)
    assert normalized_entropy(y[cur], classes) > normalized_entropy(y[rnd], classes) + 0.1
    assert max_min_ratio(y[cur], classes) < max_min_ratio(y[rnd], classes) / 2


def test_sample_everything_and_nothing(mixture_tree):
    x, _, tree = mixture_tree
    np.testing.assert_array_equal(balanced_sample(tree, len(x)), np.arange(len(x)))
    assert len(balanced_sample(tree, 0)) == 0
    with pytest.raises(ValueError):
        balanced_sample(tree, len(x) + 1)


def test_balance_metrics_known_values():
    assert normalized_entropy(["a", "b", "c"] * 5) == pytest.approx(1.0)
    assert max_min_ratio(["a"] * 9 + ["b"] * 3) == pytest.approx(3.0)
    assert max_min_ratio(["a"] * 9, classes=["a", "b"]) == float("inf")
    p = np.array([0.9, 0.1])
    assert normalized_entropy(["a"] * 9 + ["b"]) == pytest.approx(-(p * np.log(p)).sum() / np.log(2))
    m = balance_metrics(["a", "a", None, "b"])
    assert m["n_labelled"] == 3 and m["n_classes"] == 2


def test_bad_k_rejected():
    x = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError):
        hierarchical_kmeans(x, [2, 5], progress=False)
    with pytest.raises(ValueError):
        hierarchical_kmeans(x, [20], progress=False)


def test_curate_profile_sizes_and_cache(packed_factory, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from icepaper.core.profiles import get_profile
    from icepaper.representations.curation import curate

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    x, _ = _mixture(sizes=(300, 100, 40), dim=8)
    ds = packed_factory(np.full((len(x), 8, 8), 255, np.uint8))
    cfg = SimpleNamespace(profile=get_profile("smoke"), seed=1)
    a = curate(cfg, ds, x, embed_key="mix")
    assert a.n == round(len(x) * cfg.profile.curation["sample_frac"])
    assert [lv.k for lv in a.tree.levels] == cfg.profile.curation["k"]
    np.testing.assert_array_equal(a.pool[a.positions], a.indices)
    b = curate(cfg, ds, np.zeros_like(x), embed_key="mix")  # same key: loaded, not recomputed
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.folder == b.folder
    sub = curate(cfg, ds, x, pool=np.arange(0, len(x), 2), embed_key="mix")
    assert sub.folder != a.folder and np.isin(sub.indices, np.arange(0, len(x), 2)).all()


def test_cluster_gallery_names_the_majority_class(packed_factory, mixture_tree):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from icepaper.representations.curation import plot_cluster_samples

    x, y, tree = mixture_tree
    ds = packed_factory(np.full((len(x), 8, 8), 200, np.uint8))
    pool = np.arange(len(x))
    labels = np.array([f"class{c}" for c in y], dtype=object)
    labels[::7] = None  # missing labels are left out of the share
    fig = plot_cluster_samples(ds, tree, pool, per_cluster=3, max_clusters=4, labels=labels)
    top = tree.point_labels(len(tree.levels))
    for ax in fig.axes:
        cid, size, cls, share = ax.get_ylabel().split("\n")
        members = np.flatnonzero(top == int(cid[1:]))
        counts = pd.Series(labels[members]).dropna().value_counts()
        assert int(size) == len(members) and cls == counts.index[0]
        assert share == f"{counts.iloc[0] / counts.sum():.0%}"
    plt.close(fig)
    fig = plot_cluster_samples(ds, tree, pool, per_cluster=3, max_clusters=4)  # unlabelled: id and size
    assert all(len(ax.get_ylabel().split("\n")) == 2 for ax in fig.axes)
    plt.close(fig)
