"""``icepaper check-data DIR``: what a data folder holds and what the notebooks can do with it.

``check_data(path)`` reads ``path`` and writes nothing (no dataset, no cache, no temporary
file). It uses the importers' own checks (``importers.plan_folder``, ``scan.scan_folder``,
the sheet extraction), so what it calls a problem is exactly what ``icepaper import`` would
stop on (or skip with ``--on-error skip``). The report lists the layout, the number of
images, classes with counts, metadata columns, bad files with reasons, duplicates (same
file content; file names repeated across class folders as an info line), the image size
range, the share of white-on-black images (inverted on import) and which notebook
sections will run on the data (``notebook_sections``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .images import DARK_BACKGROUND
from .packed import LABEL_SCHEMES, PackedDataset, is_packed
from .scan import METADATA_FILE, scan_folder

KIND_SHEETS = "CPI sheets"
KIND_PACKED = "packed dataset"
_DECODE_SIDE = 256  # px: check decodes at most about this size (enough for the border and the shape)


@dataclass(frozen=True)
class Section:
    """One notebook section and whether it runs on the data (``why`` when it does not)."""

    notebook: str
    title: str
    runs: bool
    why: str = ""


# notebook, section, requirements (all must hold); see ``_facts`` for what each means
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("01", "gallery and size distribution", ()),
    ("01", "gallery per class", ("labels",)),
    ("01", "class distribution per campaign", ("labels", "campaign")),
    ("01", "habit against temperature and size", ("labels", "temperature")),
    ("01", "extraction of your CPI sheets", ("sheets",)),
    ("02", "augmentation recipes", ()),
    ("03", "iBOT-vMF, MoCo v2 and BYOL pretraining", ()),
    ("03", "kNN check before and after training", ("classes2",)),
    ("04", "hierarchical k-means curation, cluster galleries", ()),
    ("04", "class balance before and after curation", ("labels",)),
    ("05", "kNN and logistic probes vs the geometric baseline", ("classes2",)),
    ("06", "label-budget study", ("classes2",)),
    ("06", "unseen-campaign generalisation", ("classes2", "campaigns2")),
    ("07", "kappa per k-means cluster, rare-habit discovery", ()),
    ("07", "kappa per class, label-noise discovery", ("labels",)),
    ("07", "kappa vs temperature", ("temperature",)),
    ("07", "kappa vs particle size", ("size",)),
    ("07", "kappa vs campaign", ("campaigns2",)),
    ("08", "synthetic rosettes, VAEs, synthetic vs real latent space", ()),
)
_NEEDS = {
    "labels": "no class labels",
    "classes2": "needs >= 2 labelled classes",
    "campaign": "no campaign column",
    "campaigns2": "needs >= 2 campaigns",
    "temperature": "no temperature_c column",
    "size": "no dmax_um or pixel_um column",
    "sheets": "only for a folder of CPI sheets",
}


@dataclass
class DataReport:
    """What ``check_data`` found; ``str(report)`` is what ``icepaper check-data`` prints."""

    path: str
    kind: str = ""
    n_files: int = 0  # image files found (sheets: sheet files)
    n_images: int = 0  # images that import (sheets: particles kept)
    classes: dict[str, dict[str, int]] = field(default_factory=dict)  # scheme -> class -> count
    columns: list[str] = field(default_factory=list)
    campaigns: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)  # files with identical content
    repeated_names: dict[str, list[str]] = field(default_factory=dict)
    height_px: tuple[int, int] | None = None  # (min, max) of the original images
    width_px: tuple[int, int] | None = None
    modes: dict[str, int] = field(default_factory=dict)
    white_on_black: float | None = None  # share of images with a dark background
    sheets: dict[str, dict[str, int]] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)

    @property
    def importable(self) -> bool:
        """Whether ``icepaper import`` (with ``--on-error skip`` if there are problems) imports anything."""
        return self.n_images > 0

    def __str__(self) -> str:
        out = [f"{self.path}: {self.kind}"]
        if self.kind == KIND_SHEETS:
            out.append(f"  {self.n_images} particles kept from {self.n_files} sheet(s)")
        else:
            out.append(f"  {self.n_images} images that import" + (f" (of {self.n_files} image files)"
                                                                   if self.n_files else ""))
        for scheme, counts in self.classes.items():
            out.append(f"  classes ({scheme}, {len(counts)}): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if not self.classes and self.n_images:
            out.append("  classes: none (unlabelled)")
        if self.columns:
            out.append("  metadata columns: " + ", ".join(self.columns))
        if self.campaigns:
            out.append("  campaigns: " + ", ".join(f"{k} {v}" for k, v in self.campaigns.items()))
        if self.height_px:
            out.append(f"  image size: {self.height_px[0]}-{self.height_px[1]} px high, "
                       f"{self.width_px[0]}-{self.width_px[1]} px wide")
        if self.modes:
            out.append("  modes: " + ", ".join(f"{m} x{n}" for m, n in sorted(self.modes.items())))
        if self.white_on_black is not None:
            out.append(f"  white-on-black share: {self.white_on_black:.0%}"
                       + (" (inverted on import, polarity='auto')" if self.white_on_black else ""))
        for name, c in self.sheets.items():
            out.append(f"  sheet {name}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
        if self.duplicates:
            out.append(f"  {len(self.duplicates)} group(s) of files with identical content:")
            out += [f"    {' = '.join(g[:4])}" + (f" (+{len(g) - 4})" if len(g) > 4 else "")
                    for g in self.duplicates[:10]]
        if self.repeated_names:
            ex = next(iter(self.repeated_names.items()))
            out.append(f"  info: {len(self.repeated_names)} file name(s) repeat across folders "
                       f"(e.g. {ex[0]} in {', '.join(ex[1][:3])}); fine, ids are relative paths")
        if self.problems:
            out.append(f"  {len(self.problems)} problem(s) (import stops on them; --on-error skip skips them):")
            out += [f"    {f}: {r}" for f, r in self.problems[:50]]
            if len(self.problems) > 50:
                out.append(f"    ... and {len(self.problems) - 50} more")
        if self.warnings:
            out.append("  warnings:")
            out += [f"    {w}" for w in self.warnings]
        if self.sections:
            out.append("  notebook sections:")
            out += [f"    {s.notebook} {'runs' if s.runs else 'skip'}  {s.title}" + ("" if s.runs else f" ({s.why})")
                    for s in self.sections]
        out.append("  importable: " + ("yes" if self.importable else "no, nothing to import"))
        return "\n".join(out)


def check_data(path, label_scheme: str = "cpi") -> DataReport:
    """Inspect ``path`` (image folder, CPI-sheet folder or packed dataset) without writing anything."""
    from .importers import is_sheet_folder

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label_scheme or ""):
        raise ValueError(f"label_scheme must be a column name like 'cpi', got {label_scheme!r}")
    path = Path(path).expanduser()
    rep = DataReport(path=str(path))
    if not path.exists():
        rep.kind = "missing"
        rep.problems.append((str(path), "does not exist"))
        return rep
    if not path.is_dir():
        rep.kind = "not a folder"
        rep.problems.append((str(path), "is a file, not a folder: give the folder that holds the images"))
        return rep
    if is_packed(path):
        _check_packed(path, rep)
    elif is_sheet_folder(path):
        _check_sheets(path, rep)
    else:
        _check_folder(path, rep, label_scheme)
    rep.sections = notebook_sections(rep)
    return rep


def _check_folder(src: Path, rep: DataReport, label_scheme: str) -> None:
    from .importers import plan_folder

    plan = plan_folder(src, label_scheme, max_side=_DECODE_SIDE)
    keep = plan.keep
    rep.kind = plan.scan.layout
    rep.n_files, rep.n_images = len(plan.scan.files), len(keep)
    rep.problems, rep.warnings, rep.modes = plan.problems, plan.warnings, dict(plan.modes)
    rows = plan.rows.iloc[keep]
    if label_scheme in rows.columns and rows[label_scheme].notna().any():
        rep.classes[label_scheme] = _counts(rows[label_scheme])
    for scheme in LABEL_SCHEMES:
        if scheme != label_scheme and scheme in rows.columns and rows[scheme].notna().any():
            rep.classes[scheme] = _counts(rows[scheme])
    rep.columns = plan.metadata_columns
    if "campaign" in rows.columns:
        rep.campaigns = _counts(rows["campaign"])
    if keep:
        sh = plan.shapes[keep]
        rep.height_px = (int(sh[:, 0].min()), int(sh[:, 0].max()))
        rep.width_px = (int(sh[:, 1].min()), int(sh[:, 1].max()))
        rep.white_on_black = float((plan.border[keep] < DARK_BACKGROUND).mean())
    rep.repeated_names = plan.scan.repeated_names()
    rep.duplicates = _same_content([plan.scan.files[i] for i in keep], src)


def _check_sheets(src: Path, rep: DataReport) -> None:
    from .importers.metadata import _check_metadata_rows, _read_metadata
    from .sheets import extract_sheet, read_sheet, sheet_counts

    scan = scan_folder(src)
    rep.kind = KIND_SHEETS
    rep.problems = list(scan.problems)
    sheets = [p for p, c in zip(scan.files, scan.classes) if c is None]
    rep.n_files = len(sheets)
    heights, widths = [], []
    for p in sheets:
        try:
            rgb = read_sheet(p)
        except OSError as e:
            rep.problems.append((str(p), str(e).removeprefix(f"{p}: ")))
            continue
        heights.append(rgb.shape[0])
        widths.append(rgb.shape[1])
        c = sheet_counts(extract_sheet(rgb, include_rejected=True))
        rep.sheets[p.name] = c
        rep.n_images += int(c.get("kept", 0))
        if not c.get("kept", 0):
            rep.warnings.append(f"{p}: no particles found on this sheet")
    if heights:
        rep.height_px, rep.width_px = (min(heights), max(heights)), (min(widths), max(widths))
    rep.columns = ["dmax_um", "pixel_um", "width_um", "height_um", "instrument"]
    mpath = src / METADATA_FILE
    if mpath.exists():
        meta = _read_metadata(mpath, rep.problems)
        if meta is not None:
            bad = _check_metadata_rows(meta)
            rep.problems += [(f"{mpath}:{line}", r) for line, r in sorted(bad.items())]
            extra = [c for c in meta.columns if c not in ("image_id", "_row")]
            rep.columns += [c for c in extra if c not in rep.columns]
            if "campaign" in meta.columns:
                per = {Path(p).stem: n.get("kept", 0) for p, n in rep.sheets.items()}
                camp = meta.set_index("image_id")["campaign"].dropna()
                totals: dict[str, int] = {}
                for sheet, c in camp.items():
                    totals[str(c)] = totals.get(str(c), 0) + int(per.get(sheet, 0))
                rep.campaigns = dict(sorted(totals.items()))
    rep.duplicates = _same_content(sheets, src)


def _check_packed(root: Path, rep: DataReport) -> None:
    ds = PackedDataset(root)
    m = ds.meta
    rep.kind = KIND_PACKED
    rep.n_images = len(ds)
    for scheme in LABEL_SCHEMES:
        if scheme in m.columns and m[scheme].notna().any():
            rep.classes[scheme] = _counts(m[scheme])
    rep.columns = [c for c in m.columns if c not in ("image_id", "split", "source_file") and m[c].notna().any()]
    if "campaign" in m.columns:
        rep.campaigns = _counts(m["campaign"])
    rep.height_px = rep.width_px = (ds.size, ds.size)
    rep.white_on_black = 0.0  # packed images are dark-on-bright by definition


def _counts(s: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(s.dropna().astype(str).value_counts().items())}


def _same_content(files: list[Path], root: Path) -> list[list[str]]:
    """Groups (>= 2) of files with byte-identical content, as paths relative to ``root``."""
    by_size: dict[int, list[Path]] = {}
    for p in files:
        by_size.setdefault(p.stat().st_size, []).append(p)
    groups: dict[str, list[str]] = {}
    for same in by_size.values():
        if len(same) < 2:
            continue
        for p in same:
            digest = hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest()
            groups.setdefault(digest, []).append(p.relative_to(root).as_posix())
    return sorted(g for g in groups.values() if len(g) > 1)


def _facts(rep: DataReport) -> dict[str, bool]:
    """What the data offer, by requirement name of ``SECTIONS``."""
    n_cls = max((len(c) for c in rep.classes.values()), default=0)
    cols = set(rep.columns)
    return {
        "labels": n_cls >= 1,
        "classes2": n_cls >= 2,
        "campaign": "campaign" in cols,
        "campaigns2": len(rep.campaigns) >= 2,
        "temperature": "temperature_c" in cols,
        "size": bool({"dmax_um", "pixel_um"} & cols),
        "sheets": rep.kind == KIND_SHEETS,
    }


def notebook_sections(rep: DataReport) -> list[Section]:
    """Each notebook section of ``SECTIONS`` with whether it runs on the data, and why not."""
    if not rep.importable:
        return []
    facts = _facts(rep)
    out = []
    for nb, title, needs in SECTIONS:
        missing = [_NEEDS[n] for n in needs if not facts[n]]
        out.append(Section(nb, title, not missing, "; ".join(missing)))
    return out


def exit_code(rep: DataReport) -> int:
    """0 when something imports, 2 when nothing does (``icepaper check-data``)."""
    return 0 if rep.importable else 2

