"""Notebook setup: parameters -> config, figures and results JSON."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import icepaper  # noqa: E402


def test_setup_writes_figures_and_results(tmp_path):
    cfg = icepaper.setup("99_test", profile="smoke", seed=3, out=str(tmp_path))
    assert cfg.profile.name == "smoke" and cfg.uses_default_data and cfg.device in {"cpu", "cuda"}
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = cfg.save_figure(fig, "ko2025_test")
    assert png.exists() and png.with_suffix(".pdf").exists()
    cfg.record(accuracy=0.5)
    cfg.record(n=3)
    res = json.loads(cfg.results_path.read_text())
    assert res["accuracy"] == 0.5 and res["n"] == 3 and res["profile"] == "smoke" and res["seed"] == 3
    assert cfg.load_results("99_test")["n"] == 3


def test_figures_are_byte_stable(tmp_path):
    cfg = icepaper.setup("99_test", profile="smoke", out=str(tmp_path))
    blobs = []
    for _ in range(2):
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [1, 0, 1])
        blobs.append(cfg.save_figure(fig, "stable").read_bytes())
        plt.close(fig)
    assert blobs[0] == blobs[1]


def test_bad_parameters_are_clear(tmp_path):
    with pytest.raises(ValueError, match="valid profiles"):
        icepaper.setup("x", profile="huge")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        icepaper.setup("x", profile="smoke", data=str(tmp_path / "missing"))


def test_results_json_is_strict_json(tmp_path):
    import numpy as np

    cfg = icepaper.setup("00_test", profile="smoke", out=str(tmp_path))
    cfg.record(a=float("nan"), b=[1.5, np.float32("inf")], c={"d": np.array([np.nan, 2.0])}, e=np.int64(3))
    text = cfg.results_path.read_text()
    assert "NaN" not in text and "Infinity" not in text

    def strict(token):
        raise ValueError(f"non-standard JSON token {token}")

    data = json.loads(text, parse_constant=strict)
    assert data["a"] is None and data["b"] == [1.5, None] and data["c"] == {"d": [None, 2.0]} and data["e"] == 3


def test_skip_prints_one_line_and_is_recorded(tmp_path, capsys):
    cfg = icepaper.setup("00_test", profile="smoke", out=str(tmp_path))
    cfg.skip("class gallery", "no labels in this dataset")
    assert capsys.readouterr().out == "skipped: class gallery (no labels in this dataset)\n"
    cfg.record(n=1)
    res = json.loads(cfg.results_path.read_text())
    assert res["skipped"] == {"class gallery": "no labels in this dataset"}
