"""The paper profile's dry run (``paper-dry``): the paper profile shrunk only in size, by one
table, and ``icepaper run --profile paper --dry-run`` runs it."""

from __future__ import annotations

import pytest

from icepaper.core import cli, runner
from icepaper.core.profiles import (
    PAPER_DRY_SHRINK,
    PROFILES,
    derive_dry,
    dry_run_profile,
    get_profile,
)

PAPER, DRY = PROFILES["paper"], PROFILES["paper-dry"]


def _keys(profile):
    return [(sec, key) for sec, values in profile.items() for key in values]


def test_every_key_not_in_the_table_keeps_its_paper_value():
    assert _keys(DRY) == _keys(PAPER)
    kept = [(s, k) for s, k in _keys(PAPER) if f"{s}.{k}" not in PAPER_DRY_SHRINK]
    assert len(kept) > len(PAPER_DRY_SHRINK)  # the networks, crops, heads, schedules, modes ...
    for sec, key in kept:
        assert DRY[sec][key] == PAPER[sec][key] and type(DRY[sec][key]) is type(PAPER[sec][key]), (sec, key)


def test_the_table_only_shrinks_sizes_and_says_why():
    for name, (value, why) in PAPER_DRY_SHRINK.items():
        sec, key = name.split(".")
        paper = PAPER[sec][key]
        assert DRY[sec][key] == value and why.strip(), name
        if isinstance(paper, list):
            assert len(value) <= len(paper) and all(0 < d <= p for d, p in zip(value, paper)), name
        else:
            assert type(value) is type(paper) and 0 < value <= paper, name


def test_paper_shape_is_kept():
    """What the dry run is for: the paper's networks, crops, heads and code paths."""
    p, d = get_profile("paper"), get_profile("paper-dry")
    for key in ("vit", "vit_img_size", "vit_local_size", "n_local", "vit_depth", "vit_embed_dim",
                "n_prototypes", "resnet", "resnet_img_size", "moco_queue", "checkpoint_minutes"):
        assert d.pretrain[key] == p.pretrain[key], key
    assert (d.data.image_size, d.pretrain.vit, d.pretrain.resnet) == (224, "vit_small_patch16_224", "resnet50")
    assert d.curation.levels == len(d.curation.k) == 3 and d.cssl.finetune == "all"
    assert (d.rosettes.image_size, d.rosettes.resvae_size) == (p.rosettes.image_size, p.rosettes.resvae_size)


def test_derive_dry_refuses_a_growth_or_an_unknown_key():
    with pytest.raises(ValueError, match="not the paper's"):
        derive_dry(PAPER, {"pretrain.steps": (10**9, "more")})
    with pytest.raises(ValueError, match="not the paper's"):
        derive_dry(PAPER, {"curation.k": ([1, 2, 3, 4], "a fourth level")})
    with pytest.raises(ValueError, match="not the paper's"):
        derive_dry(PAPER, {"cssl.finetune": ("head", "another mode")})
    with pytest.raises(ValueError, match="not in the paper profile"):
        derive_dry(PAPER, {"pretrain.stepz": (2, "typo")})
    assert PAPER["pretrain"]["steps"] == 312_500  # the paper profile itself is untouched


def test_dry_run_flag_maps_the_profile(monkeypatch, capsys):
    seen = {}

    def fake_run(profile, **kw):
        seen["profile"] = profile
        return []

    monkeypatch.setattr(runner, "run_notebooks", fake_run)
    assert cli.main(["run", "--profile", "paper", "--dry-run", "--only", "03"]) == 0
    assert seen["profile"] == "paper-dry"
    assert dry_run_profile("paper-dry") == "paper-dry"
    assert cli.main(["run", "--profile", "smoke", "--dry-run"]) == 2
    assert "no dry-run variant" in capsys.readouterr().err


def test_run_config_knows_a_dry_run(tmp_path):
    """Notebooks skip checks of what training achieved on a dry run (``cfg.dry_run``), only there."""
    from icepaper.core.config import setup

    flags = {p: setup("07_kappa_diversity", profile=p, out=str(tmp_path)).dry_run for p in PROFILES}
    assert flags == {p: p == "paper-dry" for p in PROFILES}


def test_torchrun_entry_takes_dry_run_too(monkeypatch):
    """``torchrun ... -m icepaper.ssl.pretrain --profile paper --dry-run`` sets up ``paper-dry``."""
    from icepaper.core import config
    from icepaper.ssl import pretrain

    class Stop(Exception):
        pass

    def fake_setup(notebook, profile, **kw):
        raise Stop(profile)

    monkeypatch.setattr(config, "setup", fake_setup)
    with pytest.raises(Stop, match="^paper-dry$"):
        pretrain.main(["--method", "moco", "--profile", "paper", "--dry-run"])
    with pytest.raises(Stop, match="^paper$"):
        pretrain.main(["--method", "moco", "--profile", "paper"])


@pytest.mark.slow
@pytest.mark.dryrun  # 03 + 06 took 1,660 s on 2 CPU cores at load 3-4 (ViT-S/16 and ResNet-50 at 224 px)
def test_paper_dry_run_of_pretraining_and_label_budget(tmp_path, monkeypatch):
    """Notebooks 03 (the four pretrainings at paper shape, checkpoints, held-out losses, kNN and
    health checks) and 06 (whole-network fine-tuning of ResNet-50 at 224 px, folds x budgets)
    run to their end on the paper-dry profile, on their own tiny generated dataset."""
    import json

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ICEPAPER_IMAGENET_WEIGHTS", raising=False)
    out = tmp_path / "run"
    res = runner.run_notebooks("paper-dry", out=out, only="03,06", publish=False, fail_fast=True,
                               echo=lambda line: None)
    assert [(r.name, r.status) for r in res] == [("03_pretraining", "ok"), ("06_cssl_label_budget", "ok")]
    r03 = json.loads((out / "results" / "03_pretraining.json").read_text())
    assert r03["profile"] == "paper-dry" and r03["profile_values"] == get_profile("paper-dry").as_dict()
    assert {name: run["steps"] for name, run in r03["runs"].items()} == {m: 2 for m in ("ibot_vmf", "ibot", "moco", "byol")}
    r06 = json.loads((out / "results" / "06_cssl_label_budget.json").read_text())
    assert r06["profile_values"]["cssl"]["finetune"] == "all"
    datasets = list((tmp_path / "home" / "datasets").iterdir())
    assert [d.name.split("-")[:3] for d in datasets] == [["synthetic", "320", "224px"]]
