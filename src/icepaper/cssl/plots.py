"""The figures of Chu et al. 2025's label-budget study, drawn from a :class:`StudyResult`.

``accuracy_boxes`` (Figs. 4, 9 and, with ``which="gen"``, 12), ``doa_vs_time_saved``
and ``cost_figure`` (Figs. 5, 10), ``confusion_figure`` (Figs. 6, 7, 11), ``tsne_figure`` (Fig. 8),
``loss_curves`` (Fig. A2). Each returns a matplotlib Figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .metrics import confusion_groups, precision_recall

COLORS = {"moco": "#d62728", "byol": "#1f77b4", "supervised": "#7f7f7f"}


def accuracy_boxes(res, scheme: str, which: str = "val", ax=None, title: str | None = None):
    """Overall accuracy over folds per budget, one box per model (whiskers: min to max, as the paper),
    and the majority-class accuracy on the same images as a dashed reference line."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7.5, 3.6))
    budgets = res.budgets(scheme)
    models = res.models
    col = "oa" if which == "val" else "gen_oa"
    w = 0.8 / len(models)
    for j, m in enumerate(models):
        r = res.runs[(res.runs.scheme == scheme) & (res.runs.model == m)]
        data = [r[r.budget == b][col].to_numpy() for b in budgets]
        pos = np.arange(len(budgets)) + (j - (len(models) - 1) / 2) * w
        bp = ax.boxplot(data, positions=pos, widths=w * 0.85, whis=(0, 100), patch_artist=True,
                        medianprops={"color": "black"}, showfliers=False)
        for patch in bp["boxes"]:
            patch.set_facecolor(COLORS.get(m, "C0"))
            patch.set_alpha(0.75)
        ax.plot([], [], "s", color=COLORS.get(m, "C0"), label=res.label(m))
    maj = res.majority(scheme, which).reindex(budgets).to_numpy()
    if np.isfinite(maj).any():  # the no-feature reference on the same images, per budget (mean over folds)
        ax.step(np.arange(len(budgets)), maj, where="mid", color="black", ls="--", lw=1,
                label=res.label("majority"))
    ax.set_xticks(np.arange(len(budgets)), [str(b) for b in budgets])
    ax.set_xlabel("labelled training images (n)")
    ax.set_ylabel("overall accuracy (%)" + (" on the unseen campaign" if which == "gen" else ""))
    task = res.task(scheme)
    where = task["gen_campaign"] if which == "gen" else task["train_campaign"] or "all labelled images"
    ax.set_title(title or f"{scheme} ({len(task['classes'])} classes), {res.info['folds']}-fold CV, "
                          f"tested on {where}")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return fig


def doa_vs_time_saved(res, scheme: str, model: str = "moco", ax=None):
    """Decreased overall accuracy vs labelling time saved, budgets annotated, the knee marked."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.2, 3.8))
    c = res.labelling_curve(scheme, model)
    ax.plot(c.time_saved_h, c.doa, "o-", color=COLORS.get(model, "C0"), label=res.label(model))
    for r in c.itertuples():
        ax.annotate(str(r.budget), (r.time_saved_h, r.doa), textcoords="offset points", xytext=(-6, 4),
                    ha="right", fontsize=7)
    ends = c.sort_values("time_saved_h").iloc[[0, -1]]
    ax.plot(ends.time_saved_h, ends.doa, ":", color="0.5", lw=1, label="chord (knee = farthest below)")
    k = c[c.knee]
    if len(k):
        r = k.iloc[0]
        ax.plot(r.time_saved_h, r.doa, "*", ms=16, color="gold", mec="k", zorder=5,
                label=f"inflection: n = {int(r.budget)}, {r.time_saved_h:.2f} h saved, DOA {r.doa:.1f} pp")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xlabel("labelling time saved (h; 6 s per basic, 60 s per complex image)")
    ax.set_ylabel("decreased overall accuracy, DOA (pp)")
    ax.set_title(f"{scheme}: {res.label(model)} vs the full-label baseline")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    return fig


def cost_figure(res, scheme: str, models: Sequence[str] = ("moco", "byol")):
    """Chu et al. 2025 Figs. 5 / 10: ``doa_vs_time_saved`` for each CSSL model, side by side."""
    models = [m for m in models if m in res.models]
    if not models:
        raise ValueError(f"no CSSL model in this study (models: {res.models})")
    fig, axes = plt.subplots(1, len(models), figsize=(5.3 * len(models), 3.9), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], models):
        doa_vs_time_saved(res, scheme, m, ax=ax)
    fig.tight_layout()
    return fig


def _confusion_ax(ax, m: np.ndarray, names: Sequence[str], title: str) -> None:
    """Mean-count confusion matrix with precision per predicted class (bottom row), recall per
    true class (right column) and OA (corner); cell shading = share of the column."""
    prec, rec, oa = precision_recall(m)
    n = len(names)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = m / m.sum(0, keepdims=True)
    ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0, vmax=1, extent=(-0.5, n - 0.5, n - 0.5, -0.5))
    small = n > 8
    for i in range(n):
        for j in range(n):
            if m[i, j] > 0 or i == j:
                ax.text(j, i, f"{m[i, j]:.0f}" if small else f"{m[i, j]:.1f}", ha="center", va="center",
                        fontsize=5 if small else 7, color="white" if share[i, j] > 0.6 else "black")
    def pct(v: float) -> str:
        return "-" if not np.isfinite(v) else f"{v:.0f}"

    for j in range(n):  # bottom row: precision of each predicted class (its column)
        ax.text(j, n, pct(prec[j]), ha="center", va="center", fontsize=5 if small else 7, color="tab:blue")
    for i in range(n):  # right column: recall of each true class (its row)
        ax.text(n, i, pct(rec[i]), ha="center", va="center", fontsize=5 if small else 7, color="tab:blue")
    ax.text(n, n, f"{oa:.1f}", ha="center", va="center", fontsize=6 if small else 8, color="tab:blue",
            fontweight="bold")
    ax.set_xlim(-0.5, n + 0.5)
    ax.set_ylim(n + 0.5, -0.5)
    ax.set_xticks(range(n + 1), list(names) + ["recall %"], rotation=60, ha="right", fontsize=6 if small else 7)
    ax.set_yticks(range(n + 1), list(names) + ["precision %"], fontsize=6 if small else 7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)


def confusion_figure(res, scheme: str, view: str | None = None, budget: int | None = None,
                     models: Sequence[str] = ("moco", "supervised"), which: str = "val"):
    """Confusion matrices averaged over folds for ``models`` side by side (view: None/'basic'/'process')."""
    budget = max(res.budgets(scheme)) if budget is None else budget
    models = [m for m in models if m in res.models]
    classes = res.classes(scheme)
    n = len(confusion_groups(res.confusion(scheme, models[0], budget, which), classes, view)[1])
    size = max(3.2, 0.32 * n + 1.6)
    fig, axes = plt.subplots(1, len(models), figsize=(size * len(models), size), squeeze=False)
    for ax, m in zip(axes[0], models):
        mat, names = confusion_groups(res.confusion(scheme, m, budget, which), classes, view)
        what = {None: "all classes", "basic": "basic habits", "process": "complex shapes by process"}[view]
        _confusion_ax(ax, mat, names, f"{res.label(m)}, n = {budget}\n{what}")
    fig.tight_layout()
    return fig


def tsne_coords(emb: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of standardised embeddings (PCA init, perplexity up to 30); duplicate embeddings
    share one point (``embedding_maps.tsne_2d``), so binary images of tiny particles cannot crash it."""
    from icepaper.representations.maps import tsne_2d

    return tsne_2d(emb, seed=seed)


