"""tools/check_notebooks.py: committed notebooks are clean default-profile outputs."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_notebooks", ROOT / "tools" / "check_notebooks.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def _cell(source, n, outputs=(), tags=()):
    return {"cell_type": "code", "execution_count": n, "id": f"c{n}",
            "metadata": {"tags": list(tags)} if tags else {}, "outputs": list(outputs),
            "source": source}


def _good() -> dict:
    params = {"profile": "default", "seed": 0, "data": "", "out": "build/default"}
    return {
        "cells": [
            {"cell_type": "markdown", "id": "m0", "metadata": {}, "source": "# 99 example"},
            _cell('profile = "default"\nseed = 0\ndata = ""\nout = ""', 1, tags=["parameters"]),
            _cell('# Parameters\nprofile = "default"\nseed = 0\ndata = ""\nout = "build/default"\n', 2,
                  tags=["injected-parameters"]),
            _cell("print(1)", 3, [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]),
            _cell("", None),
        ],
        "metadata": {"papermill": {"parameters": params, "version": "2.7.0"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def _problems(tmp_path, nb) -> list[str]:
    path = tmp_path / "99_example.ipynb"
    path.write_text(json.dumps(nb, indent=1) + "\n")
    return check.check_notebook(path)


def test_a_clean_notebook_passes(tmp_path):
    assert _problems(tmp_path, _good()) == []


def _smoke_run(nb):
    nb["metadata"]["papermill"]["parameters"]["profile"] = "smoke"
    nb["cells"][2]["source"] = nb["cells"][2]["source"].replace('"default"', '"smoke"')


def _stripped(nb):
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None


def _error(nb):
    nb["cells"][3]["outputs"].append({"output_type": "error", "ename": "ValueError", "evalue": "bad",
                                      "traceback": ["Traceback (most recent call last)", "ValueError: bad"]})


@pytest.mark.parametrize("break_it, expected", [
    (_smoke_run, "profile = 'smoke'"),
    (lambda nb: nb["metadata"]["papermill"]["parameters"].update(data="/srv/my_cpi"), "data = '/srv/my_cpi'"),
    (lambda nb: nb["metadata"].pop("papermill"), "not executed by papermill"),
    (_stripped, "never executed"),
    (_stripped, "no code cell has outputs"),
    (lambda nb: nb["cells"][3].update(outputs=[]) or nb["cells"][1].update(outputs=[]), "no code cell has outputs"),
    (lambda nb: nb["cells"][3].update(execution_count=7), "not one top-to-bottom run"),
    (_error, "error output ValueError"),
    (lambda nb: nb["cells"][3]["outputs"].append(
        {"output_type": "stream", "name": "stderr", "text": "Traceback (most recent call last):\n  x\n"}),
     "a traceback in its stderr output"),
    (lambda nb: nb["cells"][3]["outputs"].append(
        {"output_type": "execute_result", "execution_count": 3, "metadata": {},
         "data": {"text/plain": ["{'checkpoint': '/home/ana/icepaper/data/cache/pretrain/x.pt'}"]}}),
     "absolute local path /home/ana/icepaper/data/cache/pretrain/x.pt in its text/plain output"),
    (lambda nb: nb["metadata"]["papermill"]["parameters"].update(out="/Users/ana/build/default"),
     "absolute local path /Users/ana/build/default"),
    (lambda nb: nb["cells"][1]["metadata"].pop("tags"), "0 code cells tagged 'parameters'"),
])
def test_a_bad_notebook_is_caught(tmp_path, break_it, expected):
    nb = copy.deepcopy(_good())
    break_it(nb)
    problems = _problems(tmp_path, nb)
    assert any(expected in p for p in problems), problems


def test_command_line_exit_status(tmp_path, capsys):
    good, bad = tmp_path / "01_good.ipynb", tmp_path / "02_bad.ipynb"
    good.write_text(json.dumps(_good()))
    nb = _good()
    _smoke_run(nb)
    bad.write_text(json.dumps(nb))
    assert check.main([str(good)]) == 0
    assert check.main([str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert str(bad) in out and str(good) not in out


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_are_default_profile_outputs(path):
    assert check.check_notebook(path) == []
