"""The label-budget study of seed 002 (Sects. 3.5, 4.2, 5): budgets x folds x models x schemes.

For every task (label scheme) the labelled pool of the training campaign is split into
stratified folds (``cssl.folds``); inside each fold's training part a nested, stratified
order gives the budget subsets (128, 256, ... up to all, ``cssl.budgets``), the same for
every model, so curves are comparable. Each (fold, budget, model) run fits the 3-layer
MLP head (``finetune="head"``: on cached frozen-encoder features; ``"head+last"`` /
``"all"``: on images, see ``cssl.finetune``) and is scored on the fold's validation part
(overall accuracy, per-class precision/recall/F1, confusion matrix) and, without further
training, on the unseen campaign (generalization, seed 002 Sect. 3.5.2, Fig. 12).

``run_study(cfg, ds)`` caches the whole study by configuration and returns a
:class:`StudyResult` (tables, confusion matrices, per-run logs, t-SNE inputs).

Which rows form the tasks (``plan_tasks``):

* schemes: ``habit19`` and ``habit4`` when the dataset has them (the paper's 19 and 4
  categories), else the first labelled scheme (a user's image folder: its classes).
* training campaign: with a ``campaign`` column, the campaign named ``NASCENT19-like``
  if present, else the campaign with most labelled images; without one, every labelled
  image. All of the campaign's labelled images form the pool (the paper's 5-fold CV used
  the whole labelled NASCENT19 set); its own train/val/test split column is not used.
* unseen campaign: ``CLOUDLAB-like`` if present, else the other campaign with most
  images whose labels the models know; images of unknown classes are left out. No
  ``campaign`` column (or no such campaign): no generalization test, with a note saying why.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .encoders import MODEL_LABELS, Encoder, encoder_features, study_encoders
from .heads import HeadParams, predict, train_head
from .labelcost import (
    FLAT_SECONDS,
    decreased_accuracy,
    is_complex,
    knee_index,
    labelling_seconds,
    time_saved_hours,
)
from .splits import budget_list, nested_subsets, stratified_folds

STUDY_VERSION = 2  # 2: t-SNE inputs scaled to fit float16 (no inf)
PREFERRED_TRAIN = "NASCENT19-like"
PREFERRED_UNSEEN = "CLOUDLAB-like"


# --------------------------------------------------------------------------- tasks


@dataclass
class Task:
    """One label scheme's study: the pool (dataset rows, class indices) and the unseen campaign."""

    scheme: str
    classes: list[str]
    pool: np.ndarray
    y: np.ndarray
    train_campaign: str | None = None
    gen_campaign: str | None = None
    gen: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    y_gen: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    note: str = ""

    def key(self) -> dict[str, Any]:
        from .encoders import _rows_hash

        return {"scheme": self.scheme, "classes": self.classes, "pool": _rows_hash(self.pool),
                "y": _rows_hash(self.y), "gen": _rows_hash(self.gen), "train_campaign": self.train_campaign,
                "gen_campaign": self.gen_campaign}


def class_order(labels: pd.Series, scheme: str) -> list[str]:
    """Classes of ``labels``: the scheme's canonical order when known, else basic habits first,
    then complex shapes, each by decreasing count."""
    present = set(labels.dropna().astype(str))
    try:
        from icepaper.synth.labels import SCHEMES

        canon = SCHEMES.get(scheme)
    except ImportError:  # pragma: no cover
        canon = None
    if canon and present <= set(canon):
        return [c for c in canon if c in present]
    counts = labels.dropna().astype(str).value_counts()
    return sorted(present, key=lambda c: (is_complex(c), -int(counts[c]), c))


def labelled_schemes(ds) -> list[str]:
    """The schemes the study runs: ``habit19`` and ``habit4`` when labelled, else the first
    labelled scheme; ``[]`` when the dataset carries no labels at all."""
    from icepaper.data.packed import LABEL_SCHEMES

    found = [s for s in ("habit19", "habit4") if ds.has_labels(s)]
    if found:
        return found
    return [s for s in LABEL_SCHEMES if ds.has_labels(s)][:1]


def default_schemes(ds) -> list[str]:
    """``labelled_schemes(ds)``, or a clear error naming the dataset when it has no labels."""
    from icepaper.data.packed import LABEL_SCHEMES

    found = labelled_schemes(ds)
    if not found:
        raise ValueError(f"{ds.root}: no labelled images in any scheme {LABEL_SCHEMES}; the label-budget "
                         "study needs labels (an image folder with one sub-folder per class)")
    return found


