"""metadata.csv of an import: read it, key its rows to the images, check them, finish the columns."""


from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..images import (
    IMAGE_EXTENSIONS,
)
from ..scan import match_keys, normalise_key
from ..splits import SPLITS, assign_splits

FILE_COLUMNS = ("file", "filename", "file_name", "path", "filepath", "relative_path")
KEY_COLUMNS = ("image_id", *FILE_COLUMNS)
NUMERIC_COLUMNS = ("temperature_c", "supersaturation", "dmax_um", "pixel_um")
TEMPERATURE_RANGE_C = (-100.0, 50.0)  # anything outside is a unit mistake (Kelvin?)


def _id_of(name: str) -> str:
    """Sheet id for a sheet file name or sheet metadata key: base name without an image extension."""
    base = re.split(r"[\\/]", str(name).strip())[-1]
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in IMAGE_EXTENSIONS else base


def _read_metadata(path: Path, problems: list, ids: Sequence[str] | None = None) -> pd.DataFrame | None:
    """metadata.csv as a DataFrame with an ``image_id`` column (or None + a problem).

    The key is the first file column (``FILE_COLUMNS``) present, else ``image_id``. With
    ``ids`` (the images of a folder) every key is matched to one of them (``scan.match_keys``):
    ``image_id`` is the matched id or None, ``_why`` says why not; a file column beside an
    ``image_id`` column makes the latter the images' ids (``_given_id``). Without ``ids``
    (sheets) the key is the base name without extension. ``_key`` is the key as written
    (normalised; with ``ids`` only), ``_row`` the CSV line.
    """
    try:
        meta = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as e:  # noqa: BLE001 - any parser failure is bad input
        problems.append((str(path), f"cannot read metadata CSV ({e.__class__.__name__}: {e})"))
        return None
    meta.columns = [str(c).strip() for c in meta.columns]
    file_col = next((k for k in FILE_COLUMNS if k in meta.columns), None)
    key = file_col or ("image_id" if "image_id" in meta.columns else None)
    if key is None:
        problems.append((str(path), f"no key column: needs one of {list(KEY_COLUMNS)} "
                                    f"(columns: {list(meta.columns)})"))
        return None
    raw = meta[key]
    given = meta["image_id"] if file_col is not None and "image_id" in meta.columns and ids is not None else None
    if ids is None:
        resolved, why = raw.map(lambda v: _id_of(v) if isinstance(v, str) else v), None
    else:
        matched = match_keys(raw.tolist(), ids)
        resolved, why = [m for m, _ in matched], [w for _, w in matched]
    meta = meta.drop(columns=[k for k in KEY_COLUMNS if k in meta.columns])
    meta.insert(0, "image_id", list(resolved))
    if why is not None:
        meta["_key"] = [normalise_key(v) for v in raw]
        meta["_why"] = why
    if given is not None:
        meta["_given_id"] = [v.strip() if isinstance(v, str) and v.strip() else None for v in given]
    meta["_row"] = np.arange(len(meta)) + 2  # CSV line number (header is line 1)
    return meta


def _check_metadata_rows(meta: pd.DataFrame) -> dict[int, str]:
    """{CSV line: reason} for bad rows: empty or ambiguous key, duplicate rows or ids, NaN/implausible numbers.

    Rows whose key names no image are not flagged here (the caller reports them).
    """
    bad: dict[int, str] = {}

    def add(line, reason):
        bad[int(line)] = f"{bad[int(line)]}; {reason}" if int(line) in bad else reason

    keys = meta["_key"] if "_key" in meta.columns else meta["image_id"]
    for line, k in zip(meta["_row"], keys):
        if not isinstance(k, str) or not k:
            add(line, "empty image id")
    if "_why" in meta.columns:
        for line, k, w in zip(meta["_row"], keys, meta["_why"]):
            if isinstance(k, str) and k and isinstance(w, str) and not w.endswith("has no image"):
                add(line, w)
    dup = meta["image_id"].duplicated(keep=False) & meta["image_id"].notna()
    for iid, grp in meta[dup].groupby("image_id"):
        lines = ", ".join(map(str, grp["_row"]))
        for line, k in zip(grp["_row"], grp["_key"] if "_key" in grp.columns else grp["image_id"]):
            same = "" if k == iid else f" name the same image {iid!r}"
            add(line, f"duplicate image_id {k!r} (lines {lines}{same})")
    if "_given_id" in meta.columns:
        final = meta["_given_id"].where(meta["_given_id"].notna(), meta["image_id"])
        dup = final.duplicated(keep=False) & final.notna() & ~dup
        for gid, grp in meta[dup].groupby(final[dup]):
            for line in grp["_row"]:
                add(line, f"duplicate image_id {gid!r} in the image_id column (lines {', '.join(map(str, grp['_row']))})")
    for col in NUMERIC_COLUMNS:
        if col not in meta.columns:
            continue
        raw = meta[col]
        num = pd.to_numeric(raw, errors="coerce")
        for line, r, x, iid, k in zip(meta["_row"], raw, num, meta["image_id"], keys):
            iid = iid if isinstance(iid, str) else k
            if isinstance(r, str) and r.strip() and math.isnan(x):
                add(line, f"{col} is not a number ({r!r}) for image_id {iid!r}")
            elif col == "temperature_c" and math.isnan(x):
                add(line, f"temperature_c is NaN (missing) for image_id {iid!r}")
            elif col == "temperature_c" and not TEMPERATURE_RANGE_C[0] <= x <= TEMPERATURE_RANGE_C[1]:
                add(line, f"temperature_c {x:g} is outside {TEMPERATURE_RANGE_C} deg C "
                          f"(Kelvin?) for image_id {iid!r}")
            elif col in ("pixel_um", "dmax_um") and not math.isnan(x) and x <= 0:
                add(line, f"{col} must be positive, got {x:g} for image_id {iid!r}")
    if "split" in meta.columns:
        for line, sp in zip(meta["_row"], meta["split"]):
            if isinstance(sp, str) and sp not in SPLITS:
                add(line, f"split {sp!r} is not one of {SPLITS}")
    return bad


def _finish_meta(meta: pd.DataFrame, label_columns: Sequence[str], seed: int,
                 fractions, stratify) -> pd.DataFrame:
    """Numeric columns as floats, labels as strings/NA, and a split for every row."""
    for col in NUMERIC_COLUMNS:
        if col in meta.columns:
            meta[col] = pd.to_numeric(meta[col], errors="coerce").astype(float)
    for col in label_columns:
        if col in meta.columns:
            meta[col] = meta[col].astype("object").where(meta[col].notna(), None)
    have = meta["split"] if "split" in meta.columns else pd.Series(None, index=meta.index, dtype=object)
    if have.isna().any():
        strat = stratify if stratify in meta.columns else None
        new = assign_splits(meta, stratify=strat, fractions=fractions, seed=seed)
        meta["split"] = have.where(have.notna(), new)
    return meta
