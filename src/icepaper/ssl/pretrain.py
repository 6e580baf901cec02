"""Pretrain (or load from the cache) the SSL networks the notebooks need.

``pretrained(cfg, ds, "ibot_vmf" | "ibot" | "moco" | "byol", indices=..., init=..., steps=...)``
trains on rows ``indices`` of ``ds`` (no labels are used) with the profile's ``pretrain``
sizes and returns a :class:`PretrainResult`. The default rows are
:func:`icepaper.data.splits.pretrain_indices`: every image outside the ``test`` split and
outside the campaign the label-budget study (notebook 06) keeps unseen, so one pretraining
set serves notebooks 03-07 and neither the final probe's test images nor the unseen campaign
reach a pretraining batch. Results are cached by (dataset fingerprint, method, profile
``pretrain`` section, crop sizes, init, hash of the row indices actually trained on, steps,
seed): a rerun loads them, and a change of the default set trains anew. An interrupted run resumes from its work folder
(``<cache>/pretrain-work/<key>``) on the next call with the same arguments.

Multi-GPU: ``torchrun --nproc_per_node=N -m icepaper.ssl.pretrain --method ibot_vmf
--profile paper`` (see :func:`main`); every process trains its share of each global batch
and rank 0 writes the checkpoint and the cache entry.

``knn_check(cfg, ds, backbone, n_images)`` / ``knn_hits(...)``: weighted kNN accuracy (cosine, k=20, T=0.07)
of a backbone's embeddings, fit on labelled ``train`` images and scored on labelled ``val``
images (both inside the default pretraining set: never ``test``, never the unseen campaign),
to compare with a random-init network and to choose profile settings;
``knn_unavailable(ds)`` says why a dataset does not allow it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from icepaper.core import paths
from icepaper.core.atomic import atomic_write_json
from icepaper.core.cache import cache_path, cached_dir
from icepaper.core.profiles import cache_values

from . import ddp
from .backbones import create_backbone, export_backbone, load_backbone
from .base import SSLMethod
from .data import MultiCropDataset
from .trainer import CHECKPOINT, LOG, TrainSpec, load_checkpoint, train

METHODS = ("ibot_vmf", "ibot", "moco", "byol")
ENGINE_VERSION = 4  # bump when a change makes old checkpoints non-comparable (2: exact DDP centering, small-grid masks; 3: constant MoCo momentum; 4: no weight decay on vMF prototype norms)


@dataclass
class PretrainResult:
    """One pretraining run: where its files are, its log and its cost.

    ``flops_proxy`` = images seen x sum over the crops of an image of (crop side in px)^2,
    i.e. input pixels pushed through the student; its ratio between two runs of the same
    architecture is the "compute relative to the from-scratch run" the notebooks report.
    ``images_per_sec`` counts every crop.
    """

    method: str
    checkpoint: Path
    backbone: Path
    log: pd.DataFrame
    steps: int
    images_seen: int
    crops_seen: int
    seconds: float
    images_per_sec: float
    final_loss: float
    flops_proxy: float
    folder: Path
    finished: bool = True
    config: dict[str, Any] = field(default_factory=dict)

    def load_backbone(self, device: str = "cpu") -> nn.Module:
        """The exported backbone (timm model, eval mode)."""
        return load_backbone(self.backbone, device=device)

    def relative_compute(self, reference: PretrainResult) -> float:
        """This run's compute as a fraction of ``reference``'s (``flops_proxy`` ratio)."""
        return float(self.flops_proxy / max(reference.flops_proxy, 1.0))

    def summary(self) -> dict[str, Any]:
        """JSON-friendly headline numbers of the run (files relative to ``ICEPAPER_HOME``)."""
        return {"method": self.method, "steps": self.steps, "images_seen": self.images_seen,
                "crops_seen": self.crops_seen, "seconds": round(self.seconds, 2),
                "images_per_sec": round(self.images_per_sec, 2), "final_loss": self.final_loss,
                "flops_proxy": self.flops_proxy, "checkpoint": _home_relative(self.checkpoint),
                "backbone": _home_relative(self.backbone)}


def _home_relative(path) -> str:
    """``path`` relative to the data home when it lies inside it (no local absolute path in a
    committed notebook), else as is."""
    try:
        return Path(path).resolve().relative_to(paths.data_home().resolve()).as_posix()
    except ValueError:
        return str(path)


# -- building blocks ------------------------------------------------------------------------
def _pretrain_section(cfg) -> Mapping[str, Any]:
    return cfg.profile.pretrain


def crop_sizes(cfg, method: str) -> dict[str, int]:
    """Crop sizes of ``method``'s recipe: ``global_size``, ``local_size``, ``n_local``.

    iBOT: global crops at the ViT's ``vit_img_size``, local crops at ``vit_local_size``,
    ``n_local`` local crops; MoCo/BYOL: two crops at ``resnet_img_size``.
    """
    s = _pretrain_section(cfg)
    if method.startswith("ibot"):
        return {"global_size": int(s["vit_img_size"]), "local_size": int(s["vit_local_size"]),
                "n_local": int(s["n_local"])}
    g = int(s["resnet_img_size"])
    return {"global_size": g, "local_size": g, "n_local": 0}


def build_method(cfg, method: str, init: str | Path = "scratch") -> SSLMethod:
    """The SSL method module (networks, EMA copies, losses) at the profile's sizes."""
    s = _pretrain_section(cfg)
    if method in ("ibot_vmf", "ibot"):
        from .ibot import IBOT

        return IBOT(s, vmf=method == "ibot_vmf", init=str(init))
    if method == "moco":
        from .moco import MoCo

        return MoCo(s, init=str(init))
    if method == "byol":
        from .byol import BYOL

        return BYOL(s, init=str(init))
    raise ValueError(f"unknown SSL method {method!r}; choose one of {METHODS}")


