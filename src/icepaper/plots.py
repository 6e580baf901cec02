"""Shared figure helpers: image montages, per-class galleries and class-count plots."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def montage(images: Sequence[np.ndarray], ncols: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile equal-size grey images into one array, ``ncols`` per row, with ``pad`` px gaps."""
    images = [np.asarray(im) for im in images]
    if not images:
        return np.full((8, 8), fill, np.uint8)
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    nrows = int(np.ceil(len(images) / ncols))
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), fill, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, ncols)
        out[r * (h + pad): r * (h + pad) + im.shape[0], c * (w + pad): c * (w + pad) + im.shape[1]] = im
    return out


def class_gallery(ds, scheme: str, per_class: int = 6, seed: int = 0, classes: Sequence[str] | None = None,
                  max_classes: int = 24, title: str = ""):
    """One row of ``per_class`` random examples for each class of ``scheme`` (most frequent first)."""
    labels = ds.labels(scheme)
    counts = labels.value_counts()
    classes = list(classes) if classes is not None else list(counts.index[:max_classes])
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(classes), 1, figsize=(1.0 * per_class + 1.8, 1.05 * len(classes) + 0.3),
                             squeeze=False)
    for ax, cls in zip(axes[:, 0], classes):
        idx = np.flatnonzero((labels == cls).fillna(False).to_numpy(dtype=bool))
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        ax.imshow(montage(ds.batch(np.sort(pick)), per_class), cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_ylabel(f"{cls}\n(n={counts.get(cls, 0)})", rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout(h_pad=0.2)
    return fig


def counts_by(meta: pd.DataFrame, row: str, col: str) -> pd.DataFrame:
    """Cross-tabulated counts of ``col`` labels per ``row`` group (missing labels dropped)."""
    m = meta.dropna(subset=[row, col])
    return pd.crosstab(m[row], m[col])


def class_distribution(meta: pd.DataFrame, scheme: str, by: str = "campaign", ax=None, log: bool = True):
    """Grouped horizontal bars of class counts per group (seed 002 Fig. 1, left)."""
    tab = counts_by(meta, by, scheme).T
    tab = tab.loc[tab.sum(axis=1).sort_values().index]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.28 * len(tab) + 1.2))
    tab.plot.barh(stacked=False, ax=ax, width=0.85, colormap="tab10")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("images" + (" (log scale)" if log else ""))
    ax.set_ylabel("")
    ax.legend(title=by, fontsize=7, title_fontsize=8, loc="lower right")
    return ax
