"""Chu et al. 2025 (seed 002): the paper's figures and findings, checked against a
:class:`icepaper.cssl.StudyResult` (numbers computed, never typed in; notebook 06).

``paper_figure`` / ``figure_file`` name the paper's figure for each view and scheme.
``paper_claims(res)`` returns one row per finding: the figure, the paper's statement and
number, ours, and whether ours agrees (``None`` where the data cannot say, e.g. too few
budgets). ``sentences(res, figure)`` turns a figure's rows into text for the notebook.

"Small" and "large" budgets: the lower half of the budget list and the rest
(``StudyResult.small_large``); the paper's thresholds were 2048 of 18,864 images (19
classes) and 512 of 8,192 (4 classes), which our smaller pools do not reach.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from icepaper.cssl.labelcost import is_complex
from icepaper.cssl.metrics import (
    confusion_groups,
    precision_recall,
    separation_stages,
)

SIMILAR_PP = 2.0  # [default] two accuracies within this many percentage points count as "similar"

# seed 002's figure for each view; the 4-category scheme has its own, any other scheme
# (19 categories, a user's classes) the 19-category one
_FIGURES = {"accuracy": ("4", "9"), "cost": ("5", "10"), "confusion_basic": ("6", "11"),
            "confusion_process": ("7", "11"),
            "confusion": ("11", "11"), "tsne": ("8", "8"), "generalization": ("12", "12"),
            "loss": ("A2", "A2")}


def paper_figure(kind: str, scheme: str) -> str:
    """The paper's figure ('Fig. 9') that a ``kind`` of view of ``scheme`` reproduces."""
    if kind not in _FIGURES:
        raise ValueError(f"unknown figure kind {kind!r}; choose from {sorted(_FIGURES)}")
    return "Fig. " + _FIGURES[kind][scheme == "habit4"]


def figure_file(kind: str, scheme: str) -> str:
    """File name of a saved figure, e.g. ``seed002_fig9_accuracy_habit4``."""
    return f"seed002_fig{paper_figure(kind, scheme)[5:]}_{kind}_{scheme}"


# --------------------------------------------------------------------------- confusion views


# --------------------------------------------------------------------------- embeddings


# --------------------------------------------------------------------------- claims


def _fmt(x: float | None, unit: str = " pp", sign: bool = True) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.1f}{unit}" if sign else f"{x:.1f}{unit}"


def _mean(s: pd.Series, budgets) -> float:
    v = s.reindex(budgets).dropna()
    return float(v.mean()) if len(v) else float("nan")


def _has(res, *models) -> bool:
    return all(m in res.models for m in models)


def _scheme(res, want: str) -> str | None:
    if want in res.schemes:
        return want
    return res.schemes[0] if want == "habit19" and res.schemes else None


def _accuracy_claims(res, s: str, fig: str, paper_small: str, paper_pair: tuple[str, ...]) -> list[dict]:
    rows = []
    small, large = res.small_large(s)
    full = max(res.budgets(s))
    inc = {m: res.oa(s, m) for m in res.models}
    ok = [float(v.iloc[-1]) > float(v.iloc[0]) for v in inc.values() if len(v) >= 2]
    rows.append(dict(figure=fig, claim="overall accuracy rises with the number of labelled images",
                     paper="yes, for every model",
                     ours=", ".join(f"{res.label(m)} {v.iloc[0]:.1f} -> {v.iloc[-1]:.1f} %" for m, v in inc.items()),
                     agrees=all(ok) if ok else None))
    if _has(res, "moco", "supervised"):
        gap = res.gap(s, "moco")
        gs, gl = _mean(gap, small), _mean(gap, large)
        rows.append(dict(figure=fig, claim="Semisup-MoCo beats the supervised baseline with few labels",
                         paper=paper_small, ours=f"{_fmt(gs)} on average for n <= {max(small)}",
                         agrees=bool(gs > 0)))
        rows.append(dict(figure=fig, claim="the gap narrows with more labels",
                         paper="gap smaller at large n",
                         ours=f"{_fmt(gs)} (n <= {max(small)}) vs {_fmt(gl)} (n >= {min(large)})" if large else "n/a",
                         agrees=bool(gl < gs) if large else None))
    if _has(res, "byol", "supervised"):
        gb = float(res.gap(s, "byol").mean())
        want_pos = "byol" in paper_pair
        rows.append(dict(figure=fig, claim=("Semisup-BYOL beats the baseline" if want_pos
                                            else "Semisup-BYOL is below the baseline"),
                         paper="above on 4 classes" if want_pos else "below on 19 classes",
                         ours=f"{_fmt(gb)} on average over budgets",
                         agrees=bool(gb > 0) if want_pos else bool(gb < 0)))
    a = res.accuracy()
    a = a[a.scheme == s]
    ss = a[a.budget.isin(small)]["std"].mean()
    sl = a[a.budget.isin(large)]["std"].mean()
    rows.append(dict(figure=fig, claim="results vary more across folds with few labels",
                     paper="wider boxes for small n",
                     ours=f"fold std {ss:.2f} pp (small n) vs {sl:.2f} pp (large n)" if large else "n/a",
                     agrees=bool(ss > sl) if large and np.isfinite(ss) and np.isfinite(sl) else None))
    if _has(res, "moco", "supervised"):
        m, b = res.oa(s, "moco").get(full, np.nan), res.oa(s, "supervised").get(full, np.nan)
        rows.append(dict(figure=fig, claim="with all labels Semisup-MoCo and the baseline are comparable",
                         paper="77.9 vs 78.2 % (19 cl., IceDetectNet); 89.6 vs 90.1 % (4 cl.)",
                         ours=f"{m:.1f} vs {b:.1f} % at n = {full}",
                         agrees=bool(abs(m - b) <= SIMILAR_PP)))
    return rows


