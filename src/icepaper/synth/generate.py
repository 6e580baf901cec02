"""Generate synthetic particle images in memory or as a packed dataset.

Pipeline per particle: physics (:mod:`.physics`: campaign environment, size, habit,
aging, aggregation, imaging artefacts) -> 3-D geometry (:mod:`.geometry`) -> random
orientation -> imaging model (:mod:`.render`) -> labels of all schemes (:mod:`.labels`).

* :func:`generate_particles` returns ``(images, meta)`` in memory; use it to make extra
  samples (a campaign alone, one habit forced, another instrument's look).
* :func:`generate_dataset` writes the default dataset (campaign mixture, both cores,
  deterministic stratified splits) in the packed format.
* :func:`generate_oap_particles`, :func:`generate_oap_dataset` and :func:`write_oap_folder`
  image the same physics with optical array probes (2D-S, PIP; :mod:`.oap`): native
  white-on-black binary images, a packed dataset, or a probe-export image folder (defined
  in :mod:`.oap_dataset`, re-exported here).

The physics table comes from :mod:`.constructions`, the worker processes from :mod:`.workers`.

Determinism: the physics table is drawn from ``seed`` alone; images are rendered in
fixed chunks of :data:`CHUNK` particles, each with its own seed derived from
``(seed, chunk index)``, so the result is identical for any number of workers.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from . import GENERATOR_VERSION
from .constructions import _campaign_list, _ids, sample_constructions
from .habits import construct
from .instruments import NoiseBank, instrument
from .oap_dataset import (
    OAP_CAMPAIGNS,
    OAP_META_COLUMNS,
    OAP_PROBES,
    generate_oap_dataset,
    generate_oap_particles,
    write_oap_folder,
)
from .render import render
from .rotations import random_rotation
from .workers import CHUNK, _per_worker, _worker_init

__all__ = [
    "CHUNK", "META_COLUMNS", "OAP_CAMPAIGNS", "OAP_META_COLUMNS", "OAP_PROBES", "generate_dataset",
    "generate_oap_dataset", "generate_oap_particles", "generate_particles", "generate_rois", "render_table",
    "sample_constructions", "write_oap_folder",
]

#: Metadata columns in output order (labels and environment first, then ground truth).
META_COLUMNS = (
    "image_id", "split", "source_file", "habit19", "habit4", "cpi", "campaign", "instrument",
    "temperature_c", "supersaturation", "dmax_um", "pixel_um",
    "habit", "aged", "rime_degree", "aggregate", "n_components", "components", "artefact",
    "blurry", "liquid", "size_um", "defocus_px", "cutoff_frac", "tilt_deg", "roi_um", "render_px",
)

_STREAM_RENDER = 2


def render_table(
    table: pd.DataFrame,
    image_size: int,
    seed: int,
    chunk_index: int,
    instrument_name: str | None = None,
    native: bool = False,
) -> tuple[np.ndarray | list[np.ndarray], pd.DataFrame]:
    """Images of the particles in ``table`` (one chunk) and their measured metadata."""
    import cv2

    cv2.setNumThreads(1)
    rng = np.random.default_rng([int(seed), _STREAM_RENDER, int(chunk_index)])
    bank = NoiseBank(rng, size=max(256, 2 * image_size))
    n = len(table)
    imgs = [] if native else np.empty((n, image_size, image_size), np.uint8)
    rec = {k: np.zeros(n) for k in ("dmax_um", "pixel_um", "cutoff_frac", "tilt_deg", "roi_um", "render_px")}
    insts = []
    cols = [table[c].to_numpy() for c in ("habit", "size_um", "aged", "rime_degree", "components",
                                          "artefact", "defocus", "instrument")]
    for i, (habit, size, aged, rime, comps, art, defocus, inst_name) in enumerate(zip(*cols)):
        inst = instrument(instrument_name or inst_name)
        insts.append(inst.name)
        if art == "blank":
            g, tilt = None, np.nan
        else:
            g = construct("fragment" if art == "fragment" else habit, float(size), rng, bool(aged),
                          float(rime), comps)
            R = random_rotation(rng)
            g.transform(R)
            tilt = float(np.degrees(np.arccos(min(1.0, abs(R[2, 2])))))
        img, info = render(g, inst, image_size, rng, bank, defocus_px=float(defocus), native=native)
        if native:
            imgs.append(img)
        else:
            imgs[i] = img
        for k in ("dmax_um", "pixel_um", "cutoff_frac", "roi_um", "render_px"):
            rec[k][i] = info[k]
        rec["tilt_deg"][i] = tilt
    meta = pd.DataFrame(rec, index=table.index)
    meta["instrument"] = insts
    return imgs, meta


def _assemble_meta(table: pd.DataFrame, measured: pd.DataFrame, ids: Sequence[str]) -> pd.DataFrame:
    m = table.copy()
    m["instrument"] = measured["instrument"].to_numpy()
    for k in ("dmax_um", "pixel_um", "cutoff_frac", "tilt_deg", "roi_um"):
        m[k] = measured[k].to_numpy()
    m["render_px"] = measured["render_px"].to_numpy().astype(np.int32)
    m["defocus_px"] = m.pop("defocus")
    m["image_id"] = list(ids)
    m["split"] = "unassigned"
    m["source_file"] = "synthetic"
    m["n_components"] = m["n_components"].astype(np.int16)
    for c in ("aged", "aggregate", "blurry", "liquid"):
        m[c] = m[c].astype(bool)
    for c in ("campaign", "instrument", "habit", "components", "artefact", "image_id", "split", "source_file"):
        m[c] = m[c].astype(str)
    return m[list(META_COLUMNS)]


def _render_chunk(args) -> tuple[np.ndarray, pd.DataFrame]:
    table, image_size, seed, chunk_index, inst = args
    return render_table(table, image_size, seed, chunk_index, inst)


def _chunks(table: pd.DataFrame, image_size: int, seed: int, inst: str | None):
    for c, start in enumerate(range(0, len(table), CHUNK)):
        yield table.iloc[start : start + CHUNK], image_size, seed, c, inst


def _iter_rendered(table, image_size, seed, inst, workers):
    jobs = _chunks(table, image_size, seed, inst)
    if workers <= 1 or len(table) <= CHUNK:
        for job in jobs:
            yield _render_chunk(job)
        return
    # fork (Linux) needs no importable __main__ (works from scripts and notebooks); the
    # workers only use numpy and OpenCV with one thread, never torch
    ctx = get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(os.getpid(),)) as ex:
        yield from ex.map(_render_chunk, jobs, chunksize=1)


def generate_particles(
    n: int,
    image_size: int = 128,
    seed: int = 0,
    campaign: str | Sequence[str] | None = None,
    force_habit: str | None = None,
    instrument: str | None = None,
    artefact_rate: float | None = None,
    workers: int = 1,
    id_prefix: str | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """``n`` synthetic particle images, deterministic for a seed.

    Parameters
    ----------
    n, image_size : number of particles and stored side S (px).
    seed : all randomness derives from it.
    campaign : a campaign name, a list of names (mixed by campaign weight) or None for
        the default six-campaign mixture (see :func:`icepaper.synth.physics.campaign_table`).
    force_habit : keep only particles of this base habit or label (any scheme), e.g.
        ``"bullet_rosette"``, ``"Column_aged_aggregate"``, ``"rimed"``; drawn by rejection
        from the campaign physics (ValueError if the campaign never grows it).
    instrument : ``"CPI"`` or ``"HOLIMO"`` to image every particle with that instrument's
        look (default: each campaign's own instrument).
    artefact_rate : share of blank frames and fragments (default: per campaign; 0 for
        the HOLIMO campaigns, 0.12 for the CPI campaigns).

    Returns
    -------
    images : (n, S, S) uint8, dark particle on bright background.
    meta : DataFrame, one row per image (columns :data:`META_COLUMNS`; ``split`` is
        "unassigned").
    """
    table = sample_constructions(n, seed, campaign, force_habit, artefact_rate)
    images = np.empty((n, image_size, image_size), np.uint8)
    metas = []
    pos = 0
    for imgs, meas in _iter_rendered(table, image_size, seed, instrument, workers):
        images[pos : pos + len(imgs)] = imgs
        pos += len(imgs)
        metas.append(meas)
    measured = pd.concat(metas)
    prefix = id_prefix or f"syn{seed}" + (f"-{force_habit}" if force_habit else "")
    return images, _assemble_meta(table, measured, _ids(prefix.replace(" ", "_"), n))


def generate_rois(
    n: int,
    seed: int = 0,
    campaign: str | Sequence[str] | None = None,
    force_habit: str | None = None,
    instrument: str | None = None,
    artefact_rate: float | None = None,
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Native-resolution rectangular ROIs (uint8, 2.3 um/px for the CPI), as the probe stores
    them before any resizing; for composing synthetic CPI sheets. ``pixel_um`` is native.

    >>> rois, meta = generate_rois(3, seed=0)
    >>> len(rois), str(rois[0].dtype), list(meta.columns) == list(META_COLUMNS)
    (3, 'uint8', True)
    """
    table = sample_constructions(n, seed, campaign, force_habit, artefact_rate)
    imgs, meas = render_table(table, 64, seed, 0, instrument, native=True)
    return imgs, _assemble_meta(table, meas, _ids(f"roi{seed}", n))


def _stratum(meta: pd.DataFrame) -> pd.Series:
    lab = meta["habit19"].where(meta["instrument"] == "HOLIMO", meta["cpi"]).fillna(meta["cpi"])
    return meta["campaign"].astype(str) + "|" + lab.astype(str)


def _assign_splits(meta: pd.DataFrame, seed: int) -> pd.Series:
    """Stratified by campaign x label (habit19 for HOLIMO campaigns, cpi otherwise)."""
    from icepaper.data.splits import assign_splits

    tmp = pd.DataFrame({"image_id": meta["image_id"], "stratum": _stratum(meta)})
    return assign_splits(tmp, stratify="stratum", seed=seed)


def generate_dataset(
    root: str | Path,
    n_images: int,
    image_size: int,
    seed: int = 0,
    workers: int = 2,
    campaigns: str | Sequence[str] | None = None,
    artefact_rate: float | None = None,
    progress: bool = True,
):
    """Write the synthetic dataset to ``root`` (packed format, atomic) and return it.

    Campaigns are mixed in proportion to their weights (exact counts); images are rendered
    in chunks on ``workers`` processes (identical output for any worker count); splits are
    stratified by campaign x label (train/val/test 0.7/0.15/0.15) and deterministic. The
    manifest's provenance records generator version, seed, n, size, campaigns and the
    generation speed (images per second, wall clock and per worker).
    """
    from icepaper.data.packed import PackedDataset, PackedWriter

    camps = _campaign_list(campaigns)
    t0 = time.perf_counter()
    table = sample_constructions(n_images, seed, [c.name for c in camps], None, artefact_rate)
    ids = _ids(f"syn{seed}", n_images)
    pbar = None
    if progress:
        from icepaper.core.progress import tqdm

        pbar = tqdm(total=n_images, desc="generating particles", unit="img")
    # splits depend only on labels, campaign and instrument, all known before rendering,
    # so images stream chunk by chunk into the writer (memory stays one chunk at paper scale)
    pre = table[["habit19", "cpi", "campaign", "instrument"]].assign(image_id=ids)
    splits = _assign_splits(pre, seed).to_numpy()
    provenance = {
        "generator": "icepaper.synth",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "n_images": int(n_images),
        "image_size": int(image_size),
        "campaigns": {c.name: {"instrument": c.instrument, "t_range_c": list(c.t_range), "weight": c.weight}
                      for c in camps},
        "artefact_rate": artefact_rate,
        "workers": int(workers),
    }
    with PackedWriter(root, image_size=image_size, name=Path(root).name, provenance=provenance) as w:
        pos = 0
        for imgs, meas in _iter_rendered(table, image_size, seed, None, workers):
            n = len(imgs)
            meta = _assemble_meta(table.iloc[pos : pos + n], meas, ids[pos : pos + n])
            meta["split"] = splits[pos : pos + n]
            w.add(imgs, meta)
            pos += n
            if pbar is not None:
                pbar.update(n)
        elapsed = time.perf_counter() - t0
        w.provenance.update({
            "generation_seconds": round(elapsed, 3),
            "images_per_second": round(n_images / elapsed, 1),
            "images_per_second_per_worker": _per_worker(n_images, elapsed, workers),
        })
    if pbar is not None:
        pbar.close()
    return PackedDataset(root)
