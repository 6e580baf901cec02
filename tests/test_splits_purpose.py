"""Splits with one purpose each, and an unseen campaign that is unseen (issue 13).

On a small dataset with three campaigns and train/val/test (and unassigned) rows:

* no ``test`` image and no image of the held-out (unseen) campaign reaches a pretraining
  batch, neither of notebook 03's default runs nor of the encoders notebook 06 fine-tunes;
* the quick kNN check fits on ``train`` and scores on ``val`` only;
* curation clusters and samples the pretraining set only (no test image, no unseen campaign);
* notebook 06's fine-tuning pools hold no image of the unseen campaign;
* the pretraining cache key hashes the rows actually trained on (the old "all rows" runs are
  not reused).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from icepaper.data import splits
from test_ssl import TINY, StandInRecipe

N = 120
CAMPAIGNS = ["NASCENT19-like"] * 60 + ["CLOUDLAB-like"] * 30 + ["ARCTIC-like"] * 30
HABITS = ["column", "plate", "bullet"]


def _meta() -> pd.DataFrame:
    split = np.array(["train"] * N, dtype=object)
    split[np.arange(N) % 5 == 0] = "test"
    split[np.arange(N) % 5 == 1] = "val"
    split[np.arange(N) % 10 == 7] = "unassigned"  # rows without a split count as train
    cpi = [HABITS[i % 3] for i in range(N)]
    cpi = [None if i % 10 == 7 else c for i, c in enumerate(cpi)]  # unlabelled rows
    return pd.DataFrame({"image_id": [f"p{i:04d}" for i in range(N)], "split": split, "source_file": "",
                         "campaign": CAMPAIGNS, "cpi": cpi, "habit4": cpi})


def _images(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:24, :24] - 12
    out = []
    for i in range(N):
        r = rng.uniform(3, 8)
        m = [xx**2 + yy**2 < r**2, (np.abs(xx) < r) & (np.abs(yy) < 1.5),
             (np.abs(yy) < r) & (np.abs(xx) < 1.5)][i % 3]
        out.append(np.clip(np.where(m, 40, 230) + rng.normal(0, 5, m.shape), 0, 255))
    return np.stack(out).astype(np.uint8)


@pytest.fixture
def camp_ds(packed_factory):
    return packed_factory(_images(), _meta(), name="campaigns")


def _forbidden(ds) -> tuple[set[int], set[int]]:
    """(rows of the test split, rows of the held-out campaign)."""
    m = ds.meta
    return (set(np.flatnonzero(m["split"].to_numpy() == "test").tolist()),
            set(np.flatnonzero(m["campaign"].to_numpy() == "CLOUDLAB-like").tolist()))


@pytest.fixture
def tiny_cfg(tmp_path, monkeypatch):
    """The smoke profile's config with TINY networks, a tmp ICEPAPER_HOME and a stand-in recipe."""
    from icepaper.core.config import setup
    from icepaper.ssl import pretrain

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(pretrain, "build_recipe", lambda cfg, method: StandInRecipe(
        n_local=2 if method.startswith("ibot") else 0))
    cfg = setup("03_pretraining", profile="smoke", out=str(tmp_path / "out"))
    monkeypatch.setattr(pretrain, "_pretrain_section",
                        lambda cfg: dict(TINY, moco_steps=4, resnet_steps=4, short_steps=2))
    return cfg


@pytest.fixture
def served_rows(monkeypatch):
    """Every dataset row a pretraining batch is built from (recorded in MultiCropDataset)."""
    from icepaper.ssl import data as ssl_data

    seen: list[int] = []
    orig = ssl_data.MultiCropDataset.__getitem__

    def spy(self, key):
        seen.append(self.row(*key))
        return orig(self, key)

    monkeypatch.setattr(ssl_data.MultiCropDataset, "__getitem__", spy)
    return seen


def test_default_pretraining_set(camp_ds):
    test, held = _forbidden(camp_ds)
    assert splits.heldout_campaigns(camp_ds) == ["CLOUDLAB-like"]
    rows = splits.pretrain_indices(camp_ds)
    # every other image (train, val, unassigned, labelled or not) is in it
    assert set(rows.tolist()) == set(range(N)) - test - held
    assert {7, 17} <= set(rows.tolist())  # unassigned, unlabelled rows of the training campaign


def test_no_campaign_column_means_only_test_is_left_out(packed_factory):
    meta = _meta().drop(columns="campaign")
    ds = packed_factory(_images(), meta, name="nocamp")
    assert splits.heldout_campaigns(ds) == []
    assert set(splits.pretrain_indices(ds).tolist()) == set(np.flatnonzero(meta["split"] != "test").tolist())


