"""Particle statistics of a grey image (aspect ratio, area, cut) and how much recipes change them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from icepaper.data.segment import border_background, particle_mask

from .ops import _seeded, to_uint8_tensor
from .recipes import Recipe


def particle_stats(img) -> tuple[float, float, bool]:
    """(aspect ratio, area fraction, cut) of the dark particle of a grey image.

    Aspect ratio = minor/major axis of the ellipse with the particle's second moments
    (docs/science.md §5's elliptical aspect ratio), weighted by darkness below the
    background level (median of the border pixels) so it does not depend on a threshold or
    on the magnification of a crop. The particle is the union of the connected regions darker
    than half its peak darkness that are at least 10 % the size of the largest (so specks
    and resampling seams elsewhere do not count); area fraction = its share of the image;
    cut = it touches the image border.
    (nan, 0, False) when the image holds no particle (contrast < 10 grey levels).

    >>> import numpy as np
    >>> img = np.full((32, 32), 200, np.uint8); img[8:24, 14:18] = 40  # a 16 x 4 px needle
    >>> ar, area, cut = particle_stats(img)
    >>> round(ar, 2), area, cut
    (0.24, 0.0625, False)
    """
    import cv2

    a = to_uint8_tensor(img)[0].numpy()
    # the particle: half-depth regions at least 10 % the size of the largest one (data.segment)
    mask, found = particle_mask(a, "half_depth", min_contrast=10, min_region_frac=0.1)
    if not found:
        return float("nan"), 0.0, False
    dark = np.clip(border_background(a) - a.astype(np.float32), 0, None)
    peak = float(dark.max())
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
    changed (fraction of whole-particle views changed by more than ``tolerance``).

    >>> import numpy as np
    >>> from icepaper.augment import build_recipe
    >>> needle = np.full((48, 48), 200, np.uint8); needle[12:36, 22:26] = 30
    >>> recipes = {"ibot_cpi": build_recipe("ibot_cpi", {"global_size": 48, "local_size": 16, "n_local": 0})}
    >>> t = aspect_ratio_table(recipes, [needle], n_draws=3)
    >>> t.columns.tolist(), int(t.loc["ibot_cpi", "views"])
    (['views', 'whole', 'median_change', 'p90_change', 'changed'], 6)
    """

    rows = []
    for name, recipe in recipes.items():
        d = np.concatenate([aspect_ratio_change(recipe, im, n_draws, seed + k) for k, im in enumerate(images)])
        ok = d[np.isfinite(d)]
        rows.append({"recipe": name, "views": len(d), "whole": len(ok) / max(len(d), 1),
                     "median_change": float(np.expm1(np.median(ok))) if len(ok) else float("nan"),
                     "p90_change": float(np.expm1(np.percentile(ok, 90))) if len(ok) else float("nan"),
                     "changed": float(np.mean(ok > math.log1p(tolerance))) if len(ok) else float("nan")})
    return pd.DataFrame(rows).set_index("recipe")
