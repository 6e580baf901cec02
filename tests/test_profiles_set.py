"""Profile values you can see and override: ``--set section.key=value``, ``profile_values`` in
run.json and the results JSON, and no hidden defaults behind the profiles (a missing key is an
error naming it)."""

import json
from types import SimpleNamespace

import nbformat
import pytest

import icepaper
from icepaper.core import cli
from icepaper.core.profiles import (
    PROFILES,
    SSL_METHOD_HPARAMS,
    cache_values,
    get_profile,
    parse_set,
    parse_value,
)
from icepaper.core.runner import run_notebooks


def test_parse_set_reads_literals_else_strings():
    assert parse_set(["pretrain.steps=600", "cssl.finetune=head", "cssl.budgets=[32, 'all']",
                      "kappa.grid_max_cost=null", "pretrain.ibot_lr=1e-3", "probes.max_train=None"]) == {
        "pretrain.steps": 600, "cssl.finetune": "head", "cssl.budgets": [32, "all"],
        "kappa.grid_max_cost": None, "pretrain.ibot_lr": 1e-3, "probes.max_train": None}
    assert parse_value("true") is True and parse_value("a b") == "a b"
    for bad in ("pretrain", "steps=3", "pretrain.=3", ".steps=3"):
        with pytest.raises(ValueError, match="SECTION.KEY=VALUE"):
            parse_set([bad])


def test_override_changes_the_value_and_is_recorded():
    p = get_profile("smoke", {"pretrain.steps": 600, "pretrain.ibot_lr": 1, "cssl.budgets": [16, "all"]})
    assert p.pretrain.steps == 600 and p.pretrain["steps"] == 600
    assert p.pretrain.ibot_lr == 1.0 and isinstance(p.pretrain.ibot_lr, float)  # int for a float key
    assert p.as_dict()["cssl"]["budgets"] == [16, "all"]
    assert p.overrides == {"pretrain.steps": 600, "pretrain.ibot_lr": 1.0, "cssl.budgets": [16, "all"]}
    assert get_profile("smoke").pretrain.steps == PROFILES["smoke"]["pretrain"]["steps"] == 6  # no leak
    # None where some profile has None; a list or a string where profiles have either
    get_profile("default", {"probes.max_train": None, "kappa.grid_max_cost": None, "cssl.budgets": "doubling"})


