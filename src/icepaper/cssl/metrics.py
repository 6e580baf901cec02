"""What the label-budget study's results say beyond accuracy: confusion matrices merged into the
paper's views (basic habits, Fig. 6; complex shapes merged into aged / aggregate /
aged_aggregate, Fig. 7), precision and recall, and how well classes cluster in an embedding
(Fig. 8). Used by the figures (``cssl.plots``) and the claims (``papers.chu2025``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .labelcost import PROCESS_GROUPS, is_complex, process_group


def confusion_groups(cm: np.ndarray, classes: Sequence[str], view: str | None) -> tuple[np.ndarray, list[str]]:
    """(matrix, names) of a view of ``cm`` (rows true, columns predicted).

    ``view=None``: unchanged. ``"basic"``: rows and columns of the basic habits only (seed
    002 Fig. 6). ``"process"``: complex shapes merged by process into aged / aggregate /
    aged_aggregate (Fig. 7); images whose true or predicted class is basic are left out.
    """
    classes = list(classes)
    if view is None:
        return np.asarray(cm, float), classes
    if view == "basic":
        keep = [k for k, c in enumerate(classes) if not is_complex(c)]
        return np.asarray(cm, float)[np.ix_(keep, keep)], [classes[k] for k in keep]
    if view == "process":
        grp = [process_group(c) for c in classes]
        names = [g for g in PROCESS_GROUPS if g in grp]
        m = np.zeros((len(names), len(names)))
        for i, gi in enumerate(grp):
            for j, gj in enumerate(grp):
                if gi in names and gj in names:
                    m[names.index(gi), names.index(gj)] += cm[i, j]
        return m, names
    raise ValueError(f"view must be None, 'basic' or 'process', got {view!r}")


def view_problem(classes: Sequence[str], view: str) -> str | None:
    """Why ``classes`` do not allow a view of the paper's confusion matrices, or None.

    ``"basic"`` (Fig. 6) needs basic habits beside complex shapes; ``"process"`` (Fig. 7) needs
    complex shapes of at least two processes (aged, aggregate, aged_aggregate).
    """
    classes = list(classes)
    n_complex = sum(is_complex(c) for c in classes)
    if view == "basic":
        if n_complex == 0 or n_complex == len(classes):
            return (f"the classes are not split into basic habits and complex shapes "
                    f"({'none' if n_complex == 0 else 'every one'} is aged, rimed or aggregate by name)")
        return None
    if view == "process":
        groups = {process_group(c) for c in classes} - {"basic"}
        if len(groups) < 2:
            return f"complex shapes of {len(groups)} process(es) only; the view compares two or more"
        return None
    raise ValueError(f"view must be 'basic' or 'process', got {view!r}")


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-class precision and recall (%) and overall accuracy (%) of a confusion matrix."""
    cm = np.asarray(cm, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.diag(cm) / cm.sum(0) * 100
        rec = np.diag(cm) / cm.sum(1) * 100
        oa = np.trace(cm) / cm.sum() * 100 if cm.sum() else float("nan")
    return prec, rec, float(oa)


def class_separation(emb: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-NN accuracy (%) of the labels in an embedding (cosine, standardised features).

    High when images of one class sit together (clusters in a t-SNE map), near the
    majority-class share when classes are mixed."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(np.asarray(emb, np.float64))
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    knn = KNeighborsClassifier(n_neighbors=k + 1).fit(x, y)
    idx = knn.kneighbors(x, return_distance=False)[:, 1:]  # drop the point itself
    votes = np.asarray(y)[idx]
    pred = np.array([np.bincount(v).argmax() for v in votes])
    return float(np.mean(pred == y) * 100)


def separation_stages(res, scheme: str, budget: int | None = None) -> dict[str, float]:
    """k-NN separation of the first fold's validation images: before pretraining (the
    baseline's encoder), after MoCo pretraining, after fine-tuning (MoCo head's hidden layer)."""
    budget = max(res.budgets(scheme)) if budget is None else budget
    y = res.tsne[f"{scheme}|y"]
    out = {"before": class_separation(res.tsne[f"{scheme}|encoder|supervised"], y)}
    if f"{scheme}|encoder|moco" in res.tsne:
        out["pretrained"] = class_separation(res.tsne[f"{scheme}|encoder|moco"], y)
        out["finetuned"] = class_separation(res.tsne[f"{scheme}|finetuned|moco|{budget}"], y)
    return out