@pytest.mark.parametrize("method", ["ibot_vmf", "moco"])
def test_no_test_or_heldout_image_reaches_a_pretraining_batch(camp_ds, tiny_cfg, served_rows, method):
    from icepaper.ssl import pretrain

    n_train = len(splits.pretrain_indices(camp_ds))
    steps = n_train // TINY["batch_size"] + 1  # one whole epoch and a step of the next
    res = pretrain.pretrained(tiny_cfg, camp_ds, method, steps=steps, progress=False)
    test, held = _forbidden(camp_ds)
    seen = set(served_rows)
    assert len(served_rows) == steps * TINY["batch_size"] and len(seen) >= n_train - TINY["batch_size"]
    assert not seen & test, "a test image reached a pretraining batch"
    assert not seen & held, "an image of the unseen campaign reached a pretraining batch"
    # the cache key names the rows trained on, not "all rows": earlier all-image runs are not reused
    assert res.config["indices"] == pretrain._indices_hash(splits.pretrain_indices(camp_ds))
    assert res.config["indices"] != pretrain._indices_hash(np.arange(N))


def test_notebook06_encoders_pretrain_without_the_unseen_campaign(camp_ds, tiny_cfg, served_rows):
    from icepaper import cssl

    cssl.study_encoders(tiny_cfg, camp_ds, models=("moco",))
    test, held = _forbidden(camp_ds)
    assert served_rows and not set(served_rows) & held and not set(served_rows) & test


def test_notebook06_finetuning_pools_exclude_the_unseen_campaign(camp_ds):
    from icepaper.cssl.tasks import plan_tasks

    _, held = _forbidden(camp_ds)
    tasks = plan_tasks(camp_ds)
    assert tasks and all(t.gen_campaign == "CLOUDLAB-like" for t in tasks)
    for t in tasks:
        assert t.train_campaign == "NASCENT19-like"
        assert not set(t.pool.tolist()) & held, t.scheme
        assert set(t.gen.tolist()) <= held and len(t.gen)
        assert t.gen_campaign in splits.heldout_campaigns(camp_ds)


def test_knn_check_fits_on_train_and_scores_on_val(camp_ds, tiny_cfg, monkeypatch):
    import torch

    from icepaper.ssl import embedding, pretrain

    calls: list[np.ndarray] = []

    def fake_embed(model, ds, rows, **kw):
        calls.append(np.asarray(rows))
        return np.random.default_rng(len(calls)).normal(size=(len(rows), 8)).astype(np.float32)

    monkeypatch.setattr(embedding, "embed_array", fake_embed)
    hits = pretrain.knn_hits(tiny_cfg, camp_ds, torch.nn.Identity(), 1000, size=16)
    assert len(calls) == 2 and len(hits) == len(calls[1])
    split = camp_ds.meta["split"].to_numpy()
    test, held = _forbidden(camp_ds)
    fit, scored = calls
    assert (split[fit] == "train").all() and (split[scored] == "val").all()
    used = set(fit.tolist()) | set(scored.tolist())
    assert not used & test, "the kNN check embedded a test image"
    assert not used & held, "the kNN check embedded an image of the unseen campaign"


def test_curation_pool_is_the_pretraining_set(camp_ds, tmp_path, monkeypatch):
    from icepaper.core.profiles import get_profile
    from icepaper.representations.curation import curate

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    cfg = SimpleNamespace(profile=get_profile("smoke"), seed=0)
    emb = np.random.default_rng(0).normal(size=(N, 8)).astype(np.float32)
    cur = curate(cfg, camp_ds, emb, embed_key="test")
    test, held = _forbidden(camp_ds)
    assert np.array_equal(cur.pool, splits.pretrain_indices(camp_ds))
    assert set(cur.indices.tolist()) <= set(cur.pool.tolist())
    assert not set(cur.pool.tolist()) & (test | held)


def test_ko2025_latent_curation_never_sees_test_images(camp_ds, tiny_cfg, served_rows):
    from icepaper.papers import ko2025
    from icepaper.ssl.pretrain import _indices_hash

    full, emb, cur = ko2025.latent_curation(tiny_cfg, camp_ds)
    test, held = _forbidden(camp_ds)
    assert served_rows and not set(served_rows) & (test | held)
    assert emb.shape[0] == N  # every image is embedded (for maps), but only the pool is curated
    assert not set(cur.pool.tolist()) & (test | held)
    assert full.config["indices"] == _indices_hash(cur.pool)
