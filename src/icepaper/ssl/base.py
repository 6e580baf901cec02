"""What every SSL method gives the one training loop (:mod:`icepaper.ssl.trainer`).

A method is an ``nn.Module`` holding its student/online networks, its momentum (EMA)
networks and its loss buffers (centers, queue), so ``state_dict()`` is the whole
resumable model state. The loop calls, per step::

    sched = method.schedule(step, total)           # lr, weight_decay, momentum, ...
    loss, logs = ddp_or_method(views, masks, step=step, total=total)   # forward()
    loss.backward(); method.after_backward(step); clip; optimiser.step()
    method.momentum_update(sched["momentum"])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def no_weight_decay(name: str, p: torch.Tensor) -> bool:
    """True for the parameters left out of weight decay: biases and 1-d tensors (norm layers),
    as in DINO/iBOT, and the gains of weight-normalised layers (``weight_g``, or
    ``parametrizations.weight.original0`` with torch's parametrisation).

    The gain is the length |w_k| of a prototype; iBOT-vMF reads it as the concentration of the
    prototype's vMF component, so decaying it would pull every concentration towards 0 (and the
    (K, 1)-shaped gain is 2-d, which DINO's 1-d rule misses).

    >>> no_weight_decay("last_layer.weight_g", torch.ones(8, 1)), no_weight_decay("fc.weight", torch.ones(8, 4))
    (True, False)
    """
    return (p.ndim <= 1 or name.endswith(".bias") or name.endswith("weight_g")
            or name.endswith("parametrizations.weight.original0"))


def decay_groups(modules: list[nn.Module], weight_decay: float) -> list[dict[str, Any]]:
    """Two parameter groups as in DINO/iBOT: weight decay on weight matrices only; biases, 1-d (norm)
    tensors and weight-norm gains (the vMF prototypes' norms) get none (:func:`no_weight_decay`)."""
    decay, no_decay = [], []
    for m in modules:
        for name, p in m.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if no_weight_decay(name, p) else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "scheduled_wd": True},
        {"params": no_decay, "weight_decay": 0.0, "scheduled_wd": False},
    ]


def hparam(section: Mapping[str, Any] | Any, key: str) -> Any:
    """``section[key]`` (or its attribute ``key``); the profiles define every key (the methods'
    paper values included), so a missing one is an error naming it, never a silent default."""
    if isinstance(section, Mapping):
        if key not in section:
            raise KeyError(f"pretrain section has no key {key!r} (its keys: {', '.join(section)})")
        return section[key]
    return getattr(section, key)


class SSLMethod(nn.Module):
    """Base class; subclasses set ``name``, ``arch``, ``recipe``, ``crop_sizes``."""

    name: str = ""
    arch: str = ""  # 'vit' | 'resnet'
    recipe: str = ""  # augmentation recipe name (icepaper.augment)
    n_global: int = 2
    mask_grid: tuple[int, int] | None = None

    def schedule(self, step: int, total: int) -> dict[str, float]:
        raise NotImplementedError

    def make_optimizer(self) -> torch.optim.Optimizer:
        raise NotImplementedError

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        raise NotImplementedError

    def after_backward(self, step: int) -> None:
        """Hook between backward and the optimiser step (e.g. freeze the last layer)."""

    def export_model(self) -> nn.Module:
        """The timm backbone whose weights are exported and evaluated."""
        raise NotImplementedError

    def student_modules(self) -> list[nn.Module]:
        raise NotImplementedError
