"""Import an image folder (labelled, nested or flat, with an optional metadata.csv): plan, check, write."""


from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..destination import writes_destination
from ..images import (
    MIN_SIDE,
    POLARITIES,
    ImageReadError,
    border_level,
    load_grey,
    to_packed,
)
from ..packed import LABEL_SCHEMES
from ..scan import METADATA_FILE, FolderScan, scan_folder
from .common import BadInputError, ImportReport, _check_src, _write, check_output_writable
from .metadata import _check_metadata_rows, _finish_meta, _read_metadata


@dataclass
class FolderPlan:
    """What ``import_folder`` would import from a folder, found without writing anything.

    ``rows``: one row per image file of ``scan.files`` (``image_id``, ``source_file``, the
    class-folder label, ``metadata.csv`` columns); ``problems`` (file, reason) and ``bad``
    (indices of files that would be skipped); ``modes`` (Pillow modes seen); per file its
    original ``shapes`` (h, w px; 0 if not read) and ``border`` grey level (-1 if not read).
    """

    scan: FolderScan
    rows: pd.DataFrame
    problems: list[tuple[str, str]]
    bad: set[int]
    modes: Counter
    shapes: np.ndarray
    border: np.ndarray
    warnings: list[str]
    metadata_columns: list[str]

    @property
    def keep(self) -> list[int]:
        """Indices of the files that import."""
        return [i for i in range(len(self.scan.files)) if i not in self.bad]


def plan_folder(src, label_scheme: str = "cpi", max_side: int | None = None) -> FolderPlan:
    """Scan ``src``, key ``metadata.csv`` to its images and decode every image.

    Reads only. ``max_side`` bounds the decoded size (``images.load_grey``). The checks:
    ``scan.scan_folder`` (layout, non-images, empty class folders, symlinks, duplicate ids),
    metadata rows (``_check_metadata_rows``, rows without images, images without rows,
    labels that disagree with the class folder), and per image: unreadable, empty,
    truncated, too large (``images.MAX_PIXELS``) or too small (longer side < ``MIN_SIDE`` px).
    """
    src = Path(src)
    scan = scan_folder(src)
    problems = list(scan.problems)
    bad = set(scan.bad)
    files, ids = scan.files, scan.ids
    warnings: list[str] = []
    classes = sorted({c for c in scan.classes if c is not None})
    if scan.n_top and classes:
        warnings.append(f"{scan.n_top} image(s) at the top level beside class folders: "
                        f"imported without a {label_scheme} label")

    # ---- metadata.csv
    rows = pd.DataFrame({"image_id": ids, "source_file": [p.relative_to(src).as_posix() for p in files]})
    if classes:
        rows[label_scheme] = scan.classes
    mpath = src / METADATA_FILE
    meta_cols: list[str] = []
    if mpath.exists():
        meta = _read_metadata(mpath, problems, ids=ids)
        if meta is not None:
            meta = meta.drop(columns=[c for c in ("source_file",) if c in meta.columns])
            meta_cols = [c for c in meta.columns if not c.startswith("_") and c != "image_id"]
            bad_rows = _check_metadata_rows(meta)
            bad_row_of: dict[str, int] = {}  # image id -> the invalid row naming it
            by_name: dict[str, list[str]] = {}
            for iid in ids:
                by_name.setdefault(iid.rpartition("/")[2], []).append(iid)
            for line, iid, key, why in zip(meta["_row"], meta["image_id"], meta["_key"], meta["_why"]):
                if int(line) in bad_rows:
                    problems.append((f"{mpath}:{line}", bad_rows[int(line)]))
                    named = [iid] if isinstance(iid, str) else by_name.get(key, []) if isinstance(key, str) else []
                    for j in named:  # an ambiguous file name names every image of that name
                        bad_row_of.setdefault(j, int(line))
                elif not isinstance(iid, str):
                    problems.append((f"{mpath}:{line}", why))
            meta = meta[~meta["_row"].isin(bad_rows) & meta["image_id"].notna()]
            meta = meta.drop(columns=["_row", "_key", "_why"])
            has_row = set(meta["image_id"])
            for i, iid in enumerate(ids):
                if i in bad or iid in has_row:
                    continue
                if iid in bad_row_of:
                    reason = f"its metadata row is invalid (see {METADATA_FILE}:{bad_row_of[iid]})"
                else:
                    reason = f"no row for image_id {iid!r} in {METADATA_FILE}"
                problems.append((str(files[i]), reason))
                bad.add(i)
            overlap = [c for c in meta.columns if c in rows.columns and c != "image_id"]
            merged = rows.merge(meta, on="image_id", how="left", suffixes=("", "__meta"))
            for c in overlap:
                folder, given = merged[c], merged[f"{c}__meta"]
                clash = folder.notna() & given.notna() & (folder.astype(str) != given.astype(str))
                for i in np.flatnonzero(clash.to_numpy()):
                    if i not in bad:
                        problems.append((str(files[i]), f"{c} label {given.iloc[i]!r} in {METADATA_FILE} "
                                                        f"disagrees with class folder {folder.iloc[i]!r}"))
                        bad.add(i)
                merged[c] = folder.where(folder.notna(), given)
                merged = merged.drop(columns=f"{c}__meta")
            if "_given_id" in merged.columns:  # a file column keyed the rows; image_id names them
                merged["image_id"] = merged["_given_id"].where(merged["_given_id"].notna(), merged["image_id"])
                merged = merged.drop(columns="_given_id")
            rows = merged

    # ---- decode every image (validation before anything is written)
    modes: Counter = Counter()
    shapes = np.zeros((len(files), 2), np.int64)
    border = np.full(len(files), -1, np.int64)
    uniform: list[str] = []
    for i, p in enumerate(files):
        if i in bad:
            continue
        try:
            grey, mode, (h, w) = load_grey(p, max_side)
        except ImageReadError as e:
            problems.append((str(p), str(e).removeprefix(f"{p}: ")))
            bad.add(i)
            continue
        shapes[i] = (h, w)
        if max(h, w) < MIN_SIDE:
            problems.append((str(p), f"image is only {w}x{h} px (< {MIN_SIDE} px on its longer side): "
                                     f"too small to show a particle, it would become a blank frame"))
            bad.add(i)
            continue
        modes[mode] += 1
        border[i] = border_level(grey)
        if int(grey.min()) == int(grey.max()):
            uniform.append(ids[i])
    odd = {m: n for m, n in modes.items() if m != "L"}
    if odd:
        warnings.append("converted to 8-bit grey: " + ", ".join(f"{n} {'1-bit' if m == '1' else m}"
                                                               for m, n in sorted(odd.items())))
    if uniform:
        warnings.append(f"{len(uniform)} image(s) have a single grey level (blank frames, no particle): "
                        + ", ".join(uniform[:5]) + (" ..." if len(uniform) > 5 else ""))
    labelled = {scan.classes[i] for i in range(len(files)) if i not in bad and scan.classes[i] is not None}
    if len(labelled) == 1:
        warnings.append(f"only one class ({next(iter(labelled))!r}): the probes (05) and the label-budget "
                        f"study (06) need at least 2 classes")
    return FolderPlan(scan=scan, rows=rows, problems=problems, bad=bad, modes=modes, shapes=shapes,
                      border=border, warnings=warnings, metadata_columns=meta_cols)


