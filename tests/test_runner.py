"""The papermill runner: order, parameters, run.json, failure handling, resume, profiles."""

import json

import nbformat
import pytest

from icepaper import cli
from icepaper.profiles import PROFILES, get_profile
from icepaper.runner import NotebookFailed, list_notebooks, run_notebooks


def _nb(path, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "default"\nseed = 0\ndata = ""\nout = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def nbdir(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    _nb(d / "01_first.ipynb", "import pathlib\n(pathlib.Path(out) / 'first.txt').write_text(profile)")
    _nb(d / "02_second.ipynb", "assert profile == 'smoke', profile\nprint('second ran')")
    return d


def test_list_notebooks_order_and_only(nbdir):
    assert [p.name for p in list_notebooks(folder=nbdir)] == ["01_first.ipynb", "02_second.ipynb"]
    assert [p.name for p in list_notebooks("2", folder=nbdir)] == ["02_second.ipynb"]
    with pytest.raises(ValueError, match="no notebook numbered"):
        list_notebooks("07", folder=nbdir)


def test_run_records_and_resume(nbdir, tmp_path):
    out = tmp_path / "out"
    lines = []
    res = run_notebooks("smoke", out=out, notebooks_folder=nbdir, publish=False, echo=lines.append)
    assert [r.status for r in res] == ["ok", "ok"] and len(lines) == 2
    assert (out / "first.txt").read_text() == "smoke"
    run = json.loads((out / "run.json").read_text())
    for key in ("profile", "data", "git_commit", "packages", "device"):
        assert key in run
    assert run["notebooks"]["01_first"]["status"] == "ok" and run["notebooks"]["01_first"]["wall_s"] >= 0
    assert (out / "notebooks" / "02_second.ipynb").exists()
    res = run_notebooks("smoke", out=out, notebooks_folder=nbdir, publish=False, resume=True,
                        echo=lines.append)
    assert [r.status for r in res] == ["skipped (resume)"] * 2
    # --only reruns one notebook and keeps the other's entry in run.json
    run_notebooks("smoke", out=out, notebooks_folder=nbdir, publish=False, only="2", echo=lines.append)
    assert set(json.loads((out / "run.json").read_text())["notebooks"]) == {"01_first", "02_second"}


def test_failure_names_notebook_and_cell_and_keeps_source(nbdir, tmp_path):
    src = (nbdir / "02_second.ipynb").read_bytes()
    with pytest.raises(NotebookFailed, match=r"02_second.ipynb failed in cell 2.*AssertionError"):
        run_notebooks("default", out=tmp_path / "o", notebooks_folder=nbdir, publish=False, echo=lambda s: None)
    assert (nbdir / "02_second.ipynb").read_bytes() == src
    kept = nbformat.read(tmp_path / "o" / "notebooks" / "02_second.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in kept.cells for o in c.get("outputs", []))
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["notebooks"]["02_second"]["status"] == "failed"


def test_unknown_profile_lists_valid_ones(capsys):
    with pytest.raises(ValueError, match="smoke, default, paper"):
        get_profile("fast")
    assert cli.main(["run", "--profile", "fast"]) == 2
    assert "valid profiles are" in capsys.readouterr().err


def test_wrong_data_path_is_clear(capsys, tmp_path):
    assert cli.main(["run", "--profile", "smoke", "--data", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_profiles_share_keys():
    """A profile changes sizes, never code paths: every profile has the same sections and keys."""
    ref = PROFILES["smoke"]
    for name, prof in PROFILES.items():
        assert prof.keys() == ref.keys(), name
        for sec in ref:
            assert prof[sec].keys() == ref[sec].keys(), (name, sec)


def test_profile_sections_read_only():
    p = get_profile("smoke")
    with pytest.raises(AttributeError):
        p.data.n_images = 3
    assert p.data.n_images == p.data["n_images"]
