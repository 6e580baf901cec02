"""Self-supervised pretraining (notebook 03): timm backbones (``backbones``), the methods
(``ibot`` with its vMF variant ``vmf``, ``moco``, ``byol`` on ``base``), multi-crop data
(``data``), the trainer (``trainer``, ``ddp``), the cached entry point ``pretrain.pretrained``,
the held-out loss (``heldout``), the kNN check (``knn``, ``embedding``), label-free
representation health (``health``: RankMe, dim std, alignment, uniformity) and the run report
(``report``).

Notebook 03 uses ``from icepaper.ssl import pretrain, report, heldout_losses``.
"""

from . import health, pretrain, report
from .heldout import heldout_losses

__all__ = ["health", "heldout_losses", "pretrain", "report"]
