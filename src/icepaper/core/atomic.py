"""Write files and folders so that nothing half-written ever looks complete, nothing unrelated
is ever replaced, and concurrent writers of one path take turns.

- ``atomic_dir(final, replace=...)``: build a folder under a temporary sibling name and rename
  it into place when complete. An existing non-empty ``final`` is replaced only when
  ``replace`` allows it (True, or a predicate such as ``is_packed``); the old folder is kept
  until the new one is in place.
- ``atomic_write_bytes`` / ``atomic_write_json`` / ``atomic_copy``: the same for one file.
- ``dir_lock(path)``: an exclusive ``flock`` on ``.<name>.lock`` beside ``path``, held by one
  writer at a time (re-entrant within a thread of control; the lock file is removed on release).
- Temporary names carry the writer's pid (``.<name>.tmp-<pid>-<random>``,
  ``.<name>.old-<pid>-<random>``); ``remove_stale`` deletes those whose writer is no longer
  running on this machine (an ``.old-`` folder is moved back if its replacement never arrived).
- Folders and files are created with the permissions the umask gives (0o777/0o666 & ~umask),
  not the 0700/0600 of ``tempfile``, so a group can read a shared run.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, writers are not serialised
    fcntl = None

_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-[A-Za-z0-9_]+(\.[A-Za-z0-9]+)?$")
_HELD: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("icepaper_held_locks",
                                                                       default=frozenset())


def check_writable(folder: Path) -> None:
    """Raise PermissionError naming ``folder`` unless it can be created (or written) there: its
    nearest existing ancestor must be a writable folder."""
    p = Path(folder).expanduser().absolute()
    while not p.exists() and not p.is_symlink():
        p = p.parent
    if not p.is_dir():
        raise PermissionError(f"output folder {folder} is not writable: {p} is not a folder")
    if not os.access(p, os.W_OK):
        raise PermissionError(f"output folder {folder} is not writable (checked {p})")


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - other systems: set and restore
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs on this machine (a zombie counts as ended)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def remove_stale(folder: Path, name: str | None = None) -> list[Path]:
    """Delete temporary ``.tmp-``/``.old-`` entries in ``folder`` whose writer has died.

    Only entries of ``name`` when given (else all icepaper temporaries in ``folder``). A stale
    ``.old-`` folder whose final name is missing (the writer died between its two renames) is
    moved back into place instead of deleted. Returns what was removed or restored.
    """
    folder = Path(folder)
    done: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return done
    for p in entries:
        m = _TEMP_RE.match(p.name)
        if not m or (name is not None and m["name"] != name) or pid_alive(int(m["pid"])):
            continue
        final = folder / m["name"]
        with contextlib.suppress(FileNotFoundError):
            if m["kind"] == "old" and p.is_dir() and not final.exists():
                os.rename(p, final)
            elif p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            done.append(p)
    return done


def _key(path: Path) -> str:
    return os.path.realpath(Path(path).expanduser())


def lock_held(path: Path) -> bool:
    """True when this thread of control already holds ``dir_lock(path)``."""
    return _key(path) in _HELD.get()


@contextlib.contextmanager
def dir_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock for writing ``path`` (waits for the current holder, printing once
    who it waits for; TimeoutError after ``timeout`` seconds if given). Re-entrant."""
    key = _key(path)
    if key in _HELD.get() or fcntl is None:
        yield
        return
    final = Path(key)
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = final.parent / f".{final.name}.lock"
    fd = _acquire(lock, final, timeout)
    token = _HELD.set(_HELD.get() | {key})
    try:
        yield
    finally:
        _HELD.reset(token)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _acquire(lock: Path, final: Path, timeout: float | None) -> int:
    import time

    t0 = time.monotonic()
    told = False
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not told:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    print(f"waiting for another writer of {final} (pid {holder}) to finish ...",
                          file=sys.stderr, flush=True)
                    told = True
                if timeout is not None and time.monotonic() - t0 > timeout:
                    raise TimeoutError(f"{final} is being written by another process (lock {lock} "
                                       f"held for over {timeout:g} s)") from None
                os.close(fd)
                time.sleep(0.1)
                continue
            # the holder before us removes the lock file on release: ours must still be it
            st = os.fstat(fd)
            try:
                cur = os.stat(lock)
                same = (cur.st_ino, cur.st_dev) == (st.st_ino, st.st_dev)
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return fd
            os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise


