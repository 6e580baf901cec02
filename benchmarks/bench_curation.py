"""Benchmark: two-level hierarchical k-means curation of 1 M x 384 float32 embeddings on the CPU.

Target: at most 600 s on a 2-core CPU, with no N x k distance matrix in memory (assignment is
chunked). Synthetic embeddings: a Zipf-sized mixture of ``--components`` Gaussian blobs on the
unit sphere, so the benchmark also reports how much more balanced the curated subset is than
a random subset of the same size (normalised entropy of the component labels).

    python benchmarks/bench_curation.py                  # full size (1 M x 384, k = 1000, 50)

Settings: r = 2 resampling steps per level with s = 64 (level 1) and 5 (level 2) points per cluster, 10 k-means
iterations (Vo et al.'s), faiss training on at most 128 points per centroid, AFK-MC^2
seeding at level 1 (exact k-means++ seeding alone takes minutes at this size on 2 cores).
    python benchmarks/bench_curation.py --n 100000       # quick check
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
from _results import append_result


def synthetic_embeddings(n: int, dim: int, components: int, seed: int = 0, chunk: int = 100_000):
    """(n, dim) float32 unit vectors from a Zipf-sized mixture of blobs, and their component labels."""
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, components + 1) ** 1.2
    labels = rng.choice(components, size=n, p=w / w.sum())
    means = rng.normal(size=(components, dim)).astype(np.float32)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    x = np.empty((n, dim), dtype=np.float32)
    for a in range(0, n, chunk):
        b = means[labels[a:a + chunk]] * 3.0 + rng.standard_normal((min(chunk, n - a), dim), dtype=np.float32) / np.sqrt(dim) * 4
        x[a:a + chunk] = b / np.linalg.norm(b, axis=1, keepdims=True)
    return x, labels


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, nargs="+", default=[1000, 50])
    ap.add_argument("--resampling-steps", type=int, default=2)
    ap.add_argument("--samples-per-cluster", type=int, nargs="+", default=[64, 5])
    ap.add_argument("--max-points-per-centroid", type=int, default=128)
    ap.add_argument("--niter", type=int, default=10)
    ap.add_argument("--components", type=int, default=60)
    ap.add_argument("--frac", type=float, default=1 / 3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)

    import faiss

    from icepaper.representations.curation import (
        balance_metrics,
        balanced_sample,
        hierarchical_kmeans,
    )

    faiss.omp_set_num_threads(a.threads)
    t0 = time.perf_counter()
    x, comp = synthetic_embeddings(a.n, a.dim, a.components)
    t_gen = time.perf_counter() - t0

    t0 = time.perf_counter()
    tree = hierarchical_kmeans(x, a.k, resampling_steps=a.resampling_steps, niter=a.niter, seed=0,
                               samples_per_cluster=a.samples_per_cluster, normalize=False,
                               max_points_per_centroid=a.max_points_per_centroid, progress=True)
    t_km = time.perf_counter() - t0
    n_target = int(round(a.n * a.frac))
    t0 = time.perf_counter()
    sel = balanced_sample(tree, n_target, seed=0)
    t_sample = time.perf_counter() - t0
    total = t_km + t_sample

    rand = np.random.default_rng(0).choice(a.n, n_target, replace=False)
    classes = np.arange(a.components)
    full, cur, rnd = (balance_metrics(comp[i], classes) for i in (slice(None), sel, rand))
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    data_gib = x.nbytes / 2**30

    shape = (f"{a.n} x {a.dim}, k={a.k}, r={a.resampling_steps}, s={a.samples_per_cluster}, "
             f"niter={a.niter}, {a.max_points_per_centroid} train pts/centroid, {a.threads} threads")
    print(f"curation_total: {total:.1f} s (target: <= 600 s for 1M x 384 on 2 cores) [{shape}]")
    print(f"hierarchical_kmeans: {t_km:.1f} s")
    print(f"balanced_sample: {t_sample:.2f} s (exactly {len(sel)} of {a.n})")
    print(f"synthetic_data: {t_gen:.1f} s (not counted)")
    print(f"peak_rss: {peak_gib:.2f} GiB (data {data_gib:.2f} GiB; an N x k1 float32 matrix would be "
          f"{a.n * a.k[0] * 4 / 2**30:.1f} GiB)")
    print(f"entropy_norm: full {full['entropy_norm']:.3f}, curated {cur['entropy_norm']:.3f}, "
          f"random {rnd['entropy_norm']:.3f} (target: curated > random)")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f} (other jobs on the machine inflate timings)")

    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "n": a.n, "dim": a.dim, "k": a.k,
           "resampling_steps": a.resampling_steps, "samples_per_cluster": a.samples_per_cluster,
           "max_points_per_centroid": a.max_points_per_centroid, "niter": a.niter, "threads": a.threads,
           "total_s": total, "kmeans_s": t_km, "sample_s": t_sample, "peak_rss_gib": peak_gib,
           "entropy_full": full["entropy_norm"], "entropy_curated": cur["entropy_norm"],
           "entropy_random": rnd["entropy_norm"], "loadavg": os.getloadavg()[0]}
    append_result("curation", rec)
    return rec


if __name__ == "__main__":
    main()
