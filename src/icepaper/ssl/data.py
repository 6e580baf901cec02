"""Deterministic multi-crop batches for SSL pretraining, addressed by (step, slot).

The image a training step sees is a pure function of ``(seed, step, slot)``: epoch
``e = step // steps_per_epoch`` uses the seeded permutation ``perm(seed, e)`` of the
training rows, and slot ``j`` of the global batch of step ``s`` takes position
``(s % steps_per_epoch) * global_batch + j`` of it (drop-last epochs). Each sample's
augmentation (and its iBOT block mask) is drawn after seeding python, numpy and torch
from ``(seed, step, slot)``. Therefore

- resuming at step ``s`` simply starts the sampler at ``s`` (consumed batches are skipped,
  nothing is replayed), and
- with DDP, rank ``r`` of ``W`` takes slots ``r*B .. (r+1)*B - 1`` of the same global batch,
  so W processes see exactly the images and crops one process sees with batch W*B,
  whatever the number of DataLoader workers.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def _mix(*parts: int) -> int:
    """A 63-bit seed derived from integers (stable across processes and platforms)."""
    h = hashlib.blake2b(np.asarray(parts, dtype=np.int64).tobytes(), digest_size=8).digest()
    return int.from_bytes(h, "little") & 0x7FFF_FFFF_FFFF_FFFF


def seed_step(seed: int, step: int, rank: int = 0) -> None:
    """Seed python, numpy and torch for the model's own randomness (drop-path) at ``step``."""
    s = _mix(seed, step, rank, 7)
    random.seed(s)
    np.random.seed(s % 2**32)
    torch.manual_seed(s)


def sample_block_mask(grid: tuple[int, int], mask_prob: float = 0.5,
                      ratio: tuple[float, float] = (0.1, 0.5)) -> torch.Tensor:
    """iBOT block mask for one global crop: unmasked with probability 1 - ``mask_prob``,
    else ``U(ratio)`` of the patches masked in random blocks (lightly's block sampler).

    iBOT masks half the images of a batch; drawing that per image keeps masks a function of
    the image's own seed (exact resume and DDP = single process).
    """
    from lightly.models.utils import random_block_mask_image

    h, w = grid
    if random.random() >= mask_prob:
        return torch.zeros((h, w), dtype=torch.bool)
    n = max(1, int(h * w * random.uniform(*ratio)))
    # lightly's blocks hold at least 4 patches; tiny grids (CPU profiles) allow smaller ones
    return random_block_mask_image(size=(h, w), num_masks=n, min_num_masks_per_block=min(4, n))


class StepSampler(Sampler[list[tuple[int, int]]]):
    """Yields, for steps ``start..stop-1``, this rank's ``(step, slot)`` keys."""

    def __init__(self, start: int, stop: int, batch_size: int, rank: int = 0):
        self.start, self.stop, self.batch_size, self.rank = start, stop, batch_size, rank

    def __iter__(self):
        lo = self.rank * self.batch_size
        for s in range(self.start, self.stop):
            yield [(s, lo + j) for j in range(self.batch_size)]

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


class MultiCropDataset(Dataset):
    """``ds`` rows ``indices`` turned into augmented views, keyed by ``(step, slot)``.

    ``recipe(PIL 'L' image) -> list[Tensor (C,H,W)]``; ``mask_grid`` (h, w) adds one iBOT
    block mask per global view (the first ``n_global`` views). It pickles without image
    data (``ds``, a ``PackedDataset``, re-opens its shards in each loader worker).
    """

    def __init__(self, ds, indices: Sequence[int] | np.ndarray, recipe: Callable, *, seed: int,
                 global_batch: int, n_global: int = 2, mask_grid: tuple[int, int] | None = None):
        self.ds = ds
        self.indices = np.asarray(indices, dtype=np.int64)
        if len(self.indices) < global_batch:
            raise ValueError(
                f"{len(self.indices)} training images but the global batch is {global_batch}; "
                "lower batch_size or train on more images"
            )
        self.recipe = recipe
        self.seed = int(seed)
        self.global_batch = int(global_batch)
        self.n_global = int(n_global)
        self.mask_grid = mask_grid
        self.steps_per_epoch = len(self.indices) // self.global_batch

    @lru_cache(maxsize=2)  # noqa: B019 - one dataset per run; caches the current epoch
    def _perm(self, epoch: int) -> np.ndarray:
        return np.random.default_rng(_mix(self.seed, epoch, 1)).permutation(len(self.indices))

    def row(self, step: int, slot: int) -> int:
        """The dataset row that slot ``slot`` of step ``step`` trains on."""
        epoch, b = divmod(int(step), self.steps_per_epoch)
        return int(self.indices[self._perm(epoch)[b * self.global_batch + int(slot)]])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: tuple[int, int]):
        from PIL import Image

        step, slot = key
        img = Image.fromarray(np.ascontiguousarray(self.ds[self.row(step, slot)]))  # uint8 2-D: mode "L"
        s = _mix(self.seed, step, slot, 3)
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.manual_seed(s)
        views = list(self.recipe(img))
        masks = None
        if self.mask_grid is not None:
            masks = torch.stack([sample_block_mask(self.mask_grid) for _ in range(self.n_global)])
        return views, masks


def collate(batch):
    """Stack per-view: ``views[v]`` is (B, C, H, W); ``masks`` (n_global*B, h, w) or None.

    Masks are ordered like ``torch.cat(views[:n_global])`` (all images of view 0 first).
    """
    n_views = len(batch[0][0])
    views = [torch.stack([b[0][v] for b in batch]) for v in range(n_views)]
    if batch[0][1] is None:
        return views, None
    masks = torch.stack([b[1] for b in batch])  # (B, n_global, h, w)
    masks = masks.transpose(0, 1).reshape(-1, *masks.shape[2:])
    return views, masks


def make_loader(dataset: MultiCropDataset, start: int, stop: int, batch_size: int, rank: int = 0,
                num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """DataLoader over steps ``start..stop-1`` of this rank (``batch_size`` per rank)."""
    return DataLoader(
        dataset,
        batch_sampler=StepSampler(start, stop, batch_size, rank),
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if num_workers else None,
    )
