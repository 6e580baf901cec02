"""Execute the numbered notebooks headlessly with papermill, in number order.

``run_notebooks(profile=..., data=..., out=..., only=..., resume=...)`` writes

- ``<out>/notebooks/NN_name.ipynb``   the executed copies (kept on failure, with the error)
- ``<out>/figures/``                  every figure the notebooks saved
- ``<out>/results/NN_name.json``      each notebook's headline numbers
- ``<out>/run.json``                  per notebook: wall time, status ("running" while it
                                      runs, then ok / failed / died, with the cell and error),
                                      profile, data path, git commit, package versions, device,
                                      every profile value (``profile_values``) and the
                                      ``overrides`` (``--set section.key=value``) applied

A failed notebook, or one whose kernel died (segfault, out-of-memory kill), is reported in
one line with its executed copy kept, and the run goes on (``fail_fast=True`` stops it);
``NotebookFailed`` is raised at the end. Executed notebooks are written under a temporary
name and renamed when finished; ``resume=True`` reruns every notebook not recorded ok or
whose executed copy is missing or incomplete.

A source notebook is never overwritten by a failed run. With ``publish=True`` (the
``default`` profile on the embedded data, i.e. ``make paper``) each notebook that succeeds
is copied back into ``notebooks/`` (normalised, so diffs stay small) and its figures into
``figures/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from . import paths
from .atomic import (
    atomic_copy,
    atomic_write_bytes,
    atomic_write_json,
    check_writable,
    remove_stale,
    temp_path_for,
)
from .config import SYNTHETIC_DATA
from .profiles import get_profile

VERSIONED_PACKAGES = (
    "icepaper", "torch", "torchvision", "timm", "lightly", "numpy", "scipy", "pandas",
    "scikit-learn", "faiss-cpu", "umap-learn", "trimesh", "opencv-python-headless", "papermill",
)


class NotebookFailed(RuntimeError):
    """One or more notebooks failed or their kernel died; the message has one line per notebook
    (name, cell, error) and ``.results`` every notebook's ``NotebookResult``."""

    def __init__(self, message: str, results: list[NotebookResult] | None = None):
        super().__init__(message)
        self.results = results or []


@dataclass
class NotebookResult:
    name: str
    status: str  # "ok" | "failed" | "died" | "skipped (resume)"
    wall_s: float
    error: str = ""  # one line naming the notebook, the cell and the error (failed / died)


def list_notebooks(only: str | list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Numbered notebooks ``NN_*.ipynb`` in number order, optionally only the given numbers
    (``only`` given but naming none, e.g. ``""``, is an error, not "all")."""
    folder = Path(folder or paths.notebooks_dir())
    nbs = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only is not None:
        wanted = [s.strip() for s in (only.split(",") if isinstance(only, str) else only) if s.strip()]
        if not wanted:
            raise ValueError(f"--only {only!r} names no notebook; give numbers such as 01,03")
        wanted = [w.zfill(2) if w.isdigit() else w for w in wanted]
        known = {p.name[:2]: p for p in nbs}
        unknown = [w for w in wanted if w[:2] not in known]
        if unknown:
            raise ValueError(f"no notebook numbered {unknown}; available: {sorted(known)}")
        nbs = [p for p in nbs if p.name[:2] in {w[:2] for w in wanted}]
    if not nbs:
        raise FileNotFoundError(f"no numbered notebooks in {folder}")
    return nbs


def environment_record() -> dict[str, Any]:
    """Git commit, package versions and device of this run."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    from .config import pick_device

    dev = pick_device()
    device = dev
    if dev == "cuda":
        import torch

        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = f"cpu ({platform.processor() or platform.machine()})"
    return {
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "packages": versions,
        "device": device,
    }


def _git_commit() -> str | None:
    root = paths.repo_root()
    if root is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def executed_completely(path: Path) -> bool:
    """True when ``path`` is a papermill-executed notebook that ran to its end without error
    (every non-empty code cell started and completed; the run has an end time)."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    pm_meta = nb.get("metadata", {}).get("papermill", {})
    if not pm_meta.get("end_time") or pm_meta.get("exception"):
        return False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or not "".join(cell.get("source", "")).strip():
            continue
        cm = cell.get("metadata", {}).get("papermill", {})
        if not cm.get("start_time") or cm.get("status") != "completed" or cm.get("exception"):
            return False
    return True


def _check_data(data: str) -> str:
    """``--data`` resolved to an absolute folder, or a generated dataset's name ("" = synthetic default)."""
    if data in SYNTHETIC_DATA:  # "" (the synthetic CPI default) or a generated dataset's name
        return data
    p = Path(data).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"--data {data}: no such file or folder")
    if not p.is_dir():
        raise NotADirectoryError(f"--data {data} is a file; expected a packed dataset, an image folder "
                                 "or a folder of CPI sheets")
    return str(p.resolve())


