"""One helper that seeds python, numpy and torch."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed ``random``, numpy's legacy RNG and torch (CPU and CUDA); return a numpy Generator."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return np.random.default_rng(seed)


def torch_generator(seed: int):
    """A seeded ``torch.Generator`` for DataLoaders and samplers."""
    import torch

    g = torch.Generator()
    g.manual_seed(seed)
    return g
