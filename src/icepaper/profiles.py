"""Run profiles: the one place where sizes are set.

A profile changes sizes (numbers of images, steps, folds, model widths), never code
paths. ``smoke`` is the CI profile (all notebooks in minutes on 2 CPU cores),
``default`` is what ``make paper`` runs on a laptop CPU (all notebooks in at most
40 minutes), ``paper`` is the papers' scale on a GPU.

Each notebook reads its own section (``profile.data``, ``profile.pretrain`` ...).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

_SMOKE: dict[str, dict[str, Any]] = {
    "data": {
        "n_images": 2400,  # synthetic particles in the default dataset
        "image_size": 64,  # stored px (square, letterboxed); the imaging model runs at 2.3 um/px
        "n_sheet_particles": 24,  # particles on the synthetic CPI sheet of notebook 01
        "gallery_per_class": 4,
    },
    "augment": {"global_size": 64, "local_size": 32, "n_local": 2},
    "pretrain": {
        "vit": "vit_tiny_patch16_224",
        "vit_img_size": 64,
        "vit_patch": 8,
        "vit_depth": 2,
        "vit_embed_dim": 96,
        "vit_heads": 3,
        "head_hidden": 256,
        "head_bottleneck": 64,
        "n_prototypes": 256,
        "resnet": "resnet18",
        "resnet_img_size": 64,
        "proj_hidden": 512,
        "proj_out": 64,
        "batch_size": 32,
        "steps": 12,
        "warmup_steps": 2,
        "short_steps": 4,
        "moco_queue": 256,
        "knn_images": 600,
        "num_workers": 0,
    },
    "embed": {"batch_size": 128},
    "curation": {"levels": 2, "k": [24, 6], "resampling_steps": 2, "sample_frac": 1 / 3},
    "probes": {"knn_k": 20, "knn_temperature": 0.07, "logreg_C": [0.1, 1.0]},
    "cssl": {
        "budgets": [128, 256],
        "folds": 2,
        "finetune": "head",
        "epochs": 3,
        "batch_size": 64,
        "max_seconds": 90,
    },
    "kappa": {"n_boot": 50, "min_n": 30, "equal_n": 60},
    "rosettes": {
        "n_rosettes": 240,
        "image_size": 64,
        "cnn_epochs": 2,
        "resnet_epochs": 1,
        "vae_images_per_class": 100,
        "vae_epochs": 5,
        "resvae_epochs": 2,
        "resvae_size": 64,
    },
}

_DEFAULT: dict[str, dict[str, Any]] = {
    "data": {"n_images": 24000, "image_size": 96, "n_sheet_particles": 60, "gallery_per_class": 6},
    "augment": {"global_size": 96, "local_size": 48, "n_local": 4},
    "pretrain": {
        "vit": "vit_small_patch16_224",
        "vit_img_size": 96,
        "vit_patch": 12,
        "vit_depth": 6,
        "vit_embed_dim": 192,
        "vit_heads": 3,
        "head_hidden": 1024,
        "head_bottleneck": 128,
        "n_prototypes": 1024,
        "resnet": "resnet18",
        "resnet_img_size": 96,
        "proj_hidden": 2048,
        "proj_out": 128,
        "batch_size": 64,
        "steps": 600,
        "warmup_steps": 60,
        "short_steps": 120,
        "moco_queue": 4096,
        "knn_images": 4000,
        "num_workers": 2,
    },
    "embed": {"batch_size": 256},
    "curation": {"levels": 2, "k": [200, 30], "resampling_steps": 3, "sample_frac": 1 / 3},
    "probes": {"knn_k": 20, "knn_temperature": 0.07, "logreg_C": [0.01, 0.1, 1.0, 10.0]},
    "cssl": {
        "budgets": "doubling",
        "folds": 5,
        "finetune": "head+last",
        "epochs": 6,
        "batch_size": 128,
        "max_seconds": 600,
    },
    "kappa": {"n_boot": 300, "min_n": 50, "equal_n": 300},
    "rosettes": {
        "n_rosettes": 6000,
        "image_size": 96,
        "cnn_epochs": 8,
        "resnet_epochs": 6,
        "vae_images_per_class": 100,
        "vae_epochs": 60,
        "resvae_epochs": 10,
        "resvae_size": 64,
    },
}

_PAPER: dict[str, dict[str, Any]] = {
    "data": {"n_images": 3_200_000, "image_size": 224, "n_sheet_particles": 60, "gallery_per_class": 8},
    "augment": {"global_size": 224, "local_size": 96, "n_local": 10},
    "pretrain": {
        "vit": "vit_small_patch16_224",
        "vit_img_size": 224,
        "vit_patch": 16,
        "vit_depth": 12,
        "vit_embed_dim": 384,
        "vit_heads": 6,
        "head_hidden": 2048,
        "head_bottleneck": 256,
        "n_prototypes": 8192,
        "resnet": "resnet50",
        "resnet_img_size": 224,
        "proj_hidden": 4096,
        "proj_out": 256,
        "batch_size": 1024,
        "steps": 312_500,  # 100 epochs of CPI-3M at batch 1024
        "warmup_steps": 31_250,
        "short_steps": 11_700,  # 10 epochs of CPI-H-1M at batch 1024
        "moco_queue": 65536,
        "knn_images": 20000,
        "num_workers": 12,
    },
    "embed": {"batch_size": 1024},
    "curation": {"levels": 3, "k": [20000, 1000, 100], "resampling_steps": 10, "sample_frac": 0.375},
    "probes": {"knn_k": 20, "knn_temperature": 0.07, "logreg_C": [0.001, 0.01, 0.1, 1.0, 10.0]},
    "cssl": {
        "budgets": "doubling",
        "folds": 5,
        "finetune": "all",
        "epochs": 100,
        "batch_size": 256,
        "max_seconds": None,
    },
    "kappa": {"n_boot": 1000, "min_n": 100, "equal_n": 2000},
    "rosettes": {
        "n_rosettes": 70000,
        "image_size": 128,
        "cnn_epochs": 50,
        "resnet_epochs": 50,
        "vae_images_per_class": 100,
        "vae_epochs": 200,
        "resvae_epochs": 100,
        "resvae_size": 128,
    },
}

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": _SMOKE,
    "default": _DEFAULT,
    "paper": _PAPER,
}

COST = {
    "smoke": "all notebooks in about 10 minutes on a 2-core CPU (the CI profile)",
    "default": "all notebooks in at most 40 minutes on a 2-core CPU (what `make paper` runs)",
    "paper": "the papers' scale; needs a GPU node (days of CPU time otherwise)",
}


class Section(Mapping):
    """A read-only mapping whose keys are also attributes (``profile.data.n_images``)."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__["_values"] = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("profile sections are read-only; change sizes in profiles.py")

    def __repr__(self) -> str:
        return f"Section({self._values!r})"


class Profile:
    """The sizes of one named profile, by section (``Profile('smoke').pretrain.steps``)."""

    def __init__(self, name: str):
        if name not in PROFILES:
            raise ValueError(
                f"unknown profile {name!r}; valid profiles are: {', '.join(PROFILES)}"
            )
        self.name = name
        self._sections = {k: Section(copy.deepcopy(v)) for k, v in PROFILES[name].items()}

    def __getattr__(self, section: str) -> Section:
        try:
            return self.__dict__["_sections"][section]
        except KeyError:
            raise AttributeError(f"profile has no section {section!r}") from None

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict of every section (for results JSON and cache keys)."""
        return {k: dict(v) for k, v in self._sections.items()}

    def __repr__(self) -> str:
        return f"Profile({self.name!r})"


def get_profile(name: str) -> Profile:
    """Return the named profile, or raise ValueError listing the valid names."""
    return Profile(name)
