"""Frozen-embedding probes (Ko et al. 2025): weighted kNN, logistic regression, geometric baseline.

All probes fit on the labelled ``train`` rows only, use ``val`` only to choose the logistic
regression's C, and report accuracy (%) on the held-out labelled ``test`` rows (the role of
the paper's CPI-21K), in the ``cpi`` label scheme unless another is given. Ko et al. 2025 is a CPI
study, so when the metadata's ``instrument`` column mixes CPI with other imagers (the synthetic
default data hold HOLIMO images too) only the CPI images are probed (``probe_population``);
data without that column, or without CPI rows, are probed whole.

``knn_classify``
    DINO's weighted kNN: cosine similarity to every training embedding, the k = 20 most
    similar vote for their class with weight exp(sim / T), T = 0.07; the class with the
    largest summed weight wins. Computed with torch matmuls over chunks of test rows.
``logistic_probe``
    L2-regularised multinomial logistic regression (scikit-learn, lbfgs) on embeddings
    standardised with the training rows' mean and std; C picked by validation accuracy
    (ties: the smaller C).
``geometric_baseline``
    The 13 geometric features of docs/science.md §5 (``icepaper.data.features.BASELINE_13``,
    lengths in um) -> median imputation of blank images -> standardise -> the same logistic
    regression. Ko et al. 2025 reports 65 % on CPI-21K.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from icepaper.ssl.knn import knn_classify

DEFAULT_SCHEME = "cpi"


# --------------------------------------------------------------------------- splits


PROBE_INSTRUMENT = "CPI"


def probe_population(ds, instrument: str = PROBE_INSTRUMENT) -> tuple[np.ndarray, str]:
    """(boolean mask of the rows the probes may use, a sentence saying which).

    Only the ``instrument`` images when the metadata's ``instrument`` column holds them beside
    images of another instrument; every row otherwise (no such column, a single instrument, or
    no ``instrument`` rows at all).

    >>> from types import SimpleNamespace
    >>> ds = SimpleNamespace(meta=pd.DataFrame({"instrument": ["CPI", "HOLIMO", "CPI", None]}))
    >>> keep, what = probe_population(ds)
    >>> keep.tolist(), what
    ([True, False, True, False], "CPI images only (2 of 4; Ko et al. 2025 is a CPI study, the other instruments' images (HOLIMO: 1, unknown: 1) are left out)")
    >>> probe_population(SimpleNamespace(meta=pd.DataFrame({"split": ["train", "test"]})))[1]
    'all images (no instrument column in the metadata)'
    """
    meta = ds.meta
    n = len(meta)
    if "instrument" not in meta.columns:
        return np.ones(n, dtype=bool), "all images (no instrument column in the metadata)"
    inst = meta["instrument"].astype("string")
    keep = (inst == instrument).fillna(False).to_numpy(dtype=bool)
    if not keep.any():
        return np.ones(n, dtype=bool), f"all images (no {instrument} images in the instrument column)"
    if keep.all():
        return keep, f"all images ({instrument} only)"
    other = inst[~keep].fillna("unknown").value_counts()
    others = ", ".join(f"{k}: {v}" for k, v in other.items())
    return keep, (f"{instrument} images only ({int(keep.sum())} of {n}; Ko et al. 2025 is a {instrument} study, "
                  f"the other instruments' images ({others}) are left out)")


def probe_splits(ds, scheme: str = DEFAULT_SCHEME) -> dict[str, np.ndarray]:
    """Labelled row indices of each split (train/val/test) in ``scheme``, within
    ``probe_population`` (CPI images when the data mix instruments); disjoint by construction."""
    lab = ds.labels(scheme).notna().to_numpy() & probe_population(ds)[0]
    split = ds.meta["split"].to_numpy()
    return {s: np.flatnonzero(lab & (split == s)) for s in ("train", "val", "test")}


def pick_scheme(ds, scheme: str = DEFAULT_SCHEME) -> str:
    """``scheme`` when ``ds`` has labels in it, else the first labelled scheme of the dataset
    (``habit19``, ``habit4``, ``cpi``, ``oap``), else ``scheme`` unchanged (``skip_reason`` says why).

    >>> from types import SimpleNamespace
    >>> ds = SimpleNamespace(has_labels=lambda s: s == "habit4")
    >>> pick_scheme(ds, "cpi"), pick_scheme(ds, "habit4")
    ('habit4', 'habit4')
    """
    from icepaper.data.packed import LABEL_SCHEMES

    if ds.has_labels(scheme):
        return scheme
    return next((s for s in LABEL_SCHEMES if ds.has_labels(s)), scheme)


def skip_reason(ds, scheme: str = DEFAULT_SCHEME) -> str | None:
    """Why the probes cannot run on ``ds`` in ``scheme``, in a few words, or None.

    They need labels, at least two classes among the labelled train images, and labelled
    test images (val may be empty: C is then chosen by cross-validation on train).

    >>> from types import SimpleNamespace
    >>> ds = SimpleNamespace(has_labels=lambda s: s == "habit4")
    >>> skip_reason(ds, "cpi")
    "no 'cpi' labels (the dataset has 'habit4' labels)"
    """
    if not ds.has_labels(scheme):
        if pick_scheme(ds, scheme) != scheme:
            return f"no {scheme!r} labels (the dataset has {pick_scheme(ds, scheme)!r} labels)"
        return "no labels (one sub-folder per class gives them)"
    classes = ds.labels(scheme).dropna().astype(str).unique()
    if len(classes) < 2:
        return f"one class only ({classes[0]!r} in scheme {scheme!r}); a classifier needs two"
    sp = probe_splits(ds, scheme)
    missing = [s for s in ("train", "test") if len(sp[s]) == 0]
    if missing:
        return f"no labelled {' or '.join(missing)} images in scheme {scheme!r}"
    n_train = ds.labels(scheme).iloc[sp["train"]].astype(str).nunique()
    if n_train < 2:
        return f"the labelled train images hold one class only (scheme {scheme!r}); a classifier needs two"
    return None


# --------------------------------------------------------------------------- kNN


@dataclass
class LogisticFit:
    """A fitted probe: test predictions, the chosen C and the validation accuracy (%) of every C."""

    pred: np.ndarray
    C: float
    val_accuracy: dict[float, float] = field(default_factory=dict)
    model: Any = None


def _logreg(C: float, max_iter: int, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))


def logistic_probe(
    train_x: np.ndarray,
    train_y: Sequence,
    val_x: np.ndarray | None,
    val_y: Sequence | None,
    test_x: np.ndarray,
    Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    max_iter: int = 2000,
    seed: int = 0,
    impute: bool = False,
) -> LogisticFit:
    """Standardise -> L2 logistic regression; C chosen on (val_x, val_y), fit on train only.

    Without validation rows, C is chosen by 3-fold cross-validation on train. ``impute``
    first fills NaN features with the training medians.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from threadpoolctl import threadpool_limits

    def make(C):
        m = _logreg(C, max_iter, seed)
        return make_pipeline(SimpleImputer(strategy="median"), *[s for _, s in m.steps]) if impute else m

    train_x = np.asarray(train_x, dtype=np.float32)
    train_y = np.asarray(train_y)
    scores: dict[float, float] = {}
    fits: dict[float, Any] = {}
    # one BLAS/OpenMP thread: the problems are small, and multithreaded OpenBLAS spin-waits (up to
    # 50x slower) when other processes share the cores
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for C in Cs:
            if val_x is not None and len(val_x):
                fits[C] = make(C).fit(train_x, train_y)
                scores[C] = 100.0 * float(np.mean(fits[C].predict(np.asarray(val_x, np.float32)) == np.asarray(val_y)))
            else:
                scores[C] = 100.0 * float(cross_val_score(make(C), train_x, train_y, cv=3).mean())
        best = max(Cs, key=lambda c: (scores[c], -c))
        model = fits.get(best) or make(best).fit(train_x, train_y)
    return LogisticFit(model.predict(np.asarray(test_x, np.float32)), float(best), scores, model)