def _cost_claims(res, s: str, fig: str, paper: str) -> list[dict]:
    if "moco" not in res.models:
        return []
    c = res.labelling_curve(s, "moco")
    inf = res.inflection(s, "moco")
    rt = float(c.label_h.max())
    if inf["budget"] is None:
        ours = "no knee (fewer than three budgets, or no point below the chord)"
        agrees = None
    else:
        share = inf["time_saved_h"] / rt * 100 if rt else float("nan")
        ours = (f"knee at n = {inf['budget']}: {inf['time_saved_h']:.2f} h saved ({share:.0f} % of the "
                f"labelling time; {inf['time_saved_h_flat33']:.2f} h at a flat 33 s) for a DOA of {inf['doa']:.1f} pp")
        agrees = bool(inf["doa"] <= 5.0)
    return [dict(figure=fig, claim="an inflection point saves most labelling time for a small accuracy loss "
                                   "(conclusion: DOA within 5 %)", paper=paper, ours=ours, agrees=agrees)]


def _confusion_claims(res, s: str) -> list[dict]:
    if not _has(res, "moco", "supervised"):
        return []
    classes = res.classes(s)
    rows = []
    cms = {m: res.confusion(s, m) for m in ("moco", "supervised")}
    basic = {m: precision_recall(confusion_groups(cm, classes, "basic")[0])[2] for m, cm in cms.items()}
    if any(not is_complex(c) for c in classes):
        rows.append(dict(figure="Fig. 6", claim="on basic habits Semisup-MoCo and the baseline are similar",
                         paper="94.11 vs 94.04 %", ours=f"{basic['moco']:.1f} vs {basic['supervised']:.1f} %",
                         agrees=bool(abs(basic["moco"] - basic["supervised"]) <= SIMILAR_PP)))
    proc = {m: confusion_groups(cm, classes, "process") for m, cm in cms.items()}
    if len(proc["moco"][1]) >= 2:
        oa = {m: precision_recall(v[0])[2] for m, v in proc.items()}
        rows.append(dict(figure="Fig. 7", claim="on complex shapes Semisup-MoCo beats the baseline",
                         paper="higher precision, recall and accuracy",
                         ours=f"{oa['moco']:.1f} vs {oa['supervised']:.1f} %", agrees=bool(oa["moco"] > oa["supervised"])))
        _, rec, _ = precision_recall(proc["moco"][0])
        names = proc["moco"][1]
        if "aged" in names:
            others = [rec[k] for k, n in enumerate(names) if n != "aged"]
            rows.append(dict(figure="Fig. 7", claim="aged crystals are recognised better than aggregates",
                             paper="~90 % vs 60-65 % precision/recall",
                             ours=", ".join(f"{n} {r:.0f} %" for n, r in zip(names, rec)) + " recall (MoCo)",
                             agrees=bool(all(rec[names.index("aged")] > o for o in others))))
    return rows


def _complex_4(res, s: str) -> list[dict]:
    if not _has(res, "moco", "supervised"):
        return []
    pcs = res.per_class_scores(s)
    cplx = [c for c in res.classes(s) if is_complex(c)]
    if not cplx:
        return []
    t = pcs[pcs["class"].isin(cplx)].set_index(["model", "class"])
    dp = float((t.loc["moco"]["precision"] - t.loc["supervised"]["precision"]).mean())
    dr = float((t.loc["moco"]["recall"] - t.loc["supervised"]["recall"]).mean())
    return [dict(figure="Fig. 11", claim="with 4 classes Semisup-MoCo is better on the complex shapes",
                 paper="+2.5 pp precision, +3.5 pp recall on average",
                 ours=f"{_fmt(dp)} precision, {_fmt(dr)} recall", agrees=bool(dr > 0 and dp > 0))]


