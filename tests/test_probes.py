"""Probes: weighted kNN against a brute-force reference, split hygiene, the geometric baseline."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from icepaper.papers.ko2025 import PAPER_TABLE
from icepaper.representations.probes import (
    ProbeResult,
    evaluate_embeddings,
    geometric_baseline,
    knn_classify,
    logistic_probe,
    per_class_accuracy,
    pick_scheme,
    probe_population,
    probe_rows,
    probe_splits,
    probe_table,
    skip_reason,
)


def _knn_reference(train, ytr, test, k, T):
    """Plain-loop DINO weighted kNN."""
    tr = train / np.linalg.norm(train, axis=1, keepdims=True)
    te = test / np.linalg.norm(test, axis=1, keepdims=True)
    out = []
    for q in te:
        sim = tr @ q
        nn = np.argsort(-sim)[:k]
        votes: dict = {}
        for j in nn:
            votes[ytr[j]] = votes.get(ytr[j], 0.0) + np.exp(sim[j] / T)
        out.append(max(votes, key=votes.get))
    return np.array(out)


@pytest.mark.parametrize("k,T", [(20, 0.07), (5, 0.5), (1, 0.07)])
def test_knn_matches_brute_force(k, T):
    rng = np.random.default_rng(0)
    means = rng.normal(size=(4, 24))
    ytr = rng.integers(0, 4, 400)
    train = means[ytr] + rng.normal(size=(400, 24)) * 1.5
    yte = rng.integers(0, 4, 150)
    test = means[yte] + rng.normal(size=(150, 24)) * 1.5
    labels = np.array(["a", "b", "c", "d"])
    pred = knn_classify(train.astype(np.float32), labels[ytr], test.astype(np.float32), k=k,
                        temperature=T, chunk=37)
    ref = _knn_reference(train, labels[ytr], test, k, T)
    np.testing.assert_array_equal(pred, ref)
    assert np.mean(pred == labels[yte]) > 0.5


def test_knn_k_larger_than_bank():
    pred = knn_classify(np.eye(3, dtype=np.float32), ["x", "y", "z"], np.eye(3, dtype=np.float32) + 0.01, k=20)
    assert list(pred) == ["x", "y", "z"]


def test_logistic_picks_C_on_validation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(str)  # not separable: lbfgs converges fast
    fit = logistic_probe(x[:200], y[:200], x[200:250], y[200:250], x[250:], Cs=[0.001, 1.0])
    assert fit.C in (0.001, 1.0) and set(fit.val_accuracy) == {0.001, 1.0}
    assert fit.val_accuracy[fit.C] == max(fit.val_accuracy.values())
    assert np.mean(fit.pred == y[250:]) > 0.8


def _labelled_dataset(packed_factory, name="lab", n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(["column", "plate", "sphere"], size=n)
    split = np.array(["train"] * (n // 2) + ["val"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    meta = pd.DataFrame({"image_id": [f"im{i:04d}" for i in range(n)], "split": split,
                         "source_file": "", "cpi": y})
    meta.loc[::17, "cpi"] = None  # some particles outside the scheme
    return packed_factory(np.full((n, 8, 8), 255, np.uint8), meta, name=name), y


def test_no_test_image_used_to_fit(packed_factory):
    ds, y = _labelled_dataset(packed_factory)
    sp = probe_splits(ds)
    allrows = np.concatenate(list(sp.values()))
    assert len(allrows) == len(np.unique(allrows))  # disjoint
    assert ds.labels("cpi")[allrows].notna().all()
    rng = np.random.default_rng(1)
    centers = {"column": 0, "plate": 1, "sphere": 2}
    emb = np.eye(3)[[centers[c] for c in y]] * 2 + rng.normal(size=(len(y), 3)) * 0.7
    emb = np.hstack([emb, rng.normal(size=(len(y), 5))]).astype(np.float32)
    r1 = evaluate_embeddings(emb, ds, Cs=[0.1, 1.0])

    # scramble the test labels: the fitted probes (hence predictions) must not change
    meta2 = ds.meta.copy()
    test = meta2.index[(meta2["split"] == "test") & meta2["cpi"].notna()]
    meta2.loc[test, "cpi"] = meta2.loc[test, "cpi"].sample(frac=1, random_state=3).to_numpy()
    meta2.loc[test[:5], "cpi"] = "sphere"
    ds2 = packed_factory(np.full((len(y), 8, 8), 255, np.uint8), meta2, name="lab2")
    r2 = evaluate_embeddings(emb, ds2, Cs=[0.1, 1.0])
    np.testing.assert_array_equal(r1.knn_pred, r2.knn_pred)
    np.testing.assert_array_equal(r1.logreg_pred, r2.logreg_pred)
    assert r1.C == r2.C
    assert r1.knn > 60 and r1.logreg > 60


def test_test_embeddings_do_not_leak_into_fit(packed_factory):
    ds, y = _labelled_dataset(packed_factory)
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(len(y), 6)).astype(np.float32)
    sp = probe_splits(ds)
    r1 = evaluate_embeddings(emb, ds, Cs=[1.0])
    emb2 = emb.copy()
    last = np.sort(sp["test"])[-1]
    emb2[last] = 100.0  # change one test embedding: only its own prediction may change
    r2 = evaluate_embeddings(emb2, ds, Cs=[1.0])
    np.testing.assert_array_equal(r1.knn_pred[:-1], r2.knn_pred[:-1])
    np.testing.assert_array_equal(r1.logreg_pred[:-1], r2.logreg_pred[:-1])


def test_geometric_baseline_separates_discs_from_bars(packed_factory):
    rng = np.random.default_rng(0)
    n, s = 120, 48
    imgs, y = [], []
    for i in range(n):
        im = np.full((s, s), 230, np.uint8)
        c = (int(rng.integers(18, 30)), int(rng.integers(18, 30)))
        if i % 2:
            cv2.circle(im, c, int(rng.integers(6, 14)), 40, -1)
            y.append("sphere")
        else:
            w, h = int(rng.integers(3, 6)), int(rng.integers(14, 20))
            cv2.rectangle(im, (c[0] - w, c[1] - h), (c[0] + w, c[1] + h), 40, -1)
            y.append("column")
        imgs.append(im)
    split = rng.permutation(np.array(["train", "train", "val", "test"] * (n // 4)))
    meta = pd.DataFrame({"image_id": [f"g{i}" for i in range(n)], "split": split, "source_file": "",
                         "cpi": y, "pixel_um": 2.3})
    ds = packed_factory(np.stack(imgs), meta, name="geo")
    r = geometric_baseline(ds, Cs=[0.1, 1.0])
    assert r.logreg > 90
    assert set(per_class_accuracy(r.y_test, r.logreg_pred).index) == {"sphere", "column"}


def _discs_and_bars(n, seed=0):
    rng = np.random.default_rng(seed)
    imgs, y = [], []
    for i in range(n):
        im = np.full((48, 48), 230, np.uint8)
        c = (int(rng.integers(18, 30)), int(rng.integers(18, 30)))
        if i % 2:
            cv2.circle(im, c, int(rng.integers(6, 14)), 40, -1)
            y.append("sphere")
        else:
            w, h = int(rng.integers(3, 6)), int(rng.integers(14, 20))
            cv2.rectangle(im, (c[0] - w, c[1] - h), (c[0] + w, c[1] + h), 40, -1)
            y.append("column")
        imgs.append(im)
    return np.stack(imgs), np.array(y, dtype=object)


def test_probe_uses_cpi_images_only_when_instruments_are_mixed(packed_factory):
    """A CPI study: HOLIMO rows never reach a probe split. Here the HOLIMO images carry the
    opposite labels, so the geometric baseline only separates the classes when they are left out."""
    n = 160
    imgs, y = _discs_and_bars(n)
    inst = np.where(np.arange(n) % 4 == 3, "HOLIMO", "CPI")
    y = np.where(inst == "HOLIMO", np.where(y == "sphere", "column", "sphere"), y)
    split = np.random.default_rng(1).permutation(np.array(["train", "train", "val", "test"] * (n // 4)))
    meta = pd.DataFrame({"image_id": [f"m{i}" for i in range(n)], "split": split, "source_file": "",
                         "cpi": y, "pixel_um": 2.3, "instrument": inst})
    ds = packed_factory(imgs, meta, name="mixed")
    keep, what = probe_population(ds)
    assert keep.tolist() == (inst == "CPI").tolist() and what.startswith("CPI images only (120 of 160")
    sp = probe_splits(ds)
    for rows in sp.values():
        assert len(rows) and (inst[rows] == "CPI").all()
    assert sum(len(r) for r in sp.values()) == 120
    capped = probe_rows(ds, caps={"test": 10}, seed=0)
    assert (inst[capped["test"]] == "CPI").all()
    r = geometric_baseline(ds, Cs=[0.1, 1.0])
    assert len(r.y_test) == len(sp["test"]) and r.logreg > 90
    # without the instrument column (user data) or with one instrument, every labelled row is probed
    no_col = packed_factory(imgs, meta.drop(columns="instrument"), name="nocol")
    assert sum(len(r) for r in probe_splits(no_col).values()) == n
    assert probe_population(no_col)[1] == "all images (no instrument column in the metadata)"
    holimo = packed_factory(imgs, meta.assign(instrument="HOLIMO"), name="holimo")
    assert sum(len(r) for r in probe_splits(holimo).values()) == n
    assert "no CPI images" in probe_population(holimo)[1]


def test_skip_reasons_unlabelled_one_class_and_no_test_images(packed_factory):
    ds = packed_factory(np.full((10, 8, 8), 255, np.uint8), name="unl")
    assert skip_reason(ds, "cpi").startswith("no labels")
    assert pick_scheme(ds, "cpi") == "cpi"  # nothing labelled: unchanged, and skipped
    meta = pd.DataFrame({"image_id": [f"o{i}" for i in range(8)], "split": ["train", "test"] * 4,
                         "source_file": "", "cpi": "column"})
    one = packed_factory(np.full((8, 8, 8), 255, np.uint8), meta, name="one")
    assert "one class only" in skip_reason(one, "cpi")
    meta2 = meta.assign(split="train", cpi=["column", "plate"] * 4)
    no_test = packed_factory(np.full((8, 8, 8), 255, np.uint8), meta2, name="notest")
    assert "no labelled test images" in skip_reason(no_test, "cpi")
    meta3 = meta.assign(cpi=["column", "plate"] * 4)  # train rows all 'column', test rows all 'plate'
    split_one = packed_factory(np.full((8, 8, 8), 255, np.uint8), meta3, name="trainone")
    assert "train images hold one class" in skip_reason(split_one, "cpi")
    ds2, _ = _labelled_dataset(packed_factory, name="lab3")
    assert skip_reason(ds2, "cpi") is None


def test_pick_scheme_falls_back_to_a_labelled_scheme(packed_factory):
    meta = pd.DataFrame({"image_id": [f"h{i}" for i in range(4)], "split": "train", "source_file": "",
                         "habit4": ["a", "b", "a", "b"]})
    ds = packed_factory(np.full((4, 8, 8), 255, np.uint8), meta, name="h4")
    assert pick_scheme(ds, "cpi") == "habit4"
    assert pick_scheme(ds, "habit4") == "habit4"
    assert skip_reason(ds, "cpi") == "no 'cpi' labels (the dataset has 'habit4' labels)"


def test_probe_table_marks_missing_rows():
    t = probe_table({"iBOT ImageNet": None}, PAPER_TABLE)
    assert np.isnan(t.loc["iBOT ImageNet", "kNN % (ours)"])
    assert t.loc["iBOT ImageNet", "logreg % (paper)"] == 82.0
    assert "not available" in t.loc["iBOT ImageNet", "note"]


def test_probe_rows_caps_each_split(packed_factory):
    ds, _ = _labelled_dataset(packed_factory)
    full = probe_splits(ds)
    sp = probe_rows(ds, caps={"train": 50, "val": None, "test": 20}, seed=0)
    assert (len(sp["train"]), len(sp["test"])) == (50, 20)
    np.testing.assert_array_equal(sp["val"], full["val"])
    for split in sp:
        assert np.isin(sp[split], full[split]).all() and np.all(np.diff(sp[split]) > 0)
    np.testing.assert_array_equal(sp["train"], probe_rows(ds, caps={"train": 50}, seed=0)["train"])
    big = probe_rows(ds, caps={"train": 10_000}, seed=0)
    np.testing.assert_array_equal(big["train"], full["train"])


def test_missing_rows_are_explained_and_their_orderings_unresolved():
    from icepaper.papers.ko2025 import CURATED, FULL, GEO, SHORT, orderings

    y = np.array(["a", "b", "c", "d"] * 100)

    def r(n_wrong):  # the first n_wrong of 400 test images wrong, both probes
        p = y.copy()
        p[:n_wrong] = "x"
        acc = 100 * (1 - n_wrong / len(y))
        return ProbeResult(acc, acc, 1.0, y, p, p)

    results = {FULL: r(120), CURATED: None, SHORT: None, GEO: r(200)}
    why = {CURATED: "10 curated images, fewer than one training batch of 16"}
    t = probe_table(results, PAPER_TABLE, why=why)
    assert t.loc[CURATED, "note"] == why[CURATED]
    assert t.loc[SHORT, "note"].startswith("not available")
    checks = orderings(results, n_boot=300)
    v = checks["verdict"]
    assert v["SSL above the geometric baseline (logistic regression)"] == "holds"
    assert v["curated >= full (kNN)"] == "not resolved"
    assert "did not run" in checks.loc["curated >= full (kNN)", "note"]
    assert v["curated + init + short best of the three (logistic regression)"] == "not resolved"


def test_ordering_verdicts_in_both_directions_and_without_predictions():
    """curated >= full: holds, fails and not resolved from a paired bootstrap over the test images."""
    from icepaper.papers.ko2025 import CURATED, FULL, GEO, SHORT, orderings

    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 1000)

    def r(wrong):
        p = y.copy()
        p[wrong] = "x"
        acc = 100 * (1 - len(wrong) / len(y))
        return ProbeResult(acc, acc, 1.0, y, p, p)

    base = rng.choice(2000, 400, replace=False)           # full: 80 %
    better = base[:200]                                    # curated: 90 %, right wherever full is
    worse = np.r_[base, np.setdiff1d(np.arange(2000), base)[:200]]  # curated: 70 %
    close = np.r_[base[:-5], np.setdiff1d(np.arange(2000), base)[:5]]  # same accuracy, 10 images swapped
    geo = rng.choice(2000, 1000, replace=False)
    claim = "curated >= full (logistic regression)"
    for cur, state in ((better, "holds"), (worse, "fails"), (close, "holds")):
        res = {FULL: r(base), CURATED: r(cur), SHORT: r(cur), GEO: r(geo)}
        assert orderings(res, n_boot=300)["verdict"][claim] == state, state
    # independent errors at +0.25 points on 2000 images: the interval is about +-2 points
    a, b = rng.choice(2000, 395, replace=False), rng.choice(2000, 400, replace=False)
    t = orderings({FULL: r(b), CURATED: r(a), SHORT: r(a), GEO: r(geo)}, n_boot=300)
    assert t.loc[claim, "difference (points)"] == 0.25 and t["verdict"][claim] == "not resolved"
    # a row without per-image predictions cannot be decided
    bare = {FULL: r(base), CURATED: ProbeResult(90.0, 90.0, 1.0, np.array([]), np.array([]), np.array([])),
            SHORT: r(base), GEO: r(geo)}
    t = orderings(bare, n_boot=100)
    assert t["verdict"][claim] == "not resolved" and "no per-image predictions" in t.loc[claim, "note"]
