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
  white-on-black binary images, a packed dataset, or a probe-export image folder.

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
from .geometry import construct, random_rotation
from .labels import labels_for, matches_label
from .physics import CAMPAIGNS, Campaign, campaign, sample_particles
from .render import NoiseBank, instrument, render

CHUNK = 256  # particles per render chunk (fixes the random streams; never change lightly)

#: Metadata columns in output order (labels and environment first, then ground truth).
META_COLUMNS = (
    "image_id", "split", "source_file", "habit19", "habit4", "cpi", "campaign", "instrument",
    "temperature_c", "supersaturation", "dmax_um", "pixel_um",
    "habit", "aged", "rime_degree", "aggregate", "n_components", "components", "artefact",
    "blurry", "liquid", "size_um", "defocus_px", "cutoff_frac", "tilt_deg", "roi_um", "render_px",
)

_STREAM_PHYSICS = 1
_STREAM_RENDER = 2


def _campaign_list(campaigns) -> list[Campaign]:
    if campaigns is None:
        return list(CAMPAIGNS.values())
    if isinstance(campaigns, str | Campaign):
        campaigns = [campaigns]
    return [c if isinstance(c, Campaign) else campaign(c) for c in campaigns]


def _counts(n: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder integer split of n by weights."""
    w = np.asarray(weights, float) / np.sum(weights)
    c = np.floor(n * w).astype(int)
    order = np.argsort(-(n * w - c), kind="stable")
    c[order[: n - c.sum()]] += 1
    return c


def sample_constructions(
    n: int,
    seed: int = 0,
    campaigns: str | Sequence[str] | None = None,
    force_habit: str | None = None,
    artefact_rate: float | None = None,
) -> pd.DataFrame:
    """Physics only: the construction table of ``n`` particles plus their labels (no images).

    ``campaigns``: one name, several names (mixed by their weights) or None for all six.
    ``force_habit``: keep only particles whose base habit or any scheme's label equals this
    name (e.g. ``"bullet_rosette"``, ``"Column_aged"``, ``"rimed"``); drawn by rejection from
    the campaigns' own physics, so temperatures, sizes and processes stay consistent.
    """
    camps = _campaign_list(campaigns)
    rngs = [
        np.random.default_rng([int(seed), _STREAM_PHYSICS,
                               list(CAMPAIGNS).index(c.name) if c.name in CAMPAIGNS else 100 + k])
        for k, c in enumerate(camps)
    ]
    if force_habit is None:
        parts = []
        for camp, rng, m in zip(camps, rngs, _counts(n, [c.weight for c in camps])):
            if m:
                t = sample_particles(int(m), camp, rng, artefact_rate)
                parts.append(pd.concat([t, labels_for(t)], axis=1))
        table = pd.concat(parts, ignore_index=True)
    else:
        table = _rejection(n, camps, rngs, force_habit, artefact_rate)
    perm = np.random.default_rng([int(seed), _STREAM_PHYSICS, 999]).permutation(len(table))
    return table.iloc[perm].reset_index(drop=True)


def _rejection(n, camps, rngs, name, rate, max_rounds: int = 60) -> pd.DataFrame:
    """``n`` particles matching ``name``, drawn from the campaign mixture by rejection (so the
    campaigns contribute in proportion to weight x how often their physics grows it)."""
    from .labels import known_name

    if not known_name(name):
        raise ValueError(f"force_habit={name!r} is neither a base habit nor a label of any scheme")
    keep, have, tried = [], 0, 0
    batch = max(4 * n, 512)
    for _ in range(max_rounds):
        for camp, rng, m in zip(camps, rngs, _counts(batch, [c.weight for c in camps])):
            if not m:
                continue
            t = sample_particles(int(m), camp, rng, rate)
            lab = labels_for(t)
            ok = matches_label(lab, t["habit"], name)
            tried += int(m)
            if ok.any():
                keep.append(pd.concat([t[ok], lab[ok]], axis=1))
                have += int(ok.sum())
        if have >= n:
            break
    if have < n:
        raise ValueError(
            f"force_habit={name!r}: only {have} of {n} particles found among {tried} drawn from "
            f"campaign(s) {[c.name for c in camps]}; their physics rarely or never grows it "
            "(see icepaper.synth.physics.campaign_table())"
        )
    return pd.concat(keep, ignore_index=True).iloc[:n]


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


def _worker_init(parent_pid: int) -> None:
    import cv2

    os.environ["OMP_NUM_THREADS"] = "1"
    cv2.setNumThreads(1)
    _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """End this worker when its parent (the kernel or script) ends, even by ``kill -9``.

    Linux: the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``).
    Everywhere: a daemon thread polls the parent pid every ``poll_s`` s and exits when the
    worker has been re-parented.
    """
    import signal
    import threading

    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog remains
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="icepaper-parent-watchdog", daemon=True).start()


def _per_worker(n_images: int, seconds: float, workers: int) -> float:
    """Images per second per worker process actually used (at most the machine's cores)."""
    return round(n_images / seconds / max(1, min(workers, os.cpu_count() or 1)), 1)


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:07d}" for i in range(n)]


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
    them before any resizing; for composing synthetic CPI sheets. ``pixel_um`` is native."""
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


# ----------------------------------------------------------------------------- OAP datasets
#
# Optical-array-probe (2D-S, PIP) images of the same cloud physics (:mod:`.oap`). The
# native images are small binary arrays of varying shape (white particle on black), so a
# whole set is held in memory, labelled (the label needs the recorded size), split, and
# only then brought to the packed convention, exactly as an imported probe folder is.

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


class _ChunkMap:
    """``map(fn, jobs)`` in order, on ``workers`` processes (or inline for one worker)."""

    def __init__(self, workers: int):
        self.workers = int(workers)
        self._ex = None

    def __enter__(self):
        if self.workers > 1:
            ctx = get_context("fork" if sys.platform.startswith("linux") else "spawn")
            self._ex = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_worker_init,
                                           initargs=(os.getpid(),))
        return self

    def map(self, fn, jobs: list):
        if self._ex is None or len(jobs) <= 1:
            return [fn(j) for j in jobs]
        return list(self._ex.map(fn, jobs, chunksize=1))

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._ex is not None:
            self._ex.shutdown(wait=exc_type is None, cancel_futures=True)
        return False


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
