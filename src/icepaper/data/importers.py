"""Import user data into the packed format, and export a packed dataset back to a folder.

``import_folder``   an image folder: ``<src>/<class>/<image>`` (labelled; ImageFolder),
                    ``<src>/<class>/<sub>/.../<image>`` (nested: the first-level folder is the
                    class) or ``<src>/<image>`` (unlabelled), any-case png/jpg/jpeg/tif/tiff/
                    bmp/gif, with an optional ``<src>/metadata.csv``. An image's id is its path
                    relative to ``src`` without extension (``a/00000``; ``icepaper.data.scan``),
                    so file names may repeat across class folders.
``import_sheets``   a folder of CPI sheet PNGs: every particle is cropped out and measured
                    (``icepaper.data.sheets``).
``import_any``      picks one of the two (what ``load_dataset`` calls for ``data=PATH``).
``export_folder``   a packed dataset -> ``<dest>/<class>/<image_id>.png`` + ``metadata.csv``.

Images of any mode and shape are converted as ``icepaper.data.images`` describes: grey
uint8, dark particle on a bright background (``polarity``), letterboxed to a square with
their own background level and resized to ``image_size``. ``pixel_um`` of a stored image
is the original um/px (``metadata.csv`` column or the ``pixel_um`` argument; NA if unknown)
times (longer original side / image_size); ``source_px`` is that longer side (px), so sizes
measured on a stored image convert back to pixels of the original file.

metadata.csv
    One row per image, keyed by the first ``file``/``filename``/``file_name``/``path``/
    ``filepath``/``relative_path`` column present, else by ``image_id``. A key is the
    image's path relative to ``src`` (extension optional, ``\\`` or ``/``, leading folders
    such as an absolute path to ``src`` allowed) or a plain file name that is unique in the
    tree (``scan.match_keys``); a plain name shared by several images is bad input naming
    the row and the files. With a file column, an ``image_id`` column gives the images' ids
    (what ``export_folder`` writes). Any other columns are kept, e.g. labels per scheme
    (``habit19``, ``habit4``, ``cpi``), ``campaign``, ``instrument``, ``temperature_c``
    (deg C), ``supersaturation``, ``dmax_um``, ``pixel_um`` (um per pixel of the original
    file) and ``split`` (train/val/test; assigned with ``assign_splits`` when absent).
    The class folder gives the label of ``label_scheme`` (default ``"cpi"``; pass e.g.
    ``"habit19"`` for HOLIMO classes); a metadata label that disagrees with the folder
    is bad input.

Bad input
    Every problem is reported with the file it concerns: unreadable, zero-byte,
    truncated or non-image files, folders named like images, broken links, symlink
    loops, empty class folders, images over ``images.MAX_PIXELS`` (20000 x 20000) or
    under ``images.MIN_SIDE`` (4 px on the longer side), metadata rows without an image,
    images without a row, duplicate or ambiguous rows, NaN or implausible temperatures,
    non-numeric metadata, duplicate image ids (``a/x.png`` beside ``a/x.jpg``), a
    nonexistent input path, an unwritable output folder. Mixed modes (RGB, RGBA,
    palette, 16-bit) are converted and counted in the report, a single class and blank
    (single-level) images are warnings, not errors. ``plan_folder`` runs every check
    without writing (``icepaper check-data`` uses it).
    ``on_error="fail"`` (default) checks everything -- every image is decoded -- before
    anything is written and raises ``BadInputError`` listing all problems;
    ``on_error="skip"`` imports the rest and lists what it skipped and why in the
    ``ImportReport``. Writing goes through ``PackedWriter``: the dataset appears under
    its final name only when complete.

Output folder (``icepaper.data.destination``)
    Imports and exports refuse an output that is the input, inside it or contains it, and
    a non-empty output folder they did not write. Replacing an existing packed dataset (or
    export folder) needs ``overwrite=True`` (``--overwrite``); the old one stays until the
    new one is complete. Two writers of one output take turns (a lock beside it).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .destination import EXPORT_MARKER, is_export, writes_destination
from .images import (
    IMAGE_EXTENSIONS,
    MIN_SIDE,
    POLARITIES,
    ImageReadError,
    border_level,
    load_grey,
    to_packed,
)
from .packed import LABEL_SCHEMES, PackedDataset, PackedWriter
from .scan import METADATA_FILE, FolderScan, match_keys, normalise_key, scan_folder
from .scan import ignored as _ignored
from .scan import is_image_name as _is_image
from .sheets import CANVAS_RGB, CPI_UM_PER_PX, extract_sheet, read_sheet, sheet_counts
from .splits import SPLITS, assign_splits

# Part of an imported dataset's cache key (load_dataset): bump when an import of the same folder
# would give other ids, images or metadata (2: relative-path ids and source_px; 3: CPI-sheet
# extraction rejects streak frames and per-edge cut-offs).
IMPORTER_VERSION = 3
FILE_COLUMNS = ("file", "filename", "file_name", "path", "filepath", "relative_path")
KEY_COLUMNS = ("image_id", *FILE_COLUMNS)
NUMERIC_COLUMNS = ("temperature_c", "supersaturation", "dmax_um", "pixel_um")
TEMPERATURE_RANGE_C = (-100.0, 50.0)  # anything outside is a unit mistake (Kelvin?)
_CHUNK = 1024


class BadInputError(ValueError):
    """Input that cannot be imported; ``.problems`` lists (file, reason) pairs."""

    def __init__(self, src, problems: Sequence[tuple[str, str]], hint: str = ""):
        self.problems = list(problems)
        lines = [f"  {f}: {r}" for f, r in self.problems[:25]]
        if len(self.problems) > 25:
            lines.append(f"  ... and {len(self.problems) - 25} more")
        tail = f"\n{hint}" if hint else ("\nNothing was written. Fix these, or pass --on-error skip "
                                          "(on_error='skip' in Python) to import the rest and skip them.")
        super().__init__(f"cannot import {src}: {len(self.problems)} problem(s)\n" + "\n".join(lines) + tail)


@dataclass
class ImportReport:
    """What an import did: ``n_imported``, ``skipped`` (file, reason), ``warnings``, modes seen."""

    src: str
    root: str
    kind: str = "folder"
    layout: str = ""
    n_imported: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    n_inverted: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    sheets: dict[str, dict[str, int]] = field(default_factory=dict)

    def __str__(self) -> str:
        kind = f"{self.kind}: {self.layout}" if self.layout else self.kind
        out = [f"imported {self.n_imported} image(s) from {self.src} ({kind}) into {self.root}"]
        if self.modes:
            out.append("  source modes: " + ", ".join(f"{m} x{n}" for m, n in sorted(self.modes.items())))
        if self.n_inverted:
            out.append(f"  inverted {self.n_inverted} image(s) with a dark background (polarity)")
        if self.labels:
            out.append("  classes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.labels.items())))
        for name, c in self.sheets.items():
            out.append(f"  sheet {name}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
        if self.skipped:
            out.append(f"  skipped {len(self.skipped)}:")
            out += [f"    {f}: {r}" for f, r in self.skipped[:50]]
            if len(self.skipped) > 50:
                out.append(f"    ... and {len(self.skipped) - 50} more")
        if self.warnings:
            out.append("  warnings:")
            out += [f"    {w}" for w in self.warnings]
        return "\n".join(out)


# --------------------------------------------------------------------------- helpers


class NotAFolderError(NotADirectoryError, ValueError):
    """An input path that is a file where a folder is needed (a ValueError, so the CLI prints one line)."""


def _check_src(src) -> Path:
    src = Path(src).expanduser()
    if not src.exists():
        raise FileNotFoundError(f"input path {src} does not exist")
    if not src.is_dir():
        raise NotAFolderError(f"input path {src} is not a folder (give the folder that holds the images)")
    return src


def check_output_writable(root) -> Path:
    """Raise PermissionError naming ``root`` unless a dataset can be written there (probe write)."""
    root = Path(root).expanduser()
    parent = root.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=f".{root.name}.probe-", dir=parent)
        os.rmdir(probe)
    except OSError as e:
        raise PermissionError(f"output folder {root} is not writable: cannot create files in {parent} "
                              f"({e.strerror or e})") from e
    if root.exists() and not root.is_dir():
        raise PermissionError(f"output {root} exists and is not a folder")
    return root


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


def _write(root: Path, size: int, rows: pd.DataFrame, load_fn, name: str, provenance: dict,
           progress: bool) -> None:
    """Write images (``load_fn(i)`` -> size x size uint8) and ``rows`` through PackedWriter."""
    from icepaper.core.progress import tqdm

    n = len(rows)
    with PackedWriter(root, image_size=size, name=name, provenance=provenance) as w:
        bar = tqdm(total=n, desc=f"import {name}", unit="img", disable=not progress or n < 2000)
        for s in range(0, n, _CHUNK):
            idx = range(s, min(n, s + _CHUNK))
            imgs = np.stack([load_fn(i) for i in idx]) if len(idx) else np.zeros((0, size, size), np.uint8)
            w.add(imgs, rows.iloc[s:s + len(idx)].reset_index(drop=True))
            bar.update(len(idx))
        bar.close()


# --------------------------------------------------------------------------- image folders


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


# --------------------------------------------------------------------------- CPI sheets


def looks_like_sheet(path) -> bool:
    """True for a CPI sheet: a large image whose most common colour is the sheet canvas."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if min(im.size) < 300:
                return False
            im.draft("RGB", (im.size[0] // 4, im.size[1] // 4))
            a = np.asarray(im.convert("RGB"))[::4, ::4].reshape(-1, 3)
    except Exception:  # noqa: BLE001 - unreadable files are reported by the importer
        return False
    canvas = (np.abs(a.astype(int) - np.array(CANVAS_RGB)).sum(1) <= 3).mean()
    white = (a.min(1) >= 250).mean()
    return bool(canvas >= 0.25 or white >= 0.5)


@writes_destination("dataset", src="src", dest="root")
def import_sheets(
    src,
    root,
    image_size: int,
    on_error: str = "fail",
    um_per_px: float = CPI_UM_PER_PX,
    min_box: tuple[int, int] = (16, 16),
    cutoff_max: float = 0.10,
    instrument: str = "CPI",
    campaign: str | None = None,
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    group_by_sheet: bool = False,
    name: str | None = None,
    progress: bool = True,
) -> ImportReport:
    """Import a folder of CPI sheet images: every kept particle becomes one packed image.

    Per crop the metadata record ``source_file`` (the sheet), ``box_x, box_y, box_w, box_h``
    (px on the sheet), ``crop_w_um``/``crop_h_um`` (crop size, ``um_per_px`` = 2.3 um/px),
    ``width_um``/``height_um`` (minimum-area rectangle), ``dmax_um`` (max Feret diameter),
    ``cutoff`` (0..1), ``pixel_um`` of the stored image, ``instrument`` and ``campaign``.
    An optional ``metadata.csv`` keyed by sheet file name adds per-sheet columns (e.g.
    ``campaign``, ``temperature_c``) to all its crops. Rejected crops (too small, text, streak,
    no particle, cut off) are counted per sheet in ``report.sheets``.
    ``group_by_sheet``: keep all crops of a sheet in one split (they share a cloud).
    """
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
    src = _check_src(src)
    root = check_output_writable(root)
    size = int(image_size)
    report = ImportReport(src=str(src), root=str(root), kind="CPI sheets")
    problems: list[tuple[str, str]] = []
    sheets = []
    for p in sorted(src.iterdir()):
        if _ignored(p) or p.name == METADATA_FILE:
            continue
        if p.is_dir():
            report.warnings.append(f"{p}: sub-folder ignored (sheets are read from the top level only)")
        elif _is_image(p):
            sheets.append(p)
        else:
            problems.append((str(p), f"not an image file (extension {p.suffix or 'none'!r})"))
    per_sheet = None
    mpath = src / METADATA_FILE
    if mpath.exists():
        per_sheet = _read_metadata(mpath, problems)
        if per_sheet is not None:
            bad = _check_metadata_rows(per_sheet)
            problems += [(f"{mpath}:{line}", r) for line, r in sorted(bad.items())]
            per_sheet = per_sheet[~per_sheet["_row"].isin(bad)]
            known = {_id_of(p.name) for p in sheets}
            for line, iid in zip(per_sheet["_row"], per_sheet["image_id"]):
                if iid not in known:
                    problems.append((f"{mpath}:{line}", f"metadata row for sheet {iid!r} has no sheet image"))
            per_sheet = per_sheet.drop(columns="_row").rename(columns={"image_id": "_sheet"})

    crops_rows, crop_imgs = [], []
    for p in sheets:
        if p.stat().st_size == 0:
            problems.append((str(p), "empty file (0 bytes)"))
            continue
        try:
            rgb = read_sheet(p)
        except OSError as e:
            problems.append((str(p), str(e).removeprefix(f"{p}: ")))
            continue
        found = extract_sheet(rgb, um_per_px=um_per_px, min_box=min_box, cutoff_max=cutoff_max,
                              include_rejected=True)
        report.sheets[p.name] = sheet_counts(found)
        kept = [c for c in found if c.kept]
        if not kept:
            report.warnings.append(f"{p}: no particles found on this sheet")
        for k, c in enumerate(kept):
            row = {"image_id": f"{p.stem}_{k:04d}", "source_file": p.name, "_sheet": p.stem,
                   "instrument": instrument, "campaign": campaign}
            row.update({kk: v for kk, v in c.as_row().items() if kk != "reason"})
            crops_rows.append(row)
            crop_imgs.append(c.image)
    if problems and on_error == "fail":
        raise BadInputError(src, problems)
    report.skipped = problems
    if not crop_imgs:
        raise BadInputError(src, problems or [(str(src), "no particles found on any sheet")],
                            hint="Nothing to import, nothing was written.")
    rows = pd.DataFrame(crops_rows)
    if per_sheet is not None and len(per_sheet):
        extra = [c for c in per_sheet.columns if c != "_sheet"]
        rows = rows.drop(columns=[c for c in extra if c in rows.columns and c not in ("instrument", "campaign")])
        rows = rows.merge(per_sheet, on="_sheet", how="left", suffixes=("", "__meta"))
        for c in ("instrument", "campaign"):
            if f"{c}__meta" in rows.columns:
                rows[c] = rows[f"{c}__meta"].where(rows[f"{c}__meta"].notna(), rows[c])
                rows = rows.drop(columns=f"{c}__meta")
    rows = rows.drop(columns="_sheet")
    outs = [to_packed(im, size, "dark") for im in crop_imgs]
    rows["pixel_um"] = [um_per_px * f for _, f, _ in outs]
    if group_by_sheet:
        rows["split"] = assign_splits(rows, stratify=None, fractions=fractions, seed=seed,
                                      group="source_file").to_numpy()
    rows = _finish_meta(rows, LABEL_SCHEMES, seed, fractions, None)
    prov = {"importer": "cpi_sheets", "src": str(src.resolve()), "um_per_px": um_per_px,
            "min_box": list(min_box), "cutoff_max": cutoff_max, "n_sheets": len(report.sheets)}
    _write(root, size, rows, lambda i: outs[i][0], name or root.name, prov, progress)
    report.n_imported = len(rows)
    return report


# --------------------------------------------------------------------------- dispatch, export


@writes_destination("dataset", src="src", dest="root")
def import_any(src, root, image_size: int, **kwargs) -> ImportReport:
    """Import ``src`` as CPI sheets when its top level holds only sheet-like images, else as an image folder."""
    src = _check_src(src)
    if is_sheet_folder(src):
        return import_sheets(src, root, image_size, **kwargs)
    return import_folder(src, root, image_size, **kwargs)


def is_sheet_folder(src) -> bool:
    """True when the top level of ``src`` holds only images, no folders, and they look like CPI sheets."""
    entries = [p for p in Path(src).iterdir() if not _ignored(p) and p.name != METADATA_FILE]
    images = [p for p in entries if p.is_file() and _is_image(p)]
    has_dirs = any(p.is_dir() for p in entries)
    return bool(images) and not has_dirs and all(looks_like_sheet(p) for p in images[:20])


def _safe_name(s: str) -> str:
    s = re.sub(r"[^\w.\- ]+", "_", str(s)).strip(" .")
    return s or "_"


@writes_destination("export", src="ds", dest="dest")
def export_folder(ds: PackedDataset, dest, scheme: str | None = "cpi", indices=None) -> Path:
    """Write ``ds`` to ``<dest>/<class>/<image_id>.png`` plus ``<dest>/metadata.csv`` (atomically).

    An id with folders (``a/00000``) is written as nested folders, without repeating the
    class folder it already starts with (``a/00000`` of class ``a`` -> ``a/00000.png``).
    Images without a label in ``scheme`` (or every image when ``scheme`` is None or absent)
    go to the top level of ``dest``, their id's folders joined by ``__`` (a top-level folder
    would read back as a class). ``metadata.csv`` names each file (``file``) and keeps its
    ``image_id``, so ``import_folder(dest, ...)`` reads the folder back with the same ids,
    labels, splits and metadata (``pixel_um`` is the stored pixel size). ``indices``
    restricts the export to some rows. Returns ``dest``.
    """
    from PIL import Image

    from icepaper.core.atomic import atomic_dir

    dest = check_output_writable(dest)
    idx = np.arange(len(ds)) if indices is None else np.asarray(indices, dtype=np.int64)
    meta = ds.meta.iloc[idx].reset_index(drop=True)
    use_scheme = scheme is not None and scheme in meta.columns
    labels = [meta[scheme].iloc[k] if use_scheme else None for k in range(len(meta))]
    files = [_export_path(iid, lab) for iid, lab in zip(meta["image_id"], labels)]
    seen: dict[str, str] = {}
    for iid, f in zip(meta["image_id"], files):
        other = seen.setdefault(f.lower(), str(iid))  # case-insensitive file systems
        if other != str(iid):
            raise ValueError(f"{ds.root}: image ids {other!r} and {iid!r} both become the file {f!r}; "
                             f"cannot export")
    with atomic_dir(dest, replace=is_export) as tmp:
        for i, f in zip(idx, files):
            (tmp / f).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(ds[int(i)])).save(tmp / f)
        out = meta.drop(columns=[c for c in ("source_file",) if c in meta.columns])
        out.insert(0, "file", files)
        out.to_csv(tmp / METADATA_FILE, index=False)
        (tmp / EXPORT_MARKER).write_text(json.dumps({"exported_from": str(ds.root), "n_images": len(idx),
                                                     "scheme": scheme}, indent=2) + "\n")
    return dest


def _export_path(image_id, label) -> str:
    """Relative file path (posix) of one exported image (``export_folder``)."""
    parts = [_safe_name(q) for q in str(image_id).replace("\\", "/").split("/") if q.strip(" .")] or ["_"]
    if isinstance(label, str) and label:
        folder = _safe_name(label)
        if len(parts) > 1 and parts[0] == folder:
            parts = parts[1:]
        return "/".join([folder, *parts]) + ".png"
    return "__".join(parts) + ".png"


def remove_dataset(root) -> None:
    """Delete a packed dataset folder (only if it is one)."""
    from .packed import is_packed

    if is_packed(root):
        shutil.rmtree(root)
