"""The packed format round-trips and never leaves a half-written dataset."""

import numpy as np
import pandas as pd
import pytest

from icepaper.data import packed
from icepaper.data.packed import PackedDataset, PackedWriter, is_packed


def _meta(n, start=0):
    return pd.DataFrame({"image_id": [f"i{i}" for i in range(start, start + n)],
                         "split": "train", "source_file": "x"})


def test_roundtrip_across_shards(tmp_path, monkeypatch):
    monkeypatch.setattr(packed, "SHARD_SIZE", 7)
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (30, 16, 16), dtype=np.uint8)
    with PackedWriter(tmp_path / "d", 16) as w:
        w.add(imgs[:12], _meta(12))
        w.add(imgs[12:], _meta(18, 12))
    ds = PackedDataset(tmp_path / "d")
    assert len(ds) == 30 and len(ds.manifest["shards"]) == 5
    np.testing.assert_array_equal(ds.batch(np.arange(30)[::-1]), imgs[::-1])
    np.testing.assert_array_equal(ds[13], imgs[13])
    np.testing.assert_array_equal(ds[-1], imgs[-1])
    assert len(ds.fingerprint) == 16


def test_failure_leaves_nothing(tmp_path):
    root = tmp_path / "d"
    with pytest.raises(RuntimeError), PackedWriter(root, 8) as w:
        w.add(np.zeros((3, 8, 8), np.uint8), _meta(3))
        raise RuntimeError("boom")
    assert not root.exists() and list(tmp_path.iterdir()) == []


def test_existing_dataset_survives_failed_rewrite(tmp_path):
    root = tmp_path / "d"
    with PackedWriter(root, 8) as w:
        w.add(np.ones((2, 8, 8), np.uint8), _meta(2))
    with pytest.raises(ValueError, match="duplicate image_id"), PackedWriter(root, 8) as w:
        w.add(np.zeros((2, 8, 8), np.uint8), pd.concat([_meta(1), _meta(1)]))
    assert is_packed(root) and PackedDataset(root)[0].max() == 1


def test_bad_shapes_are_named(tmp_path):
    with pytest.raises(ValueError, match="uint8 images of shape"), PackedWriter(tmp_path / "d", 8) as w:
        w.add(np.zeros((2, 9, 9), np.uint8), _meta(2))
