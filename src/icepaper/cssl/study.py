"""The label-budget study of Chu et al. 2025 (Sects. 3.5, 4.2, 5): budgets x folds x models x schemes.

For every task (label scheme) the labelled pool of the training campaign is split into
stratified folds (``cssl.folds``); inside each fold's training part a nested, stratified
order gives the budget subsets (128, 256, ... up to all, ``cssl.budgets``), the same for
every model, so curves are comparable. Each (fold, budget, model) run fits the 3-layer
MLP head (``finetune="head"``: on cached frozen-encoder features; ``"head+last"`` /
``"all"``: on images, see ``cssl.finetune``) and is scored on the fold's validation part
(overall accuracy, per-class precision/recall/F1, confusion matrix) and, without further
training, on the unseen campaign (generalization, Chu et al. 2025 Sect. 3.5.2, Fig. 12).

The supervised baseline (``Encoder.end_to_end``) always trains encoder and head from its
initialisation on the same budget's images (depth ``"all"``), with the ``cssl.baseline_*``
schedule (:func:`baseline_params`). Each (fold, budget) also gets a majority-class row: the
most frequent class of the budget's labels, predicted for every validation (and unseen)
image (``majority.parquet``; not a model, so not in ``runs``).

``run_study(cfg, ds)`` caches the whole study by configuration and returns a
:class:`StudyResult` (tables, confusion matrices, per-run logs, t-SNE inputs).

The tasks (label schemes, training pool, unseen campaign) are planned in :mod:`.tasks`;
the results are read back as a :class:`~.results.StudyResult` (:mod:`.results`).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .encoders import Encoder, encoder_features, study_encoders
from .heads import HeadParams, predict, train_head
from .labelcost import FLAT_SECONDS, labelling_seconds
from .results import StudyResult
from .splits import budget_list, nested_subsets, stratified_folds
from .tasks import Task, plan_tasks

STUDY_VERSION = 3  # 2: t-SNE inputs scaled to fit float16 (no inf); 3: end-to-end baseline, majority row


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
    overflow float16 (the maps and ``metrics.class_separation`` standardise, so a common scale
    changes nothing; a hidden layer fed near-constant features can exceed 65,504)."""
    x = np.asarray(x, dtype=np.float32)
    big = float(np.abs(x).max()) if x.size else 0.0
    return (x * (6e4 / big) if big > 6e4 else x).astype(np.float16)


def _run_seed(seed: int, fold: int, budget: int) -> int:
    return (int(seed) * 1_000_003 + fold * 10_007 + budget) % 2**31


def _sections(cfg) -> tuple[dict[str, Any], HeadParams]:
    sec = dict(cfg.profile.cssl)
    return sec, HeadParams.from_section(sec)


def baseline_params(sec: dict[str, Any], hp: HeadParams) -> tuple[HeadParams, float]:
    """(schedule, learning rate) of the end-to-end baseline: the head's, with the profile's
    ``baseline_epochs``, ``baseline_min_steps``, ``baseline_batch_size`` and ``baseline_lr``."""
    return (replace(hp, epochs=int(sec["baseline_epochs"]), min_steps=int(sec["baseline_min_steps"]),
                    batch_size=int(sec["baseline_batch_size"])), float(sec["baseline_lr"]))


def model_depth(enc: Encoder, depth: str) -> str:
    """What trains for ``enc``: everything for an end-to-end encoder, else the profile's ``depth``."""
    return "all" if enc.end_to_end else depth


