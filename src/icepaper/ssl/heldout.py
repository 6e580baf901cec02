r"""Held-out pretext loss of MoCo and BYOL: one fixed set of crops through the initial and the
trained weights, so "does the loss fall" compares like with like.

MoCo's training loss is not comparable along a short run: its queue starts as random unit
vectors (easy negatives, a low loss) and fills with real keys over ``moco_queue / batch``
steps, so the logged loss first climbs toward ln(queue + 1) (He et al., MoCo issue #9) and
a CPU run of a fraction of an epoch ends before it comes back down. Here every network sees
the same ``n_images`` images and the same two crops of each (the run's recipe, seeded) and

- MoCo: InfoNCE at the run's temperature of each online query against its own momentum key
  and the other ``n_images - 1`` keys as negatives (a full queue of real keys);
  ln(n_images) is the loss of a network that scores all images alike (a random network
  can be worse: confidently wrong);
- BYOL: the training loss, ``2 - 2 cos`` of predictor output and target projection,
  symmetrised over the two crops.

Networks run in training mode (batch-statistics BatchNorm, as in the training loss) on chunks
of the run's batch size, without gradients, on a freshly built network (nothing is written back).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data import MultiCropDataset, collate
from .pretrain import PretrainResult, _pretrain_section, build_method, build_recipe, resume_state

HELDOUT_SEED = 1_000_003  # crops differ from every training crop of any seed < 10^6


def two_views(cfg, ds, method: str, rows) -> tuple[torch.Tensor, torch.Tensor]:
    """Two augmented crops (the first two views of ``method``'s training recipe, seeded from
    ``cfg.seed`` and :data:`HELDOUT_SEED`) of each of ``ds`` rows ``rows``, in the order of
    ``rows``: identical for every network and every call, and for any order of the same rows.
    Used by :func:`icepaper.ssl.health.runs_health` for the alignment of two views."""
    rows = np.asarray(rows, dtype=np.int64)
    data = MultiCropDataset(ds, np.sort(rows), build_recipe(cfg, method), seed=int(cfg.seed) + HELDOUT_SEED,
                            global_batch=len(rows))
    slots = sorted(range(len(rows)), key=lambda j: data.row(0, j))  # slot j of step 0 holds a permuted row
    views, _ = collate([data[(0, j)] for j in slots])
    pos = np.argsort(np.argsort(rows, kind="stable"), kind="stable")  # rows' order, sorted or not
    return views[0][pos], views[1][pos]


def _crops(cfg, ds, method: str, n_images: int):
    """The two crops (views[0], views[1]) of ``n_images`` seeded rows, identical for every network."""
    rng = np.random.default_rng(int(cfg.seed) + HELDOUT_SEED)
    rows = np.sort(rng.choice(len(ds), min(n_images, len(ds)), replace=False))
    data = MultiCropDataset(ds, rows, build_recipe(cfg, method), seed=int(cfg.seed) + HELDOUT_SEED,
                            global_batch=len(rows))
    views, _ = collate([data[(0, j)] for j in range(len(rows))])  # slot order (BatchNorm chunks)
    return views[0], views[1]


def _network(cfg, method: str, result: PretrainResult | None) -> torch.nn.Module:
    """The run's initial weights (same seed as ``pretrain.pretrained``), or its final ones."""
    torch.manual_seed(int(cfg.seed))
    m = build_method(cfg, method)
    if result is not None:
        m.load_state_dict(resume_state(result)["model"])
    return m.train()


@torch.no_grad()
def heldout_losses(cfg, ds, result: PretrainResult, n_images: int = 1024) -> dict[str, float]:
    """Held-out pretext loss of ``result``'s network at its initial and final weights.

    Returns ``{"initial": ..., "trained": ..., "chance": ...}`` in nats (MoCo) or in units
    of ``2 - 2 cos`` (BYOL); ``chance`` is ln(n_images) for MoCo (all images scored alike)
    and NaN for BYOL (no such level).
    """
    method = result.method
    if method not in ("moco", "byol"):
        raise ValueError(f"held-out loss is defined for moco and byol, not {method!r}")
    v0, v1 = _crops(cfg, ds, method, n_images)
    batch = int(_pretrain_section(cfg)["batch_size"])
    out = {}
    for name, res in (("initial", None), ("trained", result)):
        m = _network(cfg, method, res)
        if method == "moco":
            q = torch.cat([m.online(v0[i:i + batch]) for i in range(0, len(v0), batch)])
            k = torch.cat([m.target(v1[i:i + batch]) for i in range(0, len(v1), batch)])
            logits = F.normalize(q.float(), dim=1) @ F.normalize(k.float(), dim=1).T
            logits = logits / m.criterion.temperature
            out[name] = float(F.cross_entropy(logits, torch.arange(len(q))))
        else:
            losses = [float(m([v0[i:i + batch], v1[i:i + batch]])[0]) * len(v0[i:i + batch])
                      for i in range(0, len(v0), batch)]
            out[name] = sum(losses) / len(v0)
    out["chance"] = float(np.log(len(v0))) if method == "moco" else float("nan")
    return out
