"""The prepared GPU check (benchmarks/gpu_check.sh): its CPU tiny run writes every section, and a
failed or timed-out step is recorded without stopping the next one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402


def test_a_failed_or_timed_out_step_is_recorded_and_the_next_runs(tmp_path):
    rep = gpu_check.Report(tmp_path / "r.json", mode="test")

    def fails(rec):
        rec["partial"] = 1
        raise ValueError("boom")

    def hangs(rec):
        rec["started"] = True
        while True:
            time.sleep(0.01)

    rep.step("a", fails, 10)
    rep.step("b", hangs, 0.3)
    rep.step("c", lambda rec: rec.update(x=2), 10)
    rep.step("d", lambda rec: rec.update(x=3), 10, requires="no dataset")
    got = json.loads((tmp_path / "r.json").read_text())["sections"]
    assert got["a"]["status"] == "failed" and got["a"]["error"] == "ValueError: boom" and got["a"]["partial"] == 1
    assert got["b"]["status"] == "timeout" and got["b"]["started"] and got["b"]["seconds"] < 5
    assert got["c"] == {"status": "ok", "seconds": got["c"]["seconds"], "x": 2}
    assert got["d"]["status"] == "failed" and "no dataset" in got["d"]["error"] and "x" not in got["d"]


def test_sigterm_stops_the_running_step_and_skips_the_rest(tmp_path):
    """gpu_check.sh's time limit sends SIGTERM: the running step keeps what it measured
    ("stopped"), later steps are "not run", and the report is still written."""
    import signal

    rep = gpu_check.Report(tmp_path / "r.json", mode="test")

    def killed(rec):
        rec["measured"] = 7
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    old = gpu_check.catch_sigterm()
    try:
        rep.step("a", killed, 30)
        rep.step("b", lambda rec: rec.update(x=1), 30)
    finally:
        signal.signal(signal.SIGTERM, old)
        gpu_check._TERM.update(asked=False, armed=False)
    got = json.loads((tmp_path / "r.json").read_text())["sections"]
    assert got["a"]["status"] == "stopped" and got["a"]["measured"] == 7 and got["a"]["seconds"] < 4
    assert got["b"]["status"] == "not run" and "x" not in got["b"]


@pytest.mark.slow  # ~30 s on 2 idle cores (imports, six tiny steps, probes)
def test_tiny_cpu_run_writes_every_section(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("OUT", None)
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--tiny", "--out", str(out)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    rep = json.loads((out / "gpu_check.json").read_text())
    log = (out / "gpu_check.log").read_text()
    assert "wrote" in log and "exit status 0" in log
    assert rep["schema"] == gpu_check.SCHEMA and rep["mode"] == "tiny" and rep["all_ok"]
    sec = rep["sections"]
    assert list(sec) == list(gpu_check.SECTIONS)
    assert all(s["status"] == "ok" for s in sec.values()), {k: s.get("error") for k, s in sec.items()}
    assert sec["data"]["n_images"] == 600
    ib = sec["ibot_vmf_throughput"]
    for k in ("engine_img_per_s", "plain_img_per_s", "model_only_img_per_s", "loader_only_img_per_s"):
        assert ib[k] > 0, k
    assert ib["crops_per_image"] == 4 and ib["target_engine_img_per_s"] == 5000
    for m in ("moco", "byol"):
        assert sec[f"{m}_throughput"]["engine_img_per_s"] > 0 and sec[f"{m}_throughput"]["model_only_img_per_s"] > 0
    em = sec["embedding_throughput"]
    assert em["img_per_s"] > 0 and em["img_per_s_no_workers"] > 0 and em["images"] == 1200
    ssl = sec["ssl_run"]
    assert ssl["steps"] >= 4 and ssl["images_seen"] == ssl["steps"] * ssl["batch_size"]
    assert set(ssl["probes"]) == {"random-init ViT", "iBOT-vMF (this run)", "13 geometric features"}
    for p in ssl["probes"].values():
        assert 0 <= p["knn_pct"] <= 100 and 0 <= p["logreg_pct"] <= 100
    assert set(ssl["probe_rows"]) == {"train", "val", "test"} and ssl["probe_rows"]["test"] > 0
    peaks = sec["peak_memory"]["gib"]
    assert {"ibot_vmf_throughput.engine", "moco_throughput.engine", "embedding_throughput", "ssl_run"} <= set(peaks)
