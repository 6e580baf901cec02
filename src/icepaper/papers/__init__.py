"""The three works this repository reproduces, one module each: the paper's published numbers,
its claims checked against ours, and the orchestration that combines the chapters the way the
paper does.

``ko2025``  Ko et al. 2025: iBOT-vMF, latent curation, probes, habit diversity
            (notebooks 03, 04, 05, 07).
``chu2025`` Chu et al. 2025: contrastive semi-supervised label-budget study (notebook 06).
``ko2024``  Ko 2024: bullet rosettes, one vs two views, VAEs (notebook 08).

No notebook types a paper number: it reads it from here.
"""

from . import chu2025, ko2024, ko2025

__all__ = ["chu2025", "ko2024", "ko2025"]
