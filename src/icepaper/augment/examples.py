"""Pick example particles of a kind (needle, plate, aggregate, any label) from a dataset for figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .shape import particle_stats

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

    >>> import numpy as np, pandas as pd
    >>> class Toy:  # a dataset: ``meta`` and images by index
    ...     meta = pd.DataFrame({"cpi": ["plate", "needle", "needle"]})
    ...     def __getitem__(self, i):
    ...         img = np.full((32, 32), 200, np.uint8); img[8:24, 14:14 + 2 * (i + 1)] = 40
    ...         return img
    >>> pick_particles(Toy(), "needle", n=1)  # the more elongated of the two needles
    ('needle', [1])
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
    from icepaper.data.features import image_features

    if area < 0.05:
        return float("nan")
    solidity = image_features(np.asarray(img))["solidity"]
    return float(-solidity * ar) if kind == "plate" else float(solidity)


def pick_examples(ds, kinds: Sequence[str] = ("needle", "plate", "aggregate"),
                  seed: int = 0) -> list[tuple[str, int]]:
    """One example particle per kind, all different: [(what was found, index), ...].

    >>> import numpy as np, pandas as pd
    >>> class Toy:
    ...     meta = pd.DataFrame({"cpi": ["plate", "needle"]})
    ...     def __getitem__(self, i):
    ...         img = np.full((32, 32), 200, np.uint8); img[8:24, 10:14 + 8 * (1 - i)] = 40
    ...         return img
    >>> pick_examples(Toy(), ("needle", "plate"))
    [('needle', 1), ('plate', 0)]
    """
    out: list[tuple[str, int]] = []
    for k in kinds:
        found, idx = pick_particles(ds, k, 1, seed, exclude=[i for _, i in out])
        if idx:
            out.append((found, idx[0]))
    return out
