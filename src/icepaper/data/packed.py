"""The packed on-disk dataset format every notebook reads.

A packed dataset is a folder::

    manifest.json          format version, image size, count, shards, pixel size, provenance
    meta.parquet           one row per image, in image order
    images-00000.u8 ...    raw uint8 shards of shape (count, size, size), memory-mapped

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
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icepaper.core.atomic import atomic_dir

FORMAT = "icepaper-packed"
FORMAT_VERSION = 1
SHARD_SIZE = 8192
REQUIRED_COLUMNS = ("image_id", "split", "source_file")
LABEL_SCHEMES = ("habit19", "habit4", "cpi", "oap")
METADATA_COLUMNS = ("campaign", "instrument", "temperature_c", "supersaturation", "dmax_um", "pixel_um")


class PackedDataset:
    """Read-only view of a packed dataset: ``len(ds)``, ``ds[i]``, ``ds.batch(idx)``, ``ds.meta``.

    It pickles without its memory maps and metadata table (a few hundred bytes whatever the
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
        self._maps: list[np.memmap] | None = None
        self._starts = np.cumsum([0] + [s["count"] for s in self.manifest["shards"]])
        n = int(self._starts[-1])
        if n != len(self.meta) or n != self.manifest["n_images"]:
            raise ValueError(f"{self.root}: {n} images in shards but {len(self.meta)} metadata rows")
        _ = self._shards  # a missing or short shard file fails here, not in a loader worker

    @property
    def meta(self) -> pd.DataFrame:
        """One metadata row per image, in image order (read on first use in this process)."""
        if self._meta is None:
            self._meta = pd.read_parquet(self.root / "meta.parquet")
        return self._meta

    @property
    def _shards(self) -> list[np.memmap]:
        """The (count, size, size) uint8 memory maps of the shards (opened on first use)."""
        if self._maps is None:
            self._maps = [
                np.memmap(self.root / s["file"], dtype=np.uint8, mode="r",
                          shape=(s["count"], self.size, self.size))
                for s in self.manifest["shards"]
            ]
        return self._maps

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_maps"] = None  # memory maps (and metadata) are re-opened lazily in each worker
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
        """Image ``i`` as a (size, size) uint8 array (a view into the page cache)."""
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        s = int(np.searchsorted(self._starts, i, side="right") - 1)
        return self._shards[s][i - self._starts[s]]

    def batch(self, idx: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images at ``idx`` stacked into a new (len(idx), size, size) uint8 array."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx), self.size, self.size), dtype=np.uint8)
        shard = np.searchsorted(self._starts, idx, side="right") - 1
        for s in np.unique(shard):
            m = shard == s
            out[m] = self._shards[s][idx[m] - self._starts[s]]
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