def tsne_figure(res, scheme: str, budgets: Sequence[int] | None = None, model: str = "moco", seed: int = 0):
    """Chu et al. 2025 Fig. 8: validation embeddings before pretraining, after pretraining, after fine-tuning."""
    all_b = res.budgets(scheme)
    budgets = list(budgets) if budgets is not None else all_b[-3:][::-1]
    y = res.tsne[f"{scheme}|y"]
    classes = res.classes(scheme)
    base = res.info["models"].get("supervised", {}).get("init", "")
    panels = [(f"before pretraining\n({'ImageNet' if base.startswith('ImageNet') else 'random init'} encoder)",
               res.tsne[f"{scheme}|encoder|supervised"])]
    if f"{scheme}|encoder|{model}" in res.tsne:
        panels.append((f"after {res.label(model).split('-')[-1]} pretraining", res.tsne[f"{scheme}|encoder|{model}"]))
        panels += [(f"after fine-tuning, n = {b}", res.tsne[f"{scheme}|finetuned|{model}|{b}"]) for b in budgets]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.9 * len(panels), 3.3), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, (title, emb) in zip(axes[0], panels):
        xy = tsne_coords(emb, seed)
        for k in np.unique(y):
            sel = y == k
            ax.scatter(xy[sel, 0], xy[sel, 1], s=4, color=cmap(k % 20), label=classes[k])
        ax.set_xticks([])
        ax.set_yticks([])
        n_distinct = len(np.unique(np.asarray(emb), axis=0))
        if n_distinct < len(emb):  # identical embeddings share one point (embedding_maps)
            title += f"\n{n_distinct} distinct of {len(emb)} images"
        ax.set_title(title, fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(7, len(labels)), fontsize=6, markerscale=3,
               frameon=False, bbox_to_anchor=(0.5, -0.02 - 0.035 * (len(labels) // 7)))
    fig.tight_layout()
    return fig


def loss_curves(res, scheme: str, model: str = "moco", fold: int = 0, ax=None, smooth: int = 10):
    """Chu et al. 2025 Fig. A2: training loss per step of each budget's fine-tuning run (one fold)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.6, 3.6))
    curves = res.loss_curves(scheme, model, fold)
    cmap = plt.get_cmap("viridis")
    for k, (b, loss) in enumerate(sorted(curves.items())):
        w = max(1, min(smooth, len(loss) // 5))
        sm = np.convolve(loss, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(len(sm)) + w, sm, color=cmap(k / max(1, len(curves) - 1)), lw=1.2, label=f"n = {b}")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_yscale("log")
    ax.set_title(f"{res.label(model)} fine-tuning on {scheme} (fold {fold})")
    ax.legend(frameon=False, fontsize=7, ncol=2)
    return fig
