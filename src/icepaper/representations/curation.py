"""Data curation by hierarchical k-means and balanced hierarchical sampling (Vo et al. 2024).

Seed 000 curates CPI-3M to CPI-H-1M in the latent space of a first SSL model so that the
habits are more evenly represented. Our own implementation of the method described in
Vo et al. (2024), "Automatic data curation for self-supervised learning" (science.md
section 6); faiss does every k-means.

``hierarchical_kmeans(x, k=[k1, k2, ...])``
    Level 1 clusters the embeddings (faiss k-means, k-means++ seeding or its AFK-MC^2
    approximation for large k), then runs
    ``r`` resampling steps: take the ``s`` points of every cluster closest to its centroid,
    re-run k-means on their union (initialised from the current centroids) and reassign all
    points to the new centroids. Level t > 1 clusters the centroids of level t - 1 the same
    way. Assignments are done in chunks with a faiss flat index (nearest centroid only), so
    no N x k distance matrix is ever held in memory.
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

``curate(cfg, ds, embeddings)`` runs both with the profile's sizes and caches the result;
``latent_curation(cfg, ds)`` embeds every image with the notebook-03 network and curates;
``seed000_runs(cfg, ds)`` is the seed-000 pipeline shared by notebooks 04 and 05 (when
``retraining_unavailable(cfg, n_curated)`` has no objection): the
full from-scratch run of notebook 03, curation in its latent space, a from-scratch run on
the curated subset (same number of epochs as the full run, as in the paper), and a short
run on the curated subset from an initialisation (ImageNet weights from a local file when
given, else the notebook-03 network).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd

from icepaper.core.progress import tqdm

IMAGENET_ENV = "ICEPAPER_IMAGENET_WEIGHTS"  # path of a local ImageNet iBOT ViT-S/16 checkpoint

_INIT = {
    "kmeans++": faiss.ClusteringInitMethod_KMEANS_PLUS_PLUS,
    "afkmc2": faiss.ClusteringInitMethod_AFK_MC2,
    "random": faiss.ClusteringInitMethod_RANDOM,
}


# --------------------------------------------------------------------------- k-means building blocks


def as_float32(x: np.ndarray, normalize: bool = True, chunk: int = 65536) -> np.ndarray:
    """(N, D) float32 C-contiguous copy of ``x`` (any float dtype, memmaps too), rows L2-normalised
    when ``normalize`` (converted chunk by chunk; zero rows stay zero)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D (N, D) embedding array, got shape {x.shape}")
    if x.dtype == np.float32 and not normalize and x.flags.c_contiguous:
        return x
    out = np.empty(x.shape, dtype=np.float32)
    for a in range(0, len(x), chunk):
        b = np.asarray(x[a:a + chunk], dtype=np.float32)
        if normalize:
            b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        out[a:a + chunk] = b
    return out


