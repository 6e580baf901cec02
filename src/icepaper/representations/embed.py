"""Embeddings of a whole dataset under a frozen backbone, as a resumable float16 memory map.

``extract_embeddings(model, ds, folder)`` writes into ``folder``::

    embeddings.f16   (N, D) float16, row j = image index[j]   (np.memmap)
    index.npy        (N,) int64 dataset row ids
    progress.json    {"done": rows written so far, "n": N, "dim": D, ...}

It runs in batches (tqdm progress); after each batch the rows are written to the file (plain
positioned writes, no memory map: the process holds one batch of images and embeddings,
whatever N) and synced, then ``done`` is advanced, so a rerun after an interruption continues
at the first unfinished batch. ``num_workers`` > 0 reads the uint8 batches in that many
``DataLoader`` worker processes (pinned memory on CUDA), ahead of the forward pass; the result
is the same.
Images go through the evaluation transform of ``icepaper.augment`` (resize to the
backbone's input size, normalise), applied on the compute device; on CUDA the forward
pass runs in bfloat16 autocast.

Pooling: ``"cls"`` is ``model(x)`` (timm with ``num_classes=0``: the final-norm CLS token
of a ViT, the global-average-pooled feature of a ResNet); ``"mean"`` is the mean of the
ViT's patch tokens after the final norm (the same as ``"cls"`` for a ResNet).

``embeddings_for(cfg, ds, backbone_path)`` caches the result (``icepaper.core.cache``) keyed by
the backbone file's hash, the dataset fingerprint, the pooling and the image size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from icepaper.core.atomic import atomic_write_json
from icepaper.core.progress import tqdm
from icepaper.ssl.embedding import POOLINGS, Preprocess, embed_array, in_chans, input_size, pool  # noqa: F401


def _open(folder: Path, n: int, dim: int, mode: str) -> np.memmap:
    return np.memmap(folder / "embeddings.f16", dtype=np.float16, mode=mode, shape=(n, dim))


class _RowBatches:
    """Torch-style dataset whose item ``k`` is batch ``k`` of ``ds`` rows ``idx``: a (b, S, S)
    uint8 tensor (it pickles without image data, see ``PackedDataset``)."""

    def __init__(self, ds, idx: np.ndarray, batch_size: int):
        self.ds, self.idx, self.batch_size = ds, idx, int(batch_size)

    def __len__(self) -> int:
        return -(-len(self.idx) // self.batch_size)

    def __getitem__(self, k: int) -> torch.Tensor:
        a = int(k) * self.batch_size
        return torch.from_numpy(self.ds.batch(self.idx[a:a + self.batch_size]))


def _batches(ds, idx: np.ndarray, start: int, batch_size: int, num_workers: int, device: str):
    """uint8 image batches of rows ``idx[start:]``, in order: read here (``num_workers`` 0) or
    by ``DataLoader`` workers."""
    if num_workers <= 0:
        for a in range(start, len(idx), batch_size):
            yield ds.batch(idx[a:a + batch_size])
        return
    from torch.utils.data import DataLoader

    data = _RowBatches(ds, idx, batch_size)
    first = start // batch_size  # start is a multiple of batch_size (whole batches are saved)
    yield from DataLoader(data, batch_size=None, sampler=range(first, len(data)), num_workers=num_workers,
                          pin_memory=torch.device(device).type == "cuda", prefetch_factor=4)


def extract_embeddings(
    model: torch.nn.Module,
    ds,
    folder: str | Path,
    *,
    indices: np.ndarray | None = None,
    batch_size: int = 256,
    pooling: str = "cls",
    size: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    num_workers: int = 0,
) -> np.memmap:
    """Embed ``ds`` rows ``indices`` (default all) into ``folder`` (resumable); return the (N, D)
    float16 memmap. ``num_workers``: ``DataLoader`` processes that read the images (0: this one)."""
    from icepaper.ssl.backbones import embed_dim

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    idx = np.arange(len(ds), dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
    model = model.to(device).eval()
    size = input_size(model, ds.size) if size is None else int(size)
    dim = embed_dim(model)
    n = len(idx)
    prog_path = folder / "progress.json"
    state = {"n": n, "dim": dim, "pooling": pooling, "size": size, "batch_size": int(batch_size), "done": 0}
    if prog_path.exists():
        old = json.loads(prog_path.read_text())
        same = {k: old.get(k) for k in ("n", "dim", "pooling", "size")} == {k: state[k] for k in ("n", "dim", "pooling", "size")}
        if same and (folder / "index.npy").exists() and np.array_equal(np.load(folder / "index.npy"), idx):
            state["done"] = int(old["done"])
    if state["done"] == 0:
        np.save(folder / "index.npy", idx)
        with open(folder / "embeddings.f16", "wb") as f:
            f.truncate(n * dim * 2)  # (N, D) float16, zeros until written
        atomic_write_json(prog_path, state)
    prep = Preprocess(size, in_chans(model), device)
    use_bf16 = torch.device(device).type == "cuda"
    bar = tqdm(total=n, initial=state["done"], desc=f"embedding ({pooling})", unit="img", disable=not progress)
    with (open(folder / "embeddings.f16", "r+b") as out, torch.inference_mode(),
          torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16)):
        for a, images in zip(range(state["done"], n, batch_size),
                             _batches(ds, idx, state["done"], batch_size, num_workers, device)):
            b = min(a + batch_size, n)
            emb = pool(model, prep(images), pooling)
            out.seek(a * dim * 2)
            out.write(np.ascontiguousarray(emb.float().cpu().numpy().astype(np.float16)).tobytes())
            out.flush()
            os.fsync(out.fileno())  # the rows are on disk before ``done`` says so
            state["done"] = b
            atomic_write_json(prog_path, state)
            bar.update(b - a)
    bar.close()
    return _open(folder, n, dim, "r")


def file_hash(path: str | Path) -> str:
    """16-hex-digit SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def load_embeddings(folder: str | Path) -> np.memmap:
    """The (N, D) float16 memmap of a finished extraction folder."""
    folder = Path(folder)
    st = json.loads((folder / "progress.json").read_text())
    if st["done"] != st["n"]:
        raise ValueError(f"{folder}: embedding extraction unfinished ({st['done']} of {st['n']} rows)")
    return _open(folder, st["n"], st["dim"], "r")


