"""Ko et al. 2025, habit diversity (notebook 07): the paper's trends and every
sentence that checks them on our numbers (``ko2025`` re-exports these names).

Slope verdicts are three-state (``icepaper.core.verdicts``): holds / fails / not resolved from the
slope's bootstrap interval against 0. The campaign, similarity and entropy sentences say what
they rest on (non-overlapping intervals; counts and correlations without an interval).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from icepaper.core import verdicts as V

if TYPE_CHECKING:
    from icepaper.diversity.trends import DiversityReport

#: The paper's trends: the sign of d kappa / d x it reports, and the finding in words. Ko et al.
#: 2025, in the project's texts: the summary page (../shared/papers/000_*.txt, "Key Findings":
#: "Higher temperature leads to greater diversity (lower kappa); larger particles exhibit lower
#: diversity (higher kappa). Significant variation is observed across different field
#: campaigns.") and the arXiv abstract page (001_*.txt, "Key Results"). Neither gives the
#: figure these trends are read from, nor a slope value: only the signs are compared.
PAPER_TRENDS = {
    "temperature": (-1, "diversity rises with temperature, i.e. kappa falls as it gets warmer"),
    "size": (+1, "larger particles are less diverse, i.e. kappa rises with size"),
}


# ----------------------------------------------------------------------------- claims (notebook 07)


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
    Temperature (paper: diversity rises with temperature, i.e. kappa falls as it gets warmer): slope -4.6... kappa per deg C, 95 % interval [...] (rule: ...) -> holds: ours agrees with the paper.
    """
    if factor == "campaign":
        t = rep.table("campaign").dropna(subset=["kappa"])
        if len(t) < 2:
            return "Campaigns: fewer than two campaigns with enough particles; no comparison."
        hi, lo = t.loc[t["kappa"].idxmax()], t.loc[t["kappa"].idxmin()]
        separated = hi["ci_low"] > lo["ci_high"]
        return (f"Campaigns (paper: diversity differs between campaigns): kappa ranges from "
                f"{lo['kappa']:.1f} ({lo['group']}) to {hi['kappa']:.1f} ({hi['group']}); rule: holds if the "
                f"intervals of the extremes do not overlap, else not resolved -> "
                f"{'holds: they do not overlap, so ours agrees' if separated else 'not resolved: they overlap, so we cannot confirm it at this scale'}.")
    s = rep.slopes[factor]
    want, text = PAPER_TRENDS[factor]
    if not math.isfinite(s.slope):
        return f"{factor.capitalize()}: too few bins with enough particles for a slope."
    v = slope_verdict(s, want)
    agree = {V.HOLDS: "holds: ours agrees with the paper", V.FAILS: "fails: ours contradicts the paper",
             V.UNRESOLVED: "not resolved: the interval contains 0"}[v.state]
    return (f"{factor.capitalize()} (paper: {text}): slope {s.slope:+.3g} kappa per {s.units}, "
            f"{int(round(100 * rep.by[factor].ci))} % interval [{s.ci_low:+.3g}, {s.ci_high:+.3g}] "
            f"(rule: {v.rule}) -> {agree}.")


def slope_verdict(s, want: int) -> V.Verdict:
    """Three-state verdict on the paper's sign ``want`` (+1 / -1) of a kappa slope, from its
    bootstrap interval: holds when the interval lies wholly on the paper's side of 0, fails when
    wholly on the other side, not resolved when it contains 0 (margin 0).

    >>> from icepaper.diversity.kappa import Slope
    >>> [slope_verdict(Slope(x, x - 1, x + 1, 0.5), -1).state for x in (-2.0, 2.0, 0.5)]
    ['holds', 'fails', 'not resolved']
    """
    return V.from_interval(s.slope, s.ci_low, s.ci_high, "<" if want < 0 else ">", 0.0,
                           method="bootstrap over particles")


def compare_trends(reports: dict[str, DiversityReport]) -> pd.DataFrame:
    """One row per network: temperature and size slopes with intervals and the three-state
    verdict on the paper's sign (``slope_verdict``: holds / fails / not resolved).

    Three temperature bins whose embeddings spread more the warmer it is (kappa falls):

    >>> from icepaper.diversity.trends import analyse_diversity
    >>> t = np.repeat([-30.0, -20.0, -10.0], 40)
    >>> noise = np.random.default_rng(0).normal(size=(120, 8))
    >>> emb = np.eye(8)[0] + (0.1 + 0.03 * (t[:, None] + 30)) * noise
    >>> rep = analyse_diversity(emb, pd.DataFrame({"temperature_c": t}), n_temp_bins=3, min_n=20, n_boot=50)
    >>> compare_trends({"ssl": rep}).loc["ssl", ["temperature_ci", "temperature_verdict"]].tolist()
    ['[-5.11, -3.93]', 'holds']
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
                row[f"{f}_verdict"] = slope_verdict(sl, want).state
        rows.append(row)
    return pd.DataFrame(rows).set_index("network")


def sensitivity_verdict(reports: dict[str, DiversityReport]) -> str:
    """Sentence per trend: does each network reproduce it (from the slope intervals: a network
    "shows" a direction when its interval excludes 0 on that side, as in ``slope_verdict``)? With two
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
    word = {1: "kappa rises", -1: "kappa falls", 0: "no resolved trend"}  # sign: the interval excludes 0
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
    similar inside than to any other class, and whether that matches Ko et al. 2025's separated clusters.

    >>> sim = pd.DataFrame([[0.9, 0.2], [0.2, 0.8]], index=["plate", "column"], columns=["plate", "column"])
    >>> print(similarity_verdict(sim))  # doctest: +NORMALIZE_WHITESPACE
    Mean cosine similarity within a class 0.850 vs between classes 0.200; 2 of 2 classes are more
    similar inside than to any other class (Ko et al. 2025 saw habits as separated clusters: ours agrees).
    The closest pair of classes is plate / column (0.200). (A count of mean similarities without an
    interval: descriptive, not a three-state verdict.)
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
            f"(Ko et al. 2025 saw habits as separated clusters: {verdict}). The closest pair of classes is "
            f"{sim.index[i]} / {sim.columns[j]} ({a[i, j]:.3f}). (A count of mean similarities without an "
            f"interval: descriptive, not a three-state verdict.)")


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
                       f"{r:+.2f}: {agree} (a correlation over {len(t)} bins without an interval: descriptive, "
                       f"not a three-state verdict).")
    if "class" in rep.by:
        t = rep.by["class"].table.dropna(subset=["kappa"])
        if len(t) >= 2:
            lo, hi = t.loc[t["kappa"].idxmin()], t.loc[t["kappa"].idxmax()]
            out.append(f"Inside single classes the label entropy is 0 by definition, yet kappa ranges from "
                       f"{lo['kappa']:.3g} ({lo['group']}, the most varied class) to {hi['kappa']:.3g} "
                       f"({hi['group']}), a factor of {hi['kappa'] / max(lo['kappa'], 1e-12):.1f}: "
                       f"the within-class diversity kappa adds to a label count.")
    return " ".join(out) if out else "No habit labels: the entropy comparison needs labels."