def assign(x: np.ndarray, centroids: np.ndarray, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (squared L2) of every row of ``x``: (labels int64 (N,), sq. distances float32 (N,)).

    Searched ``chunk`` rows at a time with a faiss flat index, so memory stays O(chunk x k).
    """
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(centroids)
    labels = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float32)
    for a in range(0, len(x), chunk):
        d, i = index.search(np.ascontiguousarray(x[a:a + chunk], dtype=np.float32), 1)
        labels[a:a + chunk] = i[:, 0]
        dist[a:a + chunk] = d[:, 0]
    return labels, dist


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    niter: int = 10,
    seed: int = 0,
    init: str | np.ndarray = "auto",
    max_points_per_centroid: int = 256,
) -> np.ndarray:
    """Centroids (k, D) float32 of faiss k-means on ``x`` (float32 (N, D), N >= k).

    ``init``: "kmeans++" (faiss's exact D^2 seeding, sequential O(n k D)), "afkmc2" (faiss's
    AFK-MC^2, a Markov-chain approximation of k-means++ seeding, much faster for large k),
    "auto" (k-means++ when n_train k D <= 1e10, else AFK-MC^2), "random", or a (k, D) array
    of initial centroids. faiss trains on at most ``max_points_per_centroid * k`` random rows.
    ``niter`` = 10 follows Vo et al.'s configuration.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if len(x) < k:
        raise ValueError(f"k-means needs at least k={k} points, got {len(x)}")
    given = not isinstance(init, str)
    if not given and init == "auto":
        n_train = min(len(x), max_points_per_centroid * k)
        init = "kmeans++" if n_train * k * x.shape[1] <= 1e10 else "afkmc2"
    if not given and init not in _INIT:
        raise ValueError(f"unknown k-means init {init!r}; choose one of {list(_INIT) + ['auto']} or pass centroids")
    km = faiss.Kmeans(
        x.shape[1], int(k), niter=int(niter), seed=int(seed) % 2**31, verbose=False,
        max_points_per_centroid=int(max_points_per_centroid), min_points_per_centroid=1,
        init_method=_INIT["random" if given else init],
    )
    km.train(x, init_centroids=np.ascontiguousarray(init, dtype=np.float32) if given else None)
    return np.asarray(km.centroids, dtype=np.float32)


def closest_per_cluster(labels: np.ndarray, dist: np.ndarray, s: int) -> np.ndarray:
    """Row indices of the (at most) ``s`` rows of every cluster with the smallest ``dist``."""
    order = np.lexsort((dist, labels))  # by cluster, then by distance
    lab = labels[order]
    starts = np.r_[0, np.flatnonzero(np.diff(lab)) + 1]
    rank = np.arange(len(lab)) - np.repeat(starts, np.diff(np.r_[starts, len(lab)]))
    return np.sort(order[rank < s])


# --------------------------------------------------------------------------- hierarchical k-means


@dataclass
class Level:
    """One level of the hierarchy: ``centroids`` (k, D); ``labels[i]`` the cluster of item i of the
    level below (points for level 1, level-(t-1) clusters otherwise); ``dist`` its squared distance."""

    centroids: np.ndarray
    labels: np.ndarray
    dist: np.ndarray

    @property
    def k(self) -> int:
        return len(self.centroids)


@dataclass
class HierarchicalKMeans:
    """Result of :func:`hierarchical_kmeans`; ``levels[0]`` is level 1 (closest to the points)."""

    levels: list[Level]
    n_points: int
    params: dict[str, Any] = field(default_factory=dict)

    def point_labels(self, level: int) -> np.ndarray:
        """Cluster id at ``level`` (1-based) of every point, (N,) int64."""
        lab = self.levels[0].labels
        for t in range(1, level):
            lab = self.levels[t].labels[lab]
        return lab

    def cluster_sizes(self, level: int) -> np.ndarray:
        """Number of points in each cluster of ``level`` (1-based), (k_level,) int64."""
        return np.bincount(self.point_labels(level), minlength=self.levels[level - 1].k)

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        arrays = {}
        for t, lv in enumerate(self.levels, start=1):
            arrays |= {f"centroids{t}": lv.centroids, f"labels{t}": lv.labels, f"dist{t}": lv.dist}
        np.savez(folder / "hkmeans.npz", n_points=self.n_points, **arrays)

    @classmethod
    def load(cls, folder: Path) -> HierarchicalKMeans:
        z = np.load(Path(folder) / "hkmeans.npz")
        n_levels = sum(1 for f in z.files if f.startswith("centroids"))
        levels = [Level(z[f"centroids{t}"], z[f"labels{t}"], z[f"dist{t}"]) for t in range(1, n_levels + 1)]
        return cls(levels, int(z["n_points"]))


def _per_level(v: int | Sequence[int] | None, n_levels: int, name: str) -> list[int | None]:
    if v is None or isinstance(v, (int, np.integer)):
        return [None if v is None else int(v)] * n_levels
    v = list(v)
    if len(v) != n_levels:
        raise ValueError(f"{name} has {len(v)} entries but there are {n_levels} levels")
    return [int(a) for a in v]


def hierarchical_kmeans(
    x: np.ndarray,
    k: Sequence[int],
    *,
    resampling_steps: int | Sequence[int] = 1,
    samples_per_cluster: int | Sequence[int] | None = None,
    niter: int = 10,
    seed: int = 0,
    normalize: bool = True,
    init: str = "auto",
    max_points_per_centroid: int = 256,
    chunk: int = 65536,
    progress: bool = True,
) -> HierarchicalKMeans:
    """Hierarchical k-means with resampling (Vo et al. 2024) on embeddings ``x`` (N, D).

    ``k``: clusters per level, non-increasing (e.g. [200, 30]). ``resampling_steps`` r and
    ``samples_per_cluster`` s: one value or one per level; s defaults to a quarter of the
    mean cluster size (at least 2) [default: Vo et al. tune it per level]. Rows are
    L2-normalised first when ``normalize`` (k-means on the unit sphere). ``init``,
    ``niter`` and ``max_points_per_centroid``: see :func:`kmeans`. Reproducible from ``seed``.
    """
    k = [int(a) for a in k]
    if not k or any(a < 1 for a in k) or any(b > a for a, b in zip(k, k[1:])):
        raise ValueError(f"k must be a non-empty, non-increasing list of positive ints, got {k}")
    xs = as_float32(x, normalize=normalize, chunk=chunk)
    if len(xs) < k[0]:
        raise ValueError(f"{len(xs)} points cannot make {k[0]} clusters")
    r_list = _per_level(resampling_steps, len(k), "resampling_steps")
    s_list = _per_level(samples_per_cluster, len(k), "samples_per_cluster")
    levels: list[Level] = []
    items = xs
    steps = sum(1 + r for r in r_list)
    bar = tqdm(total=steps, desc="hierarchical k-means", disable=not progress)
    for t, (kt, r, s) in enumerate(zip(k, r_list, s_list)):
        lseed = seed * 1000 + t
        s = s or max(2, len(items) // (4 * kt))
        kw = dict(niter=niter, max_points_per_centroid=max_points_per_centroid)
        cent = kmeans(items, kt, seed=lseed, init=init, **kw)
        labels, dist = assign(items, cent, chunk)
        bar.update(1)
        for step in range(r):
            sub = closest_per_cluster(labels, dist, s)
            if len(sub) >= kt:
                cent = kmeans(items[sub], kt, seed=lseed + 100 * (step + 1), init=cent, **kw)
                labels, dist = assign(items, cent, chunk)
            bar.update(1)
        levels.append(Level(cent, labels, dist))
        items = cent
    bar.close()
    params = {"k": k, "resampling_steps": r_list, "samples_per_cluster": s_list, "niter": niter,
              "seed": seed, "normalize": normalize, "init": init,
              "max_points_per_centroid": max_points_per_centroid}
    return HierarchicalKMeans(levels, len(xs), params)


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

    ``embeddings``: (len(ds), D); ``pool``: dataset rows to curate (default all);
    ``embed_key``: identity of the embeddings for the cache key (e.g. the backbone hash).
    """
    from icepaper.core.cache import cached_dir

    p = cfg.profile.curation
    pool = np.arange(len(ds)) if pool is None else np.asarray(pool, dtype=np.int64)
    n_target = int(round(len(pool) * float(p["sample_frac"]))) if n_target is None else int(n_target)
    k = [min(int(a), max(1, len(pool) // 4)) for a in p["k"][: int(p["levels"])]]
    key = {"dataset": ds.fingerprint, "embeddings": embed_key or "unkeyed", "pool": _hash_ints(pool),
           "k": k, "r": p["resampling_steps"], "s": p["samples_per_cluster"],
           "n": n_target, "seed": cfg.seed, "leaf": p["leaf"], "version": 1}

    def build(tmp: Path) -> None:
        tree = hierarchical_kmeans(embeddings[pool], k, resampling_steps=p["resampling_steps"],
                                   samples_per_cluster=p["samples_per_cluster"], seed=cfg.seed)
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


def imagenet_weights(cfg, weights: str | Path | None = None) -> Path | None:
    """Local ImageNet weights file for the profile's ViT (argument, else ``$ICEPAPER_IMAGENET_WEIGHTS``;
    see ``icepaper.representations.backbones``), or None when none is given."""
    from .backbones import arch_name, imagenet_weights_file

    return imagenet_weights_file(arch_name(cfg, "vit"), weights)


def curated_steps(cfg, n_curated: int, n_full: int) -> int:
    """Steps of the from-scratch run on the curated subset: the full run's number of epochs
    (seed 000 trains CPI-3M and CPI-H-1M for 100 epochs each), at least 1."""
    return max(1, int(round(int(cfg.profile.pretrain["steps"]) * n_curated / max(n_full, 1))))


@dataclass
class Seed000Runs:
    """The seed-000 runs: full (notebook 03), curated from scratch, curated + init + short."""

    full: Any
    curation: Curation
    curated: Any
    short: Any
    init: str  # "imagenet" or the path of the notebook-03 backbone
    init_note: str
    embeddings: np.ndarray  # full-run embeddings of every image (curation's latent space)

    @property
    def init_is_imagenet(self) -> bool:
        return self.init == "imagenet"

    def compute(self) -> pd.DataFrame:
        """Steps, images seen and compute relative to the full from-scratch run (flops proxy ratio).

        ``cumulative`` adds the initialisation's own training when it is the notebook-03
        network (ImageNet pretraining is not counted, as in the paper)."""
        rows = []
        for name, r in (("full", self.full), ("curated", self.curated), ("curated+init+short", self.short)):
            rel = r.relative_compute(self.full)
            cum = rel + (1.0 if name == "curated+init+short" and not self.init_is_imagenet else 0.0)
            rows.append({"run": name, "images": len(self.curation.pool if name == "full" else self.curation.indices),
                         "steps": r.steps, "images_seen": r.images_seen, "seconds": round(r.seconds, 1),
                         "compute_vs_full": round(rel, 4), "cumulative_vs_full": round(cum, 4)})
        return pd.DataFrame(rows).set_index("run")


def latent_curation(cfg, ds):
    """Steps 1-2 of seed 000 (cached): the notebook-03 iBOT-vMF run on every image
    (``pretrained(cfg, ds, "ibot_vmf")``), its (len(ds), D) float16 embeddings of every
    image and the curation in that latent space. Returns (run, embeddings, curation)."""
    from icepaper.ssl.pretrain import pretrained

    from .embed import embeddings_for, file_hash

    full = pretrained(cfg, ds, "ibot_vmf")
    emb = embeddings_for(cfg, ds, full.backbone)
    return full, emb, curate(cfg, ds, emb, embed_key=file_hash(full.backbone))


def retraining_unavailable(cfg, n_curated: int) -> str:
    """Why the runs on the curated subset cannot train ("" when they can): the subset holds
    fewer images than one training batch (``pretrain.batch_size``)."""
    batch = int(cfg.profile.pretrain["batch_size"])
    if n_curated < batch:
        return f"{n_curated} curated images, fewer than one training batch of {batch}"
    return ""


def seed000_runs(cfg, ds) -> Seed000Runs:
    """Seed 000's pretraining recipe at profile scale (every step cached; notebooks 04 and 05).

    1. iBOT-vMF from scratch on every image (the notebook-03 run, ``pretrained(cfg, ds, "ibot_vmf")``);
    2. its embeddings of every image, hierarchical k-means and balanced sampling to
       ``curation.sample_frac`` of the images (CPI-3M -> CPI-H-1M);
    3. iBOT-vMF from scratch on the curated subset for the same number of epochs;
    4. iBOT-vMF on the curated subset from an initialisation for ``pretrain.short_steps``
       steps: ImageNet weights when a local file is given (``$ICEPAPER_IMAGENET_WEIGHTS``,
       which ``icepaper.representations.backbones`` reads), else the network of step 1.
    """
    from icepaper.ssl.pretrain import pretrained

    full, emb, cur = latent_curation(cfg, ds)
    curated = pretrained(cfg, ds, "ibot_vmf", indices=cur.indices,
                         steps=curated_steps(cfg, cur.n, len(ds)), tag="curated")
    w = imagenet_weights(cfg)
    if w is not None:
        init, note = "imagenet", f"ImageNet weights from the local file {w.name}"
    else:
        init = str(full.backbone)
        note = (f"no ImageNet weights file was given (set {IMAGENET_ENV}), so the short run starts "
                "from the notebook-03 network (iBOT-vMF trained from scratch on all images) instead "
                "of ImageNet iBOT: it tests 'curate + continue briefly', and its cumulative compute "
                "includes that network's training")
    short = pretrained(cfg, ds, "ibot_vmf", indices=cur.indices, init=init,
                       steps=int(cfg.profile.pretrain["short_steps"]), tag="curated+init+short")
    return Seed000Runs(full, cur, curated, short, init, note, emb)


# --------------------------------------------------------------------------- tables and figures


def balance_table(labels, subsets: dict[str, np.ndarray], classes: Sequence | None = None) -> pd.DataFrame:
    """Balance metrics of the class distribution of ``labels`` restricted to each named subset."""
    labels = np.asarray(labels, dtype=object)
    classes = list(pd.Series(labels).dropna().unique()) if classes is None else list(classes)
    rows = {name: {"images": len(idx), **balance_metrics(labels[idx], classes)} for name, idx in subsets.items()}
    return pd.DataFrame(rows).T[["images", "n_labelled", "n_classes", "entropy_norm", "max_min_ratio"]]


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


def plot_run_losses(runs: Seed000Runs):
    """Training loss per logged step of the full, curated and curated + init + short runs."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, r in (("full (notebook 03)", runs.full), ("curated, from scratch", runs.curated),
                    ("curated + init + short", runs.short)):
        if len(r.log):
            ax.plot(r.log["step"], r.log["loss"], lw=1, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("iBOT-vMF loss")
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_cluster_sizes(tree: HierarchicalKMeans, subset: np.ndarray | None = None):
    """Cluster sizes (points per cluster, sorted, log scale) at every level; with ``subset``
    (positions into the clustered points) the sizes after curation are drawn beside them."""
    import matplotlib.pyplot as plt

    n = len(tree.levels)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 2.8), squeeze=False)
    for t, ax in enumerate(axes[0], start=1):
        sizes = tree.cluster_sizes(t)
        order = np.argsort(-sizes)
        ax.plot(sizes[order], ".-", ms=3, lw=1, label="all images")
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