def _prepare_out(out: Path) -> None:
    """Create ``out`` and its sub-folders, or raise PermissionError naming it."""
    check_writable(out)
    try:
        for sub in ("notebooks", "figures", "results"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"output folder {out} is not writable ({e.strerror or e})") from e
    for sub in ("notebooks", "figures", "results"):
        remove_stale(out / sub)  # temporaries of a killed run
    remove_stale(out, "run.json")


def run_notebooks(
    profile: str = "default",
    data: str = "",
    out: str | Path | None = None,
    only: str | list[str] | None = None,
    resume: bool = False,
    seed: int = 0,
    publish: bool | None = None,
    notebooks_folder: Path | None = None,
    echo=print,
    fail_fast: bool = False,
    overrides: dict[str, Any] | None = None,
) -> list[NotebookResult]:
    """Run the notebooks in order and return one ``NotebookResult`` each.

    A notebook that raises or whose kernel dies (segfault, out-of-memory kill) is recorded in
    ``run.json`` (status "failed"/"died", the cell, the error) with its executed copy kept,
    and the run goes on with the next notebook (``fail_fast`` stops there). When any failed,
    ``NotebookFailed`` is raised at the end, one line per failed notebook. Each notebook is
    marked "running" in ``run.json`` before it starts and executed into a temporary file that
    is renamed when done, so an interrupted run is never mistaken for a finished one by
    ``resume``. ``overrides`` (``{"pretrain.steps": 600}``) change profile values; they reach
    each notebook as its ``overrides`` parameter.
    """
    import papermill as pm

    overrides = dict(overrides or {})
    prof = get_profile(profile, overrides)  # unknown profile, bad --set: clear error before anything runs
    overrides = prof.overrides
    data = _check_data(data)
    out = Path(out).expanduser().resolve() if out else paths.default_out_dir().parent / profile
    if publish is None:
        publish = profile == "default" and not data
    nbs = list_notebooks(only, notebooks_folder)
    _prepare_out(out)

    run_path = out / "run.json"
    record = _read_record(run_path)
    same_inputs = record.get("profile") == profile and record.get("data") == (data or "synthetic-default") \
        and record.get("overrides", {}) == overrides
    if not ((resume or only is not None) and same_inputs):
        record = {}  # a full run starts a fresh record; --only/--resume keep the other notebooks' entries
    record.update({"profile": profile, "data": data or "synthetic-default", "seed": seed,
                   "overrides": overrides, "profile_values": prof.as_dict(), **environment_record()})
    record.setdefault("notebooks", {})

    results: list[NotebookResult] = []
    for i, src in enumerate(nbs, 1):
        stem = src.stem
        dest = out / "notebooks" / src.name
        prev = record["notebooks"].get(stem, {})
        if resume and prev.get("status") == "ok" and prev.get("source_sha") == _sha(src) \
                and prev.get("profile") == profile and prev.get("data") == record["data"] \
                and prev.get("overrides", {}) == overrides and executed_completely(dest):
            results.append(NotebookResult(stem, "skipped (resume)", 0.0))
            echo(f"[{i}/{len(nbs)}] {stem:<28} {'-':>8}   skipped (up to date)")
            continue
        entry: dict[str, Any] = {"profile": profile, "data": record["data"], "overrides": overrides,
                                 "source_sha": _sha(src),
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "status": "running",
                                 "pid": os.getpid()}
        record["notebooks"][stem] = entry
        atomic_write_json(run_path, record)
        res = _execute_one(pm, src, dest, notebook_parameters(profile, seed, data, out, overrides))
        entry.pop("pid")
        entry.update(status=res.status, wall_s=round(res.wall_s, 1))
        if res.status != "ok":
            entry.update(error=res.error, failed_cell=res.cell)
        record["total_wall_s"] = round(sum(v.get("wall_s", 0) for v in record["notebooks"].values()), 1)
        atomic_write_json(run_path, record)
        tail = res.status if res.status == "ok" else res.status.upper() + (
            f" (cell {res.cell})" if res.cell is not None else "")
        echo(f"[{i}/{len(nbs)}] {stem:<28} {res.wall_s:7.1f}s   {tail}")
        results.append(NotebookResult(stem, res.status, res.wall_s, res.message))
        if res.status == "ok" and publish:
            _publish(dest, src, out / "figures", out / "results" / f"{stem}.json")
        if res.status != "ok" and fail_fast:
            break
    bad = [r for r in results if r.status in ("failed", "died")]
    if bad:
        raise NotebookFailed("\n".join(r.error for r in bad), results)
    return results


