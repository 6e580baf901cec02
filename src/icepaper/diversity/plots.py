"""Figures of notebook 07: estimator validation, kappa trends, class similarity, kappa vs entropy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .kappa import GroupKappa
    from .trends import DiversityReport

__all__ = ["plot_validation", "plot_trends", "plot_class_similarity", "plot_kappa_entropy"]


def plot_validation(df: pd.DataFrame, estimators: Sequence[str] = ("banerjee", "newton2", "newton2_debiased", "scipy_ml")):
    """|relative error| of each estimator (colour) against n, one panel per dimension p; the
    marker gives kappa / p. The dotted line marks 5 %."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    d = df[~df["skipped"]] if "skipped" in df.columns else df
    dims = sorted(d["p"].unique())
    ratios = sorted((d["kappa_true"] / d["p"]).round(6).unique())
    markers = dict(zip(ratios, "os^Dv<>"))
    fig, axes = plt.subplots(1, len(dims), figsize=(2.6 * len(dims) + 0.6, 2.8), sharey=True, squeeze=False)
    for ax, p in zip(axes[0], dims):
        for c in ratios:
            cell = d[(d["p"] == p) & np.isclose(d["kappa_true"] / d["p"], c)].sort_values("n")
            for k, est in enumerate(estimators):
                y = np.abs(cell[f"relerr_{est}"].to_numpy(dtype=float))
                if np.isfinite(y).any():
                    ax.plot(cell["n"], np.maximum(y, 1e-4), marker=markers[c], ms=3, lw=0.8, color=f"C{k}",
                            ls="--" if est == "scipy_ml" else "-")
        ax.axhline(0.05, color="grey", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _ticks_at(ax, sorted(d.loc[d["p"] == p, "n"].unique()))
        ax.set_title(f"p = {p}", fontsize=9)
        ax.set_xlabel("sample size n")
    axes[0, 0].set_ylabel("|relative error| of kappa")
    handles = [Line2D([], [], color=f"C{k}", ls="--" if e == "scipy_ml" else "-", label=e)
               for k, e in enumerate(estimators)]
    handles += [Line2D([], [], color="k", marker=markers[c], ls="", label=f"kappa = {c:g} p") for c in ratios]
    # legend right of the last panel, where it cannot cover a line
    axes[0, -1].legend(handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def _ticks_at(ax, values) -> None:
    """Label a log x axis only at ``values`` (the sample sizes run), as plain numbers or powers
    of ten, with no minor labels: matplotlib's automatic minor labels ("2 x 10^2", "3 x 10^2",
    ...) collide when a panel spans less than a decade or two."""
    from matplotlib.ticker import NullFormatter, NullLocator

    def label(v: float) -> str:
        k = np.log10(v)
        if v >= 1e4 and np.isclose(k, round(k)):
            return f"$10^{{{int(round(k))}}}$"
        return f"{v:,.0f}" if v >= 1e4 else f"{v:g}"

    values = [float(v) for v in values if v > 0]
    if not values:
        return
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(values, [label(v) for v in values], fontsize=8)
    if any(b / a < 3 for a, b in zip(values, values[1:])):  # crowded: tilt the labels
        ax.tick_params(axis="x", labelrotation=30)
        for t in ax.get_xticklabels():
            t.set_ha("right")
            t.set_rotation_mode("anchor")


def _log_x(ax):
    """Log x axis with decade ticks; when the data span less than a decade (e.g. sizes in
    pixels) there is no decade to label, so the ticks go on a few round values instead."""
    from matplotlib.ticker import LogLocator, NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_minor_formatter(NullFormatter())
    lo, hi = ax.get_xlim()
    if lo > 0 and np.floor(np.log10(lo)) == np.floor(np.log10(hi)):
        ticks = [v for v in np.unique(np.round(np.geomspace(lo, hi, 4), -int(np.floor(np.log10(lo)))))
                 if lo <= v <= hi]
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])


def _errbar(ax, x, t, label, color=None, marker="o", offset=0.0, normalise=False):
    y, lo, hi = (t[c].to_numpy(dtype=float) for c in ("kappa", "ci_low", "ci_high"))
    scale = np.nanmean(y) if normalise else 1.0
    ax.errorbar(np.asarray(x, dtype=float) + offset, y / scale, yerr=[(y - lo) / scale, (hi - y) / scale],
                fmt=marker + "-", ms=4, capsize=2, color=color, label=label)


def _size_label(unit: str, prefix: str = "") -> str:
    """Axis label of the size factor: dmax in um, or the mask's maximum dimension in pixels."""
    return f"{prefix}dmax (um)" if unit == "um" else f"{prefix}max. dimension of the particle mask ({unit})"