@pytest.mark.parametrize("over,match", [
    ({"ssl.steps": 600}, r"unknown profile section 'ssl' \(sections: data, augment, pretrain"),
    ({"pretrain.stepz": 600}, r"has no key 'pretrain.stepz' \(its pretrain keys: vit, .*steps"),
    ({"pretrain.steps": "600"}, r"a str, but pretrain.steps takes int"),
    ({"pretrain.steps": 6.0}, r"a float, but pretrain.steps takes int"),
    ({"cssl.folds": True}, r"a bool, but cssl.folds takes int"),
    ({"cssl.finetune": 3}, r"a int, but cssl.finetune takes str"),
])
def test_bad_override_is_one_line_naming_it(over, match):
    with pytest.raises(ValueError, match=match) as e:
        get_profile("smoke", over)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("arg,words", [
    ("ssl.steps=600", ["'ssl'", "pretrain"]),
    ("pretrain.stepz=600", ["pretrain.stepz", "moco_steps"]),
    ("pretrain.steps=abc", ["pretrain.steps", "int"]),
    ("pretrain", ["SECTION.KEY=VALUE"]),
])
def test_cli_set_errors_exit_2_in_one_line(capsys, tmp_path, arg, words):
    assert cli.main(["run", "--profile", "smoke", "--out", str(tmp_path / "o"), "--set", arg]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("icepaper run: error: ")
    for w in words:
        assert w in err
    assert not (tmp_path / "o").exists()  # nothing ran


def test_cli_help_gives_a_real_example():
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--set" in help_text and "pretrain.steps=600" in " ".join(help_text.split())


def test_setup_applies_overrides_and_record_writes_them(tmp_path):
    cfg = icepaper.setup("99_test", profile="smoke", out=str(tmp_path),
                         overrides={"cssl.folds": 3, "pretrain.steps": 600})
    assert cfg.profile.cssl.folds == 3 and cfg.profile.pretrain.steps == 600
    cfg.record(x=1)
    res = json.loads(cfg.results_path.read_text())
    assert res["profile"] == "smoke" and res["x"] == 1
    assert res["overrides"] == {"cssl.folds": 3, "pretrain.steps": 600}
    assert res["profile_values"]["cssl"]["folds"] == 3
    assert res["profile_values"]["data"] == PROFILES["smoke"]["data"]
    # the command-line form works in setup too; no overrides: the profile as it is
    assert icepaper.setup("99_test", profile="smoke", out=str(tmp_path),
                          overrides=["cssl.folds=4"]).profile.cssl.folds == 4
    plain = icepaper.setup("99_test", profile="smoke", out=str(tmp_path))
    plain.record()
    res = json.loads(plain.results_path.read_text())
    assert res["overrides"] == {} and res["profile_values"] == get_profile("smoke").as_dict()


def _nb(path, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "default"\nseed = 0\ndata = ""\nout = ""\noverrides = {}')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_run_passes_overrides_to_the_notebook_and_records_them(tmp_path):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _nb(nbdir / "01_one.ipynb", "import icepaper\n"
        "cfg = icepaper.setup('01_one', profile=profile, seed=seed, data=data, out=out, overrides=overrides)\n"
        "cfg.record(steps=cfg.profile.pretrain.steps, folds=cfg.profile.cssl['folds'])")
    out = tmp_path / "out"
    over = parse_set(["pretrain.steps=600", "cssl.folds=3"])
    res = run_notebooks("smoke", out=out, notebooks_folder=nbdir, publish=False, echo=lambda s: None,
                        overrides=over)
    assert [r.status for r in res] == ["ok"]
    results = json.loads((out / "results" / "01_one.json").read_text())
    assert (results["steps"], results["folds"]) == (600, 3)
    assert results["overrides"] == over and results["profile_values"]["pretrain"]["steps"] == 600
    run = json.loads((out / "run.json").read_text())
    assert run["profile"] == "smoke" and run["overrides"] == over
    assert run["profile_values"] == get_profile("smoke", over).as_dict()
    assert run["notebooks"]["01_one"]["overrides"] == over
    # resume with other overrides reruns; with the same ones it skips
    res = run_notebooks("smoke", out=out, notebooks_folder=nbdir, publish=False, resume=True,
                        echo=lambda s: None, overrides=over)
    assert [r.status for r in res] == ["skipped (resume)"]
    res = run_notebooks("smoke", out=out, notebooks_folder=nbdir, publish=False, resume=True,
                        echo=lambda s: None)
    assert [r.status for r in res] == ["ok"]
    results = json.loads((out / "results" / "01_one.json").read_text())
    assert results["steps"] == 6 and results["overrides"] == {}
    # without overrides the notebook is parameterised as before (no overrides line injected)
    executed = nbformat.read(out / "notebooks" / "01_one.ipynb", as_version=4)
    assert "overrides =" not in "".join(c.source for c in executed.cells
                                      if "injected-parameters" in c.metadata.get("tags", []))


# ------------------------------------------------------------ no hidden defaults behind the profiles


def test_missing_key_names_itself_and_its_section():
    p = get_profile("smoke")
    with pytest.raises(KeyError, match=r"profile 'smoke' has no key 'pretrain.stepz'"):
        p.pretrain["stepz"]
    with pytest.raises(KeyError, match=r"profile 'smoke' has no key 'pretrain.stepz'"):
        p.pretrain.get("stepz", 6)  # a default given to get is no way around the profile
    with pytest.raises(AttributeError, match=r"profile 'smoke' has no key 'cssl.foldz'"):
        getattr(p.cssl, "foldz")  # noqa: B009
    with pytest.raises(AttributeError, match=r"profile 'smoke' has no section 'ssl'"):
        getattr(p, "ssl")  # noqa: B009
    assert "steps" in p.pretrain and "stepz" not in p.pretrain
    from icepaper.ssl.base import hparam

    with pytest.raises(KeyError, match="drop_path"):
        hparam({"steps": 3}, "drop_path")


def _small(profile: str) -> dict:
    """Overrides that shrink a profile's networks so every profile can build them in a test."""
    return {"pretrain.vit": "vit_tiny_patch16_224", "pretrain.vit_img_size": 32, "pretrain.vit_local_size": 16,
            "pretrain.vit_patch": 8, "pretrain.vit_depth": 1, "pretrain.vit_embed_dim": 32,
            "pretrain.vit_heads": 2, "pretrain.head_hidden": 32, "pretrain.head_bottleneck": 16,
            "pretrain.n_prototypes": 32, "pretrain.resnet": "resnet18", "pretrain.resnet_img_size": 32,
            "pretrain.proj_hidden": 32, "pretrain.proj_out": 16, "pretrain.moco_queue": 64}


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_key_the_ssl_code_reads_exists_in_every_profile(profile):
    """Building each method, its crops, steps and cache key reads every pretrain key they use:
    with no fallbacks left, a key missing from a profile would raise here."""
    import torch

    from icepaper.ssl import pretrain

    torch.manual_seed(0)
    cfg = SimpleNamespace(profile=get_profile(profile, _small(profile)), seed=0)
    ds = SimpleNamespace(fingerprint="test")
    for method in pretrain.METHODS:
        m = pretrain.build_method(cfg, method)
        assert m.lr > 0 and pretrain.default_steps(cfg, method) > 0
        assert pretrain.crop_sizes(cfg, method)["global_size"] == 32
        assert pretrain.cache_key(cfg, ds, method, indices=[0])["pretrain"]
    for key, value in SSL_METHOD_HPARAMS.items():
        assert PROFILES[profile]["pretrain"][key] == value


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_profile_loads_with_every_section(profile):
    p = get_profile(profile)
    assert set(p.as_dict()) == set(PROFILES["smoke"])
    for sec, values in p.as_dict().items():
        assert values.keys() == PROFILES["smoke"][sec].keys(), (profile, sec)
        for key in values:
            assert getattr(p, sec)[key] is not ... and key in getattr(p, sec)


def test_cache_keys_leave_out_the_method_values_unless_changed():
    """The keys added to ``pretrain`` keep earlier cache keys; changing one changes the key."""
    from icepaper.ssl import pretrain

    ds = SimpleNamespace(fingerprint="test")
    base = SimpleNamespace(profile=get_profile("smoke"), seed=0)
    s = cache_values(base.profile.pretrain, "pretrain")
    assert not set(SSL_METHOD_HPARAMS) & set(s) and "steps" in s
    changed = SimpleNamespace(profile=get_profile("smoke", {"pretrain.drop_path": 0.0}), seed=0)
    assert cache_values(changed.profile.pretrain, "pretrain")["drop_path"] == 0.0
    assert pretrain.cache_key(base, ds, "ibot", indices=[0]) != pretrain.cache_key(changed, ds, "ibot", indices=[0])
    steps = SimpleNamespace(profile=get_profile("smoke", {"pretrain.steps": 600}), seed=0)
    assert pretrain.cache_key(steps, ds, "ibot", indices=[0])["steps"] == 600
    # how often a run checkpoints never changes what it computes
    often = SimpleNamespace(profile=get_profile("smoke", {"pretrain.checkpoint_minutes": 0.5}), seed=0)
    assert pretrain.cache_key(often, ds, "ibot", indices=[0]) == pretrain.cache_key(base, ds, "ibot", indices=[0])


def test_workshop_profile_reads_the_default_caches():
    """The workshop profile differs from default only in what notebook 08 trains in every run, so
    the data, networks, embeddings, curation and label-budget study that ``make workshop`` (or
    ``make paper``) cached are the ones a room reads, and 08 trains on fewer rosettes for fewer
    epochs."""
    work, default = PROFILES["workshop"], PROFILES["default"]
    assert set(work) == set(default)
    for section in default:
        if section != "rosettes":
            assert work[section] == default[section], section
    changed = {k for k in default["rosettes"] if work["rosettes"][k] != default["rosettes"][k]}
    assert changed and all(k.endswith(("_epochs", "_permutations")) or k == "n_rosettes" for k in changed), changed
    assert all(work["rosettes"][k] < default["rosettes"][k] for k in changed)
