"""Splits: deterministic, stratified, rare classes and NA handled, campaigns held out, disjoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icepaper.data.splits import assign_splits, split_summary


def _meta(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    cpi = rng.choice(["compact", "aggregate", "column", "rosette", None], n, p=[0.6, 0.2, 0.12, 0.05, 0.03])
    meta = pd.DataFrame({"image_id": [f"im{i:05d}" for i in range(n)], "cpi": cpi,
                         "campaign": rng.choice(["N19", "N20", "CL", "CI1"], n)})
    meta.loc[:0, "cpi"] = "single"  # one member
    meta.loc[1:2, "cpi"] = "pair"  # two members
    meta.loc[3:5, "cpi"] = "triple"
    return meta


def test_every_row_exactly_one_split_and_disjoint():
    meta = _meta()
    s = assign_splits(meta)
    assert s.index.equals(meta.index) and s.notna().all()
    assert set(s) == {"train", "val", "test"}
    ids = {k: set(meta.image_id[s == k]) for k in ("train", "val", "test")}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert sum(len(v) for v in ids.values()) == len(meta)


def test_deterministic_and_independent_of_row_order():
    meta = _meta()
    a = assign_splits(meta, seed=3)
    b = assign_splits(meta.sample(frac=1.0, random_state=7), seed=3).reindex(meta.index)
    assert (a == b).all()
    assert not (assign_splits(meta, seed=4) == a).all()


def test_stratified_fractions_per_class():
    meta = _meta()
    s = assign_splits(meta, fractions=(0.6, 0.2, 0.2))
    tab = split_summary(meta.assign(split=s), by="cpi")
    for cls in ("compact", "aggregate", "column", "rosette", "<NA>"):
        row = tab.loc[cls]
        frac = row / row.sum()
        assert abs(frac["train"] - 0.6) < 0.02 and abs(frac["test"] - 0.2) < 0.03, cls


def test_rare_classes_are_placed_sensibly():
    meta = _meta()
    s = assign_splits(meta)
    assert list(s[meta.cpi == "single"]) == ["train"]
    assert sorted(s[meta.cpi == "pair"]) == ["test", "train"]
    assert sorted(s[meta.cpi == "triple"]) == ["test", "train", "val"]


def test_na_labels_are_their_own_stratum():
    meta = pd.DataFrame({"image_id": [f"i{i}" for i in range(100)], "cpi": [None] * 50 + ["a"] * 50})
    s = assign_splits(meta)
    for mask in (meta.cpi.isna(), meta.cpi == "a"):
        counts = s[mask].value_counts()
        assert counts["train"] == 35 and {counts["val"], counts["test"]} == {7, 8}


def test_unstratified_and_missing_columns():
    meta = _meta(300).drop(columns="cpi")
    s = assign_splits(meta, stratify=None)
    assert abs((s == "train").mean() - 0.7) < 0.01
    with pytest.raises(KeyError, match="stratify"):
        assign_splits(meta)
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(meta, stratify=None, fractions=(0.5, 0.2, 0.2))


def test_holdout_whole_campaigns():
    meta = _meta()
    s = assign_splits(meta, group="campaign", holdout_groups=["CL"])
    assert (s[meta.campaign == "CL"] == "test").all()
    rest = s[meta.campaign != "CL"]
    assert set(rest) == {"train", "val"}
    assert abs((rest == "train").mean() - 0.7 / 0.85) < 0.02
    with pytest.raises(ValueError, match="not found"):
        assign_splits(meta, group="campaign", holdout_groups=["nope"])
    with pytest.raises(ValueError, match="group="):
        assign_splits(meta, holdout_groups=["CL"])


def test_groups_kept_whole():
    meta = _meta()
    meta["sheet"] = [f"s{i // 37}" for i in range(len(meta))]
    s = assign_splits(meta, group="sheet")
    assert (s.groupby(meta["sheet"]).nunique() == 1).all()
    assert abs((s == "train").mean() - 0.7) < 0.05 and (s == "test").any() and (s == "val").any()


def test_empty_meta():
    assert len(assign_splits(pd.DataFrame({"image_id": [], "cpi": []}))) == 0