def plan_tasks(ds, schemes=None, train_campaign: str | None = None, gen_campaign: str | None = None,
               min_gen: int = 10) -> list[Task]:
    """The tasks of the study (see the module docstring for the rules)."""
    meta = ds.meta
    out = []
    for scheme in (schemes or default_schemes(ds)):
        lab = ds.labels(scheme)
        has = lab.notna().to_numpy()
        camp = None
        if "campaign" in meta.columns:  # object array, missing campaigns as None (no pd.NA in comparisons)
            c = meta["campaign"]
            camp = c.astype("object").where(c.notna(), None).to_numpy()
        train_c = gen_c = None
        note = ""
        if camp is not None and len({c for c in camp[has] if c is not None}) >= 2:
            counts = pd.Series(camp[has]).value_counts()
            train_c = train_campaign or (PREFERRED_TRAIN if PREFERRED_TRAIN in counts.index else counts.index[0])
            if train_c not in counts.index:
                raise ValueError(f"training campaign {train_c!r} has no {scheme} labels "
                                 f"(campaigns: {list(counts.index)})")
            pool = np.flatnonzero(has & (camp == train_c))
        else:
            pool = np.flatnonzero(has)
            note = ("no generalization test: the dataset has no 'campaign' column with a second labelled "
                    "campaign" if camp is None else
                    "no generalization test: only one campaign carries labels")
        classes = class_order(lab.iloc[pool], scheme)
        lut = {c: k for k, c in enumerate(classes)}
        y = np.array([lut[str(v)] for v in lab.to_numpy()[pool]], dtype=np.int64)
        gen = np.empty(0, np.int64)
        if train_c is not None:
            known = has & lab.isin(classes).fillna(False).to_numpy(dtype=bool)
            cand = pd.Series(camp[known & (camp != train_c)]).value_counts()
            cand = cand[cand >= min_gen]
            if gen_campaign is not None and gen_campaign not in cand.index:
                raise ValueError(f"unseen campaign {gen_campaign!r} has fewer than {min_gen} images of the "
                                 f"{scheme} classes the models learn (candidates: {list(cand.index)})")
            if len(cand):
                gen_c = gen_campaign or (PREFERRED_UNSEEN if PREFERRED_UNSEEN in cand.index else cand.index[0])
                gen = np.flatnonzero(known & (camp == gen_c))
                n_unknown = int(np.sum(has & (camp == gen_c))) - len(gen)
                if n_unknown:
                    note = f"{n_unknown} images of {gen_c} have classes unseen in training and are left out"
            else:
                note = f"no generalization test: no other campaign has at least {min_gen} images of these classes"
        y_gen = np.array([lut[str(v)] for v in lab.to_numpy()[gen]], dtype=np.int64)
        out.append(Task(scheme, classes, pool, y, train_c, gen_c, gen, y_gen, note))
    return out


def study_tasks(ds, n_folds: int) -> tuple[list[Task], dict[str, str]]:
    """(the tasks the study can run on ``ds``, {section: why} for what it cannot run).

    A scheme's study needs two classes and at least two labelled images per fold; a dataset
    without labels has no study at all.
    """
    schemes = labelled_schemes(ds)
    if not schemes:
        return [], {"label-budget study": "no labels (one sub-folder per class gives them)"}
    tasks, skipped = [], {}
    for t in plan_tasks(ds, schemes):
        if len(t.classes) < 2:
            skipped[f"label-budget study ({t.scheme})"] = f"one class only ({t.classes[0]!r})"
        elif len(t.pool) < 2 * int(n_folds):
            skipped[f"label-budget study ({t.scheme})"] = (f"{len(t.pool)} labelled images, fewer than "
                                                          f"2 per fold for {n_folds} folds")
        else:
            tasks.append(t)
    return tasks, skipped


def sparse_classes(task: Task, n_folds: int) -> str:
    """A sentence naming the classes of ``task`` with fewer than two images per fold, or ''."""
    counts = np.bincount(task.y, minlength=len(task.classes))
    few = [f"{c} {n}" for c, n in zip(task.classes, counts) if n < 2 * int(n_folds)]
    if not few:
        return ""
    return (f"{task.scheme}: {len(few)} of {len(task.classes)} classes have fewer than 2 images per fold "
            f"({', '.join(few)}); some folds validate them on one image or none")