def build_recipe(cfg, method: str):
    """The augmentation recipe of ``method`` (icepaper.augment) at its crop sizes."""
    from icepaper import augment

    name = "ibot_cpi" if method.startswith("ibot") else "cssl"
    return augment.build_recipe(name, crop_sizes(cfg, method), in_chans=1)


def default_indices(ds) -> np.ndarray:
    """The rows a pretraining run trains on when given none: ``data.splits.pretrain_indices``
    (not ``test``, not the label-budget study's unseen campaign)."""
    from icepaper.data.splits import pretrain_indices

    return pretrain_indices(ds)


def _indices_hash(indices) -> str:
    arr = np.ascontiguousarray(np.asarray(indices, dtype=np.int64))
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16]


def _init_key(init: str | Path) -> str:
    init = str(init)
    if init in ("scratch", "imagenet"):
        if init == "imagenet":
            import os

            from .backbones import ENV_WEIGHTS

            return f"imagenet:{os.environ.get(ENV_WEIGHTS, '')}"
        return init
    p = Path(init).expanduser().resolve()
    f = p / "backbone.safetensors" if p.is_dir() else p
    if not f.exists():
        raise FileNotFoundError(f"init checkpoint {p} does not exist")
    st = f.stat()
    return f"{f}:{st.st_size}:{st.st_mtime_ns}"


#: The ``pretrain`` key that holds each method's training length.
STEPS_KEY = {"ibot_vmf": "steps", "ibot": "steps", "moco": "moco_steps", "byol": "resnet_steps"}


def default_steps(cfg, method: str) -> int:
    """The profile's training length of ``method``: ``steps`` (iBOT), ``moco_steps`` (MoCo)
    or ``resnet_steps`` (BYOL)."""
    if method not in STEPS_KEY:
        raise ValueError(f"unknown SSL method {method!r}; choose one of {METHODS}")
    return int(_pretrain_section(cfg)[STEPS_KEY[method]])


def cache_key(cfg, ds, method: str, *, indices=None, init="scratch", steps: int | None = None) -> dict:
    """The configuration that identifies one pretraining run in the cache (``indices`` None:
    :func:`default_indices`, hashed like any other row set)."""
    s = cache_values(_pretrain_section(cfg), "pretrain")
    indices = default_indices(ds) if indices is None else indices
    return {
        "kind": "pretrain", "engine": ENGINE_VERSION, "method": method,
        "dataset": ds.fingerprint, "pretrain": s, "crops": crop_sizes(cfg, method),
        "init": _init_key(init), "indices": _indices_hash(indices),
        "steps": int(steps if steps is not None else default_steps(cfg, method)), "seed": int(cfg.seed),
    }


