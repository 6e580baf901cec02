"""Augmentation recipes of the papers, for grey particle images.

``build_recipe(name, sizes)`` returns a :class:`Recipe`: called on one image it returns the
list of augmented views the SSL methods train on. Recipes (``RECIPES``):

``ibot_cpi`` (seed 000)
    iBOT multi-crop (2 global crops, scale 0.25-1, plus ``n_local`` local crops, scale
    0.05-0.25) with the paper's three domain changes: no saturation/hue jitter (the images
    are monochrome), random vertical flips (a crystal has no "up"), and a narrower crop
    aspect-ratio range so a needle stays a needle. The paper gives no number for the range;
    we use ``CPI_CROP_RATIO`` = (0.9, 1/0.9) [default]: log-symmetric like torchvision's
    (3/4, 4/3), so a crop stretches a particle by at most ~11 % instead of ~33 %.
``ibot_imagenet``
    The original iBOT/DINO recipe with lightly's ``IBOTTransform`` defaults (jitter
    brightness/contrast/saturation/hue 0.4/0.4/0.2/0.1 with p 0.8, grayscale p 0.2, blur
    p 1.0/0.1/0.5, solarise p 0.2 on the second global crop, horizontal flips only, crop
    ratio 3/4-4/3), for contrast. Saturation, hue and grayscale are kept in the pipeline
    and in ``params`` but are identities on a one-channel image (torchvision returns a
    one-channel image unchanged; they would be no-ops on an RGB copy of a grey image
    too, since grey has zero saturation); torchvision still draws their random factors.
``cssl`` (seed 002 upstream, Sect. 3.1 and Fig. 3)
    resize (256/224 of the output size), random crop of 60-100 % of the area resized to the
    output size, colour jitter, Gaussian blur, solarise, horizontal *or* vertical flip,
    rotation by U(0, 180) deg; two views. The paper gives no probabilities or strengths; we
    use lightly's MoCo v2 jitter (p 0.8, brightness/contrast/saturation 0.4, no hue since
    the paper lists none) and blur (p 0.5), BYOL's solarise probability (0.2), flips with
    p 0.5, and always rotate [default].
``finetune`` (seed 002 downstream)
    resize, random crop of 60-100 % of the area, horizontal or vertical flip; one view.

Grey images: the backbones use a one-channel stem (timm ``in_chans=1``, which adapts
ImageNet weights by summing the RGB filters), so recipes output one channel by default and
normalise with ``GREY_NORMALIZE``: ImageNet's per-channel mean and std weighted by the
ITU-R 601 luminance weights (0.299, 0.587, 0.114), i.e. mean 0.4590, std 0.2256 (the std
is exact if the channels were perfectly correlated). With summed filters a normalised
grey input then gives the same first-layer response as feeding an ImageNet model the grey
image as RGB, up to the small spread of ImageNet's channel statistics. ``in_chans=3``
repeats the grey channel and uses ImageNet's RGB statistics.

Determinism: every random draw comes from torch's global RNG (torchvision v2 transforms
and our two small ops, ``RandomSigmaBlur`` and ``RotateOnBackground``), so
``torch.manual_seed(s)`` before a call reproduces the views, also inside DataLoader workers
(which torch seeds per worker). lightly's ``GaussianBlur`` and ``RandomSolarization`` draw
from numpy's global RNG instead, so we use torchvision's solarise and an OpenCV blur whose
sigma torch draws, with lightly's parameters. Blur sigmas (0.1-2 px at the papers' 224/96
px crops) are scaled by view size / paper view size, so the blur is the same fraction of
the particle at every profile.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torchvision.transforms.v2 as T
from lightly.transforms import IBOTTransform, MoCoV2Transform
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image

RECIPES = ("ibot_cpi", "ibot_imagenet", "cssl", "finetune")

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601
GREY_NORMALIZE = {
    "mean": [round(sum(w * m for w, m in zip(LUMA_WEIGHTS, IMAGENET_NORMALIZE["mean"])), 4)],
    "std": [round(sum(w * s for w, s in zip(LUMA_WEIGHTS, IMAGENET_NORMALIZE["std"])), 4)],
}
CPI_CROP_RATIO = (0.9, 1 / 0.9)  # [default] seed 000 narrows the range but gives no number
IMAGENET_CROP_RATIO = (3 / 4, 4 / 3)  # torchvision's RandomResizedCrop default
CSSL_CROP_SCALE = (0.6, 1.0)  # seed 002: 60-100 % of the area keeps aggregates aggregates
CSSL_RESIZE_FACTOR = 256 / 224  # seed 002: resize to 256, crop to 224
SOLARIZE_THRESHOLD = 128  # uint8 grey levels, as PIL/lightly

# The original iBOT recipe as lightly implements it (IBOTTransform's defaults).
IBOT_DEFAULTS: dict[str, Any] = {
    k: v.default for k, v in inspect.signature(IBOTTransform.__init__).parameters.items() if k != "self"
}
MOCO_DEFAULTS: dict[str, Any] = {
    k: v.default for k, v in inspect.signature(MoCoV2Transform.__init__).parameters.items() if k != "self"
}
BYOL_SOLARIZE_P = 0.2  # lightly's BYOLView2Transform solarization_prob


# --------------------------------------------------------------------------- building blocks


@dataclass
class Step:
    """One named transform of a view: ``op`` always acts; the step applies it with probability ``p``.

    ``op`` maps a (1, H, W) uint8 tensor to a uint8 tensor; its own randomness (crop box,
    jitter factors, sigma, angle) comes from torch's RNG. ``kind`` is "geometric" or
    "photometric"; ``params`` is a JSON-able description.
    """

    name: str
    label: str
    op: Callable[[torch.Tensor], torch.Tensor]
    p: float = 1.0
    kind: str = "photometric"
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.p >= 1.0 or float(torch.rand(())) < self.p:
            return self.op(x)
        return x

    def describe(self) -> dict[str, Any]:
        return {"step": self.name, "p": self.p, "kind": self.kind, **_jsonable(self.params)}


@dataclass
class View:
    """The chain of steps that makes one view (e.g. ``global_1``) of ``size`` x ``size`` px."""

    name: str
    size: int
    steps: list[Step]

    def augment(self, x: torch.Tensor, geometric_only: bool = False) -> torch.Tensor:
        """Apply the steps (or only the geometric ones) to a (1, H, W) uint8 tensor."""
        for s in self.steps:
            if geometric_only and s.kind != "geometric":
                continue
            x = s(x)
        return x


class RotateOnBackground:
    """Rotate by an angle drawn uniformly from ``degrees`` (deg, counter-clockwise), filling the
    exposed corners with the image's background level (median of its border pixels, grey
    levels) instead of black, which would look like a dark particle. Bilinear, via OpenCV:
    torchvision's filled rotation leaves dark seams along the corner edges on uint8 images."""

    def __init__(self, degrees: tuple[float, float] = (0.0, 180.0)):
        self.degrees = (float(degrees[0]), float(degrees[1]))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import cv2

        angle = float(torch.empty(()).uniform_(*self.degrees))
        a = x[0].contiguous().numpy()
        fill = float(np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])))
        h, w = a.shape
        rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
        out = cv2.warpAffine(a, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=fill)
        return torch.from_numpy(out).unsqueeze(0)


