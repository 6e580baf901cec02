"""Never lose data: refused outputs, writer locks, stale temporaries of killed writers (real
``kill -9``), worker processes that end with their parent, umask-honouring permissions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import icepaper
from icepaper.core import cli
from icepaper.core.atomic import (
    atomic_dir,
    atomic_write_json,
    current_umask,
    dir_lock,
    pid_alive,
    remove_stale,
)
from icepaper.core.cache import cached_dir
from icepaper.data.destination import DestinationError, is_export
from icepaper.data.importers import BadInputError, export_folder, import_any, import_folder
from icepaper.data.packed import PackedDataset, PackedWriter, is_packed

S = 16
SRC_ROOT = str(Path(icepaper.__file__).resolve().parents[1])


def _images(root: Path, n: int = 3, classes=("a", "b")) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        for j in range(n):
            (root / c).mkdir(parents=True, exist_ok=True)
            img = np.full((20, 24), 220, np.uint8)
            img[6:14, 8:16] = rng.integers(20, 60)
            Image.fromarray(img).save(root / c / f"{c}{j}.png")
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _python(code: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC_ROOT, "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name
                  or p.name.endswith(".lock"))


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d.name))
    return out


def _wait_for(cond, timeout: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ------------------------------------------------------------------ 1. refused destinations


def test_import_refuses_unrelated_nonempty_dest_and_keeps_it(tmp_path):
    src = _images(tmp_path / "src")
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "thesis.tex").write_text("years of work")
    before = _tree(dest)
    with pytest.raises(DestinationError, match="non-empty folder that is not a packed dataset"):
        import_folder(src, dest, image_size=S)
    with pytest.raises(DestinationError, match="not a packed dataset"):
        import_any(src, dest, image_size=S, overwrite=True)  # overwrite only replaces datasets
    assert _tree(dest) == before and _leftovers(tmp_path) == []


def test_import_refuses_dest_equal_inside_or_containing_src(tmp_path):
    src = _images(tmp_path / "parent" / "crops")
    (tmp_path / "parent" / "sibling.txt").write_text("keep me")
    before = _tree(tmp_path / "parent")
    link = tmp_path / "link"
    link.symlink_to(src)
    cases = [(src, src, "is the input"), (src, tmp_path / "parent", "contains the input"),
             (src, src / "out", "inside the input"), (src, link, "is the input"),
             (link, tmp_path / "parent", "contains the input")]
    for s, d, msg in cases:
        with pytest.raises(DestinationError, match=msg):
            import_any(s, d, image_size=S, overwrite=True)
    assert _tree(tmp_path / "parent") == before


def test_replacing_a_dataset_needs_overwrite_and_keeps_the_old_until_done(tmp_path):
    src = _images(tmp_path / "src")
    dest = tmp_path / "ds"
    import_folder(src, dest, image_size=S)
    fp = PackedDataset(dest).fingerprint
    with pytest.raises(DestinationError, match="pass --overwrite"):
        import_folder(src, dest, image_size=S)
    assert PackedDataset(dest).fingerprint == fp
    # with overwrite the old dataset stays readable until the new one is complete
    seen = []
    with PackedWriter(dest, image_size=S) as w:
        seen.append(PackedDataset(dest).fingerprint)
        w.add(np.zeros((1, S, S), np.uint8), [{"image_id": "x", "split": "train", "source_file": ""}])
    assert seen == [fp] and len(PackedDataset(dest)) == 1
    rep = import_folder(src, dest, image_size=32, overwrite=True)
    assert rep.n_imported == 6 and PackedDataset(dest).size == 32
    link = tmp_path / "link"
    link.symlink_to(dest)  # through a symlink: the dataset it points to is replaced, the link stays
    import_any(src, link, image_size=24, overwrite=True)
    assert link.is_symlink() and PackedDataset(dest).size == 24
    assert _leftovers(tmp_path) == []


def test_atomic_dir_never_replaces_an_arbitrary_folder(tmp_path):
    final = tmp_path / "f"
    final.mkdir()
    (final / "notes.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty; refusing"), atomic_dir(final) as tmp:
        (tmp / "new").write_text("y")
    assert (final / "notes.txt").read_text() == "x" and _leftovers(tmp_path) == []
    with atomic_dir(final, replace=True) as tmp:  # an owner that may replace (the cache)
        (tmp / "new").write_text("y")
    assert [p.name for p in final.iterdir()] == ["new"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_dir(empty) as tmp:
        (tmp / "a").write_text("z")
    assert (empty / "a").read_text() == "z"


def test_export_refuses_and_overwrites_only_its_own_output(tmp_path):
    src = _images(tmp_path / "src")
    import_folder(src, tmp_path / "ds", image_size=S)
    ds = PackedDataset(tmp_path / "ds")
    export_folder(ds, tmp_path / "exp")
    assert is_export(tmp_path / "exp")
    with pytest.raises(DestinationError, match="pass --overwrite"):
        export_folder(ds, tmp_path / "exp")
    export_folder(ds, tmp_path / "exp", overwrite=True)
    with pytest.raises(DestinationError, match="is the input"):
        export_folder(ds, tmp_path / "ds", overwrite=True)
    with pytest.raises(DestinationError, match="not an icepaper export folder"):
        export_folder(ds, src, overwrite=True)
    assert is_packed(tmp_path / "ds") and len(_tree(src)) == 6
    # the export marker is a dot file: importing the export reads the same images back
    assert import_folder(tmp_path / "exp", tmp_path / "back", image_size=S).n_imported == 6


def test_cli_import_export_generate_refusals(tmp_path, capsys):
    src = _images(tmp_path / "src")
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("k")
    assert cli.main(["import", str(src), str(src)]) == 2
    assert "is the input" in capsys.readouterr().err
    assert cli.main(["import", str(src), str(other)]) == 2
    assert cli.main(["generate", str(other), "--n", "10", "--size", "16"]) == 2
    assert "not a packed dataset" in capsys.readouterr().err
    assert cli.main(["import", str(src), str(tmp_path / "ds"), "--size", str(S)]) == 0
    assert cli.main(["import", str(src), str(tmp_path / "ds"), "--size", str(S)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["import", str(src), str(tmp_path / "ds"), "--size", str(S), "--overwrite"]) == 0
    assert cli.main(["export", str(tmp_path / "ds"), str(other)]) == 2
    assert (other / "keep.txt").read_text() == "k" and len(_tree(src)) == 6


# ------------------------------------------------------------------ 2. concurrent writers


def test_two_imports_of_one_folder_at_once(tmp_path):
    """Both processes start together (a go-file barrier after their imports); repeated."""
    src = _images(tmp_path / "src", n=60)
    waited = 0
    for rep in range(4):
        dest, go = tmp_path / f"ds{rep}", tmp_path / f"go{rep}"
        extra = ", '--overwrite'" if rep == 3 else ""
        code = (f"import sys, time, os; from icepaper.core import cli; import icepaper.data.importers\n"
                f"while not os.path.exists({str(go)!r}): time.sleep(0.005)\n"
                f"sys.exit(cli.main(['import', {str(src)!r}, {str(dest)!r}, '--size', '16'{extra}]))")
        procs = [_python(code) for _ in range(2)]
        time.sleep(0.5)
        go.touch()
        outs = [p.communicate(timeout=120) for p in procs]
        codes = sorted(p.returncode for p in procs)
        errs = "".join(e for _, e in outs)
        waited += "waiting for another writer" in errs
        assert "Traceback" not in errs and "Directory not empty" not in errs, errs
        if rep < 3:  # the second finds the first one's dataset and says so
            assert codes == [0, 2] and "already holds a packed dataset" in errs, (codes, errs)
        else:  # both replace: one after the other
            assert codes == [0, 0], errs
        assert len(PackedDataset(dest)) == 120
        assert _leftovers(tmp_path) == [], _leftovers(tmp_path)
    assert waited >= 1  # the lock made one of them wait at least once


def test_two_cache_builds_at_once_build_once(tmp_path):
    log = tmp_path / "builds.log"
    code = (f"import os, time; from pathlib import Path; from icepaper.core.cache import cached_dir\n"
            f"def build(d):\n"
            f"    with open({str(log)!r}, 'a') as f: f.write(str(os.getpid()) + '\\n')\n"
            f"    time.sleep(1.0); (d / 'x').write_text('done')\n"
            f"print(cached_dir('k', {{'a': 1}}, build, root=Path({str(tmp_path / 'cache')!r})))")
    procs = [_python(code) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(log.read_text().split()) == 1  # the second waited and reused the first's result
    assert outs[0][0] == outs[1][0] and Path(outs[0][0].strip(), "x").read_text() == "done"
    assert _leftovers(tmp_path / "cache" / "k") == []


def test_lock_is_reentrant_and_removed(tmp_path):
    with dir_lock(tmp_path / "d"), dir_lock(tmp_path / "d"):
        assert (tmp_path / ".d.lock").read_text().strip() == str(os.getpid())
    assert not (tmp_path / ".d.lock").exists()


# ------------------------------------------------------------------ 3. stale temporaries


def test_killed_writer_leaves_temp_that_the_next_writer_removes(tmp_path):
    final = tmp_path / "ds"
    code = (f"import time; from icepaper.core.atomic import atomic_dir\n"
            f"with atomic_dir({str(final)!r}) as tmp:\n"
            f"    (tmp / 'half').write_text('x'); print('writing', flush=True); time.sleep(60)")
    p = _python(code)
    assert p.stdout.readline().strip() == "writing"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    stale = [q for q in tmp_path.iterdir() if q.name.startswith(".ds.tmp-")]
    assert len(stale) == 1 and str(p.pid) in stale[0].name
    with atomic_dir(final) as tmp:
        (tmp / "whole").write_text("y")
    assert [q.name for q in final.iterdir()] == ["whole"] and _leftovers(tmp_path) == []


def test_live_writers_temps_are_kept_and_half_swapped_old_is_restored(tmp_path):
    live = tmp_path / f".ds.tmp-{os.getpid()}-abc"
    live.mkdir()
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    dead = p.pid
    assert not pid_alive(dead)
    (tmp_path / f".ds.tmp-{dead}-x1").mkdir()
    old = tmp_path / f".ds.old-{dead}-x2"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    (tmp_path / f".run.json.tmp-{dead}-x3").write_text("half")
    remove_stale(tmp_path)
    assert live.exists()
    assert (tmp_path / "ds" / "manifest.json").exists()  # killed between its two renames: restored
    assert sorted(q.name for q in tmp_path.iterdir()) == sorted([live.name, "ds"])


# ------------------------------------------------------------------ 5. workers end with their parent


def test_generator_workers_die_with_killed_parent_and_temp_is_cleaned(tmp_path):
    root = tmp_path / "gen"
    code = (f"from icepaper.synth.generate import generate_dataset\n"
            f"generate_dataset({str(root)!r}, n_images=40000, image_size=32, workers=2, progress=False)")
    p = _python(code)
    try:
        workers = _wait_for(lambda: len(_children(p.pid)) >= 2 and _children(p.pid), 60, "two workers")
        time.sleep(0.5)  # let them render
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    t0 = time.monotonic()
    while any(pid_alive(w) for w in workers) and time.monotonic() - t0 < 2.0:
        time.sleep(0.05)
    alive = [w for w in workers if pid_alive(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, "generator workers outlived their killed parent"
    assert any(q.name.startswith(".gen.tmp-") for q in tmp_path.iterdir())
    from icepaper.synth.generate import generate_dataset

    generate_dataset(root, n_images=20, image_size=16, workers=1, progress=False)
    assert len(PackedDataset(root)) == 20 and _leftovers(tmp_path) == []


# ------------------------------------------------------------------ 7. small CLI cases, permissions


def test_cli_bad_paths_are_one_line_errors(tmp_path, capsys):
    f = tmp_path / "file.png"
    f.write_bytes(b"x")
    for argv, msg in [
        (["import", str(f), str(tmp_path / "o")], "is not a folder"),
        (["import", str(tmp_path / "nope"), str(tmp_path / "o")], "does not exist"),
        (["import", str(_images(tmp_path / "src")), "/dev/null/x"], "not writable"),
        (["export", str(tmp_path / "nope"), str(tmp_path / "o")], "not a packed icepaper dataset"),
        (["run", "--profile", "smoke", "--only", ""], "names no notebook"),
        (["run", "--profile", "smoke", "--only", "99"], "no notebook numbered"),
        (["run", "--profile", "smoke", "--data", str(f)], "is a file"),
        (["run", "--profile", "smoke", "--only", "01", "--out", "/dev/null/x"], "not writable"),
    ]:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_hint_names_the_cli_flag(tmp_path):
    src = _images(tmp_path / "src")
    (src / "a" / "bad.png").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"--on-error skip \(on_error='skip' in Python\)"):
        import_folder(src, tmp_path / "o", image_size=S)


@pytest.mark.parametrize("mask", [0o002, 0o022])
def test_outputs_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        assert current_umask() == mask
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "f").write_text("x")
        atomic_write_json(tmp_path / "r.json", {"a": 1})
        import_folder(_images(tmp_path / "src"), tmp_path / "ds", image_size=S)
        root = cached_dir("k", {"m": mask}, lambda d: (d / "x").write_text("1"), root=tmp_path / "c")
    finally:
        os.umask(old)
    for d in (tmp_path / "d", tmp_path / "ds", root):
        assert d.stat().st_mode & 0o777 == 0o777 & ~mask, d
    for f in (tmp_path / "r.json", tmp_path / "ds" / "manifest.json"):
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
