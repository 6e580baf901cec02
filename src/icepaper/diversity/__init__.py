"""Ko et al. 2025's habit-diversity chapter (notebook 07): the vMF concentration kappa (``kappa``), its
validation on planted structure (``kappa_validation``, ``planted``), kappa vs temperature, size
and campaign (``trends``), anomaly and label-noise discovery (``anomaly``) and the chapter's
figures (``plots``). The sentences that compare our trends with the paper's are in
``icepaper.papers.ko2025``.

Notebook 07 uses the names re-exported here: ``from icepaper import diversity``.
"""

from .anomaly import (
    ImageStack,
    detection_metrics,
    discover_rare,
    discovery_sentence,
    gallery,
    mislabel_scores,
    mislabel_sentence,
)
from .kappa_validation import validation_grid, validation_sentence, validation_summary
from .planted import choose_rare_habit, flip_labels, inject_rare_habit
from .plots import plot_class_similarity, plot_kappa_entropy, plot_trends, plot_validation
from .trends import (
    analyse_diversity,
    analysis_rows,
    class_similarity,
    diversity_backbone,
    jsonable,
    n_pseudo_habits,
    particle_size,
    pick_label_scheme,
    pseudo_habits,
    random_init_backbone,
    summary_table,
    trend_strength,
)

__all__ = [
    "ImageStack", "analyse_diversity", "analysis_rows", "choose_rare_habit", "class_similarity",
    "detection_metrics", "discover_rare", "discovery_sentence", "diversity_backbone", "flip_labels",
    "gallery", "inject_rare_habit", "jsonable", "mislabel_scores", "mislabel_sentence",
    "n_pseudo_habits", "particle_size", "pick_label_scheme", "plot_class_similarity",
    "plot_kappa_entropy", "plot_trends", "plot_validation", "pseudo_habits", "random_init_backbone",
    "summary_table", "trend_strength", "validation_grid", "validation_sentence", "validation_summary",
]