# --------------------------------------------------------------------------- evaluation


def accuracy(y_true, y_pred) -> float:
    """Accuracy in %.

    >>> accuracy(["a", "b", "b", "a"], ["a", "b", "a", "a"])
    75.0
    """
    return 100.0 * float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def per_class_accuracy(y_true, y_pred) -> pd.DataFrame:
    """Per-class test accuracy (recall, %) and support, sorted by support.

    >>> per_class_accuracy(["a", "a", "a", "b"], ["a", "a", "b", "a"]).round(1)  # doctest: +NORMALIZE_WHITESPACE
           n  accuracy
    class
    a      3      66.7
    b      1       0.0
    """
    df = pd.DataFrame({"y": np.asarray(y_true, dtype=object), "ok": np.asarray(y_true) == np.asarray(y_pred)})
    g = df.groupby("y")["ok"].agg(["size", "mean"]).rename(columns={"size": "n", "mean": "accuracy"})
    g["accuracy"] *= 100.0
    return g.sort_values("n", ascending=False).rename_axis("class")


@dataclass
class ProbeResult:
    """Accuracies (%) of both probes on the test rows, with their predictions."""

    knn: float
    logreg: float
    C: float
    y_test: np.ndarray
    knn_pred: np.ndarray
    logreg_pred: np.ndarray

    def per_class(self) -> pd.DataFrame:
        a = per_class_accuracy(self.y_test, self.knn_pred).rename(columns={"accuracy": "kNN %"})
        b = per_class_accuracy(self.y_test, self.logreg_pred)["accuracy"].rename("logreg %")
        return a.join(b)


