"""Rows of large on-disk arrays read into fresh memory, so a pass over them keeps RSS flat.

Reading a ``np.memmap`` row by row leaves every page it touched mapped into the process: its
resident set (RSS, what ``top``, ``ru_maxrss`` and job schedulers such as Slurm count) grows
to the size of the file over one pass, although the kernel could drop those pages. Positioned
reads (``os.preadv``) copy the bytes into an ordinary buffer instead and map nothing.

``RowReader(x, rows)`` reads rows of ``x[rows]`` (``rows`` None: all of ``x``) this way when
``x`` is a whole-file C-order ``np.memmap`` (what ``np.memmap(path, ...)`` and
``np.load(path, mmap_mode="r")`` return), and by plain indexing for any other array.
``pread_into(fd, out, offset)`` fills an array from a file descriptor.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Iterator

import numpy as np

_HAS_PREADV = hasattr(os, "preadv")
_SEEK_LOCK = threading.Lock()  # only where os.pread is missing


def pread_into(fd: int, out: np.ndarray, offset: int) -> bool:
    """Fill the C-contiguous array ``out`` with the bytes of ``fd`` from byte ``offset`` on
    (looping over short reads); False when the file ends first."""
    if _HAS_PREADV and os.preadv(fd, [out], offset) == out.nbytes:  # the usual case: one call
        return True
    view = memoryview(out).cast("B")
    done, total = 0, len(view)
    while done < total:
        if _HAS_PREADV:
            got = os.preadv(fd, [view[done:]], offset + done)
        else:  # no preadv (Windows, older macOS): through a bytes copy
            if hasattr(os, "pread"):
                chunk = os.pread(fd, total - done, offset + done)
            else:
                with _SEEK_LOCK:
                    os.lseek(fd, offset + done, os.SEEK_SET)
                    chunk = os.read(fd, total - done)
            got = len(chunk)
            view[done:done + got] = chunk
        if got <= 0:
            return False
        done += got
    return True


def runs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, starts, ends)``: ``rows[order]`` sorted (stable), cut into runs of consecutive
    values ``rows[order[starts[j]:ends[j]]]``.

    >>> order, starts, ends = runs(np.array([5, 6, 7, 1, 2, 9]))
    >>> [np.array([5, 6, 7, 1, 2, 9])[order[a:b]].tolist() for a, b in zip(starts, ends)]
    [[1, 2], [5, 6, 7], [9]]
    """
    order = np.argsort(rows, kind="stable")
    r = rows[order]
    breaks = np.flatnonzero(np.diff(r) != 1) + 1
    return order, np.r_[0, breaks], np.r_[breaks, len(r)]


def file_backing(x) -> tuple[str, int] | None:
    """``(path, byte offset of row 0)`` when ``x`` is a whole-file C-order memory map (not a view
    or a copy of one), else None."""
    if (isinstance(x, np.memmap) and isinstance(x.base, mmap.mmap) and x.filename
            and x.flags.c_contiguous and x.ndim >= 1):
        return str(x.filename), int(x.offset)
    return None


class RowReader:
    """The rows ``x[rows]`` of a 2-D (or n-D) array, read on demand into new arrays.

    ``read(sel)``: rows ``sel`` (a slice or integer positions into ``rows``) as a new array of
    ``x``'s dtype; ``chunks(n)``: ``(a, b, x[rows][a:b])`` over all rows, ``n`` at a time.
    Only the rows asked for are ever in memory.
    """

    def __init__(self, x, rows: np.ndarray | None = None):
        self.x = x
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.shape = (len(x) if rows is None else len(self.rows),) + tuple(x.shape[1:])
        self.dtype = np.dtype(x.dtype)
        self._backing = file_backing(x)
        self._row_bytes = int(np.prod(x.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, sel: slice | np.ndarray) -> np.ndarray:
        """Rows ``sel`` of ``x[rows]`` as a new C-contiguous array."""
        if isinstance(sel, slice):
            a, b, step = sel.indices(len(self))
            src = (slice(a, b, step) if self.rows is None else self.rows[a:b:step])
        else:
            sel = np.asarray(sel, dtype=np.int64)
            src = sel if self.rows is None else self.rows[sel]
        if self._backing is None:
            return np.ascontiguousarray(self.x[src])
        if isinstance(src, slice):
            src = np.arange(src.start, src.stop, src.step, dtype=np.int64)
        return self._pread(src)

    def _pread(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows),) + self.shape[1:], dtype=self.dtype)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= len(self.x):
            raise IndexError(f"row index out of range for {len(self.x)} rows")
        path, base = self._backing
        order, starts, ends = runs(rows)
        scattered = np.r_[0, np.cumsum(np.diff(order) != 1)]  # a run lands in place when 0 inside it
        in_place = scattered[ends - 1] == scattered[starts]
        first = rows[order[starts]]
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            for a, b, r, ok in zip(starts.tolist(), ends.tolist(), first.tolist(), in_place.tolist()):
                p = int(order[a])
                dest = out[p:p + b - a] if ok else np.empty((b - a,) + self.shape[1:], self.dtype)
                if not pread_into(fd, dest, base + r * self._row_bytes):
                    raise OSError(f"{path}: short read at row {r} (file truncated?)")
                if not ok:
                    out[order[a:b]] = dest
        finally:
            os.close(fd)
        return out

    def chunks(self, n: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(a, b, rows a..b-1)`` over all rows, ``n`` rows at a time."""
        for a in range(0, len(self), int(n)):
            b = min(a + int(n), len(self))
            yield a, b, self.read(slice(a, b))
