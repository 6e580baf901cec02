"""Self-supervised pretraining (notebook 03): timm backbones (``backbones``), the methods
(``ibot`` with its vMF variant ``vmf``, ``moco``, ``byol`` on ``base``), multi-crop data
(``data``), the trainer (``trainer``, ``ddp``), the cached entry point ``pretrain.pretrained``,
the held-out loss (``heldout``), the kNN check (``knn``, ``embedding``), label-free
representation health (``health``: RankMe, dim std, alignment, uniformity) and the run report
(``report``).

Notebook 03 uses ``from icepaper.ssl import pretrain, report, heldout_losses``. The names are
imported on first use, so that ``python -m icepaper.ssl.pretrain`` (what ``torchrun`` runs)
finds ``icepaper.ssl.pretrain`` not yet imported and runs it once, as ``__main__``.
"""

from __future__ import annotations

import importlib

__all__ = ["health", "heldout_losses", "pretrain", "report"]


def __getattr__(name: str):
    if name == "heldout_losses":
        from .heldout import heldout_losses

        return heldout_losses
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
