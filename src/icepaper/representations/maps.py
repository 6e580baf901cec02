"""2-D maps of embeddings (t-SNE, UMAP) that cannot crash on duplicate points.

Binary probe images of tiny particles often give many *identical* embeddings. scikit-learn's
Barnes-Hut t-SNE then starts from a NaN PCA layout (all rows equal: zero variance) and
segfaults in its quad tree; UMAP returns NaN coordinates. Both maps here therefore fit on
the **distinct rows only** (exact duplicates removed, first occurrences kept in their
order) and map every row to the point of its distinct row, so duplicates share one point.
No jitter is added: a dataset without duplicates gets exactly the map it got before.

Too few distinct rows for a neighbourhood map (fewer than ``MIN_DISTINCT``) are laid out
by their first two principal components instead (one distinct row: the origin).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MIN_DISTINCT = 5  # fewer distinct rows than this: PCA layout instead of t-SNE / UMAP


def distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row indices of the distinct rows of ``x`` in order of first occurrence, and for every
    row the position of its distinct row among them), so ``x[first][inverse] == x``.

    >>> first, inverse = distinct_rows(np.array([[0, 0], [1, 1], [0, 0], [2, 2]]))
    >>> first.tolist(), inverse.tolist()
    ([0, 1, 3], [0, 1, 0, 2])
    """
    x = np.ascontiguousarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D (N, D) array, got shape {x.shape}")
    if len(x) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    _, first, inverse = np.unique(x, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # unique rows sorted by first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order].astype(np.int64), rank[inverse.reshape(-1)].astype(np.int64)


def pca_layout(x: np.ndarray) -> np.ndarray:
    """(N, 2) float32: the first two principal components of ``x`` (zeros where fewer exist).

    >>> pca_layout(np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])).round(3).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    x = np.asarray(x, np.float64)
    out = np.zeros((len(x), 2), np.float32)
    if len(x) < 2:
        return out
    xc = x - x.mean(0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    k = min(2, int((s > 1e-12 * max(s[0], 1e-300)).sum()))
    out[:, :k] = (u[:, :k] * s[:k]).astype(np.float32)
    return out


def map_distinct(x: np.ndarray, fit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(N, 2) float32 map of ``x``: ``fit`` on the distinct rows (at least ``MIN_DISTINCT`` of
    them, else ``pca_layout``), each row placed at its distinct row's point. Raises if the map
    has a non-finite coordinate.

    Fewer than ``MIN_DISTINCT`` distinct rows: the PCA layout, duplicates on one point.

    >>> y = map_distinct(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]]), fit=None)
    >>> y.shape, bool((y[0] == y[2]).all())
    ((3, 2), True)
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D (N, D) array, got shape {x.shape}")
    bad = int((~np.isfinite(x)).any(axis=1).sum())
    if bad:
        raise ValueError(f"{bad} of {len(x)} rows have NaN or infinite values; a 2-D map needs finite ones")
    first, inverse = distinct_rows(x)
    xu = x[first]
    yu = pca_layout(xu) if len(xu) < MIN_DISTINCT else np.asarray(fit(xu), np.float32)
    if yu.shape != (len(xu), 2) or not np.isfinite(yu).all():
        raise FloatingPointError(f"2-D map of {len(xu)} distinct rows is not finite (shape {yu.shape})")
    return yu[inverse]


def tsne_2d(x: np.ndarray, seed: int = 0, standardise: bool = True, max_perplexity: float = 30.0) -> np.ndarray:
    """(N, 2) Barnes-Hut t-SNE (scikit-learn, PCA init) of ``x``, safe with duplicate rows.

    Columns are standardised first when ``standardise``; the perplexity is
    min(``max_perplexity``, max(2, (n - 1) / 3.5)) for n distinct rows. Runs on one OpenMP
    thread: the map is then the same on every machine (scikit-learn's threaded gradient
    depends on the thread count), and on shared cores it is several times faster
    (OpenMP threads spin-wait while others hold the cores).

    Identical rows (all-white frames, say) map to one point instead of crashing:

    >>> tsne_2d(np.ones((6, 4))).tolist()
    [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    """
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, np.float32)
    if standardise and len(x) and np.isfinite(x).all():  # non-finite rows: map_distinct says so
        x = StandardScaler().fit_transform(x).astype(np.float32)

    def fit(xu: np.ndarray) -> np.ndarray:
        perp = float(min(max_perplexity, max(2.0, (len(xu) - 1) / 3.5)))
        with threadpool_limits(1):
            return TSNE(n_components=2, init="pca", perplexity=perp, random_state=seed).fit_transform(xu)

    return map_distinct(x, fit)


def umap_2d(x: np.ndarray, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """(N, 2) UMAP (umap-learn) of ``x``, deterministic for a seed (single-threaded), safe with
    duplicate rows.

    The exact Euclidean k nearest neighbours come from scikit-learn and are handed to UMAP
    (``precomputed_knn``), with a PCA initialisation: the same map as UMAP's defaults up to
    the initial layout, without compiling UMAP's own neighbour search (half its run time
    on a few thousand points).

    >>> umap_2d(np.ones((4, 3)))  # too few distinct rows for a neighbourhood map
    array([[0., 0.],
           [0., 0.],
           [0., 0.],
           [0., 0.]], dtype=float32)
    """
    import warnings

    def fit(z: np.ndarray) -> np.ndarray:
        import umap
        from sklearn.neighbors import NearestNeighbors

        k = min(n_neighbors, max(2, len(z) - 1))
        dist, idx = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
        with warnings.catch_warnings():  # "transform unavailable without an NNDescent index": unused
            warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
            return umap.UMAP(n_components=2, n_neighbors=k, min_dist=min_dist, random_state=seed,
                             n_jobs=1, init="pca", precomputed_knn=(idx, dist, None)).fit_transform(z)

    return map_distinct(x, fit)