class RandomSigmaBlur:
    """Gaussian blur with sigma ~ U(``sigmas``) (px) drawn from torch's RNG, as lightly's
    ``GaussianBlur`` (which draws from numpy's RNG). Runs OpenCV's separable blur with a
    kernel covering +-3 sigma: on small grey crops it is ~10x faster than torchvision's
    conv2d blur, which matters for data-loading throughput."""

    def __init__(self, sigmas: tuple[float, float]):
        self.sigmas = (float(sigmas[0]), float(sigmas[1]))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import cv2

        sigma = float(torch.empty(()).uniform_(*self.sigmas))
        k = max(3, 2 * math.ceil(3 * sigma) + 1)
        a = x[0].contiguous().numpy()
        out = cv2.GaussianBlur(a, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
        return torch.from_numpy(out).unsqueeze(0)


def _crop(size: int, scale, ratio) -> Step:
    op = T.RandomResizedCrop(size, scale=tuple(scale), ratio=tuple(ratio),
                             interpolation=T.InterpolationMode.BICUBIC, antialias=True)
    return Step("random_resized_crop", f"crop {scale[0]:.0%}-{scale[1]:.0%} of area", op, 1.0, "geometric",
                {"size": size, "scale": scale, "ratio": ratio, "interpolation": "bicubic"})


def _resize(size: int) -> Step:
    op = T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC, antialias=True)
    return Step("resize", f"resize to {size} px", op, 1.0, "geometric", {"size": size})


def _hflip(p: float) -> Step:
    return Step("horizontal_flip", "horizontal flip", T.RandomHorizontalFlip(p=1.0), p, "geometric")


def _vflip(p: float) -> Step:
    return Step("vertical_flip", "vertical flip", T.RandomVerticalFlip(p=1.0), p, "geometric")


def _hv_flip(p: float) -> Step:
    op = T.RandomChoice([T.RandomHorizontalFlip(p=1.0), T.RandomVerticalFlip(p=1.0)])
    return Step("horizontal_or_vertical_flip", "flip (H or V)", op, p, "geometric",
                {"choice": ["horizontal", "vertical"]})


def _rotate(degrees=(0.0, 180.0)) -> Step:
    return Step("rotation", f"rotate {degrees[0]:.0f}-{degrees[1]:.0f} deg", RotateOnBackground(degrees), 1.0,
                "geometric", {"degrees": degrees, "fill": "border median", "interpolation": "bilinear"})


