"""Sentences that compare the measured diversity trends with seed 000/001's findings.

Every sentence is computed from the numbers (slopes and their bootstrap intervals, the
similarity matrix, the entropy table), so it stays true for any profile or dataset.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .trends import DiversityReport

__all__ = ["PAPER_TRENDS", "verdicts", "trend_verdict", "compare_trends", "sensitivity_verdict",
           "similarity_verdict", "entropy_verdict"]

#: The paper's trends: the sign of d kappa / d x it reports, and the finding in words.
PAPER_TRENDS = {
    "temperature": (-1, "diversity rises with temperature, i.e. kappa falls as it gets warmer"),
    "size": (+1, "larger particles are less diverse, i.e. kappa rises with size"),
}



def verdicts(rep: DiversityReport) -> list[str]:
    """One sentence per factor present (temperature, size, campaign): paper's finding vs ours."""
    return [trend_verdict(f, rep) for f in ("temperature", "size", "campaign") if f in rep.by]


def trend_verdict(factor: str, rep: DiversityReport) -> str:
    """One sentence: the paper's finding, our slope with its interval, and whether they agree.

    Three temperature bins whose embeddings spread more the warmer it is (kappa falls):

    >>> from icepaper.diversity.trends import analyse_diversity
    >>> t = np.repeat([-30.0, -20.0, -10.0], 40)
    >>> noise = np.random.default_rng(0).normal(size=(120, 8))
    >>> emb = np.eye(8)[0] + (0.1 + 0.03 * (t[:, None] + 30)) * noise
    >>> rep = analyse_diversity(emb, pd.DataFrame({"temperature_c": t}), n_temp_bins=3, min_n=20, n_boot=50)
    >>> print(trend_verdict("temperature", rep))  # doctest: +ELLIPSIS
    Temperature (paper: diversity rises with temperature, i.e. kappa falls as it gets warmer): slope -4.6... kappa per deg C, 95 % interval [...]: ours agrees with the paper.
    """
    if factor == "campaign":
        t = rep.table("campaign").dropna(subset=["kappa"])
        if len(t) < 2:
            return "Campaigns: fewer than two campaigns with enough particles; no comparison."
        hi, lo = t.loc[t["kappa"].idxmax()], t.loc[t["kappa"].idxmin()]
        separated = hi["ci_low"] > lo["ci_high"]
        return (f"Campaigns (paper: diversity differs between campaigns): kappa ranges from "
                f"{lo['kappa']:.1f} ({lo['group']}) to {hi['kappa']:.1f} ({hi['group']}); the "
                f"intervals of the extremes {'do not overlap, so ours agrees' if separated else 'overlap, so we cannot confirm it at this scale'}.")
    s = rep.slopes[factor]
    want, text = PAPER_TRENDS[factor]
    if not math.isfinite(s.slope):
        return f"{factor.capitalize()}: too few bins with enough particles for a slope."
    agree = {want: "agrees with the paper", -want: "contradicts the paper",
             0: "is not resolved (the interval contains 0)"}[s.sign]
    return (f"{factor.capitalize()} (paper: {text}): slope {s.slope:+.3g} kappa per {s.units}, "
            f"{int(round(100 * rep.by[factor].ci))} % interval [{s.ci_low:+.3g}, {s.ci_high:+.3g}]: ours {agree}.")


def compare_trends(reports: dict[str, DiversityReport]) -> pd.DataFrame:
    """One row per network: temperature and size slopes with intervals and the verdicts' signs.

    Three temperature bins whose embeddings spread more the warmer it is (kappa falls):

    >>> from icepaper.diversity.trends import analyse_diversity
    >>> t = np.repeat([-30.0, -20.0, -10.0], 40)
    >>> noise = np.random.default_rng(0).normal(size=(120, 8))
    >>> emb = np.eye(8)[0] + (0.1 + 0.03 * (t[:, None] + 30)) * noise
    >>> rep = analyse_diversity(emb, pd.DataFrame({"temperature_c": t}), n_temp_bins=3, min_n=20, n_boot=50)
    >>> compare_trends({"ssl": rep}).loc["ssl", ["temperature_ci", "temperature_agrees"]].tolist()
    ['[-5.08, -3.91]', 'yes']
    """
    rows = []
    for name, rep in reports.items():
        row: dict[str, Any] = {"network": name}
        for f in ("temperature", "size"):
            if f in rep.slopes:
                sl = rep.slopes[f]
                want = PAPER_TRENDS[f][0]
                row[f"{f}_slope"] = sl.slope
                row[f"{f}_ci"] = f"[{sl.ci_low:+.3g}, {sl.ci_high:+.3g}]"
                row[f"{f}_agrees"] = {want: "yes", -want: "opposite", 0: "unresolved"}[sl.sign]
        rows.append(row)
    return pd.DataFrame(rows).set_index("network")


