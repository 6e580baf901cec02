"""Peak memory does not grow with the data: ``benchmarks/bench_memory.py`` at two small sizes.

Each step (embedding extraction, hierarchical k-means curation, notebook 08's image-model
training set, CSSL features) runs in a fresh process at N = 2,000 and 8,000; between the two
the data grow by 24 MiB (images), 12 MiB (rosettes) and 4 MiB (embeddings). The step's memory
growth over its warmed-up process must grow by less than a quarter of that (+ 4 MiB of noise;
the steps run with a fixed glibc mmap threshold, so RSS shows live memory). Holding the data
in memory (or reading them through memory maps) grows it by at least the data itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "benchmarks" / "bench_memory.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_peak_memory_flat_in_n(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "src"))  # the children import this checkout
    rec = _bench().main(["--sizes", "2000", "8000", "--size", "64", "--rosette-size", "32", "--million", "0",
                         "--k", "50", "5", "--mppc", "16", "--chunk", "1024", "--workdir", str(tmp_path),
                         "--fixed-mmap-threshold", "--no-record"])
    by = {(r["step"], r["n"]): r for r in rec["rows"]}
    for step in ("embed", "curation", "rosettes", "cssl"):
        small, big = by[(step, 2000)], by[(step, 8000)]
        data = big["data_mib"] - small["data_mib"]
        grew = big["growth_mib"] - small["growth_mib"]
        assert grew < 0.25 * data + 4, f"{step}: memory grew {grew:.1f} MiB for {data:.1f} MiB more data"