def _jitter(p: float, brightness: float, contrast: float, saturation: float = 0.0, hue: float = 0.0) -> Step:
    op = T.ColorJitter(brightness=brightness, contrast=contrast, saturation=saturation, hue=hue)
    params: dict[str, Any] = {"brightness": brightness, "contrast": contrast}
    if saturation or hue:
        params.update(saturation=saturation, hue=hue,
                      note="saturation and hue are identities on one-channel (grey) images")
    return Step("colour_jitter", "colour jitter", op, p, "photometric", params)


def _grayscale(p: float) -> Step:
    return Step("grayscale", "grayscale", T.Grayscale(num_output_channels=1), p, "photometric",
                {"note": "identity on grey images"})


def _blur(p: float, sigmas, scale: float) -> Step:
    lo, hi = sigmas[0] * scale, sigmas[1] * scale
    return Step("gaussian_blur", "Gaussian blur", RandomSigmaBlur((lo, hi)), p, "photometric",
                {"sigma_px": [lo, hi], "kernel": "+-3 sigma", "paper_sigma_px": list(sigmas)})


def _solarize(p: float) -> Step:
    op = T.RandomSolarize(threshold=SOLARIZE_THRESHOLD, p=1.0)
    return Step("solarize", "solarise", op, p, "photometric", {"threshold": SOLARIZE_THRESHOLD})


# --------------------------------------------------------------------------- recipes


class Recipe:
    """Named augmentation recipe: ``recipe(img) -> list`` of normalised (in_chans, H, W) float32 views.

    Views are ordered globals first (``n_global`` of them), then locals. ``params`` is a
    JSON-able description of every parameter (for results JSONs).
    """

    def __init__(self, name: str, views: Sequence[View], n_global: int, in_chans: int = 1,
                 notes: Sequence[str] = ()):
        if in_chans not in (1, 3):
            raise ValueError(f"in_chans must be 1 (grey stem) or 3 (RGB stem), got {in_chans}")
        self.name = name
        self.views = list(views)
        self.n_global = n_global
        self.in_chans = in_chans
        self.notes = list(notes)
        self.normalize = _normalize_stats(in_chans)
        self._mean = torch.tensor(self.normalize["mean"]).view(-1, 1, 1)
        self._std = torch.tensor(self.normalize["std"]).view(-1, 1, 1)

    @property
    def n_views(self) -> int:
        return len(self.views)

    @property
    def n_local(self) -> int:
        return self.n_views - self.n_global

    def __call__(self, img) -> list[torch.Tensor]:
        x = to_uint8_tensor(img)
        return [self.finish(v.augment(x)) for v in self.views]

    def views_uint8(self, img, geometric_only: bool = False) -> list[torch.Tensor]:
        """The views before normalisation, as (1, H, W) uint8 tensors (for figures and measurements)."""
        x = to_uint8_tensor(img)
        return [v.augment(x, geometric_only=geometric_only) for v in self.views]

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (..., 1, H, W) -> float32 in [0, 1], channels repeated to ``in_chans``, normalised."""
        y = x.to(torch.float32) / 255.0
        if self.in_chans == 3:
            y = y.expand(*y.shape[:-3], 3, *y.shape[-2:])
        return (y - self._mean) / self._std

    @property
    def params(self) -> dict[str, Any]:
        views: dict[str, Any] = {}
        for i, v in enumerate(self.views):
            key = v.name if i < self.n_global else "local"
            if key in views:
                views[key]["count"] += 1
                continue
            views[key] = {"size": v.size, "count": 1, "steps": [s.describe() for s in v.steps]}
        return _jsonable({
            "name": self.name,
            "n_views": self.n_views,
            "n_global": self.n_global,
            "n_local": self.n_local,
            "in_chans": self.in_chans,
            "normalize": self.normalize,
            "views": views,
            "notes": self.notes,
        })

    def __repr__(self) -> str:
        return f"Recipe({self.name!r}, n_global={self.n_global}, n_views={self.n_views}, in_chans={self.in_chans})"


def build_recipe(name: str, sizes: Mapping[str, Any], in_chans: int = 1) -> Recipe:
    """The named recipe at the profile's sizes (``cfg.profile.augment``: global_size, local_size,
    n_local, in px and counts). Raises ValueError listing the valid names for an unknown one."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown augmentation recipe {name!r}; valid recipes are: {', '.join(RECIPES)}")
    missing = [k for k in ("global_size", "local_size", "n_local") if k not in sizes]
    if missing:
        raise KeyError(f"augmentation sizes lack {missing}; pass cfg.profile.augment")
    return _BUILDERS[name](int(sizes["global_size"]), int(sizes["local_size"]), int(sizes["n_local"]), in_chans)


