"""Representation health without labels: is an embedding collapsed?

What a user with unlabelled data can compute on an (n, d) matrix of embeddings ``z`` (rows:
images), all in float64 on the CPU:

- :func:`rankme` (Garrido et al. 2023, "RankMe"): the effective rank exp(H(p)) of the singular
  values ``s`` of ``z``, p_k = s_k / sum(s) + 1e-7; from 1 (every row on one line) to
  min(n, d) (all singular values equal). Computed on the raw embeddings, as the paper does;
  :func:`effective_rank` is the same from singular values already computed.
- :func:`dim_std`: the mean over the d dimensions of the standard deviation (over rows) of the
  L2-normalised embeddings (SimSiam's collapse monitor, Chen & He 2021); 0 when every row points
  the same way, about 1/sqrt(d) when the directions are isotropic.
- :func:`alignment` and :func:`uniformity` (Wang & Isola 2020), on L2-normalised embeddings:
  mean ||f(x) - f(x+)||^alpha over positive pairs (two augmented views of one image; 0 = the
  views map to the same point, at most 2^alpha) and log of the mean of exp(-t ||f(x) - f(y)||^2)
  over distinct pairs (0 when all points coincide, down to about -2t for points spread over a
  high-dimensional sphere; lower = more uniform).

:func:`health` gathers them with a verdict (``collapsed``, ``why``) and :func:`health_line`
words it in one sentence. For pretraining runs, :func:`runs_health` embeds a fixed seeded subset
of pretraining-set ``train`` images with each run's random-init and trained backbone (the
trainer keeps only the last checkpoint, so "over training" is these two points); notebooks 04
and 07 check the features they are handed with :func:`check_features`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

#: [default] thresholds of :func:`health`; see its docstring for why.
RANK_FRAC = 0.01
RANK_MIN = 2.0
STD_FRAC = 0.1
EPS = 1e-7  # RankMe's epsilon (Garrido et al. 2023)


def _t(z) -> torch.Tensor:
    if not isinstance(z, torch.Tensor):
        z = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float64))
    z = z.detach().to("cpu", torch.float64)
    if z.ndim != 2:
        raise ValueError(f"embeddings must be an (n, d) matrix, got shape {tuple(z.shape)}")
    return z


def _unit(z: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(z, dim=1)


def rankme(z, eps: float = EPS) -> float:
    """Effective rank of ``z`` (n, d): exp of the entropy of p_k = s_k / sum(s) + eps, s the
    singular values; in [1, min(n, d)] (an all-zero matrix: 1).

    >>> round(rankme(np.eye(4)), 3), round(rankme(np.outer(np.arange(1, 6), np.ones(3))), 3)
    (4.0, 1.0)
    """
    return effective_rank(torch.linalg.svdvals(_t(z)), eps)


def effective_rank(s, eps: float = EPS) -> float:
    """RankMe from the singular values ``s`` (any order): exp(-sum p_k log p_k), p_k = s_k / sum(s)
    + eps; 1 when ``s`` is empty or all zero.

    >>> round(effective_rank([2.0, 2.0, 2.0]), 3), effective_rank([0.0, 0.0])
    (3.0, 1.0)
    """
    s = torch.as_tensor(np.asarray(s, dtype=np.float64)) if not isinstance(s, torch.Tensor) else s.double()
    if not len(s) or float(s.sum()) == 0.0:
        return 1.0
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


def dim_std(z) -> float:
    """Mean over dimensions of the per-dimension standard deviation (over rows, ddof 0) of the
    L2-normalised rows of ``z``; 0 for a collapsed matrix, about 1/sqrt(d) for isotropic rows.

    >>> dim_std(np.ones((5, 4)))
    0.0
    >>> round(dim_std(np.vstack([np.eye(2), -np.eye(2)])), 3)  # 4 unit vectors in 2-D: std 1/sqrt(2)
    0.707
    """
    return float(_unit(_t(z)).std(dim=0, unbiased=False).mean())


def alignment(z1, z2, alpha: float = 2.0) -> float:
    """Mean ||u1_i - u2_i||^alpha of the L2-normalised rows of two views ``z1``, ``z2`` of the
    same images (row i of each = one image); 0 when the views agree, at most 2^alpha.

    >>> alignment(np.eye(3), 2 * np.eye(3)), alignment(np.eye(2), -np.eye(2))
    (0.0, 4.0)
    """
    a, b = _unit(_t(z1)), _unit(_t(z2))
    if a.shape != b.shape:
        raise ValueError(f"the two views differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    return float((a - b).norm(dim=1).pow(alpha).mean())


def uniformity(z, t: float = 2.0) -> float:
    """log mean over distinct pairs of exp(-t ||u_i - u_j||^2), u the L2-normalised rows of
    ``z``; 0 when all rows point the same way, negative when they spread (about -2t for many
    points spread over a high-dimensional sphere). Needs n >= 2.

    >>> uniformity(np.ones((4, 3)))
    0.0
    >>> round(uniformity(np.vstack([np.eye(3), -np.eye(3)])), 3)  # octahedron: 12 pairs at d^2=2, 3 at 4
    -4.219
    """
    u = _unit(_t(z))
    if len(u) < 2:
        raise ValueError("uniformity needs at least two embeddings")
    sq = torch.pdist(u, p=2).pow(2)
    return float(torch.logsumexp(-t * sq, dim=0) - math.log(len(sq)))


def health(z, views=None, *, rank_frac: float = RANK_FRAC, rank_min: float = RANK_MIN,
           std_frac: float = STD_FRAC) -> dict[str, Any]:
    """Label-free health of embeddings ``z`` (n, d); ``views`` = (z1, z2), embeddings of two
    augmented views of the same images (row for row), gives the alignment (NaN without it).

    Returns ``rankme``, ``rank_max`` (= min(n, d)), ``dim_std``, ``dim_std_isotropic``
    (= 1/sqrt(d)), ``alignment``, ``uniformity``, ``n``, ``d``, ``collapsed`` and ``why``.

    ``collapsed`` is True when RankMe < max(``rank_min``, ``rank_frac`` x min(n, d)) or
    dim_std < ``std_frac`` / sqrt(d). [default] choices: RankMe near 1 is complete collapse (one
    direction), and below 2 no second direction carries a comparable share of the spectrum;
    Garrido et al. find downstream accuracy lowest where RankMe is a small fraction of the
    dimension, and 1 % of it (1.9 of 192, 3.8 of 384) is far below the 90-95 % of random
    Gaussian embeddings. The squared per-dimension standard deviations of unit vectors sum to
    1 - R^2 (R the length of their mean), so dim_std below a tenth of the isotropic 1/sqrt(d)
    means the directions sit in a cone with 1 - R^2 < 1 % (every row within about 8 degrees of
    the mean direction) or spread along very few dimensions. Alignment and uniformity are
    reported, not thresholded: a collapsed network aligns perfectly, and uniformity depends on
    n and t.

    >>> rng = np.random.default_rng(0)
    >>> health(rng.normal(size=(64, 16)))["collapsed"]
    False
    >>> h = health(np.outer(rng.normal(size=64), rng.normal(size=16)))  # rank 1
    >>> h["collapsed"], h["why"][:10]
    (True, 'RankMe 1.0')
    """
    z = _t(z)
    n, d = z.shape
    rank_max = min(n, d)
    r, s = rankme(z), dim_std(z)
    out: dict[str, Any] = {
        "rankme": r, "rank_max": int(rank_max), "dim_std": s, "dim_std_isotropic": 1.0 / math.sqrt(d),
        "alignment": alignment(*views) if views is not None else float("nan"),
        "uniformity": uniformity(z) if n >= 2 else float("nan"), "n": int(n), "d": int(d),
    }
    r_lim, s_lim = max(rank_min, rank_frac * rank_max), std_frac / math.sqrt(d)
    why = []
    if r < r_lim:
        why.append(f"RankMe {r:.1f} < {r_lim:.1f} (max of {rank_min:g} and {100 * rank_frac:g} % of "
                   f"min(n, d) = {rank_max}): the embeddings use about {max(1, round(r))} effective "
                   "dimension(s)")
    if s < s_lim:
        why.append(f"dim std {s:.2g} < {s_lim:.2g} ({std_frac:g}/sqrt(d)): the normalised embeddings "
                   "all point nearly the same way")
    out["collapsed"] = bool(why)
    out["why"] = ("; ".join(why) if why else
                  f"RankMe {r:.1f} >= {r_lim:.1f} and dim std {s:.2g} >= {s_lim:.2g}")
    return out


def health_line(name: str, h: Mapping[str, Any]) -> str:
    """One sentence: the numbers of ``h`` (from :func:`health`) and the verdict with its reason.

    >>> h = health(np.ones((8, 4)))
    >>> health_line("test", h).split(":")[0], "collapsed" in health_line("test", h)
    ('test', True)
    """
    al = "" if not np.isfinite(h["alignment"]) else f", alignment {h['alignment']:.3f}"
    verdict = "collapsed" if h["collapsed"] else "healthy"
    return (f"{name}: RankMe {h['rankme']:.1f} of {h['rank_max']} "
            f"({100 * h['rankme'] / h['rank_max']:.0f} %), dim std {h['dim_std']:.3g} "
            f"(isotropic {h['dim_std_isotropic']:.3g}){al}, uniformity {h['uniformity']:.2f} "
            f"-> {verdict} ({h['why']})")


def run_line(name: str, pair: Mapping[str, Mapping[str, Any]]) -> str:
    """:func:`health_line` of a run's trained weights, followed by its RankMe against the random
    initialisation (``pair`` = ``{"random_init": h, "trained": h}``, as :func:`runs_health`
    gives): a falling RankMe is a drift towards collapse even above the threshold."""
    r0, r1 = pair["random_init"]["rankme"], pair["trained"]["rankme"]
    return (f"{health_line(name, pair['trained'])}; RankMe at random init {r0:.1f} "
            f"({'rose' if r1 > r0 else 'fell'} x{r1 / r0:.2f} in training)")


def check_features(cfg, emb, name: str, *, max_rows: int = 2048) -> dict[str, Any]:
    """Health of features a notebook is handed (``emb``, one row per image; a seeded subset of
    at most ``max_rows`` rows, since RankMe and uniformity need no more): prints one line (a
    warning when collapsed) and records ``features_collapsed`` and ``features_health`` in the
    results JSON. Returns the :func:`health` dict.
    """
    emb = np.asarray(emb, dtype=np.float64)
    if len(emb) > max_rows:
        emb = emb[np.sort(np.random.default_rng(int(cfg.seed)).choice(len(emb), max_rows, replace=False))]
    h = health(emb)
    line = health_line(name, h)
    print(("WARNING: collapsed features; clusters, kappa and diversity read from them describe the "
           "network, not the particles. " if h["collapsed"] else "") + line)
    cfg.record(features_collapsed=h["collapsed"], features_health=h)
    return h


def health_table(results: Mapping[str, Mapping[str, Mapping[str, Any]]],
                 labels: Mapping[str, str] | None = None):
    """One row per (run, weights) of ``{name: {"random_init": h, "trained": h}}``
    (:func:`runs_health`): RankMe and its share of min(n, d) (%), dim std in units of the
    isotropic 1/sqrt(d), alignment, uniformity and the verdict."""
    import pandas as pd

    labels = labels or {}
    rows = []
    for name, pair in results.items():
        for which, h in pair.items():
            rows.append({"run": labels.get(name, name), "weights": which.replace("_", " "),
                         "RankMe": h["rankme"], "RankMe % of min(n, d)": 100 * h["rankme"] / h["rank_max"],
                         "dim std x sqrt(d)": h["dim_std"] / h["dim_std_isotropic"],
                         "alignment": h["alignment"], "uniformity": h["uniformity"],
                         "verdict": "collapsed" if h["collapsed"] else "healthy"})
    return pd.DataFrame(rows).set_index(["run", "weights"]).round(3)


def health_figure(results: Mapping[str, Mapping[str, Mapping[str, Any]]],
                  labels: Mapping[str, str] | None = None):
    """Four panels (RankMe as a share of min(n, d), dim std x sqrt(d), alignment, uniformity),
    one column per run: random init (open grey) -> trained (filled), with the collapse
    thresholds of :func:`health` as dashed lines."""
    import matplotlib.pyplot as plt

    labels = labels or {}
    names = list(results)
    panels = [("RankMe / min(n, d)", lambda h: h["rankme"] / h["rank_max"]),
              ("dim std x sqrt(d)  (isotropic: 1)", lambda h: h["dim_std"] / h["dim_std_isotropic"]),
              ("alignment (lower: views agree)", lambda h: h["alignment"]),
              ("uniformity (lower: more spread)", lambda h: h["uniformity"])]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    x = np.arange(len(names))
    for ax, (title, f) in zip(axes, panels):
        for i, name in enumerate(names):
            a, b = f(results[name]["random_init"]), f(results[name]["trained"])
            ax.plot([i, i], [a, b], color="0.7", lw=1, zorder=1)
            ax.scatter([i], [a], facecolor="none", edgecolor="0.4", s=36, zorder=2,
                       label="random init" if i == 0 else None)
            ax.scatter([i], [b], color=f"C{i}", s=36, zorder=3, label="trained" if i == 0 else None)
        ax.set_xticks(x, [labels.get(n, n) for n in names], rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
    for i, name in enumerate(names):  # RankMe threshold per run (it depends on min(n, d))
        h = results[name]["trained"]
        axes[0].hlines(max(RANK_MIN, RANK_FRAC * h["rank_max"]) / h["rank_max"], i - 0.3, i + 0.3,
                       color="C3", ls="--", lw=1, label="collapse threshold" if i == 0 else None)
    axes[1].axhline(STD_FRAC, color="C3", ls="--", lw=1)
    axes[0].set_ylim(bottom=0)
    axes[1].set_ylim(bottom=0)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# -- pretraining runs -------------------------------------------------------------------------
def health_rows(ds, n_images: int = 512, seed: int = 0) -> np.ndarray:
    """A seeded sorted subset of at most ``n_images`` pretraining-set rows of the ``train``
    split (all pretraining rows when the split has none); the same for every network."""
    from .pretrain import default_indices

    pool = default_indices(ds)
    tr = np.intersect1d(pool, ds.indices("train"))
    pool = tr if len(tr) else pool
    rng = np.random.default_rng(int(seed))
    return np.sort(rng.choice(pool, min(int(n_images), len(pool)), replace=False))


@torch.inference_mode()
def _embed(backbone: torch.nn.Module, x: torch.Tensor, batch: int, device: str) -> np.ndarray:
    """Backbone embeddings of already augmented crops ``x`` (n, C, H, W), in chunks."""
    backbone = backbone.to(device).eval()
    out = [backbone(x[a:a + batch].to(device)).float().cpu() for a in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def runs_health(cfg, ds, runs: Mapping[str, Any], n_images: int = 512) -> dict[str, dict[str, Any]]:
    """:func:`health` of each pretraining run's random-init and trained backbone,
    ``{name: {"random_init": h, "trained": h}}``.

    The same ``n_images`` rows (:func:`health_rows`: pretraining-set ``train`` images, seeded)
    for every network: RankMe, dim std and uniformity on their evaluation embeddings (resized
    whole images, as the kNN check and notebooks 04-07 embed them), alignment between two
    augmented global crops of each image drawn with the run's training recipe
    (:func:`icepaper.ssl.heldout.two_views`, seeded, identical for both weights). Random init:
    :func:`icepaper.ssl.pretrain.random_backbone`, the kNN check's reference (one per
    architecture). The trainer keeps only the last checkpoint, so no intermediate weights exist
    to score.
    """
    from .embedding import embed_array
    from .heldout import two_views
    from .pretrain import eval_size, random_backbone

    rows = health_rows(ds, n_images, seed=int(cfg.seed))
    bs, dev = int(cfg.profile.embed["batch_size"]), cfg.device
    views: dict[str, tuple] = {}
    rand: dict[str, dict[str, Any]] = {}

    def score(bb: torch.nn.Module, arch: str) -> dict[str, Any]:
        z = embed_array(bb, ds, rows, size=eval_size(cfg, bb), batch_size=bs, device=dev)
        return health(z, views=tuple(_embed(bb, v, bs, dev) for v in views[arch]))

    out: dict[str, dict[str, Any]] = {}
    for name, run in runs.items():
        arch = "vit" if run.method.startswith("ibot") else "resnet"  # iBOT runs share a recipe, so do MoCo/BYOL
        if arch not in views:
            views[arch] = two_views(cfg, ds, run.method, rows)
            rand[arch] = score(random_backbone(cfg, arch), arch)
        out[name] = {"random_init": rand[arch], "trained": score(run.load_backbone(dev), arch)}
    return out
