"""Shared fixtures: small packed datasets built on the fly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icepaper.data.packed import PackedDataset, PackedWriter


@pytest.fixture
def packed_factory(tmp_path):
    """Build a PackedDataset from arrays: ``packed_factory(images, meta=None, name='t')``."""

    def make(images: np.ndarray, meta: pd.DataFrame | None = None, name: str = "t") -> PackedDataset:
        n = len(images)
        if meta is None:
            meta = pd.DataFrame({"image_id": [f"im{i:05d}" for i in range(n)],
                                 "split": "train", "source_file": ""})
        root = tmp_path / name
        with PackedWriter(root, image_size=images.shape[1], name=name) as w:
            w.add(images.astype(np.uint8), meta)
        return PackedDataset(root)

    return make
