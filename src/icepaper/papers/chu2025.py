"""Chu et al. 2025: the paper's figures and findings, checked against a
:class:`icepaper.cssl.StudyResult` (numbers computed, never typed in; notebook 06).

``paper_figure`` / ``figure_file`` name the paper's figure for each view and scheme.
``paper_claims(res)`` returns one row per finding: the figure, the paper's statement and
number, ours with its interval, and a three-state verdict (holds / fails / not resolved) from a
t interval over the cross-validation folds (or a paired bootstrap over points, Fig. 8) and a
stated margin (``rule``). ``sentences(res, figure)`` turns a figure's rows into text.

"Small" and "large" budgets: the lower half of the budget list and the rest
(``StudyResult.small_large``); the paper's thresholds were 2048 of 18,864 images (19
classes, Sect. 5.1) and 512 of 8,192 (4 classes, Sect. 5.2 and Fig. 9), which our smaller
pools do not reach.

Where each published number in the ``paper`` column comes from (section, figure or table of
Chu et al. 2025; the text is ../shared/papers/002_*.txt) is in a comment beside it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from icepaper.core import verdicts as V
from icepaper.cssl.labelcost import is_complex, process_group
from icepaper.cssl.metrics import (
    confusion_groups,
    separation_stages,
)

SIMILAR_PP = 2.0  # [default] two accuracies within this many percentage points count as "similar"

# Chu et al. 2025's figure for each view; the 4-category scheme has its own, any other scheme
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
    """File name of a saved figure, e.g. ``chu2025_fig9_accuracy_habit4``."""
    return f"chu2025_fig{paper_figure(kind, scheme)[5:]}_{kind}_{scheme}"


# --------------------------------------------------------------------------- confusion views


# --------------------------------------------------------------------------- embeddings


# --------------------------------------------------------------------------- claims
#
# Every claim is a three-state verdict (``icepaper.core.verdicts``: holds / fails / not resolved)
# from a t interval over the cross-validation folds (paired: the models of one fold share the
# fold's training subset and validation images) and a stated margin. The rule of each claim is in
# the table's ``rule`` column; ``agrees`` keeps True / False / None for holds / fails / not resolved.

REFERENCE = "supervised"  # the baseline every CSSL model is compared with (cssl.encoders.MODELS)
MARGIN_PP = 0.0  # [default] "A beats B": the interval of A - B (pp) must lie above this margin


def _fmt(x: float | None, unit: str = " pp", sign: bool = True) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.1f}{unit}" if sign else f"{x:.1f}{unit}"


def _has(res, *models) -> bool:
    return all(m in res.models for m in models)


def _scheme(res, want: str) -> str | None:
    if want in res.schemes:
        return want
    return res.schemes[0] if want == "habit19" and res.schemes else None


def _fold_table(res, s: str, model: str, col: str = "oa") -> pd.DataFrame:
    """Per-fold values of ``col``: folds down, budgets across."""
    r = res.runs[(res.runs.scheme == s) & (res.runs.model == model)]
    return r.pivot_table(index="fold", columns="budget", values=col, aggfunc="mean").sort_index()


def _fold_mean(res, s: str, model: str, budgets, col: str = "oa") -> pd.Series:
    """Per fold: the mean of ``col`` over ``budgets``."""
    t = _fold_table(res, s, model, col)
    return t.reindex(columns=[b for b in budgets if b in t.columns]).mean(axis=1)


def _fold_gap(res, s: str, model: str, budgets, col: str = "oa") -> pd.Series:
    """Per fold: mean over ``budgets`` of ``model`` minus the reference (pp), on the same folds."""
    a, b = _fold_mean(res, s, model, budgets, col), _fold_mean(res, s, REFERENCE, budgets, col)
    return (a - b).dropna()


def _slopes(res, s: str, model: str) -> pd.Series:
    """Per fold: least-squares slope of OA (pp) against log2(budget) over every budget."""
    t = _fold_table(res, s, model)
    x = np.log2(np.asarray(t.columns, dtype=float))
    out = {}
    for fold, row in t.iterrows():
        ok = np.isfinite(row.to_numpy(dtype=float))
        if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
            out[fold] = float(np.polyfit(x[ok], row.to_numpy(dtype=float)[ok], 1)[0])
    return pd.Series(out, dtype=float)


def _row(fig: str, claim: str, paper: str, ours: str, v: V.Verdict | str, rule: str | None = None) -> dict:
    state = v if isinstance(v, str) else v.state
    if not isinstance(v, str):
        rule = rule or v.rule
        ours = f"{ours} ({v.method})" if v.method else f"{ours} ({v.note})" if v.note else ours
    return dict(figure=fig, claim=claim, paper=paper, ours=ours, verdict=state, agrees=V.as_bool(state),
                rule=rule or "")


def _ci(v: V.Verdict, unit: str = " pp") -> str:
    """'+2.1 pp [+0.4, +3.8]' of a verdict."""
    if not np.isfinite(v.estimate):
        return "n/a"
    if not np.isfinite(v.low):
        return f"{v.estimate:+.1f}{unit}"
    return f"{v.estimate:+.1f}{unit} [{v.low:+.1f}, {v.high:+.1f}]"


def _accuracy_claims(res, s: str, fig: str, paper_small: str, paper_pair: tuple[str, ...]) -> list[dict]:
    rows = []
    small, large = res.small_large(s)
    full = max(res.budgets(s))
    rises = {m: V.compare_folds(_slopes(res, s, m), relation=">", margin=0.0, unit=" pp per doubling")
             for m in res.models}
    # Sect. 5.1 (Fig. 4): "Among all models, the OA increases with the size of training set"
    rows.append(_row(fig, "overall accuracy rises with the number of labelled images", "yes, for every model",
                     "slope of OA vs log2(n) per fold: " + ", ".join(f"{res.label(m)} {_ci(v, ' pp')}" for m, v in rises.items())
                     + f" per doubling (t interval over folds, {len(res.budgets(s))} budgets)",
                     V.all_of(list(rises.values())),
                     "holds if every model's slope interval lies above 0, fails if any lies below 0"))
    if _has(res, "moco", REFERENCE):
        gs, gl = _fold_gap(res, s, "moco", small), _fold_gap(res, s, "moco", large)
        v = V.compare_folds(gs.to_numpy(), relation=">", margin=MARGIN_PP)
        # paper_small: see paper_claims (Sect. 6 for 19 classes, Sect. 5.2 for 4)
        rows.append(_row(fig, "Semisup-MoCo beats the supervised baseline with few labels", paper_small,
                         f"{_ci(v)} on average for n <= {max(small)}", v))
        if large:
            both = pd.concat([gs, gl], axis=1, keys=["s", "l"]).dropna()
            v = V.compare_folds(both["s"].to_numpy(), both["l"].to_numpy(), ">", 0.0)
            # Sect. 5.1 (beyond n = 2048, 19 classes) and Sect. 5.2 (beyond n = 512, 4 classes)
            rows.append(_row(fig, "the gap narrows with more labels", "gap smaller at large n",
                             f"gap {_fmt(float(gs.mean()))} (n <= {max(small)}) vs {_fmt(float(gl.mean()))} "
                             f"(n >= {min(large)}): difference {_ci(v)}", v))
        else:
            rows.append(_row(fig, "the gap narrows with more labels", "gap smaller at large n", "n/a",
                             V.unresolved(">", 0.0, "one budget group only")))
    if _has(res, "byol", REFERENCE):
        want_pos = "byol" in paper_pair  # Sect. 5.1: BYOL below the baseline (19); Sect. 5.2: above (4)
        v = V.compare_folds(_fold_gap(res, s, "byol", res.budgets(s)).to_numpy(), relation=">" if want_pos else "<",
                            margin=MARGIN_PP)
        rows.append(_row(fig, "Semisup-BYOL beats the baseline" if want_pos else "Semisup-BYOL is below the baseline",
                         "above on 4 classes" if want_pos else "below on 19 classes",
                         f"{_ci(v)} on average over budgets", v))
    if large:
        dev = []
        for m in res.models:
            t = _fold_table(res, s, m)
            dev.append((t - t.mean(axis=0)).abs())
        d = pd.concat(dev).groupby(level=0)
        ds = d.apply(lambda t: t.reindex(columns=[b for b in small if b in t.columns]).to_numpy().mean())
        dl = d.apply(lambda t: t.reindex(columns=[b for b in large if b in t.columns]).to_numpy().mean())
        v = V.compare_folds(ds.to_numpy(), dl.to_numpy(), ">", 0.0)
        # Sect. 5.1 and 5.2 (Figs. 4, 9): the accuracy range is larger for n < 2048
        rows.append(_row(fig, "results vary more across folds with few labels", "wider boxes for small n",
                         f"mean |OA - fold mean| {float(ds.mean()):.2f} pp (small n) vs {float(dl.mean()):.2f} pp "
                         f"(large n): difference {_ci(v)}", v))
    else:
        rows.append(_row(fig, "results vary more across folds with few labels", "wider boxes for small n", "n/a",
                         V.unresolved(">", 0.0, "one budget group only")))
    if _has(res, "moco", REFERENCE):
        a, b = _fold_table(res, s, "moco").get(full), _fold_table(res, s, REFERENCE).get(full)
        v = (V.compare_folds(a.to_numpy(), b.reindex(a.index).to_numpy(), "~", SIMILAR_PP)
             if a is not None and b is not None else V.unresolved("~", SIMILAR_PP, "no runs at the full budget"))
        m, bb = res.oa(s, "moco").get(full, np.nan), res.oa(s, REFERENCE).get(full, np.nan)
        # 19 classes: Sect. 5.1 and 6, MoCo with all 18,864 labels 77.9 +- 0.58 % vs IceDetectNet
        # (Zhang et al. 2024, not our baseline) 78.2 +- 0.9 %. 4 classes: Sect. 5.2, MoCo 89.6 % vs
        # baseline 90.1 %; the abstract puts the 89.6 % at 2048 labels and the supervised model at
        # 91.0 % with 8192, so the paper's 4-class pair is not "both with all labels".
        rows.append(_row(fig, "with all labels Semisup-MoCo and the baseline are comparable",
                         "77.9 vs 78.2 % (19 cl., IceDetectNet); 89.6 % with 2048 labels vs 90.1 % (4 cl.)",
                         f"{m:.1f} vs {bb:.1f} % at n = {full}: difference {_ci(v)}", v))
    return rows


def _cost_claims(res, s: str, fig: str, paper: str) -> list[dict]:
    if "moco" not in res.models:
        return []
    # Sect. 6: "save 90 % of time on manual labeling while maintain the drop in overall accuracy
    # within 5 %" (19 classes, n = 2048); DOA and time saved are Eqs. 11-12 of Sect. 5.1
    claim = "an inflection point saves most labelling time for a small accuracy loss (conclusion: DOA within 5 %)"
    c = res.labelling_curve(s, "moco")
    inf = res.inflection(s, "moco")
    rt = float(c.label_h.max())
    if inf["budget"] is None:
        return [_row(fig, claim, paper, "no knee (fewer than three budgets, or no point below the chord)",
                     V.unresolved("<=", 0.0, "no knee"), "holds if the DOA interval lies below 5 pp")]
    full = max(res.budgets(s))
    ref = _fold_table(res, s, REFERENCE).get(full)
    knee = _fold_table(res, s, "moco").get(inf["budget"])
    if ref is None or knee is None:
        v = V.unresolved("<=", 0.0, "no per-fold runs at the knee or the full budget")
    else:  # per fold: DOA = baseline OA with all labels - MoCo OA at the knee (Chu et al. 2025's definition)
        v = V.compare_folds((ref - knee.reindex(ref.index)).to_numpy(), relation="<=", margin=0.0, reference=5.0)
    share = inf["time_saved_h"] / rt * 100 if rt else float("nan")
    doa = f"{inf['doa']:.1f} pp" + (f" [{v.low + 5:.1f}, {v.high + 5:.1f}]" if np.isfinite(v.low) else "")
    ours = (f"knee at n = {inf['budget']}: {inf['time_saved_h']:.2f} h saved ({share:.0f} % of the "
            f"labelling time; {inf['time_saved_h_flat33']:.2f} h at a flat 33 s) for a DOA of {doa}")
    return [_row(fig, claim, paper, ours, v)]


def _recall(res, s: str, model: str, classes, col: str = "recall", budget: int | None = None,
            weighted: bool = True) -> pd.Series:
    """Per fold: recall (or precision) of ``classes`` (%), support-weighted or a plain mean, at ``budget``
    (default the largest), on the validation images."""
    budget = max(res.budgets(s)) if budget is None else budget
    pc = res.per_class[(res.per_class.scheme == s) & (res.per_class.model == model)
                       & (res.per_class.budget == budget) & (res.per_class.split == "val")
                       & (res.per_class["class"].isin(list(classes)))]
    if not len(pc):
        return pd.Series(dtype=float)
    if not weighted:
        return pc.groupby("fold")[col].mean()
    w = pc.assign(x=pc[col] * pc["support"])
    g = w.groupby("fold")
    return g["x"].sum() / g["support"].sum().replace(0, np.nan)


def _paired(a: pd.Series, b: pd.Series, relation: str, margin: float) -> V.Verdict:
    both = pd.concat([a, b], axis=1, keys=["a", "b"]).dropna()
    return V.compare_folds(both["a"].to_numpy(), both["b"].to_numpy(), relation, margin)


def _confusion_claims(res, s: str) -> list[dict]:
    if not _has(res, "moco", REFERENCE):
        return []
    classes = res.classes(s)
    rows = []
    basic = [c for c in classes if not is_complex(c)]
    cplx = [c for c in classes if is_complex(c)]
    if basic and cplx:
        a, b = _recall(res, s, "moco", basic), _recall(res, s, REFERENCE, basic)
        v = _paired(a, b, "~", SIMILAR_PP)
        # Sect. 5.1 (Fig. 6): accuracy on the basic habits, MoCo vs baseline with all 18,864 labels
        rows.append(_row("Fig. 6", "on basic habits Semisup-MoCo and the baseline are similar", "94.11 vs 94.04 %",
                         f"recall of the basic-habit images {a.mean():.1f} vs {b.mean():.1f} %: difference {_ci(v)}", v))
    proc = {m: confusion_groups(res.confusion(s, m), classes, "process") for m in ("moco", REFERENCE)}
    names = proc["moco"][1]
    if len(names) >= 2:
        a, b = _recall(res, s, "moco", cplx), _recall(res, s, REFERENCE, cplx)
        v = _paired(a, b, ">", MARGIN_PP)
        # Sect. 5.1 (Fig. 7): baseline precision, recall and accuracy on complex shapes below MoCo's
        rows.append(_row("Fig. 7", "on complex shapes Semisup-MoCo beats the baseline",
                         "higher precision, recall and accuracy",
                         f"recall of the complex-shape images {a.mean():.1f} vs {b.mean():.1f} %: difference {_ci(v)}", v))
        if "aged" in names:
            grp = {n: _recall(res, s, "moco", [c for c in cplx if process_group(c) == n]) for n in names}
            vs = {n: _paired(grp["aged"], grp[n], ">", 0.0) for n in names if n != "aged"}
            # Sect. 5.1 (Fig. 7): "aged" ~90 %, "aggregate" and "aged_aggregate" 65 % to 60 %
            rows.append(_row("Fig. 7", "aged crystals are recognised better than aggregates",
                             "~90 % vs 60-65 % precision/recall",
                             ", ".join(f"{n} {grp[n].mean():.0f} %" for n in names) + " recall (MoCo); aged minus "
                             + ", ".join(f"{n} {_ci(v)}" for n, v in vs.items()) + " (t intervals over folds)",
                             V.all_of(list(vs.values())),
                             "holds if aged's recall interval lies above every other group's (paired over folds), "
                             "fails if it lies below any"))
    return rows


def _complex_4(res, s: str) -> list[dict]:
    if not _has(res, "moco", REFERENCE):
        return []
    cplx = [c for c in res.classes(s) if is_complex(c)]
    if not cplx:
        return []
    vs = {col: _paired(_recall(res, s, "moco", cplx, col, weighted=False),
                       _recall(res, s, REFERENCE, cplx, col, weighted=False), ">", MARGIN_PP)
          for col in ("precision", "recall")}
    # Sect. 6 (Fig. 11): "average improvement of around 2.5 % in precision and ... 3.5 % recall"
    return [_row("Fig. 11", "with 4 classes Semisup-MoCo is better on the complex shapes",
                 "+2.5 pp precision, +3.5 pp recall on average",
                 f"{_ci(vs['precision'])} precision, {_ci(vs['recall'])} recall (mean over complex classes; "
                 "t intervals over folds)", V.all_of(list(vs.values())),
                 "holds if both the precision and the recall interval lie above 0, fails if either lies below 0")]


def _generalization_claims(res, s: str) -> list[dict]:
    if not res.has_generalization(s) or not _has(res, "moco", REFERENCE):
        return []
    camp = res.task(s)["gen_campaign"]
    small, large = res.small_large(s)
    g_all = _fold_gap(res, s, "moco", res.budgets(s), "gen_oa")
    v = V.compare_folds(g_all.to_numpy(), relation=">", margin=MARGIN_PP)
    # Abstract and Sect. 6 (Fig. 12, CLOUDLAB): "outperforms the purely supervised model by 2.19 %
    # across all training set sizes"; Sect. 5.2: the gap is large below n = 1024 and within 1 %
    # beyond, except n = 4096; Semisup-BYOL-4CAT below the baseline
    rows = [_row("Fig. 12", f"Semisup-MoCo generalizes better to the unseen campaign ({camp})",
                 "+2.19 pp on average over sizes", f"{_ci(v)} on average over sizes", v)]
    if large:
        gs, gl = _fold_gap(res, s, "moco", small, "gen_oa"), _fold_gap(res, s, "moco", large, "gen_oa")
        v = _paired(gs, gl, ">", 0.0)
        rows.append(_row("Fig. 12", "the generalization gap is largest with few labels",
                         "large for n < 1024, within ~1 pp beyond (except n = 4096)",
                         f"{_fmt(float(gs.mean()))} (n <= {max(small)}) vs {_fmt(float(gl.mean()))} (n >= {min(large)}): "
                         f"difference {_ci(v)}", v))
    if "byol" in res.models:
        v = V.compare_folds(_fold_gap(res, s, "byol", res.budgets(s), "gen_oa").to_numpy(), relation="<",
                            margin=MARGIN_PP)
        rows.append(_row("Fig. 12", "Semisup-BYOL generalizes worse than the baseline", "below the baseline",
                         f"{_ci(v)} on average", v))
    return rows


def knn_hits(emb: np.ndarray, y: np.ndarray, k: int = 5) -> np.ndarray:
    """1/0 per point: is its leave-one-out k-NN vote right? (``cssl.metrics.class_separation`` is the
    mean of these, in %; per point they allow a paired bootstrap between embeddings of the same points.)"""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(np.asarray(emb, np.float64))
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    idx = KNeighborsClassifier(n_neighbors=k + 1).fit(x, y).kneighbors(x, return_distance=False)[:, 1:]
    votes = np.asarray(y)[idx]
    pred = np.array([np.bincount(v).argmax() for v in votes])
    return (pred == np.asarray(y)).astype(np.float64)


def _tsne_claims(res, s: str, seed: int = 0, n_boot: int = 2000) -> list[dict]:
    st = separation_stages(res, s)
    if "pretrained" not in st:
        return []
    budget = max(res.budgets(s))
    y = res.tsne[f"{s}|y"]
    hits = {k: knn_hits(res.tsne[key], y) for k, key in (
        ("before", f"{s}|encoder|{REFERENCE}"), ("pretrained", f"{s}|encoder|moco"),
        ("finetuned", f"{s}|finetuned|moco|{budget}"))}
    vs = [V.compare(hits["pretrained"], hits["before"], ">", 0.0, n_boot=n_boot, seed=seed, what="points"),
          V.compare(hits["finetuned"], hits["pretrained"], ">", 0.0, n_boot=n_boot, seed=seed, what="points")]
    # Sect. 5.1 (Fig. 8, t-SNE): no clusters before pretraining, some after it, clear after fine-tuning
    return [_row("Fig. 8", "classes mix before pretraining, cluster partly after it and separate after fine-tuning",
                 "no clusters -> some clusters -> distinct clusters",
                 (f"5-NN label accuracy {st['before']:.1f} % -> {st['pretrained']:.1f} % -> {st['finetuned']:.1f} %; "
                  f"steps {_ci(vs[0])} and {_ci(vs[1])} (paired bootstrap over {len(y)} points of fold 0)"),
                 V.all_of(vs), "holds if both steps' intervals lie above 0, fails if either lies below 0")]


def _loss_claims(res, s: str) -> list[dict]:
    if "moco" not in res.models:
        return []
    t = _fold_table(res, s, "moco", "final_loss")
    if t.shape[1] < 2:
        return []
    lo, hi = int(t.columns.min()), int(t.columns.max())
    v = _paired(t[lo], t[hi], ">", 0.0)
    # Appendix A (Fig. A2): models fine-tuned on 128 and 256 samples converge at higher loss values
    return [_row("Fig. A2", "fine-tuning on few labels ends at a higher training loss", "128 and 256 converge higher",
                 f"final loss {t[lo].mean():.3f} (n = {lo}) vs {t[hi].mean():.3f} (n = {hi}): difference "
                 f"{_ci(v, '')}", v)]


COLUMNS = ["figure", "claim", "paper", "ours", "verdict", "agrees", "rule"]


def paper_claims(res) -> pd.DataFrame:
    """One row per finding of Chu et al. 2025: figure, claim, paper, ours (estimate and interval),
    verdict (holds / fails / not resolved), agrees (True / False / None for the same) and the rule."""
    rows: list[dict] = []
    s19, s4 = _scheme(res, "habit19"), _scheme(res, "habit4")
    # "+3 pp": Sect. 6 ("exceeds baseline models 3 % in average", n <= 2048, 19 classes). 154 h for
    # 3.8 pp at n = 2048: abstract and Sect. 5.1 (Fig. 5; (18,864 - 2048) x 33 s). Gap narrowing
    # beyond 512 with both CSSL models above: Sect. 5.2 (Fig. 9). 56 h for 2.5 pp at n = 2048:
    # Sect. 5.2 (Fig. 10). "4 more accurate than 19": Sect. 5.2.
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
        a4, a19 = (_fold_table(res, x, "moco")[max(res.budgets(x))] for x in (s4, s19))
        v = V.compare_folds(a4.to_numpy(), a19.to_numpy(), ">", MARGIN_PP, paired=False)
        rows.append(_row("Fig. 9", "4 categories are classified more accurately than 19", "yes",
                         f"{a4.mean():.1f} vs {a19.mean():.1f} % (Semisup-MoCo, all labels): difference {_ci(v)}", v))
    return pd.DataFrame(rows, columns=COLUMNS)


def sentences(res, figure: str) -> str:
    """The findings of one figure as text: the paper's claim, our number, and the verdict."""
    c = paper_claims(res)
    c = c[c.figure == figure]
    if not len(c):
        return f"{figure}: nothing to compare on this dataset."
    verdict = {V.HOLDS: "holds (ours agrees)", V.FAILS: "fails (ours does NOT agree)",
               V.UNRESOLVED: "not resolved (the interval cannot decide at this scale)"}
    return "\n".join(f"- {figure}: {r.claim}. Paper: {r.paper}. Ours: {r.ours} -> {verdict[r.verdict]}."
                     for r in c.itertuples())