def evaluate_embeddings(
    emb: np.ndarray,
    ds,
    scheme: str = DEFAULT_SCHEME,
    *,
    k: int = 20,
    temperature: float = 0.07,
    Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    splits: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
) -> ProbeResult:
    """kNN and logistic-regression test accuracy (%) of embeddings ``emb`` (len(ds), D) of ``ds``."""
    if len(emb) != len(ds):
        raise ValueError(f"{len(emb)} embeddings for a dataset of {len(ds)} images")
    sp = dict(splits) if splits is not None else probe_splits(ds, scheme)
    y = ds.labels(scheme).to_numpy(dtype=object)
    x = {s: np.asarray(emb[np.sort(sp[s])], dtype=np.float32) for s in sp}
    ys = {s: y[np.sort(sp[s])].astype(str) for s in sp}
    knn = knn_classify(x["train"], ys["train"], x["test"], k=k, temperature=temperature)
    lr = logistic_probe(x["train"], ys["train"], x["val"], ys["val"], x["test"], Cs=Cs, seed=seed)
    return ProbeResult(accuracy(ys["test"], knn), accuracy(ys["test"], lr.pred), lr.C,
                       ys["test"], knn, lr.pred)


def geometric_features_for(ds, rows: np.ndarray) -> pd.DataFrame:
    """The 13 baseline features (``features.BASELINE_13``, um units when ``pixel_um`` is known)."""
    from icepaper.data.features import BASELINE_13, geometric_features

    rows = np.asarray(rows)
    px = ds.meta["pixel_um"].to_numpy(dtype=float)[rows] if "pixel_um" in ds.meta.columns else None
    if px is not None and not np.isfinite(px).all():
        px = None
    return geometric_features(ds.batch(rows), pixel_um=px)[BASELINE_13]


def geometric_baseline(
    ds,
    scheme: str = DEFAULT_SCHEME,
    Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    splits: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
) -> ProbeResult:
    """Logistic regression on the 13 geometric features (train fit, val for C, test accuracy %).

    The kNN fields hold a kNN on the standardised features, for completeness.
    """
    sp = dict(splits) if splits is not None else probe_splits(ds, scheme)
    y = ds.labels(scheme).to_numpy(dtype=object)
    x = {s: geometric_features_for(ds, np.sort(sp[s])).to_numpy(dtype=np.float32) for s in sp}
    ys = {s: y[np.sort(sp[s])].astype(str) for s in sp}
    lr = logistic_probe(x["train"], ys["train"], x["val"], ys["val"], x["test"], Cs=Cs, seed=seed,
                        impute=True)
    prep = lr.model[:-1]  # imputer + scaler fitted on train
    knn = knn_classify(prep.transform(x["train"]), ys["train"], prep.transform(x["test"]))
    return ProbeResult(accuracy(ys["test"], knn), accuracy(ys["test"], lr.pred), lr.C,
                       ys["test"], knn, lr.pred)


