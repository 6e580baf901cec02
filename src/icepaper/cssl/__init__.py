"""Chu et al. 2025's label-budget study: contrastive semi-supervised learning (CSSL) vs supervised.

Modules: ``splits`` (folds, nested budgets), ``labelcost`` (labelling time, DOA, knee),
``heads`` (the 3-layer MLP head on cached features), ``finetune`` (encoder + head on
images), ``encoders`` (MoCo/BYOL from notebook 03, the baseline), ``tasks`` (schemes,
pools, unseen campaign), ``study`` (the run), ``results`` (its tables and summaries),
``metrics`` (merged confusion views, precision/recall, class separation), ``plots`` (the
paper's figures). The paper's findings checked against ours: ``icepaper.papers.chu2025``.

Notebook 06 uses ``from icepaper import cssl`` and ``from icepaper.cssl import plots``.
"""

from . import plots
from .encoders import MODEL_LABELS, MODELS, Encoder, encoder_features, study_encoders
from .labelcost import (
                        decreased_accuracy,
                        is_complex,
                        knee_index,
                        labelling_seconds,
                        process_group,
                        time_saved_hours,
)
from .metrics import view_problem
from .results import StudyResult
from .splits import budget_list, nested_order, nested_subsets, stratified_folds
from .study import run_study
from .tasks import Task, labelled_schemes, plan_table, plan_tasks, sparse_classes, study_tasks

__all__ = [
    "MODELS", "MODEL_LABELS", "Encoder", "StudyResult", "Task", "budget_list", "decreased_accuracy",
    "encoder_features", "is_complex", "knee_index", "labelled_schemes", "labelling_seconds", "nested_order", "nested_subsets",
    "plan_table", "plan_tasks", "process_group", "run_study", "sparse_classes", "stratified_folds", "study_encoders",
    "study_tasks", "time_saved_hours", "plots", "view_problem",
]
