"""Benchmark: peak memory (RSS) of the steps that read a whole profile's data, against N.

Target: peak RSS flat in N (10 k to 200 k images): each step holds a batch or a chunk, never
the whole set; what grows is the unavoidable per-row bookkeeping (metadata, labels; tens of
bytes per image). Each step runs in a fresh subprocess, which reports its peak resident set
(``VmHWM`` on Linux, else ``ru_maxrss``) and its RSS after a warm-up run on 512 rows (imports,
thread pools); "growth" is the difference between the two. Curation also holds one chunk of
``--chunk`` rows as float32 (100 MiB at 65,536 x 384), so its memory rises up to N = chunk.

Steps, on synthetic data written once per N under a temporary folder (uint8 noise images in
the packed format, 2-view rosette silhouettes as an ``.npy``, float16 embeddings as an ``.npy``):

- ``embed``: ``representations.embed.extract_embeddings`` of all N images by a tiny CNN
  (64-D); the embeddings go to a file;
- ``curation``: ``representations.kmeans.hierarchical_kmeans`` of the N x ``--dim`` float16
  embeddings (memory-mapped), k = ``--k``, 1 resampling step, and ``balanced_sample`` of N/3;
- ``rosettes``: notebook 08's image-model training set: ``rosettes.train_image_model`` (small
  CNN of width 1, 2 views, one epoch) on N rosettes (memory-mapped, 70 % train);
- ``cssl``: ``cssl.encoders.encoder_features`` of all N images (the label-budget study's
  frozen-encoder features, through the cache);
- ``curation`` once more at ``--million`` embeddings (1 M x 384 by default; 0 skips it).

    python benchmarks/bench_memory.py                        # N = 10k, 50k, 200k + 1 M curation
    python benchmarks/bench_memory.py --sizes 2000 16000 --million 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STEPS = ("embed", "curation", "rosettes", "cssl")
EMBED_DIM = 64  # the tiny CNN's embedding size


# --------------------------------------------------------------------------- synthetic data
def _bank(size: int, n: int = 512, seed: int = 0) -> np.ndarray:
    """``n`` random uint8 images to tile the data sets from (cheap to write at any N)."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def write_packed(root: Path, n: int, size: int) -> None:
    """A packed dataset of ``n`` synthetic images, written chunk by chunk."""
    import pandas as pd

    from icepaper.data.packed import PackedWriter

    bank = _bank(size)
    with PackedWriter(root, size, name=f"bench{n}") as w:
        for a in range(0, n, 8192):
            b = min(a + 8192, n)
            rows = pd.DataFrame({"image_id": [f"im{i:07d}" for i in range(a, b)], "split": "train",
                                 "source_file": ""})
            w.add(bank[np.arange(a, b) % len(bank)], rows)


def write_rosettes(root: Path, n: int, size: int) -> None:
    """``rosettes.npy`` (n, 2, size, size) uint8 and ``rosettes.parquet`` (split, targets)."""
    import pandas as pd

    bank = _bank(size, seed=1)
    out = np.lib.format.open_memmap(root / "rosettes.npy", mode="w+", dtype=np.uint8, shape=(n, 2, size, size))
    for a in range(0, n, 8192):
        b = min(a + 8192, n)
        i = np.arange(a, b)
        out[a:b, 0] = bank[i % len(bank)]
        out[a:b, 1] = bank[(i * 7 + 3) % len(bank)]
    out.flush()
    del out
    rng = np.random.default_rng(2)
    split = np.where(rng.random(n) < 0.7, "train", np.where(rng.random(n) < 0.5, "val", "test"))
    pd.DataFrame({"split": split, "rho_eff": rng.random(n), "sa_eff": rng.random(n),
                  "n_arms": rng.integers(4, 11, n)}).to_parquet(root / "rosettes.parquet")


def write_embeddings(path: Path, n: int, dim: int) -> None:
    """(n, dim) float16 Gaussian embeddings as an ``.npy``, written chunk by chunk."""
    rng = np.random.default_rng(3)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, dim))
    for a in range(0, n, 65536):
        b = min(a + 65536, n)
        out[a:b] = rng.standard_normal((b - a, dim), dtype=np.float32)
    out.flush()
    del out