def majority_accuracy(ds, scheme: str, splits: Mapping[str, np.ndarray]) -> tuple[str, float]:
    """(most frequent class of the ``train`` rows, accuracy % of predicting it for every ``test``
    row): the floor every probe must clear.

    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> ds = SimpleNamespace(labels=lambda s: pd.Series(["a", "a", "b", "a", "b", "b", "b"]))
    >>> majority_accuracy(ds, "cpi", {"train": [0, 1, 2], "test": [3, 4, 5, 6]})
    ('a', 25.0)
    """
    y = ds.labels(scheme).to_numpy(dtype=object)
    train = pd.Series(y[np.asarray(splits["train"], dtype=np.int64)]).dropna()
    if train.empty:
        raise ValueError(f"no labelled train rows in scheme {scheme!r}")
    counts = train.value_counts()
    top = str(sorted(counts.index[counts == counts.max()])[0])  # ties: the first name
    test = y[np.asarray(splits["test"], dtype=np.int64)]
    return top, float(100.0 * np.mean(test == top)) if len(test) else float("nan")


def probe_table(
    results: Mapping[str, ProbeResult | None],
    paper: Mapping[str, tuple[float | None, float | None]],
    why: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Table with our kNN / logistic-regression accuracy (%) beside the paper's (``paper``: row ->
    (kNN %, logreg %), e.g. ``papers.ko2025.PAPER_TABLE``), one row per model.

    A ``None`` result is a row that could not run here; its note is ``why[row]`` (default: the
    ImageNet weights are not available offline).

    >>> from types import SimpleNamespace
    >>> paper = {"random-init ViT": (None, None), "iBOT ImageNet": (78.33, 82.00)}
    >>> t = probe_table({"random-init ViT": SimpleNamespace(knn=30.123, logreg=41.0), "iBOT ImageNet": None}, paper)
    >>> t[["kNN % (ours)", "logreg % (paper)"]]  # doctest: +NORMALIZE_WHITESPACE
                     kNN % (ours)  logreg % (paper)
    model
    random-init ViT         30.12               NaN
    iBOT ImageNet             NaN              82.0
    >>> t.loc["iBOT ImageNet", "note"]
    'not available offline (no ImageNet weights file)'
    """
    rows = []
    for name, r in results.items():
        pk, pl = paper.get(name, (None, None))
        rows.append({"model": name,
                     "kNN % (ours)": np.nan if r is None else round(r.knn, 2),
                     "kNN % (paper)": np.nan if pk is None else pk,
                     "logreg % (ours)": np.nan if r is None else round(r.logreg, 2),
                     "logreg % (paper)": np.nan if pl is None else pl,
                     "note": "" if r is not None else (why or {}).get(
                         name, "not available offline (no ImageNet weights file)")})
    return pd.DataFrame(rows).set_index("model")


# --------------------------------------------------------------------------- Ko et al. 2025 pipeline


def probe_rows(ds, scheme: str = DEFAULT_SCHEME, caps: Mapping[str, int | None] | None = None,
               seed: int = 0) -> dict[str, np.ndarray]:
    """``probe_splits`` (CPI images when the data mix instruments) with each split's rows capped at
    ``caps[split]`` (a uniform random subset, sorted; None or a missing key keeps the split whole).
    The subsets stay disjoint."""
    sp = probe_splits(ds, scheme)
    rng = np.random.default_rng(seed)
    for split in ("train", "val", "test"):
        cap = (caps or {}).get(split)
        if cap is not None and len(sp[split]) > int(cap):
            sp[split] = np.sort(rng.choice(sp[split], int(cap), replace=False))
    return sp


def evaluate_backbones(cfg, ds, files: Mapping[str, Any], scheme: str = DEFAULT_SCHEME
                       ) -> tuple[dict[str, ProbeResult | None], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Probe every backbone file of ``files`` (None -> None) on the profile's probe rows.

    Returns (results by row name, test embeddings by row name, the probe rows by split).
    """
    from icepaper.core.progress import tqdm

    from .embed import embeddings_for

    p = cfg.profile.probes
    sp = probe_rows(ds, scheme, {s: p[f"max_{s}"] for s in ("train", "val", "test")}, seed=int(cfg.seed))
    rows = np.sort(np.concatenate([sp["train"], sp["val"], sp["test"]]))
    results: dict[str, ProbeResult | None] = {}
    test_emb: dict[str, np.ndarray] = {}
    for name, f in tqdm(list(files.items()), desc="probing backbones"):
        if f is None:
            results[name] = None
            continue
        e = embeddings_for(cfg, ds, f, rows=rows)
        full = np.zeros((len(ds), e.shape[1]), np.float32)
        full[rows] = e
        results[name] = evaluate_embeddings(full, ds, scheme, k=int(p["knn_k"]),
                                            temperature=float(p["knn_temperature"]),
                                            Cs=list(p["logreg_C"]), splits=sp, seed=int(cfg.seed))
        test_emb[name] = full[sp["test"]]
    return results, test_emb, sp


