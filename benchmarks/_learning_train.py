"""Training for the learning-curve benchmark: one run per method, paused at wall-time marks.

Every method trains through the package's one loop (``icepaper.ssl.trainer.train``) with the
profile's recipe, as notebook 03 does through ``icepaper.ssl.pretrain``: the SSL methods on
the pretraining rows (``pretrain.default_indices``, no labels), the supervised ceiling on the
labelled ``train`` rows of the probe scheme with cross-entropy.

``run_to_marks`` plans the run for the largest budget: it measures seconds per step on a
throw-away copy (:func:`calibrate`), sets the run's length (and so its warm-up + cosine
schedules) to the steps that fill the largest budget, and trains in chunks (the trainer's
``stop_at``, an exact resume) that end when the trainer's own clock (wall time of the
training steps, data loading included; evaluation and checkpoint writing excluded) crosses
each mark. Points before the last are therefore mid-schedule (learning rate not yet annealed):
an "anytime" curve of one run, which can understate what a run planned for that budget reaches.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from icepaper.ssl.base import SSLMethod, decay_groups
from icepaper.ssl.data import MultiCropDataset
from icepaper.ssl.schedules import warmup_cosine
from icepaper.ssl.trainer import TrainSpec, train

SSL_METHODS = ("ibot_vmf", "ibot", "moco", "byol")
SUPERVISED = {"supervised": "resnet", "supervised_vit": "vit"}
METHODS = SSL_METHODS + tuple(SUPERVISED)
LABELS = {"ibot_vmf": "iBOT-vMF (ViT)", "ibot": "plain iBOT (ViT)", "moco": "MoCo v2 (ResNet)",
          "byol": "BYOL (ResNet)", "supervised": "supervised (ResNet)", "supervised_vit": "supervised (ViT)",
          "features": "13 geometric features"}


def arch_of(method: str) -> str:
    """'vit' (iBOT, supervised_vit) or 'resnet' (MoCo, BYOL, supervised)."""
    return SUPERVISED.get(method, "vit" if method.startswith("ibot") else "resnet")


# -- the supervised ceiling as a method of the one training loop --------------------------------
class Supervised(SSLMethod):
    """Backbone + linear classifier trained with cross-entropy on labelled crops.

    ResNet: SGD (Nesterov) with the package's supervised-baseline values (``cssl.baseline_lr``,
    ``cssl.momentum``, ``cssl.weight_decay``, notebook 06); ViT: AdamW at iBOT's lr per image
    (``pretrain.ibot_lr`` x batch/256), weight decay 0.05. Both: linear warm-up over
    ``pretrain.warmup_steps``, cosine to 0. Not tuned: the ceiling is a reference, not a bound.
    """

    n_global = 1
    recipe = "finetune"

    def __init__(self, pretrain: Any, cssl: Any, arch: str, n_classes: int):
        from icepaper.ssl.backbones import create_backbone, embed_dim

        super().__init__()
        self.arch = arch
        self.name = "supervised" if arch == "resnet" else "supervised_vit"
        self.backbone = create_backbone(pretrain, arch, "scratch")
        self.head = nn.Linear(embed_dim(self.backbone), int(n_classes))
        batch = int(pretrain["batch_size"])
        if arch == "resnet":
            self.lr, self.momentum, self.wd = (float(cssl["baseline_lr"]), float(cssl["momentum"]),
                                               float(cssl["weight_decay"]))
        else:
            self.lr, self.momentum, self.wd = float(pretrain["ibot_lr"]) * batch / 256, 0.0, 0.05
        self.warmup_steps = int(pretrain["warmup_steps"])
        self.clip_grad = 0.0
        self.criterion = nn.CrossEntropyLoss()

    def schedule(self, step: int, total: int) -> dict[str, float]:
        lr = warmup_cosine(step, max(total, 1), self.lr, min(self.warmup_steps, total))
        return {"lr": float(lr), "weight_decay": self.wd, "momentum": float("nan")}

    def make_optimizer(self) -> torch.optim.Optimizer:
        groups = decay_groups(self.student_modules(), self.wd)
        for g in groups:
            g["scheduled_wd"] = False
        if self.arch == "resnet":
            return torch.optim.SGD(groups, lr=self.lr, momentum=self.momentum, nesterov=True)
        return torch.optim.AdamW(groups, lr=self.lr)

    @torch.no_grad()
    def momentum_update(self, m: float) -> None:
        """No EMA network."""

    def export_model(self) -> nn.Module:
        return self.backbone

    def student_modules(self) -> list[nn.Module]:
        return [self.backbone, self.head]

    def forward(self, views: list[torch.Tensor], labels: torch.Tensor | None, *, step: int = 0,
                total: int = 1) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.head(self.backbone(views[0]))
        loss = self.criterion(logits.float(), labels)
        return loss, {"train_acc": float((logits.argmax(1) == labels).float().mean())}


class LabelledCrops(MultiCropDataset):
    """One augmented crop per image and its class index, addressed by ``(step, slot)`` like the
    SSL crops. The class index travels in the loader's mask slot: one (1,) tensor per image,
    which ``icepaper.ssl.data.collate`` stacks into the batch's (B,) label tensor."""

    def __init__(self, ds, indices, recipe, *, y: np.ndarray, seed: int, global_batch: int):
        super().__init__(ds, indices, recipe, seed=seed, global_batch=global_batch, n_global=1)
        self.y = np.asarray(y, dtype=np.int64)

    def __getitem__(self, key):
        views, _ = super().__getitem__(key)
        return views, torch.tensor([self.y[self.row(*key)]])


