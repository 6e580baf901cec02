"""Class lists of the three label schemes and the mapping from a particle's construction.

A synthetic particle is described by its *construction*: the base habit of its main
crystal (one of :data:`BASE_HABITS`), whether it is aged (rimed/melted/sublimated),
whether it is an aggregate of two or more crystals, its rime degree (0..1), whether an
imaging artefact replaced it, and whether the image is strongly out of focus. Labels in
every scheme are pure functions of that construction (:func:`labels_for`), so the three
schemes are always consistent with each other.

Schemes (spellings are exactly those of the papers):

``habit19``
    The HOLIMO scheme of Chu et al. 2025 (Table 2): 7 basic habits and 12
    complex shapes. Needles count as ``Column``, stellar and dendritic plates as
    ``Plate``, plate-like polycrystals (several plates grown together) as
    ``Plate_aggregate`` (``Plate_aged_aggregate`` when rimed). Constructions that have no
    HOLIMO category (bullet and budding rosettes, liquid drops, imaging artefacts) are
    missing (NA); none of them occurs in the HOLIMO campaigns.
``habit4``
    The column family of Chu et al. 2025 (``Column``, ``Column_aged``, ``Column_aggregate``,
    ``Column_aged_aggregate``); NA for every other particle.
``cpi``
    cocpit-like CPI classes in snake_case (``compact_irregular``, ``bullet_rosette``...).
    Every particle has a CPI label, artefacts included (``blank``, ``fragment``,
    ``blurry``); older cocpit versions also had ``plate`` and ``needle``, kept here
    because the mixed-phase CPI campaign grows them.

Every particle of every campaign carries all three columns; a label is NA where the
construction falls outside that scheme (a HOLIMO-campaign column has ``cpi='column'``
too, a CPI cirrus rosette has ``habit19=NA``). Select a campaign or an instrument
(``meta.instrument == 'HOLIMO'``) to get the label population a paper used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Geometric constructions of the main crystal (what :mod:`.geometry` can build).
BASE_HABITS: tuple[str, ...] = (
    "column",
    "needle",
    "plate",
    "stellar",  # stellar / dendritic plate
    "cpc",  # columns on capped columns
    "lollipop",  # drop frozen on a column
    "frozen_droplet",
    "liquid_droplet",  # supercooled drop (CPI mixed-phase only; not ice)
    "small",  # too small to show a habit (quasi-isometric compact particle)
    "irregular",
    "bullet_rosette",
    "budding_rosette",
    "planar_polycrystal",  # plate-like polycrystal, side planes
)

#: Imaging artefacts that replace a particle (``""`` = a real particle).
ARTEFACTS: tuple[str, ...] = ("", "blank", "fragment")

HABIT19: tuple[str, ...] = (
    "Column",
    "Plate",
    "Lollipop",
    "Frozen droplet",
    "Irregular",
    "Small",
    "CPC",
    "Column_aged",
    "Column_aggregate",
    "Column_aged_aggregate",
    "Plate_aged",
    "Plate_aggregate",
    "Plate_aged_aggregate",
    "Lollipop_aggregate",
    "Droplet_aged",
    "Droplet_aggregate",
    "Droplet_aged_aggregate",
    "Irregular_aggregate",
    "CPC_aggregate",
)
#: The seven basic habits of the HOLIMO scheme (the rest are "complex shapes").
HABIT19_BASIC: tuple[str, ...] = HABIT19[:7]

HABIT4: tuple[str, ...] = ("Column", "Column_aged", "Column_aggregate", "Column_aged_aggregate")

CPI: tuple[str, ...] = (
    "aggregate",
    "blank",
    "blurry",
    "budding_rosette",
    "bullet_rosette",
    "column",
    "compact_irregular",
    "fragment",
    "needle",
    "planar_polycrystal",
    "plate",
    "rimed",
    "sphere",
)
#: The cocpit classes that are ice particles (no artefacts, no drops).
CPI_ICE: tuple[str, ...] = (
    "aggregate",
    "budding_rosette",
    "bullet_rosette",
    "column",
    "compact_irregular",
    "needle",
    "planar_polycrystal",
    "plate",
    "rimed",
)

SCHEMES: dict[str, tuple[str, ...]] = {"habit19": HABIT19, "habit4": HABIT4, "cpi": CPI}

# HOLIMO stem of each base habit (None = no HOLIMO category).
_H19_STEM = {
    "column": "Column",
    "needle": "Column",
    "plate": "Plate",
    "stellar": "Plate",
    "cpc": "CPC",
    "lollipop": "Lollipop",
    "frozen_droplet": "Droplet",
    "small": "Small",
    "irregular": "Irregular",
}
_H19_BASIC_NAME = {"Droplet": "Frozen droplet"}

#: Which processes a base habit can undergo (infeasible HOLIMO combinations excluded,
#: as in Chu et al. 2025: no aged Lollipop/CPC/Irregular, nothing for Small or liquid drops).
CAN_AGE: frozenset[str] = frozenset(
    {"column", "needle", "plate", "stellar", "frozen_droplet", "planar_polycrystal"}
)
CAN_AGGREGATE: frozenset[str] = frozenset(
    {
        "column",
        "needle",
        "plate",
        "stellar",
        "cpc",
        "lollipop",
        "frozen_droplet",
        "irregular",
        "bullet_rosette",
        "budding_rosette",
        "planar_polycrystal",
    }
)

#: rime degree from which a CPI labeller calls an aged particle "rimed" [default].
RIMED_DEGREE = 0.45

_CPI_BASE = {
    "column": "column",
    "needle": "needle",
    "plate": "plate",
    "stellar": "plate",
    "cpc": "column",
    "lollipop": "rimed",
    "frozen_droplet": "sphere",
    "liquid_droplet": "sphere",
    "small": "compact_irregular",
    "irregular": "compact_irregular",
    "bullet_rosette": "bullet_rosette",
    "budding_rosette": "budding_rosette",
    "planar_polycrystal": "planar_polycrystal",
}


def habit19_label(habit: str, aged: bool, aggregate: bool, artefact: str = "") -> str | None:
    """HOLIMO 19-class label of one construction, or None outside the scheme."""
    if artefact:
        return None
    if habit == "planar_polycrystal":  # several plates grown together: a plate aggregate
        return "Plate_aged_aggregate" if aged else "Plate_aggregate"
    stem = _H19_STEM.get(habit)
    if stem is None:
        return None
    if not aged and not aggregate:
        return _H19_BASIC_NAME.get(stem, stem)
    name = stem + ("_aged" if aged else "") + ("_aggregate" if aggregate else "")
    return name if name in HABIT19 else None


def habit4_label(habit: str, aged: bool, aggregate: bool, artefact: str = "") -> str | None:
    """Column-family label (4 classes) or None."""
    h = habit19_label(habit, aged, aggregate, artefact)
    return h if h in HABIT4 else None


def cpi_label(
    habit: str,
    aged: bool,
    aggregate: bool,
    rime_degree: float = 0.0,
    artefact: str = "",
    blurry: bool = False,
) -> str:
    """cocpit-like CPI label of one construction (always defined)."""
    if artefact:
        return artefact
    if blurry:
        return "blurry"
    if aged and rime_degree >= RIMED_DEGREE:
        return "rimed"
    if aggregate:
        return "aggregate"
    return _CPI_BASE[habit]


def labels_for(construction: pd.DataFrame) -> pd.DataFrame:
    """Labels of every scheme for a table with columns habit, aged, aggregate, rime_degree,
    artefact, blurry. Returns a DataFrame with ``habit19``, ``habit4``, ``cpi`` (NA outside
    a scheme, pandas ``string`` dtype)."""
    rows = zip(
        construction["habit"],
        construction["aged"],
        construction["aggregate"],
        construction["rime_degree"],
        construction["artefact"],
        construction["blurry"],
    )
    h19, h4, cpi = [], [], []
    for habit, aged, agg, rime, art, blur in rows:
        a = habit19_label(habit, bool(aged), bool(agg), art)
        h19.append(a)
        h4.append(a if a in HABIT4 else None)
        cpi.append(cpi_label(habit, bool(aged), bool(agg), float(rime), art, bool(blur)))
    out = pd.DataFrame({"habit19": h19, "habit4": h4, "cpi": cpi}, index=construction.index)
    return out.astype("string")


def matches_label(labels: pd.DataFrame, habit: pd.Series, name: str) -> np.ndarray:
    """Boolean mask of rows whose base habit or any scheme's label equals ``name``."""
    m = habit.to_numpy() == name
    for col in ("habit19", "habit4", "cpi"):
        m |= (labels[col] == name).fillna(False).to_numpy(dtype=bool)
    return m


def known_name(name: str) -> bool:
    """True when ``name`` is a base habit or a label of some scheme."""
    return name in BASE_HABITS or any(name in v for v in SCHEMES.values())
