"""The reference backbones every comparison needs, exported once to the cache: a random-init
ViT of the profile (seeded) and the ImageNet ViT (from a local weights file only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from icepaper.core.cache import cached_dir
from icepaper.core.profiles import cache_values
from icepaper.ssl.backbones import create_backbone, export_backbone, imagenet_weights

from .embed import file_hash

REFERENCES = ("random", "imagenet")


def reference_backbone(cfg, which: str) -> Path | None:
    """Exported backbone (.safetensors) of a reference network, cached: ``"random"`` (random-init
    ViT of the profile, seeded with ``cfg.seed``) or ``"imagenet"`` (ImageNet weights from a local
    file; None without one). Building it leaves the global torch RNG untouched."""
    if which not in REFERENCES:
        raise ValueError(f"which must be 'random' or 'imagenet', got {which!r}")
    key: dict[str, Any] = {"which": which, "pretrain": cache_values(cfg.profile.pretrain, "pretrain"),
                           "seed": int(cfg.seed)}
    if which == "imagenet":
        w = imagenet_weights(cfg)
        if w is None:
            return None
        key["weights"] = file_hash(w)

    def build(tmp: Path) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(cfg.seed))
            model = create_backbone(cfg, "vit", "scratch" if which == "random" else "imagenet")
            export_backbone(model.eval(), tmp / "backbone.safetensors")

    return cached_dir("backbone-reference", key, build) / "backbone.safetensors"