# -- building one run ---------------------------------------------------------------------------
@dataclass
class Job:
    """What one run trains: the method object, its data, and a factory for a fresh copy."""

    method: SSLMethod
    dataset: MultiCropDataset
    rows: int  # training images
    build: Callable[[], SSLMethod]


def build_job(cfg, ds, method: str, *, scheme: str, train_rows: np.ndarray, y: np.ndarray) -> Job:
    """The method at the profile's sizes and its crops, initialised from ``cfg.seed`` as in
    ``icepaper.ssl.pretrain.pretrained``. ``train_rows`` / ``y`` (class index per dataset row,
    -1 unlabelled) are used by the supervised methods only."""
    from icepaper import augment
    from icepaper.ssl import pretrain

    s = cfg.profile.pretrain
    batch = int(s["batch_size"])
    seed = int(cfg.seed)
    if method in SSL_METHODS:
        def build() -> SSLMethod:
            torch.manual_seed(seed)
            return pretrain.build_method(cfg, method)

        m = build()
        rows = pretrain.default_indices(ds)
        data = MultiCropDataset(ds, rows, pretrain.build_recipe(cfg, method), seed=seed, global_batch=batch,
                                n_global=m.n_global, mask_grid=m.mask_grid if method.startswith("ibot") else None)
        return Job(m, data, len(rows), build)
    if method not in SUPERVISED:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    arch = SUPERVISED[method]
    n_classes = int(y.max()) + 1

    def build() -> SSLMethod:
        torch.manual_seed(seed)
        return Supervised(s, cfg.profile.cssl, arch, n_classes)

    size = int(s["resnet_img_size" if arch == "resnet" else "vit_img_size"])
    recipe = augment.build_recipe("finetune", {"global_size": size, "local_size": size, "n_local": 0}, in_chans=1)
    data = LabelledCrops(ds, train_rows, recipe, y=y, seed=seed, global_batch=batch)
    return Job(build(), data, len(train_rows), build)


def _spec(cfg, steps: int, workers: int | None) -> TrainSpec:
    s = cfg.profile.pretrain
    return TrainSpec(steps=int(steps), batch_size=int(s["batch_size"]), seed=int(cfg.seed), ckpt_every=0,
                     ckpt_minutes=0.0, log_every=max(1, int(steps) // 200),
                     num_workers=int(s["num_workers"] if workers is None else workers), device=cfg.device,
                     progress=False)


def calibrate(cfg, job: Job, workdir: Path, steps: int = 8, workers: int | None = None) -> float:
    """Seconds per training step of ``job``'s method, from the trainer's log over steps 2..steps+1
    of a fresh copy (step 1, with the loader's start, is left out); the copy is thrown away."""
    m = job.build()
    spec = _spec(cfg, steps + 1, workers)
    spec.log_every = 1
    shutil.rmtree(workdir, ignore_errors=True)
    out = train(m, job.dataset, spec, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    sec = out.log.set_index("step")["seconds"]
    return float(sec.loc[steps + 1] - sec.loc[1]) / steps


@dataclass
class MarkPoint:
    """Where a run stood when it crossed a mark: training steps, images and wall seconds."""

    mark_min: float
    step: int
    images_seen: int
    seconds: float
    loss: float


def run_to_marks(cfg, job: Job, marks_min: list[float], sec_per_step: float, workdir: Path,
                 workers: int | None = None) -> Iterator[MarkPoint]:
    """Train ``job`` for ceil(max(marks) x 60 / sec_per_step) steps, yielding a :class:`MarkPoint`
    when the trainer's clock crosses each mark (minutes), with the method's weights as they are
    then (the caller evaluates before asking for the next mark). Each mark is met at the nearest
    step boundary (at least one step in all); if the run ends (all steps done) before a mark,
    that mark gets the final state at its actual time."""
    total = max(1, int(np.ceil(max(marks_min) * 60.0 / sec_per_step)))
    spec = _spec(cfg, total, workers)
    shutil.rmtree(workdir, ignore_errors=True)
    step, elapsed, loss = 0, 0.0, float("nan")
    batch = spec.batch_size
    for mark in sorted(marks_min):
        target = 60.0 * mark
        while step < total:
            sps = elapsed / step if step else sec_per_step
            left = target - elapsed
            if left < 0.5 * sps and step:  # the nearest step boundary; every run takes one step
                break
            out = train(job.method, job.dataset, spec, workdir, stop_at=min(total, step + max(1, round(left / sps))))
            step, elapsed = out.step, out.seconds
            if len(out.log):
                loss = float(out.log["loss"].iloc[-1])
        yield MarkPoint(float(mark), step, step * batch, elapsed, loss)
    shutil.rmtree(workdir, ignore_errors=True)


def timed(fn, *a, **k) -> tuple[Any, float]:
    """(fn(*a, **k), wall seconds it took)."""
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0
