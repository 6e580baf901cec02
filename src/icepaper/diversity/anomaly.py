"""Rare-habit and label-noise discovery from embeddings alone (the future work of Ko et al. 2025).

* ``knn_anomaly_scores``: mean cosine distance (1 - cos) of each particle to its k nearest
  neighbours in a reference set (faiss inner-product search on unit vectors). Scoring
  against a random reference sample rather than the whole set keeps a small cluster of a
  rare habit from being its own neighbourhood, and scales to millions of particles.
* ``mislabel_scores``: one minus the similarity-weighted share of a particle's k labelled
  neighbours that carry its label (DINO-style weights exp(cos / T)); the neighbours'
  majority label is the suggested correction.
* ``detection_metrics``: precision and recall among the k highest scores and AUROC against
  a planted truth (``planted``: rare particles injected, labels flipped).
* ``discover_rare`` scores a population plus injected particles; ``gallery`` shows the
  highest-scoring particles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from icepaper.core import verdicts as V

__all__ = [
    "knn_search",
    "knn_anomaly_scores",
    "mislabel_scores",
    "precision_at_k",
    "recall_at_k",
    "auroc",
    "detection_metrics",
    "gallery",
    "ImageStack",
    "Discovery",
    "discover_rare",
    "detection_verdicts",
    "discovery_sentence",
    "mislabel_sentence",
]


def _unit32(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (n, p), got shape {x.shape}")
    nrm = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(nrm == 0) or not np.all(np.isfinite(nrm)):
        raise ValueError("embeddings contain zero or non-finite rows")
    return np.ascontiguousarray(x / nrm)


def knn_search(
    emb: np.ndarray,
    k: int,
    reference: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities and row indices (into ``emb``) of each row's k nearest neighbours.

    ``reference``: indices of the rows that may be neighbours (default: all). A row is
    never its own neighbour. Returns two (n, k') arrays, k' = min(k, references - 1),
    sorted by decreasing similarity.

    >>> emb = [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]
    >>> sims, nbr = knn_search(emb, 1)
    >>> nbr.ravel().tolist(), sims.ravel().astype(float).round(2).tolist()
    ([1, 0, 1], [0.8, 0.8, 0.6])
    """
    x = _unit32(emb)
    ref = np.arange(len(x)) if reference is None else np.asarray(reference, dtype=np.int64)
    k = int(min(k, len(ref) - 1))
    if k < 1:
        raise ValueError(f"need at least 2 reference embeddings for a neighbour search, got {len(ref)}")
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x[ref])
    sims, pos = index.search(x, k + 1)
    nbr = ref[pos]
    self_hit = nbr == np.arange(len(x))[:, None]
    # drop the row itself where it was found, else the (k+1)-th neighbour
    drop = np.where(self_hit.any(1), self_hit.argmax(1), k)
    keep = np.ones_like(self_hit)
    keep[np.arange(len(x)), drop] = False
    return sims[keep].reshape(len(x), k), nbr[keep].reshape(len(x), k)


