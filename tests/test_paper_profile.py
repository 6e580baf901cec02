"""The ``paper`` profile: every key is read by the code, it has the other profiles' keys and
types, its values lie in the ranges the code accepts, and the values the three works state
match them (table ``PUBLISHED``: key, value, source section)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from icepaper.core.profiles import PROFILES, _allowed_types, get_profile

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("profile_reads", ROOT / "tools" / "profile_reads.py")
profile_reads = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(profile_reads)

PAPER = PROFILES["paper"]

# (section.key, value, where the work states it). Ko et al. 2025 = the iBOT-vMF paper (NeurIPS 2025
# workshop, arXiv 2509.07688), Chu et al. 2025 = the CSSL paper (HOLIMO), Ko 2024 = the talk.
PUBLISHED: list[tuple[str, object, str]] = [
    ("data.n_images", 3_200_000, "Ko et al. 2025, Method: CPI-3M, 3.2 million unlabelled CPI images"),
    ("pretrain.vit", "vit_small_patch16_224", "Ko et al. 2025, Method: a ViT-Small (ViT-S/16)"),
    ("pretrain.vit_embed_dim", 384, "Ko et al. 2025, Method: 384-dimensional embeddings"),
    ("pretrain.batch_size", 1024, "Ko et al. 2025, Loss & Training: batch size 1024"),
    ("pretrain.steps", 312_500, "Ko et al. 2025, Table (main results): 100 epochs of CPI-3M = 100 x 3.2 M / 1024"),
    ("curation.sample_frac", 0.375, "Ko et al. 2025, Method 2: CPI-H-1M holds 1.2 of the 3.2 million images"),
    ("pretrain.short_steps", 11_719, "Ko et al. 2025, Method 3: 10 epochs of CPI-H-1M = ceil(10 x 1.2 M / 1024)"),
    ("pretrain.resnet", "resnet50", "Chu et al. 2025 Sect. 3.2: ResNet50"),
    ("pretrain.resnet_img_size", 224, "Chu et al. 2025 Sect. 3.1: crops resized to 224 x 224"),
    ("augment.global_size", 224, "Chu et al. 2025 Sect. 3.1: crops resized to 224 x 224"),
    ("pretrain.proj_hidden", 4096, "Chu et al. 2025 Sect. 3.2: projector hidden layer of 4096 neurons"),
    ("pretrain.proj_out", 256, "Chu et al. 2025 Sect. 3.2: 256-d output (embedding) layer"),
    ("cssl.finetune", "all", "Chu et al. 2025 Sects. 3.4, 4.2.1: the transferred encoder is fine-tuned with the head"),
    ("cssl.folds", 5, "Chu et al. 2025 Sect. 3.5.1: 5-fold cross-validation"),
    ("cssl.budgets", "doubling", "Chu et al. 2025 Table 4: 128, 256, ..., 16384 and all"),
    ("cssl.min_budget", 128, "Chu et al. 2025 Table 4: the smallest training set, 128 images"),
    ("cssl.batch_size", 256, "Chu et al. 2025 Sect. 4.1: fine-tuning on 4 GPUs with 64 images each"),
    ("cssl.finetune_lr", 0.01, "Chu et al. 2025 Sect. 4.1: warm-up from 1e-5 to a target of e.g. 0.01"),
    ("cssl.baseline_img_size", 224, "Chu et al. 2025 Sect. 3.1 / App. B: the baseline trains like the fine-tuning"),
    ("cssl.baseline_batch_size", 256, "Chu et al. 2025 Sect. 4.1 / App. B (same training time as fine-tuning)"),
    ("cssl.baseline_lr", 0.01, "Chu et al. 2025 Sect. 4.1 / App. B (same scheduler and target)"),
    ("rosettes.vae_images_per_class", 100, "Ko 2024, Part 2 (spheres vs rosettes): 100 images per class"),
    ("rosettes.resvae_images", 100_000, "Ko 2024, Part 2 (ResNetVAE): N = 100,000 samples, 9 classes"),
    ("rosettes.resvae_size", 224, "Ko 2024, Part 2 (ResNetVAE): input resolution 224 x 224"),
    ("rosettes.n_rosettes", 70_000, "docs/science.md §4: the published follow-up of Ko 2024 (the talk's "
                                    "preliminary set: 9,000)"),
]

# Where the paper profile knowingly departs from a stated value (checked, so the note stays true).
DEVIATIONS: dict[str, tuple[object, str]] = {
    "pretrain.batch_size": (1024, "Chu et al. 2025 Sect. 4.1 pretrained MoCo/BYOL at batch 256; one key serves "
                                  "iBOT-vMF and MoCo/BYOL, and the paper profile follows Ko et al. 2025"),
}

# Keys the paper profile may lack or add against smoke/default (none today).
KEY_EXCEPTIONS: dict[str, str] = {}

# A key whose paper value may be None where the other profiles give a number: the limit is off.
NONE_ALLOWED = {"kappa.grid_max_cost": "no cost cap: the full estimator grid (notebook 07)",
                "probes.max_train": "all labelled images", "probes.max_val": "all labelled images",
                "probes.max_test": "all labelled images"}


def _get(name: str, profile: str = "paper"):
    section, key = name.split(".")
    return PROFILES[profile][section][key]


# --------------------------------------------------------------------------- read by the code


@pytest.fixture(scope="module")
def reads():
    return profile_reads.ProfileReads(profile_reads.code_units(), PAPER)


def test_every_paper_profile_key_is_read_by_the_code(reads):
    """Each section.key is looked up on its section by the package or a notebook (static check,
    tools/profile_reads.py): a key nothing reads would change nothing when a user sets it."""
    unread = [f"{s}.{k}" for s, sec in PAPER.items() for k in sec if not reads.is_read(s, k)]
    assert unread == [], f"profile keys no code reads: {unread}"


def test_the_read_check_finds_unread_keys():
    """The check follows sections through names, copies, returns and calls; a key looked up on
    something that is not its section, or not at all, is reported."""
    units = {
        "a.py": ("from dataclasses import dataclass\n"
                 "@dataclass\nclass Params:\n    warmup_frac: float = 0.1\n"
                 "def _sections(cfg):\n    sec = dict(cfg.profile.cssl)\n    return sec, Params.from_section(sec)\n"
                 "def run(cfg):\n    sec, hp = _sections(cfg)\n    helper(sec, 'hidden')\n"
                 "    return sec['folds'], sec.get('epochs'), {s: sec[f'max_{s}'] for s in ('train', 'val')}\n"),
        "b.py": "def helper(section, key):\n    return section[key]\n",
        "c.py": "d = {'budgets': 1}\nx = d['budgets']\ndef g(y):\n    return y['min_budget']\n",
    }
    keys = ["budgets", "min_budget", "folds", "epochs", "hidden", "warmup_frac", "max_train", "max_val", "max_test"]
    unread = profile_reads.unread_keys({"p": {"cssl": dict.fromkeys(keys, 0)}}, units)
    assert unread == ["cssl.budgets", "cssl.max_test", "cssl.min_budget"]


def test_dropping_a_real_lookup_is_reported():
    """On the real code of the label-budget study (package chapter and notebook 06): every cssl
    key is read; without the study's one lookup of tsne_points that key is reported."""
    units = {u: t for u, t in profile_reads.code_units().items()
             if u.startswith(("src/icepaper/cssl/", "notebooks/06_"))}
    cssl = {"paper": {"cssl": PAPER["cssl"]}}
    assert profile_reads.unread_keys(cssl, units) == []
    units["src/icepaper/cssl/study.py"] = units["src/icepaper/cssl/study.py"].replace('sec["tsne_points"]', "500")
    assert profile_reads.unread_keys(cssl, units) == ["cssl.tsne_points"]


