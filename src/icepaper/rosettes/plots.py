"""Figures of notebook 08: rosette gallery, property distributions, predictions, VAE latents."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def rosette_gallery(images: np.ndarray, meta: pd.DataFrame, rows: list[int], seed: int,
                    angles_deg=(0, 90, 120)):
    """Per rosette: its unioned 3-D mesh, then its views (titles give n_arms, rho_eff, sa_eff)."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    from .datasets import rosette_at
    from .meshes import rosette_manifold, to_trimesh

    nv = images.shape[1]
    fig = plt.figure(figsize=(1.9 * (nv + 1), 1.9 * len(rows)))
    for r, i in enumerate(rows):
        m = meta.iloc[i]
        mesh = to_trimesh(rosette_manifold(rosette_at(seed, int(m.rosette_id[3:]))))
        ax = fig.add_subplot(len(rows), nv + 1, r * (nv + 1) + 1, projection="3d")
        ax.add_collection3d(Poly3DCollection(mesh.triangles, facecolor="0.75",
                                             edgecolor="0.35", linewidths=0.05))
        lim = np.abs(mesh.vertices).max()
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), zlim=(-lim, lim))
        ax.set_axis_off()
        ax.set_rasterized(True)  # thousands of facets: a raster keeps the PDF small and fast
        ax.set_title(f"n={m.n_arms}  rho={m.rho_eff:.3f}\nsa={m.sa_eff:.2f}  "
                     f"D={m.dmax_um:.0f} um", fontsize=7)
        for k in range(nv):
            a = fig.add_subplot(len(rows), nv + 1, r * (nv + 1) + k + 2)
            a.imshow(images[i, k], cmap="gray", vmin=0, vmax=255)
            a.set_axis_off()
            if r == 0:
                a.set_title(f"view {angles_deg[k]:g} deg", fontsize=8)
    fig.tight_layout()
    return fig


def property_distributions(meta: pd.DataFrame):
    """rho_eff and sa_eff by number of arms (boxes) and rho_eff against Dmax."""
    import seaborn as sns

    fig, ax = plt.subplots(1, 3, figsize=(11, 3.2))
    sns.boxplot(data=meta, x="n_arms", y="rho_eff", ax=ax[0], color="0.8", fliersize=1)
    sns.boxplot(data=meta, x="n_arms", y="sa_eff", ax=ax[1], color="0.8", fliersize=1)
    sc = ax[2].scatter(meta.dmax_um, meta.rho_eff, c=meta.n_arms, s=4, cmap="viridis")
    ax[2].set(xscale="log", xlabel="Dmax = 2 r_mbs (um)", ylabel="rho_eff")
    fig.colorbar(sc, ax=ax[2], label="n_arms")
    fig.tight_layout()
    return fig


def prediction_scatter(results, meta: pd.DataFrame, targets=("rho_eff", "sa_eff")):
    """Predicted against true test values, one column per model result, one row per target."""
    te = (meta.split == "test").to_numpy()
    fig, ax = plt.subplots(len(targets), len(results), figsize=(3 * len(results), 2.9 * len(targets)),
                           squeeze=False)
    for j, res in enumerate(results):
        for t, name in enumerate(targets):
            y = meta[name].to_numpy()[te]
            a = ax[t, j]
            a.scatter(y, res.reg_pred[:, t], s=3, alpha=0.5)
            lo, hi = y.min(), y.max()
            a.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            views = f"{res.views} view" + ("s" if res.views > 1 else "")
            a.set(xlabel=f"true {name}", ylabel=f"predicted {name}",
                  title=f"{res.model}, {views}\nR^2 = {res.metrics['r2_' + name]:.3f}")
    fig.tight_layout()
    return fig


def confusion_panels(results, labels):
    """Row-normalised n_arms confusion matrices of several model results side by side."""
    import seaborn as sns

    fig, ax = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.2), squeeze=False)
    for a, res in zip(ax[0], results):
        cm = pd.DataFrame(res.metrics["confusion"], index=labels, columns=labels)
        sns.heatmap(cm, ax=a, vmin=0, vmax=1, cmap="Blues", cbar=False, annot=len(labels) <= 8,
                    fmt=".2f", annot_kws={"size": 6})
        views = f"{res.views} view" + ("s" if res.views > 1 else "")
        a.set(xlabel="predicted n_arms", ylabel="true n_arms",
              title=f"{res.model}, {views}: bacc {res.metrics['bacc_n_arms']:.2f}")
    fig.tight_layout()
    return fig


def vae_2d_figure(z: np.ndarray, labels, km: dict, grid: np.ndarray, history):
    """The talk's figure: latent by true and k-means labels, k-means confusion, manifold grid."""
    import seaborn as sns

    labels = np.asarray(labels)
    fig, ax = plt.subplots(1, 5, figsize=(17, 3.4))
    for c in km["classes"]:
        ax[0].scatter(*z[labels == c].T, s=6, label=c)
    for k in np.unique(km["clusters"]):
        ax[1].scatter(*z[km["clusters"] == k].T, s=6, label=f"cluster {k}")
    ax[0].set(title="latent: true labels", xlabel="z1", ylabel="z2")
    ax[1].set(title=f"latent: k-means (ARI {km['ari']:.2f})", xlabel="z1")
    ax[0].legend(fontsize=7), ax[1].legend(fontsize=7)
    cm = pd.DataFrame(km["confusion"], index=km["classes"], columns=km["classes"])
    sns.heatmap(cm, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="Blues", cbar=False, ax=ax[2])
    ax[2].set(title="k-means confusion (row-normalised)", xlabel="matched cluster",
              ylabel="true class")
    ax[3].imshow(grid, cmap="gray", extent=(-2.5, 2.5, -2.5, 2.5))
    ax[3].set(title="decoded latent grid", xlabel="z1", ylabel="z2")
    ax[4].plot(np.arange(1, len(history) + 1), history)
    ax[4].set(title="training loss", xlabel="epoch", ylabel="BCE + KL per image")
    fig.tight_layout()
    return fig


def umap_panels(panels: dict, s: float = 5, colors: dict | None = None):
    """Side-by-side 2-D maps: ``{title: (u (n, 2), labels (n,))}``, one colour per label.

    ``colors`` maps labels to colours (drawn in that order); other labels get tab20 colours.
    """
    fig, ax = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    for a, (title, (u, lab)) in zip(ax[0], panels.items()):
        lab = np.asarray(lab, dtype=object)
        fixed = [c for c in (colors or {}) if c in set(lab)]
        classes = fixed + sorted(set(lab) - set(fixed))
        cmap = plt.get_cmap("tab20", max(len(classes), 1))
        for k, c in enumerate(classes):
            m = lab == c
            a.scatter(*u[m].T, s=s, color=(colors or {}).get(c, cmap(k)), label=f"{c} ({m.sum()})")
        a.set(title=title, xticks=[], yticks=[])
        a.legend(fontsize=6, markerscale=2, loc="best", ncol=1 + len(classes) // 14)
    fig.tight_layout()
    return fig
