"""Benchmark: synthetic particle generation speed (icepaper.synth).

Target: at least 1,000 images per second per core at 128 x 128 px. Measured in one process
(the whole pipeline: physics, 3-D geometry, projection, imaging model, labels) as CPU time
per image, so the number is per core and less sensitive to other jobs on the machine; the
wall-clock rate and the load average are printed beside it. Also times the default
dataset path (``generate_dataset`` with 2 workers, written in the packed format).

    python benchmarks/bench_generate.py              # 4000 images at 128 px, 6000 via the dataset path
    python benchmarks/bench_generate.py --n 1000     # quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _results import append_result

TARGET = 1000  # images per second per core at 128 px


def _rate(fn, n: int) -> tuple[float, float]:
    """(images per CPU-second, images per wall-second) of ``fn()`` making n images."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return n / max(time.process_time() - c0, 1e-9), n / max(time.perf_counter() - t0, 1e-9)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000, help="images per in-memory measurement")
    ap.add_argument("--n-dataset", type=int, default=6000, help="images for the dataset-path measurement")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)

    from icepaper.synth import GENERATOR_VERSION
    from icepaper.synth.generate import generate_dataset, generate_particles, sample_constructions

    generate_particles(64, 128, seed=99)  # warm up imports and caches
    res = {}
    for size in (128, 96):
        res[size] = _rate(lambda s=size: generate_particles(a.n, s, seed=1), a.n)
    phys = _rate(lambda: sample_constructions(20 * a.n, seed=2), 20 * a.n)
    holimo = _rate(lambda: generate_particles(a.n // 2, 128, seed=3, campaign="NASCENT19-like"), a.n // 2)
    cpi = _rate(lambda: generate_particles(a.n // 2, 128, seed=4, campaign="ARCTIC-MIXED-like"), a.n // 2)

    tmp = Path(tempfile.mkdtemp(prefix="icepaper-bench-generate-"))
    try:
        t0 = time.perf_counter()
        ds = generate_dataset(tmp / "ds", a.n_dataset, 96, seed=0, workers=a.workers, progress=False)
        t_ds = time.perf_counter() - t0
        assert len(ds) == a.n_dataset
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ds_rate = a.n_dataset / t_ds

    load = os.getloadavg()[0]
    print(f"[icepaper.synth generator v{GENERATOR_VERSION}; CPU time per core in one process; "
          f"load average {load:.1f} on {os.cpu_count()} cores]")
    print(f"generate 128 px (campaign mix): {res[128][0]:,.0f} img/s/core (target: >= {TARGET:,}) "
          f"[wall {res[128][1]:,.0f} img/s]")
    print(f"generate 96 px (campaign mix): {res[96][0]:,.0f} img/s/core [wall {res[96][1]:,.0f} img/s]")
    print(f"generate 128 px HOLIMO (NASCENT19-like): {holimo[0]:,.0f} img/s/core")
    print(f"generate 128 px CPI (ARCTIC-MIXED-like): {cpi[0]:,.0f} img/s/core")
    print(f"physics sampler only: {phys[0]:,.0f} particles/s/core")
    print(f"generate_dataset {a.n_dataset} x 96 px, {a.workers} workers, packed: {ds_rate:,.0f} img/s wall "
          f"({t_ds:.1f} s; 24,000 images would take ~{24000 / ds_rate:.0f} s)")
    rec = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "generator_version": GENERATOR_VERSION,
        "n": a.n,
        "img_per_s_per_core_128": res[128][0],
        "wall_img_per_s_128": res[128][1],
        "img_per_s_per_core_96": res[96][0],
        "img_per_s_per_core_128_holimo": holimo[0],
        "img_per_s_per_core_128_cpi": cpi[0],
        "physics_per_s_per_core": phys[0],
        "dataset_img_per_s_wall": ds_rate,
        "dataset_workers": a.workers,
        "target": TARGET,
        "loadavg": load,
    }
    append_result("generate", rec)
    return rec


if __name__ == "__main__":
    main()
