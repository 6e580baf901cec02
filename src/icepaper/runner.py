"""Execute the numbered notebooks headlessly with papermill, in number order.

``run_notebooks(profile=..., data=..., out=..., only=..., resume=...)`` writes

- ``<out>/notebooks/NN_name.ipynb``   the executed copies (kept on failure, with the error)
- ``<out>/figures/``                  every figure the notebooks saved
- ``<out>/results/NN_name.json``      each notebook's headline numbers
- ``<out>/run.json``                  per notebook: wall time, status, profile, data path,
                                      git commit, package versions, device

A source notebook is never overwritten by a failed run. With ``publish=True`` (the
``default`` profile on the embedded data, i.e. ``make paper``) each notebook that succeeds
is copied back into ``notebooks/`` (normalised, so diffs stay small) and its figures into
``figures/``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from . import paths
from .atomic import atomic_write_bytes, atomic_write_json, check_writable
from .config import SYNTHETIC_DATA
from .profiles import get_profile

VERSIONED_PACKAGES = (
    "icepaper", "torch", "torchvision", "timm", "lightly", "numpy", "scipy", "pandas",
    "scikit-learn", "faiss-cpu", "umap-learn", "trimesh", "opencv-python-headless", "papermill",
)


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook and the failing cell."""


@dataclass
class NotebookResult:
    name: str
    status: str  # "ok" | "failed" | "skipped (resume)"
    wall_s: float
    error: str = ""


def list_notebooks(only: str | list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Numbered notebooks ``NN_*.ipynb`` in number order, optionally only the given numbers."""
    folder = Path(folder or paths.notebooks_dir())
    nbs = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = [s.strip() for s in (only.split(",") if isinstance(only, str) else only) if s.strip()]
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
) -> list[NotebookResult]:
    """Run the notebooks in order; raise NotebookFailed naming the notebook and cell on failure."""
    import papermill as pm

    get_profile(profile)  # unknown profile: clear error before anything runs
    if data not in SYNTHETIC_DATA and not Path(data).expanduser().exists():
        raise FileNotFoundError(f"--data {data}: no such file or folder")
    data = data if data in SYNTHETIC_DATA else str(Path(data).expanduser().resolve())  # "": synthetic default
    out = Path(out).expanduser().resolve() if out else paths.default_out_dir().parent / profile
    check_writable(out)
    if publish is None:
        publish = profile == "default" and not data
    nbs = list_notebooks(only, notebooks_folder)
    for sub in ("notebooks", "figures", "results"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    run_path = out / "run.json"
    record = json.loads(run_path.read_text()) if run_path.exists() else {}
    same_inputs = record.get("profile") == profile and record.get("data") == (data or "synthetic-default")
    if not ((resume or only) and same_inputs):
        record = {}  # a full run starts a fresh record; --only/--resume keep the other notebooks' entries
    record.update({"profile": profile, "data": data or "synthetic-default", "seed": seed,
                   **environment_record()})
    record.setdefault("notebooks", {})

    results: list[NotebookResult] = []
    for i, src in enumerate(nbs, 1):
        stem = src.stem
        dest = out / "notebooks" / src.name
        prev = record["notebooks"].get(stem, {})
        if resume and prev.get("status") == "ok" and prev.get("source_sha") == _sha(src) \
                and prev.get("profile") == profile and prev.get("data") == record["data"] and dest.exists():
            results.append(NotebookResult(stem, "skipped (resume)", 0.0))
            echo(f"[{i}/{len(nbs)}] {stem:<28} {'-':>8}   skipped (up to date)")
            continue
        t0 = time.perf_counter()
        entry: dict[str, Any] = {"profile": profile, "data": record["data"], "source_sha": _sha(src),
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        try:
            pm.execute_notebook(
                str(src), str(dest),
                parameters={"profile": profile, "seed": seed, "data": data, "out": str(out)},
                kernel_name="python3", progress_bar=False, cwd=str(src.parent),
            )
        except pm.PapermillExecutionError as e:
            wall = time.perf_counter() - t0
            msg = (f"notebook {src.name} failed in cell {e.cell_index} (execution count {e.exec_count}): "
                   f"{e.ename}: {e.evalue}\n  executed copy with the error kept at {dest}")
            entry.update(status="failed", wall_s=round(wall, 1), error=f"{e.ename}: {e.evalue}",
                         failed_cell=e.cell_index)
            record["notebooks"][stem] = entry
            atomic_write_json(run_path, record)
            echo(f"[{i}/{len(nbs)}] {stem:<28} {wall:7.1f}s   FAILED (cell {e.cell_index})")
            results.append(NotebookResult(stem, "failed", wall, msg))
            raise NotebookFailed(msg) from None
        wall = time.perf_counter() - t0
        entry.update(status="ok", wall_s=round(wall, 1))
        record["notebooks"][stem] = entry
        record["total_wall_s"] = round(sum(v.get("wall_s", 0) for v in record["notebooks"].values()), 1)
        atomic_write_json(run_path, record)
        echo(f"[{i}/{len(nbs)}] {stem:<28} {wall:7.1f}s   ok")
        results.append(NotebookResult(stem, "ok", wall))
        if publish:
            _publish(dest, src, out / "figures")
    return results


def prepare_notebooks(profile: str, out: Path, data: str = "", seed: int = 0,
                      only: str | list[str] | None = None) -> list[Path]:
    """Parameterise copies of the notebooks without executing them (for nbval)."""
    import papermill as pm

    get_profile(profile)
    out = Path(out).resolve()
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    made = []
    for src in list_notebooks(only):
        dest = out / "notebooks" / src.name
        pm.execute_notebook(str(src), str(dest), prepare_only=True, kernel_name="python3",
                            parameters={"profile": profile, "seed": seed, "data": data, "out": str(out)})
        made.append(dest)
    return made


def normalise_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """Drop per-run noise (timestamps, durations) so committed notebooks diff cleanly."""
    nb.get("metadata", {}).pop("widgets", None)
    pmeta = nb.get("metadata", {}).get("papermill")
    if pmeta:
        for k in ("start_time", "end_time", "duration", "input_path", "output_path", "exception"):
            pmeta.pop(k, None)
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    return nb


def _publish(executed: Path, src: Path, run_figures: Path) -> None:
    nb = normalise_notebook(json.loads(executed.read_text()))
    atomic_write_bytes(src, (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode())
    dest = paths.figures_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(run_figures.glob("*")):
        if f.suffix in {".png", ".pdf"}:
            shutil.copy2(f, dest / f.name)