def _flops_proxy(sizes: dict[str, int], method: str, images: int) -> float:
    if method.startswith("ibot"):
        px = 2 * sizes["global_size"] ** 2 + sizes["n_local"] * sizes["local_size"] ** 2
    else:
        px = 2 * sizes["global_size"] ** 2
    return float(images) * px


# -- the public entry point -------------------------------------------------------------------
def pretrained(cfg, ds, method: str, *, indices=None, init: str | Path = "scratch",
               steps: int | None = None, tag: str = "", log_every: int | None = None,
               stop_at: int | None = None, progress: bool = True) -> PretrainResult:
    """Train ``method`` on ``ds`` rows ``indices`` (or load the cached run); see module doc.

    ``indices`` None: :func:`default_indices` (every image outside the ``test`` split and
    outside the unseen campaign of notebook 06).

    ``steps`` defaults to :func:`default_steps`; ``init`` is 'scratch',
    'imagenet' or a checkpoint/backbone path; ``tag`` names the progress bar;
    ``stop_at`` stops after that many steps (a resumable partial run, ``finished=False``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown SSL method {method!r}; choose one of {METHODS}")
    s = _pretrain_section(cfg)
    steps = int(steps if steps is not None else default_steps(cfg, method))
    rows = default_indices(ds) if indices is None else np.asarray(indices, dtype=np.int64)
    key = cache_key(cfg, ds, method, indices=rows, init=init, steps=steps)
    final = cache_path("pretrain", key)
    if (final / "key.json").exists():
        return _load_result(final)

    device = ddp.init_from_env(cfg.device)
    batch = int(s["batch_size"])
    torch.manual_seed(int(cfg.seed))  # identical initial weights on every process
    m = build_method(cfg, method, init)
    dataset = MultiCropDataset(ds, rows, build_recipe(cfg, method), seed=int(cfg.seed),
                               global_batch=batch, n_global=m.n_global,
                               mask_grid=m.mask_grid if method.startswith("ibot") else None)
    every = int(log_every or max(1, steps // 200))
    spec = TrainSpec(steps=steps, batch_size=batch, seed=int(cfg.seed),
                     ckpt_every=max(1, steps // 10), ckpt_minutes=float(s.get("checkpoint_minutes", 0)),
                     log_every=every, num_workers=int(s["num_workers"]), device=device,
                     progress=progress, desc=f"{method}{' ' + tag if tag else ''}",
                     tensorboard_dir=_tensorboard_run_dir(s, method, final.name))
    work = paths.cache_dir() / "pretrain-work" / final.name
    out = train(m, dataset, spec, work, stop_at=stop_at)
    sizes = crop_sizes(cfg, method)
    meta = {"method": method, "tag": tag, "steps": out.step, "images_seen": out.images_seen,
            "crops_seen": out.crops_seen, "seconds": out.seconds,
            "flops_proxy": _flops_proxy(sizes, method, out.images_seen), "finished": out.finished,
            "key": key}
    if not out.finished:
        if ddp.is_main():
            export_backbone(m.export_model(), work / "backbone.safetensors")
            atomic_write_json(work / "result.json", meta)
        ddp.barrier()
        return _load_result(work, finished=False)

    def build(tmp: Path) -> None:
        shutil.copy2(work / CHECKPOINT, tmp / "checkpoint.pt")
        shutil.copy2(work / LOG, tmp / LOG)
        export_backbone(m.export_model(), tmp / "backbone.safetensors")
        atomic_write_json(tmp / "result.json", meta)

    if ddp.is_main():
        cached_dir("pretrain", key, build)
        shutil.rmtree(work, ignore_errors=True)
    ddp.barrier()
    return _load_result(final)


def _tensorboard_run_dir(section, method: str, key_hash: str) -> str:
    """``<tensorboard folder>/<method>-<run key>`` when TensorBoard logging is on, else ""."""
    from .tblog import tensorboard_dir

    root = tensorboard_dir(section)
    return str(Path(root) / f"{method}-{key_hash}") if root else ""


def _load_result(folder: Path, finished: bool = True) -> PretrainResult:
    meta = json.loads((folder / "result.json").read_text())
    log = pd.read_csv(folder / LOG) if (folder / LOG).exists() else pd.DataFrame()
    ckpt = folder / ("checkpoint.pt" if finished else CHECKPOINT)
    if not len(log):
        final_loss = float("nan")
    else:
        tail = max(1, len(log) // 20)  # mean of the last 5 % of logged steps
        final_loss = float(log["loss"].iloc[-tail:].mean())
    secs = float(meta["seconds"])
    return PretrainResult(
        method=meta["method"], checkpoint=ckpt, backbone=folder / "backbone.safetensors", log=log,
        steps=int(meta["steps"]), images_seen=int(meta["images_seen"]),
        crops_seen=int(meta["crops_seen"]), seconds=secs,
        images_per_sec=float(meta["crops_seen"]) / max(secs, 1e-9), final_loss=final_loss,
        flops_proxy=float(meta["flops_proxy"]), folder=folder, finished=finished,
        config=meta.get("key", {}),
    )


def resume_state(result: PretrainResult) -> dict[str, Any]:
    """The full training state saved with a run (model incl. EMA, optimiser, log)."""
    return load_checkpoint(result.checkpoint)


# -- quick kNN check ---------------------------------------------------------------------------
def _label_scheme(ds) -> str | None:
    from icepaper.data.packed import LABEL_SCHEMES

    if ds.has_labels("cpi"):
        return "cpi"
    for s in LABEL_SCHEMES:
        if ds.has_labels(s):
            return s
    return None


def backbone_input_size(backbone: nn.Module, default: int = 224) -> int:
    """Input side (px) a backbone was trained at (ViT: its img_size; else ``default``)."""
    meta = getattr(backbone, "icepaper_timm", {}) or {}
    return int(meta.get("kwargs", {}).get("img_size") or meta.get("input_size") or default)


def eval_size(cfg, backbone: nn.Module) -> int:
    """Side (px) the quick checks embed whole images at: a ViT's ``img_size``, else the
    profile's ``vit_img_size`` (ViT) or ``resnet_img_size`` (any other backbone)."""
    s = _pretrain_section(cfg)
    arch_vit = "vit" in (getattr(backbone, "icepaper_timm", {}) or {}).get("model_name", "vit")
    return backbone_input_size(backbone, int(s["vit_img_size" if arch_vit else "resnet_img_size"]))


