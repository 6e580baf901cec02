"""Write files and folders so that nothing half-written ever looks complete."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def check_writable(folder: Path) -> None:
    """Raise PermissionError naming ``folder`` if it (or its nearest existing parent) is not writable."""
    p = Path(folder)
    while not p.exists():
        p = p.parent
    if not os.access(p, os.W_OK):
        raise PermissionError(f"output folder {folder} is not writable (checked {p})")


@contextlib.contextmanager
def atomic_dir(final: Path):
    """Yield a temporary sibling folder; rename it to ``final`` only if the block succeeds.

    An existing ``final`` is replaced only after the new one is complete; on error the
    temporary folder is removed and ``final`` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    check_writable(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented, standard JSON (numpy scalars converted; NaN and infinities
    written as null, which strict JSON readers accept) atomically."""
    text = json.dumps(_finite(obj), indent=2, default=_jsonable, allow_nan=False)
    atomic_write_bytes(Path(path), (text + "\n").encode())


def _finite(o: Any) -> Any:
    """``o`` with every non-finite float (python or numpy, at any depth) replaced by None."""
    import math

    import numpy as np

    if isinstance(o, (float, np.floating)):
        return float(o) if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, np.ndarray) and o.dtype.kind == "f":
        return _finite(o.tolist())
    return o


def _jsonable(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
