"""Seed 003's rosette chapter (notebook 08): synthetic 3-D bullet rosettes (``meshes``), their
2-D projections and features (``projection``), the datasets built from them (``datasets``),
random forests and shape models on one and two views (``shape_models``), the VAE latent spaces
(``vae``) and the chapter's figures (``plots``).
"""