# --------------------------------------------------------------------------- one step (child)
def _tiny_cnn():
    import torch
    from torch import nn

    class TinyCNN(nn.Module):
        """8 x 8 patches -> 64 channels -> mean: ``model(x)`` is a (n, 64) embedding."""

        num_features = EMBED_DIM

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, EMBED_DIM, 8, stride=8)

        def forward(self, x):
            return torch.relu(self.conv(x)).mean((2, 3))

    torch.manual_seed(0)
    return TinyCNN()


def _peak_mib() -> float:
    """This process's peak RSS (MiB): ``VmHWM`` on Linux (the high-water mark of this program's
    memory; ``ru_maxrss`` would also count the parent's RSS at fork), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 2**10  # bytes on macOS, KiB on Linux


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _peak_mib()


WARMUP = 512  # rows of a first, small run of each step (lazy imports, thread pools, caches)


def _timed(run, full, small) -> dict:
    """``run(small)`` (warm-up), then the RSS, then ``run(full)`` timed: the report's fields."""
    run(small)
    base = _rss_mib()
    t0 = time.perf_counter()
    run(full)
    return {"base_rss_mib": base, "seconds": time.perf_counter() - t0}


def run_step(step: str, data: Path, args) -> dict:
    """Run ``step`` on the data in ``data``; what to report about it (called in the child)."""
    if step == "curation":
        import faiss

        from icepaper.representations.curation import balanced_sample
        from icepaper.representations.kmeans import hierarchical_kmeans

        faiss.omp_set_num_threads(args.threads)
        x = np.load(data / "embeddings.npy", mmap_mode="r")

        def curate(n):
            tree = hierarchical_kmeans(x if n == len(x) else x[:n], args.k, resampling_steps=1, niter=args.niter,
                                       seed=0, progress=False, max_points_per_centroid=args.mppc, chunk=args.chunk)
            balanced_sample(tree, n // 3, seed=0)

        small = min(len(x), max(4 * WARMUP, args.k[0]))
        return {**_timed(curate, len(x), small), "data_mib": x.nbytes / 2**20}

    import torch

    torch.set_num_threads(args.threads)
    if step == "rosettes":
        import pandas as pd

        from icepaper.rosettes.shape_models import train_image_model

        images = np.load(data / "rosettes.npy", mmap_mode="r")
        meta = pd.read_parquet(data / "rosettes.parquet")

        def train(n):
            train_image_model("small_cnn", images if n == len(images) else images[:n], meta.iloc[:n],
                              (0, 1), 1, seed=0, batch_size=256, width=1, progress=False)

        return {**_timed(train, len(images), min(len(images), WARMUP)), "data_mib": images.nbytes / 2**20}

    from icepaper.data.packed import PackedDataset

    ds = PackedDataset(data / "packed")
    model = _tiny_cnn()
    data_mib = len(ds) * ds.size**2 / 2**20
    if step == "embed":
        from icepaper.representations.embed import extract_embeddings

        def embed(n):
            out = Path(tempfile.mkdtemp(dir=data))
            extract_embeddings(model, ds, out, indices=np.arange(n), batch_size=256, progress=False)
            shutil.rmtree(out)

        return {**_timed(embed, len(ds), min(len(ds), WARMUP)), "data_mib": data_mib}
    if step == "cssl":
        from types import SimpleNamespace

        from icepaper.cssl.encoders import Encoder, encoder_features

        os.environ["ICEPAPER_HOME"] = str(Path(tempfile.mkdtemp(dir=data)))
        cfg = SimpleNamespace(profile=SimpleNamespace(embed={"batch_size": 256}), device="cpu", seed=0)
        enc = Encoder("bench", "bench", "random", {"kind": "bench"}, ds.size, lambda: model)

        def features(n):
            feats = encoder_features(cfg, enc, ds, np.arange(n))
            assert feats.shape == (n, EMBED_DIM)

        return {**_timed(features, len(ds), min(len(ds), WARMUP)), "data_mib": data_mib}
    raise ValueError(f"unknown step {step!r}; choose from {STEPS}")


def measure(step: str, data: Path, args) -> dict:
    """Run ``step`` in a fresh Python process and return its report (peak RSS in MiB)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--data", str(data),
           "--threads", str(args.threads), "--k", *map(str, args.k), "--mppc", str(args.mppc),
           "--niter", str(args.niter), "--chunk", str(args.chunk)]
    cmd += ["--fixed-mmap-threshold"] if args.fixed_mmap_threshold else []
    env = {**os.environ, "ICEPAPER_PROGRESS": "0"}
    if args.fixed_mmap_threshold:  # glibc: buffers >= 128 KiB are mapped and unmapped, never cached
        env["MALLOC_MMAP_THRESHOLD_"] = "131072"
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode:
        raise RuntimeError(f"bench_memory step {step} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _child(args) -> None:
    rec = run_step(args.child, Path(args.data), args)
    rec["peak_rss_mib"] = _peak_mib()
    rec["growth_mib"] = rec["peak_rss_mib"] - rec["base_rss_mib"]
    print(json.dumps(rec))


# --------------------------------------------------------------------------- the table (parent)
def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000], help="numbers of images N")
    ap.add_argument("--size", type=int, default=48, help="image side (px)")
    ap.add_argument("--rosette-size", type=int, default=None, help="rosette view side (px; default --size)")
    ap.add_argument("--dim", type=int, default=384, help="embedding dimension for the curation step")
    ap.add_argument("--million", type=int, default=1_000_000, help="curation at this many embeddings (0: skip)")
    ap.add_argument("--k", type=int, nargs="+", default=[100, 10], help="curation clusters per level")
    ap.add_argument("--mppc", type=int, default=64, help="faiss training points per centroid (caps the "
                    "k-means training set at k1 x mppc rows)")
    ap.add_argument("--niter", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=65536, help="curation: rows read and assigned at a time "
                    "(the library default; its float32 copy is the largest buffer)")
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fixed-mmap-threshold", action="store_true",
                    help="run the steps with glibc's MALLOC_MMAP_THRESHOLD_=128 KiB: freed batch buffers go "
                         "back to the system at once, so RSS shows live memory, not the allocator's cache "
                         "(steadier numbers at small N; the default allocator adds up to ~20 MiB)")
    ap.add_argument("--workdir", default=None, help="where the synthetic data go (default: a temporary folder)")
    ap.add_argument("--no-record", action="store_true", help="do not append to build/bench/memory.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a)
        return {}

    tmp = Path(tempfile.mkdtemp(prefix="bench_memory_", dir=a.workdir))
    rows = []
    try:
        plan = [(n, a.steps) for n in a.sizes]
        if a.million and "curation" in a.steps:
            plan.append((a.million, ["curation"]))
        for n, steps in plan:
            data = tmp / f"n{n}"
            data.mkdir()
            t0 = time.perf_counter()
            if {"embed", "cssl"} & set(steps):
                write_packed(data / "packed", n, a.size)
            if "rosettes" in steps:
                write_rosettes(data, n, a.rosette_size or a.size)
            if "curation" in steps:
                write_embeddings(data / "embeddings.npy", n, a.dim)
            t_gen = time.perf_counter() - t0
            for step in steps:
                rec = {"step": step, "n": n, **measure(step, data, a)}
                rows.append(rec)
                print(f"{step:9s} N={n:>9,d}: peak RSS {rec['peak_rss_mib']:7.0f} MiB, growth "
                      f"{rec['growth_mib']:6.0f} MiB, data {rec['data_mib']:7.0f} MiB, {rec['seconds']:6.1f} s"
                      f"  (data written in {t_gen:.1f} s)", flush=True)
            shutil.rmtree(data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("\npeak RSS (MiB) by step and N; in brackets its growth over the warmed-up process:")
    ns = sorted({r["n"] for r in rows})
    print(f"{'step':10s}" + "".join(f"{n:>16,d}" for n in ns))
    for step in a.steps:
        cells = {r["n"]: f"{r['peak_rss_mib']:.0f} ({r['growth_mib']:.0f})" for r in rows if r["step"] == step}
        print(f"{step:10s}" + "".join(f"{cells.get(n, '-'):>16s}" for n in ns))
    print(f"load_average_1min: {os.getloadavg()[0]:.2f} (other jobs slow the timings, not the memory)")
    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "fixed_mmap_threshold": a.fixed_mmap_threshold,
           "size": a.size, "rosette_size": a.rosette_size or a.size,
           "dim": a.dim, "k": a.k, "chunk": a.chunk,
           "mppc": a.mppc, "threads": a.threads, "rows": rows, "loadavg": os.getloadavg()[0]}
    if not a.no_record:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _results import append_result

        append_result("memory", rec)
    return rec


if __name__ == "__main__":
    main()
