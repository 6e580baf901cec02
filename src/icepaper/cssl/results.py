"""The label-budget study's results read back from its cache folder (:class:`StudyResult`):
run and per-class tables, confusion matrices, logs and t-SNE inputs, the majority-class
reference, and the paper's summaries (OA curves, DOA vs time saved, knee) computed from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .encoders import MAJORITY, MAJORITY_LABEL, MODEL_LABELS
from .labelcost import decreased_accuracy, knee_index, time_saved_hours


class StudyResult:
    """Everything the study measured, with the paper's summaries computed from it."""

    def __init__(self, runs: pd.DataFrame, per_class: pd.DataFrame, confusion: dict[str, np.ndarray],
                 logs: list[dict[str, Any]], tsne: dict[str, np.ndarray], info: dict[str, Any],
                 folder: Path | None = None, majority_runs: pd.DataFrame | None = None):
        self.runs, self.per_class, self._conf = runs, per_class, confusion
        self.logs, self.tsne, self.info, self.folder = logs, tsne, info, folder
        # (scheme, budget, fold): OA (%) of predicting the budget's most frequent class
        self.majority_runs = majority_runs if majority_runs is not None else pd.DataFrame(
            columns=["scheme", "budget", "fold", "n_train", "class", "oa", "gen_oa"])

    @classmethod
    def load(cls, folder: str | Path) -> StudyResult:
        folder = Path(folder)
        with np.load(folder / "confusion.npz") as z:
            conf = {k: z[k] for k in z.files}
        with np.load(folder / "tsne.npz") as z:
            tsne = {k: z[k] for k in z.files}
        return cls(pd.read_parquet(folder / "runs.parquet"), pd.read_parquet(folder / "per_class.parquet"), conf,
                   json.loads((folder / "logs.json").read_text()), tsne,
                   json.loads((folder / "study.json").read_text()), folder,
                   pd.read_parquet(folder / "majority.parquet"))

    # -- plan ------------------------------------------------------------------------------
    @property
    def schemes(self) -> list[str]:
        return [t["scheme"] for t in self.info["tasks"]]

    @property
    def models(self) -> list[str]:
        return list(self.info["models"])

    def task(self, scheme: str) -> dict[str, Any]:
        for t in self.info["tasks"]:
            if t["scheme"] == scheme:
                return t
        raise KeyError(f"no task for scheme {scheme!r}; schemes: {self.schemes}")

    def classes(self, scheme: str) -> list[str]:
        return list(self.task(scheme)["classes"])

    def budgets(self, scheme: str) -> list[int]:
        return [int(b) for b in self.task(scheme)["budgets"]]

    def has_generalization(self, scheme: str) -> bool:
        return self.task(scheme)["gen_campaign"] is not None

    def label(self, model: str) -> str:
        if model == MAJORITY:
            return MAJORITY_LABEL
        return self.info["models"].get(model, {}).get("label", MODEL_LABELS.get(model, model))

    # -- accuracy ----------------------------------------------------------------------------
    def accuracy(self, which: str = "val") -> pd.DataFrame:
        """Mean, std, min and max over folds of the overall accuracy (%) per scheme, model, budget."""
        col = "oa" if which == "val" else "gen_oa"
        g = self.runs.groupby(["scheme", "model", "budget"])[col]
        return g.agg(["mean", "std", "min", "max", "count"]).reset_index()

    def majority_accuracy(self, which: str = "val") -> pd.DataFrame:
        """Like :meth:`accuracy` for the majority-class row (model ``'majority'``): predicting the
        budget's most frequent class for every image of the same validation fold (or unseen campaign)."""
        col = "oa" if which == "val" else "gen_oa"
        g = self.majority_runs.assign(model=MAJORITY).groupby(["scheme", "model", "budget"])[col]
        return g.agg(["mean", "std", "min", "max", "count"]).reset_index()

    def majority(self, scheme: str, which: str = "val") -> pd.Series:
        """Mean majority-class accuracy (%) over folds, indexed by budget."""
        a = self.majority_accuracy(which)
        return a[a.scheme == scheme].set_index("budget")["mean"]

    def accuracy_table(self, scheme: str, which: str = "val", majority: bool = True) -> pd.DataFrame:
        """Overall accuracy (%) as 'mean ± std over folds', budgets down, models across (the
        majority-class row last, unless ``majority=False``)."""
        a = pd.concat([self.accuracy(which)] + ([self.majority_accuracy(which)] if majority else []),
                      ignore_index=True)
        a = a[a.scheme == scheme]
        cell = a["mean"].map("{:.1f}".format) + " ± " + a["std"].fillna(0).map("{:.1f}".format)
        t = a.assign(cell=cell, model=a.model.map(self.label)).pivot(index="budget", columns="model", values="cell")
        cols = [self.label(m) for m in self.models] + ([MAJORITY_LABEL] if majority else [])
        return t[[c for c in cols if c in t.columns]].rename_axis(columns=None)

    def oa(self, scheme: str, model: str, which: str = "val") -> pd.Series:
        """Mean overall accuracy (%) over folds, indexed by budget."""
        a = self.accuracy(which)
        return a[(a.scheme == scheme) & (a.model == model)].set_index("budget")["mean"]

    def gap(self, scheme: str, model: str = "moco", reference: str = "supervised", which: str = "val") -> pd.Series:
        """Mean OA of ``model`` minus that of ``reference`` (percentage points), per budget."""
        return self.oa(scheme, model, which) - self.oa(scheme, reference, which)

    def small_large(self, scheme: str) -> tuple[list[int], list[int]]:
        """Budgets split into 'small' (the lower half of the list) and 'large' (the rest, with 'all').

        The paper's threshold was n <= 2048 of 18,864 (19 classes) and 512 of 8,192 (4 classes);
        halving the budget list keeps the comparison meaningful at every data size."""
        b = self.budgets(scheme)
        k = max(1, len(b) // 2)
        return b[:k], b[k:]

    # -- labelling cost --------------------------------------------------------------------------
    def labelling_curve(self, scheme: str, model: str = "moco", reference: str = "supervised") -> pd.DataFrame:
        """Per budget: mean OA, DOA vs the full-label ``reference``, labelling hours, time saved, knee.

        ROA = mean OA of ``reference`` at the largest budget; RT = labelling time of the
        largest budget. Hours per class (6 s basic, 60 s complex) and flat (33 s each)."""
        r = self.runs[(self.runs.scheme == scheme) & (self.runs.model == model)]
        per_b = r.groupby("budget").agg(oa=("oa", "mean"), oa_std=("oa", "std"), label_s=("label_s", "mean"),
                                        label_s_flat=("label_s_flat", "mean")).reset_index()
        full = max(self.budgets(scheme))
        ref = self.runs[(self.runs.scheme == scheme) & (self.runs.model == reference) & (self.runs.budget == full)]
        roa = float(ref["oa"].mean())
        rt = float(ref["label_s"].mean())
        rt_flat = float(ref["label_s_flat"].mean())
        per_b["reference_oa"] = roa
        per_b["doa"] = decreased_accuracy(roa, per_b["oa"])
        per_b["label_h"] = per_b["label_s"] / 3600
        per_b["time_saved_h"] = time_saved_hours(rt, per_b["label_s"])
        per_b["time_saved_h_flat"] = time_saved_hours(rt_flat, per_b["label_s_flat"])
        k = knee_index(per_b["time_saved_h"].to_numpy(), per_b["doa"].to_numpy())
        per_b["knee"] = False
        if k is not None:
            per_b.loc[k, "knee"] = True
        return per_b

    def inflection(self, scheme: str, model: str = "moco") -> dict[str, Any]:
        """The knee budget of DOA vs time saved, with its time saved (h) and DOA (pp); None if none."""
        c = self.labelling_curve(scheme, model)
        k = c[c.knee]
        if not len(k):
            return {"budget": None, "time_saved_h": None, "time_saved_h_flat33": None, "doa": None}
        row = k.iloc[0]
        return {"budget": int(row.budget), "time_saved_h": float(row.time_saved_h),
                "time_saved_h_flat33": float(row.time_saved_h_flat), "doa": float(row.doa)}

    # -- per class -------------------------------------------------------------------------------
    def confusion(self, scheme: str, model: str, budget: int | None = None, which: str = "val") -> np.ndarray:
        """Confusion matrix (rows true, columns predicted) averaged over folds (counts per fold)."""
        budget = max(self.budgets(scheme)) if budget is None else budget
        return self._conf[f"{scheme}|{model}|{budget}|{which}"] / float(self.info["folds"])

    def per_class_scores(self, scheme: str, budget: int | None = None, which: str = "val") -> pd.DataFrame:
        """Per-class precision, recall, F1 (%) averaged over folds, one column block per model."""
        budget = max(self.budgets(scheme)) if budget is None else budget
        pc = self.per_class[(self.per_class.scheme == scheme) & (self.per_class.budget == budget)
                            & (self.per_class.split == which)]
        t = pc.groupby(["model", "class"])[["precision", "recall", "f1", "support"]].mean().reset_index()
        return t

    # -- logs -------------------------------------------------------------------------------------
    def loss_curves(self, scheme: str, model: str = "moco", fold: int = 0) -> dict[int, np.ndarray]:
        """Training loss per step of each budget's run (one fold)."""
        return {int(lg["budget"]): np.asarray(lg["loss"]) for lg in self.logs
                if lg["scheme"] == scheme and lg["model"] == model and lg["fold"] == fold}

    # -- headline -----------------------------------------------------------------------------------
    def headline(self) -> dict[str, Any]:
        """The numbers of the results JSON (issue section 4)."""
        out: dict[str, Any] = {"finetune": self.info["finetune"], "folds": self.info["folds"],
                               "models": self.info["models"], "baseline": self.info["baseline"],
                               "schemes": {}}
        for s in self.schemes:
            acc = self.accuracy("val")
            acc = acc[acc.scheme == s]
            t = self.task(s)
            entry: dict[str, Any] = {
                "classes": t["classes"], "n_pool": t["n_pool"], "budgets": t["budgets"],
                "train_campaign": t["train_campaign"], "gen_campaign": t["gen_campaign"], "note": t["note"],
                "accuracy": {m: {str(int(r.budget)): {"mean": round(float(r["mean"]), 3),
                                                      "std": round(float(r["std"]), 3)}
                                 for _, r in acc[acc.model == m].iterrows()} for m in self.models},
                "inflection": {m: self.inflection(s, m) for m in self.models if m != "supervised"},
                "majority": {str(int(b)): round(float(v), 3) for b, v in self.majority(s).items()},
            }
            if self.has_generalization(s):
                g = self.accuracy("gen")
                g = g[g.scheme == s]
                entry["generalization"] = {m: {str(int(r.budget)): {"mean": round(float(r["mean"]), 3),
                                                                    "std": round(float(r["std"]), 3)}
                                               for _, r in g[g.model == m].iterrows()} for m in self.models}
                entry["generalization_majority"] = {str(int(b)): round(float(v), 3)
                                                    for b, v in self.majority(s, "gen").items()}
            pcs = self.per_class_scores(s)
            entry["f1_largest_budget"] = {m: {str(r["class"]): round(float(r.f1), 3)
                                              for _, r in pcs[pcs.model == m].iterrows()} for m in self.models}
            out["schemes"][s] = entry
        return out
