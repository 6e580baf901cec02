"""Data curation by hierarchical k-means and balanced hierarchical sampling (Vo et al. 2024).

Ko et al. 2025 curates CPI-3M to CPI-H-1M in the latent space of a first SSL model so that the
habits are more evenly represented. Our own implementation of the method described in
Vo et al. (2024), "Automatic data curation for self-supervised learning" (docs/science.md
§6); faiss does every k-means.

``hierarchical_kmeans(x, k=[k1, k2, ...])``
    The clustering (``representations.kmeans``).
``balanced_sample(tree, n)``
    Water-filling at the top level: the integer cap x with sum_i min(x, size_i) <= n is the
    largest such x; clusters larger than x get x points, the remainder (fewer than the
    number of capped clusters) goes one point each to randomly chosen capped clusters. The
    quota of every cluster is split among its children the same way, down to level 1, where
    random points (or the points closest to the centroid) are taken. Exactly ``n`` points,
    reproducible from the seed.
``balance_metrics(labels)``
    normalised entropy H(p) / log K of a class distribution (1 = uniform) and the ratio of
    the largest to the smallest class count.

``curate(cfg, ds, embeddings)`` runs both with the profile's sizes on the default pretraining
set (no ``test`` image, nothing of the unseen campaign) and caches the result;
Ko et al. 2025's pipeline around it (the notebook-03 network's latent space, the runs on the curated
subset) is ``papers.ko2025.ko2025_runs``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .kmeans import HierarchicalKMeans, hierarchical_kmeans, resolve_gpu  # noqa: F401  (re-exported)

# --------------------------------------------------------------------------- balanced sampling


def water_fill(sizes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Integer quotas q_i <= size_i with sum q_i = min(n, sum sizes), as even as possible.

    q_i = min(x, size_i) for the largest integer cap x with sum_i min(x, size_i) <= n; the
    remainder goes one each to randomly chosen clusters with size_i > x.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if n >= sizes.sum():
        return sizes.copy()
    lo, hi = 0, int(sizes.max())  # sum(min(lo)) <= n < sum(min(hi))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if np.minimum(sizes, mid).sum() <= n:
            lo = mid
        else:
            hi = mid
    q = np.minimum(sizes, lo)
    rem = int(n - q.sum())
    if rem:
        capped = np.flatnonzero(sizes > lo)
        q[rng.choice(capped, size=rem, replace=False)] += 1
    return q


def balanced_sample(
    tree: HierarchicalKMeans,
    n: int,
    *,
    seed: int = 0,
    leaf: str = "random",
) -> np.ndarray:
    """Exactly ``n`` point indices (sorted) drawn by balanced hierarchical sampling of ``tree``.

    ``leaf``: "random" (uniform inside a level-1 cluster) or "closest" (closest to its centroid).
    """
    if not 0 <= n <= tree.n_points:
        raise ValueError(f"cannot sample {n} of {tree.n_points} points")
    if leaf not in ("random", "closest"):
        raise ValueError(f"leaf must be 'random' or 'closest', got {leaf!r}")
    rng = np.random.default_rng(seed)
    top = len(tree.levels)
    quota = water_fill(tree.cluster_sizes(top), n, rng)
    for t in range(top - 1, 0, -1):  # split each level-(t+1) quota among its level-t children
        sizes = tree.cluster_sizes(t)
        parent = tree.levels[t].labels  # level-(t+1) cluster of each level-t cluster
        child_q = np.zeros(len(sizes), dtype=np.int64)
        for c in np.flatnonzero(quota):
            kids = np.flatnonzero(parent == c)
            child_q[kids] = water_fill(sizes[kids], int(quota[c]), rng)
        quota = child_q
    lab = tree.levels[0].labels
    order = np.argsort(lab, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(lab, minlength=len(quota)))]
    picked = []
    for c in np.flatnonzero(quota):
        members = order[bounds[c]:bounds[c + 1]]
        q = int(quota[c])
        if leaf == "random":
            picked.append(rng.choice(members, size=q, replace=False))
        else:
            picked.append(members[np.argsort(tree.levels[0].dist[members], kind="stable")[:q]])
    out = np.sort(np.concatenate(picked)) if picked else np.empty(0, dtype=np.int64)
    assert len(out) == n, (len(out), n)
    return out


# --------------------------------------------------------------------------- balance metrics


def _counts(labels, classes: Sequence | None = None) -> pd.Series:
    s = pd.Series(np.asarray(labels, dtype=object)).dropna()
    c = s.value_counts()
    if classes is not None:
        c = c.reindex(list(classes), fill_value=0)
    return c


def normalized_entropy(labels, classes: Sequence | None = None) -> float:
    """Shannon entropy of the class distribution of ``labels`` divided by log K (1 = uniform).

    K = number of ``classes`` (default: the classes present); missing labels are ignored.
    """
    c = _counts(labels, classes).to_numpy(dtype=float)
    if len(c) < 2 or c.sum() == 0:
        return float("nan")
    p = c[c > 0] / c.sum()
    return float(-(p * np.log(p)).sum() / math.log(len(c)))


def max_min_ratio(labels, classes: Sequence | None = None) -> float:
    """Largest class count / smallest class count (inf when one of ``classes`` is absent)."""
    c = _counts(labels, classes).to_numpy(dtype=float)
    if len(c) == 0:
        return float("nan")
    return float(c.max() / c.min()) if c.min() > 0 else float("inf")


def balance_metrics(labels, classes: Sequence | None = None) -> dict[str, float]:
    """n labelled, normalised entropy and max/min class ratio of ``labels``."""
    c = _counts(labels, classes)
    return {"n_labelled": int(c.sum()), "n_classes": int((c > 0).sum()),
            "entropy_norm": normalized_entropy(labels, classes),
            "max_min_ratio": max_min_ratio(labels, classes)}


# --------------------------------------------------------------------------- the notebooks' pipeline


@dataclass
class Curation:
    """A curated subset: ``indices`` into the dataset, drawn from the ``pool`` that was clustered."""

    indices: np.ndarray
    pool: np.ndarray
    tree: HierarchicalKMeans
    folder: Path

    @property
    def n(self) -> int:
        return len(self.indices)

    @property
    def positions(self) -> np.ndarray:
        """Positions of the curated images within ``pool`` (the rows of the clustered points)."""
        return np.flatnonzero(np.isin(self.pool, self.indices))


def curate(cfg, ds, embeddings: np.ndarray, pool: np.ndarray | None = None,
           embed_key: str = "", n_target: int | None = None) -> Curation:
    """Hierarchical k-means of ``embeddings[pool]`` and a balanced sample of about
    ``curation.sample_frac`` of the pool (profile sizes), cached by configuration.

    ``embeddings``: (len(ds), D), e.g. the float16 memory map of ``embeddings_for`` (read in
    chunks, never copied whole); on a CUDA device (``cfg.device``) faiss runs on the GPU when it
    has GPU support (:func:`~icepaper.representations.kmeans.resolve_gpu`);
    ``pool``: dataset rows to curate, by default the default
    pretraining set (``icepaper.data.splits.pretrain_indices``: no ``test`` image, nothing of
    notebook 06's unseen campaign), so the curated subset is drawn from the images the full
    run trained on and never from the final probe's test images;
    ``embed_key``: identity of the embeddings for the cache key (e.g. the backbone hash).
    """
    from icepaper.core.cache import cached_dir

    p = cfg.profile.curation
    if pool is None:
        from icepaper.data.splits import pretrain_indices

        pool = pretrain_indices(ds)
    pool = np.asarray(pool, dtype=np.int64)
    n_target = int(round(len(pool) * float(p["sample_frac"]))) if n_target is None else int(n_target)
    k = [min(int(a), max(1, len(pool) // 4)) for a in p["k"][: int(p["levels"])]]
    gpu = resolve_gpu(str(getattr(cfg, "device", "cpu")).startswith("cuda"))
    key = {"dataset": ds.fingerprint, "embeddings": embed_key or "unkeyed", "pool": _hash_ints(pool),
           "k": k, "r": p["resampling_steps"], "s": p["samples_per_cluster"],
           "n": n_target, "seed": cfg.seed, "leaf": p["leaf"], "version": 1}
    if gpu:  # GPU k-means rounds differently; CPU runs keep their earlier keys
        key["kmeans"] = "gpu"

    def build(tmp: Path) -> None:
        tree = hierarchical_kmeans(embeddings, k, rows=pool, resampling_steps=p["resampling_steps"],
                                   samples_per_cluster=p["samples_per_cluster"], seed=cfg.seed, gpu=gpu)
        sel = balanced_sample(tree, n_target, seed=cfg.seed, leaf=p["leaf"])
        tree.save(tmp)
        np.save(tmp / "pool.npy", pool)
        np.save(tmp / "indices.npy", pool[sel])

    folder = cached_dir("curation", key, build)
    return Curation(np.load(folder / "indices.npy"), np.load(folder / "pool.npy"),
                    HierarchicalKMeans.load(folder), folder)


def _hash_ints(a: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.int64).tobytes()).hexdigest()[:16]


# --------------------------------------------------------------------------- tables and figures


def balance_table(labels, subsets: dict[str, np.ndarray], classes: Sequence | None = None) -> pd.DataFrame:
    """Balance metrics of the class distribution of ``labels`` restricted to each named subset."""
    labels = np.asarray(labels, dtype=object)
    classes = list(pd.Series(labels).dropna().unique()) if classes is None else list(classes)
    rows = {name: {"images": len(idx), **balance_metrics(labels[idx], classes)} for name, idx in subsets.items()}
    return pd.DataFrame(rows).T[["images", "n_labelled", "n_classes", "entropy_norm", "max_min_ratio"]]


def balance_verdict(labels, pool: np.ndarray, curated: np.ndarray, classes: Sequence | None = None,
                    n_random: int = 200, seed: int = 0):
    """Is the curated subset flatter than random subsets of the same size from the same pool?

    Compares the normalised class entropy of ``labels[curated]`` with that of ``n_random``
    uniform random subsets of ``pool`` of the same size: the verdict (``core.verdicts``) is on
    d = H(curated) - H(random), with the 2.5-97.5 % range of d over the random draws as the
    interval; "holds" when the curated subset is flatter than 97.5 % of random subsets, "fails"
    when it is less flat than 97.5 % of them, "not resolved" otherwise.

    >>> labels = np.array(["a"] * 90 + ["b"] * 10)
    >>> flat = np.r_[np.arange(10), np.arange(90, 100)]  # 10 a + 10 b: perfectly balanced
    >>> balance_verdict(labels, np.arange(100), flat, seed=0).state
    'holds'
    >>> even = np.array(["a", "b"] * 50)
    >>> balance_verdict(even, np.arange(100), np.arange(0, 100, 2), seed=0).state  # all 'a': less flat
    'fails'
    """
    from icepaper.core.verdicts import from_interval

    labels = np.asarray(labels, dtype=object)
    pool, curated = np.asarray(pool, dtype=np.int64), np.asarray(curated, dtype=np.int64)
    classes = list(pd.Series(labels[pool]).dropna().unique()) if classes is None else list(classes)
    h_cur = normalized_entropy(labels[curated], classes)
    rng = np.random.default_rng(seed + 104729)
    h_rand = np.array([normalized_entropy(labels[rng.choice(pool, size=len(curated), replace=False)], classes)
                       for _ in range(int(n_random))])
    d = h_cur - h_rand
    return from_interval(float(np.mean(d)), float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975)), ">",
                         method=f"{n_random} random subsets of the same size")


def class_shares(labels, pool: np.ndarray, subset: np.ndarray) -> pd.DataFrame:
    """Per class (rows, most frequent in ``pool`` first): images in ``pool`` and in ``subset``,
    ``kept`` = the fraction of the class's pool images that the subset keeps, and
    ``share_pool`` / ``share_subset`` = the class's fraction of all labelled images in each.
    A class *gains share* when ``kept`` exceeds the subset's overall fraction of the pool.

    >>> labels = np.array(["a"] * 80 + ["b"] * 20)
    >>> class_shares(labels, np.arange(100), np.r_[np.arange(20), np.arange(80, 90)])["kept"].tolist()
    [0.25, 0.5]
    """
    labels = np.asarray(labels, dtype=object)
    in_pool = pd.Series(labels[np.asarray(pool, dtype=np.int64)]).dropna().value_counts()
    in_sub = pd.Series(labels[np.asarray(subset, dtype=np.int64)]).dropna().value_counts()
    in_sub = in_sub.reindex(in_pool.index, fill_value=0)
    return pd.DataFrame({"pool": in_pool, "subset": in_sub, "kept": in_sub / in_pool,
                         "share_pool": in_pool / in_pool.sum(),
                         "share_subset": in_sub / max(int(in_sub.sum()), 1)})


def describe_shares(shares: pd.DataFrame, subset: str = "curated subset", pool: str = "pretraining set") -> str:
    """One paragraph generated from :func:`class_shares`: which classes gain and which lose
    share in ``subset``, and how the rarest third of the classes fares, so the text cannot
    contradict the numbers (curation does not promise that every rare class keeps its images).

    >>> labels = np.array(["a"] * 80 + ["b"] * 15 + ["c"] * 5)
    >>> print(describe_shares(class_shares(labels, np.arange(100), np.r_[np.arange(10), 80, 81, 95, 96, 97, 98])))
    The curated subset keeps 16% of the pretraining set's labelled images overall. Classes that gain share (keep more than that): c (80%). Classes that lose share: a (12%), b (13%). Rarest third of the classes (c): 1 gain share, 0 lose share.
    """
    if shares.empty:
        return f"The {pool} has no labelled image: no class shares to compare."
    overall = shares["subset"].sum() / shares["pool"].sum()
    gain = shares[shares["kept"] > overall].sort_values("kept", ascending=False)
    lose = shares[shares["kept"] < overall].sort_values("kept")

    def listed(t):
        return ", ".join(f"{c} ({k:.0%})" for c, k in t["kept"].items()) or "none"

    rare = shares.sort_values("pool").index[:max(1, len(shares) // 3)]
    return (f"The {subset} keeps {overall:.0%} of the {pool}'s labelled images overall. "
            f"Classes that gain share (keep more than that): {listed(gain)}. "
            f"Classes that lose share: {listed(lose)}. "
            f"Rarest third of the classes ({', '.join(map(str, rare))}): {int(gain.index.isin(rare).sum())} gain share, "
            f"{int(lose.index.isin(rare).sum())} lose share.")


def random_subset(n_pool: int, n: int, seed: int = 0) -> np.ndarray:
    """``n`` sorted positions drawn uniformly without replacement from ``range(n_pool)``."""
    return np.sort(np.random.default_rng(seed + 7919).choice(n_pool, size=n, replace=False))


def plot_class_distribution(labels, subsets: dict[str, np.ndarray], ax=None):
    """Grouped bars (log scale): images per class in each named subset, classes by full-set frequency."""
    import matplotlib.pyplot as plt

    labels = pd.Series(np.asarray(labels, dtype=object))
    order = labels.value_counts().index
    counts = pd.DataFrame({name: labels.iloc[idx].value_counts().reindex(order, fill_value=0)
                           for name, idx in subsets.items()})
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(order) + 2), 3.2))
    counts.replace(0, np.nan).plot.bar(ax=ax, logy=True, width=0.8)
    ax.set_ylabel("images (log scale)")
    ax.set_xlabel("")
    ax.tick_params(axis="x", labelrotation=60)
    ax.legend(frameon=False, fontsize=8)
    return ax.figure


def plot_cluster_sizes(tree: HierarchicalKMeans, subset: np.ndarray | None = None):
    """Cluster sizes (points per cluster, sorted, log scale) at every level; with ``subset``
    (positions into the clustered points) the sizes after curation are drawn beside them."""
    import matplotlib.pyplot as plt

    n = len(tree.levels)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 2.8), squeeze=False)
    for t, ax in enumerate(axes[0], start=1):
        sizes = tree.cluster_sizes(t)
        order = np.argsort(-sizes)
        ax.plot(sizes[order], ".-", ms=3, lw=1, label="clustered pool")
        if subset is not None:
            sub = np.bincount(tree.point_labels(t)[subset], minlength=len(sizes))
            ax.plot(sub[order], ".-", ms=3, lw=1, label="curated")
        ax.set_yscale("log")
        ax.set_title(f"level {t}: {len(sizes)} clusters")
        ax.set_xlabel("cluster (by size)")
        ax.set_ylabel("images")
    axes[0, 0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_cluster_samples(ds, tree: HierarchicalKMeans, pool: np.ndarray, per_cluster: int = 8,
                         max_clusters: int = 30, seed: int = 0, labels=None):
    """One row of random images per top-level cluster (largest clusters first), labelled with the
    cluster id and size; with ``labels`` (one per dataset row, missing allowed) also the
    cluster's most common class and its share of the cluster's labelled images."""
    import matplotlib.pyplot as plt

    from icepaper.data.plots import montage

    top = len(tree.levels)
    lab = tree.point_labels(top)
    sizes = np.bincount(lab, minlength=tree.levels[-1].k)
    clusters = [c for c in np.argsort(-sizes) if sizes[c] > 0][:max_clusters]
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(clusters), 1, figsize=(0.8 * per_cluster + 1.5, 0.85 * len(clusters) + 0.3),
                             squeeze=False)
    for ax, c in zip(axes[:, 0], clusters):
        members = np.flatnonzero(lab == c)
        pick = np.sort(rng.choice(members, size=min(per_cluster, len(members)), replace=False))
        ax.imshow(montage(ds.batch(pool[pick]), per_cluster), cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        text = f"#{c}\n{sizes[c]}"
        if labels is not None:
            lab_c = pd.Series(np.asarray(labels, dtype=object)[pool[members]]).dropna().value_counts()
            if len(lab_c):
                text += f"\n{lab_c.index[0]}\n{lab_c.iloc[0] / lab_c.sum():.0%}"
        ax.set_ylabel(text, rotation=0, ha="right", va="center", fontsize=7)
    fig.tight_layout(h_pad=0.2)
    return fig
