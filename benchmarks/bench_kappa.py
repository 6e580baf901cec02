"""Benchmark: cost of notebook 07's diversity and discovery computations.

Side by side in one run:

* kappa fit: ``kappa.estimate_kappa`` (Banerjee + 2 Newton steps, and the exact ML root) vs
  ``scipy.stats.vonmises_fisher.fit`` on the same unit vectors (p where scipy works);
* equal-n bootstrap: ``kappa.kappa_by_group`` (resamples per second) at a given group
  count, resample size m and dimension p;
* kNN anomaly scores: ``anomaly.knn_anomaly_scores`` (faiss exact inner-product search)
  for N particles against a reference sample.

    python benchmarks/bench_kappa.py                 # default-profile sizes
    python benchmarks/bench_kappa.py --preset paper  # paper-profile sizes (p = 384)

Prints a table and writes build/bench/kappa.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

PRESETS = {  # groups, resample size m, n_boot, dimension p, kNN population, kNN reference
    "smoke": dict(groups=10, m=60, n_boot=50, p=64, n_knn=2_000, n_ref=600),
    "default": dict(groups=36, m=300, n_boot=300, p=192, n_knn=15_000, n_ref=4_000),
    "paper": dict(groups=40, m=2_000, n_boot=1_000, p=384, n_knn=200_000, n_ref=20_000),
}


def _best(fn, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls (s)."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def bench_fit(n: int = 5000, dims=(16, 32)) -> list[dict]:
    from icepaper.diversity.kappa import estimate_kappa, kappa_mle_scipy
    from icepaper.diversity.kappa_validation import sample_vmf

    rows = []
    for p in dims:
        x = sample_vmf(p, 2.0 * p, n, seed=p)
        t_newton = _best(lambda x=x: estimate_kappa(x))
        t_ml = _best(lambda x=x: estimate_kappa(x, newton_steps=None))
        t_scipy = _best(lambda x=x: kappa_mle_scipy(x))
        rows.append({"p": p, "n": n, "newton2_ms": 1e3 * t_newton, "exact_ml_ms": 1e3 * t_ml,
                     "scipy_fit_ms": 1e3 * t_scipy, "scipy_over_newton2": t_scipy / t_newton,
                     "kappa_newton2": estimate_kappa(x).kappa, "kappa_scipy": kappa_mle_scipy(x)})
    return rows


def bench_bootstrap(groups: int, m: int, n_boot: int, p: int) -> dict:
    from icepaper.diversity.kappa import kappa_by_group

    rng = np.random.default_rng(0)
    n_per = 2 * m
    x = rng.standard_normal((groups * n_per, p)) + 2.0
    g = np.repeat(np.arange(groups), n_per)
    t = _best(lambda: kappa_by_group(x, g, min_n=m, equal_n=m, n_boot=n_boot), repeat=1)
    return {"groups": groups, "m": m, "n_boot": n_boot, "p": p, "seconds": t,
            "resamples_per_s": groups * n_boot / t}


def bench_knn(n: int, n_ref: int, p: int) -> dict:
    from icepaper.diversity.anomaly import knn_anomaly_scores

    x = np.random.default_rng(1).standard_normal((n, p)).astype(np.float32)
    t = _best(lambda: knn_anomaly_scores(x, k=10, n_reference=n_ref), repeat=1)
    return {"n": n, "n_reference": n_ref, "p": p, "seconds": t, "particles_per_s": n / t}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default", choices=sorted(PRESETS))
    ap.add_argument("--threads", type=int, default=1, help="BLAS / faiss threads")
    a = ap.parse_args(argv)
    import faiss

    faiss.omp_set_num_threads(a.threads)
    s = PRESETS[a.preset]
    res = {"preset": a.preset, "threads": a.threads, "fit": bench_fit(),
           "bootstrap": bench_bootstrap(s["groups"], s["m"], s["n_boot"], s["p"]),
           "knn": bench_knn(s["n_knn"], s["n_ref"], s["p"])}
    print("kappa fit (same samples):")
    for r in res["fit"]:
        print(f"  p={r['p']:4d} n={r['n']}: newton2 {r['newton2_ms']:.2f} ms, exact ML {r['exact_ml_ms']:.2f} ms, "
              f"scipy fit {r['scipy_fit_ms']:.2f} ms (scipy / newton2 = {r['scipy_over_newton2']:.1f}x); "
              f"kappa {r['kappa_newton2']:.2f} vs scipy {r['kappa_scipy']:.2f}")
    b = res["bootstrap"]
    print(f"bootstrap: {b['groups']} groups x {b['n_boot']} resamples of m={b['m']} in p={b['p']}: "
          f"{b['seconds']:.2f} s ({b['resamples_per_s']:.0f} resamples/s)")
    k = res["knn"]
    print(f"kNN anomaly scores: {k['n']} particles vs {k['n_reference']} references in p={k['p']}: "
          f"{k['seconds']:.2f} s ({k['particles_per_s']:.0f} particles/s)")
    out = Path(__file__).resolve().parent.parent / "build" / "bench" / "kappa.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")
    return res


if __name__ == "__main__":
    main()
