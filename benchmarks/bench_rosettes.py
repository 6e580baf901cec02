"""Benchmark: synthetic bullet rosettes, exact 3-D properties and three projections, per core.

Target: at least 50 rosettes per second per core, each with its manifold3d union (volume,
surface area), watertightness check, minimal bounding sphere and three silhouettes
(0, 90, 120 deg). Throughput is measured in process CPU time (single-threaded work), so it
reads per core and is less sensitive to other jobs on a shared machine than wall time.
Side by side: the same union through ``trimesh.boolean.union(..., engine="manifold")``.

    python benchmarks/bench_rosettes.py            # 200 rosettes at 96 px
    python benchmarks/bench_rosettes.py --n 50
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _results import append_result


def _cpu(fn, items) -> float:
    t0 = time.process_time()
    for x in items:
        fn(x)
    return (time.process_time() - t0) / len(items)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=96)
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import trimesh

    from icepaper.rosettes.datasets import generate_rosettes
    from icepaper.rosettes.meshes import (
        bullet_manifold,
        random_rotation,
        rosette_manifold,
        rosette_properties,
        sample_rosette,
        to_trimesh,
    )
    from icepaper.rosettes.projection import default_pixel_um, render_views

    rng = np.random.default_rng(0)
    ros = [sample_rosette(rng) for _ in range(a.n)]
    rots = [random_rotation(rng) for _ in range(a.n)]
    px = default_pixel_um(a.size)
    rosette_properties(ros[0])  # warm caches (sphere scale, spherical codes)

    t_sample = _cpu(lambda _: sample_rosette(rng), range(a.n))

    def union(r):
        m = rosette_manifold(r)
        m.volume(), m.surface_area()

    t_union = _cpu(union, ros)
    t_props = _cpu(rosette_properties, ros)
    t_render = _cpu(lambda i: render_views(ros[i], rots[i], a.size, px), range(a.n))
    t0 = time.process_time()
    _, meta = generate_rosettes(a.n, a.size, seed=1)
    t_full = (time.process_time() - t0) / a.n
    k = min(a.n, 30)
    sphere = to_trimesh(rosette_manifold(ros[0]))  # any mesh works as the sphere stand-in

    def trimesh_union(r):
        parts = [to_trimesh(bullet_manifold(v)) for v in r.bullet_vertices()]
        trimesh.boolean.union([sphere.copy().apply_scale(r.r0 / 500.0)] + parts,
                              engine="manifold")

    t_trimesh = _cpu(trimesh_union, ros[:k])
    rate = 1.0 / t_full
    print(f"rosettes_full: {rate:.1f} rosettes/s/core (target: >= 50) "
          f"[{a.n} rosettes, 3 views at {a.size} px, CPU time]")
    print(f"sample: {t_sample * 1e3:.2f} ms/rosette")
    print(f"union_volume_area (manifold3d batch_boolean): {t_union * 1e3:.2f} ms/rosette")
    print(f"properties (union + watertight + bounding sphere): {t_props * 1e3:.2f} ms/rosette")
    print(f"render_3_views: {t_render * 1e3:.2f} ms/rosette")
    print(f"union via trimesh.boolean.union(engine='manifold'): {t_trimesh * 1e3:.2f} ms/rosette "
          f"({t_trimesh / t_union:.1f}x the direct union)")
    print(f"watertight: {bool(meta.watertight.all())}")
    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "n": a.n, "size": a.size,
           "rosettes_per_s_per_core": rate, "sample_ms": t_sample * 1e3,
           "union_ms": t_union * 1e3, "properties_ms": t_props * 1e3,
           "render3_ms": t_render * 1e3, "trimesh_union_ms": t_trimesh * 1e3,
           "loadavg": os.getloadavg()[0]}
    append_result("rosettes", rec)
    return rec


if __name__ == "__main__":
    main()