def knn_subset(ds, n_images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Seeded labelled (fit_rows, score_rows, scheme) of the quick check, or None.

    Fit rows: up to ``n_images`` labelled ``train`` images; score rows: up to ``n_images/2``
    labelled ``val`` images; both drawn from :func:`default_indices`, so the check never sees a
    ``test`` image or the unseen campaign. Without labelled ``val`` images a seeded fifth of
    the labelled train images is scored instead (and left out of the fit rows).
    """
    scheme = _label_scheme(ds)
    if scheme is None:
        return None
    lab = ds.labels(scheme).notna().to_numpy()
    allowed = np.intersect1d(default_indices(ds), np.flatnonzero(lab))
    tr = np.intersect1d(ds.indices("train"), allowed)
    va = np.intersect1d(ds.indices("val"), allowed)
    rng = np.random.default_rng(seed)
    if not len(va) and len(tr) >= 2:
        va = np.sort(rng.choice(tr, max(1, len(tr) // 5), replace=False))
        tr = np.setdiff1d(tr, va)
    if not len(tr) or not len(va):
        return None
    tr = np.sort(rng.choice(tr, min(len(tr), n_images), replace=False))
    va = np.sort(rng.choice(va, min(len(va), max(n_images // 2, 1)), replace=False))
    return tr, va, scheme


def knn_unavailable(ds) -> str:
    """Why the kNN check cannot run on ``ds`` ("" when it can): no class labels, labels in one
    class only, or fewer than two labelled ``train``/``val`` images outside the test split and
    the unseen campaign."""
    scheme = _label_scheme(ds)
    if scheme is None:
        return "no class labels"
    lab = ds.labels(scheme)
    if lab.nunique() < 2:
        return f"one {scheme} class only"
    if knn_subset(ds, 2) is None:
        return f"fewer than two labelled train/val images outside the test split ({scheme})"
    return ""


def knn_check(cfg, ds, backbone: nn.Module | str | Path | PretrainResult, n_images: int | None = None,
              *, size: int | None = None) -> float:
    """Weighted kNN accuracy (cosine, k=20, T=0.07) of ``backbone`` embeddings, in [0, 1]
    (the mean of :func:`knn_hits`); NaN when ``ds`` has no labels."""
    hits = knn_hits(cfg, ds, backbone, n_images, size=size)
    return float(hits.mean()) if len(hits) else float("nan")


def knn_hits(cfg, ds, backbone: nn.Module | str | Path | PretrainResult, n_images: int | None = None,
             *, size: int | None = None) -> np.ndarray:
    """Per-image correctness (bool) of the weighted kNN check on its scored (``val``) images,
    for paired comparisons.

    Fits on up to ``n_images`` labelled ``train`` rows and scores on up to ``n_images/2``
    labelled ``val`` rows (:func:`knn_subset`: never ``test``, never the unseen campaign), in
    scheme ``cpi`` when labelled, else the first labelled scheme; the rows depend only on the
    seed, so every backbone is scored on the same images. Empty when ``ds`` has no labels.
    """
    if isinstance(backbone, PretrainResult):
        backbone = backbone.load_backbone(cfg.device)
    elif isinstance(backbone, (str, Path)):
        backbone = load_backbone(backbone, cfg.device)
    n_images = int(n_images or cfg.profile.pretrain["knn_images"])
    sub = knn_subset(ds, n_images, seed=int(cfg.seed))
    if sub is None:
        return np.zeros(0, dtype=bool)
    tr, te, scheme = sub  # te: the scored (val) rows
    y = ds.labels(scheme).to_numpy()
    size = eval_size(cfg, backbone) if size is None else size
    bs = int(cfg.profile.embed["batch_size"])
    from .embedding import embed_array
    from .knn import knn_classify

    e_tr = embed_array(backbone, ds, tr, size=size, batch_size=bs, device=cfg.device)
    e_te = embed_array(backbone, ds, te, size=size, batch_size=bs, device=cfg.device)
    pred = np.asarray(knn_classify(e_tr, y[tr], e_te, k=20, temperature=0.07))
    return pred == y[te]


def random_backbone(cfg, arch: str, seed: int | None = None) -> nn.Module:
    """A random-init backbone of the profile's architecture (the kNN check's reference)."""
    torch.manual_seed(int(cfg.seed if seed is None else seed))
    return create_backbone(cfg, arch, "scratch").eval()


# -- torchrun entry point ----------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """``torchrun --nproc_per_node=N -m icepaper.ssl.pretrain --method ibot_vmf --profile paper``."""
    import argparse

    from icepaper.core.config import setup
    from icepaper.core.profiles import dry_run_profile
    from icepaper.data import load_dataset

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--method", choices=METHODS, default="ibot_vmf")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--dry-run", action="store_true",
                    help="the profile's dry-run variant (--profile paper --dry-run = --profile paper-dry)")
    for flag, kind, default in (("--seed", int, 0), ("--data", str, ""), ("--init", str, "scratch"), ("--steps", int, None)):
        ap.add_argument(flag, type=kind, default=default)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="--set pretrain.steps=9")
    a = ap.parse_args(argv)
    profile = dry_run_profile(a.profile) if a.dry_run else a.profile
    cfg = setup("03_pretraining", profile=profile, seed=a.seed, data=a.data, overrides=a.set)
    ds = load_dataset(cfg)
    res = pretrained(cfg, ds, a.method, init=a.init, steps=a.steps)
    if ddp.is_main():
        print(json.dumps(res.summary(), indent=2))


if __name__ == "__main__":
    main()
