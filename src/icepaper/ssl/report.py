"""Tables and figures of pretraining runs (notebook 03): training curves, throughput, kNN check.

All inputs are :class:`icepaper.ssl.pretrain.PretrainResult` objects (their ``log`` is the
trainer's CSV log: loss, lr, momentum, teacher_temp, images_per_sec per logged step).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .trainer import load_checkpoint

LABELS = {"ibot_vmf": "iBOT-vMF (ViT)", "ibot": "iBOT (ViT, vMF off)", "moco": "MoCo v2 (ResNet)",
          "byol": "BYOL (ResNet)"}


def curves_figure(results: Mapping[str, object], smooth: int = 5):
    """Loss of each run (one panel each; raw and a ``smooth``-point running mean) above its
    learning rate, EMA momentum and (iBOT) teacher temperature against the training step."""
    import matplotlib.pyplot as plt

    n = max(len(results), 3)
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 6.4), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        log = res.log
        ax.plot(log["step"], log["loss"], color="0.75", lw=0.8, label="logged")
        ax.plot(log["step"], log["loss"].rolling(smooth, min_periods=1).mean(), color="C0", lw=1.6,
                label=f"running mean ({smooth})")
        ax.set(title=LABELS.get(name, name), xlabel="step", ylabel="training loss")
        ax.legend(fontsize=7)
    for ax in axes[0][len(results):]:
        ax.axis("off")
    for i, (name, res) in enumerate(results.items()):
        log, c = res.log, f"C{i}"
        axes[1][0].plot(log["step"], log["lr"].where(log["lr"] > 0), color=c, label=LABELS.get(name, name))
        axes[1][1].plot(log["step"], log["momentum"], color=c, label=LABELS.get(name, name))
        if "teacher_temp" in log and log["teacher_temp"].notna().any():
            axes[1][2].plot(log["step"], log["teacher_temp"], color=c, label=LABELS.get(name, name))
    axes[1][0].set(xlabel="step", ylabel="learning rate (log; final 0 not drawn)", yscale="log")
    axes[1][1].set(xlabel="step", ylabel="EMA (teacher / key) momentum")
    axes[1][2].set(xlabel="step", ylabel="teacher temperature")
    for ax in axes[1][:3]:
        ax.legend(fontsize=7)
    for ax in axes[1][3:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def loss_drop(res, frac: float = 0.1) -> tuple[float, float]:
    """(mean loss of the first ``frac`` of logged steps, mean loss of the last ``frac``).

    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(log=pd.DataFrame({"loss": [9.0, 8.0, 5.0, 4.0, 3.0, 2.0, 2.0, 1.0, 1.0, 1.0]}))
    >>> loss_drop(run, frac=0.2)  # mean of the first two and of the last two logged losses
    (8.5, 1.0)
    """
    loss = res.log["loss"].to_numpy()
    k = max(1, int(round(len(loss) * frac)))
    return float(np.mean(loss[:k])), float(np.mean(loss[-k:]))


def paired_gain(after: np.ndarray, before: np.ndarray, n_boot: int = 2000,
                seed: int = 0) -> tuple[float, float, float]:
    """Accuracy gain ``mean(after) - mean(before)`` of two per-image correctness arrays on the
    same scored images, and its 95 % paired bootstrap interval (images resampled together), in
    percentage points.

    >>> after, before = np.array([1, 1, 1, 1, 0]), np.array([0, 1, 0, 1, 0])
    >>> gain, lo, hi = paired_gain(after, before, n_boot=200)
    >>> round(gain, 1), lo <= gain <= hi
    (40.0, True)
    """
    a, b = np.asarray(after, dtype=float), np.asarray(before, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired_gain needs two equal-length 1-D arrays, got {a.shape} and {b.shape}")
    d = a - b
    idx = np.random.default_rng(seed).integers(0, len(d), size=(n_boot, len(d)))
    boot = d[idx].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return 100 * float(d.mean()), 100 * float(lo), 100 * float(hi)


def knn_gains(hits: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict]:
    """kNN accuracies before/after training and their paired gain, from per-image correctness.

    ``hits[run]`` = {"random_init": bool array, "trained": bool array} on the same scored
    images (the kNN check's val images).
    Per run: ``random_init`` and ``trained`` accuracy (0..1), ``gain_pp`` and ``gain_ci95_pp``
    (percentage points, 95 % paired bootstrap); plus ``vmf_vs_plain_ibot`` (trained iBOT-vMF
    minus trained plain iBOT) when both runs are there.

    >>> hits = {"ibot_vmf": {"random_init": np.array([0, 1, 0, 0]), "trained": np.array([1, 1, 1, 0])}}
    >>> g = knn_gains(hits)["ibot_vmf"]
    >>> g["random_init"], g["trained"], g["gain_pp"]
    (0.25, 0.75, 50.0)
    """
    knn: dict[str, dict] = {}
    for name, h in hits.items():
        gain, lo, hi = paired_gain(h["trained"], h["random_init"])
        knn[name] = {"random_init": float(np.mean(h["random_init"])), "trained": float(np.mean(h["trained"])),
                     "gain_pp": gain, "gain_ci95_pp": [lo, hi]}
    if "ibot_vmf" in hits and "ibot" in hits:
        gain, lo, hi = paired_gain(hits["ibot_vmf"]["trained"], hits["ibot"]["trained"])
        knn["vmf_vs_plain_ibot"] = {"gain_pp": gain, "gain_ci95_pp": [lo, hi]}
    return knn


def knn_text(knn: Mapping[str, Mapping], n_test: int) -> str:
    """The lines notebook 03 prints for :func:`knn_gains`: accuracy before and after training per
    run with the gain's interval and a verdict ("helped" when the whole interval is above 0).

    >>> knn = {"ibot_vmf": {"random_init": 0.25, "trained": 0.75, "gain_pp": 50.0, "gain_ci95_pp": [10.0, 90.0]}}
    >>> print(knn_text(knn, n_test=4))
    kNN accuracy (%) on 4 val images (fit on train); gain with its 95 % paired bootstrap interval:
         iBOT-vMF (ViT): random init 25.0 -> trained 75.0; gain +50.0 pp [+10.0, +90.0] (helped)
    """
    out = [f"kNN accuracy (%) on {n_test} val images (fit on train); gain with its 95 % paired bootstrap interval:"]
    for name, k in knn.items():
        if name == "vmf_vs_plain_ibot":
            continue
        lo, hi = k["gain_ci95_pp"]
        verdict = "helped" if lo > 0 else ("hurt" if hi < 0 else "no clear difference")
        out.append(f"{LABELS.get(name, name):>19}: random init {100 * k['random_init']:.1f} -> trained "
                   f"{100 * k['trained']:.1f}; gain {k['gain_pp']:+.1f} pp [{lo:+.1f}, {hi:+.1f}] ({verdict})")
    if "vmf_vs_plain_ibot" in knn:
        k = knn["vmf_vs_plain_ibot"]
        lo, hi = k["gain_ci95_pp"]
        verdict = "vMF helps" if lo > 0 else ("vMF hurts" if hi < 0 else "no clear difference at this scale")
        out.append(f"\niBOT-vMF vs plain iBOT (same data, steps, crops and seed): {k['gain_pp']:+.1f} pp "
                   f"[{lo:+.1f}, {hi:+.1f}] ({verdict})")
    return "\n".join(out)


def runs_table(results: Mapping[str, object]) -> pd.DataFrame:
    """One row per run: steps, images and crops seen, wall seconds, crops/s, first and last loss.

    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(log=pd.DataFrame({"loss": [9.0, 8.0, 5.0, 4.0, 3.0, 2.0, 2.0, 1.0, 1.0, 1.0]}))
    >>> run.__dict__.update(steps=10, images_seen=320, crops_seen=1280, seconds=12.34, images_per_sec=103.7)
    >>> row = runs_table({"moco": run}).loc["MoCo v2 (ResNet)"]
    >>> row[["seconds", "crops_per_sec", "loss_first_10pct", "loss_last_10pct"]].tolist()
    [12.3, 103.7, 9.0, 1.0]
    """
    rows = []
    for name, r in results.items():
        first, last = loss_drop(r)
        rows.append({"run": LABELS.get(name, name), "steps": r.steps, "images_seen": r.images_seen,
                     "crops_seen": r.crops_seen, "seconds": round(r.seconds, 1),
                     "crops_per_sec": round(r.images_per_sec, 1), "loss_first_10pct": round(first, 4),
                     "loss_last_10pct": round(last, 4)})
    return pd.DataFrame(rows).set_index("run")


def prototype_norms(res) -> np.ndarray | None:
    """|w_k| of the teacher head's K prototypes (the vMF concentrations x temperature), or None
    for runs without a DINO head. With vMF off every norm is 1 (normalised prototypes)."""
    state = load_checkpoint(res.checkpoint)["model"]
    g = state.get("teacher_head.last_layer.weight_g")
    return None if g is None else g.abs().flatten().float().numpy()
