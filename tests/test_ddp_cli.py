"""Multi-process pretraining through the users' entry point, two CPU processes (gloo):
``torchrun --nproc_per_node 2 -m icepaper.ssl.pretrain ...`` as in the README.

One test runs the command three times on a tiny packed folder: once to the end, once killed
by SIGTERM to the whole torchrun process group (as Slurm preempts a job) just after its first
checkpoint, and once more to resume that run. Every file operation under ``ICEPAPER_HOME`` is
recorded with the rank that made it (a Python audit hook loaded by ``sitecustomize``), so the
test sees that only rank 0 writes, and the resumed run must end with the weights of the
uninterrupted one, bit for bit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import icepaper

SRC = Path(icepaper.__file__).resolve().parents[1]

# Loaded by every Python process of the run (torchrun's agent and its workers): appends
# "rank <tab> event <tab> path" for each write, rename, removal or folder creation under
# ICEPAPER_HOME to <ICEPAPER_AUDIT_DIR>/<pid>.tsv.
SITECUSTOMIZE = textwrap.dedent('''
    import os, sys
    _dir, _home = os.environ.get("ICEPAPER_AUDIT_DIR"), os.environ.get("ICEPAPER_HOME")
    if _dir and _home:
        _fd = os.open(os.path.join(_dir, f"{os.getpid()}.tsv"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        _rank = os.environ.get("RANK", "agent")
        _home = os.path.realpath(_home)
        _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        _EVENTS = {"os.rename": 2, "os.remove": 1, "os.mkdir": 1, "os.rmdir": 1, "shutil.rmtree": 1}

        def _hook(event, args):
            if event == "open":
                if not isinstance(args[2], int) or not args[2] & _WRITE:
                    return
                paths = args[:1]
            elif event in _EVENTS:
                paths = args[:_EVENTS[event]]
            else:
                return
            for p in paths:
                if isinstance(p, (str, bytes, os.PathLike)):
                    p = os.path.realpath(os.fsdecode(p))
                    if p.startswith(_home + os.sep):
                        os.write(_fd, f"{_rank}\\t{event}\\t{os.path.relpath(p, _home)}\\n".encode())

        sys.addaudithook(_hook)
''')


def _command(data: Path, steps: int) -> list[str]:
    # --standalone: a free port of its own (no clash with another run on the machine)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "icepaper.ssl.pretrain", "--method", "ibot_vmf", "--profile", "smoke",
            "--data", str(data), "--steps", str(steps), "--set", "pretrain.batch_size=8"]


def _env(home: Path, audit: Path, hooks: Path) -> dict[str, str]:
    audit.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join([str(hooks), str(SRC), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "ICEPAPER_HOME": str(home), "ICEPAPER_AUDIT_DIR": str(audit),
            "ICEPAPER_DEVICE": "cpu", "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _run(cmd, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _writes(audit: Path) -> list[tuple[str, str, str]]:
    rows = []
    for f in audit.glob("*.tsv"):
        rows += [tuple(line.split("\t")) for line in f.read_text().splitlines()]
    return rows


def _model(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]


@pytest.mark.slow  # three torchrun launches; each spends most of its time importing torch
def test_torchrun_two_gloo_processes_rank0_writes_and_sigterm_resume(packed_factory, tmp_path):
    from icepaper.ssl.trainer import load_checkpoint
    from test_ssl import _shapes, _state_equal

    imgs, meta = _shapes(48)
    data = packed_factory(imgs, meta, name="shapes").root
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    steps = 24  # a checkpoint every 2 steps (steps // 10)

    # 1. uninterrupted
    home_a, audit_a = tmp_path / "a", tmp_path / "audit-a"
    done = _run(_command(data, steps), _env(home_a, audit_a, hooks))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    final_a = list((home_a / "cache" / "pretrain").iterdir())
    assert len(final_a) == 1
    assert sorted(p.name for p in final_a[0].iterdir()) == [
        "backbone.json", "backbone.safetensors", "checkpoint.pt", "key.json", "log.csv", "result.json"]
    assert not list((home_a / "cache" / "pretrain-work").iterdir())  # the work folder is gone
    writes = _writes(audit_a)
    assert any(w[0] == "0" and w[2].endswith("last.pt") for w in writes), writes
    assert {w[0] for w in writes} == {"0"}, [w for w in writes if w[0] != "0"]

    # 2. SIGTERM to the torchrun process group right after the first checkpoint
    home_b, audit_b = tmp_path / "b", tmp_path / "audit-b"
    env_b = _env(home_b, audit_b, hooks)
    proc = subprocess.Popen(_command(data, steps), env=env_b, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    work = home_b / "cache" / "pretrain-work"
    deadline = time.monotonic() + 300
    try:
        while not list(work.glob("*/last.pt")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before its first checkpoint was seen"
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode != 0
    assert err.count("SIGTERM at step") == 2, err[-3000:]  # both ranks stopped cleanly
    ckpts = list(work.glob("*/last.pt"))
    assert len(ckpts) == 1
    stopped = load_checkpoint(ckpts[0])["step"]
    assert 2 <= stopped < steps
    assert f"SIGTERM at step {stopped} of {steps}" in err
    assert not (home_b / "cache" / "pretrain").exists() or not list((home_b / "cache" / "pretrain").iterdir())

    # 3. the same command again resumes and finishes
    again = _run(_command(data, steps), env_b)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    writes = _writes(audit_b)
    assert {w[0] for w in writes} == {"0"}, [w for w in writes if w[0] != "0"]
    final_b = list((home_b / "cache" / "pretrain").iterdir())
    assert [p.name for p in final_b] == [final_a[0].name]  # the same run (cache key)
    _state_equal(_model(final_a[0]), _model(final_b[0]))  # bit for bit
    log_a = (final_a[0] / "log.csv").read_text().splitlines()
    log_b = (final_b[0] / "log.csv").read_text().splitlines()
    assert len(log_a) == len(log_b)
    ia = log_a[0].split(",").index("loss")
    assert [r.split(",")[ia] for r in log_a] == [r.split(",")[ia] for r in log_b]


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")
@pytest.mark.parametrize("torchrun", [True, False])
def test_repeated_sigterm_ignored_under_torchrun_only(monkeypatch, torchrun):
    """Signalled as a process group, a torchrun worker gets every SIGTERM twice (its own and
    the agent's copy): the copy must not end it before the checkpoint. Outside torchrun a second
    SIGTERM goes to the handler from before training (here one that records it)."""
    from icepaper.ssl.signals import CheckpointSignals

    if torchrun:
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test")
    else:
        monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    before = []
    old = signal.signal(signal.SIGTERM, lambda *a: before.append(1))
    try:
        with CheckpointSignals() as s:
            for _ in range(2):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # let the handler run before the next signal
            assert s.stop == "SIGTERM" and s.take_checkpoint()
        assert before == ([] if torchrun else [1])
    finally:
        signal.signal(signal.SIGTERM, old)
