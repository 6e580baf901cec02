"""Label-free health beside probe accuracy: does RankMe rank the networks as the probes do?

A user with unlabelled images cannot probe a checkpoint, but can compute label-free health
numbers (``icepaper.ssl.health``) of its embeddings. This module puts them beside the probes
of notebook 05, one row per network (trained run or random initialisation):

``health_vs_probes``
    RankMe (effective rank, Garrido et al. 2023), its spread over bootstrap resamples of the
    images (SD; RankMe depends on which images are embedded), and dim std of the L2-normalised
    embeddings (x sqrt(d): 1 = isotropic directions), beside the network's kNN and
    logistic-regression test accuracy (%). No label enters the health numbers.
``spearman``
    Spearman's rank correlation (average ranks for ties); NaN for fewer than 3 values or
    constant values.
``rank_agreement``
    Spearman's rho between RankMe and each probe's accuracy over the networks, with a percentile
    bootstrap over the test images of the accuracies (RankMe held fixed): the interval says how
    much the test-set noise in the accuracies moves rho, not how rho would change with other
    networks. With n networks, swapping one neighbouring pair moves rho by 12 / (n (n^2 - 1))
    (``swap_step``: 0.1 for 5, 0.2 for 4), so a handful of networks is weak evidence whatever
    rho is.
``agreement_sentence``, ``plot_rankme_vs_probes`` and ``summary``
    the generated sentences, the scatter figure (RankMe on x, accuracy on y) and the numbers for
    the results JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from icepaper.ssl.health import dim_std, effective_rank, rankme

PROBES = {"knn": ("kNN", "kNN %"), "logreg": ("logistic regression", "logreg %")}
N_BOOT = 2000  # bootstrap resamples of the test images for rho's interval (cheap: accuracies only)
#: [default] resamples of the images for RankMe's spread (one d x d eigen-decomposition each)
RANKME_BOOT = 20
#: [default] networks closer in RankMe than this many times its largest spread count as not
#: told apart by it (a rough guide, not a test)
TOLD_APART = 2.0


def rankme_spread(z, n_boot: int = RANKME_BOOT, seed: int = 0) -> float:
    """Standard deviation of RankMe of ``z`` (n, d) over ``n_boot`` bootstrap resamples of its
    rows (0 for ``n_boot`` < 2). Each resample's singular values come from the eigenvalues of
    the d x d weighted Gram matrix (rows counted as often as drawn), not from a new SVD.

    >>> z = np.random.default_rng(0).normal(size=(300, 6))
    >>> s = rankme_spread(z, n_boot=30)
    >>> bool(0 < s < 0.1), rankme_spread(np.outer(np.ones(50), np.arange(1, 5)), n_boot=5)
    (True, 0.0)
    """
    z = np.asarray(z, dtype=np.float64)
    if int(n_boot) < 2 or len(z) < 2:
        return 0.0
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    vals = []
    # one BLAS thread: small products, and multithreaded BLAS spin-waits when the cores are shared
    with threadpool_limits(1):
        for _ in range(int(n_boot)):
            w = np.bincount(rng.integers(0, len(z), len(z)), minlength=len(z)).astype(np.float64)
            ev = np.linalg.eigvalsh((z * w[:, None]).T @ z)
            vals.append(effective_rank(np.sqrt(np.clip(ev, 0.0, None))))
    return float(np.std(vals, ddof=1))


def health_vs_probes(embeddings: Mapping[str, np.ndarray], results: Mapping[str, Any], *,
                     n_boot: int = RANKME_BOOT, seed: int = 0) -> pd.DataFrame:
    """One row per network with embeddings (n, d) and a probe result (``.knn``, ``.logreg``, %):
    ``RankMe``, ``RankMe SD`` (:func:`rankme_spread`), ``RankMe % of min(n, d)``,
    ``dim std x sqrt(d)`` (1 = isotropic), ``kNN %``, ``logreg %``, ``n``, ``d``; unrounded.
    Networks whose result is None or missing are left out.

    >>> from types import SimpleNamespace as R
    >>> rng = np.random.default_rng(0)
    >>> emb = {"wide": rng.normal(size=(50, 8)), "thin": rng.normal(size=(50, 1)) @ rng.normal(size=(1, 8))}
    >>> res = {"wide": R(knn=70.0, logreg=75.0), "thin": R(knn=40.0, logreg=45.0), "none": None}
    >>> t = health_vs_probes({**emb, "none": emb["wide"]}, res, n_boot=5)  # "none" did not run
    >>> t.index.tolist(), round(float(t.loc["thin", "RankMe"]), 3), bool(t.loc["wide", "RankMe"] > 6)
    (['wide', 'thin'], 1.0, True)
    """
    rows = []
    for name, z in embeddings.items():
        r = results.get(name)
        if r is None:
            continue
        z = np.asarray(z, dtype=np.float64)
        n, d = z.shape
        rm = rankme(z)
        rows.append({"network": name, "RankMe": rm, "RankMe SD": rankme_spread(z, n_boot, seed),
                     "RankMe % of min(n, d)": 100 * rm / min(n, d), "dim std x sqrt(d)": dim_std(z) * np.sqrt(d),
                     "kNN %": float(r.knn), "logreg %": float(r.logreg), "n": int(n), "d": int(d)})
    cols = ["network", "RankMe", "RankMe SD", "RankMe % of min(n, d)", "dim std x sqrt(d)", "kNN %",
            "logreg %", "n", "d"]
    return pd.DataFrame(rows, columns=cols).set_index("network")


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, axis=-1)  # average ranks for ties


def spearman(x, y) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (Pearson's r of their average ranks);
    NaN for fewer than 3 values or when either is constant.

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40]), spearman([1, 2, 3, 4], [4, 3, 2, 1])
    (1.0, -1.0)
    >>> spearman([1, 2, 3, 4, 5], [1, 2, 3, 5, 4]), spearman([1, 2], [1, 2])
    (0.9, nan)
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"spearman needs paired values: {len(x)} vs {len(y)}")
    if len(x) < 3:
        return float("nan")
    rx, ry = _ranks(x) - (len(x) + 1) / 2, _ranks(y) - (len(y) + 1) / 2
    den = np.sqrt((rx**2).sum() * (ry**2).sum())
    return float("nan") if den == 0 else float(np.round((rx * ry).sum() / den, 12))


def _spearman_rows(x, ys: np.ndarray) -> np.ndarray:
    """:func:`spearman` of ``x`` with each row of ``ys`` (NaN for a constant row)."""
    rx = _ranks(np.asarray(x, dtype=np.float64))
    rx = rx - rx.mean()
    ry = _ranks(ys)
    ry = ry - ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx**2).sum() * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.round(ry @ rx / den, 12), np.nan)


def swap_step(n: int) -> float:
    """How much swapping the ranks of two neighbouring networks moves Spearman's rho over ``n``
    networks (no ties): 12 / (n (n^2 - 1)).

    >>> swap_step(4), swap_step(5), round(swap_step(10), 4)
    (0.2, 0.1, 0.0121)
    """
    return 12.0 / (n * (n * n - 1)) if n >= 2 else float("nan")


def _correct(r, probe: str) -> np.ndarray | None:
    y, pred = getattr(r, "y_test", None), getattr(r, f"{probe}_pred", None)
    if y is None or pred is None or len(y) == 0 or len(y) != len(pred):
        return None
    return np.asarray(y) == np.asarray(pred)


def rank_agreement(table: pd.DataFrame, results: Mapping[str, Any], *, n_boot: int = N_BOOT,
                   ci: float = 0.95, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Spearman's rho between ``table``'s RankMe and each probe's accuracy over its networks
    (:func:`health_vs_probes`), per probe: ``rho``, ``n_networks``, ``swap_step`` and
    ``interval`` ([low, high], a percentile bootstrap over the test images of the per-network
    accuracies with RankMe held fixed; None when rho is undefined or the networks were not all
    scored on the same test images with their per-image predictions kept).

    >>> from types import SimpleNamespace as R
    >>> y = np.array(["a", "b"] * 100)
    >>> def run(n_wrong):  # a network that gets its first n_wrong test images wrong
    ...     p = y.copy(); p[:n_wrong] = "c"
    ...     return R(knn=100 - n_wrong / 2, logreg=100 - n_wrong / 2, y_test=y, knn_pred=p, logreg_pred=p)
    >>> res = {"a": run(10), "b": run(40), "c": run(80), "d": run(120)}
    >>> t = pd.DataFrame({"RankMe": [9.0, 7.0, 5.0, 3.0], "kNN %": [95, 80, 60, 40],
    ...                   "logreg %": [95, 80, 60, 40]}, index=list(res))
    >>> a = rank_agreement(t, res, n_boot=200)["knn"]
    >>> a["rho"], a["n_networks"], a["interval"], a["swap_step"]
    (1.0, 4, [1.0, 1.0], 0.2)
    """
    names = list(table.index)
    x = table["RankMe"].to_numpy(dtype=np.float64)
    out: dict[str, dict[str, Any]] = {}
    for probe, (_, col) in PROBES.items():
        rho = spearman(x, table[col].to_numpy(dtype=np.float64))
        interval = None
        correct = [_correct(results.get(n), probe) for n in names]
        ys = [getattr(results.get(n), "y_test", None) for n in names]
        same = (len(names) >= 3 and all(c is not None for c in correct)
                and all(np.array_equal(np.asarray(ys[0]), np.asarray(y)) for y in ys))
        if same and np.isfinite(rho):
            c = np.stack(correct).astype(np.float64)  # (networks, test images)
            m = c.shape[1]
            rng = np.random.default_rng(seed)  # one resample of the test images per replicate
            w = np.stack([np.bincount(rng.integers(0, m, m), minlength=m) for _ in range(int(n_boot))])
            reps = _spearman_rows(x, (w @ c.T) / m)  # rho of each replicate's accuracies
            reps = reps[np.isfinite(reps)]  # a replicate where all accuracies tie has no rho
            if len(reps):
                lo, hi = np.quantile(reps, [(1 - ci) / 2, (1 + ci) / 2])
                interval = [round(float(lo), 3), round(float(hi), 3)]
        out[probe] = {"rho": rho, "n_networks": len(names), "swap_step": swap_step(len(names)),
                      "interval": interval}
    return out


