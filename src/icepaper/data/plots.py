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
    _title_above(fig, title)
    return fig


def _title_above(fig, title: str, strip_in: float = 0.45) -> None:
    """Lay out ``fig`` (tight) below a ``strip_in``-inch strip that holds ``title``, so the title
    never overlaps the first row of images (plain ``suptitle`` + ``tight_layout`` let it)."""
    h = fig.get_figheight()
    top = 1 - strip_in / h if title else 1
    fig.tight_layout(h_pad=0.2, rect=(0, 0, 1, top))
    if title:
        fig.suptitle(title, y=1 - 0.08 / h, va="top")


def counts_by(meta: pd.DataFrame, row: str, col: str) -> pd.DataFrame:
    """Cross-tabulated counts of ``col`` labels per ``row`` group (missing labels dropped)."""
    m = meta.dropna(subset=[row, col])
    return pd.crosstab(m[row], m[col])


def group_colors(groups: Sequence) -> dict:
    """One fixed colour per group (tab10, in sorted order), so a group keeps its colour in every panel."""
    cmap = plt.get_cmap("tab10")
    return {g: cmap(k % 10) for k, g in enumerate(sorted(groups, key=str))}


def class_distribution(meta: pd.DataFrame, scheme: str, by: str = "campaign", ax=None, log: bool = True,
                       colors: dict | None = None, legend: bool = True):
    """Grouped horizontal bars of class counts per group (Chu et al. 2025 Fig. 1, left). The legend
    (when ``legend``) sits outside the axes, right of the bars, so it never hides one; ``colors``
    maps group to colour (default: :func:`group_colors`)."""
    tab = counts_by(meta, by, scheme).T
    tab = tab.loc[tab.sum(axis=1).sort_values().index]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.28 * len(tab) + 1.2))
    colors = colors or group_colors(tab.columns)
    tab.plot.barh(stacked=False, ax=ax, width=0.85, color=[colors[g] for g in tab.columns], legend=False)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("images" + (" (log scale)" if log else ""))
    ax.set_ylabel("")
    if legend:
        ax.legend(title=by, fontsize=7, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1),
                  frameon=False)
    return ax


