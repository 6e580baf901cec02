#!/usr/bin/env python3
"""Check that committed notebooks are what ``make paper`` publishes (standard library only).

    python tools/check_notebooks.py                  # every notebooks/*.ipynb
    python tools/check_notebooks.py notebooks/03_pretraining.ipynb

A committed notebook must be an executed copy from ``icepaper run --profile default`` on the
synthetic default data (``make paper`` copies them back into ``notebooks/``):

- papermill ran it: ``metadata.papermill.parameters`` and an ``injected-parameters`` cell
  say ``profile = "default"`` and ``data = ""``, and so does the cell tagged ``parameters``;
- every non-empty code cell ran, top to bottom in one kernel (execution counts 1, 2, 3 ...),
  and the code cells have outputs;
- no error output, no traceback, and no absolute local path (a home or work folder, this
  checkout) in sources, text outputs or the recorded parameters.

Prints one line per problem (``path: problem``) and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = "default"
DATA = ""  # the synthetic default dataset

# Absolute paths into a user's or a machine's own folders.
_LOCAL_ROOTS = ("home", "Users", "root", "tmp", "work", "mnt", "scratch", "private", "media",
                "var/folders", "gpfs", "lustre", "nfs")
LOCAL_PATH = re.compile(
    r"(?<![\w.~-])/(?:" + "|".join(re.escape(r) for r in _LOCAL_ROOTS) + r")(?:/[\w.~-]+)+"
    r"|\b[A-Za-z]:\\(?:Users|Documents and Settings)\\"
)
TEXT_MIME = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(map(str, value))
    if isinstance(value, (dict, int, float)) or value is None:
        return json.dumps(value)
    return str(value)


def _local_paths(text: str) -> list[str]:
    found = [m.group(0) for m in LOCAL_PATH.finditer(text)]
    for literal in {str(ROOT), str(Path.home())}:
        if len(literal) > 1 and literal in text:
            found.append(literal)
    return sorted(set(found))


def _assigned(source: str) -> dict[str, object]:
    """Literal ``name = value`` assignments of a parameters cell."""
    out: dict[str, object] = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def _check_parameters(where: str, params: dict[str, object]) -> list[str]:
    problems = []
    if params.get("profile") != PROFILE:
        problems.append(f"{where} says profile = {params.get('profile')!r}, not {PROFILE!r}")
    if "data" in params and params["data"] != DATA:
        problems.append(f"{where} says data = {params['data']!r}, not the synthetic default {DATA!r}")
    return problems


def check_notebook(path: Path) -> list[str]:
    """Problems of one notebook file (empty when it is a clean default-profile output)."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return [f"unreadable notebook: {e}"]
    problems: list[str] = []
    cells = nb.get("cells", [])
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]

    # --- executed by papermill with the default profile
    pm = nb.get("metadata", {}).get("papermill")
    if not isinstance(pm, dict) or "parameters" not in pm:
        problems.append("not executed by papermill (no metadata.papermill.parameters): "
                        "commit the copies `make paper` writes")
    else:
        problems += _check_parameters("metadata.papermill.parameters", pm["parameters"])
        problems += [f"metadata.papermill.parameters: {p}" for p in
                     (f"absolute local path {x}" for x in _local_paths(_text(pm["parameters"])))]
        if pm.get("exception"):
            problems.append("metadata.papermill.exception is set: the run failed")

    def tagged(tag: str) -> list[tuple[int, dict]]:
        return [(i, c) for i, c in code if tag in c.get("metadata", {}).get("tags", [])]

    params = tagged("parameters")
    if len(params) != 1:
        problems.append(f"{len(params)} code cells tagged 'parameters' (needs exactly one)")
    for i, c in params:
        problems += [f"cell {i} (parameters): {p}" for p in
                     _check_parameters("the parameters cell", _assigned(_text(c.get("source", ""))))]
    injected = tagged("injected-parameters")
    if pm is not None and len(injected) != 1:
        problems.append(f"{len(injected)} cells tagged 'injected-parameters' (papermill writes one)")
    for i, c in injected:
        problems += [f"cell {i} (injected-parameters): {p}" for p in
                     _check_parameters("the injected parameters", _assigned(_text(c.get("source", ""))))]

    # --- every cell ran, in order, and left outputs
    counts, unrun = [], []
    for i, c in code:
        if not _text(c.get("source", "")).strip():
            continue
        if c.get("execution_count") is None:
            unrun.append(i)
        else:
            counts.append(c["execution_count"])
    if unrun:
        problems.append(f"code cells never executed: {unrun}")
    if counts and counts != list(range(1, len(counts) + 1)):
        problems.append(f"execution counts {counts} are not 1, 2, 3 ...: not one top-to-bottom run")
    if code and not any(c.get("outputs") for _, c in code):
        problems.append("no code cell has outputs (stripped notebook): commit the executed copy")

    # --- no errors, tracebacks or local paths
    for i, c in enumerate(cells):
        texts = [("source", _text(c.get("source", "")))]
        for o in c.get("outputs", []) if c.get("cell_type") == "code" else []:
            kind = o.get("output_type")
            if kind == "error":
                problems.append(f"cell {i}: error output {o.get('ename')}: {_text(o.get('evalue', ''))[:80]}")
                texts.append(("traceback", _text(o.get("traceback", []))))
            elif kind == "stream":
                texts.append((f"{o.get('name', 'stream')} output", _text(o.get("text", ""))))
            elif kind in ("execute_result", "display_data"):
                data = o.get("data", {})
                texts += [(f"{m} output", _text(data[m])) for m in TEXT_MIME if m in data]
        for where, text in texts:
            if where != "traceback" and "Traceback (most recent call last)" in text:
                problems.append(f"cell {i}: a traceback in its {where}")
            for p in _local_paths(text):
                problems.append(f"cell {i}: absolute local path {p} in its {where}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    bad = 0
    for path in paths:
        if path.suffix != ".ipynb":
            continue
        problems = check_notebook(path)
        bad += bool(problems)
        for p in problems:
            print(f"{path}: {p}")
    if bad:
        print(f"{bad} of {len(paths)} notebooks are not clean default-profile outputs "
              "(see tools/check_notebooks.py)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