def _ibot(name: str, g: int, lsz: int, n_local: int, in_chans: int, cpi: bool) -> Recipe:
    d = IBOT_DEFAULTS
    ratio = CPI_CROP_RATIO if cpi else IMAGENET_CROP_RATIO
    bright, contrast = d["cj_strength"] * d["cj_bright"], d["cj_strength"] * d["cj_contrast"]
    sat, hue = d["cj_strength"] * d["cj_sat"], d["cj_strength"] * d["cj_hue"]

    def view(vname: str, size: int, ref: int, scale, blur_p: float, sol_p: float) -> View:
        steps = [_crop(size, scale, ratio), _hflip(d["hf_prob"])]
        if cpi:
            steps += [_vflip(0.5), _jitter(d["cj_prob"], bright, contrast)]
        else:
            steps += [_jitter(d["cj_prob"], bright, contrast, sat, hue), _grayscale(d["random_gray_scale"])]
        steps.append(_blur(blur_p, d["sigmas"], size / ref))
        if sol_p > 0:
            steps.append(_solarize(sol_p))
        return View(vname, size, steps)

    gs, ls = d["global_crop_scale"], d["local_crop_scale"]
    bp = d["gaussian_blur"]
    views = [view("global_1", g, d["global_crop_size"], gs, bp[0], 0.0),
             view("global_2", g, d["global_crop_size"], gs, bp[1], d["solarization_prob"])]
    views += [view(f"local_{i + 1}", lsz, d["local_crop_size"], ls, bp[2], 0.0) for i in range(n_local)]
    if cpi:
        notes = ["seed 000 domain changes: no saturation/hue jitter, random vertical flips (p 0.5), "
                 f"crop aspect ratio {ratio[0]:.3f}-{ratio[1]:.3f} instead of 3/4-4/3 [range is our default]",
                 "grayscale dropped (identity on grey images)"]
    else:
        notes = ["original iBOT recipe (lightly IBOTTransform defaults); saturation, hue and grayscale "
                 "are identities on grey images"]
    return Recipe(name, views, 2, in_chans, notes)


def _cssl(g: int, lsz: int, n_local: int, in_chans: int) -> Recipe:
    d = MOCO_DEFAULTS
    resize = round(g * CSSL_RESIZE_FACTOR)

    def view(vname: str) -> View:
        return View(vname, g, [
            _resize(resize),
            _crop(g, CSSL_CROP_SCALE, IMAGENET_CROP_RATIO),
            _jitter(d["cj_prob"], d["cj_strength"] * d["cj_bright"], d["cj_strength"] * d["cj_contrast"],
                    d["cj_strength"] * d["cj_sat"], 0.0),
            _blur(d["gaussian_blur"], d["sigmas"], g / 224),
            _solarize(BYOL_SOLARIZE_P),
            _hv_flip(0.5),
            _rotate((0.0, 180.0)),
        ])

    notes = ["seed 002 Sect. 3.1: resize 256, crop 60-100 % of the area to 224, colour jitter, blur, solarise, "
             "horizontal or vertical flip, rotation 0-180 deg; sizes scaled by global_size/224",
             "probabilities and strengths are not in the paper: lightly MoCo v2 jitter/blur, BYOL solarise "
             "probability, flip p 0.5, rotation always [default]",
             "crop aspect ratio 3/4-4/3 (torchvision default; the paper gives none)"]
    return Recipe("cssl", [view("view_1"), view("view_2")], 2, in_chans, notes)


def _finetune(g: int, lsz: int, n_local: int, in_chans: int) -> Recipe:
    v = View("view", g, [_resize(round(g * CSSL_RESIZE_FACTOR)), _crop(g, CSSL_CROP_SCALE, IMAGENET_CROP_RATIO),
                         _hv_flip(0.5)])
    notes = ["seed 002 fine-tuning: resize 256, crop 60-100 % of the area to 224, random flip; "
             "sizes scaled by global_size/224"]
    return Recipe("finetune", [v], 1, in_chans, notes)


_BUILDERS: dict[str, Callable[[int, int, int, int], Recipe]] = {
    "ibot_cpi": lambda g, lsz, n, c: _ibot("ibot_cpi", g, lsz, n, c, cpi=True),
    "ibot_imagenet": lambda g, lsz, n, c: _ibot("ibot_imagenet", g, lsz, n, c, cpi=False),
    "cssl": _cssl,
    "finetune": _finetune,
}


# --------------------------------------------------------------------------- evaluation transform


class EvalTransform:
    """Deterministic transform for embedding extraction: resize to ``size`` px (bicubic, no crop,
    since stored images are letterboxed squares holding the whole particle) and normalise.

    Accepts one image (PIL, (H, W) array/tensor, (1, H, W) tensor) -> (in_chans, size, size),
    or a batch (n, H, W) uint8 array/tensor -> (n, in_chans, size, size); float32.
    """

    def __init__(self, size: int, in_chans: int = 1):
        self.size = int(size)
        self.in_chans = in_chans
        self._finish = Recipe("eval", [], 0, in_chans).finish
        self._resize = T.Resize((self.size, self.size), interpolation=T.InterpolationMode.BICUBIC, antialias=True)

    def __call__(self, img) -> torch.Tensor:
        if isinstance(img, (np.ndarray, torch.Tensor)) and img.ndim == 3 and img.shape[0] != 1:
            x = torch.as_tensor(np.asarray(img) if isinstance(img, np.ndarray) else img)
            _check_uint8(x)
            x = x.unsqueeze(1)  # (n, 1, H, W)
        else:
            x = to_uint8_tensor(img)
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = self._resize(x)
        return self._finish(x)

    @property
    def params(self) -> dict[str, Any]:
        return {"size": self.size, "in_chans": self.in_chans, "resize": "bicubic, antialias, no crop",
                "normalize": _normalize_stats(self.in_chans)}


