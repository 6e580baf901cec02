"""Import a folder of CPI sheet PNGs: every kept particle of every sheet becomes one packed image."""


from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..destination import writes_destination
from ..images import (
    to_packed,
)
from ..packed import LABEL_SCHEMES
from ..scan import METADATA_FILE
from ..scan import ignored as _ignored
from ..scan import is_image_name as _is_image
from ..sheets import CANVAS_RGB, CPI_UM_PER_PX, extract_sheet, read_sheet, sheet_counts
from ..splits import assign_splits
from .common import BadInputError, ImportReport, _check_src, _write, check_output_writable
from .metadata import _check_metadata_rows, _finish_meta, _id_of, _read_metadata


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



def is_sheet_folder(src) -> bool:
    """True when the top level of ``src`` holds only images, no folders, and they look like CPI sheets."""
    entries = [p for p in Path(src).iterdir() if not _ignored(p) and p.name != METADATA_FILE]
    images = [p for p in entries if p.is_file() and _is_image(p)]
    has_dirs = any(p.is_dir() for p in entries)
    return bool(images) and not has_dirs and all(looks_like_sheet(p) for p in images[:20])