def embeddings_for(
    cfg,
    ds,
    backbone_path: str | Path,
    pooling: str = "cls",
    size: int | None = None,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """(len(ds), D) float16 embeddings of every image of ``ds`` under the exported backbone
    ``backbone_path`` (.safetensors), cached by backbone hash + dataset fingerprint + pooling + size.

    ``rows``: embed only these dataset rows and return (len(rows), D) in that order (sliced
    from the whole-dataset embeddings when those are already cached). Work in progress lives
    in ``<cache>/embeddings-partial/<key>/`` and resumes after an interruption; the finished
    folder is moved into the cache atomically.
    """
    from icepaper.core.cache import cache_path
    from icepaper.ssl.backbones import load_backbone

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    backbone_path = Path(backbone_path)
    model = load_backbone(backbone_path, device=cfg.device)
    size = input_size(model, ds.size) if size is None else int(size)
    key = {"backbone": file_hash(backbone_path), "dataset": ds.fingerprint, "pooling": pooling,
           "size": size, "version": 1}
    whole = cache_path("embeddings", key)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        if (whole / "key.json").exists():
            return np.asarray(load_embeddings(whole)[rows])
        key = {**key, "rows": hashlib.sha256(rows.tobytes()).hexdigest()[:16]}
    return cached_extraction(cfg, "embeddings", key, model, ds, rows, size=size, pooling=pooling)


def cached_extraction(cfg, kind: str, key: dict, model, ds, rows: np.ndarray | None,
                      *, size: int, pooling: str = "cls", progress: bool = True) -> np.memmap:
    """Embeddings of ``ds`` rows (all when None) cached as ``<cache>/<kind>/<key hash>``.

    ``model``: the network, or a function that builds it (called only on a cache miss).

    Work in progress lives in ``<cache>/<kind>-partial/<key hash>/`` and resumes after an
    interruption; the finished folder is moved into the cache atomically.
    """
    from icepaper.core.cache import cache_path, cached_dir

    final = cache_path(kind, key)
    if not (final / "key.json").exists():
        partial = cache_path(f"{kind}-partial", key)
        bs = int(cfg.profile.embed["batch_size"])
        if not isinstance(model, torch.nn.Module):
            model = model()
        extract_embeddings(model, ds, partial, indices=rows, batch_size=bs, pooling=pooling, size=size,
                           device=cfg.device, progress=progress)

        def build(tmp: Path) -> None:
            for f in ("embeddings.f16", "index.npy", "progress.json"):
                shutil.move(str(partial / f), tmp / f)

        cached_dir(kind, key, build)
        shutil.rmtree(partial, ignore_errors=True)
    return load_embeddings(final)