def _generalization_claims(res, s: str) -> list[dict]:
    if not res.has_generalization(s) or not _has(res, "moco", "supervised"):
        return []
    camp = res.task(s)["gen_campaign"]
    gap = res.gap(s, "moco", which="gen")
    small, large = res.small_large(s)
    rows = [dict(figure="Fig. 12", claim=f"Semisup-MoCo generalizes better to the unseen campaign ({camp})",
                 paper="+2.19 pp on average over sizes", ours=f"{_fmt(float(gap.mean()))} on average over sizes",
                 agrees=bool(gap.mean() > 0))]
    if large:
        gs, gl = _mean(gap, small), _mean(gap, large)
        rows.append(dict(figure="Fig. 12", claim="the generalization gap is largest with few labels",
                         paper="large for n < 1024, within ~1 pp beyond",
                         ours=f"{_fmt(gs)} (n <= {max(small)}) vs {_fmt(gl)} (n >= {min(large)})",
                         agrees=bool(gs > gl)))
    if "byol" in res.models:
        gb = float(res.gap(s, "byol", which="gen").mean())
        rows.append(dict(figure="Fig. 12", claim="Semisup-BYOL generalizes worse than the baseline",
                         paper="below the baseline", ours=f"{_fmt(gb)} on average", agrees=bool(gb < 0)))
    return rows


def _tsne_claims(res, s: str) -> list[dict]:
    st = separation_stages(res, s)
    if "pretrained" not in st:
        return []
    return [dict(figure="Fig. 8", claim="classes mix before pretraining, cluster partly after it and "
                                       "separate after fine-tuning",
                 paper="no clusters -> some clusters -> distinct clusters",
                 ours=(f"5-NN label accuracy {st['before']:.1f} % -> {st['pretrained']:.1f} % -> "
                       f"{st['finetuned']:.1f} %"),
                 agrees=bool(st["before"] < st["pretrained"] < st["finetuned"]))]


def _loss_claims(res, s: str) -> list[dict]:
    if "moco" not in res.models:
        return []
    r = res.runs[(res.runs.scheme == s) & (res.runs.model == "moco")].groupby("budget")["final_loss"].mean()
    if len(r) < 2:
        return []
    lo, hi = int(r.index.min()), int(r.index.max())
    return [dict(figure="Fig. A2", claim="fine-tuning on few labels ends at a higher training loss",
                 paper="128 and 256 converge higher", ours=f"final loss {r[lo]:.3f} (n = {lo}) vs {r[hi]:.3f} (n = {hi})",
                 agrees=bool(r[lo] > r[hi]))]


def paper_claims(res) -> pd.DataFrame:
    """One row per finding of seed 002: figure, claim, paper, ours, agrees (True/False/None)."""
    rows: list[dict] = []
    s19, s4 = _scheme(res, "habit19"), _scheme(res, "habit4")
    builders: list[tuple[str | None, Callable[[], list[dict]]]] = [
        (s19, lambda: _accuracy_claims(res, s19, "Fig. 4", "+3 pp on average for n <= 2048", ())),
        (s19, lambda: _cost_claims(res, s19, "Fig. 5", "n = 2048: 154 h saved for 3.8 pp")),
        (s19, lambda: _confusion_claims(res, s19)),
        (s19, lambda: _tsne_claims(res, s19)),
        (s4, lambda: _accuracy_claims(res, s4, "Fig. 9", "both CSSL models above; gap narrows beyond n = 512",
                                      ("byol",))),
        (s4, lambda: _cost_claims(res, s4, "Fig. 10", "n = 2048: 56 h saved for 2.5 pp")),
        (s4, lambda: _complex_4(res, s4)),
        (s4 or s19, lambda: _generalization_claims(res, s4 or s19)),
        (s19, lambda: _loss_claims(res, s19)),
    ]
    for scheme, build in builders:
        if scheme is not None:
            rows += build()
    if s4 and s19 and s4 != s19 and "moco" in res.models:
        a4, a19 = res.oa(s4, "moco").iloc[-1], res.oa(s19, "moco").iloc[-1]
        rows.append(dict(figure="Fig. 9", claim="4 categories are classified more accurately than 19",
                         paper="yes", ours=f"{a4:.1f} vs {a19:.1f} % (Semisup-MoCo, all labels)",
                         agrees=bool(a4 > a19)))
    return pd.DataFrame(rows, columns=["figure", "claim", "paper", "ours", "agrees"])


def sentences(res, figure: str) -> str:
    """The findings of one figure as text: the paper's claim, our number, and the verdict."""
    c = paper_claims(res)
    c = c[c.figure == figure]
    if not len(c):
        return f"{figure}: nothing to compare on this dataset."
    verdict = {True: "ours agrees", False: "ours does NOT agree", None: "cannot tell at this scale"}
    return "\n".join(f"- {figure}: {r.claim}. Paper: {r.paper}. Ours: {r.ours} -> {verdict[r.agrees]}."
                     for r in c.itertuples())
