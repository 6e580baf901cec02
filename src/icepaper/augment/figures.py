"""Figures of notebook 02: recipes applied step by step, all views of a recipe, two recipes side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from .ops import _seeded, to_pil, to_uint8_tensor
from .recipes import Recipe, build_recipe


def step_by_step(img, name: str = "cssl", seed: int = 0, sizes: Mapping[str, Any] | None = None,
                 view: int | None = None) -> list[tuple[str, Image.Image]]:
    """Apply each transform of a recipe's view on top of the previous one (Chu et al. 2025 Fig. 3).

    Every step is applied (its probability is ignored) so each panel shows its effect;
    its random parameters are drawn under ``seed`` without touching the global RNG state.
    ``sizes`` defaults to the image's own size for the global crop; ``view`` defaults to the
    recipe's view with most steps. Returns [("original", img), (step label, image), ...]:
    one image per step after the original.

    >>> import numpy as np
    >>> img = np.full((32, 32), 200, np.uint8); img[8:24, 14:18] = 40
    >>> [label for label, _ in step_by_step(img, "finetune")]
    ['original', 'resize to 37 px', 'crop 60%-100% of area', 'flip (H or V)']
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
    """Grid of ``step_by_step`` outputs, one row per recipe (Chu et al. 2025 Fig. 3).

    >>> import numpy as np, matplotlib.pyplot as plt
    >>> steps = step_by_step(np.full((32, 32), 200, np.uint8), "finetune")
    >>> fig = plot_steps({"finetune": steps})
    >>> len(fig.axes)
    4
    >>> plt.close(fig)
    """
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
    normalisation; local crops drawn at the same panel size, so they look magnified).

    >>> import numpy as np, matplotlib.pyplot as plt
    >>> recipe = build_recipe("cssl", {"global_size": 24, "local_size": 12, "n_local": 0})
    >>> fig = plot_views(recipe, [np.full((32, 32), 200, np.uint8)], ["blank"])
    >>> len(fig.axes)  # the original and two views
    3
    >>> plt.close(fig)
    """
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
    """Per image: the original, then ``n_draws`` first-global crops of each recipe side by side.

    >>> import numpy as np, matplotlib.pyplot as plt
    >>> sizes = {"global_size": 24, "local_size": 12, "n_local": 0}
    >>> pair = [build_recipe("ibot_imagenet", sizes), build_recipe("ibot_cpi", sizes)]
    >>> fig = plot_recipe_pair(pair, [np.full((32, 32), 200, np.uint8)], ["blank"], n_draws=2)
    >>> len(fig.axes)  # the original, then 2 draws of each recipe
    5
    >>> plt.close(fig)
    """
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
