"""MoCo v2 on a timm ResNet (Chu et al. 2025's Unsup-MoCo upstream network), from lightly's pieces.

Chu et al. 2025 (section 3.2-3.3, 4.1): ResNet-50 encoder, projector 2048 -> 4096 -> 256
(``proj_hidden``, ``proj_out`` of the profile; lightly ``MoCoProjectionHead``), online
encoder Q and momentum encoder K (EMA, lightly ``update_momentum``), InfoNCE against a
memory queue of keys (lightly ``NTXentLoss(memory_bank_size=(moco_queue, proj_out))``,
temperature 0.2 as in MoCo v2; keys gathered across processes under DDP), LARS
(lightly ``LARS``) with linear warm-up then cosine decay to 0.

As in the paper's description, one crop of each image goes through Q and the other
through K (MoCo v2's asymmetric loss). Paper-default numbers a profile may override:
``moco_lr`` (LARS base lr per 256 images, 0.3), ``moco_wd`` (1e-6), ``moco_momentum``
(0.99, constant as in MoCo v2; a cosine schedule to 1, as BYOL's, freezes the key encoder
while the query encoder still learns: in an 80-step CPU run the logged loss then ended at
6.55 instead of 5.60), ``moco_temperature`` (0.2). ImageNet MoCo weights (Chu et al. 2025's
IM1K-Unsup-MoCo) are not on the timm hub; ``init="imagenet"`` takes them from a file.

Under DDP on GPUs the trainer makes every BatchNorm a ``SyncBatchNorm`` (statistics of the
global batch, as one GPU with the whole batch; no shuffled BN), so N processes train like one.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead
from lightly.models.utils import update_momentum
from lightly.utils.lars import LARS
from lightly.utils.scheduler import cosine_schedule, cosine_warmup_schedule
from torch import Tensor, nn

from .backbones import create_backbone, embed_dim
from .base import SSLMethod, decay_groups, hparam


class MomentumResNet(SSLMethod):
    """Shared parts of MoCo and BYOL: online ResNet + projector, EMA copies, LARS, schedules."""

    arch = "resnet"
    n_global = 2
    recipe = "cssl"
    prefix = ""
    momentum_to_one = True  # EMA momentum cosine m -> 1 (BYOL); False: constant m (MoCo v2)

    def __init__(self, section: Any, *, init: str = "scratch", batch_size: int | None = None):
        super().__init__()
        s = section
        p = self.prefix
        self.batch_size = int(batch_size or hparam(s, "batch_size"))
        self.lr = float(hparam(s, f"{p}_lr")) * self.batch_size / 256
        self.wd = float(hparam(s, f"{p}_wd"))
        self.warmup_steps = int(hparam(s, "warmup_steps"))
        m0 = float(hparam(s, f"{p}_momentum"))
        self.mom = (m0, 1.0) if self.momentum_to_one else (m0, m0)
        self.clip_grad = float(hparam(s, "clip_grad_resnet"))  # 0 = no clipping
        self.backbone = create_backbone(s, "resnet", init)
        self.feat_dim = embed_dim(self.backbone)
        self.proj_hidden = int(hparam(s, "proj_hidden"))
        self.proj_out = int(hparam(s, "proj_out"))
        self.projection_head = self.make_projector()
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        for q in list(self.backbone_momentum.parameters()) + list(self.projection_head_momentum.parameters()):
            q.requires_grad = False

    def make_projector(self) -> nn.Module:
        raise NotImplementedError

    def schedule(self, step: int, total: int) -> dict[str, float]:
        total = max(total, 1)
        warm = min(self.warmup_steps, total)
        lr = cosine_warmup_schedule(step, total, self.lr, 0.0, warm, 1e-5, self.lr) if warm else \
            cosine_schedule(step, total, self.lr, 0.0)
        return {"lr": float(lr), "weight_decay": self.wd,
                "momentum": float(cosine_schedule(step, total, *self.mom))}

    def make_optimizer(self) -> torch.optim.Optimizer:
        groups = decay_groups(self.student_modules(), self.wd)
        for g in groups:
            g["scheduled_wd"] = False
        return LARS(groups, lr=self.lr, momentum=0.9)

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        update_momentum(self.backbone, self.backbone_momentum, m=m)
        update_momentum(self.projection_head, self.projection_head_momentum, m=m)

    def export_model(self) -> nn.Module:
        """The online encoder (Chu et al. 2025 transfers the online encoder downstream)."""
        return self.backbone

    def online(self, x: Tensor) -> Tensor:
        return self.projection_head(self.backbone(x))

    @torch.no_grad()
    def target(self, x: Tensor) -> Tensor:
        return self.projection_head_momentum(self.backbone_momentum(x)).detach()


class MoCo(MomentumResNet):
    """MoCo v2: InfoNCE of online queries against momentum keys and a queue of old keys."""

    name = "moco"
    prefix = "moco"
    momentum_to_one = False  # MoCo v2 keeps m constant (0.999 there)

    def __init__(self, section: Any, *, init: str = "scratch", batch_size: int | None = None):
        super().__init__(section, init=init, batch_size=batch_size)
        queue = int(hparam(section, "moco_queue"))
        temp = float(hparam(section, "moco_temperature"))
        self.criterion = NTXentLoss(temperature=temp, memory_bank_size=(queue, self.proj_out),
                                    gather_distributed=True)

    def make_projector(self) -> nn.Module:
        return MoCoProjectionHead(self.feat_dim, self.proj_hidden, self.proj_out)

    def get_extra_state(self) -> dict[str, Tensor]:
        """The key queue and its pointer (lightly keeps them out of ``state_dict``), for exact resume."""
        bank = self.criterion.memory_bank
        return {"queue": bank.bank.detach().cpu().clone(), "queue_ptr": bank.bank_ptr.detach().cpu().clone()}

    def set_extra_state(self, state: dict[str, Tensor]) -> None:
        bank = self.criterion.memory_bank
        if tuple(state["queue"].shape) != tuple(bank.bank.shape):
            raise ValueError(f"MoCo queue of shape {tuple(state['queue'].shape)} in the checkpoint, "
                             f"the model has {tuple(bank.bank.shape)} (moco_queue, proj_out differ)")
        with torch.no_grad():
            bank.bank.copy_(state["queue"])
            bank.bank_ptr.copy_(state["queue_ptr"])

    def student_modules(self) -> list[nn.Module]:
        return [self.backbone, self.projection_head]

    def forward(self, views: list[Tensor], masks: Tensor | None = None, *, step: int = 0,
                total: int = 1) -> tuple[Tensor, dict[str, Any]]:
        query = self.online(views[0])
        key = self.target(views[1])
        loss = self.criterion(query, key)
        return loss, {}
