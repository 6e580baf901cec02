"""The three encoders of the label-budget study and their cached features.

* ``moco`` / ``byol``: the online encoders of notebook 03's MoCo v2 and BYOL runs
  (``icepaper.ssl.pretrain.pretrained``; cached by configuration, so running notebook 03
  first makes them free here), transferred to the downstream network (Chu et al. 2025 Table 4:
  Semisup-MoCo, Semisup-BYOL).
* ``supervised``: the baseline, the same architecture with a generic initialisation:
  ImageNet weights when a local weights file is given (``ICEPAPER_IMAGENET_WEIGHTS``, see
  ``icepaper.ssl.backbones``), else a random (timm) initialisation drawn from the run's seed. The
  paper's baseline started from ImageNet MoCo weights (IM1K-Unsup-MoCo). It is trained **end to
  end** (encoder and head, ``Encoder.end_to_end``) on each run's labelled budget, whatever
  ``cssl.finetune`` says for the CSSL rows, with its own schedule and input size
  (``cssl.baseline_*``: on the CPU profiles fewer steps and a smaller image than the paper's).

``encoder_features(cfg, enc, ds, rows)`` returns the (n, d) float16 pooled features of
``rows`` through the evaluation transform (resize + normalise), cached by (encoder
identity, dataset fingerprint, rows, image size): with a frozen encoder they are extracted
once and every head of every fold and budget trains on them. They come back as a read-only
memory map of the cache file (extraction writes them batch by batch), so memory does not
grow with the number of rows; the heads convert the rows they use to float32.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

MODELS = ("moco", "byol", "supervised")
MODEL_LABELS = {"moco": "Semisup-MoCo", "byol": "Semisup-BYOL", "supervised": "Baseline (sup)"}
MAJORITY, MAJORITY_LABEL = "majority", "Majority class"  # the no-feature reference row (not a model)
FEATURES_VERSION = 1


@dataclass
class Encoder:
    """One encoder: ``make()`` builds a fresh copy (timm, ``num_classes=0``) on the CPU."""

    name: str
    label: str
    init: str  # what the weights are, in words
    identity: dict[str, Any]  # what identifies its weights (cache keys)
    size: int  # input side in px
    make: Callable[[], nn.Module]
    end_to_end: bool = False  # True: every weight trains on the labelled budget (the supervised baseline)


def _rows_hash(rows) -> str:
    arr = np.ascontiguousarray(np.asarray(rows, dtype=np.int64))
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16]


def pretrained_encoder(cfg, ds, method: str, indices=None) -> Encoder:
    """The encoder of notebook 03's ``method`` run ('moco' or 'byol'), trained if not cached."""
    from icepaper.representations.embed import file_hash
    from icepaper.ssl.backbones import load_backbone
    from icepaper.ssl.pretrain import pretrained

    res = pretrained(cfg, ds, method, indices=indices)
    path = Path(res.backbone)
    return Encoder(
        name=method, label=MODEL_LABELS[method],
        init=f"{'BYOL' if method == 'byol' else 'MoCo v2'} pretraining on the pretraining set (no test images, not the unseen campaign), labels unused "
             f"({res.steps} steps, notebook 03)",
        identity={"kind": method, "backbone": file_hash(path)},
        size=int(cfg.profile.pretrain["resnet_img_size"]),
        make=lambda: load_backbone(path, device="cpu"),
    )


def baseline_encoder(cfg) -> Encoder:
    """The supervised baseline's encoder: ImageNet weights from a local file, else random init;
    trained end to end at ``cssl.baseline_img_size`` px."""
    import timm
    import torch

    from icepaper.ssl.backbones import arch_name, create_backbone, imagenet_weights_file

    name = arch_name(cfg, "resnet")
    wfile = imagenet_weights_file(name)
    seed = int(cfg.seed)
    if wfile is not None:
        init, ident = "ImageNet weights (local file)", {"kind": "imagenet", "file": str(wfile), "arch": name}

        def make() -> nn.Module:
            return create_backbone(cfg, "resnet", "imagenet")
    else:
        init = f"random initialisation (timm {name}, seed {seed}); no ImageNet weights file given"
        ident = {"kind": "scratch", "arch": name, "seed": seed, "timm": timm.__version__}

        def make() -> nn.Module:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return create_backbone(cfg, "resnet", "scratch")
    size = int(cfg.profile.cssl["baseline_img_size"])
    init += f"; trained end to end on each labelled budget at {size} px"
    return Encoder("supervised", MODEL_LABELS["supervised"], init, ident, size, make, end_to_end=True)


def study_encoders(cfg, ds, models=MODELS, pretrain_indices=None) -> dict[str, Encoder]:
    """The encoders named in ``models`` (pretraining runs come from notebook 03's cache)."""
    out = {}
    for m in models:
        if m == "supervised":
            out[m] = baseline_encoder(cfg)
        elif m in ("moco", "byol"):
            out[m] = pretrained_encoder(cfg, ds, m, indices=pretrain_indices)
        else:
            raise ValueError(f"unknown model {m!r}; choose from {MODELS}")
    return out


def encoder_features(cfg, enc: Encoder, ds, rows, progress: bool = False) -> np.ndarray:
    """(len(rows), d) float16 features of ``ds`` rows under the frozen encoder (cached; a
    read-only memory map: index it, then convert the rows used, as ``heads.train_head`` does)."""
    from icepaper.representations.embed import cached_extraction

    rows = np.asarray(rows, dtype=np.int64)
    key = {"kind": "cssl-features", "version": FEATURES_VERSION, "encoder": enc.identity,
           "dataset": ds.fingerprint, "rows": _rows_hash(rows), "n": len(rows), "size": enc.size}

    def make():
        model = enc.make()
        if cfg.device == "cpu":
            import torch

            model = model.to(memory_format=torch.channels_last)  # ~2x faster convolutions on CPU
        return model

    return cached_extraction(cfg, "cssl-features", key, make, ds, rows, size=enc.size, progress=progress)