def order(values: pd.Series) -> str:
    """Index of ``values`` from highest to lowest, equal values joined by "=".

    >>> order(pd.Series({"a": 50.0, "b": 60.0, "c": 50.0}))
    'b > a = c'
    """
    groups = values.groupby(values, sort=True).groups
    return " > ".join(" = ".join(map(str, groups[v])) for v in sorted(groups, reverse=True))


def _resolution(table: pd.DataFrame) -> str:
    """How finely RankMe's own noise (its spread over resampled images) lets it order the networks."""
    sd = float(table["RankMe SD"].max())
    gaps = np.diff(np.sort(table["RankMe"].to_numpy(dtype=np.float64)))
    span = float(table["RankMe"].max() - table["RankMe"].min())
    close = int(np.sum(gaps < TOLD_APART * sd))
    head = (f"RankMe spans {span:.3g} across the networks; over resampled test images it moves by up to "
            f"{sd:.2g} (SD)")
    if close == 0:
        return head + f", and every neighbouring pair is more than {TOLD_APART:g} SD apart."
    if close == len(gaps):
        return (head + ": RankMe does not tell these networks apart, so its order below, and rho, "
                "reflect noise.")
    return (head + f": {close} of the {len(gaps)} neighbouring pairs are closer than {TOLD_APART:g} SD, "
            "and RankMe does not tell those apart.")