def eval_transform(size: int, in_chans: int = 1) -> EvalTransform:
    """Resize + normalise, no randomness (for embedding extraction and probes)."""
    return EvalTransform(size, in_chans)


# --------------------------------------------------------------------------- step by step and measurements


def step_by_step(img, name: str = "cssl", seed: int = 0, sizes: Mapping[str, Any] | None = None,
                 view: int | None = None) -> list[tuple[str, Image.Image]]:
    """Apply each transform of a recipe's view on top of the previous one (seed 002 Fig. 3).

    Every step is applied (its probability is ignored) so each panel shows its effect;
    its random parameters are drawn under ``seed`` without touching the global RNG state.
    ``sizes`` defaults to the image's own size for the global crop; ``view`` defaults to the
    recipe's view with most steps. Returns [("original", img), (step label, image), ...]:
    one image per step after the original.
    """
    pil = to_pil(img)
    if sizes is None:
        s = pil.size[0]
        sizes = {"global_size": s, "local_size": max(8, s // 2), "n_local": 1}
    recipe = build_recipe(name, sizes)
    v = recipe.views[view] if view is not None else max(recipe.views, key=lambda w: len(w.steps))
    out = [("original", pil)]
    with _seeded(seed):
        x = to_uint8_tensor(pil)
        for s in v.steps:
            x = s.op(x)
            out.append((s.label, to_pil(x)))
    return out


def particle_stats(img) -> tuple[float, float, bool]:
    """(aspect ratio, area fraction, cut) of the dark particle of a grey image.

    Aspect ratio = minor/major axis of the ellipse with the particle's second moments
    (science.md section 5's elliptical aspect ratio), weighted by darkness below the
    background level (median of the border pixels) so it does not depend on a threshold or
    on the magnification of a crop. The particle is the union of the connected regions darker
    than half its peak darkness that are at least 10 % the size of the largest (so specks
    and resampling seams elsewhere do not count); area fraction = its share of the image;
    cut = it touches the image border.
    (nan, 0, False) when the image holds no particle (contrast < 10 grey levels).
    """
    import cv2

    a = to_uint8_tensor(img)[0].numpy()
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    dark = np.clip(float(np.median(border)) - a.astype(np.float32), 0, None)
    peak = float(dark.max())
    if peak < 10:
        return float("nan"), 0.0, False
    # the particle: connected dark regions at least 10 % the size of the largest one
    n, lab, stats, _ = cv2.connectedComponentsWithStats((dark > 0.5 * peak).astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    mask = np.isin(lab, 1 + np.flatnonzero(areas >= 0.1 * areas.max()))
    cut = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    support = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    m = cv2.moments(np.where(support & (dark > 0.1 * peak), dark, 0).astype(np.float32))
    cov = np.array([[m["mu20"], m["mu11"]], [m["mu11"], m["mu02"]]]) / m["m00"]
    ev = np.linalg.eigvalsh(cov)
    ar = float(np.sqrt(max(ev[0], 0.0) / ev[1])) if ev[1] > 0 else float("nan")
    return ar, float(mask.mean()), cut


def particle_aspect_ratio(img, reject_cut: bool = False) -> float:
    """Minor/major axis ratio (<= 1) of the particle's moment ellipse (see ``particle_stats``);
    NaN when no particle is found or, with ``reject_cut``, when it touches the border."""
    ar, _, cut = particle_stats(img)
    return float("nan") if (reject_cut and cut) else ar


def aspect_ratio_change(recipe: Recipe, img, n_draws: int = 100, seed: int = 0,
                        views: str = "global") -> np.ndarray:
    """|log(aspect ratio of the particle in a view / in the original)| over ``n_draws`` calls,
    for the geometric steps only (crop, flips, rotation), for the global or local views.

    Only views that show the whole particle count (a cut particle changes its aspect ratio
    for another reason); the others are NaN. Larger = the recipe stretches shapes more."""
    ar0 = particle_aspect_ratio(img)
    sel = slice(0, recipe.n_global) if views == "global" else slice(recipe.n_global, None)
    out = []
    with _seeded(seed):
        x = to_uint8_tensor(img)
        for _ in range(n_draws):
            for v in recipe.views[sel]:
                ar = particle_aspect_ratio(v.augment(x, geometric_only=True), reject_cut=True)
                out.append(abs(math.log(ar / ar0)))
    return np.asarray(out, dtype=float)


def aspect_ratio_table(recipes: Mapping[str, Recipe], images: Sequence, n_draws: int = 100,
                       seed: int = 0, tolerance: float = 0.10):
    """Per recipe: how much its global crops change the aspect ratio of whole particles.

    Columns: views (measured), whole (fraction of views showing the whole particle),
    median_change and p90_change (|relative change| of the aspect ratio, e.g. 0.05 = 5 %),
    changed (fraction of whole-particle views changed by more than ``tolerance``)."""
    import pandas as pd

    rows = []
    for name, recipe in recipes.items():
        d = np.concatenate([aspect_ratio_change(recipe, im, n_draws, seed + k) for k, im in enumerate(images)])
        ok = d[np.isfinite(d)]
        rows.append({"recipe": name, "views": len(d), "whole": len(ok) / max(len(d), 1),
                     "median_change": float(np.expm1(np.median(ok))) if len(ok) else float("nan"),
                     "p90_change": float(np.expm1(np.percentile(ok, 90))) if len(ok) else float("nan"),
                     "changed": float(np.mean(ok > math.log1p(tolerance))) if len(ok) else float("nan")})
    return pd.DataFrame(rows).set_index("recipe")


def paper_comparison(sizes: Mapping[str, Any]):
    """Table of the papers' augmentation settings beside ours at these profile ``sizes``
    (columns recipe, setting, paper, ours; "not given" where the paper states no value)."""
    import pandas as pd

    g, lsz, n = int(sizes["global_size"]), int(sizes["local_size"]), int(sizes["n_local"])
    d = IBOT_DEFAULTS
    m = MOCO_DEFAULTS
    rows = [
        ("ibot_cpi / ibot_imagenet", "global crops (px x count)", "224 x 2", f"{g} x 2"),
        ("ibot_cpi / ibot_imagenet", "local crops (px x count)", "96 x 10", f"{lsz} x {n}"),
        ("ibot_cpi / ibot_imagenet", "crop area, global / local", "0.25-1 / 0.05-0.25",
         f"{d['global_crop_scale'][0]}-{d['global_crop_scale'][1]} / "
         f"{d['local_crop_scale'][0]}-{d['local_crop_scale'][1]}"),
        ("ibot_cpi", "crop aspect ratio", "narrower than 3/4-4/3 (not given)",
         f"{CPI_CROP_RATIO[0]:.2f}-{CPI_CROP_RATIO[1]:.2f}"),
        ("ibot_cpi", "saturation / hue jitter", "removed", "removed"),
        ("ibot_cpi", "vertical flip", "added (p not given)", "p 0.5"),
        ("ibot_imagenet", "crop aspect ratio", "3/4-4/3", "3/4-4/3"),
        ("cssl / finetune", "resize, then crop to (px)", "256 -> 224", f"{round(g * CSSL_RESIZE_FACTOR)} -> {g}"),
        ("cssl / finetune", "crop area", "60-100 %", f"{CSSL_CROP_SCALE[0]:.0%}-{CSSL_CROP_SCALE[1]:.0%}"),
        ("cssl", "jitter / blur / solarise probability", "not given",
         f"{m['cj_prob']} / {m['gaussian_blur']} / {BYOL_SOLARIZE_P}"),
        ("cssl", "flip", "horizontal or vertical", "horizontal or vertical, p 0.5"),
        ("cssl", "rotation (deg)", "0-180", "0-180, always"),
    ]
    return pd.DataFrame(rows, columns=["recipe", "setting", "paper", "ours"])


# --------------------------------------------------------------------------- example particles

_LABEL_COLUMNS = ("base_habit", "habit", "cpi", "habit19", "habit4", "oap")
_KIND_CHAIN = {
    "needle": ("needle", "column", "Column", "column_needle", "bullet_rosette"),
    "column": ("column", "Column", "column_needle", "needle"),
    "plate": ("plate", "stellar", "Plate", "planar_polycrystal"),
    "aggregate": ("Column_aggregate", "Plate_aggregate", "aggregate", "Irregular_aggregate"),
}
_ELONGATED = {"needle", "column", "Column", "column_needle"}
# what stands in for a kind in a dataset without its labels (chosen by shape, pick_particles)
SHAPE_FALLBACK = {"needle": "elongated", "column": "elongated", "plate": "compact", "aggregate": "irregular"}


def _label_mask(meta, name: str) -> np.ndarray:
    m = np.zeros(len(meta), dtype=bool)
    for col in _LABEL_COLUMNS:
        if col in meta.columns:
            m |= (meta[col].astype("string") == name).fillna(False).to_numpy(dtype=bool)
    if name == "aggregate" and "aggregate" in meta.columns:
        m |= _flag(meta, "aggregate")
    return m


def _flag(meta, col: str) -> np.ndarray:
    """A yes/no metadata column as bools, whether stored as bools or as text ("True", "1",
    "yes" from an imported metadata.csv); missing = False."""
    s = meta[col]
    if s.dtype == bool:
        return s.to_numpy()
    text = s.astype("string").str.strip().str.lower()
    return text.isin(["true", "1", "1.0", "yes"]).fillna(False).to_numpy(dtype=bool)


def _number(meta, col: str, missing: float) -> np.ndarray:
    """A numeric metadata column as floats (text parsed; unparsable or missing = ``missing``)."""
    return pd.to_numeric(meta[col], errors="coerce").fillna(missing).to_numpy(dtype=float)


def _pristine_mask(meta, aggregate: bool) -> np.ndarray:
    ok = np.ones(len(meta), dtype=bool)
    for col in ("aged", "blurry") + (() if aggregate else ("aggregate",)):
        if col in meta.columns:
            ok &= ~_flag(meta, col)
    if "artefact" in meta.columns:
        ok &= (meta["artefact"].fillna("").astype(str) == "").to_numpy()
    return ok


def _uncut_mask(meta) -> np.ndarray | None:
    """Particles the metadata say are whole: cut off by < 1 % (``cutoff_frac``), not truncated
    at an OAP array end (``truncated``, ``edge_touching``); None when no such column exists."""
    masks = [_number(meta, "cutoff_frac", 0.0) < 0.01] if "cutoff_frac" in meta.columns else []
    masks += [~_flag(meta, c) for c in ("truncated", "edge_touching") if c in meta.columns]
    return np.logical_and.reduce(masks) if masks else None


def _many_components_mask(meta) -> np.ndarray | None:
    if "n_components" not in meta.columns:
        return None
    return _number(meta, "n_components", 0.0) >= 3


def pick_particles(ds, kind: str, n: int = 1, seed: int = 0, exclude: Sequence[int] = (),
                   n_candidates: int = 64) -> tuple[str, list[int]]:
    """Up to ``n`` well-visible particles of a kind ("needle", "plate", "aggregate", or any label).

    Looks the kind up in the metadata (ground-truth base habit, then the ``cpi``/``habit19``/
    ``habit4`` labels), falling back along a chain of similar classes (needle -> column ->
    Column ...). Where the synthetic ground truth allows, it prefers pristine particles (not
    aged, blurry, an artefact or cut off) and aggregates of 3+ crystals. Among
    ``n_candidates`` random matches it keeps whole, visible particles (not cut, >= 2 % of the
    image) and prefers the most elongated for needles/columns, otherwise those covering about
    15 % of the image. A dataset without such labels gets particles chosen by shape among
    ``n_candidates`` random ones (``SHAPE_FALLBACK``: the most elongated for needles/columns,
    the most compact for plates, the least convex for aggregates; random for other kinds),
    and "what was found" says so. Returns (what was found, indices).
    """
    meta = ds.meta
    rng = np.random.default_rng(seed)
    free = np.ones(len(meta), dtype=bool)
    free[list(exclude)] = False
    by_shape = kind in SHAPE_FALLBACK
    found = f"{SHAPE_FALLBACK[kind]} by shape (no {kind} label)" if by_shape else f"random particle (no {kind})"
    pool = np.flatnonzero(free)
    for name in _KIND_CHAIN.get(kind, (kind,)):
        m = _label_mask(meta, name) & free
        if m.any():
            for pref in (_pristine_mask(meta, aggregate="aggregate" in name.lower()), _uncut_mask(meta),
                         _many_components_mask(meta) if kind == "aggregate" else None):
                if pref is not None and (m & pref).any():
                    m = m & pref
            pool = np.flatnonzero(m)
            found = name if kind.lower() in name.lower() else f"{name} (no {kind})"
            by_shape = False
            break
    cand = rng.choice(pool, size=min(n_candidates, len(pool)), replace=False) if len(pool) else pool
    scored = []
    for i in cand:
        ar, area, cut = particle_stats(ds[int(i)])
        if not (np.isfinite(ar) and not cut and area >= 0.02):
            continue
        if kind in _ELONGATED or found in _ELONGATED:
            score = ar
        elif by_shape:
            score = _shape_score(kind, ds[int(i)], ar, area)
        else:
            score = abs(area - 0.15)
        if np.isfinite(score):
            scored.append((score, int(i)))
    scored.sort()
    picked = [i for _, i in scored[:n]] or [int(i) for i in cand[:n]]
    return found, picked


def _shape_score(kind: str, img, ar: float, area: float) -> float:
    """Lower = a better stand-in for ``kind`` without labels: plates are compact (high solidity,
    aspect ratio near 1), aggregates least convex (low solidity); both at least 5 % of the image."""
    from icepaper.representations.features import image_features

    if area < 0.05:
        return float("nan")
    solidity = image_features(np.asarray(img))["solidity"]
    return float(-solidity * ar) if kind == "plate" else float(solidity)


def pick_examples(ds, kinds: Sequence[str] = ("needle", "plate", "aggregate"),
                  seed: int = 0) -> list[tuple[str, int]]:
    """One example particle per kind, all different: [(what was found, index), ...]."""
    out: list[tuple[str, int]] = []
    for k in kinds:
        found, idx = pick_particles(ds, k, 1, seed, exclude=[i for _, i in out])
        if idx:
            out.append((found, idx[0]))
    return out


# --------------------------------------------------------------------------- figures


def _wrap(label: str, width: int = 16) -> str:
    """A row label broken into lines of about ``width`` characters (words are not split)."""
    import textwrap

    return "\n".join(textwrap.wrap(str(label), width, break_long_words=False)) or str(label)


def _show(ax, img, title: str = "") -> None:
    a = img if isinstance(img, Image.Image) else to_uint8_tensor(img)[0].numpy()
    ax.imshow(np.asarray(a), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        ax.set_title(title, fontsize=7)


def plot_steps(rows: Mapping[str, Sequence[tuple[str, Image.Image]]]):
    """Grid of ``step_by_step`` outputs, one row per recipe (seed 002 Fig. 3)."""
    import matplotlib.pyplot as plt

    ncol = max(len(r) for r in rows.values())
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.35 * ncol, 1.55 * len(rows)), squeeze=False)
    for r, (name, steps) in enumerate(rows.items()):
        for c in range(ncol):
            ax = axes[r, c]
            if c < len(steps):
                label, im = steps[c]
                _show(ax, im, label if c == 0 else f"+ {label}")
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def plot_views(recipe: Recipe, images: Sequence, names: Sequence[str], seed: int = 0):
    """One row per image: the original, then every view of one call of ``recipe`` (before
    normalisation; local crops drawn at the same panel size, so they look magnified)."""
    import matplotlib.pyplot as plt

    ncol = 1 + recipe.n_views
    fig, axes = plt.subplots(len(images), ncol, figsize=(1.2 * ncol, 1.35 * len(images)), squeeze=False)
    titles = [f"global {i + 1}" for i in range(recipe.n_global)] + [f"local {i + 1}" for i in range(recipe.n_local)]
    with _seeded(seed):
        for r, (img, name) in enumerate(zip(images, names)):
            _show(axes[r, 0], img, "original")
            axes[r, 0].set_ylabel(_wrap(name), fontsize=8)
            for c, v in enumerate(recipe.views_uint8(img)):
                _show(axes[r, c + 1], v, titles[c])
    fig.suptitle(f"{recipe.name}: {recipe.n_global} global + {recipe.n_local} local crops", fontsize=9)
    fig.tight_layout()
    return fig


def plot_recipe_pair(recipes: Sequence[Recipe], images: Sequence, names: Sequence[str],
                     n_draws: int = 4, seed: int = 0):
    """Per image: the original, then ``n_draws`` first-global crops of each recipe side by side."""
    import matplotlib.pyplot as plt

    ncol = 1 + n_draws * len(recipes)
    fig, axes = plt.subplots(len(images), ncol, figsize=(1.15 * ncol, 1.3 * len(images)), squeeze=False)
    for r, (img, name) in enumerate(zip(images, names)):
        _show(axes[r, 0], img, "original")
        axes[r, 0].set_ylabel(_wrap(name), fontsize=8)
        for k, recipe in enumerate(recipes):
            with _seeded(seed + r):
                for d in range(n_draws):
                    _show(axes[r, 1 + k * n_draws + d], recipe.views_uint8(img)[0], recipe.name if d == 0 else "")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- helpers


def to_uint8_tensor(img) -> torch.Tensor:
    """PIL image (converted to mode "L"), (H, W) or (1, H, W) uint8 array/tensor -> (1, H, W) uint8 tensor."""
    if isinstance(img, Image.Image):
        if img.mode != "L":
            img = img.convert("L")
        x = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True))
    elif isinstance(img, np.ndarray):
        x = torch.from_numpy(np.array(img, copy=not img.flags.writeable or None, order="C"))
    elif isinstance(img, torch.Tensor):
        x = img
    else:
        raise TypeError(f"expected a PIL image, numpy array or torch tensor, got {type(img).__name__}")
    _check_uint8(x)
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3 or x.shape[0] != 1:
        raise ValueError(f"expected one grey image of shape (H, W) or (1, H, W), got {tuple(x.shape)}")
    return x


def to_pil(img) -> Image.Image:
    """Grey PIL image (mode "L") from a PIL image or a uint8 array/tensor."""
    if isinstance(img, Image.Image):
        return img if img.mode == "L" else img.convert("L")
    return Image.fromarray(to_uint8_tensor(img)[0].numpy(), mode="L")


def _check_uint8(x: torch.Tensor) -> None:
    if x.dtype != torch.uint8:
        raise TypeError(f"expected uint8 grey images (0-255), got dtype {x.dtype}")


def _normalize_stats(in_chans: int) -> dict[str, list[float]]:
    return {k: list(v) for k, v in (GREY_NORMALIZE if in_chans == 1 else IMAGENET_NORMALIZE).items()}


@contextlib.contextmanager
def _seeded(seed: int):
    """Run a block under ``torch.manual_seed(seed)`` and restore the global CPU RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return round(float(v), 6)
    if isinstance(v, (np.integer,)):
        return int(v)
    return v
