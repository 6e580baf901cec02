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


def _spawn_batches(dataset, num_workers: int, **kw) -> list:
    """All batches of a DataLoader over ``dataset`` (spawned workers when ``num_workers``)."""
    from torch.utils.data import DataLoader

    ctx = "spawn" if num_workers else None
    return list(DataLoader(dataset, num_workers=num_workers, multiprocessing_context=ctx, **kw))


def test_pickle_carries_no_image_data(packed_factory):
    """A spawned loader worker gets the dataset's path, not a copy of its 1.8 MB of images."""
    import pickle

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (200, 96, 96), dtype=np.uint8)
    ds = packed_factory(imgs)
    assert len(ds.meta) == 200 and ds[0].sum() > 0  # maps and metadata are open in this process
    blob = pickle.dumps(ds)
    assert len(blob) < 64_000 < imgs.nbytes
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.batch(np.arange(200)), imgs)
    pd.testing.assert_frame_equal(back.meta, ds.meta)
    one = _spawn_batches(ds, 0, batch_size=64, collate_fn=np.stack)
    two = _spawn_batches(ds, 1, batch_size=64, collate_fn=np.stack)
    assert len(one) == len(two) == 4
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