# --------------------------------------------------------------------------- keys, types, ranges


def test_paper_profile_has_the_keys_of_default_and_smoke():
    for other in ("smoke", "default"):
        assert set(PAPER) == set(PROFILES[other])
        for section, values in PAPER.items():
            diff = set(values) ^ set(PROFILES[other][section])
            assert {f"{section}.{k}" for k in diff} <= set(KEY_EXCEPTIONS), (other, section, diff)


def test_paper_values_have_types_the_code_takes():
    """The paper profile brings no type the CPU profiles do not use (``_allowed_types`` is what
    ``--set`` accepts), except None where it lifts a limit (``NONE_ALLOWED``)."""
    for section, values in PAPER.items():
        for key, value in values.items():
            name = f"{section}.{key}"
            cpu = {type(PROFILES[p][section][key]) for p in ("smoke", "default")}
            allowed = set(_allowed_types(section, key))
            assert allowed - cpu <= ({type(None)} if name in NONE_ALLOWED else set()), (name, allowed, cpu)
            ok = type(value) in cpu or (value is None and name in NONE_ALLOWED) or (
                type(value) is int and float in cpu)
            assert ok, f"{name}={value!r}: a {type(value).__name__}, the CPU profiles use {cpu}"
    # and ``--set`` (apply_overrides, which checks each value's type) takes every paper value
    every = {f"{s}.{k}": v for s, values in PAPER.items() for k, v in values.items()}
    assert get_profile("default", every).as_dict() == PAPER


def _positive_int(v) -> bool:
    return type(v) is int and v > 0


def _fraction(v) -> bool:
    return isinstance(v, (int, float)) and 0 < v <= 1


