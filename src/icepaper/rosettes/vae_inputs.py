"""The VAE training images of notebook 08, prepared once and kept on disk.

``prepared_images(ds, rows, size)`` is ``vae.prepare_images(ds.batch(rows), size)`` computed
batch by batch into a cached float32 ``.npy`` (``icepaper.core.cache``, kind ``vae-inputs``) and
returned as a read-only memory map: the paper profile's 50,000 images at 128 px (3.3 GB as
float32, from 2.5 GB of 224 px originals) never sit in memory at once. ``vae.train_vae`` and
``vae.encode`` read such a map one batch at a time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .vae import prepare_images

VERSION = 1


def prepared_images(ds, rows, size: int, crop: bool = True, mask: bool = True,
                    batch_size: int = 1024) -> np.ndarray:
    """(len(rows), size, size) float32 in [0, 1]: :func:`~icepaper.rosettes.vae.prepare_images` of
    ``ds`` rows, cached by (dataset, rows, size, crop, mask); a read-only memory map."""
    from icepaper.core.cache import cached_dir

    rows = np.asarray(rows, dtype=np.int64)
    n, size = len(rows), int(size)
    key = {"kind": "vae-inputs", "version": VERSION, "dataset": ds.fingerprint, "n": n,
           "rows": hashlib.sha256(rows.tobytes()).hexdigest()[:16], "size": size,
           "crop": bool(crop), "mask": bool(mask)}

    def build(tmp: Path) -> None:
        path = tmp / "images.npy"
        np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, size, size)).flush()
        offset = os.path.getsize(path) - n * size * size * 4  # after the .npy header
        with open(path, "r+b") as f:  # positioned writes: no page of the file stays mapped
            for a in range(0, n, batch_size):
                x = prepare_images(ds.batch(rows[a:a + batch_size]), size, crop=crop, mask=mask)
                f.seek(offset + a * size * size * 4)
                f.write(np.ascontiguousarray(x, dtype=np.float32).tobytes())

    root = cached_dir("vae-inputs", key, build)
    return np.load(root / "images.npy", mmap_mode="r")
