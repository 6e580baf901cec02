"""The papers' augmentation settings beside ours (the table of notebook 02)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .recipes import (
    BYOL_SOLARIZE_P,
    CPI_CROP_RATIO,
    CSSL_CROP_SCALE,
    CSSL_RESIZE_FACTOR,
    IBOT_DEFAULTS,
    MOCO_DEFAULTS,
)


def paper_comparison(sizes: Mapping[str, Any]):
    """Table of the papers' augmentation settings beside ours at these profile ``sizes``
    (columns recipe, setting, paper, ours; "not given" where the paper states no value).

    >>> t = paper_comparison({"global_size": 112, "local_size": 48, "n_local": 6})
    >>> t.iloc[0].tolist()
    ['ibot_cpi / ibot_imagenet', 'global crops (px x count)', '224 x 2', '112 x 2']
    """

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