@pytest.mark.parametrize("profile", list(PROFILES))
def test_values_lie_in_the_ranges_the_code_accepts(profile):
    """Sizes are positive, fractions in (0, 1], crops divide into ViT patches, the budget spec,
    fine-tuning depth, curation leaf and timm names are ones the code accepts."""
    import timm

    from icepaper.cssl.finetune import DEPTHS
    from icepaper.cssl.splits import budget_list

    P = PROFILES[profile]
    d, a, pre, cur, pr, cs, ka, ro = (P[s] for s in ("data", "augment", "pretrain", "curation", "probes", "cssl",
                                                     "kappa", "rosettes"))
    counts = [*d.values(), *(a[k] for k in ("global_size", "local_size", "ar_particles", "ar_draws")),
              *(pre[k] for k in ("vit_img_size", "vit_local_size", "vit_patch", "vit_depth", "vit_embed_dim",
                                 "vit_heads", "head_hidden", "head_bottleneck", "n_prototypes", "resnet_img_size",
                                 "proj_hidden", "proj_out", "batch_size", "steps", "resnet_steps", "moco_steps",
                                 "short_steps", "moco_queue", "knn_images", "heldout_images")),
              P["embed"]["batch_size"], cur["levels"], cur["resampling_steps"], pr["knn_k"],
              *(cs[k] for k in ("min_budget", "folds", "hidden", "epochs", "min_steps", "batch_size",
                                "baseline_img_size", "baseline_epochs", "baseline_min_steps", "baseline_batch_size",
                                "tsne_points")),
              *(v for k, v in ka.items() if k not in ("noise_frac", "grid_dims", "grid_ns", "grid_max_cost")),
              *ka["grid_dims"], *ka["grid_ns"], *ro.values()]
    assert all(_positive_int(v) for v in counts), [v for v in counts if not _positive_int(v)]
    assert a["n_local"] >= 0 and pre["n_local"] >= 0 and pre["num_workers"] >= 0
    assert 0 <= pre["warmup_steps"] < pre["steps"] and pre["short_steps"] <= pre["steps"]
    assert pre["vit_img_size"] % pre["vit_patch"] == 0 and pre["vit_local_size"] % pre["vit_patch"] == 0
    assert pre["vit_embed_dim"] % pre["vit_heads"] == 0
    assert timm.is_model(pre["vit"]) and timm.is_model(pre["resnet"])
    lrs = [pre[k] for k in ("ibot_lr", "moco_lr", "byol_lr", "ibot_min_lr", "teacher_temp", "teacher_temp_start",
                            "moco_temperature")] + [cs["lr"], cs["finetune_lr"], cs["baseline_lr"]]
    assert all(v > 0 for v in lrs) and pre["ibot_min_lr"] < pre["ibot_lr"]
    assert all(0 <= pre[k] < 1 for k in ("ibot_momentum", "moco_momentum", "byol_momentum", "drop_path"))
    assert pre["teacher_temp_start"] <= pre["teacher_temp"] and _fraction(pre["teacher_temp_warmup_frac"])
    assert pre["clip_grad"] >= 0 and pre["clip_grad_resnet"] >= 0 and pre["checkpoint_minutes"] >= 0
    assert len(cur["k"]) >= cur["levels"] and len(cur["samples_per_cluster"]) >= cur["levels"]
    assert all(_positive_int(v) for v in cur["k"] + cur["samples_per_cluster"]) and _fraction(cur["sample_frac"])
    assert cur["leaf"] in ("random", "closest")  # curation.balanced_sample refuses anything else
    assert pr["knn_temperature"] > 0 and all(c > 0 for c in pr["logreg_C"])
    assert all(pr[k] is None or _positive_int(pr[k]) for k in ("max_train", "max_val", "max_test"))
    assert cs["finetune"] in DEPTHS and cs["folds"] >= 2
    assert budget_list(20_000, cs["budgets"], cs["min_budget"])[0] == cs["min_budget"]  # a spec it takes
    assert 0 <= cs["momentum"] < 1 and cs["weight_decay"] >= 0 and 0 <= cs["warmup_frac"] < 1
    assert _fraction(ka["noise_frac"]) and (ka["grid_max_cost"] is None or ka["grid_max_cost"] > 0)
    assert ro["resvae_size"] % 16 == 0  # rosettes.resnet_vae needs a side divisible by 16


# --------------------------------------------------------------------------- the published recipes


@pytest.mark.parametrize(("name", "value", "source"), PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_paper_values_match_the_published_recipes(name, value, source):
    got = _get(name)
    assert type(got) is type(value) and got == value, f"{name} = {got!r}, but {source} gives {value!r}"


def test_published_arithmetic_and_consistency():
    """The derived values are the stated arithmetic; the baseline trains like the fine-tuned
    models (Chu et al. 2025 App. B: the same training time per budget)."""
    n, frac, bs = _get("data.n_images"), _get("curation.sample_frac"), _get("pretrain.batch_size")
    assert _get("pretrain.steps") == 100 * n // bs
    assert _get("pretrain.short_steps") == math.ceil(10 * n * frac / bs)
    assert round(n * frac) == 1_200_000
    for k in ("epochs", "min_steps", "batch_size"):
        assert _get(f"cssl.baseline_{k}") == _get(f"cssl.{k}"), k
    assert _get("cssl.baseline_lr") == _get("cssl.finetune_lr")
    assert _get("cssl.baseline_img_size") == _get("pretrain.resnet_img_size")


def test_documented_deviations_are_current():
    for name, (value, why) in DEVIATIONS.items():
        assert _get(name) == value, f"{name} changed: update DEVIATIONS ({why})"