# --------------------------------------------------------------------------- Ko et al. 2025 tables and figures


def pca_map(emb: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """((N, 2) first two principal components of the L2-normalised embeddings, the % of
    variance each explains): the map of ``plot_pca`` and of the notebook's explorer."""
    from sklearn.decomposition import PCA

    x = np.asarray(emb, np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    pca = PCA(n_components=2, random_state=seed).fit(x)
    return pca.transform(x), pca.explained_variance_ratio_ * 100


def plot_pca(emb: np.ndarray, labels, ax=None, max_classes: int = 10, seed: int = 0):
    """``pca_map`` of the embeddings coloured by class (the ``max_classes`` most frequent; the rest grey)."""
    import matplotlib.pyplot as plt

    z, ev = pca_map(emb, seed=seed)
    labels = pd.Series(np.asarray(labels, dtype=object))
    top = list(labels.value_counts().index[:max_classes])
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.2))
    other = ~labels.isin(top).to_numpy()
    if other.any():
        ax.scatter(z[other, 0], z[other, 1], s=3, c="0.8", label="other", rasterized=True)
    cmap = plt.get_cmap("tab10")
    for i, cls in enumerate(top):
        m = (labels == cls).to_numpy()
        ax.scatter(z[m, 0], z[m, 1], s=3, color=cmap(i % 10), label=cls, rasterized=True)
    ax.set_xlabel(f"PC 1 ({ev[0]:.0f} % of variance)")
    ax.set_ylabel(f"PC 2 ({ev[1]:.0f} % of variance)")
    ax.legend(frameon=False, fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5))
    return ax.figure


def plot_per_class(results: Mapping[str, ProbeResult | None], probe: str = "logreg", ax=None):
    """Per-class test accuracy (%) of each row's probe, classes by test support."""
    import matplotlib.pyplot as plt

    col = "logreg %" if probe == "logreg" else "kNN %"
    table = pd.DataFrame({name: r.per_class()[col] for name, r in results.items() if r is not None})
    support = next(r for r in results.values() if r is not None).per_class()["n"]
    table = table.loc[support.index]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(table) + 2), 3.2))
    table.plot.bar(ax=ax, width=0.85)
    ax.set_xticklabels([f"{c} ({support[c]})" for c in table.index], rotation=60, ha="right")
    ax.set_ylabel(f"test accuracy, {'logistic regression' if probe == 'logreg' else 'kNN'} (%)")
    ax.set_xlabel("class (test images)")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return ax.figure
