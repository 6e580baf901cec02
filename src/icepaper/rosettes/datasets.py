"""Synthetic bullet-rosette datasets: 3-D ground truth plus multi-view silhouettes (Ko 2024).

``generate_rosettes(n, image_size, seed)`` draws ``n`` rosettes (``rosettes.sample_rosette``),
computes their exact properties (``rosettes.rosette_properties``) and renders, per rosette,
one random orientation and its second views (default 0, 90 and 120 deg;
``projection.render_views``) at one fixed um per pixel for the whole set (the finest at which
the set's largest rosette fits), so the image size carries the particle size. Rosette ``i`` uses the generator ``default_rng([seed, i])``, so any
subset is reproducible on its own. Splits: 70 / 15 / 15 % train / val / test by a seeded
permutation. ``rosette_dataset`` caches the result (``icepaper.core.cache``) and builds it with
one worker process per core (the result does not depend on the number of workers).

``spheres_and_rosettes`` renders the talk's two-class VAE set: rosette silhouettes and
discs (spheres) whose radii are the rosettes' bounding-sphere radii, so size alone does not
tell the classes apart.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .meshes import (
    N_ARMS_RANGE,
    Rosette,
    bounding_sphere,
    outer_radius,
    random_rotation,
    rosette_properties,
    sample_rosette,
)
from .projection import fit_pixel_um, render_silhouette, render_views

DATA_VERSION = 2  # bump when the geometry, sampling or rendering changes
_CHUNK = 100  # rosettes per parallel task
_PARALLEL_FROM = 1000  # below this, worker start-up (imports) costs more than it saves


def _make_chunk(idx: range, seed: int, image_size: int, px: float, angles_deg, n_range):
    """Images and metadata rows of rosettes ``idx`` (each from ``default_rng([seed, i])``)."""
    images = np.empty((len(idx), len(angles_deg), image_size, image_size), np.uint8)
    rows = []
    for j, i in enumerate(idx):
        rng = np.random.default_rng([seed, i])
        ros = sample_rosette(rng, n_range=n_range)
        props = rosette_properties(ros)
        images[j] = render_views(ros, random_rotation(rng), image_size, px, angles_deg)
        rows.append({"rosette_id": f"ros{i:06d}", **props, "pixel_um": px})
    return images, rows


def generate_rosettes(n: int, image_size: int, seed: int, angles_deg=(0.0, 90.0, 120.0),
                      n_range: tuple[int, int] = N_ARMS_RANGE, pixel_um: float | None = None,
                      progress: bool = False, workers: int = 1) -> tuple[np.ndarray, pd.DataFrame]:
    """Images (n, n_views, S, S) uint8 and one metadata row per rosette (um, ug).

    ``pixel_um`` defaults to the finest scale at which every rosette of the set fits.
    ``workers`` > 1 builds chunks of rosettes in parallel processes (same result).
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    if pixel_um is None:  # the scale at which the set's largest rosette just fits
        radii = [outer_radius(sample_rosette(np.random.default_rng([seed, i]), n_range=n_range))
                 for i in range(n)]
        pixel_um = fit_pixel_um(max(radii), image_size)
    px = float(pixel_um)
    chunks = [range(b, min(b + _CHUNK, n)) for b in range(0, n, _CHUNK)]
    args = (seed, image_size, px, tuple(angles_deg), tuple(n_range))
    if workers > 1 and len(chunks) > 1:
        from joblib import Parallel, delayed

        jobs = (delayed(_make_chunk)(c, *args) for c in chunks)
        parts = Parallel(n_jobs=workers, return_as="generator")(jobs)
    else:
        parts = (_make_chunk(c, *args) for c in chunks)
    if progress:
        from icepaper.core.progress import tqdm

        parts = tqdm(parts, total=len(chunks), desc=f"rosettes ({_CHUNK} per step)", leave=False)
    images = np.empty((n, len(angles_deg), image_size, image_size), np.uint8)
    rows = []
    for c, (ims, rs) in zip(chunks, parts):
        images[c.start:c.stop] = ims
        rows += rs
    meta = pd.DataFrame(rows)
    order = np.random.default_rng([seed, 10**9]).permutation(n)
    split = np.empty(n, object)
    n_tr, n_va = int(round(0.7 * n)), int(round(0.15 * n))
    split[order[:n_tr]] = "train"
    split[order[n_tr:n_tr + n_va]] = "val"
    split[order[n_tr + n_va:]] = "test"
    meta["split"] = split
    return images, meta


def _workers(n: int) -> int:
    """Processes for ``n`` rosettes: one per core (at most 8), one when starting them costs more."""
    return 1 if n < _PARALLEL_FROM else max(1, min(os.cpu_count() or 1, 8))


def rosette_dataset(n: int, image_size: int, seed: int, angles_deg=(0.0, 90.0, 120.0),
                    n_range: tuple[int, int] = N_ARMS_RANGE) -> tuple[np.ndarray, pd.DataFrame]:
    """``generate_rosettes`` built once per configuration and cached on disk; the images come
    back as a read-only memory map of the cached ``images.npy`` (70,000 rosettes x 3 views at
    128 px are 3.4 GB: they are read when used, not loaded)."""
    from icepaper.core.cache import cached_dir

    key = {"kind": "rosettes", "n": int(n), "size": int(image_size), "seed": int(seed),
           "angles": [float(a) for a in angles_deg], "n_range": list(n_range),
           "version": DATA_VERSION}

    def build(tmp: Path) -> None:
        images, meta = generate_rosettes(n, image_size, seed, angles_deg, n_range, progress=True,
                                         workers=_workers(n))
        np.save(tmp / "images.npy", images)
        meta.to_parquet(tmp / "meta.parquet")

    root = cached_dir("rosettes", key, build)
    return np.load(root / "images.npy", mmap_mode="r"), pd.read_parquet(root / "meta.parquet")


def rosette_at(seed: int, i: int, n_range: tuple[int, int] = N_ARMS_RANGE) -> Rosette:
    """Rosette ``i`` of the set generated with ``seed`` (same draw as ``generate_rosettes``)."""
    return sample_rosette(np.random.default_rng([seed, i]), n_range=n_range)


def spheres_and_rosettes(n_per_class: int, image_size: int, seed: int,
                         supersample: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The talk's two-class set: (2n, S, S) uint8 silhouettes and labels 'sphere'/'rosette'.

    Rosettes are sampled as in ``generate_rosettes`` and seen from a random orientation; the
    k-th sphere is a disc of the k-th rosette's bounding-sphere radius. One um per pixel for
    the whole set, chosen so the largest rosette just fits the frame (size is kept, shape differs).
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be positive, got {n_per_class}")
    ros, rots, radii = [], [], []
    for i in range(n_per_class):
        rng = np.random.default_rng([seed, i, 7])
        r = sample_rosette(rng)
        ros.append(r)
        rots.append(random_rotation(rng))
        radii.append(bounding_sphere(r)[1])
    px = fit_pixel_um(max(outer_radius(r) for r in ros), image_size)
    no_arms = np.zeros((0, 3))
    spheres = [Rosette(r0=rad, h0=0.0, hp=0.0, directions=no_arms, a=[], c=[]) for rad in radii]
    images = [render_silhouette(r, R, image_size, px, supersample) for r, R in zip(ros, rots)]
    images += [render_silhouette(s, np.eye(3), image_size, px, supersample) for s in spheres]
    labels = np.array(["rosette"] * n_per_class + ["sphere"] * n_per_class)
    return np.stack(images), labels
