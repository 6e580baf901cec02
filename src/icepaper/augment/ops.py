"""The image ops of the recipes (named, probabilistic steps; rotation on the background level; a
sigma-drawn blur) and the uint8 tensor/PIL conversions they work on."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2 as T
from PIL import Image

from icepaper.core.atomic import jsonable

SOLARIZE_THRESHOLD = 128  # uint8 grey levels, as PIL/lightly


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


# --------------------------------------------------------------------------- helpers


def to_uint8_tensor(img) -> torch.Tensor:
    """PIL image (converted to mode "L"), (H, W) or (1, H, W) uint8 array/tensor -> (1, H, W) uint8 tensor.

    >>> import numpy as np
    >>> x = to_uint8_tensor(np.zeros((4, 6), np.uint8))
    >>> tuple(x.shape), x.dtype
    ((1, 4, 6), torch.uint8)
    """
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



@contextlib.contextmanager
def _seeded(seed: int):
    """Run a block under ``torch.manual_seed(seed)`` and restore the global CPU RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _jsonable(v: Any) -> Any:
    """Recipe parameters as JSON (``core.atomic.jsonable``), floats rounded to 6 decimals so
    results JSONs stay short and stable."""
    return jsonable(v, digits=6)
