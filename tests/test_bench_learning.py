"""The learning-curve benchmark (benchmarks/bench_learning.py) end to end on tiny data (--quick)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench_learning.py"
METHODS = ("moco", "supervised")
DATASETS = ("cpi", "oap")


pytestmark = pytest.mark.slow  # one --quick run for both tests: about 55 s on 2 idle cores (115 s at load 6)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("learning")
    home = tmp_path_factory.mktemp("home")  # nothing may land in the user's data home
    env = {**os.environ, "ICEPAPER_HOME": str(home), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--methods", ",".join(METHODS),
                           "--datasets", ",".join(DATASETS), "--out", str(out), "--no-history"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout, home


def test_quick_run_writes_one_row_per_dataset_method_mark_probe(quick_run):
    out, stdout, home = quick_run
    rec = json.loads((out / "learning.json").read_text())
    marks = rec["settings"]["minutes"]
    assert len(marks) == 2 and rec["settings"]["quick"] and rec["profile"] == "smoke"
    assert rec["machine"]["cores"] >= 1 and rec["machine"]["torch_threads"] >= 1
    assert "pretrain" in rec["profile_values"] and "probes" in rec["profile_values"]
    df = pd.read_csv(out / "learning.csv")
    assert len(df) == len(rec["rows"])
    expected = {(d, m, mk, p) for d in DATASETS for m in METHODS for mk in [0.0, *marks] for p in ("knn", "logreg")}
    expected |= {(d, "features", 0.0, p) for d in DATASETS for p in ("knn", "logreg")}
    keys = list(zip(df["dataset"], df["method"], df["mark_min"].astype(float), df["probe"]))
    assert len(keys) == len(set(keys)), "a (dataset, method, mark, probe) appears twice"
    assert set(keys) == expected
    for col in ("val_acc", "test_acc"):
        assert df[col].between(0.0, 1.0).all(), df[col]
    assert set(df.loc[df["dataset"] == "oap", "scheme"]) == {"oap"}
    assert set(df.loc[df["dataset"] == "cpi", "scheme"]) == {"cpi"}
    trained = df[(df["method"] != "features") & (df["mark_min"] > 0)]
    assert (trained["step"] >= 1).all() and (trained["minutes"] > 0).all()
    for (_, _, _), g in trained.groupby(["dataset", "method", "probe"]):
        assert g.sort_values("mark_min")["step"].is_monotonic_increasing
    assert (df.loc[df["mark_min"] == 0, "step"] == 0).all()
    assert not any(home.iterdir()), "the benchmark wrote into the data home"


def test_quick_run_writes_plot_and_table(quick_run):
    out, stdout, _ = quick_run
    png = (out / "learning.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    table = (out / "learning.md").read_text()
    assert table in stdout
    lines = [ln for ln in table.splitlines() if ln.startswith("| ")]
    # header + (dataset x (methods + features) x probes)
    assert len(lines) == 1 + len(DATASETS) * (len(METHODS) + 1) * 2
    assert "test % at" in lines[0] and "val % at 0 min" in lines[0]
