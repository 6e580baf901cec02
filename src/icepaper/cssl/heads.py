"""The downstream classifier of Chu et al. 2025 (Sect. 3.4) and its training on cached features.

``MLPHead``: the paper's "3-layer MLP" counted as layers of neurons, like its projector
(2048 -> 4096 -> 256): input (the encoder's pooled features), one hidden layer, output with
one unit per class. Implemented as Linear -> BatchNorm -> ReLU -> Linear (the MoCo v2 /
BYOL projector layout); the softmax lives in the cross-entropy loss (paper Eq. 4).

``train_head`` fits a head on frozen-encoder features: SGD with momentum (paper Sect. 4.1:
standard SGD), learning rate rising linearly from 1e-5 to ``lr`` over the warm-up and then
cosine-annealed to 0, mini-batches drawn from a seeded stream of permutations. The number
of steps is ``max(min_steps, epochs * ceil(n / batch))`` so the smallest budgets still get
enough updates. Features are standardised with the training subset's mean and std (kept
in the head, so it applies to any features of the same encoder).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from icepaper.ssl.schedules import warmup_cosine


@contextlib.contextmanager
def single_thread():
    """Run a block with one torch CPU thread: a small MLP gains nothing from more, and on a
    shared CPU the thread hand-offs make it many times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class MLPHead(nn.Module):
    """Standardise -> Linear(d, hidden) -> BN -> ReLU -> Linear(hidden, n_classes)."""

    def __init__(self, in_dim: int, hidden: int, n_classes: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.hidden = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True))
        self.out = nn.Linear(hidden, n_classes)

    def set_standardisation(self, x: torch.Tensor) -> None:
        """Use the mean and std of ``x`` (n, d) to standardise inputs."""
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-6))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden-layer activations (the representation the output layer separates)."""
        return self.hidden((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x))


@dataclass
class HeadParams:
    """Head size and schedule, from the profile's ``cssl`` section."""

    hidden: int = 512
    epochs: int = 30
    min_steps: int = 200
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_frac: float = 0.1
    n_evals: int = 10  # validation accuracy is logged this many times per run

    @classmethod
    def from_section(cls, section) -> HeadParams:
        keys = cls.__dataclass_fields__
        return cls(**{k: section[k] for k in keys if k in section})


@dataclass
class RunLog:
    """Per-run log: training loss per step, accuracies (%) at evaluation steps."""

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in self.__dict__.items()}


def n_steps(n_train: int, hp: HeadParams) -> int:
    """Optimiser steps for ``n_train`` images: ``max(min_steps, epochs * ceil(n / batch))``."""
    return max(int(hp.min_steps), int(hp.epochs) * math.ceil(n_train / min(hp.batch_size, n_train)))


def _batches(n: int, bs: int, steps: int, gen: torch.Generator):
    """``steps`` index batches of size ``bs`` from concatenated seeded permutations of range(n)."""
    buf = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        while len(buf) < bs:
            buf = torch.cat([buf, torch.randperm(n, generator=gen)])
        yield buf[:bs]
        buf = buf[bs:]


@torch.no_grad()
def accuracy(head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Overall accuracy (%) of ``head`` on features ``x`` with integer labels ``y``."""
    if len(y) == 0:
        return float("nan")
    was = head.training
    head.eval()
    acc = float((head(x).argmax(1) == y).float().mean()) * 100.0
    head.train(was)
    return acc


def train_head(x_train: np.ndarray, y_train: np.ndarray, n_classes: int, hp: HeadParams, seed: int = 0,
               x_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> tuple[MLPHead, RunLog]:
    """Fit an ``MLPHead`` on (n, d) features with cross-entropy; return it (eval mode) and its log."""
    with single_thread():
        return _train_head(x_train, y_train, n_classes, hp, seed, x_val, y_val)


def _train_head(x_train, y_train, n_classes, hp, seed, x_val, y_val) -> tuple[MLPHead, RunLog]:
    torch.manual_seed(seed)
    xt = torch.as_tensor(x_train, dtype=torch.float32)
    yt = torch.as_tensor(y_train, dtype=torch.long)
    xv = torch.as_tensor(x_val, dtype=torch.float32) if x_val is not None else None
    yv = torch.as_tensor(y_val, dtype=torch.long) if y_val is not None else None
    head = MLPHead(xt.shape[1], hp.hidden, n_classes)
    head.set_standardisation(xt)
    opt = torch.optim.SGD(head.parameters(), lr=hp.lr, momentum=hp.momentum, nesterov=True,
                          weight_decay=hp.weight_decay)
    lossf = nn.CrossEntropyLoss()
    bs = max(2, min(hp.batch_size, len(xt)))  # BatchNorm needs two samples
    total = n_steps(len(xt), hp)
    warm = int(round(hp.warmup_frac * total))
    every = max(1, total // max(1, hp.n_evals))
    gen = torch.Generator().manual_seed(seed)
    log = RunLog()
    head.train()
    for step, b in enumerate(_batches(len(xt), bs, total, gen)):
        lr = warmup_cosine(step, total, hp.lr, warm)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = lossf(head(xt[b]), yt[b])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        log.loss.append(float(loss.detach()))
        log.lr.append(lr)
        if (step + 1) % every == 0 or step + 1 == total:
            log.eval_step.append(step + 1)
            log.train_acc.append(accuracy(head, xt, yt))
            log.val_acc.append(accuracy(head, xv, yv) if xv is not None else float("nan"))
    head.eval()
    return head, log


@torch.no_grad()
def predict(head: MLPHead, x: np.ndarray, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class indices and hidden-layer embeddings (float32) for features ``x``."""
    head.eval()
    preds, embs = [], []
    with single_thread():
        for i in range(0, len(x), batch):
            h = head.embed(torch.as_tensor(x[i:i + batch], dtype=torch.float32))
            preds.append(head.out(h).argmax(1).numpy())
            embs.append(h.numpy())
    if not preds:
        return np.empty(0, dtype=np.int64), np.empty((0, head.out.in_features), dtype=np.float32)
    return np.concatenate(preds), np.concatenate(embs).astype(np.float32)
