"""The papermill runner: order, parameters, run.json, failure handling, resume, profiles."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import icepaper
from icepaper.core import cli, paths
from icepaper.core.profiles import PROFILES, get_profile
from icepaper.core.runner import (
    NotebookFailed,
    executed_completely,
    kernel_death_cause,
    list_notebooks,
    run_notebooks,
)


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
    with pytest.raises(ValueError, match="smoke, default, workshop, paper"):
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


# ----------------------------------------------------------- dead kernels, failures, kill -9, resume



@pytest.fixture
def crashing(tmp_path):
    d = tmp_path / "crashing"
    d.mkdir()
    _nb(d / "01_ok.ipynb", "x = 1")
    _nb(d / "02_segv.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    _nb(d / "03_fails.ipynb", "raise ValueError('bad input here')")
    _nb(d / "04_oom.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    _nb(d / "05_ok.ipynb", "print('still ran')")
    return d


def test_dead_kernel_and_failure_are_one_line_each_and_the_run_goes_on(crashing, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setattr(paths, "notebooks_dir", lambda: crashing)
    out = tmp_path / "o"
    assert cli.main(["run", "--profile", "smoke", "--out", str(out), "--no-publish"]) == 1
    cap = capsys.readouterr()
    text = cap.out + cap.err
    assert "Traceback" not in text and "DeadKernelError" not in text, text
    assert "notebook 02_segv.ipynb died in cell 2 (kernel died: SIGSEGV, segmentation fault" in text
    assert "notebook 04_oom.ipynb died in cell 2 (kernel died: SIGKILL, likely out of memory" in text
    assert "notebook 03_fails.ipynb failed in cell 2 (execution count 3): ValueError: bad input here" in text
    summary = cap.out.split("summary:")[1].strip().splitlines()
    assert len(summary) == 6 and "2 ok, 2 died, 1 failed" in summary[-1]
    run = json.loads((out / "run.json").read_text())["notebooks"]
    assert [run[k]["status"] for k in sorted(run)] == ["ok", "died", "failed", "died", "ok"]
    assert run["02_segv"]["failed_cell"] == 2 and "SIGSEGV" in run["02_segv"]["error"]
    kept = nbformat.read(out / "notebooks" / "02_segv.ipynb", as_version=4)
    assert kept.cells[2].outputs[-1]["ename"] == "DeadKernelError"
    assert not executed_completely(out / "notebooks" / "02_segv.ipynb")
    assert executed_completely(out / "notebooks" / "05_ok.ipynb")
    assert not [p for p in (out / "notebooks").iterdir() if p.name.startswith(".")]


def test_fail_fast_stops_at_the_first_failure(crashing, tmp_path):
    with pytest.raises(NotebookFailed, match=r"02_segv.ipynb died in cell 2") as e:
        run_notebooks("smoke", out=tmp_path / "o", notebooks_folder=crashing, publish=False,
                      fail_fast=True, echo=lambda s: None)
    assert [r.status for r in e.value.results] == ["ok", "died"]
    assert not (tmp_path / "o" / "notebooks" / "03_fails.ipynb").exists()


def test_kernel_death_causes():
    assert kernel_death_cause(-9).startswith("SIGKILL, likely out of memory")
    assert kernel_death_cause(-11).startswith("SIGSEGV")
    assert kernel_death_cause(3) == "exited with status 3" and kernel_death_cause(None)


def test_killed_runner_is_rerun_by_resume(tmp_path):
    """kill -9 the runner while notebook 02 runs: run.json says "running", the temporary
    executed copy is left, the previous complete copy is untouched; --resume reruns 02 only."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _nb(nbs / "01_first.ipynb", "x = 1")
    _nb(nbs / "02_slow.ipynb", "import pathlib, time\n(pathlib.Path(out) / 'started').write_text('x')\n"
                               "while (pathlib.Path(out) / 'hold').exists():\n    time.sleep(0.1)")
    out = tmp_path / "o"
    run_notebooks("smoke", out=out, notebooks_folder=nbs, publish=False, echo=lambda s: None)
    first_02 = (out / "notebooks" / "02_slow.ipynb").read_bytes()
    (out / "hold").touch()
    (out / "started").unlink()
    code = (f"from pathlib import Path; from icepaper.core.runner import run_notebooks\n"
            f"run_notebooks('smoke', out={str(out)!r}, notebooks_folder=Path({str(nbs)!r}), publish=False)")
    env = {**os.environ, "PYTHONPATH": str(Path(icepaper.__file__).resolve().parents[1])}
    p = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while not (out / "started").exists():
            assert time.monotonic() - t0 < 120 and p.poll() is None, "notebook 02 never started"
            time.sleep(0.1)
        os.kill(p.pid, signal.SIGKILL)  # the runner, mid-notebook
        p.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)  # and its orphaned kernel, if still there
    run = json.loads((out / "run.json").read_text())["notebooks"]
    assert run["02_slow"]["status"] == "running"
    assert (out / "notebooks" / "02_slow.ipynb").read_bytes() == first_02
    assert [q for q in (out / "notebooks").iterdir() if q.name.startswith(".02_slow.ipynb.tmp-")]
    (out / "hold").unlink()
    res = run_notebooks("smoke", out=out, notebooks_folder=nbs, publish=False, resume=True, echo=lambda s: None)
    assert [r.status for r in res] == ["skipped (resume)", "ok"]
    assert json.loads((out / "run.json").read_text())["notebooks"]["02_slow"]["status"] == "ok"
    assert not [q for q in (out / "notebooks").iterdir() if q.name.startswith(".")]


