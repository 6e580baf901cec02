"""The tasks of the label-budget study: one per label scheme, with its classes, labelled
pool of the training campaign and images of the unseen campaign; plus their summary table.

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

The campaign choice lives in ``icepaper.data.splits.campaign_roles``: with its default
choices the unseen campaign is also left out of every pretraining run
(``data.splits.pretrain_indices``), so, as in Chu et al. 2025, the encoders never see it before
it is tested on. The pool (training campaign) and the unseen images never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .labelcost import is_complex


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
    labelled scheme; ``[]`` when the dataset carries no labels at all
    (``icepaper.data.splits.study_schemes``, which pretraining's default set also reads)."""
    from icepaper.data.splits import study_schemes

    return study_schemes(ds)


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
    from icepaper.data.splits import campaign_column, campaign_roles

    camp = campaign_column(ds)
    out = []
    for scheme in (schemes or default_schemes(ds)):
        lab = ds.labels(scheme)
        has = lab.notna().to_numpy()
        train_c, gen_c, note = campaign_roles(ds, scheme, train_campaign, gen_campaign, min_gen)
        pool = np.flatnonzero(has & (camp == train_c)) if train_c is not None else np.flatnonzero(has)
        classes = class_order(lab.iloc[pool], scheme)
        lut = {c: k for k, c in enumerate(classes)}
        y = np.array([lut[str(v)] for v in lab.to_numpy()[pool]], dtype=np.int64)
        gen = np.empty(0, np.int64)
        if gen_c is not None:
            known = has & lab.isin(classes).fillna(False).to_numpy(dtype=bool)
            gen = np.flatnonzero(known & (camp == gen_c))
            n_unknown = int(np.sum(has & (camp == gen_c))) - len(gen)
            if n_unknown:
                note = f"{n_unknown} images of {gen_c} have classes unseen in training and are left out"
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
