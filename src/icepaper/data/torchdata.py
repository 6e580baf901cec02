"""A torch ``Dataset`` over a packed dataset, and a seeded ``DataLoader`` factory.

``PackedImages(ds, indices, transform, label_scheme)`` yields ``transform(PIL.Image "L")``
(plus the integer label when ``label_scheme`` is given). It pickles without its open
shard files, so ``DataLoader`` workers re-open the dataset lazily, each in its own process.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .packed import PackedDataset


class PackedImages:
    """Torch-style dataset of packed images (``torch.utils.data.Dataset`` protocol).

    ``ds``: a ``PackedDataset`` or its folder. ``indices``: rows to expose (default: all
    rows, or with ``label_scheme`` all rows that carry a label of that scheme).
    ``transform``: applied to the ``PIL.Image`` (mode "L"); without one the PIL image is
    returned. ``label_scheme``: return ``(x, label)`` where label indexes ``.classes``
    (the sorted labels of the whole dataset, so every split shares one mapping); a row
    without a label gets -1.
    """

    def __init__(self, ds: PackedDataset | str | Path, indices: Sequence[int] | np.ndarray | None = None,
                 transform: Callable | None = None, label_scheme: str | None = None):
        self._ds: PackedDataset | None = ds if isinstance(ds, PackedDataset) else PackedDataset(ds)
        self.root = Path(self._ds.root)
        self.transform = transform
        self.label_scheme = label_scheme
        self.classes: list[str] = []
        self.targets: np.ndarray | None = None
        labels = None
        if label_scheme is not None:
            labels = self._ds.labels(label_scheme)
            self.classes = sorted(str(v) for v in labels.dropna().unique())
        if indices is None:
            indices = np.arange(len(self._ds)) if labels is None else np.flatnonzero(labels.notna().to_numpy())
        self.indices = np.asarray(indices, dtype=np.int64)
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= len(self._ds)):
            raise IndexError(f"indices out of range for {self._ds!r}")
        if labels is not None:
            lut = {c: k for k, c in enumerate(self.classes)}
            lab = labels.to_numpy()[self.indices]
            self.targets = np.array([lut.get(str(v), -1) if v is not None and v == v else -1 for v in lab],
                                    dtype=np.int64)

    @property
    def ds(self) -> PackedDataset:
        """The underlying dataset, opened on first use in this process."""
        if self._ds is None:
            self._ds = PackedDataset(self.root)
        return self._ds

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, i: int) -> np.ndarray:
        """Raw (size, size) uint8 image of item ``i`` (a copy)."""
        return np.array(self.ds[int(self.indices[i])])

    def __getitem__(self, i: int):
        from PIL import Image

        x = Image.fromarray(self.image(i))  # 2-D uint8 -> mode "L"
        if self.transform is not None:
            x = self.transform(x)
        if self.targets is not None:
            return x, int(self.targets[i])
        return x

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_ds"] = None  # shard files are re-opened lazily in each worker
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        lab = f", labels={self.label_scheme!r} ({len(self.classes)} classes)" if self.label_scheme else ""
        return f"PackedImages({self.root.name!r}, n={len(self)}{lab})"


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and ``random`` from the worker's torch seed."""
    import torch

    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def make_loader(dataset, batch_size: int, shuffle: bool = False, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False, **kwargs):
    """A ``DataLoader`` whose shuffling and worker seeds follow ``seed`` (same order every run).

    Workers stay alive between epochs (``persistent_workers``) and memory is pinned when
    CUDA is available; extra keyword arguments go to ``DataLoader``.
    """
    import torch
    from torch.utils.data import DataLoader

    from icepaper.core.seeding import torch_generator

    opts = dict(batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, drop_last=drop_last,
                generator=torch_generator(seed), worker_init_fn=seed_worker,
                pin_memory=torch.cuda.is_available(), persistent_workers=num_workers > 0)
    opts.update(kwargs)
    return DataLoader(dataset, **opts)
