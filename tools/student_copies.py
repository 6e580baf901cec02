#!/usr/bin/env python3
"""Student copies of the notebooks for a workshop (standard library only).

    python tools/student_copies.py                          # every notebooks/*.ipynb -> build/workshop/notebooks/
    python tools/student_copies.py --out DIR [NOTEBOOK ...]
    make workshop                                           # the same, default folder

Each copy is the committed notebook with

- every output and execution count cleared, the papermill run metadata and the cell papermill
  injected for that run (tagged ``injected-parameters``) left out: the copy runs with the defaults
  of its ``parameters`` cell;
- in every cell tagged ``solution``, each block from a line ``### BEGIN SOLUTION`` to a line
  ``### END SOLUTION`` (both included) replaced by a stub: in a code cell
  ``# YOUR CODE HERE`` and ``raise NotImplementedError(...)``, so that "Run all" runs the
  notebook up to the first exercise and stops there; in a markdown cell ``_Your answer here._``.
  Text outside the markers stays.

- the ``profile = "..."`` line of the ``parameters`` cell set to the workshop's profile
  (``--profile``, default ``workshop``: the default profile's cached data and networks, prepared
  by ``make workshop``, so every notebook runs in minutes);
- the test scaffolding left out: cells tagged ``remove-cell`` (the ``# NBVAL_CHECK_OUTPUT``
  cells, tagged ``nbval-check``, and the assertion cells, tagged ``assertions``; Jupyter Book
  hides the same tag).

Everything else stays as it is. The student README (``tools/student_README.md``) is copied beside the notebooks
as ``README.md``.

A cell tagged ``solution`` without a complete marker block, unbalanced or nested markers, and
markers in a cell that is not tagged ``solution`` (its answer would reach the students) are
errors: the script names the notebook and the cell, writes nothing and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "build" / "workshop" / "notebooks"
README = ROOT / "tools" / "student_README.md"

SOLUTION_TAG = "solution"
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = '# YOUR CODE HERE\nraise NotImplementedError("exercise: write your solution here")'
MARKDOWN_STUB = "_Your answer here._"
DROPPED_TAGS = ("injected-parameters", "remove-cell")  # papermill's run parameters; test scaffolding
PROFILE_LINE = re.compile(r'^profile = "[^"]*"', re.M)
WORKSHOP_PROFILE = "workshop"


class MarkerError(ValueError):
    """A solution cell without a complete ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block."""


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _lines(text: str) -> list[str]:
    """Source as notebooks store it: one string per line, each but the last ending in a newline."""
    return text.splitlines(keepends=True)


def tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def solution_blocks(source: str) -> list[tuple[int, int]]:
    """(first, last) line numbers of every marker block of ``source``, markers included.

    Raises ``MarkerError`` for an END without BEGIN, a BEGIN inside a block, or a block not closed.

    >>> solution_blocks("a\\n### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION\\nb")
    [(1, 3)]
    """
    blocks, start = [], None
    for i, line in enumerate(source.splitlines()):
        mark = line.strip()
        if mark == BEGIN:
            if start is not None:
                raise MarkerError(f"'{BEGIN}' on line {i + 1} inside the block opened on line {start + 1}")
            start = i
        elif mark == END:
            if start is None:
                raise MarkerError(f"'{END}' on line {i + 1} without a '{BEGIN}' before it")
            blocks.append((start, i))
            start = None
    if start is not None:
        raise MarkerError(f"'{BEGIN}' on line {start + 1} is never closed by '{END}'")
    return blocks


def stub_source(source: str, cell_type: str) -> str:
    """``source`` with every solution block replaced by the stub of its cell type (indentation kept)."""
    lines = source.splitlines()
    blocks = solution_blocks(source)
    if not blocks:
        raise MarkerError(f"tagged '{SOLUTION_TAG}' but has no '{BEGIN}' ... '{END}' block")
    out, pos = [], 0
    for first, last in blocks:
        out += lines[pos:first]
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        stub = CODE_STUB if cell_type == "code" else MARKDOWN_STUB
        out += [indent + s for s in stub.splitlines()]
        pos = last + 1
    out += lines[pos:]
    return "\n".join(out)


def student_notebook(nb: dict, name: str = "notebook", profile: str = WORKSHOP_PROFILE) -> dict:
    """The student copy of the notebook ``nb`` (a new dict; ``nb`` is not changed), whose
    parameters cell runs ``profile``."""
    nb = json.loads(json.dumps(nb))
    cells = []
    for i, cell in enumerate(nb.get("cells", [])):
        if any(t in tags(cell) for t in DROPPED_TAGS):
            continue
        where = f"{name}: cell {i} (id {cell.get('id', '?')}, {cell.get('cell_type')})"
        source = _text(cell.get("source", ""))
        try:
            if SOLUTION_TAG in tags(cell):
                source = stub_source(source, cell.get("cell_type", "code"))
            elif solution_blocks(source):
                raise MarkerError(f"has '{BEGIN}' markers but is not tagged '{SOLUTION_TAG}' "
                                  "(its answer would reach the students)")
        except MarkerError as e:
            raise MarkerError(f"{where}: {e}") from None
        if "parameters" in tags(cell):
            source, n = PROFILE_LINE.subn(f'profile = "{profile}"', source)
            if n != 1:
                raise MarkerError(f"{where}: the parameters cell has {n} lines 'profile = \"...\"', expected one")
        cell["source"] = _lines(source)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        for key in ("papermill", "execution"):
            cell.get("metadata", {}).pop(key, None)
        cells.append(cell)
    nb["cells"] = cells
    nb.get("metadata", {}).pop("papermill", None)
    return nb


def write_copies(notebooks: list[Path], out: Path, profile: str = WORKSHOP_PROFILE) -> list[Path]:
    """Student copies of ``notebooks`` in ``out`` (stale copies there removed) and the README.

    Every notebook is checked before anything is written."""
    copies = {p.name: student_notebook(json.loads(p.read_text(encoding="utf-8")), p.name, profile)
              for p in notebooks}
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.ipynb"):
        old.unlink()
    written = []
    for name, nb in copies.items():
        dest = out / name
        dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(dest)
    shutil.copyfile(README, out / "README.md")
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Student copies of the notebooks: outputs cleared, "
                                             "solutions replaced by stubs.")
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT.relative_to(ROOT)}")
    ap.add_argument("--profile", default=WORKSHOP_PROFILE,
                    help=f"the profile the copies' parameters cells run (default: {WORKSHOP_PROFILE})")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    try:
        written = write_copies(notebooks, args.out, args.profile)
    except MarkerError as e:
        print(f"student_copies: {e}", file=sys.stderr)
        return 1
    n_ex = sum(SOLUTION_TAG in tags(c) for p in written
               for c in json.loads(p.read_text(encoding="utf-8")).get("cells", []))
    print(f"{len(written)} student notebooks ({n_ex} solution cells replaced by stubs) and README.md in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