def test_resume_reruns_an_incomplete_executed_copy(nbdir, tmp_path):
    out = tmp_path / "o"
    run_notebooks("smoke", out=out, notebooks_folder=nbdir, publish=False, echo=lambda s: None)
    dest = out / "notebooks" / "01_first.ipynb"
    nb = json.loads(dest.read_text())
    nb["cells"][-1]["metadata"]["papermill"].update(status="pending", start_time=None)
    dest.write_text(json.dumps(nb))  # as papermill leaves a notebook it was writing when killed
    res = run_notebooks("smoke", out=out, notebooks_folder=nbdir, publish=False, resume=True, echo=lambda s: None)
    assert [r.status for r in res] == ["ok", "skipped (resume)"] and executed_completely(dest)


def test_kernel_start_prints_no_unencrypted_tcp_warning(tmp_path, capfd):
    """ipykernel warns "[IPKernelApp] WARNING | Kernel is running over TCP without encryption"
    on its stderr (the console's) unless the kernel manager provisions CurveZMQ keys; the runner's
    kernel manager does, where pyzmq and the kernelspec support it."""
    zmq = pytest.importorskip("zmq")
    d = tmp_path / "notebooks"
    d.mkdir()
    _nb(d / "01_tiny.ipynb", "print(6 * 7)")
    res = run_notebooks("smoke", out=tmp_path / "o", notebooks_folder=d, publish=False, echo=lambda s: None)
    assert [r.status for r in res] == ["ok"]
    done = nbformat.read(tmp_path / "o" / "notebooks" / "01_tiny.ipynb", as_version=4)
    assert done.cells[-1].outputs[0]["text"] == "42\n"
    err = capfd.readouterr().err
    if zmq.has("curve"):
        assert "without encryption" not in err, err


def test_publish_copies_only_the_figures_this_run_saved(tmp_path, monkeypatch):
    """A reused output folder holds figures of earlier runs (old names): publishing copies only
    those the notebook's results JSON lists, so no orphan figure reaches figures/."""
    from icepaper.core import runner

    repo_fig, repo_res = tmp_path / "figures", tmp_path / "results"
    monkeypatch.setattr(paths, "figures_dir", lambda: repo_fig)
    monkeypatch.setattr(paths, "results_dir", lambda: repo_res)
    run = tmp_path / "run"
    (run / "figures").mkdir(parents=True)
    for name in ("new_fig.png", "new_fig.pdf", "old_name.png"):
        (run / "figures" / name).write_bytes(b"x")
    results = run / "01_x.json"
    results.write_text(json.dumps({"figures": ["new_fig"]}))
    executed, src = run / "01_x.ipynb", tmp_path / "nb" / "01_x.ipynb"
    src.parent.mkdir()
    executed.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    runner._publish(executed, src, run / "figures", results)
    assert sorted(p.name for p in repo_fig.iterdir()) == ["new_fig.pdf", "new_fig.png"]
    assert (repo_res / "01_x.json").exists() and src.exists()
