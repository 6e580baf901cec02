"""The physics table of a generated set: ``n`` particles' construction rows and labels drawn
from the campaign mixture (exact counts per campaign) or, for one forced habit or label, by
rejection; plus the image ids of generated sets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .labels import labels_for, matches_label
from .physics import CAMPAIGNS, Campaign, campaign, sample_particles

# random streams of a seed: 1 physics (here), 2 CPI/HOLIMO rendering (generate), 3 OAP (oap_dataset)
_STREAM_PHYSICS = 1


def _campaign_list(campaigns) -> list[Campaign]:
    if campaigns is None:
        return list(CAMPAIGNS.values())
    if isinstance(campaigns, str | Campaign):
        campaigns = [campaigns]
    return [c if isinstance(c, Campaign) else campaign(c) for c in campaigns]


def _counts(n: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder integer split of n by weights."""
    w = np.asarray(weights, float) / np.sum(weights)
    c = np.floor(n * w).astype(int)
    order = np.argsort(-(n * w - c), kind="stable")
    c[order[: n - c.sum()]] += 1
    return c


def sample_constructions(
    n: int,
    seed: int = 0,
    campaigns: str | Sequence[str] | None = None,
    force_habit: str | None = None,
    artefact_rate: float | None = None,
) -> pd.DataFrame:
    """Physics only: the construction table of ``n`` particles plus their labels (no images).

    ``campaigns``: one name, several names (mixed by their weights) or None for all six.
    ``force_habit``: keep only particles whose base habit or any scheme's label equals this
    name (e.g. ``"bullet_rosette"``, ``"Column_aged"``, ``"rimed"``); drawn by rejection from
    the campaigns' own physics, so temperatures, sizes and processes stay consistent.
    """
    camps = _campaign_list(campaigns)
    rngs = [
        np.random.default_rng([int(seed), _STREAM_PHYSICS,
                               list(CAMPAIGNS).index(c.name) if c.name in CAMPAIGNS else 100 + k])
        for k, c in enumerate(camps)
    ]
    if force_habit is None:
        parts = []
        for camp, rng, m in zip(camps, rngs, _counts(n, [c.weight for c in camps])):
            if m:
                t = sample_particles(int(m), camp, rng, artefact_rate)
                parts.append(pd.concat([t, labels_for(t)], axis=1))
        table = pd.concat(parts, ignore_index=True)
    else:
        table = _rejection(n, camps, rngs, force_habit, artefact_rate)
    perm = np.random.default_rng([int(seed), _STREAM_PHYSICS, 999]).permutation(len(table))
    return table.iloc[perm].reset_index(drop=True)


def _rejection(n, camps, rngs, name, rate, max_rounds: int = 60) -> pd.DataFrame:
    """``n`` particles matching ``name``, drawn from the campaign mixture by rejection (so the
    campaigns contribute in proportion to weight x how often their physics grows it)."""
    from .labels import known_name

    if not known_name(name):
        raise ValueError(f"force_habit={name!r} is neither a base habit nor a label of any scheme")
    keep, have, tried = [], 0, 0
    batch = max(4 * n, 512)
    for _ in range(max_rounds):
        for camp, rng, m in zip(camps, rngs, _counts(batch, [c.weight for c in camps])):
            if not m:
                continue
            t = sample_particles(int(m), camp, rng, rate)
            lab = labels_for(t)
            ok = matches_label(lab, t["habit"], name)
            tried += int(m)
            if ok.any():
                keep.append(pd.concat([t[ok], lab[ok]], axis=1))
                have += int(ok.sum())
        if have >= n:
            break
    if have < n:
        raise ValueError(
            f"force_habit={name!r}: only {have} of {n} particles found among {tried} drawn from "
            f"campaign(s) {[c.name for c in camps]}; their physics rarely or never grows it "
            "(see icepaper.synth.physics.campaign_table())"
        )
    return pd.concat(keep, ignore_index=True).iloc[:n]


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:07d}" for i in range(n)]
