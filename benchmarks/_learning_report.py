"""Outputs of the learning-curve benchmark: the CSV, the markdown table and the figure.

One row per (dataset, method, mark, probe): ``mark_min`` the planned budget (0 = the random
initialisation; the geometric features have only mark 0), ``minutes`` the training wall time
actually spent when the probe ran, ``val_acc`` / ``test_acc`` fractions in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

COLUMNS = ("dataset", "method", "label", "arch", "mark_min", "minutes", "step", "images_seen", "probe",
           "val_acc", "test_acc", "C", "scheme", "n_train", "n_val", "n_test")
PROBE_NAMES = {"knn": "kNN", "logreg": "logistic regression"}
DATASET_NAMES = {"cpi": "synthetic CPI-like (default)", "oap": "synthetic OAP (2D-S / PIP)"}


def frame(rows: Sequence[dict]) -> pd.DataFrame:
    """The rows as a table with the columns in :data:`COLUMNS` order."""
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def _pct(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"


def markdown_table(rows: Sequence[dict], marks: Sequence[float]) -> str:
    """Val accuracy (%) at each mark, and test accuracy (%) at the last mark, per dataset x
    method x probe (features: one value, no training)."""
    df = frame(rows)
    last = max(marks)
    head = ["dataset", "method", "probe"] + [f"val % at {m:g} min" for m in [0, *marks]] + [f"test % at {last:g} min"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (dset, method, probe), g in df.groupby(["dataset", "method", "probe"], sort=False):
        by_mark = {float(r.mark_min): r for r in g.itertuples()}
        cells = [_pct(by_mark[m].val_acc) if m in by_mark else "" for m in [0.0, *map(float, marks)]]
        end = by_mark.get(float(last)) or (by_mark[0.0] if method == "features" else None)
        label = g["label"].iloc[0] + (" (no training)" if method == "features" else "")
        lines.append("| " + " | ".join([dset, label, PROBE_NAMES[probe], *cells,
                                        _pct(end.test_acc) if end is not None else ""]) + " |")
    return "\n".join(lines)


def figure(rows: Sequence[dict], path: Path, title: str = "") -> Path:
    """Val accuracy (%) against training minutes, one panel per dataset x probe: a line per
    trained method (supervised dashed), the geometric features as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = frame(rows)
    dsets = list(dict.fromkeys(df["dataset"]))
    probes = [p for p in PROBE_NAMES if p in set(df["probe"])]
    fig, axes = plt.subplots(len(dsets), len(probes), figsize=(5.2 * len(probes), 3.6 * len(dsets)),
                             squeeze=False, sharex=True)
    cmap = plt.get_cmap("tab10")
    methods = [m for m in dict.fromkeys(df["method"]) if m != "features"]
    for i, dset in enumerate(dsets):
        for j, probe in enumerate(probes):
            ax = axes[i, j]
            sub = df[(df["dataset"] == dset) & (df["probe"] == probe)]
            for c, m in enumerate(methods):
                g = sub[sub["method"] == m].sort_values("minutes")
                if len(g):
                    ax.plot(g["minutes"], 100 * g["val_acc"], marker="o", ms=4, color=cmap(c % 10),
                            ls="--" if m.startswith("supervised") else "-", label=g["label"].iloc[0])
            feat = sub[sub["method"] == "features"]
            if len(feat):
                ax.axhline(100 * feat["val_acc"].iloc[0], color="0.35", ls=":", lw=1.5, label=feat["label"].iloc[0])
            ax.set_title(f"{DATASET_NAMES.get(dset, dset)}: {PROBE_NAMES[probe]}", fontsize=9)
            ax.set_ylabel("val accuracy (%)")
            ax.grid(alpha=0.3)
            if i == len(dsets) - 1:
                ax.set_xlabel("training wall time (CPU minutes; 0 = random init)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.1 / len(dsets), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight", metadata={"Software": "icepaper"})
    plt.close(fig)
    return path
