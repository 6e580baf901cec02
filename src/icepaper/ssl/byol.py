"""BYOL on a timm ResNet (Chu et al. 2025's Unsup-BYOL upstream network), from lightly's pieces.

Online network: ResNet + projector (``proj_hidden`` -> ``proj_out``, lightly
``BYOLProjectionHead``) + predictor (lightly ``BYOLPredictionHead``); target network: EMA
of the online encoder and projector (cosine momentum ``byol_momentum`` (0.99) -> 1).
Loss: Chu et al. 2025's eq. 2, ``2 - 2 cos(p, z')``, symmetrised over the two crops (lightly
``NegativeCosineSimilarity``: 2 - 2 cos = 2 + 2 * NCS). LARS with base lr ``byol_lr``
(0.2 per 256 images, as BYOL) and weight decay ``byol_wd`` (1.5e-6), warm-up then cosine.
"""

from __future__ import annotations

from typing import Any

from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
from torch import Tensor, nn

from .moco import MomentumResNet


class BYOL(MomentumResNet):
    """BYOL: the online predictor regresses the target projection of the other crop."""

    name = "byol"
    prefix = "byol"

    def __init__(self, section: Any, *, init: str = "scratch", batch_size: int | None = None):
        super().__init__(section, init=init, batch_size=batch_size)
        self.prediction_head = BYOLPredictionHead(self.proj_out, self.proj_hidden, self.proj_out)
        self.criterion = NegativeCosineSimilarity()

    def make_projector(self) -> nn.Module:
        return BYOLProjectionHead(self.feat_dim, self.proj_hidden, self.proj_out)

    def student_modules(self) -> list[nn.Module]:
        return [self.backbone, self.projection_head, self.prediction_head]

    def forward(self, views: list[Tensor], masks: Tensor | None = None, *, step: int = 0,
                total: int = 1) -> tuple[Tensor, dict[str, Any]]:
        import torch

        x = torch.cat(views[:2])
        p = self.prediction_head(self.online(x))
        z = self.target(x)
        p0, p1 = p.float().chunk(2)
        z0, z1 = z.float().chunk(2)
        loss = 2.0 + (self.criterion(p0, z1) + self.criterion(p1, z0))  # = mean(2 - 2 cos), symmetrised
        return loss, {}
