"""Reading big data a batch at a time: packed images and memory-mapped rows by positioned reads,
hierarchical k-means over x[rows] without a float32 copy (the same tree as before), rosette
inputs made per batch, and GPU k-means plumbing (faiss monkeypatched: no GPU needed)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from icepaper.core.rowfile import RowReader, file_backing
from icepaper.data import packed
from icepaper.data.packed import PackedDataset, PackedWriter
from icepaper.representations import kmeans as km


def _meta(n):
    return pd.DataFrame({"image_id": [f"i{i}" for i in range(n)], "split": "train", "source_file": ""})


@pytest.fixture
def sharded(tmp_path, monkeypatch):
    monkeypatch.setattr(packed, "SHARD_SIZE", 7)
    imgs = np.random.default_rng(0).integers(0, 256, (40, 12, 12), dtype=np.uint8)
    with PackedWriter(tmp_path / "d", 12) as w:
        w.add(imgs, _meta(40))
    return PackedDataset(tmp_path / "d"), imgs


def test_packed_batch_any_order_across_shards(sharded):
    ds, imgs = sharded
    rng = np.random.default_rng(1)
    for idx in (np.arange(40), rng.permutation(40), rng.integers(0, 40, 60), np.array([6, 7, 8, 8, 5, -1]),
                np.array([], dtype=int)):
        np.testing.assert_array_equal(ds.batch(idx), imgs[idx])
    one = ds[3]
    one[:] = 0  # a fresh array: writing to it leaves the data alone
    np.testing.assert_array_equal(ds[3], imgs[3])
    with pytest.raises(IndexError):
        ds.batch([40])


def test_truncated_shard_is_named_on_open(sharded):
    ds, _ = sharded
    shard = ds.root / ds.manifest["shards"][1]["file"]
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(ValueError, match=shard.name):
        PackedDataset(ds.root)


def test_row_reader_matches_indexing(tmp_path):
    x = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float16)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert file_backing(mm) is not None and file_backing(mm[2:]) is None and file_backing(x) is None
    rows = np.array([9, 3, 4, 5, 5, 40, 0])
    for src in (mm, x, mm[:]):
        r = RowReader(src, rows)
        np.testing.assert_array_equal(r.read(slice(None)), x[rows])
        np.testing.assert_array_equal(r.read(np.array([6, 1, 1])), x[rows[[6, 1, 1]]])
        np.testing.assert_array_equal(np.concatenate([c for _, _, c in RowReader(src).chunks(8)]), x)
    with pytest.raises(IndexError):
        RowReader(mm).read(np.array([50]))


def _old_hierarchical_kmeans(x, k, r, s, seed, mppc):
    """The previous implementation: one normalised float32 copy of all points, faiss subsamples."""
    xs = km.as_float32(x, normalize=True)
    items, levels = xs, []
    for t, kt in enumerate(k):
        lseed = seed * 1000 + t
        st = s[t] or max(2, len(items) // (4 * kt))
        cent = km.kmeans(items, kt, seed=lseed, max_points_per_centroid=mppc)
        labels, dist = km.assign(items, cent)
        for step in range(r):
            sub = km.closest_per_cluster(labels, dist, st)
            if len(sub) >= kt:
                cent = km.kmeans(items[sub], kt, seed=lseed + 100 * (step + 1), init=cent, max_points_per_centroid=mppc)
                labels, dist = km.assign(items, cent)
        levels.append((cent, labels, dist))
        items = cent
    return levels


def test_streamed_kmeans_equals_clustering_a_float32_copy(tmp_path):
    """Reading x[rows] in chunks and drawing faiss's training subsample first gives the very same
    tree as clustering one float32 copy (so earlier cached curations stay valid)."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3000, 16)) + np.repeat(rng.standard_normal((6, 16)) * 3, 500, axis=0)).astype(np.float16)
    np.save(tmp_path / "e.npy", x)
    mm = np.load(tmp_path / "e.npy", mmap_mode="r")
    pool = np.sort(rng.choice(len(x), 2500, replace=False))
    args = dict(k=[20, 4], r=2, s=[60, 2], seed=3, mppc=40)  # 2500 > 20 x 40: faiss subsamples
    old = _old_hierarchical_kmeans(x[pool], **args)
    new = km.hierarchical_kmeans(mm, args["k"], rows=pool, resampling_steps=args["r"], samples_per_cluster=args["s"],
                                 seed=args["seed"], max_points_per_centroid=args["mppc"], chunk=512, progress=False)
    assert new.n_points == len(pool)
    for (c, lab, d), lv in zip(old, new.levels):
        np.testing.assert_array_equal(lv.centroids, c)
        np.testing.assert_array_equal(lv.labels, lab)
        np.testing.assert_array_equal(lv.dist, d)


