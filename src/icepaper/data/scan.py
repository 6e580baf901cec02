"""Find the images of a user folder: their ids, classes and layout, and what is wrong with the tree.

Ids
    An image's id is its path relative to the data root, without the extension, with '/'
    separators: ``<root>/a/00000.png`` -> ``a/00000``; in a flat folder it is the file stem.
    File names may therefore repeat across class folders (the ImageFolder layout).
Classes
    The first-level folder: ``<root>/<class>/<sub>/.../<file>`` has class ``<class>``;
    images at the top level have none.
Walk
    Hidden entries (``.x``), ``__x`` folders (``__MACOSX``), README/LICENSE files and
    ``metadata.csv`` are skipped. Symbolic links are followed, except a link to a folder
    that encloses it (reported as a symlink loop) and a link whose target does not exist.
Metadata keys (``match_keys``)
    A ``metadata.csv`` key names an image by its relative path (extension optional, any
    leading folders such as an absolute path to the root allowed: the longest image id
    that ends the key wins) or by a plain file name that is unique in the tree.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .images import IMAGE_EXTENSIONS

METADATA_FILE = "metadata.csv"
IGNORED_PREFIXES = ("readme", "license", "licence", "thumbs.db", "desktop.ini")

LAYOUT_FLAT = "unlabelled flat folder"
LAYOUT_LABELLED = "labelled folder"
LAYOUT_NESTED = "nested labelled folder"
LAYOUT_MIXED = "mixed (images beside class folders)"
LAYOUT_EMPTY = "no images"


@dataclass
class FolderScan:
    """Images found under ``src``: ``files``, their ``ids`` and ``classes``; ``problems`` (file, reason)."""

    src: Path
    files: list[Path] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    classes: list[str | None] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    bad: set[int] = field(default_factory=set)  # indices of files with a problem (duplicate ids)
    layout: str = LAYOUT_EMPTY
    n_top: int = 0  # images at the top level
    max_depth: int = 0  # 1 = top level, 2 = <class>/<file>, 3+ = nested

    def repeated_names(self) -> dict[str, list[str]]:
        """File names that occur in more than one folder: name -> the folders (fine: ids are paths)."""
        where: dict[str, list[str]] = {}
        for p, iid in zip(self.files, self.ids):
            where.setdefault(p.name, []).append(iid.rpartition("/")[0] or ".")
        return {n: d for n, d in where.items() if len(d) > 1}


def ignored(p: Path) -> bool:
    """Entries the importers never read: hidden, ``__x``, README/LICENSE/Thumbs.db/desktop.ini."""
    n = p.name.lower()
    return n.startswith(".") or n.startswith("__") or n.startswith(IGNORED_PREFIXES)


def is_image_name(p: Path | str) -> bool:
    """Whether a file name has an image extension (any case: .png, .PNG, .jpeg, .TIF ...)."""
    return os.path.splitext(str(p))[1].lower() in IMAGE_EXTENSIONS


def image_id(rel: Path | str) -> str:
    """The id of an image at ``rel`` (relative to the data root): posix path without extension."""
    parts = Path(rel).parts
    stem, ext = os.path.splitext(parts[-1])
    last = stem if ext.lower() in IMAGE_EXTENSIONS and stem else parts[-1]
    return "/".join([*parts[:-1], last])


def not_an_image(p: Path) -> str:
    return f"not an image file (extension {p.suffix or 'none'!r}; expected {', '.join(IMAGE_EXTENSIONS)})"


def _visit(p: Path, ancestors: frozenset[str], images: list[Path], problems: list) -> None:
    """One entry: an image is appended, a folder walked, anything else reported as a problem."""
    try:
        is_link = p.is_symlink()
        mode = os.stat(p).st_mode  # follows links
    except OSError as err:
        if err.errno == errno.ELOOP:
            problems.append((str(p), "symlink loop (the link resolves to itself)"))
        elif is_link:
            problems.append((str(p), f"broken symlink: its target {os.readlink(p)!r} does not exist"))
        else:
            problems.append((str(p), f"cannot access ({err.strerror or err})"))
        return
    if stat.S_ISDIR(mode):
        real = os.path.realpath(p)
        if real in ancestors:
            problems.append((str(p), f"symlink loop: points to {real}, a folder that contains it"))
        elif is_image_name(p):
            problems.append((str(p), "a folder named like an image file, not an image"))
        else:
            _walk(p, ancestors | {real}, images, problems)
    elif not stat.S_ISREG(mode):
        problems.append((str(p), "not a regular file (device, socket or pipe)"))
    elif is_image_name(p):
        images.append(p)
    else:
        problems.append((str(p), not_an_image(p)))


def _walk(folder: Path, ancestors: frozenset[str], images: list[Path], problems: list) -> None:
    """``_visit`` every entry of ``folder`` in name order (depth first)."""
    try:
        entries = sorted(e.name for e in os.scandir(folder))
    except OSError as e:
        problems.append((str(folder), f"cannot list folder ({e.strerror or e})"))
        return
    for name in entries:
        p = Path(folder, name)
        if not ignored(p):
            _visit(p, ancestors, images, problems)


def scan_folder(src: Path) -> FolderScan:
    """Walk ``src`` (an existing folder) and return its images, ids, classes, layout and problems.

    Problems: non-image files, folders named like images, empty class folders, symlink
    loops, broken links, unreadable folders, and duplicate ids (``a/x.png`` beside
    ``a/x.jpg``). Nothing is decoded here (``importers.plan_folder`` does that).
    """
    src = Path(src)
    scan = FolderScan(src=src)
    root = frozenset({os.path.realpath(src)})
    try:
        top = sorted(e.name for e in os.scandir(src))
    except OSError as e:
        scan.problems.append((str(src), f"cannot list folder ({e.strerror or e})"))
        return scan
    for name in top:
        p = Path(src, name)
        if ignored(p) or name == METADATA_FILE:
            continue
        found: list[Path] = []
        n_before = len(scan.problems)
        is_class = os.path.isdir(p) and not is_image_name(p) and os.path.realpath(p) not in root
        _visit(p, root, found, scan.problems)
        if is_class and not found:
            what = "no images in it" if len(scan.problems) == n_before else "no readable images in it"
            scan.problems.append((str(p), f"empty class folder: {what}"))
        scan.files += found
    for p in scan.files:
        rel = p.relative_to(src)
        scan.ids.append(image_id(rel))
        scan.classes.append(rel.parts[0] if len(rel.parts) > 1 else None)
        scan.max_depth = max(scan.max_depth, len(rel.parts))
    scan.n_top = sum(c is None for c in scan.classes)
    by_id: dict[str, list[int]] = {}
    for i, iid in enumerate(scan.ids):
        by_id.setdefault(iid, []).append(i)
    for iid, idx in by_id.items():
        if len(idx) > 1:
            others = ", ".join(str(scan.files[j].relative_to(src)) for j in idx)
            for j in idx:
                scan.problems.append((str(scan.files[j]), f"duplicate image id {iid!r} (files: {others})"))
                scan.bad.add(j)
    if not scan.files:
        scan.layout = LAYOUT_EMPTY
    elif scan.n_top == len(scan.files):
        scan.layout = LAYOUT_FLAT
    elif scan.n_top:
        scan.layout = LAYOUT_MIXED
    else:
        scan.layout = LAYOUT_NESTED if scan.max_depth > 2 else LAYOUT_LABELLED
    return scan


# --------------------------------------------------------------------------- metadata keys


def normalise_key(value) -> str | None:
    """A metadata key as a '/'-separated path without an image extension (None if empty)."""
    if not isinstance(value, str) or not value.strip():
        return None
    k = value.strip().replace("\\", "/")
    while k.startswith("./"):
        k = k[2:]
    head, _, last = k.rpartition("/")
    stem, ext = os.path.splitext(last)
    if ext.lower() in IMAGE_EXTENSIONS and stem:
        last = stem
    return f"{head}/{last}" if head else last


def match_keys(keys: Sequence, ids: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """For each metadata key: (the image id it names, None) or (None, why not).

    A key names the image whose id is the longest '/'-aligned ending of the key
    (``a/00000``, ``a/00000.png``, ``/data/2ds/a/00000.png`` -> ``a/00000``); a plain file
    name (no folder) also names the one image with that file name anywhere in the tree
    and is ambiguous when several images share it.
    """
    idset = set(ids)
    by_name: dict[str, list[str]] = {}
    for iid in ids:
        by_name.setdefault(iid.rpartition("/")[2], []).append(iid)
    out: list[tuple[str | None, str | None]] = []
    for raw in keys:
        k = normalise_key(raw)
        if k is None:
            out.append((None, "empty image key"))
            continue
        parts = [s for s in k.split("/") if s]
        hit = next(("/".join(parts[j:]) for j in range(len(parts)) if "/".join(parts[j:]) in idset), None)
        if hit is not None:
            out.append((hit, None))
        elif "/" not in k and len(by_name.get(k, [])) == 1:
            out.append((by_name[k][0], None))
        elif "/" not in k and k in by_name:
            c = by_name[k]
            shown = ", ".join(c[:5]) + (f" and {len(c) - 5} more" if len(c) > 5 else "")
            out.append((None, f"file name {raw.strip()!r} is ambiguous: {len(c)} images have it ({shown}); "
                              f"key the row by its path relative to the folder, e.g. {c[0]!r}"))
        else:
            out.append((None, f"metadata row for image_id {k!r} has no image"))
    return out