def majority_oa(y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Overall accuracy (%) on ``y_test`` of always predicting ``y_train``'s most frequent class
    (ties: the lowest class index); NaN without test labels.

    >>> majority_oa(np.array([0, 1, 1, 2]), np.array([1, 1, 0, 2, 2]))
    40.0
    """
    if not len(y_test):
        return float("nan")
    return float(np.mean(np.asarray(y_test) == int(np.bincount(y_train).argmax())) * 100.0)


def _execute(cfg, ds, tasks: list[Task], encoders: dict[str, Encoder], out: Path, progress: bool) -> None:
    from icepaper.core.progress import tqdm

    sec, hp = _sections(cfg)
    depth = sec["finetune"]
    n_folds = int(sec["folds"])
    seed = int(cfg.seed)
    models = list(encoders)
    rows_all = np.unique(np.concatenate([np.concatenate([t.pool, t.gen]) for t in tasks]))
    where = {int(r): k for k, r in enumerate(rows_all)}
    depths = {m: model_depth(encoders[m], depth) for m in models}
    hp_base, lr_base = baseline_params(sec, hp)
    sizes = [e.size for e in encoders.values() if not e.end_to_end]
    map_size = {m: sizes[0] for m, e in encoders.items() if e.end_to_end and sizes}
    feats: dict[str, np.ndarray] = {}
    for m in tqdm([m for m in models if depths[m] == "head"], desc="encoder features", disable=not progress):
        feats[m] = encoder_features(cfg, encoders[m], ds, rows_all, progress=progress)

    runs, per_class, logs, conf, plan, tsne, majority = [], [], [], {}, [], {}, []
    for task in tasks:
        C = len(task.classes)
        folds = stratified_folds(task.y, n_folds, seed)
        n_all = min(len(tr) for tr, _ in folds)
        budgets = budget_list(n_all, sec["budgets"], int(sec["min_budget"]))
        plan.append({**{k: v for k, v in task.key().items() if k in ("scheme", "classes", "train_campaign",
                                                                   "gen_campaign")},
                     "budgets": budgets, "n_pool": len(task.pool), "n_gen": len(task.gen), "note": task.note,
                     "class_counts": np.bincount(task.y, minlength=C).tolist(),
                     "gen_counts": np.bincount(task.y_gen, minlength=C).tolist()})
        pos_pool = np.array([where[int(r)] for r in task.pool])
        pos_gen = np.array([where[int(r)] for r in task.gen], dtype=np.int64)
        # t-SNE inputs (Chu et al. 2025 Fig. 8): a seeded subsample of the first fold's validation images
        va0 = folds[0][1]
        rng = np.random.default_rng(seed)
        sub = np.sort(rng.choice(va0, min(len(va0), int(sec["tsne_points"])), replace=False))
        tsne_key = f"{task.scheme}"
        tsne[f"{tsne_key}|rows"] = task.pool[sub]
        tsne[f"{tsne_key}|y"] = task.y[sub]
        for m in models:
            # the untrained baseline's map (Fig. 8 "before pretraining") at the CSSL encoders' input size
            f = (feats[m][pos_pool[sub]] if m in feats else
                 encoder_features(cfg, replace(encoders[m], size=map_size.get(m, encoders[m].size)), ds, task.pool[sub]))
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
                majority.append({"scheme": task.scheme, "budget": b, "fold": fold, "n_train": len(pos),
                                 "class": task.classes[int(np.bincount(task.y[pos]).argmax())],
                                 "oa": majority_oa(task.y[pos], task.y[va]),
                                 "gen_oa": majority_oa(task.y[pos], task.y_gen)})
                for m in models:
                    t0 = time.time()
                    rs = _run_seed(seed, fold, b)
                    if depths[m] == "head":
                        X = feats[m]
                        head, log = train_head(X[pos_pool[pos]], task.y[pos], C, hp, seed=rs,
                                               x_val=X[pos_pool[va]], y_val=task.y[va])
                        pred_va, emb_va = predict(head, X[pos_pool[va]])
                        pred_gen = predict(head, X[pos_gen])[0] if len(pos_gen) else np.empty(0, np.int64)
                    else:
                        from .finetune import finetune, predict_images

                        e2e = encoders[m].end_to_end
                        model, log = finetune(
                            encoders[m].make(), ds, task.pool[pos], task.y[pos], C, hp_base if e2e else hp,
                            depths[m], encoders[m].size, cfg.profile.augment, device=cfg.device, seed=rs,
                            lr=lr_base if e2e else float(sec["finetune_lr"]),
                            num_workers=int(cfg.profile.pretrain["num_workers"]),
                            val_rows=task.pool[va], y_val=task.y[va])
                        pred_va, emb_va = predict_images(model, ds, task.pool[va], encoders[m].size, cfg.device)
                        pred_gen = (predict_images(model, ds, task.gen, encoders[m].size, cfg.device)[0]
                                    if len(task.gen) else np.empty(0, np.int64))
                    oa, cm, pc = _metrics(task.y[va], pred_va, C)
                    goa, gcm, gpc = _metrics(task.y_gen, pred_gen, C)
                    tail = max(1, len(log.loss) // 10)
                    runs.append({"scheme": task.scheme, "model": m, "budget": b, "fold": fold, "n_train": len(pos),
                                 "n_val": len(va), "trained": depths[m], "oa": oa, "gen_oa": goa, "label_s": secs,
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
    pd.DataFrame(majority).to_parquet(out / "majority.parquet", index=False)
    pc_all = pd.concat(per_class, ignore_index=True) if per_class else pd.DataFrame()
    pc_all.rename(columns={"cls": "class"}).to_parquet(out / "per_class.parquet", index=False)
    np.savez_compressed(out / "confusion.npz", **conf)
    np.savez_compressed(out / "tsne.npz", **tsne)
    for lg in logs:
        lg.pop("lr", None)  # deterministic from the schedule; not stored
    (out / "logs.json").write_text(json.dumps(logs))
    info = {"tasks": plan, "models": {m: {"label": e.label, "init": e.init, "trained": depths[m], "size": e.size}
                                      for m, e in encoders.items()},
            "baseline": {"epochs": hp_base.epochs, "min_steps": hp_base.min_steps,
                         "batch_size": hp_base.batch_size, "lr": lr_base},
            "finetune": depth, "folds": n_folds, "head": hp.__dict__, "seed": seed,
            "profile": cfg.profile.name}
    (out / "study.json").write_text(json.dumps(info, indent=2, default=str))


def study_key(cfg, ds, tasks: list[Task], encoders: dict[str, Encoder]) -> dict[str, Any]:
    """The configuration that identifies one study in the cache."""
    sec, _ = _sections(cfg)
    key = {"kind": "cssl-study", "version": STUDY_VERSION, "dataset": ds.fingerprint, "cssl": sec,
           "encoders": {m: {**e.identity, "end_to_end": e.end_to_end, "size": e.size} for m, e in encoders.items()}, "tasks": [t.key() for t in tasks],
           "seed": int(cfg.seed)}
    if sec["finetune"] != "head" or any(e.end_to_end for e in encoders.values()):
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