def test_gpu_requested_without_gpu_faiss_warns_and_runs_on_cpu(monkeypatch):
    monkeypatch.setattr(km.faiss, "get_num_gpus", lambda: 0)
    with pytest.warns(RuntimeWarning, match=r"icepaper\[gpu\]"):
        assert km.resolve_gpu(True) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert km.resolve_gpu(False) is False  # nothing asked, nothing said
    x = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    with pytest.warns(RuntimeWarning):
        tree = km.hierarchical_kmeans(x, [6, 2], gpu=True, progress=False)
    cpu = km.hierarchical_kmeans(x, [6, 2], progress=False)
    np.testing.assert_array_equal(tree.levels[0].labels, cpu.levels[0].labels)


def test_gpu_plumbing_reaches_faiss(monkeypatch):
    """With a GPU build of faiss (faked), k-means gets gpu=True and assignment indexes go to the GPUs."""
    calls = {"kmeans": [], "to_gpu": 0}
    real = km.faiss.Kmeans

    def fake_kmeans(d, k, **kw):
        calls["kmeans"].append(kw.pop("gpu", False))
        return real(d, k, **kw)

    def fake_to_gpu(index):
        calls["to_gpu"] += 1
        return index

    monkeypatch.setattr(km.faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(km.faiss, "Kmeans", fake_kmeans)
    monkeypatch.setattr(km.faiss, "index_cpu_to_all_gpus", fake_to_gpu, raising=False)
    x = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    tree = km.hierarchical_kmeans(x, [6, 2], resampling_steps=1, gpu=True, progress=False)
    assert calls["kmeans"] and all(calls["kmeans"]) and calls["to_gpu"] == len(calls["kmeans"])
    calls["kmeans"].clear()
    cpu = km.hierarchical_kmeans(x, [6, 2], resampling_steps=1, progress=False)
    assert calls["kmeans"] and not any(calls["kmeans"])
    np.testing.assert_array_equal(tree.levels[1].labels, cpu.levels[1].labels)


def test_curation_on_cuda_asks_for_gpu_kmeans(monkeypatch, tmp_path, packed_factory):
    from types import SimpleNamespace

    from icepaper.core.profiles import get_profile
    from icepaper.representations import curation

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    seen = []
    monkeypatch.setattr(curation, "hierarchical_kmeans",
                        lambda *a, gpu, **kw: seen.append(gpu) or km.hierarchical_kmeans(*a, **kw))
    x = np.random.default_rng(0).standard_normal((120, 8)).astype(np.float16)
    ds = packed_factory(np.full((120, 8, 8), 255, np.uint8))
    cpu = SimpleNamespace(profile=get_profile("smoke"), seed=0, device="cpu")
    a = curation.curate(cpu, ds, x, pool=np.arange(120))
    monkeypatch.setattr(km.faiss, "get_num_gpus", lambda: 0)
    cuda = SimpleNamespace(profile=get_profile("smoke"), seed=0, device="cuda")
    with pytest.warns(RuntimeWarning):  # faiss-cpu: said once, same run and cache as on the CPU
        b = curation.curate(cuda, ds, x, pool=np.arange(120))
    assert b.folder == a.folder and seen == [False]
    monkeypatch.setattr(km.faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(km.faiss, "index_cpu_to_all_gpus", lambda index: index, raising=False)
    real = km.faiss.Kmeans
    monkeypatch.setattr(km.faiss, "Kmeans", lambda d, k, gpu=False, **kw: real(d, k, **kw))
    g = curation.curate(cuda, ds, x, pool=np.arange(120))
    assert g.folder != a.folder and seen == [False, True]  # a GPU run has its own cache entry


def test_rosette_inputs_made_per_batch_equal_the_whole_array(tmp_path):
    from icepaper.rosettes.shape_models import ImageBatches, to_input

    imgs = np.random.default_rng(0).integers(0, 256, (30, 3, 10, 10), dtype=np.uint8)
    np.save(tmp_path / "r.npy", imgs)
    mm = np.load(tmp_path / "r.npy", mmap_mode="r")
    rows = np.flatnonzero(np.arange(30) % 3 != 1)
    whole = to_input(imgs[rows][:, [0, 2]])
    for src in (mm, imgs):
        b = ImageBatches(src, rows, (0, 2))
        assert len(b) == len(rows)
        np.testing.assert_array_equal(b[:].numpy(), whole.numpy())
        idx = np.array([5, 0, 5, 19])
        np.testing.assert_array_equal(b[idx].numpy(), whole[idx].numpy())


def test_encode_images_equals_encoding_prepared_images():
    import torch

    from icepaper.rosettes.vae import conv_vae, encode, encode_images, prepare_images

    rng = np.random.default_rng(0)
    imgs = np.full((7, 40, 40), 230, np.uint8)
    for i in range(7):
        r = 4 + i
        imgs[i, 20 - r:20 + r, 18:22] = 40
    imgs = np.clip(imgs + rng.integers(0, 3, imgs.shape), 0, 255).astype(np.uint8)
    torch.manual_seed(0)
    model = conv_vae(2, 28, seed=0)
    np.testing.assert_array_equal(encode_images(model, imgs, 28, batch_size=3),  # same batches: same numbers
                                  encode(model, prepare_images(imgs, 28), batch_size=3))


def test_vae_inputs_on_disk_train_like_the_array(packed_factory, tmp_path, monkeypatch):
    """Notebook 08's VAE images prepared batch by batch into the cache give the same array, the
    same training losses and the same latents as preparing them all in memory."""
    from icepaper.rosettes.vae import conv_vae, encode, prepare_images, train_vae
    from icepaper.rosettes.vae_inputs import prepared_images

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    imgs = np.full((30, 32, 32), 230, np.uint8)
    for i in range(30):
        r = 3 + i % 9
        imgs[i, 16 - r:16 + r, 14:18] = 40
        imgs[i, 14:18, 16 - r // 2:16 + r // 2] = 40
    ds = packed_factory(np.clip(imgs + rng.integers(0, 4, imgs.shape), 0, 255).astype(np.uint8))
    idx = np.array([3, 1, 4, 15, 9, 2, 6, 5, 25, 29, 7, 11])
    whole = prepare_images(ds.batch(idx), 28)
    disk = prepared_images(ds, idx, 28, batch_size=5)
    assert isinstance(disk, np.memmap) and not disk.flags.writeable
    np.testing.assert_array_equal(disk, whole)
    assert prepared_images(ds, idx, 28).filename == disk.filename  # cached
    hists, zs = [], []
    for x in (whole, disk):
        model = conv_vae(2, 28, width=4, hidden=16, seed=0)
        hists.append(train_vae(model, x, 2, seed=0, batch_size=4, progress=False))
        zs.append(encode(model, x, batch_size=5))
    assert hists[0] == hists[1]
    np.testing.assert_array_equal(zs[0], zs[1])