def knn_anomaly_scores(
    emb: np.ndarray,
    k: int = 10,
    n_reference: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Anomaly score per row: mean cosine distance 1 - cos to its k nearest neighbours.

    Neighbours come from a random reference sample of ``n_reference`` rows (None = all rows).
    Higher = more unusual.

    Four embeddings near e_1 and one at e_2: the last is the most unusual.

    >>> emb = [[1.0, 0.0], [0.99, 0.1], [0.98, -0.1], [1.0, 0.05], [0.0, 1.0]]
    >>> s = knn_anomaly_scores(emb, k=2)
    >>> int(s.argmax()), bool(s[4] > 0.9 > 0.1 > s[:4].max())
    (4, True)
    """
    n = len(emb)
    ref = None
    if n_reference is not None and n_reference < n:
        ref = np.sort(np.random.default_rng(seed).choice(n, int(n_reference), replace=False))
    sims, _ = knn_search(emb, k, ref)
    return 1.0 - sims.mean(axis=1).astype(np.float64)


def mislabel_scores(
    emb: np.ndarray,
    labels: Sequence,
    k: int = 20,
    temperature: float = 0.07,
) -> pd.DataFrame:
    """Neighbour label agreement of every labelled row (unlabelled rows get NaN).

    Columns: label, agreement (similarity-weighted share of the k labelled neighbours with
    the same label, weights exp(cos / temperature)), suggested (the neighbours' weighted
    majority label), score = 1 - agreement (higher = more likely mislabelled).

    Row 2 sits among "a" particles but is labelled "b":

    >>> emb = [[1.0, 0.0], [0.99, 0.1], [0.98, -0.1], [0.0, 1.0], [0.1, 0.99], [-0.1, 0.98]]
    >>> m = mislabel_scores(emb, ["a", "a", "b", "b", "b", "b"], k=2)
    >>> int(m["score"].idxmax()), m.loc[2, "suggested"]
    (2, 'a')
    """
    lab = pd.Series(list(labels), dtype=object)
    if len(lab) != len(emb):
        raise ValueError(f"{len(lab)} labels for {len(emb)} embeddings")
    ok = np.flatnonzero(lab.notna().to_numpy())
    out = pd.DataFrame({"label": lab, "agreement": np.nan, "suggested": None, "score": np.nan})
    if len(ok) < 2:
        return out
    codes, classes = pd.factorize(lab.iloc[ok])
    sims, nbr = knn_search(np.asarray(emb)[ok], k)
    w = np.exp((sims - 1.0) / temperature)  # shifted for stability; ratios unchanged
    votes = np.zeros((len(ok), len(classes)))
    np.add.at(votes, (np.repeat(np.arange(len(ok)), nbr.shape[1]), codes[nbr].ravel()), w.ravel())
    votes /= votes.sum(1, keepdims=True)
    agree = votes[np.arange(len(ok)), codes]
    out.loc[ok, "agreement"] = agree
    out.loc[ok, "suggested"] = np.asarray(classes)[votes.argmax(1)]
    out.loc[ok, "score"] = 1.0 - agree
    return out


# --------------------------------------------------------------------------- metrics


def _check(scores, truth) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(truth, dtype=bool)
    if s.shape != t.shape:
        raise ValueError(f"{s.shape} scores for {t.shape} truth flags")
    keep = np.isfinite(s)
    return s[keep], t[keep]


def _top(s: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-s, kind="stable")[: int(k)]


def precision_at_k(scores, truth, k: int) -> float:
    """Share of true positives among the k highest scores.

    >>> precision_at_k([0.9, 0.8, 0.1, 0.7], [True, False, False, True], k=2)
    0.5
    """
    s, t = _check(scores, truth)
    k = min(int(k), len(s))
    return float(t[_top(s, k)].mean()) if k else float("nan")


def recall_at_k(scores, truth, k: int) -> float:
    """Share of all true positives that are among the k highest scores.

    >>> recall_at_k([0.9, 0.8, 0.1, 0.7], [True, False, False, True], k=3)
    1.0
    """
    s, t = _check(scores, truth)
    return float(t[_top(s, k)].sum() / t.sum()) if t.sum() else float("nan")


def auroc(scores, truth) -> float:
    """Area under the ROC curve of ``scores`` for the positives in ``truth`` (NaN if one class).

    >>> auroc([0.9, 0.8, 0.1, 0.7], [True, False, False, True])
    0.75
    """
    s, t = _check(scores, truth)
    return float(roc_auc_score(t, s)) if 0 < t.sum() < len(t) else float("nan")


def detection_metrics(scores, truth, ks: Sequence[int] = (10, 50)) -> dict[str, Any]:
    """AUROC, precision and recall at each k, and R-precision (precision at k = number of positives).

    >>> detection_metrics([0.9, 0.8, 0.1, 0.7], [True, False, False, True], ks=(1,))
    {'n': 4, 'n_positive': 2, 'auroc': 0.75, 'precision_at_1': 1.0, 'recall_at_1': 0.5, 'r_precision': 0.5}
    """
    s, t = _check(scores, truth)
    n_pos = int(t.sum())
    out: dict[str, Any] = {"n": int(len(s)), "n_positive": n_pos, "auroc": auroc(s, t)}
    for k in ks:
        out[f"precision_at_{k}"] = precision_at_k(s, t, k)
        out[f"recall_at_{k}"] = recall_at_k(s, t, k)
    out["r_precision"] = precision_at_k(s, t, n_pos) if n_pos else float("nan")
    return out


# --------------------------------------------------------------------------- discovery


class ImageStack:
    """Index a dataset's rows and extra in-memory images as one sequence (for galleries)."""

    def __init__(self, ds, rows: Sequence[int], extra: np.ndarray | None = None):
        self.ds, self.rows = ds, np.asarray(rows, dtype=np.int64)
        self.extra = extra if extra is not None else np.zeros((0, ds.size, ds.size), np.uint8)

    def __len__(self) -> int:
        return len(self.rows) + len(self.extra)

    def __getitem__(self, i: int) -> np.ndarray:
        i = int(i)
        return self.ds[int(self.rows[i])] if i < len(self.rows) else self.extra[i - len(self.rows)]


@dataclass
class Discovery:
    """Anomaly scores of a population (plus injected particles), with metrics when truth is known."""

    scores: np.ndarray
    truth: np.ndarray | None
    metrics: dict[str, Any] | None
    images: ImageStack

    def gallery(self, n: int = 24, title: str = ""):
        return gallery(self.images, self.scores, n=n, flags=self.truth, title=title)


def discover_rare(ds, rows: Sequence[int], emb: np.ndarray, *, truth: Sequence[bool] | None = None,
                  extra_emb: np.ndarray | None = None, extra_images: np.ndarray | None = None,
                  k: int = 10, n_reference: int | None = None, seed: int = 0,
                  ks: Sequence[int] = (10, 50)) -> Discovery:
    """kNN anomaly scores of ``emb`` (dataset rows ``rows``) and of injected particles ``extra_emb``.

    ``truth`` flags the rows known to be of the rare habit; injected particles count as
    rare. Without truth and injection (a user's folder) only scores are returned.

    Three particles near e_1 and one injected near e_2 (``ds`` is only read for gallery images):

    >>> emb = [[1.0, 0.0], [0.99, 0.1], [0.98, -0.1]]
    >>> disc = discover_rare(None, [0, 1, 2], emb, extra_emb=[[0.1, 1.0]],
    ...                      extra_images=np.zeros((1, 8, 8), np.uint8), k=1, ks=(1,))
    >>> disc.truth.tolist(), disc.metrics["auroc"], disc.metrics["precision_at_1"]
    ([False, False, False, True], 1.0, 1.0)
    """
    e = np.asarray(emb, dtype=np.float32)
    t = None if truth is None else np.asarray(truth, dtype=bool)
    if extra_emb is not None and len(extra_emb):
        e = np.concatenate([e, np.asarray(extra_emb, dtype=np.float32)])
        t = np.r_[np.zeros(len(rows), bool) if t is None else t, np.ones(len(extra_emb), bool)]
    scores = knn_anomaly_scores(e, k=k, n_reference=n_reference, seed=seed)
    metrics = detection_metrics(scores, t, ks) if t is not None and t.any() else None
    return Discovery(scores, t, metrics, ImageStack(ds, rows, extra_images))


#: [default] "Well above chance": the AUROC interval lies above 0.5 + WELL_ABOVE (0.75) and the
#: precision@k interval above the prevalence (chance precision).
WELL_ABOVE = 0.25


def detection_verdicts(scores, truth, k: int, *, n_boot: int = 1000, ci: float = 0.95,
                       seed: int = 0) -> dict[str, Any]:
    """AUROC and precision@k with bootstrap intervals over the items, and their verdicts against
    chance (``icepaper.core.verdicts``):

    * ``auroc``: AUROC > 0.5 (holds when the interval's lower end is above 0.5);
    * ``well``: AUROC > 0.5 by more than ``WELL_ABOVE`` (lower end above 0.75);
    * ``top``: precision@k > prevalence (lower end above the share of positives).

    Each replicate resamples the items with replacement (the top k are those of the resample).

    >>> rng = np.random.default_rng(0)
    >>> truth = np.r_[np.ones(20, bool), np.zeros(480, bool)]
    >>> v = detection_verdicts(np.where(truth, 1.0, 0.0) + rng.normal(0, 0.3, 500), truth, 10, n_boot=200)
    >>> v["auroc"].state, v["well"].state, v["top"].state
    ('holds', 'holds', 'holds')
    >>> v = detection_verdicts(rng.normal(size=500), truth, 10, n_boot=200)
    >>> v["auroc"].state, v["top"].state
    ('not resolved', 'not resolved')
    """
    s, t = _check(scores, truth)
    prev = float(t.mean())
    how = f"bootstrap over {len(s)} particles, {n_boot} resamples"
    a = V.bootstrap_statistic(len(s), lambda i: auroc(s[i], t[i]), n_boot=n_boot, ci=ci, seed=seed)
    p = V.bootstrap_statistic(len(s), lambda i: precision_at_k(s[i], t[i], k), n_boot=n_boot, ci=ci, seed=seed)
    return {"auroc": V.from_interval(*a, ">", 0.0, reference=0.5, ci=ci, method=how),
            "well": V.from_interval(*a, ">", WELL_ABOVE, reference=0.5, ci=ci, method=how),
            "top": V.from_interval(*p, ">", 0.0, reference=prev, ci=ci, method=how),
            "auroc_ci": a, "precision_ci": p, "k": int(k), "prevalence": prev}


def _summary(v: dict[str, Any], what: str) -> str:
    k = v["k"]
    (a, alo, ahi), (p, plo, phi) = v["auroc_ci"], v["precision_ci"]
    head = (f"AUROC {a:.3f} ({int(100 * v['auroc'].ci)} % interval [{alo:.3f}, {ahi:.3f}]; chance 0.5) and "
            f"precision@{k} {p:.2f} ([{plo:.2f}, {phi:.2f}]; chance {v['prevalence']:.3f}), {v['auroc'].method}. ")
    if v["well"].state == V.HOLDS and v["top"].state == V.HOLDS:
        return head + f"Both intervals lie above chance and the AUROC's above 0.75: the scores find {what} well above chance."
    if v["auroc"].state == V.HOLDS:
        top = {V.HOLDS: f"their top {k} also hold more of {what} than chance",
               V.FAILS: (f"none of their top {k} particles is {what} (precision@{k} = 0)" if phi == 0 else
                         f"their top {k} hold less of {what} than chance would (interval below the prevalence)"),
               V.UNRESOLVED: f"whether their top {k} hold more of {what} than chance is not resolved"}[v["top"].state]
        return head + f"The scores rank {what} above chance overall (AUROC: holds), but {top}."
    if v["auroc"].state == V.FAILS:
        return head + f"The scores rank {what} below chance (AUROC: fails)."
    return head + f"Whether the scores rank {what} above chance is not resolved at this scale (AUROC interval contains 0.5)."


def discovery_sentence(disc: Discovery, habit: str | None = None, n_gallery: int = 24, *,
                       n_boot: int = 1000, seed: int = 0) -> str:
    """What the anomaly scores found, with intervals (``detection_verdicts``, k = the smallest k of
    the metrics), or a note when no truth is planted. "Well above chance" is said only when the
    AUROC interval lies above 0.75 and the precision@k interval above the prevalence.

    >>> disc = Discovery(np.array([0.1, 0.5, 0.2]), None, None, images=[])
    >>> discovery_sentence(disc)
    "No planted truth (a user's folder or no rare particles): the gallery shows the 3 most unusual of 3 particles for inspection."
    """
    m = disc.metrics
    if m is None:
        return (f"No planted truth (a user's folder or no rare particles): the gallery shows the "
                f"{min(len(disc.scores), n_gallery)} most unusual of {len(disc.scores)} particles for inspection.")
    prev = m["n_positive"] / m["n"]
    ks = sorted(int(k.split("_")[-1]) for k in m if k.startswith("precision_at_"))
    pk = ", ".join(f"precision@{k} {m[f'precision_at_{k}']:.2f}" for k in ks)
    v = detection_verdicts(disc.scores, disc.truth, ks[0] if ks else 10, n_boot=n_boot, seed=seed)
    return (f"Planted rare habit {habit!r} ({m['n_positive']} of {m['n']} particles, prevalence {prev:.3f}): "
            f"{pk}, R-precision {m['r_precision']:.2f}. " + _summary(v, "the rare habit"))


def mislabel_sentence(metrics: dict[str, Any] | None, frac: float, scores=None, truth=None, *,
                      k: int = 50, n_boot: int = 1000, seed: int = 0) -> str:
    """What neighbour label agreement found among flipped labels (or a note without truth).

    With the per-particle ``scores`` and flipped flags ``truth``, adds the intervals and verdicts
    of ``detection_verdicts`` (precision@``k``); without them it states the numbers and no verdict.

    >>> print(mislabel_sentence({"auroc": 0.91, "precision_at_50": 0.6, "recall_at_50": 0.75}, 0.1))
    With 10 % of labels flipped, neighbour label agreement ranks them with AUROC 0.910; precision@50 0.60 and recall@50 0.75 (chance precision 0.10). No interval without the per-particle scores, so no verdict.
    """
    if metrics is None:
        return "No flipped labels (a user's dataset): the gallery lists the particles whose labels their neighbours disagree with."
    text = (f"With {100 * frac:.0f} % of labels flipped, neighbour label agreement ranks them with AUROC "
            f"{metrics['auroc']:.3f}; precision@50 {metrics['precision_at_50']:.2f} and recall@50 "
            f"{metrics['recall_at_50']:.2f} (chance precision {frac:.2f}).")
    if scores is None or truth is None:
        return text + " No interval without the per-particle scores, so no verdict."
    return text + " " + _summary(detection_verdicts(scores, truth, k, n_boot=n_boot, seed=seed), "the flipped labels")


# --------------------------------------------------------------------------- figure


def gallery(images: Sequence[np.ndarray], scores: Sequence[float], n: int = 24, ncols: int = 8,
            flags: Sequence[bool] | None = None, captions: Sequence[str] | None = None, title: str = ""):
    """Grid of the ``n`` highest-scoring images with their score; ``flags`` outlines known positives in red.

    ``images`` is indexable by position (an array or a dataset); returns the figure.
    """
    import matplotlib.pyplot as plt

    s = np.asarray(scores, dtype=np.float64)
    order = _top(np.where(np.isfinite(s), s, -np.inf), min(n, len(s)))
    nrows = max(1, int(np.ceil(len(order) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.25 * ncols, 1.45 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, i in zip(axes.ravel(), order):
        ax.imshow(np.asarray(images[int(i)]), cmap="gray", vmin=0, vmax=255)
        cap = f"{s[i]:.3f}" + (f"\n{captions[i]}" if captions is not None else "")
        ax.set_title(cap, fontsize=6)
        if flags is not None and flags[i]:
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(True)
                sp.set_color("red")
                sp.set_linewidth(2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
