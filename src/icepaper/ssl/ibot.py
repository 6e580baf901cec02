"""iBOT and iBOT-vMF on a timm ViT (Ko et al. 2025's pretraining), built from lightly's pieces.

- Backbones: lightly ``MaskedVisionTransformerTIMM`` around the timm ViT of
  :func:`icepaper.ssl.backbones.create_backbone` (one grey channel); the student has linear
  stochastic depth (``drop_path``), the teacher is its EMA (momentum cosine 0.996 -> 1,
  lightly ``update_momentum`` / ``cosine_schedule``).
- Head: lightly ``DINOProjectionHead`` (3-layer GELU MLP, L2-normalised bottleneck,
  weight-normalised prototype layer), shared for [CLS] and patch tokens as in iBOT.
  ``vmf=False``: prototypes normalised (``weight_g`` frozen at 1) and lightly's
  ``DINOLoss`` + ``IBOTPatchLoss`` (logit centering): plain iBOT.
  ``vmf=True``: prototypes un-normalised and :mod:`icepaper.ssl.vmf`'s losses (vMF
  log-normaliser added to each logit, probability-space centering): iBOT-vMF.
- Loss: multi-crop DINO loss on [CLS] (teacher: the 2 global crops; student: all crops)
  plus iBOT's masked-patch loss on the global crops (block masks, half the images
  unmasked, others U(0.1, 0.5) of the patches; see :mod:`icepaper.ssl.data`), equal weights.
- Schedules (iBOT's ViT-S/16 defaults; a profile may override the keys named):
  AdamW, lr ``ibot_lr`` (5e-4) x batch/256 with linear warm-up over ``warmup_steps`` then
  cosine to 1e-6; teacher EMA momentum ``ibot_momentum`` (0.996) -> 1 cosine; weight decay cosine
  0.04 -> 0.4 (not on biases, norms or the prototypes' norms ``weight_g``); teacher
  temperature linear 0.04 -> ``teacher_temp`` (0.07) over the first 30 % of the steps;
  student temperature 0.1; center momentum 0.9; gradient clipping 3.0 (trainer).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from lightly.loss import DINOLoss, IBOTPatchLoss
from lightly.models.modules import DINOProjectionHead, MaskedVisionTransformerTIMM
from lightly.models.utils import update_drop_path_rate, update_momentum
from lightly.utils.scheduler import cosine_schedule, cosine_warmup_schedule, linear_warmup_schedule
from torch import Tensor, nn

from .backbones import create_backbone
from .base import SSLMethod, decay_groups, hparam
from .vmf import VMFDINOLoss, VMFPatchLoss


class IBOT(SSLMethod):
    """iBOT(-vMF): student/teacher ViTs, shared DINO head, CLS + masked-patch losses."""

    arch = "vit"
    n_global = 2

    def __init__(self, section: Any, *, vmf: bool = True, init: str = "scratch",
                 batch_size: int | None = None, recipe: str = "ibot_cpi"):
        super().__init__()
        s = section
        self.name = "ibot_vmf" if vmf else "ibot"
        self.recipe = recipe
        self.vmf = bool(vmf)
        self.batch_size = int(batch_size or hparam(s, "batch_size"))
        self.lr = float(hparam(s, "ibot_lr")) * self.batch_size / 256
        self.min_lr = float(hparam(s, "ibot_min_lr"))
        self.wd = (float(hparam(s, "ibot_wd_start")), float(hparam(s, "ibot_wd_end")))
        self.warmup_steps = int(hparam(s, "warmup_steps"))
        self.mom = (float(hparam(s, "ibot_momentum")), 1.0)
        self.t_temp = (float(hparam(s, "teacher_temp_start")), float(hparam(s, "teacher_temp")))
        self.t_temp_frac = float(hparam(s, "teacher_temp_warmup_frac"))
        self.student_temp = 0.1
        self.clip_grad = float(hparam(s, "clip_grad"))
        self.freeze_last_layer_steps = int(hparam(s, "freeze_last_layer_steps"))
        drop_path = float(hparam(s, "drop_path"))
        k = int(hparam(s, "n_prototypes"))
        hidden = int(hparam(s, "head_hidden"))
        bottleneck = int(hparam(s, "head_bottleneck"))

        vit = create_backbone(s, "vit", init)
        self.teacher_backbone = MaskedVisionTransformerTIMM(
            vit=vit, weight_initialization="skip", pos_embed_initialization="skip", antialias=False)
        self.student_backbone = copy.deepcopy(self.teacher_backbone)
        if drop_path > 0:
            update_drop_path_rate(self.student_backbone.vit, drop_path_rate=drop_path, mode="linear")
        dim = self.teacher_backbone.vit.embed_dim
        self.student_head = DINOProjectionHead(dim, hidden, bottleneck, k, norm_last_layer=not vmf)
        self.teacher_head = DINOProjectionHead(dim, hidden, bottleneck, k, norm_last_layer=not vmf)
        self.teacher_head.load_state_dict(self.student_head.state_dict())
        for p in list(self.teacher_backbone.parameters()) + list(self.teacher_head.parameters()):
            p.requires_grad = False
        if vmf:
            self.cls_loss: nn.Module = VMFDINOLoss(k, bottleneck, self.student_temp)
            self.patch_loss: nn.Module = VMFPatchLoss(k, bottleneck, self.student_temp)
        else:
            self.cls_loss = DINOLoss(output_dim=k, student_temp=self.student_temp)
            self.patch_loss = IBOTPatchLoss(output_dim=k, student_temp=self.student_temp)
        grid = self.teacher_backbone.vit.patch_embed.grid_size
        self.patch_size = self.teacher_backbone.vit.patch_embed.patch_size[0]
        self.mask_grid = (int(grid[0]), int(grid[1]))

    # -- schedules -------------------------------------------------------------------
    def schedule(self, step: int, total: int) -> dict[str, float]:
        total = max(total, 1)
        warm = min(self.warmup_steps, total)
        lr = cosine_warmup_schedule(step, total, self.lr, self.min_lr, warm, 0.0, self.lr) if warm else \
            cosine_schedule(step, total, self.lr, self.min_lr)
        t_warm = int(self.t_temp_frac * total)
        teacher_temp = linear_warmup_schedule(step, t_warm, *self.t_temp) if t_warm else self.t_temp[1]
        return {
            "lr": float(lr),
            "weight_decay": float(cosine_schedule(step, total, *self.wd)),
            "momentum": float(cosine_schedule(step, total, *self.mom)),
            "teacher_temp": float(teacher_temp),
        }

    def make_optimizer(self) -> torch.optim.Optimizer:
        groups = decay_groups(self.student_modules(), self.wd[0])
        return torch.optim.AdamW(groups, lr=self.lr)

    def student_modules(self) -> list[nn.Module]:
        return [self.student_backbone, self.student_head]

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        update_momentum(self.student_backbone, self.teacher_backbone, m=m)
        update_momentum(self.student_head, self.teacher_head, m=m)

    def after_backward(self, step: int) -> None:
        if step < self.freeze_last_layer_steps:
            for p in self.student_head.last_layer.parameters():
                p.grad = None

    def export_model(self) -> nn.Module:
        """The teacher ViT (iBOT and DINO evaluate the EMA teacher)."""
        return self.teacher_backbone.vit

    @staticmethod
    def _norms(head: DINOProjectionHead) -> Tensor:
        """Prototype norms |w_k| = |g_k| of the weight-normalised last layer, (K,)."""
        return head.last_layer.weight_g.abs().flatten()

    # -- one step ----------------------------------------------------------------------
    def forward(self, views: list[Tensor], masks: Tensor | None, *, step: int, total: int,
                teacher_temp: float | None = None) -> tuple[Tensor, dict[str, float]]:
        if teacher_temp is None:
            teacher_temp = self.schedule(step, total)["teacher_temp"]
        n_g = self.n_global
        g = torch.cat(views[:n_g])
        b2, (h, w) = g.shape[0], self.mask_grid
        if masks is None:
            masks = torch.zeros((b2, h, w), dtype=torch.bool, device=g.device)
        masks = masks.to(g.device)
        tok_mask = torch.zeros((b2, h * w + 1), dtype=torch.bool, device=g.device)
        tok_mask[:, 1:] = masks.flatten(1)

        with torch.no_grad():
            t_feat = self.teacher_backbone.encode(g)
            t_cls = self.teacher_head(t_feat[:, 0])
            t_patch = self.teacher_head(t_feat[tok_mask])
        s_feat = self.student_backbone.encode(g, mask=tok_mask)
        s_cls = [self.student_head(s_feat[:, 0])]
        s_patch = self.student_head(s_feat[tok_mask])
        i = n_g
        while i < len(views):  # local crops: one pass per run of equal-sized crops
            j = i
            while j < len(views) and views[j].shape == views[i].shape:
                j += 1
            loc = torch.cat(views[i:j])
            s_cls.append(self.student_head(self.student_backbone.encode(loc)[:, 0]))
            i = j
        s_cls_all = torch.cat(s_cls)
        n_views = len(views)
        if self.vmf:
            t_norm, s_norm = self._norms(self.teacher_head), self._norms(self.student_head)
            cls = self.cls_loss(list(t_cls.float().chunk(n_g)), list(s_cls_all.float().chunk(n_views)),
                                t_norm, s_norm, teacher_temp)
            patch = self.patch_loss(t_patch.float(), s_patch.float(), masks, t_norm, s_norm, teacher_temp)
        else:
            cls = self.cls_loss(list(t_cls.float().chunk(n_g)), list(s_cls_all.float().chunk(n_views)),
                                teacher_temp=teacher_temp)
            patch = self.patch_loss(t_patch.float(), s_patch.float(), mask=masks, teacher_temp=teacher_temp)
        # keep the mask token in the graph when no image of the batch is masked (DDP needs
        # every trainable parameter to receive a gradient each step)
        loss = cls + patch + 0.0 * self.student_backbone.mask_token.sum()
        return loss, {"loss_cls": cls.detach(), "loss_patch": patch.detach(),
                      "teacher_temp": float(teacher_temp), "mask_frac": masks.float().mean()}