def sensitivity_verdict(reports: dict[str, DiversityReport]) -> str:
    """Sentence per trend: does each network reproduce it (from the slope intervals)? With two
    networks, also says when their kappas are nearly identical (the comparison then says little).

    Three temperature bins whose embeddings spread more the warmer it is (kappa falls):

    >>> from icepaper.diversity.trends import analyse_diversity
    >>> t = np.repeat([-30.0, -20.0, -10.0], 40)
    >>> noise = np.random.default_rng(0).normal(size=(120, 8))
    >>> emb = np.eye(8)[0] + (0.1 + 0.03 * (t[:, None] + 30)) * noise
    >>> rep = analyse_diversity(emb, pd.DataFrame({"temperature_c": t}), n_temp_bins=3, min_n=20, n_boot=50)
    >>> print(sensitivity_verdict({"ssl": rep}))  # doctest: +NORMALIZE_WHITESPACE
    Temperature (ssl: kappa falls with temperature): every network shows the paper's direction, so
    it is carried at least partly by image statistics that even an untrained network sees.
    """
    word = {1: "kappa rises", -1: "kappa falls", 0: "no resolved trend"}
    out = []
    for f in ("temperature", "size"):
        have = {k: r.slopes[f] for k, r in reports.items() if f in r.slopes and math.isfinite(r.slopes[f].slope)}
        if not have:
            continue
        want = PAPER_TRENDS[f][0]
        parts = [f"{k}: {word[s.sign]} with {f}" for k, s in have.items()]
        signs = {s.sign for s in have.values()}
        if len(signs) > 1:
            tail = "the networks differ, so the trend depends on what the network learned"
        elif signs == {want}:
            tail = ("every network shows the paper's direction, so it is carried at least partly by image "
                    "statistics that even an untrained network sees")
        elif signs == {0}:
            tail = "no network resolves a trend at this scale"
        else:
            tail = "every network shows the opposite of the paper's direction"
        out.append(f"{f.capitalize()} ({'; '.join(parts)}): {tail}.")
    if not out:
        return "No temperature or size metadata: nothing to compare."
    if len(reports) == 2:
        a, b = reports.values()
        diffs = [np.abs(a.by[f].table["kappa"] / b.by[f].table["kappa"] - 1.0).to_numpy(dtype=float)
                 for f in a.by if f in b.by and len(a.by[f].table) == len(b.by[f].table)]
        d = float(np.nanmedian(np.concatenate(diffs))) if diffs else math.nan
        if d < 0.02:
            out.append(f"The two networks' kappas differ by a median {d:.2%} per group: at this training length the "
                       "SSL network has barely moved from its random initialisation, so this comparison cannot "
                       "separate learned from untrained features.")
    return " ".join(out)


def similarity_verdict(sim: pd.DataFrame) -> str:
    """Sentence: mean within- vs between-class cosine similarity, how many classes are more
    similar inside than to any other class, and whether that matches seed 000's separated clusters.

    >>> sim = pd.DataFrame([[0.9, 0.2], [0.2, 0.8]], index=["plate", "column"], columns=["plate", "column"])
    >>> print(similarity_verdict(sim))  # doctest: +NORMALIZE_WHITESPACE
    Mean cosine similarity within a class 0.850 vs between classes 0.200; 2 of 2 classes are more
    similar inside than to any other class (seed 000 saw habits as separated clusters: ours agrees).
    The closest pair of classes is plate / column (0.200).
    """
    a = sim.to_numpy()
    k = len(a)
    off = ~np.eye(k, dtype=bool)
    within, between = float(np.mean(np.diag(a))), float(np.mean(a[off]))
    i, j = np.unravel_index(np.argmax(np.where(off, a, -np.inf)), a.shape)
    separated = int(sum(a[c, c] > np.max(a[c, off[c]]) for c in range(k)))
    verdict = ("ours agrees" if separated == k else "ours agrees only in part" if 2 * separated >= k
               else "ours does not reproduce it")
    return (f"Mean cosine similarity within a class {within:.3f} vs between classes {between:.3f}; "
            f"{separated} of {k} classes are more similar inside than to any other class "
            f"(seed 000 saw habits as separated clusters: {verdict}). The closest pair of classes is "
            f"{sim.index[i]} / {sim.columns[j]} ({a[i, j]:.3f}).")


def entropy_verdict(rep: DiversityReport, factor: str = "temperature") -> str:
    """Sentences comparing label entropy with kappa across bins and showing kappa inside classes.

    >>> from icepaper.diversity.trends import analyse_diversity
    >>> rep = analyse_diversity(np.random.default_rng(0).normal(size=(60, 8)), min_n=20, n_boot=20)
    >>> entropy_verdict(rep)
    'No habit labels: the entropy comparison needs labels.'
    """
    from scipy.stats import spearmanr

    out = []
    if factor in rep.by and "entropy" in rep.by[factor].table.columns:
        t = rep.table(factor).dropna(subset=["kappa", "entropy"])
        if len(t) >= 3:
            r = float(spearmanr(t["entropy"], t["kappa"]).statistic)
            agree = ("the two measures agree: more label diversity goes with lower kappa" if r <= -0.5 else
                     "the two measures disagree: kappa rises where the label entropy rises" if r >= 0.5 else
                     "the two measures are only weakly related here")
            out.append(f"Across {len(t)} {factor} bins the Spearman correlation of label entropy and kappa is "
                       f"{r:+.2f}: {agree}.")
    if "class" in rep.by:
        t = rep.by["class"].table.dropna(subset=["kappa"])
        if len(t) >= 2:
            lo, hi = t.loc[t["kappa"].idxmin()], t.loc[t["kappa"].idxmax()]
            out.append(f"Inside single classes the label entropy is 0 by definition, yet kappa ranges from "
                       f"{lo['kappa']:.3g} ({lo['group']}, the most varied class) to {hi['kappa']:.3g} "
                       f"({hi['group']}), a factor of {hi['kappa'] / max(lo['kappa'], 1e-12):.1f}: "
                       f"the within-class diversity kappa adds to a label count.")
    return " ".join(out) if out else "No habit labels: the entropy comparison needs labels."
