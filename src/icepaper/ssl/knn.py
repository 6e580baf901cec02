"""DINO's weighted kNN classifier on embeddings (cosine similarity, k nearest vote with weight
exp(sim / T)); used by pretraining's kNN check and by the frozen-embedding probes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=1)


def knn_classify(
    train_emb: np.ndarray,
    train_y: Sequence,
    test_emb: np.ndarray,
    k: int = 20,
    temperature: float = 0.07,
    chunk: int = 1024,
    device: str = "cpu",
) -> np.ndarray:
    """Weighted-kNN predicted labels of ``test_emb`` (same label type as ``train_y``).

    Cosine similarity; the ``k`` nearest training rows vote with weight exp(sim / temperature).
    """
    train_y = np.asarray(train_y)
    classes, y = np.unique(train_y, return_inverse=True)
    if len(train_emb) != len(y):
        raise ValueError(f"{len(train_emb)} training embeddings but {len(y)} labels")
    k = min(int(k), len(y))
    bank = _normalize(torch.as_tensor(np.asarray(train_emb), device=device))
    yt = torch.as_tensor(y, device=device)
    out = np.empty(len(test_emb), dtype=np.int64)
    for a in range(0, len(test_emb), chunk):
        q = _normalize(torch.as_tensor(np.asarray(test_emb[a:a + chunk]), device=device))
        sim, idx = (q @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(q), len(classes), device=device)
        votes.scatter_add_(1, yt[idx], (sim / temperature).exp())
        out[a:a + chunk] = votes.argmax(1).cpu().numpy()
    return classes[out]
