"""The README's results table: generated from the results JSON, and each row's verdict follows it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from icepaper.papers import glance, ko2024
from icepaper.rosettes.shape_models import ModelResult, results_table

ROOT = Path(__file__).resolve().parents[1]
PV = {"data": {"n_images": 100}, "pretrain": {"vit_depth": 4, "vit_embed_dim": 192, "vit_img_size": 96, "steps": 300,
                                               "batch_size": 32, "resnet": "resnet18", "resnet_img_size": 64},
      "cssl": {"folds": 5, "finetune": "head", "baseline_img_size": 32},
      "rosettes": {"image_size": 64}}


def _ordering(diff, lo, hi, state):
    return {"verdict": state, "difference_pp": diff, "interval": f"[{lo}, {hi}] pp", "rule": "", "note": ""}


def test_rows_carry_the_notebooks_verdicts():
    res = {"05_probes": {"profile": "default", "data": "synthetic-default", "profile_values": PV,
                         "splits": {"test": 2000},
                         "orderings": {"SSL above the geometric baseline (logistic regression)":
                                       _ordering(-1.1, -3.1, 1.1, "not resolved"),
                                       "curated >= full (logistic regression)": _ordering(-3.5, -5, -2, "fails")}},
           "07_kappa_diversity": {"profile": "default", "profile_values": PV, "population": "CPI particles",
                                  "slopes": {"temperature": {"slope": -8.8, "ci_low": -11.7, "ci_high": -6.4},
                                             "size": {"slope": 12.0, "ci_low": 3.0, "ci_high": 20.0}},
                                  "kappa_by_campaign": [{"group": "A", "kappa": 100.0, "ci_low": 90.0, "ci_high": 110.0},
                                                        {"group": "B", "kappa": 200.0, "ci_low": 105.0, "ci_high": 300.0}]}}
    t = glance.headline_rows(res).set_index("claim")
    assert t.loc["self-supervised features beat the 13 geometric features (logistic-regression probe)",
                 "verdict"] == "not resolved"
    assert t.loc["training on the curated set is at least as good as on all images", "verdict"] == "fails"
    # the paper's temperature trend: kappa falls with temperature (holds); size: kappa rises (holds)
    assert set(t.loc[t.notebook == "07", "verdict"]) == {"holds", "not resolved"}
    assert t.loc["habit diversity differs between campaigns", "verdict"] == "not resolved"  # intervals overlap
    assert (t.work == glance.KO2025).all()


def test_the_rosette_sentences_parse():
    def res(model, views, inputs, r2, angle=None):
        m = {"r2_rho_eff": r2, "r2_sa_eff": r2, "bacc_n_arms": r2}
        return ModelResult(model, views, inputs, m, np.zeros((0, 2)), np.zeros(0), angle)
    results = [res("linear", 1, "TALK_7", 0.90), res("ResNet-18", 1, "images", 0.97),
               res("ResNet-18", 2, "images", 0.99, 90.0)]
    sentences = ko2024.ordering_verdicts(results_table(results))
    r08 = {"profile": "default", "profile_values": PV, "n_rosettes": 10, "verdicts": sentences,
           "clustering": {"128d_vs_2d_nmi": {"estimate": 0.002, "low": -0.01, "high": 0.013, "state": "not resolved"}}}
    t = glance.headline_rows({"08_vae_synthetic_rosettes": r08})
    assert len(t) == 3 and (t.work == glance.KO2024).all()
    assert t.verdict.tolist() == ["not resolved"] * 3  # no per-image predictions, and an NMI interval around 0
    assert t.ours.iloc[0] == "ResNet-18 0.970 vs linear 0.900"
    assert t.ours.iloc[1].startswith("0 of 3 comparisons better")


def test_readme_table_is_generated_from_the_committed_results():
    assert sorted(p.stem for p in (ROOT / "results").glob("*.json")), "results/ holds no results JSON"
    for p in (ROOT / "results").glob("*.json"):
        assert json.loads(p.read_text())["profile"] == "default", p
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "results_table.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