def agreement_sentence(table: pd.DataFrame, agree: Mapping[str, Mapping[str, Any]]) -> str:
    """The notebook's sentences: rho per probe with its interval, how finely RankMe separates the
    networks, the networks in RankMe's order and in each probe's, and how little a few networks
    can show.

    >>> t = pd.DataFrame({"RankMe": [9.0, 3.0, 5.0], "RankMe SD": 0.1, "kNN %": [70, 40, 60],
    ...                   "logreg %": [50, 50, 50], "n": 100}, index=["x", "y", "z"])
    >>> agree = {"knn": {"rho": 1.0, "swap_step": 0.5, "interval": None},
    ...          "logreg": {"rho": float("nan"), "swap_step": 0.5, "interval": None}}
    >>> s = agreement_sentence(t, agree)
    >>> "over 3 networks" in s and "by RankMe: x > z > y" in s and "x = y = z" in s and "weak evidence" in s
    True
    >>> "logistic regression: undefined (every network has the same accuracy" in s
    True
    """
    n = len(table)
    if n < 3:
        return (f"Spearman's rank correlation needs at least 3 networks; {n} here, so RankMe's ranking "
                "is not compared with the probes'.")
    parts = []
    for probe, (label, col) in PROBES.items():
        a = agree[probe]
        if not np.isfinite(a["rho"]):
            what = ("RankMe is the same for every network" if table["RankMe"].nunique() == 1 else
                    f"every network has the same accuracy, {table[col].iloc[0]:.2f} %")
            parts.append(f"{label}: undefined ({what})")
            continue
        iv = a.get("interval")
        ivs = (f" (95 % bootstrap interval over the {int(table['n'].iloc[0])} test images: "
               f"[{iv[0]:+.2f}, {iv[1]:+.2f}])") if iv else ""
        parts.append(f"{label} rho = {a['rho']:+.2f}{ivs}")
    has_iv = any(agree[p].get("interval") for p in PROBES)
    return (f"Spearman's rank correlation between RankMe and probe accuracy over {n} networks: "
            + "; ".join(parts) + ".\n" + _resolution(table) + "\n"
            f"Ordered by RankMe: {order(table['RankMe'])}; by kNN: {order(table['kNN %'])}; "
            f"by logistic regression: {order(table['logreg %'])}.\n"
            f"This rests on {n} networks only: swapping one neighbouring pair moves rho by "
            f"{swap_step(n):.2g}, so it is weak evidence either way"
            + ("; the interval covers only the test-set noise in the accuracies, not the choice of "
               "networks." if has_iv else "."))


