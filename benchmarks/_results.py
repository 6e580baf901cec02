"""Where benchmarks keep their results: one JSON line per run in build/bench/<name>.json."""

from __future__ import annotations

import json
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1] / "build" / "bench"


def append_result(name: str, rec: dict) -> Path:
    """Append ``rec`` as one JSON line to build/bench/<name>.json and return that path."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    out = BENCH_DIR / f"{name}.json"
    with out.open("a") as f:
        f.write(json.dumps(rec) + "\n")
    return out
