"""What every importer shares: the bad-input error, the import report, input/output checks and
the chunked write into a packed dataset."""


from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..packed import PackedWriter

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
