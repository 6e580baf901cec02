"""Embedding extraction: preprocessing, pooling, resumption after an interruption, caching."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from icepaper.augment import eval_transform
from icepaper.core.profiles import get_profile
from icepaper.representations.embed import (
    Preprocess,
    embeddings_for,
    extract_embeddings,
    input_size,
    pool,
)
from icepaper.ssl.backbones import create_backbone, export_backbone

TINY = {"vit": "vit_tiny_patch16_224", "vit_img_size": 32, "vit_patch": 8, "vit_depth": 1,
        "vit_embed_dim": 32, "vit_heads": 2}


@pytest.fixture
def tiny_vit():
    torch.manual_seed(0)
    return create_backbone(TINY, "vit").eval()


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(23, 24, 24), dtype=np.uint8)


def test_preprocess_matches_eval_transform(images):
    ours = Preprocess(32, 1, "cpu")(images)
    ref = eval_transform(32, 1)(images)
    torch.testing.assert_close(ours, ref)


def test_pooling_shapes(tiny_vit, images):
    x = Preprocess(32)(images[:4])
    with torch.no_grad():
        assert pool(tiny_vit, x, "cls").shape == (4, 32)
        m = pool(tiny_vit, x, "mean")
        assert m.shape == (4, 32)
        assert not torch.allclose(m, pool(tiny_vit, x, "cls"))
    assert input_size(tiny_vit, 99) == 32


class _Interrupt(torch.nn.Module):
    """Wraps a backbone and raises KeyboardInterrupt on the second forward call."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls, self.num_features = inner, 0, inner.num_features
        self.icepaper_timm = inner.icepaper_timm

    def forward(self, x):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return self.inner(x)


def test_extraction_resumes_after_interruption(tiny_vit, packed_factory, images, tmp_path):
    ds = packed_factory(images)
    ref = np.array(extract_embeddings(tiny_vit, ds, tmp_path / "ref", batch_size=8, progress=False))
    assert ref.shape == (23, 32) and ref.dtype == np.float16

    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        extract_embeddings(_Interrupt(tiny_vit), ds, folder, batch_size=8, progress=False)
    assert json.loads((folder / "progress.json").read_text())["done"] == 8  # one batch written

    calls = []
    hook = tiny_vit.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    out = extract_embeddings(tiny_vit, ds, folder, batch_size=8, progress=False)
    hook.remove()
    assert calls == [8, 7]  # only the unfinished batches were computed
    np.testing.assert_array_equal(np.array(out), ref)
    np.testing.assert_array_equal(np.load(folder / "index.npy"), np.arange(23))


def test_embeddings_for_caches(tiny_vit, packed_factory, images, tmp_path, monkeypatch):
    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    ds = packed_factory(images)
    path = export_backbone(tiny_vit, tmp_path / "bb.safetensors")
    cfg = SimpleNamespace(profile=get_profile("smoke"), device="cpu")
    a = embeddings_for(cfg, ds, path)
    b = embeddings_for(cfg, ds, path)
    assert a.shape == (23, 32)
    np.testing.assert_array_equal(np.array(a), np.array(b))
    ref = extract_embeddings(tiny_vit, ds, tmp_path / "direct", progress=False)
    np.testing.assert_allclose(np.array(a, np.float32), np.array(ref, np.float32), atol=2e-3)
    cached = list((tmp_path / "home" / "cache" / "embeddings").iterdir())
    assert len(cached) == 1 and (cached[0] / "key.json").exists()
    assert not any((tmp_path / "home" / "cache" / "embeddings-partial").glob("*/embeddings.f16"))
    m = embeddings_for(cfg, ds, path, pooling="mean")
    assert not np.array_equal(np.array(m), np.array(a))


def test_loader_workers_give_the_same_embeddings_and_resume(tiny_vit, packed_factory, images, tmp_path):
    """``num_workers`` reads the batches in DataLoader processes: same rows, same numbers, and
    an interrupted run continues at its first unfinished batch."""
    ds = packed_factory(images)
    rows = np.arange(23)[::-1].copy()  # any order
    ref = np.array(extract_embeddings(tiny_vit, ds, tmp_path / "ref", indices=rows, batch_size=8,
                                      progress=False))
    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        extract_embeddings(_Interrupt(tiny_vit), ds, folder, indices=rows, batch_size=8, progress=False,
                           num_workers=2)
    assert json.loads((folder / "progress.json").read_text())["done"] == 8
    out = extract_embeddings(tiny_vit, ds, folder, indices=rows, batch_size=8, progress=False, num_workers=2)
    np.testing.assert_array_equal(np.array(out), ref)
