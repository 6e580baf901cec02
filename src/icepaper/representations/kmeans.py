"""Hierarchical k-means (Vo et al. 2024, docs/science.md §6) with faiss: the clustering step
of latent-space curation.

``hierarchical_kmeans(x, k=[k1, k2, ...])``
    Level 1 clusters the embeddings (faiss k-means, k-means++ seeding or its AFK-MC^2
    approximation for large k), then runs
    ``r`` resampling steps: take the ``s`` points of every cluster closest to its centroid,
    re-run k-means on their union (initialised from the current centroids) and reassign all
    points to the new centroids. Level t > 1 clusters the centroids of level t - 1 the same
    way. Assignments are done in chunks with a faiss flat index (nearest centroid only), so
    no N x k distance matrix is ever held in memory.

Memory does not grow with the embeddings: they are read chunk by chunk (a float16 memory map
of 1 M x 384 is never copied whole; ``core.rowfile``), each chunk L2-normalised in float32 on
the fly. k-means trains on at most ``max_points_per_centroid x k`` rows, drawn exactly as faiss
draws them (its ``rand_perm`` with the same seed), so only that many rows are converted; what
grows with N is 12 bytes per point (its label and distance).

``gpu=True`` runs the k-means and the assignments on every GPU faiss sees
(``faiss.Kmeans(gpu=True)``; install the ``gpu`` extra, faiss-gpu-cu12, in place of faiss-cpu);
without a GPU build of faiss it warns once and runs on the CPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from icepaper.core.progress import tqdm
from icepaper.core.rowfile import RowReader

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


def gpu_count() -> int:
    """Number of GPUs the installed faiss can use (0 for faiss-cpu)."""
    get = getattr(faiss, "get_num_gpus", None)
    try:
        return int(get()) if get is not None else 0
    except Exception:  # noqa: BLE001 - a broken CUDA install counts as no GPU
        return 0


def resolve_gpu(gpu: bool) -> bool:
    """``gpu`` when faiss can use a GPU; else False, with a warning when a GPU was asked for."""
    if not gpu:
        return False
    if gpu_count() > 0:
        return True
    warnings.warn("k-means on the GPU was asked for, but the installed faiss has no GPU support "
                  "(faiss.get_num_gpus() == 0): running on the CPU. For GPU k-means install the "
                  "'gpu' extra (pip uninstall faiss-cpu; pip install 'icepaper[gpu]').",
                  RuntimeWarning, stacklevel=3)
    return False


_BLOCK = 8192  # rows converted (and normalised) at a time inside a chunk


def _read_float32(src: RowReader, sel: slice | np.ndarray, normalize: bool) -> np.ndarray:
    """Rows ``sel`` of ``src`` as a new C-contiguous float32 array, rows L2-normalised when
    ``normalize`` (the same values as :func:`as_float32`), converted ``_BLOCK`` rows at a time so
    that no temporary is as large as the result."""
    if isinstance(sel, slice):
        a, b, _ = sel.indices(len(src))
        pos = None
        n = b - a
    else:
        pos = np.asarray(sel, dtype=np.int64)
        n = len(pos)
    out = np.empty((n, src.shape[1]), dtype=np.float32)
    for i in range(0, n, _BLOCK):
        j = min(i + _BLOCK, n)
        part = out[i:j]
        part[...] = src.read(slice(a + i, a + j) if pos is None else pos[i:j])
        if normalize:
            np.divide(part, np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12), out=part)
    return out


def assign(x, centroids: np.ndarray, chunk: int = 65536, *, normalize: bool = False,
           gpu: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (squared L2) of every row of ``x``: (labels int64 (N,), sq. distances float32 (N,)).

    ``x``: an (N, D) array, memory map or :class:`~icepaper.core.rowfile.RowReader`, read
    ``chunk`` rows at a time (rows L2-normalised first when ``normalize``) and searched with a
    faiss flat index, so memory stays O(chunk x (D + k)).
    """
    src = x if isinstance(x, RowReader) else RowReader(x)
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    index = faiss.IndexFlatL2(centroids.shape[1])
    if gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(centroids)
    labels = np.empty(len(src), dtype=np.int64)
    dist = np.empty(len(src), dtype=np.float32)
    for a in range(0, len(src), chunk):
        b = min(a + chunk, len(src))
        d, i = index.search(_read_float32(src, slice(a, b), normalize), 1)
        labels[a:b] = i[:, 0]
        dist[a:b] = d[:, 0]
    return labels, dist


