"""Ko et al. 2025's representation chapter (notebooks 04, 05, 07): cached embeddings of a dataset by a
backbone (``embed``), the reference backbones (``reference``), hierarchical k-means
(``kmeans``) and latent-space curation (``curation``), kNN and logistic-regression probes and
the geometric baseline (``probes``), label-free health (RankMe, dim std) beside the probes'
accuracies (``health_probes``), the 13 geometric features (``features``), 2-D maps of
embeddings (``maps``) and the interactive map with thumbnails and cluster galleries (``explorer``). Backbones themselves are built in ``icepaper.ssl.backbones``;
``check_features`` (from ``icepaper.ssl.health``) says in one line whether the features a
notebook is handed are collapsed.

Notebooks use ``from icepaper.representations import curation, probes, embeddings_for, pick_scheme``.
The names are imported on first use, so that ``probes`` or ``embed`` alone need no k-means
library (faiss, which ``curation`` needs).
"""

from __future__ import annotations

import importlib

__all__ = ["check_features", "curation", "embeddings_for", "health_probes", "pick_scheme", "probes",
           "reference_backbone"]

_FROM = {"check_features": "icepaper.ssl.health", "embeddings_for": ".embed", "pick_scheme": ".probes",
         "reference_backbone": ".reference"}


def __getattr__(name: str):
    if name in _FROM:
        return getattr(importlib.import_module(_FROM[name], __name__), name)
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