def _read_record(run_path: Path) -> dict[str, Any]:
    if not run_path.exists():
        return {}
    try:
        rec = json.loads(run_path.read_text())
    except ValueError:
        return {}  # unreadable record (hand-edited?): start a fresh one
    return rec if isinstance(rec, dict) else {}


@dataclass
class _Outcome:
    status: str  # ok | failed | died
    wall_s: float
    cell: int | None = None
    error: str = ""  # "Ename: value" or the kernel's cause of death
    message: str = ""  # the one-line report


def notebook_parameters(profile: str, seed: int, data: str, out: Path,
                        overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The papermill parameters of every notebook; ``overrides`` only when there are some, so
    an executed notebook without ``--set`` reads as before."""
    params: dict[str, Any] = {"profile": profile, "seed": seed, "data": data, "out": str(out)}
    if overrides:
        params["overrides"] = dict(overrides)
    return params


def _execute_one(pm, src: Path, dest: Path, parameters: dict[str, Any]) -> _Outcome:
    """Execute ``src`` into a temporary file beside ``dest`` and rename it to ``dest`` when done
    (also when it failed or its kernel died, so the error can be read there)."""
    from nbclient.exceptions import DeadKernelError

    tmp = temp_path_for(dest)
    exit_codes: list[int] = []
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(src), str(tmp),
            parameters=parameters,
            kernel_name="python3", progress_bar=False, cwd=str(src.parent),
            kernel_manager_class=_exit_recording_kernel_manager(exit_codes),
        )
        outcome = _Outcome("ok", time.perf_counter() - t0)
    except pm.PapermillExecutionError as e:
        error = f"{e.ename}: {_first_line(e.evalue)}"
        outcome = _Outcome("failed", time.perf_counter() - t0, e.cell_index, error,
                           f"notebook {src.name} failed in cell {e.cell_index} (execution count "
                           f"{e.exec_count}): {error}; executed copy kept at {dest}")
    except DeadKernelError:
        cause = kernel_death_cause(exit_codes[-1] if exit_codes else None)
        cell = _mark_dead_cell(tmp, cause)
        outcome = _Outcome("died", time.perf_counter() - t0, cell, f"kernel died: {cause}",
                           f"notebook {src.name} died in cell {cell} (kernel died: {cause}); "
                           f"executed copy kept at {dest}")
    except Exception as e:  # noqa: BLE001 - kernel start failures, timeouts: report, go on
        error = f"{type(e).__name__}: {_first_line(str(e))}"
        outcome = _Outcome("failed", time.perf_counter() - t0, None, error,
                           f"notebook {src.name} failed: {error}")
    except BaseException:
        tmp.unlink(missing_ok=True)  # interrupted: the previous executed copy stays as it was
        raise
    if tmp.exists():
        os.replace(tmp, dest)
    return outcome


def _first_line(text: str) -> str:
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _exit_recording_kernel_manager(exit_codes: list[int]):
    """jupyter_client's AsyncKernelManager that appends the kernel's exit code to ``exit_codes``
    when it notices the kernel has ended (negative: killed by that signal).

    It also provisions CurveZMQ keys for kernels that declare support for them
    (``transport_encryption = "auto"`` when pyzmq has CurveZMQ; the python3 kernel of
    ipykernel 7.4 with jupyter_client 8.10 does): the kernel's sockets are then encrypted, and
    ipykernel no longer prints "[IPKernelApp] WARNING | Kernel is running over TCP without
    encryption" before every notebook. A kernel, jupyter_client or pyzmq without CurveZMQ
    support runs unencrypted as before (older jupyter_client has no such setting and ignores
    this default)."""
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class ExitRecordingKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _encrypt_when_possible(self) -> str:
            import zmq

            return "auto" if zmq.has("curve") else "disabled"

        async def is_alive(self) -> bool:
            if self.has_kernel and self.provisioner is not None:
                code = await self.provisioner.poll()
                if code is not None and not exit_codes:
                    exit_codes.append(int(code))
            return await super()._async_is_alive()

    return ExitRecordingKernelManager


def kernel_death_cause(code: int | None) -> str:
    """A short reason for a kernel exit code (negative = killed by that signal)."""
    if code is None:
        return "exit status unknown"
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f"killed by signal {-code}"
    likely = {
        "SIGKILL": "likely out of memory (the system's OOM killer) or killed from outside",
        "SIGSEGV": "segmentation fault in compiled code (e.g. a stack overflow in a C extension)",
        "SIGBUS": "bus error in compiled code (or a memory-mapped file that shrank)",
        "SIGABRT": "aborted by a compiled library",
        "SIGFPE": "arithmetic fault in compiled code",
        "SIGILL": "illegal instruction (a library built for another CPU?)",
        "SIGTERM": "terminated from outside",
    }.get(name)
    return f"{name}, {likely}" if likely else name


def _mark_dead_cell(tmp: Path, cause: str) -> int | None:
    """Index of the cell that was running when the kernel died (the last one started), given
    an error output saying so in the kept copy; None if the notebook file is unreadable."""
    try:
        nb = json.loads(tmp.read_text())
    except (OSError, ValueError):
        return None
    started = [k for k, c in enumerate(nb.get("cells", []))
               if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return None
    k = started[-1]
    cell = nb["cells"][k]
    cell.setdefault("outputs", []).append({
        "output_type": "error", "ename": "DeadKernelError", "evalue": f"kernel died: {cause}",
        "traceback": [f"DeadKernelError: the kernel died while running this cell ({cause})"],
    })
    cell["metadata"]["papermill"].update(status="failed", exception=True)
    nb.setdefault("metadata", {}).setdefault("papermill", {})["exception"] = True
    atomic_write_bytes(tmp, (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode())
    return k


def prepare_notebooks(profile: str, out: Path, data: str = "", seed: int = 0,
                      only: str | list[str] | None = None,
                      overrides: dict[str, Any] | None = None) -> list[Path]:
    """Parameterise copies of the notebooks without executing them (for nbval)."""
    import papermill as pm

    overrides = get_profile(profile, overrides).overrides
    out = Path(out).resolve()
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    made = []
    for src in list_notebooks(only):
        dest = out / "notebooks" / src.name
        pm.execute_notebook(str(src), str(dest), prepare_only=True, kernel_name="python3",
                            parameters=notebook_parameters(profile, seed, data, out, overrides))
        made.append(dest)
    return made


def normalise_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """Drop per-run noise (timestamps, durations) so committed notebooks diff cleanly, and write
    the ``out`` parameter relative to the checkout (no local absolute path in a committed file)."""
    nb.get("metadata", {}).pop("widgets", None)
    pmeta = nb.get("metadata", {}).get("papermill")
    if pmeta:
        for k in ("start_time", "end_time", "duration", "input_path", "output_path", "exception"):
            pmeta.pop(k, None)
        out = (pmeta.get("parameters") or {}).get("out")
        rel = _repo_relative(out) if isinstance(out, str) else None
        if rel is not None:
            pmeta["parameters"]["out"] = rel
            for cell in nb.get("cells", []):
                if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
                    src = "".join(cell.get("source", ""))
                    cell["source"] = src.replace(f"out = {json.dumps(out)}", f"out = {json.dumps(rel)}"
                                                 ).splitlines(keepends=True)
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    return nb


def _repo_relative(path: str) -> str | None:
    """``path`` relative to the checkout root when it lies inside it, else None."""
    root = paths.repo_root()
    if root is None or not path:
        return None
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def _publish(executed: Path, src: Path, run_figures: Path, run_results: Path) -> None:
    nb = normalise_notebook(json.loads(executed.read_text()))
    atomic_write_bytes(src, (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode())
    dest = paths.figures_dir()
    dest.mkdir(parents=True, exist_ok=True)
    # only the figures this notebook saved in this run (its results JSON lists them): an output
    # folder reused across runs may hold figures of earlier runs, under names no longer used
    saved = None
    if run_results.exists():
        saved = json.loads(run_results.read_text()).get("figures")
    for f in sorted(run_figures.glob("*")):
        if f.suffix in {".png", ".pdf"} and not f.name.startswith("."):
            if saved is None or f.stem in saved:
                atomic_copy(f, dest / f.name)
    if run_results.exists():
        paths.results_dir().mkdir(parents=True, exist_ok=True)
        atomic_copy(run_results, paths.results_dir() / run_results.name)
