"""Optical-array-probe (2D-S, PIP) datasets of the same cloud physics (:mod:`.oap`).

The native images are small binary arrays of varying shape (white particle on black), so a
whole set is held in memory, labelled (the label needs the recorded size), split, and only
then brought to the packed convention, exactly as an imported probe folder is:
:func:`generate_oap_particles` (in memory), :func:`generate_oap_dataset` (packed) and
:func:`write_oap_folder` (a probe-export image folder).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import GENERATOR_VERSION
from .constructions import _campaign_list, _counts, _ids, sample_constructions
from .workers import CHUNK, _ChunkMap, _per_worker

#: Aircraft campaigns whose clouds the probes sample (the CPI campaigns' physics).
OAP_CAMPAIGNS = ("CIRRUS-COLD-like", "ANVIL-CIRRUS-like", "ARCTIC-MIXED-like")
#: Share of each probe's images in a generated OAP set [default].
OAP_PROBES = {"2D-S": 0.6, "PIP": 0.4}
#: Metadata columns of an OAP set (packed: ``pixel_um`` is the stored pixel; native: the diode spacing).
OAP_META_COLUMNS = (
    "image_id", "split", "source_file", "oap", "campaign", "instrument", "temperature_c",
    "supersaturation", "dmax_um", "pixel_um", "truncated", "edge_touching", "n_pixels",
    "habit", "aged", "rime_degree", "aggregate", "n_components", "components", "liquid", "size_um",
    "defocus_px", "stretch", "tilt_deg",
)
_STREAM_OAP = 3


def _oap_chunk(args) -> tuple[list, pd.DataFrame]:
    from .oap import render_oap_table

    table, probe_name, key = args
    return render_oap_table(table, probe_name, key)


def _derived_seed(*key: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1)[0])


def _oap_probe_particles(n: int, probe_name: str, probe_index: int, seed: int, campaigns: list[str],
                         pool: _ChunkMap, max_rounds: int = 60) -> tuple[list[np.ndarray], pd.DataFrame]:
    """``n`` particles one probe records: physics drawn in rounds, the ones too small to be
    recorded dropped (cheaply by size first, then by their image), kept in draw order."""
    from .oap import probe

    pr = probe(probe_name)
    # smallest 3-D size that can give min_dmax_px: occulted pixel centres lie in the
    # silhouette's bounding box (diagonal <= sqrt(2) D, x the largest stretch)
    d_min = (pr.min_dmax_px - 1) * pr.pixel_um / (np.sqrt(2.0) * (1 + pr.stretch))
    imgs: list[np.ndarray] = []
    rows: list[pd.DataFrame] = []
    have, drawn, kept_rate = 0, 0, 1.0
    for r in range(max_rounds):
        if have >= n:
            break
        m = int(np.ceil((n - have) / max(kept_rate, 0.01) * 1.15)) + 16
        table = sample_constructions(m, _derived_seed(seed, _STREAM_OAP, probe_index, r), campaigns, None, 0.0)
        table = table[table["size_um"].to_numpy() >= d_min].reset_index(drop=True)
        jobs = [(table.iloc[s : s + CHUNK], probe_name, [int(seed), _STREAM_OAP, probe_index, r, c])
                for c, s in enumerate(range(0, len(table), CHUNK))]
        for (chunk, _, _), (ims, meas) in zip(jobs, pool.map(_oap_chunk, jobs)):
            ok = np.flatnonzero([im is not None for im in ims])[: n - have]
            imgs += [ims[i] for i in ok]
            rows.append(pd.concat([chunk.iloc[ok], meas.iloc[ok]], axis=1))
            have += len(ok)
        drawn += m
        kept_rate = max(have / drawn, 1e-3)
    if have < n:
        raise ValueError(f"probe {probe_name}: only {have} of {n} particles recorded among {drawn} drawn from "
                         f"campaign(s) {campaigns}; their particles are too small for this probe")
    return imgs, pd.concat(rows, ignore_index=True)


def generate_oap_particles(
    n: int,
    seed: int = 0,
    probes: dict[str, float] | None = None,
    campaigns: str | Sequence[str] | None = None,
    workers: int = 1,
    id_prefix: str | None = None,
) -> tuple[list[np.ndarray], pd.DataFrame]:
    """``n`` native OAP images, deterministic for a seed (any worker count).

    ``probes``: share of each probe (default :data:`OAP_PROBES`: 2D-S 0.6, PIP 0.4), exact
    counts. ``campaigns``: the clouds sampled (default :data:`OAP_CAMPAIGNS`, mixed by weight;
    a probe sees a campaign in proportion to how many of its particles it can record).
    Returns ``(images, meta)``: a list of (slices, diodes) uint8 arrays, 255 particle on 0
    background (as probe software exports them), and one row per image with the columns
    :data:`OAP_META_COLUMNS` (``pixel_um`` = the probe's diode spacing, ``dmax_um`` the
    recorded maximum dimension, ``oap`` the habit class, ``split`` "unassigned").
    """
    from .oap import PROBES, oap_label

    probes = dict(OAP_PROBES if probes is None else probes)
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise ValueError(f"unknown probe(s) {unknown}; valid probes: {', '.join(PROBES)}")
    camps = [c.name for c in _campaign_list(OAP_CAMPAIGNS if campaigns is None else campaigns)]
    counts = _counts(n, list(probes.values()))
    images: list[np.ndarray] = []
    parts = []
    with _ChunkMap(workers) as pool:
        for name, m in zip(probes, counts):
            if m:
                ims, t = _oap_probe_particles(int(m), name, list(PROBES).index(name), seed, camps, pool)
                images += ims
                parts.append(t.assign(instrument=name, pixel_um=PROBES[name].pixel_um))
    meta = pd.concat(parts, ignore_index=True)
    perm = np.random.default_rng([int(seed), _STREAM_OAP, 999]).permutation(n)
    images = [images[i] for i in perm]
    meta = meta.iloc[perm].reset_index(drop=True)
    meta["oap"] = [oap_label(h, bool(a), bool(g), float(r), float(d)) for h, a, g, r, d in
                   zip(meta["habit"], meta["aged"], meta["aggregate"], meta["rime_degree"], meta["dmax_px"])]
    meta["dmax_um"] = meta.pop("dmax_px") * meta["pixel_um"]
    meta["image_id"] = _ids((id_prefix or f"oap{seed}").replace(" ", "_"), n)
    meta["split"] = "unassigned"
    meta["source_file"] = "synthetic-oap"
    meta["n_components"] = meta["n_components"].astype(np.int16)
    meta["n_pixels"] = meta["n_pixels"].astype(np.int32)
    for c in ("aged", "aggregate", "liquid", "truncated", "edge_touching"):
        meta[c] = meta[c].astype(bool)
    for c in ("campaign", "instrument", "habit", "components", "oap", "image_id", "split", "source_file"):
        meta[c] = meta[c].astype(str)
    return images, meta[list(OAP_META_COLUMNS)]


def _oap_splits(meta: pd.DataFrame, seed: int) -> np.ndarray:
    """Stratified by campaign x probe x OAP class (train/val/test 0.7/0.15/0.15)."""
    from icepaper.data.splits import assign_splits

    strat = meta["campaign"] + "|" + meta["instrument"] + "|" + meta["oap"]
    tmp = pd.DataFrame({"image_id": meta["image_id"], "stratum": strat})
    return assign_splits(tmp, stratify="stratum", seed=seed).to_numpy()


def generate_oap_dataset(
    root: str | Path,
    n_images: int,
    image_size: int,
    seed: int = 0,
    workers: int = 2,
    probes: dict[str, float] | None = None,
    campaigns: str | Sequence[str] | None = None,
    progress: bool = True,
):
    """Write a synthetic OAP dataset to ``root`` (packed format, atomic) and return it.

    The white-on-black native images go through the importers' conversion
    (``icepaper.data.images.to_packed`` with ``polarity="auto"``: inverted, letterboxed,
    resized), so the stored images are dark on bright and ``pixel_um`` is the stored pixel
    size (diode spacing x longer native side / ``image_size``). Label column ``oap``; splits
    stratified by campaign x probe x class. The provenance records the probes, campaigns,
    speed (images per second, wall clock and per worker) and how often the automatic
    polarity missed (then the image is inverted as known: white on black).
    """
    from icepaper.data.images import to_packed
    from icepaper.data.packed import PackedDataset, PackedWriter

    from . import OAP_VERSION
    from .oap import PROBES

    t0 = time.perf_counter()
    images, meta = generate_oap_particles(n_images, seed, probes, campaigns, workers)
    t_render = time.perf_counter() - t0
    meta["split"] = _oap_splits(meta, seed)
    used = sorted(meta["instrument"].unique())
    provenance = {
        "generator": "icepaper.synth (OAP)",
        "generator_version": GENERATOR_VERSION,
        "oap_version": OAP_VERSION,
        "seed": int(seed),
        "n_images": int(n_images),
        "image_size": int(image_size),
        "probes": {p: {"pixel_um": PROBES[p].pixel_um, "n_diodes": PROBES[p].n_diodes,
                       "share": float((meta["instrument"] == p).mean())} for p in used},
        "campaigns": sorted(meta["campaign"].unique()),
        "source_polarity": "white particle on black",
        "workers": int(workers),
    }
    pbar = None
    if progress:
        from icepaper.core.progress import tqdm

        pbar = tqdm(total=n_images, desc="packing OAP images", unit="img")
    missed = 0
    with PackedWriter(root, image_size=image_size, name=Path(root).name, provenance=provenance) as w:
        for s in range(0, n_images, 1024):
            block, rows = [], meta.iloc[s : s + 1024].copy()
            factors = np.empty(len(rows))
            for k, im in enumerate(images[s : s + 1024]):
                out, factors[k], inverted = to_packed(im, image_size, "auto")
                if not inverted:  # auto polarity read the particle as background
                    missed += 1
                    out, factors[k], _ = to_packed(im, image_size, "bright")
                block.append(out)
            rows["pixel_um"] = rows["pixel_um"].to_numpy() * factors
            w.add(np.stack(block), rows)
            if pbar is not None:
                pbar.update(len(block))
        elapsed = time.perf_counter() - t0
        w.provenance.update({
            "auto_polarity_missed": int(missed),
            "generation_seconds": round(elapsed, 3),
            "images_per_second": round(n_images / elapsed, 1),
            "render_images_per_second_per_worker": _per_worker(n_images, t_render, workers),
        })
    if pbar is not None:
        pbar.close()
    return PackedDataset(root)


def write_oap_folder(
    dest: str | Path,
    n: int,
    seed: int = 0,
    probes: dict[str, float] | None = None,
    campaigns: str | Sequence[str] | None = None,
    unique_names: bool = False,
    metadata: bool = True,
    workers: int = 1,
) -> Path:
    """Write ``n`` synthetic OAP images as a probe export would: ``<dest>/<class>/<name>.png``,
    white particle on black, one folder per ``oap`` class (atomically).

    File names restart at ``00000.png`` in every class folder (they repeat across classes,
    as in real probe exports and torchvision's ImageFolder), or are the unique image ids
    when ``unique_names``. ``metadata``: also write ``metadata.csv`` with ``image_id``
    (the file name without extension when names are unique, else the path relative to
    ``dest`` without extension), ``instrument``, ``pixel_um`` (diode spacing), ``dmax_um``,
    ``temperature_c``, ``campaign`` and ``truncated``. Returns ``dest``.
    """
    from PIL import Image

    from icepaper.core.atomic import atomic_dir

    images, meta = generate_oap_particles(n, seed, probes, campaigns, workers)
    cls = meta["oap"].to_numpy()
    if unique_names:
        names = meta["image_id"].tolist()
    else:
        rank = meta.groupby("oap").cumcount().to_numpy()
        names = [f"{k:05d}" for k in rank]
    dest = Path(dest)
    with atomic_dir(dest) as tmp:
        for c in np.unique(cls):
            (tmp / c).mkdir()
        for im, c, name in zip(images, cls, names):
            Image.fromarray(im).save(tmp / c / f"{name}.png")
        if metadata:
            keys = names if unique_names else [f"{c}/{name}" for c, name in zip(cls, names)]
            cols = ["instrument", "pixel_um", "dmax_um", "temperature_c", "campaign", "truncated"]
            meta[cols].assign(image_id=keys)[["image_id", *cols]].to_csv(tmp / "metadata.csv", index=False)
    return dest
