"""Augmentation recipes of the papers, for grey particle images.

``build_recipe(name, sizes)`` returns a :class:`Recipe`: called on one image it returns the
list of augmented views the SSL methods train on. Recipes (``RECIPES``):

``ibot_cpi`` (Ko et al. 2025)
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
``cssl`` (Chu et al. 2025 upstream, Sect. 3.1 and Fig. 3)
    resize (256/224 of the output size), random crop of 60-100 % of the area resized to the
    output size, colour jitter, Gaussian blur, solarise, horizontal *or* vertical flip,
    rotation by U(0, 180) deg; two views. The paper gives no probabilities or strengths; we
    use lightly's MoCo v2 jitter (p 0.8, brightness/contrast/saturation 0.4, no hue since
    the paper lists none) and blur (p 0.5), BYOL's solarise probability (0.2), flips with
    p 0.5, and always rotate [default].
``finetune`` (Chu et al. 2025 downstream)
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

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2 as T
from lightly.transforms import IBOTTransform, MoCoV2Transform
from lightly.transforms.utils import IMAGENET_NORMALIZE

from .ops import (
    View,
    _blur,
    _check_uint8,
    _crop,
    _grayscale,
    _hflip,
    _hv_flip,
    _jitter,
    _jsonable,
    _resize,
    _rotate,
    _solarize,
    _vflip,
    to_uint8_tensor,
)

RECIPES = ("ibot_cpi", "ibot_imagenet", "cssl", "finetune")

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601
GREY_NORMALIZE = {
    "mean": [round(sum(w * m for w, m in zip(LUMA_WEIGHTS, IMAGENET_NORMALIZE["mean"])), 4)],
    "std": [round(sum(w * s for w, s in zip(LUMA_WEIGHTS, IMAGENET_NORMALIZE["std"])), 4)],
}
CPI_CROP_RATIO = (0.9, 1 / 0.9)  # [default] Ko et al. 2025 narrows the range but gives no number
IMAGENET_CROP_RATIO = (3 / 4, 4 / 3)  # torchvision's RandomResizedCrop default
CSSL_CROP_SCALE = (0.6, 1.0)  # Chu et al. 2025: 60-100 % of the area keeps aggregates aggregates
CSSL_RESIZE_FACTOR = 256 / 224  # Chu et al. 2025: resize to 256, crop to 224


# The original iBOT recipe as lightly implements it (IBOTTransform's defaults).
IBOT_DEFAULTS: dict[str, Any] = {
    k: v.default for k, v in inspect.signature(IBOTTransform.__init__).parameters.items() if k != "self"
}
MOCO_DEFAULTS: dict[str, Any] = {
    k: v.default for k, v in inspect.signature(MoCoV2Transform.__init__).parameters.items() if k != "self"
}
BYOL_SOLARIZE_P = 0.2  # lightly's BYOLView2Transform solarization_prob


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
    n_local, in px and counts). Raises ValueError listing the valid names for an unknown one.

    >>> import numpy as np, torch
    >>> recipe = build_recipe("ibot_cpi", {"global_size": 32, "local_size": 16, "n_local": 2})
    >>> recipe
    Recipe('ibot_cpi', n_global=2, n_views=4, in_chans=1)
    >>> _ = torch.manual_seed(0)
    >>> [tuple(v.shape) for v in recipe(np.full((40, 40), 200, np.uint8))]
    [(1, 32, 32), (1, 32, 32), (1, 16, 16), (1, 16, 16)]
    """
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
        notes = ["Ko et al. 2025 domain changes: no saturation/hue jitter, random vertical flips (p 0.5), "
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

    notes = ["Chu et al. 2025 Sect. 3.1: resize 256, crop 60-100 % of the area to 224, colour jitter, blur, solarise, "
             "horizontal or vertical flip, rotation 0-180 deg; sizes scaled by global_size/224",
             "probabilities and strengths are not in the paper: lightly MoCo v2 jitter/blur, BYOL solarise "
             "probability, flip p 0.5, rotation always [default]",
             "crop aspect ratio 3/4-4/3 (torchvision default; the paper gives none)"]
    return Recipe("cssl", [view("view_1"), view("view_2")], 2, in_chans, notes)


def _finetune(g: int, lsz: int, n_local: int, in_chans: int) -> Recipe:
    v = View("view", g, [_resize(round(g * CSSL_RESIZE_FACTOR)), _crop(g, CSSL_CROP_SCALE, IMAGENET_CROP_RATIO),
                         _hv_flip(0.5)])
    notes = ["Chu et al. 2025 fine-tuning: resize 256, crop 60-100 % of the area to 224, random flip; "
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
    """Resize + normalise, no randomness (for embedding extraction and probes).

    >>> import numpy as np
    >>> t = eval_transform(16)
    >>> tuple(t(np.zeros((3, 40, 40), np.uint8)).shape)  # a batch of 3 images
    (3, 1, 16, 16)
    >>> round(float(t(np.full((40, 40), 255, np.uint8)).mean()), 4)  # white, normalised
    2.398
    """
    return EvalTransform(size, in_chans)


def _normalize_stats(in_chans: int) -> dict[str, list[float]]:
    return {k: list(v) for k, v in (GREY_NORMALIZE if in_chans == 1 else IMAGENET_NORMALIZE).items()}
