"""The packed on-disk dataset format every notebook reads.

A packed dataset is a folder::

    manifest.json          format version, image size, count, shards, pixel size, provenance
    meta.parquet           one row per image, in image order
    images-00000.u8 ...    raw uint8 shards of shape (count, size, size), row after row

Images are square, single-channel uint8, dark particle on a bright background
(the CPI convention); crops of other shapes are letterboxed by the importers and the
physical pixel size of the stored image is kept per row in ``pixel_um``.

Required metadata columns: ``image_id`` (unique str), ``split`` (train/val/test or
"unassigned"), ``source_file``. Optional columns used by the notebooks: ``habit19``,
``habit4``, ``cpi``, ``oap`` (labels per scheme, missing = not in that scheme; ``oap`` =
the optical-array-probe habit classes of ``icepaper.synth.oap``), ``campaign``,
``instrument``, ``temperature_c`` (deg C), ``supersaturation`` (fraction over ice),
``dmax_um`` (maximum dimension, um), ``pixel_um`` (um per stored pixel), ``source_px``
(longer side of an imported image file, px).

A dataset is written under a temporary name and renamed at the end (``PackedWriter``),
so nothing half-written ever looks complete.

Reading copies the requested rows out of the shard files with positioned reads (``os.preadv``)
instead of memory-mapping them: a pass over a set larger than RAM then keeps the process's
resident memory (RSS) at one batch, where pages of a memory map would count against it (and
against a job scheduler's memory limit) until the kernel reclaims them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icepaper.core.atomic import atomic_dir
from icepaper.core.rowfile import pread_into

FORMAT = "icepaper-packed"
FORMAT_VERSION = 1
SHARD_SIZE = 8192
REQUIRED_COLUMNS = ("image_id", "split", "source_file")
LABEL_SCHEMES = ("habit19", "habit4", "cpi", "oap")
METADATA_COLUMNS = ("campaign", "instrument", "temperature_c", "supersaturation", "dmax_um", "pixel_um")


class PackedDataset:
    """Read-only view of a packed dataset: ``len(ds)``, ``ds[i]``, ``ds.batch(idx)``, ``ds.meta``.

    Images are read from the shard files on demand (nothing is held in memory between calls).
    It pickles without its open files and metadata table (a few hundred bytes whatever the
    size of the set), so ``DataLoader`` workers started by spawn or forkserver re-open the
    shards lazily in their own process instead of receiving a copy of every image.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        mf = self.root / "manifest.json"
        if not mf.exists():
            raise FileNotFoundError(f"{self.root} is not a packed icepaper dataset (no manifest.json)")
        self.manifest: dict[str, Any] = json.loads(mf.read_text())
        if self.manifest.get("format") != FORMAT:
            raise ValueError(f"{mf}: not an {FORMAT} manifest")
        self.size: int = int(self.manifest["image_size"])
        self._meta: pd.DataFrame | None = None
        self._fds: list[int] | None = None
        self._pid = os.getpid()
        self._starts = np.cumsum([0] + [s["count"] for s in self.manifest["shards"]])
        n = int(self._starts[-1])
        if n != len(self.meta) or n != self.manifest["n_images"]:
            raise ValueError(f"{self.root}: {n} images in shards but {len(self.meta)} metadata rows")
        self._check_shards()  # a missing or short shard file fails here, not in a loader worker

    @property
    def meta(self) -> pd.DataFrame:
        """One metadata row per image, in image order (read on first use in this process)."""
        if self._meta is None:
            self._meta = pd.read_parquet(self.root / "meta.parquet")
        return self._meta

    def _check_shards(self) -> None:
        px = self.size * self.size
        for s in self.manifest["shards"]:
            f = self.root / s["file"]
            if not f.exists():
                raise FileNotFoundError(f"{self.root}: shard {s['file']} is missing")
            if f.stat().st_size < s["count"] * px:
                raise ValueError(f"{f}: {f.stat().st_size} bytes, expected {s['count'] * px} "
                                 f"({s['count']} images of {self.size} x {self.size} px)")

    @property
    def _files(self) -> list[int]:
        """Read-only descriptors of the shard files (opened on first use in this process)."""
        if self._fds is None or self._pid != _PID[0]:  # a forked child opens its own
            self._fds = [os.open(self.root / s["file"], os.O_RDONLY | getattr(os, "O_BINARY", 0))
                         for s in self.manifest["shards"]]
            self._pid = _PID[0]
        return self._fds

    def close(self) -> None:
        """Close the shard files (they reopen on the next read)."""
        if self._fds is not None and self._pid == _PID[0]:
            for fd in self._fds:
                os.close(fd)
        self._fds = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _read(self, shard: int, row: int, out: np.ndarray) -> None:
        """Fill ``out`` (C-contiguous uint8, whole images) from ``shard`` starting at image ``row``."""
        fd = (self._fds if self._fds is not None and self._pid == _PID[0] else self._files)[shard]
        if not pread_into(fd, out, row * self.size * self.size):
            raise OSError(f"{self.root / self.manifest['shards'][shard]['file']}: short read "
                          f"(file truncated?)")

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fds"] = None  # files (and metadata) are re-opened lazily in each worker
        state["_meta"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @classmethod
    def open(cls, root: str | Path) -> PackedDataset:
        return cls(root)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, i: int) -> np.ndarray:
        """Image ``i`` as a new (size, size) uint8 array."""
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        s = int(np.searchsorted(self._starts, i, side="right") - 1)
        out = np.empty((self.size, self.size), dtype=np.uint8)
        self._read(s, i - int(self._starts[s]), out)
        return out

    def batch(self, idx: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images at ``idx`` stacked into a new (len(idx), size, size) uint8 array.

        Consecutive rows are read with one call, so a sorted range costs one read per shard.
        """
        idx = np.asarray(idx, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"expected a 1-D index array, got shape {idx.shape}")
        n = len(self)
        idx = np.where(idx < 0, idx + n, idx)
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"index out of range for {self!r}")
        out = np.empty((len(idx), self.size, self.size), dtype=np.uint8)
        if not len(idx):
            return out
        shard = np.searchsorted(self._starts, idx, side="right") - 1
        order = np.lexsort((idx, shard))  # by shard, then by row: runs of consecutive rows
        rows, sh = idx[order], shard[order]
        breaks = np.flatnonzero((np.diff(rows) != 1) | (np.diff(sh) != 0)) + 1
        starts, ends = np.r_[0, breaks], np.r_[breaks, len(rows)]
        scattered = np.r_[0, np.cumsum(np.diff(order) != 1)]  # a run lands in place when 0 inside it
        in_place = scattered[ends - 1] == scattered[starts]
        first = rows[starts] - self._starts[sh[starts]]
        for a, b, s, r, ok in zip(starts.tolist(), ends.tolist(), sh[starts].tolist(), first.tolist(),
                                  in_place.tolist()):
            if ok:
                p = int(order[a])
                self._read(s, r, out[p:p + b - a])
            else:
                buf = np.empty((b - a, self.size, self.size), dtype=np.uint8)
                self._read(s, r, buf)
                out[order[a:b]] = buf
        return out

    def indices(self, split: str | None = None) -> np.ndarray:
        """Row indices of one split (all rows when ``split`` is None)."""
        if split is None:
            return np.arange(len(self))
        return np.flatnonzero(self.meta["split"].to_numpy() == split)

    def labels(self, scheme: str) -> pd.Series:
        """Label column of ``scheme`` (missing where a particle is outside that scheme)."""
        if scheme not in self.meta.columns:
            raise KeyError(
                f"{self.root}: no labels for scheme {scheme!r}; "
                f"available: {[c for c in LABEL_SCHEMES if c in self.meta.columns]}"
            )
        return self.meta[scheme]

    def has_labels(self, scheme: str) -> bool:
        return scheme in self.meta.columns and self.meta[scheme].notna().any()

    @property
    def fingerprint(self) -> str:
        """Stable 16-hex-digit identity of this dataset's content (hash of its manifest)."""
        import hashlib

        blob = json.dumps(self.manifest, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        return self.manifest.get("name", self.root.name)

    def __repr__(self) -> str:
        return f"PackedDataset({self.name!r}, n={len(self)}, size={self.size})"


class PackedWriter:
    """Write a packed dataset into a temporary folder and rename it into place on success.

    Use as a context manager; call ``add(images, rows)`` with chunks of (n, size, size)
    uint8 images and a list/DataFrame of n metadata rows. If the block raises, nothing is
    left at ``root`` (an existing dataset there stays untouched). An existing packed dataset
    at ``root`` is replaced when the new one is complete; any other non-empty folder there
    is refused (FileExistsError) before anything is written.
    """

    def __init__(self, root: str | Path, image_size: int, name: str = "", provenance: dict | None = None):
        self.root = Path(root)
        self.size = int(image_size)
        self.name = name or self.root.name
        self.provenance = provenance or {}
        self._ctx = None
        self._tmp: Path | None = None
        self._rows: list[pd.DataFrame] = []
        self._shards: list[dict[str, Any]] = []
        self._buf: list[np.ndarray] = []
        self._buffered = 0
        self._n = 0

    def __enter__(self) -> PackedWriter:
        self._ctx = atomic_dir(self.root, replace=is_packed)
        self._tmp = self._ctx.__enter__()
        return self

    def add(self, images: np.ndarray, rows: pd.DataFrame | list[dict]) -> None:
        images = np.asarray(images)
        if images.ndim != 3 or images.shape[1:] != (self.size, self.size) or images.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 images of shape (n, {self.size}, {self.size}), got {images.dtype} {images.shape}"
            )
        rows = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        if len(rows) != len(images):
            raise ValueError(f"{len(images)} images but {len(rows)} metadata rows")
        self._rows.append(rows.reset_index(drop=True))
        self._buf.append(images)
        self._buffered += len(images)
        self._n += len(images)
        while self._buffered >= SHARD_SIZE:
            self._flush(SHARD_SIZE)

    def _flush(self, count: int) -> None:
        allb = np.concatenate(self._buf) if len(self._buf) > 1 else self._buf[0]
        part, rest = allb[:count], allb[count:]
        fname = f"images-{len(self._shards):05d}.u8"
        part.tofile(self._tmp / fname)
        self._shards.append({"file": fname, "count": int(len(part))})
        self._buf = [rest] if len(rest) else []
        self._buffered = len(rest)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                if self._buffered:
                    self._flush(self._buffered)
                meta = pd.concat(self._rows, ignore_index=True) if self._rows else pd.DataFrame(
                    columns=list(REQUIRED_COLUMNS))
                validate_meta(meta, where=str(self.root))
                meta.to_parquet(self._tmp / "meta.parquet", index=False)
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "name": self.name,
                    "image_size": self.size,
                    "n_images": int(self._n),
                    "shards": self._shards,
                    "provenance": self.provenance,
                }
                (self._tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        except BaseException as e:
            self._ctx.__exit__(type(e), e, e.__traceback__)
            raise
        return bool(self._ctx.__exit__(exc_type, exc, tb))


def validate_meta(meta: pd.DataFrame, where: str = "") -> None:
    """Check required columns and unique image ids; raise ValueError naming the problem."""
    missing = [c for c in REQUIRED_COLUMNS if c not in meta.columns]
    if missing:
        raise ValueError(f"{where}: metadata lacks required column(s) {missing}")
    dup = meta["image_id"][meta["image_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{where}: duplicate image_id(s): {list(dup.iloc[:5])}")


def is_packed(path: str | Path) -> bool:
    """True when ``path`` is a packed dataset folder."""
    return (Path(path) / "manifest.json").exists() and (Path(path) / "meta.parquet").exists()


def _after_fork() -> None:
    _PID[0] = os.getpid()


_PID = [os.getpid()]  # this process's id, kept current across fork (cheaper than os.getpid per read)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