def summary(table: pd.DataFrame, agree: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The numbers for the results JSON: per network RankMe, its SD, dim std x sqrt(d) and both
    accuracies (%), ``n_images``, ``d``, and per probe rho (None when undefined), its interval
    and the number of networks.

    >>> t = pd.DataFrame({"RankMe": [9.0], "RankMe SD": [0.25], "dim std x sqrt(d)": [0.9], "kNN %": [70.0],
    ...                   "logreg %": [80.0], "n": [100], "d": [8]}, index=["x"])
    >>> s = summary(t, {p: {"rho": float("nan"), "n_networks": 1, "interval": None} for p in PROBES})
    >>> s["networks"]["x"], s["spearman"]["knn"]["rho"], s["n_images"]
    ({'rankme': 9.0, 'rankme_sd': 0.25, 'dim_std_x_sqrt_d': 0.9, 'knn': 70.0, 'logreg': 80.0}, None, 100)
    """
    def r(v: float, k: int = 4) -> float:
        return round(float(v), k)

    return {
        "networks": {str(name): {"rankme": r(row["RankMe"]), "rankme_sd": r(row["RankMe SD"]),
                                 "dim_std_x_sqrt_d": r(row["dim std x sqrt(d)"]), "knn": r(row["kNN %"], 3),
                                 "logreg": r(row["logreg %"], 3)}
                     for name, row in table.iterrows()},
        "n_images": int(table["n"].iloc[0]) if len(table) else 0,
        "d": int(table["d"].iloc[0]) if len(table) else 0,
        "spearman": {p: {"rho": r(a["rho"]) if np.isfinite(a["rho"]) else None, "interval": a["interval"],
                         "n_networks": int(a["n_networks"])} for p, a in agree.items()},
    }


def plot_rankme_vs_probes(table: pd.DataFrame, ax=None):
    """RankMe (x, with its SD as horizontal error bars) against test accuracy (%, y) of both
    probes, one colour per network (kNN: circle, logistic regression: square, joined by a thin
    line; legend on the right); returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if ax is None:
        _, ax = plt.subplots(figsize=(8.0, 3.8))
    handles = []
    for i, (name, row) in enumerate(table.iterrows()):
        x, sd, color = row["RankMe"], row["RankMe SD"], f"C{i % 10}"
        ax.plot([x, x], sorted((row["kNN %"], row["logreg %"])), color=color, lw=0.8, alpha=0.6)
        for col, marker in (("kNN %", "o"), ("logreg %", "s")):
            ax.errorbar([x], [row[col]], xerr=[sd], color=color, marker=marker, ms=6, lw=1, capsize=3,
                        alpha=0.9, zorder=3)
        handles.append(Line2D([], [], color=color, lw=3, label=str(name)))
    handles += [Line2D([], [], color="0.3", marker=m, ls="", label=lab)
                for m, lab in (("o", "kNN"), ("s", "logistic regression"))]
    ax.legend(handles=handles, frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    top = int(min(table["n"].iloc[0], table["d"].iloc[0])) if len(table) else 0
    ax.set_xlabel(f"RankMe of the test embeddings (at most {top}; bars: ± SD over resampled images)"
                  if top else "RankMe")
    ax.set_ylabel("test accuracy (%)")
    ax.margins(x=0.1, y=0.12)
    ax.figure.tight_layout()
    return ax.figure
