"""kNN anomaly scores, mislabel candidates and detection metrics on planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import vonmises_fisher

from icepaper.diversity import anomaly as A
from icepaper.diversity import planted


def _clusters(n_per=300, n_classes=5, p=32, kappa=60.0, seed=0):
    mu = np.eye(p)
    x = np.concatenate([vonmises_fisher(mu[c], kappa).rvs(n_per, random_state=seed + c) for c in range(n_classes)])
    labels = np.repeat([f"c{c}" for c in range(n_classes)], n_per)
    return x, labels


def test_knn_search_excludes_self_and_respects_reference():
    x, _ = _clusters(n_per=40, n_classes=2)
    x = np.concatenate([x, x[:1]])  # an exact duplicate of row 0
    sims, nbr = A.knn_search(x, 5)
    assert nbr.shape == (81, 5)
    assert not np.any(nbr == np.arange(81)[:, None])
    assert nbr[0, 0] == 80 and sims[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.diff(sims, axis=1) <= 1e-6)
    ref = np.arange(0, 81, 3)
    _, nbr = A.knn_search(x, 4, reference=ref)
    assert np.isin(nbr, ref).all() and not np.any(nbr == np.arange(81)[:, None])
    with pytest.raises(ValueError, match="at least 2"):
        A.knn_search(x, 3, reference=[0])


def test_rare_particles_score_as_anomalies():
    x, _ = _clusters()
    rare = vonmises_fisher(np.eye(32)[20], 60.0).rvs(12, random_state=99)
    emb = np.concatenate([x, rare])
    truth = np.r_[np.zeros(len(x), bool), np.ones(12, bool)]
    full = A.detection_metrics(A.knn_anomaly_scores(emb, k=10), truth, ks=(12, 50))
    assert full["auroc"] > 0.9
    # a reference sample dilutes the rare cluster so it cannot be its own neighbourhood
    sub = A.detection_metrics(A.knn_anomaly_scores(emb, k=10, n_reference=400, seed=1), truth, ks=(12, 50))
    assert sub["auroc"] > 0.99 and sub["recall_at_50"] == 1.0 and sub["precision_at_12"] >= 0.9
    assert sub["precision_at_12"] >= full["precision_at_12"]


def test_flipped_labels_are_found():
    x, labels = _clusters()
    noisy, flipped = planted.flip_labels(labels, 0.05, seed=3)
    assert flipped.sum() == round(0.05 * len(labels))
    assert np.all(noisy[flipped].to_numpy() != labels[flipped])
    assert np.all(noisy[~flipped].to_numpy() == labels[~flipped])
    res = A.mislabel_scores(x, noisy, k=15)
    assert A.auroc(res["score"], flipped) > 0.95
    assert (res["suggested"][flipped].to_numpy() == labels[flipped]).mean() > 0.9


def test_mislabel_scores_skip_unlabelled_rows():
    x, labels = _clusters(n_per=50, n_classes=2)
    lab = pd.Series(labels, dtype=object)
    lab.iloc[:5] = None
    res = A.mislabel_scores(x, lab, k=5)
    assert res["score"].iloc[:5].isna().all() and res["score"].iloc[5:].notna().all()
    noisy, flipped = planted.flip_labels(lab, 0.1, seed=0)
    assert noisy.iloc[:5].isna().all() and not flipped[:5].any()
    with pytest.raises(ValueError, match="labels for"):
        A.mislabel_scores(x, labels[:10])


def test_metrics_on_hand_examples():
    s = np.array([0.9, 0.8, 0.1, 0.7, 0.2])
    t = np.array([1, 0, 0, 1, 0], bool)
    assert A.precision_at_k(s, t, 2) == 0.5
    assert A.recall_at_k(s, t, 3) == 1.0
    assert A.auroc(s, t) == pytest.approx(5 / 6)
    assert A.auroc(np.r_[s, np.nan], np.r_[t, True]) == pytest.approx(5 / 6)  # NaN scores ignored
    assert A.auroc(s, np.zeros(5, bool)) != A.auroc(s, np.zeros(5, bool))  # NaN with one class
    m = A.detection_metrics(s, t, ks=(1,))
    assert m["precision_at_1"] == 1.0 and m["r_precision"] == 0.5 and m["n_positive"] == 2


def test_rarest_habit_and_gallery():
    meta = pd.DataFrame({"base_habit": ["column"] * 5 + ["plate"] * 2})
    assert planted.rarest_habit(meta, "base_habit", ["column", "plate", "bullet_rosette"]) == "bullet_rosette"
    assert planted.rarest_habit(meta, "base_habit", ["column", "plate"]) == "plate"
    import matplotlib

    matplotlib.use("Agg")
    imgs = np.random.default_rng(0).integers(0, 255, (10, 16, 16), dtype=np.uint8)
    fig = A.gallery(imgs, np.arange(10.0), n=6, ncols=3, flags=np.arange(10) > 7)
    assert len([a for a in fig.axes if a.images]) == 6


def test_choose_rare_habit_picks_the_rarest_grown_candidate():
    meta = pd.DataFrame({"habit": ["column"] * 6 + ["plate"] * 3 + ["stellar"] * 4 + ["small"] * 2,
                         "campaign": ["A"] * 6 + ["B", "B", "A"] + ["B"] * 4 + ["A"] * 2})
    rows = np.arange(9)  # the analysed rows hold columns and plates only
    habit, camp = planted.choose_rare_habit(meta, rows, candidates=("column", "plate", "stellar", "needle"))
    # stellar: absent from the analysed rows, grown by campaign B; "needle" is never grown, "small" no candidate
    assert (habit, camp) == ("stellar", "B")
    with pytest.raises(ValueError, match="no candidate habit"):
        planted.choose_rare_habit(meta, rows, candidates=("needle",))
