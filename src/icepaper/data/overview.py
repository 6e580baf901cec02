"""What a dataset holds, for notebook 01: a summary table, particle sizes, and the labels,
metadata columns and sheets its sections need.

``summary_table(meta)``       images per campaign (or in all), with temperature range and
                              instrument where the metadata give them.
``particle_sizes(ds)``        one size per particle: ``dmax_um`` from the metadata when they
                              give it, else the Dmax-like ``max_dim`` of the particle mask
                              (``icepaper.data.features``), in um when ``pixel_um`` is known, else in
                              pixels of the original files (``source_px``) or of the stored images.
``missing(ds, needs)``        what of the labels / metadata columns a section needs ``ds`` lacks.
``label_scheme(ds)``          the scheme the class figures use (``cpi`` first), or None.
``has_column(meta, col)``     the column exists and holds at least one value.
``sheet_folder(ds)``          the user's sheet folder when ``ds`` was imported from CPI sheets,
                              else the four real sheets of ``data/cpi_sheets`` (``paths.cpi_sheets_dir``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from icepaper.core import paths

from .packed import LABEL_SCHEMES


def has_column(meta: pd.DataFrame, col: str) -> bool:
    """True when ``meta`` has ``col`` with at least one non-missing value.

    >>> meta = pd.DataFrame({"campaign": ["A", None], "dmax_um": [None, None]})
    >>> has_column(meta, "campaign"), has_column(meta, "dmax_um"), has_column(meta, "pixel_um")
    (True, False, False)
    """
    return col in meta.columns and bool(meta[col].notna().any())


def label_scheme(ds, prefer: tuple[str, ...] = ("cpi", *LABEL_SCHEMES)) -> str | None:
    """First scheme of ``prefer`` that labels at least one image of ``ds``, or None.

    >>> from types import SimpleNamespace
    >>> label_scheme(SimpleNamespace(has_labels=lambda s: s in ("habit4", "cpi")))
    'cpi'
    >>> label_scheme(SimpleNamespace(has_labels=lambda s: False)) is None
    True
    """
    return next((s for s in prefer if ds.has_labels(s)), None)


def summary_table(meta: pd.DataFrame) -> pd.DataFrame:
    """Images per campaign (one row "all" without a campaign column); columns ``T min (°C)``,
    ``T max (°C)`` when ``temperature_c`` is given and ``instrument`` when that is given.

    >>> meta = pd.DataFrame({"campaign": ["A", "A", "B", None], "temperature_c": [-20.0, -5.04, -31.0, -12.0],
    ...                      "instrument": ["CPI", "CPI", "2DS", "CPI"]})
    >>> summary_table(meta)  # doctest: +NORMALIZE_WHITESPACE
              images  T min (°C)  T max (°C) instrument
    campaign
    (none)         1       -12.0       -12.0        CPI
    A              2       -20.0        -5.0        CPI
    B              1       -31.0       -31.0        2DS
    >>> summary_table(meta[["instrument"]])  # doctest: +NORMALIZE_WHITESPACE
              images instrument
    campaign
    all            4        CPI
    """
    by = meta["campaign"].fillna("(none)") if has_column(meta, "campaign") else pd.Series("all", index=meta.index)
    g = meta.groupby(by)
    out = pd.DataFrame({"images": g.size()})
    if has_column(meta, "temperature_c"):
        out["T min (°C)"] = g["temperature_c"].min().round(1)
        out["T max (°C)"] = g["temperature_c"].max().round(1)
    if has_column(meta, "instrument"):
        out["instrument"] = g["instrument"].first()
    out.index.name = "campaign"
    return out


def particle_sizes(ds, chunk: int = 2048) -> tuple[pd.Series, str]:
    """(size of every particle, unit): ``dmax_um`` when the metadata give it (NaN where a row
    lacks it, e.g. blank frames), else the diameter of the
    minimum enclosing circle of the particle mask, times ``pixel_um`` when every row has one
    ("um"), else in pixels of the original image files when every row has their ``source_px``
    ("px"), else in stored pixels ("px"). NaN for blank images."""
    from icepaper.data.features import geometric_features

    meta = ds.meta
    if has_column(meta, "dmax_um"):
        return meta["dmax_um"].astype(float).reset_index(drop=True), "um"
    px = np.concatenate([geometric_features(ds.batch(np.arange(a, min(a + chunk, len(ds)))))["max_dim"].to_numpy()
                         for a in range(0, len(ds), chunk)]) if len(ds) else np.zeros(0)
    if "pixel_um" in meta.columns and meta["pixel_um"].notna().all():
        return pd.Series(px * meta["pixel_um"].to_numpy(dtype=float)), "um"
    if "source_px" in meta.columns and meta["source_px"].notna().all():
        return pd.Series(px * meta["source_px"].to_numpy(dtype=float) / ds.size), "px"
    return pd.Series(px), "px"


def sheet_folder(ds) -> Path:
    """The folder of real CPI sheets notebook 01 extracts: the one ``ds`` was imported from when
    it is a sheet import, else ``paths.cpi_sheets_dir()`` (may not exist)."""
    prov = ds.manifest.get("provenance", {}) or {}
    if prov.get("importer") == "cpi_sheets" and Path(prov.get("src", "")).is_dir():
        return Path(prov["src"])
    return paths.cpi_sheets_dir()


def missing(ds, needs: tuple[str, ...]) -> str:
    """What of ``needs`` ("labels" = any class label, or metadata column names) ``ds`` lacks, as
    "no class labels, no temperature_c" ("" when it has everything).

    >>> from types import SimpleNamespace
    >>> ds = SimpleNamespace(has_labels=lambda s: False, meta=pd.DataFrame({"campaign": ["A"]}))
    >>> missing(ds, ("labels", "campaign", "temperature_c"))
    'no class labels, no temperature_c'
    """
    gaps = []
    for need in needs:
        if need == "labels":
            if label_scheme(ds) is None:
                gaps.append("no class labels")
        elif not has_column(ds.meta, need):
            gaps.append(f"no {need}")
    return ", ".join(gaps)