def plan_table(tasks: list[Task]) -> pd.DataFrame:
    """One row per task: scheme, number of classes, pool size, training and unseen campaign, note."""
    return pd.DataFrame([{"scheme": t.scheme, "classes": len(t.classes), "labelled pool": len(t.pool),
                          "training campaign": t.train_campaign or "all labelled images",
                          "unseen campaign": t.gen_campaign or "-", "unseen images": len(t.gen),
                          "note": t.note} for t in tasks])


# --------------------------------------------------------------------------- the run


def _metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[float, np.ndarray, pd.DataFrame]:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.arange(n_classes)
    if not len(y_true):  # no images to score (e.g. no unseen campaign)
        nan = np.full(n_classes, np.nan)
        return (float("nan"), np.zeros((n_classes,) * 2, int),
                pd.DataFrame({"precision": nan, "recall": nan, "f1": nan, "support": np.zeros(n_classes, int)}))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    oa = float(np.mean(y_true == y_pred) * 100.0)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return oa, cm, pd.DataFrame({"precision": p * 100, "recall": r * 100, "f1": f * 100, "support": s})


def _half(x: np.ndarray) -> np.ndarray:
    """``x`` as float16 for the t-SNE inputs, scaled down as a whole when its largest value would
    overflow float16 (the maps and ``claims.class_separation`` standardise, so a common scale
    changes nothing; a hidden layer fed near-constant features can exceed 65,504)."""
    x = np.asarray(x, dtype=np.float32)
    big = float(np.abs(x).max()) if x.size else 0.0
    return (x * (6e4 / big) if big > 6e4 else x).astype(np.float16)


def _run_seed(seed: int, fold: int, budget: int) -> int:
    return (int(seed) * 1_000_003 + fold * 10_007 + budget) % 2**31


def _sections(cfg) -> tuple[dict[str, Any], HeadParams]:
    sec = dict(cfg.profile.cssl)
    return sec, HeadParams.from_section(sec)