def plot_trends(reports: dict[str, DiversityReport], normalise: bool = False):
    """kappa (with its interval) vs temperature, vs size and per campaign, one series per report.

    ``normalise`` divides each series by its mean so networks with different kappa scales
    share an axis (the sensitivity figure).
    """
    import matplotlib.pyplot as plt

    factors = [f for f in ("temperature", "size", "campaign") if any(f in r.by for r in reports.values())]
    if not factors:
        fig, ax = plt.subplots(figsize=(3, 1))
        ax.text(0.5, 0.5, "no temperature, size or campaign metadata", ha="center")
        ax.set_axis_off()
        return fig
    fig, axes = plt.subplots(1, len(factors), figsize=(3.3 * len(factors), 2.9), squeeze=False)
    ylab = "kappa / mean kappa" if normalise else "kappa (debiased, 95 % CI)"
    for ax, f in zip(axes[0], factors):
        for i, (name, rep) in enumerate(reports.items()):
            if f not in rep.by:
                continue
            t = rep.table(f)
            col = f"C{i}"
            if f == "campaign":
                _errbar(ax, np.arange(len(t)), t, name, col, "s", offset=0.12 * i, normalise=normalise)
                ax.set_xticks(np.arange(len(t)), [str(g).replace("-like", "") for g in t["group"]],
                              rotation=30, ha="right")
            else:
                _errbar(ax, t["x"], t, name, col, normalise=normalise)
                if not normalise and len(reports) == 1:
                    ax.plot(t["x"], t["kappa_paper"], "x", color="grey", label="paper estimator at equal n")
        if f == "size":
            _log_x(ax)
        unit = next(r.size_unit for r in reports.values() if f in r.by)
        ax.set_xlabel({"temperature": "temperature (deg C)", "size": _size_label(unit, "particle size "),
                       "campaign": "campaign"}[f])
        ax.set_ylabel(ylab)
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_class_similarity(sim: pd.DataFrame, class_kappa: GroupKappa | None = None):
    """Heatmap of mean pairwise cosine within/between classes, with per-class kappa beside it."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ncols = 2 if class_kappa is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(4.8 + 3.0 * (ncols - 1), 4.2), squeeze=False,
                             gridspec_kw={"width_ratios": [1.6, 1][:ncols]})
    sns.heatmap(sim, ax=axes[0, 0], cmap="viridis", square=True, cbar_kws={"label": "mean cosine similarity"},
                xticklabels=True, yticklabels=True)
    axes[0, 0].set_title("within (diagonal) and between classes")
    axes[0, 0].tick_params(labelsize=6)
    if class_kappa is not None:
        t = class_kappa.table.dropna(subset=["kappa"]).sort_values("kappa")
        ax = axes[0, 1]
        y = np.arange(len(t))
        ax.errorbar(t["kappa"], y, xerr=[t["kappa"] - t["ci_low"], t["ci_high"] - t["kappa"]], fmt="o", ms=3, capsize=2)
        ax.set_yticks(y, t["group"], fontsize=6)
        ax.set_xlabel("kappa within the class")
        ax.set_title("diversity inside each class")
    fig.tight_layout()
    return fig


def plot_kappa_entropy(rep: DiversityReport, factor: str = "temperature"):
    """Shannon entropy of the habit labels beside kappa per bin, and kappa inside single classes."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.9))
    ax = axes[0]
    if factor in rep.by and "entropy" in rep.by[factor].table.columns:
        t = rep.table(factor)
        x = t["x"] if "x" in t.columns else np.arange(len(t))
        ax.errorbar(x, t["entropy"], yerr=[t["entropy"] - t["entropy_low"], t["entropy_high"] - t["entropy"]],
                    fmt="o-", ms=4, capsize=2, color="C1", label="label entropy (nats)")
        ax.set_ylabel("Shannon entropy of habit labels", color="C1")
        ax2 = ax.twinx()
        _errbar(ax2, x, t, "kappa", "C0")
        ax2.set_ylabel("kappa (low = diverse)", color="C0")
        ax2.spines["right"].set_visible(True)
        if factor == "size":
            _log_x(ax)
        ax.set_xlabel({"temperature": "temperature (deg C)", "size": _size_label(rep.size_unit)}.get(factor, factor))
    else:
        ax.text(0.5, 0.5, f"no {factor} bins with labels", ha="center", transform=ax.transAxes)
    ax.set_title("per bin: conventional vs vMF diversity")
    ax = axes[1]
    if "class" in rep.by:
        t = rep.by["class"].table.dropna(subset=["kappa"]).sort_values("kappa")
        y = np.arange(len(t))
        ax.barh(y, t["kappa"], xerr=[t["kappa"] - t["ci_low"], t["ci_high"] - t["kappa"]], color="C0", alpha=0.7)
        ax.set_yticks(y, t["group"], fontsize=6)
        ax.set_xlabel("kappa (entropy = 0 inside every class)")
    ax.set_title("per class: what kappa adds")
    fig.tight_layout()
    return fig
