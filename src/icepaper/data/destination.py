"""Where an import, export or generation may write: never over its source, never over files
it did not write, one writer at a time.

``check_destination(src, dest, kind, overwrite)`` raises ``DestinationError`` when

- ``dest`` is ``src``, lies inside it or contains it (after resolving symlinks);
- ``dest`` exists and is not a folder;
- ``dest`` is a non-empty folder that is not what this kind of writer produces (a packed
  dataset for ``kind="dataset"``, a folder carrying :data:`EXPORT_MARKER` for
  ``kind="export"``);
- ``dest`` is such an output but ``overwrite`` is false.

``claim_destination`` checks, takes the writer lock of ``dest`` (``icepaper.core.atomic.dir_lock``)
and checks again, so a second writer that waited finds the first one's finished output and
stops with a clear message (or replaces it with ``overwrite``). ``writes_destination`` wraps
an importer/exporter with that claim and gives it an ``overwrite=False`` keyword.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from icepaper.core.atomic import check_writable, dir_lock

from .packed import is_packed

EXPORT_MARKER = ".icepaper-export.json"
KINDS = {"dataset": "a packed dataset", "export": "an icepaper export folder"}
_CLAIMED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("icepaper_claimed",
                                                                          default=frozenset())


class DestinationError(ValueError):
    """An output path that would lose or mix data; the message names the path and the reason."""


def is_export(path) -> bool:
    """True for a folder written by ``export_folder`` (it carries :data:`EXPORT_MARKER`)."""
    return (Path(path) / EXPORT_MARKER).is_file()


def is_output_of(kind: str) -> Callable[[Path], bool]:
    """The test for "a folder this kind of writer produced" (packed dataset or export folder)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    return is_packed if kind == "dataset" else is_export


def check_destination(src, dest, kind: str = "dataset", overwrite: bool = False) -> Path:
    """Raise DestinationError if writing ``dest`` could destroy data (module docstring); return it."""
    dest = Path(dest).expanduser()
    real_dest = Path(os.path.realpath(dest))
    if src is not None:
        real_src = Path(os.path.realpath(Path(src).expanduser()))
        if real_dest == real_src:
            raise DestinationError(f"output {dest} is the input {src}: refusing to write over the input")
        if real_dest.is_relative_to(real_src):
            raise DestinationError(f"output {dest} is inside the input {src}: choose a folder outside it")
        if real_src.is_relative_to(real_dest):
            raise DestinationError(f"output {dest} contains the input {src}: writing there would "
                                   "delete the input; choose another folder")
    if dest.exists() and not dest.is_dir():
        raise DestinationError(f"output {dest} exists and is not a folder")
    check_writable(dest)
    if not dest.exists():
        return dest
    if not any(dest.iterdir()):
        return dest
    if not is_output_of(kind)(dest):
        raise DestinationError(f"output {dest} is a non-empty folder that is not {KINDS[kind]}: "
                               "refusing to replace it; choose a new or empty folder")
    if not overwrite:
        raise DestinationError(f"output {dest} already holds {KINDS[kind]}; pass --overwrite "
                               "(overwrite=True in Python) to replace it")
    return dest


@contextlib.contextmanager
def claim_destination(src, dest, kind: str = "dataset", overwrite: bool = False) -> Iterator[Path]:
    """Check ``dest``, hold its writer lock, check again (another writer may have finished
    while we waited) and yield it; nested claims of the same ``dest`` pass straight through."""
    key = os.path.realpath(Path(dest).expanduser())
    if key in _CLAIMED.get():
        yield Path(dest)
        return
    check_destination(src, dest, kind, overwrite)
    with dir_lock(dest):
        check_destination(src, dest, kind, overwrite)
        token = _CLAIMED.set(_CLAIMED.get() | {key})
        try:
            yield Path(dest)
        finally:
            _CLAIMED.reset(token)


def writes_destination(kind: str, src: str, dest: str):
    """Decorate a writer whose parameters ``src`` and ``dest`` name its input (a path, or an
    object with ``.root``) and output: the call runs under ``claim_destination`` and accepts
    ``overwrite=False`` (replace an existing output of the same kind)."""
    is_output_of(kind)

    def deco(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, overwrite: bool = False, **kwargs):
            bound = sig.bind_partial(*args, **kwargs)
            source = bound.arguments.get(src)
            if source is not None and not isinstance(source, str | os.PathLike):
                source = source.root  # a PackedDataset

            with claim_destination(source, bound.arguments[dest], kind, overwrite):
                return fn(*args, **kwargs)

        params = list(sig.parameters.values())
        extra = inspect.Parameter("overwrite", inspect.Parameter.KEYWORD_ONLY, default=False,
                                  annotation="bool")
        at = next((i for i, p in enumerate(params) if p.kind == p.VAR_KEYWORD), len(params))
        wrapper.__signature__ = sig.replace(parameters=params[:at] + [extra] + params[at:])
        return wrapper

    return deco
