"""Benchmark: random access to a packed dataset from the page cache, images per second per core.

Target: at least 20,000 images/s/core. A packed dataset of ``--n`` random ``--size`` px
images (default 20,000 x 128 x 128, 328 MB) is written to a temporary folder, read once to
warm the page cache, then read in random order: one image at a time (``ds[i]`` copied
into memory, as the torch wrapper does), in random batches (``ds.batch(idx)``), and
through ``PackedImages`` (PIL image, no transform). Rates use process CPU time (the work is
single-threaded), so they read per core and are less sensitive to other jobs on a shared
machine; wall-clock rates are printed beside them.

    python benchmarks/bench_loader.py                 # 20,000 x 128 px
    python benchmarks/bench_loader.py --n 5000 --size 96
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _results import append_result

TARGET = 20_000


def _rate(fn, n_items: int, min_s: float = 1.0) -> tuple[float, float]:
    """(items per CPU second, items per wall second) of ``fn()``, repeated for ``min_s`` CPU s."""
    reps, cpu, wall = 0, 0.0, 0.0
    while cpu < min_s:
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        reps += 1
    return reps * n_items / max(cpu, 1e-9), reps * n_items / max(wall, 1e-9)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=256)
    a = ap.parse_args(argv)

    from icepaper.data.packed import PackedDataset, PackedWriter
    from icepaper.data.torchdata import PackedImages

    tmp = Path(tempfile.mkdtemp(prefix="icepaper-bench-loader-"))
    try:
        rng = np.random.default_rng(0)
        root = tmp / "ds"
        with PackedWriter(root, a.size, name="bench") as w:
            for s in range(0, a.n, 4096):
                k = min(4096, a.n - s)
                w.add(rng.integers(0, 256, (k, a.size, a.size), dtype=np.uint8),
                      pd.DataFrame({"image_id": [f"i{j}" for j in range(s, s + k)], "split": "train",
                                    "source_file": ""}))
        ds = PackedDataset(root)
        ds.batch(np.arange(len(ds)))  # warm the page cache
        order = rng.permutation(len(ds))
        m = min(len(ds), 20_000)

        def single():
            for i in order[:m]:
                np.array(ds[i])

        batches = [order[s:s + a.batch] for s in range(0, len(order) - a.batch + 1, a.batch)][:40]

        def batched():
            for b in batches:
                ds.batch(b)

        pi = PackedImages(ds)
        k_pil = min(m, 5000)

        def pil():
            for i in order[:k_pil]:
                pi[int(i)]

        r_single = _rate(single, m)
        r_batch = _rate(batched, sum(len(b) for b in batches))
        r_pil = _rate(pil, k_pil)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    mb = a.n * a.size * a.size / 1e6
    print(f"[{a.n} random images at {a.size} px ({mb:.0f} MB) from the page cache, random order, CPU time; "
          f"load average {os.getloadavg()[0]:.1f}]")
    print(f"ds[i] (copied): {r_single[0]:,.0f} img/s/core (target: >= {TARGET:,}) "
          f"[wall {r_single[1]:,.0f} img/s]")
    print(f"ds.batch(idx) ({a.batch} random): {r_batch[0]:,.0f} img/s/core (target: >= {TARGET:,}) "
          f"[wall {r_batch[1]:,.0f} img/s]")
    print(f"PackedImages[i] (PIL 'L', no transform): {r_pil[0]:,.0f} img/s/core "
          f"[wall {r_pil[1]:,.0f} img/s]")
    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "n": a.n, "size": a.size, "batch": a.batch,
           "single_img_per_s_per_core": r_single[0], "batch_img_per_s_per_core": r_batch[0],
           "pil_img_per_s_per_core": r_pil[0], "single_wall": r_single[1], "batch_wall": r_batch[1],
           "target": TARGET, "loadavg": os.getloadavg()[0]}
    append_result("loader", rec)
    return rec


if __name__ == "__main__":
    main()
