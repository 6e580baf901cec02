"""Augmentation recipes of the papers for grey particle images, and the figures and measurements of
notebook 02 (02_augmentations.ipynb); ``icepaper.ssl.pretrain`` builds its training views with
``build_recipe``, ``representations.embed`` and the probes use ``eval_transform``.

Modules: ``recipes`` (the recipes, ``build_recipe``, ``eval_transform``; its docstring describes
every recipe), ``ops`` (the image ops and conversions), ``shape`` (particle aspect ratios and how
recipes change them), ``examples`` (example particles of a kind), ``figures`` (step-by-step and
view figures), ``comparison`` (the papers' settings beside ours).
"""

from .comparison import paper_comparison
from .examples import SHAPE_FALLBACK, pick_examples, pick_particles
from .figures import plot_recipe_pair, plot_steps, plot_views, step_by_step
from .ops import (
    SOLARIZE_THRESHOLD,
    RandomSigmaBlur,
    RotateOnBackground,
    Step,
    View,
    to_pil,
    to_uint8_tensor,
)
from .recipes import (
    BYOL_SOLARIZE_P,
    CPI_CROP_RATIO,
    CSSL_CROP_SCALE,
    CSSL_RESIZE_FACTOR,
    GREY_NORMALIZE,
    IBOT_DEFAULTS,
    IMAGENET_CROP_RATIO,
    LUMA_WEIGHTS,
    MOCO_DEFAULTS,
    RECIPES,
    EvalTransform,
    Recipe,
    build_recipe,
    eval_transform,
)
from .shape import aspect_ratio_change, aspect_ratio_table, particle_aspect_ratio, particle_stats

__all__ = [
    "BYOL_SOLARIZE_P", "CPI_CROP_RATIO", "CSSL_CROP_SCALE", "CSSL_RESIZE_FACTOR", "GREY_NORMALIZE", "IBOT_DEFAULTS",
    "IMAGENET_CROP_RATIO", "LUMA_WEIGHTS", "MOCO_DEFAULTS", "RECIPES", "SHAPE_FALLBACK", "SOLARIZE_THRESHOLD",
    "EvalTransform", "RandomSigmaBlur", "Recipe", "RotateOnBackground", "Step", "View", "aspect_ratio_change",
    "aspect_ratio_table", "build_recipe", "eval_transform", "paper_comparison", "particle_aspect_ratio",
    "particle_stats", "pick_examples", "pick_particles", "plot_recipe_pair", "plot_steps", "plot_views",
    "step_by_step", "to_pil", "to_uint8_tensor",
]
