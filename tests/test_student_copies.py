"""The teaching cells of notebooks 01-08 and tools/student_copies.py (the `make workshop` copies).

No notebook is executed here: CI's nbval job runs every solution cell of the source notebooks
under the smoke profile. These tests read the notebooks as JSON (a second or two).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("student_copies", ROOT / "tools" / "student_copies.py")
sc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sc)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[1-8]_*.ipynb"))
KINDS = ("(predict, then run)", "(change a parameter)", "(open question)")
RESULT_NUMBER = re.compile(r"\d+\.\d+|\d+\s*%")  # a decimal or a percentage: a result of one run


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell: dict) -> str:
    return "".join(cell.get("source", []))


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


_CACHE: dict[str, tuple[dict, dict]] = {}


def _source_and_copy(path: Path) -> tuple[dict, dict]:
    if path.name not in _CACHE:
        nb = _load(path)
        _CACHE[path.name] = (nb, sc.student_notebook(nb, path.name))
    return _CACHE[path.name]


def _solution_lines(nb: dict) -> set[str]:
    """Lines inside solution blocks that appear nowhere else in the notebook (its answer text)."""
    inside, outside = set(), set()
    for cell in nb["cells"]:
        lines = _src(cell).splitlines()
        blocks = sc.solution_blocks(_src(cell))
        in_block = {i for a, b in blocks for i in range(a, b + 1)}
        for i, line in enumerate(lines):
            (inside if i in in_block else outside).add(line.strip())
    return {x for x in inside - outside if len(x) >= 12 and x not in (sc.BEGIN, sc.END)}


def test_the_eight_notebooks_are_here():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"0{i}" for i in range(1, 9)]


# ------------------------------------------------------------------ (a) the teaching cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_goals_block_opens_the_notebook(path):
    cells = _load(path)["cells"]
    assert cells[0]["cell_type"] == "markdown" and _src(cells[0]).startswith("# "), "cell 0 is the title"
    goals = cells[1]
    assert goals["cell_type"] == "markdown", "cell 1 must be the goals block"
    for word in ("**Goals", "**Prerequisites", "**Time"):
        assert word in _src(goals), f"the goals block has no {word}**"
    assert "parameters" in _tags(cells[2]), "the goals block must come right before the parameters cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_conclusion_then_two_to_four_exercises(path):
    cells = _load(path)["cells"]
    heads = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"]
    conclusion = [i for i in heads if _src(cells[i]).startswith("## Conclusion")]
    exercises = [i for i in heads if _src(cells[i]).startswith("## Exercises")]
    assert len(conclusion) == 1 and len(exercises) == 1
    assert conclusion[0] < exercises[0]
    numbers = RESULT_NUMBER.findall(_src(cells[conclusion[0]]))
    assert not numbers, f"the conclusion states numbers of one run {numbers}: refer to the printed lines"
    questions = [i for i in heads if _src(cells[i]).startswith("### Exercise")]
    assert 2 <= len(questions) <= 4, f"{len(questions)} exercises"
    assert all(i > exercises[0] for i in questions)
    for i in questions:
        title = _src(cells[i]).splitlines()[0]
        assert i + 1 < len(cells) and sc.SOLUTION_TAG in _tags(cells[i + 1]), f"{title}: no solution cell below"
        assert any(k in title for k in KINDS), f"{title}: say which kind of exercise it is {KINDS}"
    titles = " ".join(_src(cells[i]).splitlines()[0] for i in questions)
    for kind in KINDS:
        assert kind in titles, f"no exercise {kind}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solution_cells_have_balanced_markers(path):
    for i, cell in enumerate(_load(path)["cells"]):
        src = _src(cell)
        blocks = sc.solution_blocks(src)  # raises on unbalanced or nested markers
        if sc.SOLUTION_TAG in _tags(cell):
            assert len(blocks) >= 1, f"cell {i}: tagged solution without a marker block"
            assert "NBVAL_CHECK_OUTPUT" not in src, f"cell {i}: a solution's output is not checked by nbval"
            if cell["cell_type"] == "code":
                assert src.startswith(sc.BEGIN) and src.rstrip().endswith(sc.END), f"cell {i}: code outside the markers"
        else:
            assert not blocks, f"cell {i}: solution markers in a cell not tagged solution"


# ------------------------------------------------------------------ (b) the student copies


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_copy_has_no_solutions_and_no_outputs(path):
    nb, student = _source_and_copy(path)
    text = "\n".join(_src(c) for c in student["cells"])
    assert sc.BEGIN not in text and sc.END not in text
    leaked = [line for line in _solution_lines(nb) if line in text]
    assert not leaked, f"solution text in the student copy: {leaked[:3]}"
    for cell in student["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
        assert "injected-parameters" not in _tags(cell)
    assert "papermill" not in student["metadata"]
    # the test scaffolding (tagged remove-cell) is left out; every other cell stays
    kept = [_src(c) for c in student["cells"]]
    for cell in nb["cells"]:
        if "remove-cell" in _tags(cell):
            assert _src(cell) not in kept
        elif "parameters" in _tags(cell):  # the copies run the workshop profile
            assert 'profile = "default"' in _src(cell)
            assert _src(cell).replace('profile = "default"', 'profile = "workshop"') in kept
        elif "injected-parameters" not in _tags(cell) and "solution" not in _tags(cell):
            assert _src(cell) in kept


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_and_assertion_cells_are_tagged_for_hiding(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and _src(cell).lstrip().startswith("# NBVAL_CHECK_OUTPUT"):
            assert {"nbval-check", "remove-cell"} <= set(_tags(cell)), f"{path.name} cell {i}"


# ------------------------------------------------------------------ (c) runs up to the first stub


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_copy_runs_up_to_the_first_stub(path):
    nb, student = _source_and_copy(path)
    original = {c["id"]: _src(c) for c in nb["cells"]}
    code = [c for c in student["cells"] if c["cell_type"] == "code"]
    changed = [c for c in code if _src(c) != original[c["id"]] and "parameters" not in _tags(c)]
    assert changed, "no exercise stub in the student copy"
    first = changed[0]
    assert sc.SOLUTION_TAG in _tags(first) and _src(first) == sc.CODE_STUB
    assert all(sc.SOLUTION_TAG in _tags(c) for c in changed), "only solution cells may change"
    with pytest.raises(NotImplementedError, match="write your solution"):
        exec(compile(_src(first), f"{path.name} first stub", "exec"), {})
    # every code cell before the stub is the committed one (the parameters cell with the workshop
    # profile), so the copy runs as the notebook did
    before = code[: code.index(first)]
    params = [c for c in before if "parameters" in _tags(c)]
    assert len(params) == 1 and 'profile = "workshop"' in _src(params[0])
    assert all(_src(c) == original[c["id"]] for c in before if c is not params[0])


# ------------------------------------------------------------------ the tool itself


def _tiny(solution_source: str, tags=("solution",), cell_type="code") -> dict:
    cell = {"cell_type": cell_type, "id": "s1", "metadata": {"tags": list(tags)}, "source": solution_source}
    if cell_type == "code":
        cell.update(outputs=[{"output_type": "stream", "name": "stdout", "text": "42\n"}], execution_count=3)
    return {"cells": [{"cell_type": "markdown", "id": "t", "metadata": {}, "source": "# 99 tiny"}, cell],
            "metadata": {"papermill": {"parameters": {}}}, "nbformat": 4, "nbformat_minor": 5}


def test_stub_keeps_text_outside_the_markers():
    nb = _tiny("x = 1\nif x:\n    ### BEGIN SOLUTION\n    y = 2\n    ### END SOLUTION\nprint(x)")
    out = sc.student_notebook(nb)
    assert _src(out["cells"][1]) == ("x = 1\nif x:\n    # YOUR CODE HERE\n"
                                     '    raise NotImplementedError("exercise: write your solution here")\nprint(x)')
    assert out["cells"][1]["outputs"] == [] and out["cells"][1]["execution_count"] is None
    md = sc.student_notebook(_tiny("**Answer.**\n### BEGIN SOLUTION\nsecret\n### END SOLUTION", cell_type="markdown"))
    assert _src(md["cells"][1]) == "**Answer.**\n_Your answer here._"
    assert nb["cells"][1]["outputs"], "the source notebook is not changed"


@pytest.mark.parametrize("source, tags, message", [
    ("print('answer')", ("solution",), "no '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\nx = 1", ("solution",), "never closed"),
    ("x = 1\n### END SOLUTION", ("solution",), "without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", ("solution",), "inside the block"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", (), "not tagged 'solution'"),
])
def test_bad_markers_are_errors_naming_the_cell(source, tags, message):
    with pytest.raises(sc.MarkerError, match=re.escape(message)) as e:
        sc.student_notebook(_tiny(source, tags), "99_tiny.ipynb")
    assert "99_tiny.ipynb: cell 1 (id s1, code)" in str(e.value)


def test_command_line_writes_copies_and_readme(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    good = _tiny("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    (src / "99_tiny.ipynb").write_text(json.dumps(good))
    out = tmp_path / "workshop" / "notebooks"
    out.mkdir(parents=True)
    (out / "00_stale.ipynb").write_text("{}")
    assert sc.main(["--out", str(out), str(src / "99_tiny.ipynb")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["99_tiny.ipynb", "README.md"]
    assert _src(_load(out / "99_tiny.ipynb")["cells"][1]) == sc.CODE_STUB
    assert "1 student notebooks (1 solution cells" in capsys.readouterr().out

    bad = copy.deepcopy(good)
    bad["cells"][1]["source"] = "x = 1"
    (src / "98_bad.ipynb").write_text(json.dumps(bad))
    assert sc.main(["--out", str(out), str(src / "98_bad.ipynb"), str(src / "99_tiny.ipynb")]) == 1
    assert "98_bad.ipynb: cell 1" in capsys.readouterr().err
    assert (out / "99_tiny.ipynb").exists() and not (out / "98_bad.ipynb").exists(), "nothing written on an error"


def test_copies_run_the_profile_asked_for_and_a_parameters_cell_without_one_is_an_error(tmp_path):
    nb = _tiny("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    nb["cells"].insert(1, {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]},
                           "source": 'profile = "default"\nseed = 0', "outputs": [], "execution_count": None})
    assert _src(sc.student_notebook(nb)["cells"][1]) == 'profile = "workshop"\nseed = 0'
    assert _src(sc.student_notebook(nb, profile="smoke")["cells"][1]) == 'profile = "smoke"\nseed = 0'
    nb["cells"][1]["source"] = "seed = 0"
    with pytest.raises(sc.MarkerError, match="cell 1 .*expected one"):
        sc.student_notebook(nb, "99_tiny.ipynb")