def _is_empty_dir(p: Path) -> bool:
    with os.scandir(p) as it:
        return next(it, None) is None


def check_replaceable(final: Path, replace: bool | Callable[[Path], bool] = False) -> None:
    """Raise FileExistsError unless ``final`` is absent, an empty folder, or allowed by ``replace``."""
    final = Path(final)
    if not final.exists():
        return
    if not final.is_dir():
        raise FileExistsError(f"{final} exists and is not a folder; refusing to replace it")
    if _is_empty_dir(final) or replace is True or (callable(replace) and replace(final)):
        return
    raise FileExistsError(f"{final} exists and is not empty; refusing to replace it")


def _temp_prefix(name: str) -> str:
    return f".{name}.tmp-{os.getpid()}-"


@contextlib.contextmanager
def atomic_dir(final: Path, replace: bool | Callable[[Path], bool] = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; rename it to ``final`` only if the block succeeds.

    Writers of one ``final`` are serialised by ``dir_lock``; temporaries of dead writers are
    removed first. An existing non-empty ``final`` is replaced only if ``replace`` is True or
    ``replace(final)`` is true (FileExistsError otherwise, before the block runs); the old
    folder is renamed aside and deleted only after the new one is in place. On error the
    temporary folder is removed and ``final`` is left as it was.
    """
    final = Path(final)
    if final.is_symlink():  # replace what the link points to; the link stays
        final = Path(os.path.realpath(final))
    final.parent.mkdir(parents=True, exist_ok=True)
    check_writable(final.parent)
    with dir_lock(final):
        remove_stale(final.parent, final.name)
        check_replaceable(final, replace)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(final.name), dir=final.parent))
        try:
            os.chmod(tmp, 0o777 & ~current_umask())
            yield tmp
            check_replaceable(final, replace)
            _swap_in(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _swap_in(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an existing non-empty ``final`` goes aside first and is
    deleted only once ``tmp`` is in place (moved back if that rename fails)."""
    if not final.exists() or (final.is_dir() and _is_empty_dir(final)):
        os.replace(tmp, final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-{os.getpid()}-", dir=final.parent))
    os.replace(final, old)  # onto the empty placeholder
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename (mode 0o666 & ~umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_copy(src: Path, dest: Path) -> None:
    """Copy file ``src`` to ``dest`` (with its timestamps) via a temporary file and a rename."""
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(dest.name), dir=dest.parent)
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def temp_path_for(path: Path) -> Path:
    """An unused temporary sibling name for ``path`` (same suffix), recognised by ``remove_stale``."""
    path = Path(path)
    return path.with_name(f"{_temp_prefix(path.name)}{os.urandom(4).hex()}{path.suffix}")


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


def jsonable(obj: Any, digits: int | None = None) -> Any:
    """``obj`` as plain JSON-ready Python: dict keys as str, tuples as lists, numpy scalars and
    arrays as Python numbers and lists, paths as str, NaN/inf as None (strict JSON); floats
    rounded to ``digits`` decimals when given (short, stable parameter records).

    >>> import numpy as np
    >>> jsonable({1: (np.float32(0.5), float("nan")), "a": np.arange(2)})
    {'1': [0.5, None], 'a': [0, 1]}
    >>> jsonable({"ratio": (3 / 4, 4 / 3)}, digits=6)
    {'ratio': [0.75, 1.333333]}
    """
    import numpy as np

    if isinstance(obj, Mapping):
        return {str(k): jsonable(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist(), digits)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return obj if digits is None else round(obj, digits)
    return obj


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
