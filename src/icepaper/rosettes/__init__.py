"""Ko 2024's rosette chapter (notebook 08): synthetic 3-D bullet rosettes (``meshes``), their
2-D projections (``projection``), the datasets built from them (``datasets``), feature and image
models on one and two views (``shape_models``), the VAE latent spaces (``vae``) and the chapter's
figures (``plots``); ``vae_inputs`` keeps the VAE training images on disk. The published
numbers and orderings are in ``icepaper.papers.ko2024``.

Notebook 08 uses the names re-exported here: ``from icepaper import rosettes``.
"""

from .datasets import rosette_dataset, spheres_and_rosettes
from .plots import (
    confusion_panels,
    prediction_scatter,
    property_distributions,
    rosette_gallery,
    umap_panels,
    vae_2d_figure,
)
from .shape_models import (
    best_result,
    no_model_result,
    results_table,
    run_feature_models,
    train_image_model,
    view_feature_table,
    view_settings,
)
from .vae import (
    balanced_indices,
    conv_vae,
    decode_grid,
    domain_gap,
    encode,
    encode_images,
    kmeans_scores,
    prepare_images,
    resnet_vae,
    train_vae,
    umap_2d,
)
from .vae_inputs import prepared_images

__all__ = [
    "no_model_result",
    "balanced_indices", "best_result", "confusion_panels", "conv_vae", "decode_grid", "domain_gap",
    "encode", "encode_images", "kmeans_scores", "prediction_scatter", "prepare_images", "prepared_images",
    "property_distributions",
    "resnet_vae", "results_table", "rosette_dataset", "rosette_gallery", "run_feature_models",
    "spheres_and_rosettes", "train_image_model", "train_vae", "umap_2d", "umap_panels",
    "vae_2d_figure", "view_feature_table", "view_settings",
]