def size_gallery(ds, sizes: pd.Series, unit: str, n_bins: int = 5, per_bin: int = 6, seed: int = 0,
                 title: str = ""):
    """One row of ``per_bin`` random particles per size bin (equal-count bins of ``sizes``,
    smallest first; the row label gives the bin's range in ``unit``). Images of unknown size
    (NaN: blank) are left out."""
    unit = "µm" if unit == "um" else unit
    s = pd.Series(np.asarray(sizes, dtype=float))
    known = s.dropna()
    n_bins = max(1, min(n_bins, known.nunique()))
    bins = pd.qcut(known, n_bins, duplicates="drop") if len(known) else pd.Series(dtype="category")
    cats = list(bins.cat.categories) if len(known) else []
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(max(len(cats), 1), 1, figsize=(1.0 * per_bin + 1.8, 1.05 * max(len(cats), 1) + 0.3),
                             squeeze=False)
    for ax, cat in zip(axes[:, 0], cats):
        idx = bins.index[(bins == cat).to_numpy()].to_numpy()
        pick = np.sort(rng.choice(idx, size=min(per_bin, len(idx)), replace=False))
        ax.imshow(montage(ds.batch(pick), per_bin), cmap="gray", vmin=0, vmax=255)
        ax.set_ylabel(f"{max(cat.left, 0):.3g}-{cat.right:.3g} {unit}\n(n={len(idx)})", rotation=0,
                      ha="right", va="center", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_xticks([])
        ax.set_yticks([])
        for sp in ax.spines.values():
            sp.set_visible(False)
    _title_above(fig, title)
    return fig


def size_distribution(sizes: pd.Series, unit: str, labels: pd.Series | None = None,
                      temperature: pd.Series | None = None):
    """Particle sizes: a histogram (log-spaced bins), sizes per class (box plots, by median) when
    ``labels`` are given, and size against temperature (deg C) when ``temperature`` is given."""
    import seaborn as sns

    unit = "µm" if unit == "um" else unit
    s = pd.Series(np.asarray(sizes, dtype=float))
    have_lab = labels is not None and pd.Series(labels).notna().any()
    have_t = temperature is not None and pd.Series(temperature).notna().any()
    n = 1 + have_lab + have_t
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    axes = list(axes[0])
    ok = s[np.isfinite(s) & (s > 0)]
    ax = axes.pop(0)
    if len(ok):
        edges = np.geomspace(ok.min(), ok.max() * 1.0001, 30) if ok.max() > ok.min() else 10
        ax.hist(ok, bins=edges, color="#9ecae1", edgecolor="white", lw=0.3)
        _log_axis(ax, "x")
    ax.set_xlabel(f"particle size ({unit})")
    ax.set_ylabel("particles")
    ax.set_title(f"{len(ok)} particles; median {ok.median():.3g} {unit}" if len(ok) else "no particle found")
    label = "maximum dimension" if unit == "µm" else "size"
    if have_lab:
        ax = axes.pop(0)
        df = pd.DataFrame({"size": s.to_numpy(), "class": pd.Series(labels).to_numpy(dtype=object)}).dropna()
        order = df.groupby("class")["size"].median().sort_values().index
        ax.figure.set_size_inches(4.2 * n, max(3.4, 0.28 * len(order) + 1.2))
        sns.boxplot(data=df, y="class", x="size", order=order, ax=ax, fliersize=0.5, color="#fdae6b")
        _log_axis(ax, "x")
        ax.set_xlabel(f"{label} ({unit})")
        ax.set_ylabel("")
    if have_t:
        ax = axes.pop(0)
        ax.scatter(pd.Series(temperature).to_numpy(dtype=float), s.to_numpy(), s=3, alpha=0.4, color="#3182bd")
        _log_axis(ax, "y")
        ax.set_xlabel("temperature (°C)")
        ax.set_ylabel(f"{label} ({unit})")
    fig.tight_layout()
    return fig


def class_distributions(meta: pd.DataFrame, schemes: Sequence[str], by: str = "campaign"):
    """One panel per label scheme: class counts per ``by`` group (:func:`class_distribution`),
    or overall counts when ``meta`` has no (or an empty) ``by`` column; log scale."""
    fig, axes = plt.subplots(1, len(schemes), figsize=(5.2 * len(schemes), 6), squeeze=False)
    grouped = by in meta and meta[by].notna().any()
    colors = group_colors(meta[by].dropna().unique()) if grouped else {}
    for ax, scheme in zip(axes[0], schemes):
        if grouped:
            class_distribution(meta, scheme, by=by, ax=ax, colors=colors, legend=False)
        else:
            meta[scheme].value_counts().sort_values().plot.barh(ax=ax, logx=True)
        ax.set_title(scheme)
    if grouped:
        # one legend for all panels, below them, where it cannot cover a bar
        from matplotlib.patches import Patch

        handles = [Patch(color=c, label=str(g)) for g, c in colors.items()]
        ncol = min(len(handles), 6)
        nrows = -(-len(handles) // ncol)
        bottom = (0.35 + 0.22 * nrows) / fig.get_figheight()
        fig.tight_layout(rect=(0, bottom, 1, 1))
        fig.legend(handles=handles, title=by, loc="lower center", ncol=ncol, fontsize=8, title_fontsize=9,
                   frameon=False, bbox_to_anchor=(0.5, 0))
    else:
        fig.tight_layout()
    return fig


def habit_temperature_size(meta: pd.DataFrame, scheme: str):
    """Box plots of ``temperature_c`` (deg C) and ``dmax_um`` (um, log) per class of ``scheme``,
    classes ordered by median temperature."""
    import seaborn as sns

    order = meta.groupby(scheme)["temperature_c"].median().sort_values().index
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.3 * len(order) + 1.5), sharey=True)
    sns.boxplot(data=meta, y=scheme, x="temperature_c", order=order, ax=axes[0], fliersize=0.5, color="#9ecae1")
    sns.boxplot(data=meta, y=scheme, x="dmax_um", order=order, ax=axes[1], fliersize=0.5, color="#fdae6b")
    axes[0].set_xlabel("temperature (°C)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("maximum dimension (µm)")
    fig.tight_layout()
    return fig


def _log_axis(ax, which: str) -> None:
    """Log scale on ``which`` axis with plain-number labels at 1, 2 and 5 times powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())
