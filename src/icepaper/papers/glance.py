"""Results at a glance: each headline claim of the three works beside ours, from the results JSON.

``headline_rows(results)`` reads the results JSON the notebooks wrote (a mapping notebook stem
-> parsed JSON, e.g. the committed ``results/`` folder) and returns one row per headline claim:
the work, the claim, the paper's value, ours, the scale we ran at, the three-state verdict
(holds / fails / not resolved, decided in the notebook by ``core.verdicts``) and the notebook.
Nothing is typed here except which claims count as headlines: every number comes from a run.
``markdown_table`` renders the rows for the README (``tools/results_table.py`` writes it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from icepaper.core import verdicts as V

from . import ko2025
from .ko2025_trends import PAPER_TRENDS

COLUMNS = ["work", "claim", "paper", "ours", "scale", "verdict", "notebook"]
KO2025, CHU2025, KO2024 = "Ko et al. 2025", "Chu et al. 2025", "Ko 2024"

#: Chu et al. 2025 claims shown at a glance (notebook 06 checks more; its table lists all).
CHU_HEADLINES = [
    ("Fig. 4", "Semisup-MoCo beats the supervised baseline with few labels"),
    ("Fig. 4", "with all labels Semisup-MoCo and the baseline are comparable"),
    ("Fig. 5", "an inflection point saves most labelling time"),
    ("Fig. 9", "Semisup-MoCo beats the supervised baseline with few labels"),
    ("Fig. 12", "Semisup-MoCo generalizes better to the unseen campaign"),
]


def _row(work: str, claim: str, paper: str, ours: str, scale: str, verdict: str, notebook: str) -> dict[str, str]:
    """One table row: the values in ``COLUMNS`` order."""
    return dict(zip(COLUMNS, (work, claim, paper, ours, scale, verdict, notebook)))


def _pv(res: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    return res["profile_values"][section]


def _scale_ko2025(r03: Mapping[str, Any] | None, r05: Mapping[str, Any]) -> str:
    p = _pv(r05, "pretrain")
    d = _pv(r05, "data")
    where = "synthetic CPI-like" if r05["data"] == "synthetic-default" else "user"
    return (f"{r05['profile']}: {d['n_images']:,} {where} images, ViT {p['vit_depth']} blocks x {p['vit_embed_dim']} "
            f"at {p['vit_img_size']} px, {p['steps']} steps of {p['batch_size']}; probe test "
            f"{r05['splits']['test']:,} images")


def _ko2025_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    r05 = results.get("05_probes")
    if r05 is not None:
        scale = _scale_ko2025(results.get("03_pretraining"), r05)
        names = {"SSL above the geometric baseline (logistic regression)":
                 "self-supervised features beat the 13 geometric features (logistic-regression probe)",
                 "curated >= full (logistic regression)": "training on the curated set is at least as good as on all images",
                 "curated + init + short best of the three (logistic regression)":
                 "curation + ImageNet init + short training is the best of the three runs"}
        for key, claim in names.items():
            o = r05["orderings"].get(key)
            if o is None:
                continue
            rows.append(_row(KO2025, claim, _paper_ordering(key),
                             f"{o['difference_pp']:+.1f} {o['interval']}", scale,
                             o["verdict"], "05"))
    r04 = results.get("04_curation")
    if r04 is not None and r04.get("balance_verdict"):
        v = r04["balance_verdict"]
        rows.append(_row(KO2025, "latent-space curation balances the classes",
                         "curated set more balanced (Sect. 3)",
                         f"{v['estimate']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}] ({v['method']})",
                         f"{r04['profile']}: {r04['n_curated']:,} of {r04['n_images']:,} images kept",
                         v["state"], "04"))
    r07 = results.get("07_kappa_diversity")
    if r07 is not None:
        scale = f"{r07['profile']}: {r07['population']}"
        for factor, unit in (("temperature", "per deg C"), ("size", "per decade of size")):
            s = r07["slopes"].get(factor)
            if s is None or s["slope"] is None:
                continue
            want, text = PAPER_TRENDS[factor]
            v = V.from_interval(s["slope"], s["ci_low"], s["ci_high"], "<" if want < 0 else ">", 0.0)
            rows.append(_row(KO2025, text, f"kappa slope {'< 0' if want < 0 else '> 0'}",
                             f"{s['slope']:+.3g} [{s['ci_low']:+.3g}, {s['ci_high']:+.3g}] {unit}",
                             scale, v.state, "07"))
        camp = [c for c in r07.get("kappa_by_campaign") or [] if c.get("kappa") is not None]
        if len(camp) >= 2:
            hi = max(camp, key=lambda c: c["kappa"])
            lo = min(camp, key=lambda c: c["kappa"])
            state = V.HOLDS if hi["ci_low"] > lo["ci_high"] else V.UNRESOLVED
            rows.append(_row(KO2025, "habit diversity differs between campaigns",
                             "kappa differs by campaign",
                             f"kappa {lo['kappa']:.0f} ({lo['group']}) to {hi['kappa']:.0f} ({hi['group']})",
                             scale, state, "07"))
    return rows


def _paper_ordering(key: str) -> str:
    t = ko2025.PAPER_TABLE
    f, c, s, g = (t[n][1] for n in (ko2025.FULL, ko2025.CURATED, ko2025.SHORT, ko2025.GEO))
    if key.startswith("SSL above"):
        return f"{s:.1f} vs {g:.1f} %"
    if key.startswith("curated >="):
        return f"{c:.2f} vs {f:.2f} %"
    return f"{s:.2f} vs {max(f, c):.2f} %"


def _chu2025_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    r06 = results.get("06_cssl_label_budget")
    if r06 is None:
        return []
    c = _pv(r06, "cssl")
    p = _pv(r06, "pretrain")
    scale = (f"{r06['profile']}: {c['folds']}-fold CV, {p['resnet']} at {p['resnet_img_size']} px, "
             f"{c['finetune']} trained; baseline end to end at {c['baseline_img_size']} px")
    rows = []
    for fig, claim in CHU_HEADLINES:
        hit = next((x for x in r06["claims"] if x["figure"] == fig and x["claim"].startswith(claim)), None)
        if hit is None or "verdict" not in hit:
            continue
        rows.append(_row(CHU2025, f"{hit['claim']} ({fig})", hit["paper"],
                         hit["ours"], scale, hit["verdict"], "06"))
    return rows


_SENT_VS = re.compile(r"^(?P<label>[^:]+): best image model \((?P<img>[^,]+), (?P<a>[-\d.]+)\) vs the best feature "
                      r"model \((?P<feat>[^,]+), (?P<b>[-\d.]+)\): .*?(?P<state>holds|fails|not resolved)")
_SENT_VIEWS = re.compile(r"(?P<h>\d)/3 metrics better, (?P<f>\d) worse, (?P<u>\d) not resolved")


def _published_best(col: str) -> str:
    """Best one-view image model vs best one-view feature model in ``ko2024.PUBLISHED``."""
    from .ko2024 import PUBLISHED

    one = PUBLISHED[PUBLISHED.views == 1]
    img = one[one.model.isin(["small CNN", "ResNet-18"])]
    feat = one[~one.model.isin(["small CNN", "ResNet-18"])]
    bi, bf = img.loc[img[col].idxmax()], feat.loc[feat[col].idxmax()]
    return f"{bi.model} {bi[col]:.3f} vs {bf.model} {bf[col]:.3f} (R^2, ko2024.PUBLISHED)"


def _ko2024_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    r08 = results.get("08_vae_synthetic_rosettes")
    if r08 is None:
        return []
    ro = _pv(r08, "rosettes")
    scale = f"{r08['profile']}: {r08['n_rosettes']:,} rosettes, {ro['image_size']} px views"
    rows = []
    for sent in r08.get("verdicts") or []:
        m = _SENT_VS.match(sent)
        if m and m["label"].startswith("R^2(rho_eff)"):
            rows.append(_row(KO2024, "image models predict effective density better than 2-D features",
                             _published_best("r2_rho_eff"),
                             f"{m['img']} {m['a']} vs {m['feat']} {m['b']}", scale,
                             m["state"], "08"))
    views = [_SENT_VIEWS.findall(s) for s in r08.get("verdicts") or [] if "two views vs one" in s]
    counts = [tuple(int(x) for x in t) for per in views for t in per]
    if counts:
        h, f, u = (sum(c[i] for c in counts) for i in range(3))
        state = V.FAILS if f else (V.HOLDS if u == 0 else V.UNRESOLVED)
        rows.append(_row(KO2024, "two views predict rosette properties better than one",
                         "better for every model", f"{h} of {h + f + u} comparisons better, {f} worse, "
                         f"{u} not resolved", scale, state, "08"))
    nmi = (r08.get("clustering") or {}).get("128d_vs_2d_nmi")
    if nmi:
        rows.append(_row(KO2024, "a 128-d latent space groups the classes better than a 2-d one (NMI)",
                         "clearer clusters in the larger latent space",
                         f"{nmi['estimate']:+.3f} [{nmi['low']:+.3f}, {nmi['high']:+.3f}]", scale,
                         nmi["state"], "08"))
    return rows


def headline_rows(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per headline claim (columns ``COLUMNS``) from the results JSON of notebooks 04-08;
    claims whose notebook did not run (or ran on data without the needed labels) are left out.

    >>> headline_rows({}).columns.tolist()
    ['work', 'claim', 'paper', 'ours', 'scale', 'verdict', 'notebook']
    """
    rows = _ko2025_rows(results) + _chu2025_rows(results) + _ko2024_rows(results)
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown_table(rows: pd.DataFrame) -> str:
    """``rows`` as a GitHub markdown table (pipes in cells escaped).

    >>> print(markdown_table(pd.DataFrame([{"work": "W", "claim": "a | b"}])))
    | work | claim |
    |---|---|
    | W | a \\| b |
    """
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(rows.columns) + " |", "|" + "---|" * len(rows.columns)]
    lines += ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows.itertuples(index=False)]
    return "\n".join(lines)