def faiss_training_rows(n: int, k: int, max_points_per_centroid: int, seed: int) -> np.ndarray | None:
    """The rows faiss k-means trains on when given ``n`` points: None (all of them) when
    n <= k x max_points_per_centroid, else the first k x max_points_per_centroid entries of
    faiss's own random permutation (``faiss.rand_perm`` with the clustering seed), in that order,
    so that drawing them first and clustering only them gives faiss's result exactly."""
    m = int(k) * int(max_points_per_centroid)
    if n <= m:
        return None
    perm = np.empty(int(n), dtype=np.int32)
    faiss.rand_perm(faiss.swig_ptr(perm), int(n), int(seed) % 2**31)
    return perm[:m].astype(np.int64)


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    niter: int = 10,
    seed: int = 0,
    init: str | np.ndarray = "auto",
    max_points_per_centroid: int = 256,
    gpu: bool = False,
) -> np.ndarray:
    """Centroids (k, D) float32 of faiss k-means on ``x`` (float32 (N, D), N >= k).

    ``init``: "kmeans++" (faiss's exact D^2 seeding, sequential O(n k D)), "afkmc2" (faiss's
    AFK-MC^2, a Markov-chain approximation of k-means++ seeding, much faster for large k),
    "auto" (k-means++ when n_train k D <= 1e10, else AFK-MC^2), "random", or a (k, D) array
    of initial centroids. faiss trains on at most ``max_points_per_centroid * k`` random rows.
    ``niter`` = 10 follows Vo et al.'s configuration. ``gpu``: ``faiss.Kmeans(gpu=True)`` (all
    GPUs; the caller checks that faiss has GPU support, :func:`resolve_gpu`).
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
        init_method=_INIT["random" if given else init], **({"gpu": True} if gpu else {}),
    )
    km.train(x, init_centroids=np.ascontiguousarray(init, dtype=np.float32) if given else None)
    return np.asarray(km.centroids, dtype=np.float32)


def cluster_labels(x: np.ndarray, k: int, seed: int = 0):
    """k-means cluster of every row of ``x`` (faiss, on the L2-normalised rows) as a pandas
    Series of labels ``"cluster 01"``, ``"cluster 02"``, ... numbered by decreasing cluster size
    (k is capped at the number of rows)."""
    import pandas as pd

    x = as_float32(x, normalize=True)
    k = min(int(k), len(x))
    labels, _ = assign(x, kmeans(x, k, seed=seed))
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return pd.Series([f"cluster {r + 1:02d}" for r in rank[labels]], dtype=object)


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


def _train_level(src: RowReader, sel: np.ndarray | None, k: int, *, seed: int, init, niter: int,
                 max_points_per_centroid: int, normalize: bool, gpu: bool) -> np.ndarray:
    """k-means centroids of rows ``sel`` of ``src`` (all when None), reading only the rows faiss
    would train on (:func:`faiss_training_rows`)."""
    n = len(src) if sel is None else len(sel)
    pick = faiss_training_rows(n, k, max_points_per_centroid, seed)
    if pick is not None:
        sel = pick if sel is None else sel[pick]
    rows = _read_float32(src, slice(None) if sel is None else sel, normalize)
    return kmeans(rows, k, seed=seed, init=init, niter=niter,
                  max_points_per_centroid=max_points_per_centroid, gpu=gpu)


def hierarchical_kmeans(
    x: np.ndarray,
    k: Sequence[int],
    *,
    rows: np.ndarray | None = None,
    resampling_steps: int | Sequence[int] = 1,
    samples_per_cluster: int | Sequence[int] | None = None,
    niter: int = 10,
    seed: int = 0,
    normalize: bool = True,
    init: str = "auto",
    max_points_per_centroid: int = 256,
    chunk: int = 65536,
    gpu: bool = False,
    progress: bool = True,
) -> HierarchicalKMeans:
    """Hierarchical k-means with resampling (Vo et al. 2024) on embeddings ``x[rows]`` (N, D).

    ``x``: any float array, e.g. the float16 memory map of ``representations.embed``; it is read
    in chunks of ``chunk`` rows and never copied whole. ``rows``: the rows of ``x`` to cluster
    (default all), point i of the result is ``x[rows[i]]``.
    ``k``: clusters per level, non-increasing (e.g. [200, 30]). ``resampling_steps`` r and
    ``samples_per_cluster`` s: one value or one per level; s defaults to a quarter of the
    mean cluster size (at least 2) [default: Vo et al. tune it per level]. Rows are
    L2-normalised first when ``normalize`` (k-means on the unit sphere). ``init``,
    ``niter`` and ``max_points_per_centroid``: see :func:`kmeans`. ``gpu``: run faiss on the
    GPUs (falls back to the CPU with a warning when faiss has no GPU support). Reproducible
    from ``seed``.
    """
    k = [int(a) for a in k]
    if not k or any(a < 1 for a in k) or any(b > a for a, b in zip(k, k[1:])):
        raise ValueError(f"k must be a non-empty, non-increasing list of positive ints, got {k}")
    if np.ndim(x) != 2:
        raise ValueError(f"expected a 2-D (N, D) embedding array, got shape {np.shape(x)}")
    gpu = resolve_gpu(gpu)
    src = RowReader(x, rows)
    n_points = len(src)
    if n_points < k[0]:
        raise ValueError(f"{n_points} points cannot make {k[0]} clusters")
    r_list = _per_level(resampling_steps, len(k), "resampling_steps")
    s_list = _per_level(samples_per_cluster, len(k), "samples_per_cluster")
    levels: list[Level] = []
    steps = sum(1 + r for r in r_list)
    bar = tqdm(total=steps, desc="hierarchical k-means", disable=not progress)
    kw = dict(niter=niter, max_points_per_centroid=max_points_per_centroid, gpu=gpu)
    for t, (kt, r, s) in enumerate(zip(k, r_list, s_list)):
        lseed = seed * 1000 + t
        norm = normalize and t == 0  # centroids of the level below are used as they are
        s = s or max(2, len(src) // (4 * kt))
        cent = _train_level(src, None, kt, seed=lseed, init=init, normalize=norm, **kw)
        labels, dist = assign(src, cent, chunk, normalize=norm, gpu=gpu)
        bar.update(1)
        for step in range(r):
            sub = closest_per_cluster(labels, dist, s)
            if len(sub) >= kt:
                cent = _train_level(src, sub, kt, seed=lseed + 100 * (step + 1), init=cent,
                                    normalize=norm, **kw)
                labels, dist = assign(src, cent, chunk, normalize=norm, gpu=gpu)
            bar.update(1)
        levels.append(Level(cent, labels, dist))
        src = RowReader(cent)
    bar.close()
    params = {"k": k, "resampling_steps": r_list, "samples_per_cluster": s_list, "niter": niter,
              "seed": seed, "normalize": normalize, "init": init,
              "max_points_per_centroid": max_points_per_centroid}
    return HierarchicalKMeans(levels, n_points, params)