@writes_destination("dataset", src="src", dest="root")
def import_folder(
    src,
    root,
    image_size: int,
    on_error: str = "fail",
    polarity: str = "auto",
    pixel_um: float | None = None,
    instrument: str | None = None,
    label_scheme: str = "cpi",
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    name: str | None = None,
    progress: bool = True,
) -> ImportReport:
    """Import an image folder into a packed dataset at ``root`` (module docstring for the rules).

    ``label_scheme``: metadata column that receives the class-folder names.
    ``pixel_um``: um per pixel of the original files where ``metadata.csv`` gives none.
    ``instrument``: value of the ``instrument`` column where ``metadata.csv`` gives none.
    Splits: a ``split`` column in ``metadata.csv`` is kept; other rows get
    ``assign_splits(stratify=label_scheme, fractions, seed)``.
    """
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label_scheme or ""):
        raise ValueError(f"label_scheme must be a column name like 'cpi', got {label_scheme!r}")
    src = _check_src(src)
    root = check_output_writable(root)
    size = int(image_size)
    report = ImportReport(src=str(src), root=str(root), kind="image folder")

    # ---- 1-4. layout, ids, metadata.csv, decode every image: nothing written yet
    plan = plan_folder(src, label_scheme, max_side=2 * size)
    problems, rows, files = plan.problems, plan.rows, plan.scan.files
    report.layout = plan.scan.layout
    report.modes = dict(plan.modes)
    report.warnings += plan.warnings
    longest = np.maximum(plan.shapes.max(axis=1), 1)

    if problems and on_error == "fail":
        raise BadInputError(src, problems)
    report.skipped = problems
    keep = plan.keep
    if not keep:
        raise BadInputError(src, problems or [(str(src), "no images found")],
                            hint="Nothing to import, nothing was written.")

    # ---- 5. metadata table
    rows = rows.iloc[keep].reset_index(drop=True)
    kept_files = [files[i] for i in keep]
    if "pixel_um" not in rows.columns:
        rows["pixel_um"] = np.nan
    rows["pixel_um"] = pd.to_numeric(rows["pixel_um"], errors="coerce").astype(float)
    if pixel_um is not None:
        rows["pixel_um"] = rows["pixel_um"].fillna(float(pixel_um))
    if instrument is not None:
        if "instrument" not in rows.columns:
            rows["instrument"] = instrument
        else:
            rows["instrument"] = rows["instrument"].where(rows["instrument"].notna(), instrument)
    label_cols = sorted(set(LABEL_SCHEMES) | {label_scheme})
    rows = _finish_meta(rows, label_cols, seed, fractions, label_scheme)
    if label_scheme in rows.columns:
        report.labels = {str(k): int(v) for k, v in rows[label_scheme].value_counts().items()}

    # ---- 6. write (decode again, one chunk at a time)
    inverted = np.zeros(len(rows), bool)

    def load(i: int) -> np.ndarray:
        grey, _, _ = load_grey(kept_files[i], 2 * size)
        out, _, inverted[i] = to_packed(grey, size, polarity)
        return out

    orig_um = rows["pixel_um"].to_numpy(copy=True)
    rows_out = rows.copy()
    rows_out["pixel_um"] = orig_um * longest[keep] / float(size)
    rows_out["source_px"] = longest[keep]  # longer side of the original image (px): sizes in its pixels
    prov = {"importer": "folder", "src": str(src.resolve()), "polarity": polarity,
            "label_scheme": label_scheme, "n_skipped": len(problems), "seed": seed}
    _write(root, size, rows_out, load, name or root.name, prov, progress)
    report.n_imported = len(rows_out)
    report.n_inverted = int(inverted.sum())
    if np.isnan(orig_um).all():
        report.warnings.append("pixel size unknown (no pixel_um column or argument): pixel_um is NA")
    return report
