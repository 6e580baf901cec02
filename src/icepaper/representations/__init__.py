"""Ko et al. 2025's representation chapter (notebooks 04, 05, 07): cached embeddings of a dataset by a
backbone (``embed``), the reference backbones (``reference``), hierarchical k-means
(``kmeans``) and latent-space curation (``curation``), kNN and logistic-regression probes and
the geometric baseline (``probes``), the 13 geometric features (``features``), 2-D maps of
embeddings (``maps``) and the interactive map with thumbnails and cluster galleries (``explorer``). Backbones themselves are built in ``icepaper.ssl.backbones``;
``check_features`` (from ``icepaper.ssl.health``) says in one line whether the features a
notebook is handed are collapsed.

Notebooks use ``from icepaper.representations import curation, probes, embeddings_for, pick_scheme``.
"""

from icepaper.ssl.health import check_features

from . import curation, probes
from .embed import embeddings_for
from .probes import pick_scheme
from .reference import reference_backbone

__all__ = ["check_features", "curation", "embeddings_for", "pick_scheme", "probes", "reference_backbone"]
