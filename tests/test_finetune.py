"""Fine-tuning in the label-budget study (Chu et al. 2025 Sect. 3.4, 4.1; ``icepaper.cssl.finetune``):
what trains at each depth (head only, head + last stage, all layers), frozen BatchNorm
statistics, the optimiser and schedule the profile gives, seeded determinism, a falling loss on
a separable toy problem, and the study run end to end with image fine-tuning. Tiny networks
(a four-stage ResNet-like CNN of width 4-8, a two-block ViT) on 16 px images keep each test
to a few seconds on one CPU core."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from icepaper.cssl.finetune import Classifier, _train_mode, finetune, last_stage, set_depth
from icepaper.cssl.heads import HeadParams, MLPHead, n_steps
from icepaper.ssl.schedules import warmup_cosine

SIZE = 16  # px the networks see


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: tiny tensors gain nothing from more, and on a busy 2-core machine the
    thread hand-offs make each BatchNorm call ~100x slower."""
    from icepaper.cssl.heads import single_thread

    with single_thread():
        yield
SIZES = {"global_size": SIZE, "local_size": SIZE // 2, "n_local": 0}  # the profile's augment section, shrunk


class TinyResNet(nn.Module):
    """A ResNet's layout in miniature: stem (conv1, bn1) and four conv-BN-ReLU stages named
    ``layer1``..``layer4`` (what ``last_stage`` looks for), global average pooling."""

    def __init__(self, width: int = 4):
        super().__init__()

        def stage(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.conv1 = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = stage(width, width, 1)
        self.layer2 = stage(width, 2 * width, 2)
        self.layer3 = stage(2 * width, 2 * width, 2)
        self.layer4 = stage(2 * width, 4 * width, 2)
        self.num_features = 4 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean((2, 3))


def tiny_vit() -> nn.Module:
    import timm

    return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=SIZE, patch_size=8, embed_dim=16,
                             depth=2, num_heads=2, in_chans=1, num_classes=0)


def make_encoder(arch: str = "resnet", seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyResNet() if arch == "resnet" else tiny_vit()


def _shape(cls: int, rng: np.random.Generator, size: int = 24) -> np.ndarray:
    """A dark disc (class 0) or a dark bar (class 1) on a bright, noisy background."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size / 2 + rng.uniform(-1.5, 1.5, 2)
    if cls == 0:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < (0.3 * size) ** 2
    else:
        mask = (np.abs(yy - cy) < 0.1 * size) & (np.abs(xx - cx) < 0.42 * size)
        mask = mask.T if rng.random() < 0.5 else mask
    im = np.where(mask, 40.0, 220.0) + rng.normal(0, 6, (size, size))
    return np.clip(im, 0, 255).astype(np.uint8)


@pytest.fixture
def shapes(packed_factory):
    """48 images, discs and bars alternating, with a ``cpi`` label column (no campaign)."""
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 24)
    meta = pd.DataFrame({"image_id": [f"s{k:03d}" for k in range(len(y))], "split": "train", "source_file": "",
                         "cpi": np.where(y == 0, "Plate", "Column")})
    return packed_factory(np.stack([_shape(c, rng) for c in y]), meta, name="shapes"), y


def _calibrate_bn(encoder: nn.Module, ds, rows) -> nn.Module:
    """Give a random-init encoder the BatchNorm statistics of the data (as a pretrained encoder has),
    so that a frozen stage in eval mode passes on normalised activations."""
    from icepaper.ssl.embedding import Preprocess

    bns = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batch
    encoder.train()
    with torch.no_grad():
        encoder(Preprocess(SIZE, 1, "cpu")(ds.batch(np.asarray(rows))))
    for m in bns:
        m.momentum = 0.1
    return encoder.eval()


HP = HeadParams(hidden=16, epochs=1, min_steps=8, batch_size=8, lr=0.05, momentum=0.9, weight_decay=1e-4,
                warmup_frac=0.25, n_evals=2)


def _trainable_prefixes(depth: str, arch: str) -> tuple[str, ...]:
    """Name prefixes of what ``depth`` trains ("": everything)."""
    if depth == "all":
        return ("",)
    last = ("encoder.layer4.",) if arch == "resnet" else ("encoder.blocks.1.", "encoder.norm.", "encoder.fc_norm.")
    return ("head.", *last) if depth == "head+last" else ("head.",)


def _trains(name: str, depth: str, arch: str) -> bool:
    return name.startswith(_trainable_prefixes(depth, arch))


# --------------------------------------------------------------------------- what trains


def test_last_stage_is_resnet_layer4_or_the_vit_last_block_and_norm():
    res = make_encoder("resnet")
    assert last_stage(res) == [res.layer4]
    vit = make_encoder("vit")
    stage = last_stage(vit)
    assert stage[0] is vit.blocks[-1] and vit.norm in stage and vit.blocks[0] not in stage
    with pytest.raises(ValueError, match="last stage of Linear"):
        last_stage(nn.Linear(2, 2))


@pytest.mark.parametrize("arch", ["resnet", "vit"])
@pytest.mark.parametrize("depth", ["head+last", "all"])
def test_depth_sets_which_parameters_get_gradients_and_which_modules_train(arch, depth):
    """After one backward pass exactly the parameters of the trained part have gradients; frozen
    parts are in eval mode (their BatchNorm statistics stay as they were)."""
    torch.manual_seed(0)
    enc = make_encoder(arch)
    model = Classifier(enc, MLPHead(enc.num_features, 8, 3))
    params = set_depth(model, depth)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    expect = {n for n, _ in model.named_parameters() if _trains(n, depth, arch)}
    assert names == expect and {id(p) for p in params} == {id(p) for n, p in model.named_parameters() if n in expect}
    if depth == "head+last":
        assert any(n.startswith("encoder.") for n in names)  # the last stage trains ...
        assert any(not _trains(n, depth, arch) for n, _ in model.named_parameters())  # ... the rest does not
    _train_mode(model, depth)
    for name, mod in model.named_modules():
        if name and not list(mod.children()):  # leaf modules
            assert mod.training == _trains(name + ".", depth, arch), name
    x = torch.randn(4, 1, SIZE, SIZE)
    nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0])).backward()
    for n, p in model.named_parameters():
        if n in expect:
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, n
        else:
            assert p.grad is None, n


def test_head_only_is_the_feature_path_and_leaves_the_encoder_untouched(tmp_path, monkeypatch, shapes):
    """``finetune`` trains on images only (head+last, all); depth 'head' is the study's cached-
    feature path: the encoder runs once in eval mode and no weight or BatchNorm statistic moves."""
    from icepaper.core.profiles import get_profile
    from icepaper.cssl import Encoder, encoder_features
    from icepaper.cssl.heads import train_head

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="'head\\+last' or 'all'"):
        set_depth(Classifier(make_encoder(), MLPHead(16, 8, 2)), "head")
    ds, y = shapes
    enc = make_encoder()
    enc.train()  # a training-mode encoder would update its BatchNorm statistics on every batch
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cfg = SimpleNamespace(profile=get_profile("smoke"), device="cpu", seed=0)
    e = Encoder("moco", "moco", "test", {"kind": "test-frozen"}, SIZE, lambda: enc)
    x = encoder_features(cfg, e, ds, np.arange(len(y)))
    assert x.shape == (len(y), enc.num_features)
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())
    head, log = train_head(x[:32], y[:32], 2, HP, seed=0)
    assert len(log.loss) == n_steps(32, HP)


# --------------------------------------------------------------------------- a run


def _run(ds, y, depth, arch="resnet", seed=0, hp=HP, lr=0.05, rows=None, encoder=None, **kw):
    rows = np.arange(32) if rows is None else rows
    enc = encoder if encoder is not None else make_encoder(arch)
    return finetune(enc, ds, rows, y[rows], 2, hp, depth, SIZE, SIZES, seed=seed, lr=lr, **kw)


@pytest.mark.parametrize("depth", ["head+last", "all"])
def test_finetune_moves_the_trained_part_only_and_frozen_batchnorm_statistics_stay(depth, shapes):
    ds, y = shapes
    enc = make_encoder()
    start = {f"encoder.{k}": v.clone() for k, v in enc.state_dict().items()}
    model, log = _run(ds, y, depth, encoder=enc)
    assert model.encoder is enc and not model.training
    assert len(log.loss) == n_steps(32, HP) and np.isfinite(log.loss).all()
    for k, v in model.state_dict().items():
        if not k.startswith("encoder."):
            continue
        moved = not torch.equal(start[k], v)
        if _trains(k, depth, "resnet"):  # weights and BatchNorm statistics of the trained stages move
            assert moved, f"{k} should train at depth {depth!r}"
        else:  # frozen stages: weights, running mean/var and num_batches_tracked unchanged
            assert not moved, f"{k} should stay frozen at depth {depth!r}"
    n_bn = model.encoder.layer1[1].num_batches_tracked
    assert int(n_bn) == (len(log.loss) if depth == "all" else 0)


def test_finetune_of_a_vit_last_block_leaves_earlier_blocks(shapes):
    ds, y = shapes
    enc = make_encoder("vit")
    start = {k: v.clone() for k, v in enc.state_dict().items()}
    model, _ = _run(ds, y, "head+last", arch="vit", encoder=enc)
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(start[k], v) != _trains(f"encoder.{k}", "head+last", "vit"), k


@pytest.mark.parametrize("depth", ["head+last", "all"])
def test_loss_falls_and_the_toy_classes_separate(depth, shapes):
    """Discs vs bars: the training loss falls and held-out images are classified (eval mode,
    evaluation transform) well above chance. The encoder's BatchNorm statistics are calibrated
    on the data first, as a pretrained encoder's are."""
    ds, y = shapes
    enc = _calibrate_bn(make_encoder(), ds, np.arange(32))
    hp = HeadParams(hidden=16, epochs=8, min_steps=40, batch_size=16, lr=0.05, momentum=0.9, weight_decay=1e-4,
                    warmup_frac=0.1, n_evals=4)
    model, log = _run(ds, y, depth, hp=hp, lr=0.05, encoder=enc, val_rows=np.arange(32, 48), y_val=y[32:])
    first, last = np.mean(log.loss[:5]), np.mean(log.loss[-5:])
    assert last < 0.5 * first, (first, last)
    assert log.val_acc[-1] >= 87.5, log.val_acc  # at most 2 of 16 held-out images wrong


# --------------------------------------------------------------------------- optimiser, schedule, seed


def test_optimizer_and_schedule_are_the_profiles(shapes, monkeypatch):
    """SGD (Nesterov) over exactly the trained parameters, with the profile's momentum and weight
    decay; learning rate from 1e-5 rising linearly over warmup_frac of the steps to ``lr``, then
    cosine to 0 (Chu et al. 2025 Sect. 4.1)."""
    ds, y = shapes
    seen = []
    real = torch.optim.SGD

    class Spy(real):
        def __init__(self, params, **kw):
            params = list(params)
            seen.append((params, kw))
            super().__init__(params, **kw)

    monkeypatch.setattr(torch.optim, "SGD", Spy)
    model, log = _run(ds, y, "head+last", lr=0.03)
    ((params, kw),) = seen
    assert {id(p) for p in params} == {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in params} == {id(p) for n, p in model.named_parameters() if _trains(n, "head+last", "resnet")}
    assert kw == {"lr": 0.03, "momentum": HP.momentum, "nesterov": True, "weight_decay": HP.weight_decay}
    total = n_steps(32, HP)
    warm = int(round(HP.warmup_frac * total))
    assert len(log.lr) == total and warm == 2
    assert log.lr == pytest.approx([warmup_cosine(s, total, 0.03, warm) for s in range(total)])
    assert log.lr[0] == pytest.approx(1e-5) and log.lr[warm] == pytest.approx(0.03) == max(log.lr)
    assert all(a > b for a, b in zip(log.lr[warm:], log.lr[warm + 1:]))  # cosine decay after the warm-up
    assert warmup_cosine(total, total, 0.03, warm) == pytest.approx(0.0, abs=1e-12)  # reaches 0 at the end


def test_the_paper_profile_fine_tunes_everything_with_its_schedule(shapes, monkeypatch):
    """The paper profile's path: CSSL encoders and baseline both train at depth 'all'; the head,
    schedule and learning rates are the profile's (Chu et al. 2025 Sect. 4.1: SGD, warm-up from
    1e-5 to 0.01, cosine; 4 GPUs x 64 images). Run here with the paper's optimiser settings on
    a tiny network (sizes shrunk, everything else as the profile says)."""
    from dataclasses import replace

    from icepaper.core.profiles import get_profile
    from icepaper.cssl import Encoder
    from icepaper.cssl.study import _sections, baseline_params, model_depth

    cfg = SimpleNamespace(profile=get_profile("paper"), seed=0, device="cpu")
    sec, hp = _sections(cfg)
    assert hp == HeadParams(hidden=4096, epochs=30, min_steps=300, batch_size=256, lr=0.05, momentum=0.9,
                            weight_decay=1e-4, warmup_frac=0.1)
    hp_base, lr_base = baseline_params(sec, hp)
    assert (hp_base, lr_base) == (hp, 0.01) and sec["finetune_lr"] == 0.01
    cssl_enc = Encoder("moco", "moco", "test", {}, 224, make_encoder)
    assert model_depth(cssl_enc, sec["finetune"]) == "all"
    assert model_depth(replace(cssl_enc, end_to_end=True), sec["finetune"]) == "all"
    seen = []
    real = torch.optim.SGD

    class Spy(real):
        def __init__(self, params, **kw):
            seen.append(kw)
            super().__init__(params, **kw)

    monkeypatch.setattr(torch.optim, "SGD", Spy)
    ds, y = shapes
    small = replace(hp, hidden=16, epochs=1, min_steps=10, batch_size=8)
    model, log = _run(ds, y, sec["finetune"], hp=small, lr=float(sec["finetune_lr"]))
    assert seen == [{"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}]
    assert all(p.requires_grad for p in model.parameters())
    assert log.lr[0] == pytest.approx(1e-5) and log.lr[1] == pytest.approx(0.01)  # warm-up: 10 % of 10 steps


@pytest.mark.parametrize("workers", [0, 1])
def test_finetune_is_deterministic_for_a_seed(shapes, workers):
    """Same seed, same losses and weights (also with a DataLoader worker process doing the
    augmentation, as the paper profile's ``num_workers`` does); another seed, other losses."""
    ds, y = shapes
    a, la = _run(ds, y, "all", seed=3, num_workers=workers)
    b, lb = _run(ds, y, "all", seed=3, num_workers=workers)
    assert la.loss == lb.loss and la.train_acc == lb.train_acc
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    _, lc = _run(ds, y, "all", seed=4, num_workers=workers)
    assert lc.loss != la.loss


# --------------------------------------------------------------------------- the study, end to end


def _study_cfg(depth: str):
    from icepaper.core.profiles import get_profile

    over = {"cssl.finetune": depth, "cssl.budgets": [8, "all"], "cssl.min_budget": 8, "cssl.folds": 2,
            "cssl.hidden": 16, "cssl.epochs": 1, "cssl.min_steps": 4, "cssl.batch_size": 8, "cssl.lr": 0.05,
            "cssl.finetune_lr": 0.02, "cssl.tsne_points": 8, "cssl.baseline_img_size": SIZE,
            "cssl.baseline_epochs": 1, "cssl.baseline_min_steps": 3, "cssl.baseline_batch_size": 8,
            "cssl.baseline_lr": 0.04, "augment.global_size": SIZE, "augment.local_size": SIZE // 2,
            "pretrain.num_workers": 0, "embed.batch_size": 64}
    return SimpleNamespace(profile=get_profile("smoke", over), seed=0, device="cpu")


@pytest.mark.parametrize("depth", ["head+last", "all"])
def test_study_runs_end_to_end_with_image_finetuning(depth, tmp_path, monkeypatch, shapes):
    """``cssl.finetune`` = head+last / all: every CSSL run fine-tunes its encoder on the budget's
    images with ``finetune_lr`` and the head schedule, the baseline trains everything with the
    ``baseline_*`` schedule; tables, logs and study.json say what trained."""
    import icepaper.cssl.finetune as ft
    from icepaper.cssl import Encoder, plan_tasks, run_study
    from icepaper.cssl.study import _sections, baseline_params

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    ds, y = shapes
    cfg = _study_cfg(depth)
    sec, hp = _sections(cfg)
    hp_base, lr_base = baseline_params(sec, hp)
    assert (hp.hidden, hp.min_steps, hp.batch_size, hp_base.min_steps, lr_base) == (16, 4, 8, 3, 0.04)

    def maker(name: str, seed: int):
        def make() -> nn.Module:
            enc = make_encoder(seed=seed)
            enc.study_model = name  # lets the spy tell the runs apart
            return enc
        return make

    encoders = {"moco": Encoder("moco", "moco", "test", {"kind": "test", "seed": 0}, SIZE, maker("moco", 0)),
                "supervised": Encoder("supervised", "sup", "test", {"kind": "test", "seed": 1}, SIZE,
                                      maker("supervised", 1), end_to_end=True)}
    calls = []
    real = ft.finetune

    def spy(encoder, ds_, rows, y_, n_classes, hp_, depth_, size, augment, **kw):
        start = {k: v.clone() for k, v in encoder.state_dict().items()}
        model, log = real(encoder, ds_, rows, y_, n_classes, hp_, depth_, size, augment, **kw)
        moved = {k for k, v in model.encoder.state_dict().items() if not torch.equal(start[k], v)}
        calls.append({"model": encoder.study_model, "n": len(rows), "hp": hp_, "depth": depth_, "lr": kw["lr"],
                      "moved": moved,
                      "keys": set(start), "steps": len(log.loss)})
        return model, log

    monkeypatch.setattr(ft, "finetune", spy)
    (task,) = plan_tasks(ds)
    res = run_study(cfg, ds, tasks=[task], encoders=encoders, progress=False)
    budgets = res.budgets("cpi")
    assert len(calls) == 2 * len(budgets) * 2  # folds x budgets x models: every run trains on images
    assert sorted(c["model"] for c in calls) == ["moco"] * (len(calls) // 2) + ["supervised"] * (len(calls) // 2)
    for c in calls:
        base = c["model"] == "supervised"
        assert (c["depth"], c["hp"], c["lr"]) == (("all", hp_base, lr_base) if base else (depth, hp, 0.02))
        assert c["steps"] == n_steps(c["n"], c["hp"])
        if c["depth"] == "head+last":
            assert c["moved"] and all(k.startswith("layer4.") for k in c["moved"])
        else:
            assert c["moved"] == c["keys"]  # every weight and BatchNorm statistic
    runs = res.runs
    assert set(runs[runs.model == "moco"].trained) == {depth} and set(runs[runs.model == "supervised"].trained) == {"all"}
    assert runs.oa.between(0, 100).all() and (runs.steps >= 3).all()
    assert res.info["finetune"] == depth and res.info["models"]["moco"]["trained"] == depth
    assert res.info["baseline"]["lr"] == lr_base
    # notebook 06's views read these results as they read head-only ones
    from icepaper.cssl import plots
    from icepaper.papers import chu2025 as claims

    assert set(res.headline()["schemes"]["cpi"]["accuracy"]) == {"moco", "supervised"}
    assert set(claims.paper_claims(res).agrees.dropna()) <= {True, False}
    for fig in (plots.loss_curves(res, "cpi"), plots.tsne_figure(res, "cpi")):
        assert fig.axes
        plots.plt.close(fig)
