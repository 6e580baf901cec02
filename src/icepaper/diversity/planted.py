"""Planted truth for measuring discovery on synthetic data: flipped labels and injected rare habits.

``flip_labels`` flips a known share of labels to another class; ``choose_rare_habit`` picks
the crystal habit rarest among the analysed particles; ``inject_rare_habit`` generates extra
particles of it with the synthetic generator and embeds them with the analysis network, so
``anomaly`` scores can be measured against a known truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["RARE_CANDIDATES", "flip_labels", "rarest_habit", "choose_rare_habit", "inject_rare_habit"]


def flip_labels(labels: Sequence, frac: float, seed: int = 0) -> tuple[pd.Series, np.ndarray]:
    """Flip ``frac`` of the labelled rows to a different class drawn uniformly.

    Returns (noisy labels, boolean mask of the flipped rows). Missing labels stay missing.

    >>> noisy, flipped = flip_labels(["a", "b", "a", "b", None], 0.5, seed=0)
    >>> int(flipped.sum()), bool((noisy[flipped] != pd.Series(["a", "b", "a", "b", None])[flipped]).all())
    (2, True)
    >>> noisy[4] is None
    True
    """
    lab = pd.Series(list(labels), dtype=object)
    ok = np.flatnonzero(lab.notna().to_numpy())
    classes = np.asarray(sorted(lab.iloc[ok].unique(), key=str), dtype=object)
    if len(classes) < 2:
        raise ValueError("need at least two classes to flip labels")
    rng = np.random.default_rng(seed)
    pick = rng.choice(ok, int(round(frac * len(ok))), replace=False)
    noisy = lab.copy()
    for i in pick:
        others = classes[classes != lab.iloc[i]]
        noisy.iloc[i] = others[rng.integers(len(others))]
    mask = np.zeros(len(lab), dtype=bool)
    mask[pick] = True
    return noisy, mask


def rarest_habit(meta: pd.DataFrame, column: str, candidates: Sequence[str]) -> str:
    """The candidate habit with the fewest particles in ``meta[column]`` (absent = 0).

    >>> meta = pd.DataFrame({"habit": ["plate", "plate", "column", "needle"]})
    >>> rarest_habit(meta, "habit", ["plate", "column", "stellar"])
    'stellar'
    """
    counts = meta[column].value_counts() if column in meta.columns else pd.Series(dtype=int)
    return min(candidates, key=lambda h: (int(counts.get(h, 0)), str(h)))


#: Distinct crystal habits worth planting as "rare" (blobs, drops, frozen drops and artefacts
#: are not: they look like the common spheres).
RARE_CANDIDATES = ("bullet_rosette", "budding_rosette", "stellar", "lollipop", "cpc", "needle",
                   "column", "plate", "planar_polycrystal")


def choose_rare_habit(meta_all: pd.DataFrame, rows: Sequence[int],
                      candidates: Sequence[str] = RARE_CANDIDATES) -> tuple[str, str]:
    """(habit, campaign): the candidate base habit rarest among ``rows`` that some campaign of
    the dataset grows, and the campaign where it is most common (to generate more of it).

    >>> meta = pd.DataFrame({"habit": ["plate", "plate", "column", "column", "sphere"],
    ...                      "campaign": ["A", "A", "B", "B", "A"]})
    >>> choose_rare_habit(meta, rows=[0, 1, 2, 4])
    ('column', 'B')
    """
    grown = meta_all.dropna(subset=["habit"])
    grown = grown[grown["habit"].isin(candidates)]
    if grown.empty:
        raise ValueError("no candidate habit occurs in the dataset's ground-truth 'habit' column")
    habit = rarest_habit(meta_all.iloc[np.asarray(rows)], "habit", sorted(grown["habit"].unique()))
    camp = grown.loc[grown["habit"] == habit, "campaign"].value_counts().index[0]
    return str(habit), str(camp)


def inject_rare_habit(cfg, backbone_path: str, habit: str, n: int, image_size: int, seed: int = 0,
                      campaign: str | None = None, instrument: str | None = "CPI",
                      ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Generate ``n`` particles of ``habit`` and embed them with the network at ``backbone_path``.

    Uses the synthetic generator (``force_habit``, grown by ``campaign``'s physics, imaged as
    ``instrument``) and the cached embedding of ``embed.embeddings_for`` (the particles are
    written once as a small packed dataset). Returns (images, float32 embeddings, metadata).
    """
    from icepaper.core.cache import cached_dir
    from icepaper.data.packed import PackedDataset, PackedWriter
    from icepaper.representations.embed import embeddings_for
    from icepaper.synth import GENERATOR_VERSION
    from icepaper.synth.generate import generate_particles

    key = {"kind": "rare_injection", "habit": habit, "n": int(n), "size": int(image_size), "seed": int(seed),
           "campaign": campaign, "instrument": instrument, "generator": GENERATOR_VERSION}

    def build(tmp):
        images, meta = generate_particles(int(n), int(image_size), seed=int(seed) + 7001, campaign=campaign,
                                          force_habit=habit, instrument=instrument, id_prefix=f"rare-{habit}")
        with PackedWriter(tmp / "ds", image_size=int(image_size), name=f"rare-{habit}") as w:
            w.add(np.asarray(images, dtype=np.uint8), meta)

    ds = PackedDataset(cached_dir("rare_injection", key, build) / "ds")
    emb = np.asarray(embeddings_for(cfg, ds, backbone_path, pooling="cls"), dtype=np.float32)
    return ds.batch(np.arange(len(ds))), emb, ds.meta