def _execute(cfg, ds, tasks: list[Task], encoders: dict[str, Encoder], out: Path, progress: bool) -> None:
    from icepaper.core.progress import tqdm

    sec, hp = _sections(cfg)
    depth = sec.get("finetune", "head")
    n_folds = int(sec["folds"])
    seed = int(cfg.seed)
    models = list(encoders)
    rows_all = np.unique(np.concatenate([np.concatenate([t.pool, t.gen]) for t in tasks]))
    where = {int(r): k for k, r in enumerate(rows_all)}
    feats: dict[str, np.ndarray] = {}
    if depth == "head":
        for m in tqdm(models, desc="encoder features", disable=not progress):
            feats[m] = encoder_features(cfg, encoders[m], ds, rows_all, progress=progress)

    runs, per_class, logs, conf, plan, tsne = [], [], [], {}, [], {}
    for task in tasks:
        C = len(task.classes)
        folds = stratified_folds(task.y, n_folds, seed)
        n_all = min(len(tr) for tr, _ in folds)
        budgets = budget_list(n_all, sec["budgets"], int(sec.get("min_budget", 128)))
        plan.append({**{k: v for k, v in task.key().items() if k in ("scheme", "classes", "train_campaign",
                                                                   "gen_campaign")},
                     "budgets": budgets, "n_pool": len(task.pool), "n_gen": len(task.gen), "note": task.note,
                     "class_counts": np.bincount(task.y, minlength=C).tolist(),
                     "gen_counts": np.bincount(task.y_gen, minlength=C).tolist()})
        pos_pool = np.array([where[int(r)] for r in task.pool])
        pos_gen = np.array([where[int(r)] for r in task.gen], dtype=np.int64)
        # t-SNE inputs (seed 002 Fig. 8): a seeded subsample of the first fold's validation images
        va0 = folds[0][1]
        rng = np.random.default_rng(seed)
        sub = np.sort(rng.choice(va0, min(len(va0), int(sec.get("tsne_points", 1000))), replace=False))
        tsne_key = f"{task.scheme}"
        tsne[f"{tsne_key}|rows"] = task.pool[sub]
        tsne[f"{tsne_key}|y"] = task.y[sub]
        for m in models:
            f = feats[m][pos_pool[sub]] if depth == "head" else encoder_features(cfg, encoders[m], ds, task.pool[sub])
            tsne[f"{tsne_key}|encoder|{m}"] = _half(f)
        sub_in_va0 = np.searchsorted(va0, sub)
        bar = tqdm(total=n_folds * len(budgets) * len(models), desc=f"{task.scheme}: folds x budgets x models",
                   disable=not progress)
        for fold, (tr, va) in enumerate(folds):
            subsets = nested_subsets(task.y[tr], budgets, seed=_run_seed(seed, fold, 0))
            for b in budgets:
                pos = tr[subsets[b]]
                lab_names = [task.classes[k] for k in task.y[pos]]
                secs, secs_flat = labelling_seconds(lab_names), labelling_seconds(lab_names, flat_s=FLAT_SECONDS)
                for m in models:
                    t0 = time.time()
                    rs = _run_seed(seed, fold, b)
                    if depth == "head":
                        X = feats[m]
                        head, log = train_head(X[pos_pool[pos]], task.y[pos], C, hp, seed=rs,
                                               x_val=X[pos_pool[va]], y_val=task.y[va])
                        pred_va, emb_va = predict(head, X[pos_pool[va]])
                        pred_gen = predict(head, X[pos_gen])[0] if len(pos_gen) else np.empty(0, np.int64)
                    else:
                        from .finetune import finetune, predict_images

                        model, log = finetune(
                            encoders[m].make(), ds, task.pool[pos], task.y[pos], C, hp, depth, encoders[m].size,
                            cfg.profile.augment, device=cfg.device, seed=rs, lr=float(sec.get("finetune_lr", 0.01)),
                            num_workers=int(cfg.profile.pretrain.get("num_workers", 0)),
                            val_rows=task.pool[va], y_val=task.y[va])
                        pred_va, emb_va = predict_images(model, ds, task.pool[va], encoders[m].size, cfg.device)
                        pred_gen = (predict_images(model, ds, task.gen, encoders[m].size, cfg.device)[0]
                                    if len(task.gen) else np.empty(0, np.int64))
                    oa, cm, pc = _metrics(task.y[va], pred_va, C)
                    goa, gcm, gpc = _metrics(task.y_gen, pred_gen, C)
                    tail = max(1, len(log.loss) // 10)
                    runs.append({"scheme": task.scheme, "model": m, "budget": b, "fold": fold, "n_train": len(pos),
                                 "n_val": len(va), "oa": oa, "gen_oa": goa, "label_s": secs,
                                 "label_s_flat": secs_flat, "steps": len(log.loss),
                                 "final_loss": float(np.mean(log.loss[-tail:])), "seconds": time.time() - t0})
                    for which, frame in (("val", pc), ("gen", gpc)):
                        if which == "gen" and not len(pos_gen):
                            continue
                        frame = frame.assign(scheme=task.scheme, model=m, budget=b, fold=fold, split=which,
                                             cls=task.classes)
                        per_class.append(frame)
                    for which, mat in (("val", cm), ("gen", gcm)):
                        k = f"{task.scheme}|{m}|{b}|{which}"
                        conf[k] = conf.get(k, 0) + mat
                    logs.append({"scheme": task.scheme, "model": m, "budget": b, "fold": fold, **log.as_dict()})
                    if fold == 0:
                        tsne[f"{tsne_key}|finetuned|{m}|{b}"] = _half(emb_va[sub_in_va0])
                    bar.update()
        bar.close()

    pd.DataFrame(runs).to_parquet(out / "runs.parquet", index=False)
    pc_all = pd.concat(per_class, ignore_index=True) if per_class else pd.DataFrame()
    pc_all.rename(columns={"cls": "class"}).to_parquet(out / "per_class.parquet", index=False)
    np.savez_compressed(out / "confusion.npz", **conf)
    np.savez_compressed(out / "tsne.npz", **tsne)
    for lg in logs:
        lg.pop("lr", None)  # deterministic from the schedule; not stored
    (out / "logs.json").write_text(json.dumps(logs))
    info = {"tasks": plan, "models": {m: {"label": e.label, "init": e.init} for m, e in encoders.items()},
            "finetune": depth, "folds": n_folds, "head": hp.__dict__, "seed": seed,
            "profile": cfg.profile.name}
    (out / "study.json").write_text(json.dumps(info, indent=2, default=str))


def study_key(cfg, ds, tasks: list[Task], encoders: dict[str, Encoder]) -> dict[str, Any]:
    """The configuration that identifies one study in the cache."""
    sec, _ = _sections(cfg)
    key = {"kind": "cssl-study", "version": STUDY_VERSION, "dataset": ds.fingerprint, "cssl": sec,
           "encoders": {m: e.identity for m, e in encoders.items()}, "tasks": [t.key() for t in tasks],
           "seed": int(cfg.seed)}
    if sec.get("finetune", "head") != "head":
        key["augment"] = dict(cfg.profile.augment)
    return key


def run_study(cfg, ds, *, tasks: list[Task] | None = None, encoders: dict[str, Encoder] | None = None,
              progress: bool = True) -> StudyResult:
    """Run (or load from the cache) the whole label-budget study; see the module docstring."""
    from icepaper.core.cache import cached_dir

    tasks = tasks if tasks is not None else plan_tasks(ds)
    encoders = encoders if encoders is not None else study_encoders(cfg, ds)
    key = study_key(cfg, ds, tasks, encoders)
    folder = cached_dir("cssl-study", key, lambda tmp: _execute(cfg, ds, tasks, encoders, tmp, progress))
    return StudyResult.load(folder)


# --------------------------------------------------------------------------- results


class StudyResult:
    """Everything the study measured, with the paper's summaries computed from it."""

    def __init__(self, runs: pd.DataFrame, per_class: pd.DataFrame, confusion: dict[str, np.ndarray],
                 logs: list[dict[str, Any]], tsne: dict[str, np.ndarray], info: dict[str, Any],
                 folder: Path | None = None):
        self.runs, self.per_class, self._conf = runs, per_class, confusion
        self.logs, self.tsne, self.info, self.folder = logs, tsne, info, folder

    @classmethod
    def load(cls, folder: str | Path) -> StudyResult:
        folder = Path(folder)
        with np.load(folder / "confusion.npz") as z:
            conf = {k: z[k] for k in z.files}
        with np.load(folder / "tsne.npz") as z:
            tsne = {k: z[k] for k in z.files}
        return cls(pd.read_parquet(folder / "runs.parquet"), pd.read_parquet(folder / "per_class.parquet"), conf,
                   json.loads((folder / "logs.json").read_text()), tsne,
                   json.loads((folder / "study.json").read_text()), folder)

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
        return self.info["models"].get(model, {}).get("label", MODEL_LABELS.get(model, model))

    # -- accuracy ----------------------------------------------------------------------------
    def accuracy(self, which: str = "val") -> pd.DataFrame:
        """Mean, std, min and max over folds of the overall accuracy (%) per scheme, model, budget."""
        col = "oa" if which == "val" else "gen_oa"
        g = self.runs.groupby(["scheme", "model", "budget"])[col]
        return g.agg(["mean", "std", "min", "max", "count"]).reset_index()

    def accuracy_table(self, scheme: str, which: str = "val") -> pd.DataFrame:
        """Overall accuracy (%) as 'mean ± std over folds', budgets down, models across."""
        a = self.accuracy(which)
        a = a[a.scheme == scheme]
        cell = a["mean"].map("{:.1f}".format) + " ± " + a["std"].fillna(0).map("{:.1f}".format)
        t = a.assign(cell=cell, model=a.model.map(self.label)).pivot(index="budget", columns="model", values="cell")
        return t[[self.label(m) for m in self.models]].rename_axis(columns=None)

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
                               "models": self.info["models"], "schemes": {}}
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
            }
            if self.has_generalization(s):
                g = self.accuracy("gen")
                g = g[g.scheme == s]
                entry["generalization"] = {m: {str(int(r.budget)): {"mean": round(float(r["mean"]), 3),
                                                                    "std": round(float(r["std"]), 3)}
                                               for _, r in g[g.model == m].iterrows()} for m in self.models}
            pcs = self.per_class_scores(s)
            entry["f1_largest_budget"] = {m: {str(r["class"]): round(float(r.f1), 3)
                                              for _, r in pcs[pcs.model == m].iterrows()} for m in self.models}
            out["schemes"][s] = entry
        return out
