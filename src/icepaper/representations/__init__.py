"""Seed 000's representation chapter (notebooks 04, 05, 07): backbones (``backbones``), cached
embeddings (``embed``), latent-space hierarchical curation (``curation``), kNN and
logistic-regression probes (``probes``), the 13 geometric features (``features``) and 2-D maps
of embeddings (``maps``).
"""
