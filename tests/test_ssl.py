"""The SSL pretraining engine: vMF maths, masks, EMA, resume, NaN guard, export, cache."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from icepaper.core.profiles import SSL_METHOD_HPARAMS
from icepaper.ssl import data as ssl_data
from icepaper.ssl.trainer import NonFiniteLossError, TrainSpec, load_checkpoint, train
from icepaper.ssl.vmf import VMFDINOLoss, log_vmf_normalizer, vmf_logits

# A tiny configuration: every test model trains in a fraction of a second per step.
TINY = {**SSL_METHOD_HPARAMS, **dict(  # a pretrain section: the methods' values of every profile
    vit="vit_tiny_patch16_224", vit_img_size=16, vit_patch=4, vit_depth=1, vit_embed_dim=32,
    vit_heads=2, head_hidden=32, head_bottleneck=16, n_prototypes=32, resnet="test_resnet",
    resnet_img_size=16, proj_hidden=32, proj_out=16, batch_size=8, steps=6, warmup_steps=1,
    moco_queue=32, knn_images=40, num_workers=0, drop_path=0.0, vit_local_size=8, n_local=2,
    ibot_lr=5e-4, ibot_momentum=0.996, teacher_temp=0.07,  # the methods' paper values
    moco_lr=0.3, byol_lr=0.2, moco_momentum=0.99,
)}


class StandInRecipe:
    """Trivial stand-in for an icepaper.augment recipe: random resized crops and flips."""

    def __init__(self, n_local: int = 2, g: int = 16, loc: int = 8):
        import torchvision.transforms.v2 as T

        norm = [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize([0.5], [0.25])]
        self.g = T.Compose([T.RandomResizedCrop(g, scale=(0.5, 1.0), antialias=True),
                            T.RandomHorizontalFlip(), *norm])
        self.loc = T.Compose([T.RandomResizedCrop(loc, scale=(0.2, 0.5), antialias=True), *norm])
        self.n_local = n_local
        self.n_global = 2

    def __call__(self, img):
        return [self.g(img), self.g(img)] + [self.loc(img) for _ in range(self.n_local)]


def _shapes(n: int, size: int = 24, seed: int = 0):
    """Dark discs, bars and crosses on a bright background, with a 'cpi' label each."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - size / 2
    imgs, labels = [], []
    for i in range(n):
        k = i % 3
        r = rng.uniform(3, 8)
        if k == 0:
            m = xx**2 + yy**2 < r**2
        elif k == 1:
            m = (np.abs(xx) < r) & (np.abs(yy) < 1.5)
        else:
            m = ((np.abs(xx) < r) & (np.abs(yy) < 1.5)) | ((np.abs(yy) < r) & (np.abs(xx) < 1.5))
        img = np.where(m, 40, 230) + rng.normal(0, 5, m.shape)
        imgs.append(np.clip(img, 0, 255).astype(np.uint8))
        labels.append(["disc", "bar", "cross"][k])
    meta = pd.DataFrame({"image_id": [f"s{i:04d}" for i in range(n)],
                         "split": ["train" if i % 4 else "test" for i in range(n)],
                         "source_file": "", "cpi": labels})
    return np.stack(imgs), meta


@pytest.fixture
def shapes_ds(packed_factory):
    imgs, meta = _shapes(48)
    return packed_factory(imgs, meta, name="shapes")


def _ibot(vmf=True, **over):
    from icepaper.ssl.ibot import IBOT

    torch.manual_seed(0)
    return IBOT({**TINY, **over}, vmf=vmf)


def _dataset(ds, method, batch=8, seed=0, n_local=2):
    return ssl_data.MultiCropDataset(ds, np.arange(len(ds)), StandInRecipe(n_local=n_local), seed=seed,
                                     global_batch=batch, n_global=2, mask_grid=method.mask_grid)


# -- vMF maths -------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [16, 64, 256])
@pytest.mark.parametrize("kappa", [1.0, 10.0, 50.0, 150.0])
def test_vmf_log_normalizer_matches_scipy(p, kappa):
    from scipy.special import ive

    nu = p / 2 - 1
    ref = nu * math.log(kappa) - p / 2 * math.log(2 * math.pi) - (math.log(ive(nu, kappa)) + kappa)
    got = float(log_vmf_normalizer(torch.tensor(kappa, dtype=torch.float64), p))
    assert got == pytest.approx(ref, rel=1e-6, abs=1e-4)


def test_vmf_logits_with_equal_norms_reduce_to_dino():
    from lightly.loss import DINOLoss

    torch.manual_seed(0)
    k, p = 32, 16
    t = [torch.randn(4, k) for _ in range(2)]
    s = [torch.randn(4, k) for _ in range(4)]
    ones = torch.ones(k)
    # the vMF term is one constant per row: same softmax as DINO's scores / temperature
    a = torch.softmax(vmf_logits(s[0], ones * 0.7, 0.1, p), -1)
    b = torch.softmax(s[0] / 0.1, -1)
    assert torch.allclose(a, b, atol=1e-6)
    vmf = VMFDINOLoss(k, p, student_temp=0.1)(t, s, ones, ones, 0.04)
    dino = DINOLoss(output_dim=k, student_temp=0.1)(t, s, teacher_temp=0.04)
    assert float(vmf) == pytest.approx(float(dino), rel=1e-5)
    # with unequal prototype norms the vMF normaliser changes the loss
    norms = torch.linspace(0.5, 2.0, k)
    assert float(VMFDINOLoss(k, p)(t, s, norms, norms, 0.04)) != pytest.approx(float(dino), rel=1e-3)


def test_head_switch_vmf_off_is_plain_ibot():
    from lightly.loss import DINOLoss, IBOTPatchLoss

    off, on = _ibot(vmf=False), _ibot(vmf=True)
    assert off.name == "ibot" and on.name == "ibot_vmf"
    assert not off.student_head.last_layer.weight_g.requires_grad  # normalised prototypes
    assert on.student_head.last_layer.weight_g.requires_grad  # un-normalised (vMF)
    assert isinstance(off.cls_loss, DINOLoss) and isinstance(off.patch_loss, IBOTPatchLoss)


# -- masks, EMA ---------------------------------------------------------------------------------
@pytest.mark.parametrize("vmf", [True, False])
def test_no_weight_decay_on_prototype_norms_biases_and_norm_layers(vmf):
    """The optimiser's groups keep weight_g (vMF concentrations), biases and norm layers at
    weight decay 0, also after the trainer applies the weight-decay schedule."""
    m = _ibot(vmf=vmf)
    opt = m.make_optimizer()
    wd_of = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    for g in opt.param_groups:  # what the trainer does every step
        if g.get("scheduled_wd"):
            g["weight_decay"] = m.schedule(3, 6)["weight_decay"]
    wd_now = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    named = dict(m.student_head.named_parameters()) | {f"backbone.{k}": v for k, v in
                                                        m.student_backbone.named_parameters()}
    g = m.student_head.last_layer.weight_g
    assert (id(g) in wd_of) == vmf  # trainable (and undecayed) only in the vMF head
    if vmf:
        assert wd_of[id(g)] == 0.0 and wd_now[id(g)] == 0.0
    n_checked = 0
    for name, p in named.items():
        if not p.requires_grad:
            continue
        zero = p.ndim <= 1 or name.endswith("weight_g")
        assert (wd_now[id(p)] == 0.0) == zero, name
        n_checked += zero
    assert n_checked > 5  # biases and LayerNorms were among them
    assert wd_of[id(m.student_head.last_layer.weight_v)] > 0  # the prototype directions do decay


def test_moco_byol_groups_exclude_biases_and_norms():
    from icepaper.ssl.base import no_weight_decay
    from icepaper.ssl.byol import BYOL
    from icepaper.ssl.moco import MoCo

    for cls in (MoCo, BYOL):
        torch.manual_seed(0)
        m = cls(TINY)
        opt = m.make_optimizer()
        wd_of = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
        for mod in m.student_modules():
            for name, p in mod.named_parameters():
                if p.requires_grad:
                    assert (wd_of[id(p)] == 0.0) == no_weight_decay(name, p), (cls.__name__, name)
        assert any(v > 0 for v in wd_of.values()) and any(v == 0 for v in wd_of.values())


def test_block_mask_ratios():
    import random

    random.seed(0)
    masks = torch.stack([ssl_data.sample_block_mask((14, 14)) for _ in range(400)])
    frac = masks.flatten(1).float().mean(1)
    unmasked = (frac == 0).float().mean()
    assert 0.4 < float(unmasked) < 0.6  # about half the images are not masked
    masked = frac[frac > 0]
    assert float(masked.max()) <= 0.5 + 1e-6 and float(masked.min()) >= 0.05
    assert 0.2 < float(masked.mean()) < 0.4  # U(0.1, 0.5) on average 0.3


def test_collated_masks_follow_view_order(shapes_ds):
    m = _ibot()
    d = _dataset(shapes_ds, m)
    items = [d[(0, j)] for j in range(3)]
    views, masks = ssl_data.collate(items)
    assert masks.shape == (6, *m.mask_grid) and masks.dtype == torch.bool
    assert torch.equal(masks[1], items[1][1][0]) and torch.equal(masks[3 + 1], items[1][1][1])
    # the same key gives the same crops and mask (exact resume, DDP = single process)
    again = d[(0, 1)]
    assert all(torch.equal(a, b) for a, b in zip(again[0], items[1][0]))


def test_ema_update():
    m = _ibot()
    with torch.no_grad():
        for p in m.student_backbone.parameters():
            p.add_(torch.randn_like(p))
    s = [p.clone() for p in m.student_backbone.parameters()]
    t = [p.clone() for p in m.teacher_backbone.parameters()]
    m.momentum_update(0.9)
    for ps, pt, new in zip(s, t, m.teacher_backbone.parameters()):
        assert torch.allclose(new, 0.9 * pt + 0.1 * ps, atol=1e-6)


# -- training ----------------------------------------------------------------------------------
def test_loss_decreases_on_tiny_run(shapes_ds, tmp_path):
    from icepaper.ssl.byol import BYOL

    torch.manual_seed(0)
    m = BYOL({**TINY, "byol_lr": 2.0, "warmup_steps": 0})
    d = ssl_data.MultiCropDataset(shapes_ds, np.arange(16), StandInRecipe(n_local=0), seed=0,
                                  global_batch=16, n_global=2)
    out = train(m, d, TrainSpec(steps=24, batch_size=16, progress=False), tmp_path / "w")
    loss = out.log["loss"].to_numpy()
    assert np.isfinite(loss).all()
    assert loss[-6:].mean() < loss[:6].mean() - 0.1


def _state_equal(a: dict, b: dict) -> None:
    """Two state dicts hold bit-identical tensors (extra state such as the MoCo queue included)."""
    assert a.keys() == b.keys()
    for k in a:
        va, vb = a[k], b[k]
        if isinstance(va, dict):
            _state_equal(va, vb)
        else:
            assert torch.equal(va, vb), k


@pytest.mark.parametrize("method", ["ibot_vmf", "moco"])
def test_resume_matches_uninterrupted(shapes_ds, tmp_path, method):
    def make():
        torch.manual_seed(0)
        if method == "moco":
            from icepaper.ssl.moco import MoCo

            return MoCo({**TINY, "moco_queue": 16})  # the queue wraps around within the run
        return _ibot(drop_path=0.1)  # stochastic depth: the per-step RNG must be restored too

    spec = TrainSpec(steps=5, batch_size=8, seed=3, progress=False)
    a = make()
    full = train(a, _dataset(shapes_ds, a), spec, tmp_path / "a")
    b = make()
    part = train(b, _dataset(shapes_ds, b), spec, tmp_path / "b", stop_at=2)
    assert not part.finished and load_checkpoint(part.checkpoint)["step"] == 2
    c = make()  # a fresh process would start from new weights and read the checkpoint
    out = train(c, _dataset(shapes_ds, c), spec, tmp_path / "b")
    assert out.finished and out.step == 5 and len(out.log) == 5
    assert out.log["loss"].tolist() == full.log["loss"].tolist()
    _state_equal(a.state_dict(), c.state_dict())
    opt_a = load_checkpoint(full.checkpoint)["optimizer"]["state"]
    opt_c = load_checkpoint(out.checkpoint)["optimizer"]["state"]
    for i in opt_a:
        _state_equal(opt_a[i], opt_c[i])


def _signal_at(m, sig: int, at: int, then=None):
    """``m`` sends ``sig`` to its own process during step ``at`` and calls ``then(step)`` every step."""
    import os

    real = m.forward

    def forward(views, masks, *, step, total):
        if step == at:
            os.kill(os.getpid(), sig)
        if then is not None:
            then(step)
        return real(views, masks, step=step, total=total)

    m.forward = forward
    return m


@pytest.mark.slow  # about 12 s each: three short trainings
@pytest.mark.parametrize("sig", ["SIGUSR1", "SIGTERM"])
def test_signal_checkpoint_resumes_exactly(shapes_ds, tmp_path, sig):
    """SIGUSR1 (Slurm's ``--signal=USR1@60``) writes a checkpoint at the end of the step and
    training goes on; SIGTERM (preemption) writes one and stops. Resuming from either gives
    the weights of an uninterrupted run, bit for bit; the handlers are restored afterwards."""
    import shutil
    import signal

    from icepaper.ssl.signals import TrainingInterrupted

    if not hasattr(signal, sig):
        pytest.skip(f"no {sig} on this platform")
    before = {n: signal.getsignal(getattr(signal, n)) for n in ("SIGTERM", "SIGUSR1")}
    spec = TrainSpec(steps=4, batch_size=8, seed=3, progress=False)  # checkpoints only at the end
    a = _ibot(drop_path=0.1)
    train(a, _dataset(shapes_ds, a), spec, tmp_path / "a")

    def snapshot(step):  # what a requeued job finds on disk after the signal's checkpoint
        if step == 3:
            (tmp_path / "c").mkdir()
            shutil.copy2(tmp_path / "b" / "last.pt", tmp_path / "c" / "last.pt")

    b = _signal_at(_ibot(drop_path=0.1), getattr(signal, sig), at=1, then=snapshot)
    if sig == "SIGTERM":
        with pytest.raises(TrainingInterrupted, match=r"SIGTERM at step 2 of 4 \(ibot_vmf\): checkpoint"):
            train(b, _dataset(shapes_ds, b), spec, tmp_path / "b")
        shutil.copytree(tmp_path / "b", tmp_path / "c")
    else:
        out = train(b, _dataset(shapes_ds, b), spec, tmp_path / "b")
        assert out.finished and out.step == 4
        _state_equal(a.state_dict(), b.state_dict())  # the extra checkpoint changed nothing
    assert {n: signal.getsignal(getattr(signal, n)) for n in before} == before
    assert load_checkpoint(tmp_path / "c" / "last.pt")["step"] == 2
    c = _ibot(drop_path=0.1)  # a new process: fresh weights, then the checkpoint
    out = train(c, _dataset(shapes_ds, c), spec, tmp_path / "c")
    assert out.finished and out.step == 4
    _state_equal(a.state_dict(), c.state_dict())


def test_checkpoint_by_wall_time(shapes_ds, tmp_path, monkeypatch):
    """``ckpt_minutes`` writes a checkpoint whenever that much wall time has passed since the
    last one (here: after every step); a long interval leaves only the final one."""
    from icepaper.ssl import trainer

    saved = []
    real = trainer.save_checkpoint
    monkeypatch.setattr(trainer, "save_checkpoint", lambda path, m, opt, step, *a: (saved.append(step),
                                                                                    real(path, m, opt, step, *a)))
    for minutes, expected in ((1e-9, [1, 2, 3]), (60.0, [3])):
        saved.clear()
        m = _ibot()
        train(m, _dataset(shapes_ds, m), TrainSpec(steps=3, batch_size=8, ckpt_minutes=minutes, progress=False),
              tmp_path / str(minutes))
        assert saved == expected, minutes


def test_resume_refuses_another_configuration(shapes_ds, tmp_path):
    m = _ibot()
    train(m, _dataset(shapes_ds, m), TrainSpec(steps=3, batch_size=8, progress=False), tmp_path / "w", stop_at=1)
    with pytest.raises(ValueError, match="steps=3, asked 4"):
        train(m, _dataset(shapes_ds, m), TrainSpec(steps=4, batch_size=8, progress=False), tmp_path / "w")


def _method(name: str):
    """A tiny model of ``name`` with seeded initial weights (the same on every process)."""
    torch.manual_seed(0)
    if name == "moco":
        from icepaper.ssl.moco import MoCo

        return MoCo({**TINY, "moco_queue": 16})  # the queue wraps around within the run
    if name == "byol":
        from icepaper.ssl.byol import BYOL

        return BYOL(dict(TINY))
    return _ibot(drop_path=0.0)


class _GlooBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of all gloo processes, in plain torch ops.

    A test stand-in for ``torch.nn.SyncBatchNorm``, whose kernels exist on GPUs only: it
    lets two CPU processes check that everything else in a synchronised ResNet run (data
    slots, gathered MoCo keys, averaged gradients) equals one process with the whole batch.
    """

    def _check_input_dim(self, x):
        pass

    def forward(self, x):
        from torch.distributed.nn.functional import all_reduce

        if not self.training:
            return super().forward(x)
        dims = [0, *range(2, x.ndim)]
        shape = (1, -1) + (1,) * (x.ndim - 2)
        n = x.numel() // x.shape[1] * torch.distributed.get_world_size()
        mean = all_reduce(x.sum(dims)) / n  # differentiable sums over every process
        d = x - mean.view(shape)
        var = all_reduce((d * d).sum(dims)) / n
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)
        return d * torch.rsqrt(var + self.eps).view(shape) * self.weight.view(shape) + self.bias.view(shape)


def _gloo_batchnorm(module, device):
    """``ddp.sync_batchnorm`` for the test: every BatchNorm becomes a :class:`_GlooBatchNorm`."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
            new = _GlooBatchNorm(child.num_features, child.eps, child.momentum)
            for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                setattr(new, k, getattr(child, k))  # the same tensors, as convert_sync_batchnorm
            setattr(module, name, new)
        else:
            _gloo_batchnorm(child, device)
    return module


def _ddp_worker(rank: int, world: int, name: str, root: str, workdir: str, store: str) -> None:
    import torch.distributed as dist

    from icepaper.data.packed import PackedDataset
    from icepaper.ssl import ddp

    torch.set_num_threads(1)
    ddp.sync_batchnorm = _gloo_batchnorm  # what SyncBatchNorm does on GPUs, with gloo on CPU
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        ds = PackedDataset(root)
        m = _method(name)
        train(m, _dataset(ds, m), TrainSpec(steps=3, batch_size=8, progress=False), workdir)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("name", ["ibot_vmf", pytest.param("moco", marks=pytest.mark.slow)])
def test_ddp_two_gloo_processes_match_one_process(shapes_ds, tmp_path, name):
    """Two CPU processes with 4 images each train like one process with 8 (same data, same
    loss, same weights up to float rounding). For MoCo the ResNet's BatchNorm is synchronised
    (``_GlooBatchNorm`` standing in for GPU SyncBatchNorm) and the key queue is gathered, so
    queue, running statistics and weights match too."""
    import torch.multiprocessing as mp

    m = _method(name)
    one = train(m, _dataset(shapes_ds, m), TrainSpec(steps=3, batch_size=8, progress=False), tmp_path / "one")
    mp.spawn(_ddp_worker, args=(2, name, str(shapes_ds.root), str(tmp_path / "two"), str(tmp_path / "store")),
             nprocs=2, join=True)
    two = pd.read_csv(tmp_path / "two" / "log.csv")
    assert len(two) == 3
    np.testing.assert_allclose(two["loss"], one.log["loss"], rtol=1e-4)
    got = load_checkpoint(tmp_path / "two" / "last.pt")
    assert got["step"] == 3
    ref = m.state_dict()
    assert got["model"].keys() == ref.keys()
    for k, v in got["model"].items():
        if isinstance(v, dict):  # the MoCo queue and its pointer
            for q in v:
                assert torch.allclose(v[q].float(), ref[k][q].float(), atol=1e-4), (k, q)
        else:
            assert torch.allclose(v.float(), ref[k].float(), atol=1e-4), k


def test_sync_batchnorm_on_gpu_only(monkeypatch):
    """Under DDP the ResNets' BatchNorm becomes SyncBatchNorm for a GPU (same parameters and
    state_dict keys); on CPU, where SyncBatchNorm has no kernels, it stays per-process with
    one warning; single-process or BatchNorm-free models are left untouched."""
    import warnings

    from icepaper.ssl import ddp

    bn = torch.nn.modules.batchnorm._BatchNorm
    m, ibot = _method("moco"), _method("ibot_vmf")  # iBOT: LayerNorm only
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ddp.sync_batchnorm(m, "cuda") is m  # one process: nothing to synchronise
        assert not any(isinstance(x, torch.nn.SyncBatchNorm) for x in m.modules())
    monkeypatch.setattr(ddp, "world_size", lambda: 2)
    for name in ("moco", "byol"):
        m = _method(name)
        with pytest.warns(UserWarning, match="not synchronised across the 2 CPU processes"):
            assert ddp.sync_batchnorm(m, "cpu") is m
        assert not any(isinstance(x, torch.nn.SyncBatchNorm) for x in m.modules())
        before = m.state_dict()
        n_bn = sum(isinstance(x, bn) for x in m.modules())
        assert ddp.sync_batchnorm(m, "cuda:1") is m
        sync = [x for x in m.modules() if isinstance(x, bn)]
        assert len(sync) == n_bn > 0 and all(isinstance(x, torch.nn.SyncBatchNorm) for x in sync)
        _state_equal(m.state_dict(), before)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ddp.sync_batchnorm(ibot, "cpu") is ibot


def test_nan_guard_keeps_last_good_checkpoint(shapes_ds, tmp_path):
    m = _ibot()
    real = m.forward

    def poisoned(views, masks, *, step, total):
        loss, logs = real(views, masks, step=step, total=total)
        return (loss * float("nan") if step == 3 else loss), logs

    m.forward = poisoned
    spec = TrainSpec(steps=6, batch_size=8, ckpt_every=2, progress=False)
    with pytest.raises(NonFiniteLossError, match="step 3") as e:
        train(m, _dataset(shapes_ds, m), spec, tmp_path / "w")
    assert "step 2" in str(e.value)
    state = load_checkpoint(tmp_path / "w" / "last.pt")
    assert state["step"] == 2 and all(np.isfinite(r["loss"]) for r in state["log"])


def test_pretrained_caches_and_resumes(shapes_ds, tmp_path, monkeypatch):
    from icepaper.core.config import setup
    from icepaper.ssl import pretrain
    from icepaper.ssl.backbones import load_backbone

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(pretrain, "build_recipe", lambda cfg, method: StandInRecipe(
        n_local=2 if method.startswith("ibot") else 0))
    cfg = setup("03_pretraining", profile="smoke", out=str(tmp_path / "out"))
    monkeypatch.setattr(pretrain, "_pretrain_section", lambda cfg: dict(TINY))
    part = pretrain.pretrained(cfg, shapes_ds, "ibot_vmf", steps=4, stop_at=2, progress=False)
    assert not part.finished and part.steps == 2
    res = pretrain.pretrained(cfg, shapes_ds, "ibot_vmf", steps=4, progress=False)
    assert res.finished and res.steps == 4 and res.images_seen == 32 and len(res.log) >= 1
    assert res.crops_seen == 32 * 4 and res.flops_proxy > 0 and math.isfinite(res.final_loss)
    assert set(["step", "loss", "lr", "momentum", "teacher_temp", "images_per_sec"]) <= set(res.log.columns)
    again = pretrain.pretrained(cfg, shapes_ds, "ibot_vmf", steps=4, progress=False)
    assert again.folder == res.folder
    model = load_backbone(res.backbone)
    acc = pretrain.knn_check(cfg, shapes_ds, model, 36)
    assert 0.0 <= acc <= 1.0
    hits = pretrain.knn_hits(cfg, shapes_ds, model, 36)
    assert hits.dtype == bool and hits.mean() == pytest.approx(acc)
    sub = pretrain.pretrained(cfg, shapes_ds, "ibot_vmf", indices=np.arange(24), steps=4,
                              init=res.backbone, progress=False)
    assert sub.folder != res.folder and sub.images_seen == 32
    # notebook-03 report helpers read the same run
    from icepaper.ssl import report

    norms = report.prototype_norms(res)
    assert norms.shape == (TINY["n_prototypes"],) and (norms > 0).all()
    table = report.runs_table({"ibot_vmf": res})
    assert table.loc[report.LABELS["ibot_vmf"], "steps"] == 4
    assert len(report.curves_figure({"ibot_vmf": res}).axes) == 6


def test_heldout_loss_compares_initial_and_trained_weights(shapes_ds, tmp_path, monkeypatch):
    from icepaper.core.config import setup
    from icepaper.ssl import pretrain
    from icepaper.ssl.heldout import heldout_losses

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(pretrain, "build_recipe", lambda cfg, method: StandInRecipe(n_local=0))
    cfg = setup("03_pretraining", profile="smoke", out=str(tmp_path / "out"))
    monkeypatch.setattr(pretrain, "_pretrain_section", lambda cfg: dict(TINY))
    for method in ("moco", "byol"):
        res = pretrain.pretrained(cfg, shapes_ds, method, steps=4, progress=False)
        out = heldout_losses(cfg, shapes_ds, res, n_images=20)
        assert np.isfinite([out["initial"], out["trained"]]).all(), method
        assert out["initial"] != out["trained"], method  # the trained weights were loaded
        again = heldout_losses(cfg, shapes_ds, res, n_images=20)  # the same crops every call
        assert (again["initial"], again["trained"]) == (out["initial"], out["trained"]), method
        if method == "moco":
            assert out["chance"] == pytest.approx(math.log(20))
            assert 0.0 < out["initial"] < 2 * math.log(20)
        else:
            assert math.isnan(out["chance"]) and 0.0 <= out["initial"] <= 4.0
    ibot = pretrain.pretrained(cfg, shapes_ds, "ibot_vmf", steps=2, progress=False)
    with pytest.raises(ValueError, match="moco and byol"):
        heldout_losses(cfg, shapes_ds, ibot)


def test_paired_gain_bootstrap_interval():
    from icepaper.ssl.report import paired_gain

    assert paired_gain(np.ones(50, bool), np.zeros(50, bool)) == (100.0, 100.0, 100.0)
    rng = np.random.default_rng(1)
    before = rng.random(400) < 0.5
    after = before | (rng.random(400) < 0.2)  # about 10 pp more right, never fewer
    gain, lo, hi = paired_gain(after, before)
    assert gain == pytest.approx(100 * (after.mean() - before.mean()))
    assert 0 < lo < gain < hi
    g0, lo0, hi0 = paired_gain(before, before)
    assert g0 == lo0 == hi0 == 0.0
    with pytest.raises(ValueError, match="equal-length"):
        paired_gain(after, before[:10])


def test_moco_momentum_is_constant_byol_goes_to_one():
    from icepaper.ssl.byol import BYOL
    from icepaper.ssl.moco import MoCo

    moco, byol = MoCo(dict(TINY)), BYOL(dict(TINY))
    assert [moco.schedule(s, 10)["momentum"] for s in (0, 5, 10)] == pytest.approx([0.99] * 3)
    assert byol.schedule(0, 10)["momentum"] == pytest.approx(0.99)
    assert byol.schedule(10, 10)["momentum"] == pytest.approx(1.0)


def test_knn_unavailable_says_why(packed_factory):
    from icepaper.ssl.pretrain import knn_unavailable

    imgs = np.full((6, 8, 8), 200, np.uint8)
    split = ["train", "train", "train", "test", "test", "val"]

    def ds(name, **cols):
        meta = pd.DataFrame({"image_id": [f"i{k}" for k in range(6)], "split": split, "source_file": "", **cols})
        return packed_factory(imgs, meta, name=name)

    assert knn_unavailable(ds("none")) == "no class labels"
    assert knn_unavailable(ds("one", cpi=["a"] * 6)) == "one cpi class only"
    # labels on test images only: the check never uses them
    assert "fewer than two labelled" in knn_unavailable(ds("test-only", cpi=[None, None, None, "a", "b", None]))
    # no labelled val images: a fifth of the labelled train images is scored instead
    assert knn_unavailable(ds("no-val", cpi=["a", "b", "a", "a", "b", None])) == ""
    assert knn_unavailable(ds("ok", cpi=["a", "b", None, "a", None, None])) == ""


def test_knn_gains_and_text():
    from icepaper.ssl import report

    before = np.array([0, 0, 1, 0] * 10, bool)
    hits = {"ibot_vmf": {"random_init": before, "trained": np.ones(40, bool)},
            "ibot": {"random_init": before, "trained": before}}
    knn = report.knn_gains(hits)
    assert knn["ibot_vmf"]["trained"] == 1.0 and knn["ibot_vmf"]["gain_pp"] == pytest.approx(75.0)
    assert knn["ibot"]["gain_pp"] == 0.0 and knn["vmf_vs_plain_ibot"]["gain_pp"] == pytest.approx(75.0)
    text = report.knn_text(knn, n_test=40).splitlines()
    assert text[0].startswith("kNN accuracy (%) on 40 val images (fit on train)")
    assert text[1].endswith("(helped)") and text[2].endswith("(no clear difference)")
    assert text[-1].endswith("(vMF helps)") and text[-2] == ""


@pytest.mark.slow  # about 20 s: the spawned worker imports torch and this module
def test_multicrop_dataset_pickles_without_images(packed_factory):
    """Spawned loader workers receive the multi-crop dataset without its images and give the
    same batches as the main process."""
    import pickle

    from torch.utils.data import DataLoader

    imgs = np.random.default_rng(0).integers(0, 256, (200, 96, 96), dtype=np.uint8)
    d = ssl_data.MultiCropDataset(packed_factory(imgs), np.arange(200), StandInRecipe(n_local=1),
                                  seed=0, global_batch=8)
    assert len(pickle.dumps(d)) < 64_000 < imgs.nbytes
    back = pickle.loads(pickle.dumps(d))
    assert all(torch.equal(a, b) for a, b in zip(back[(3, 5)][0], d[(3, 5)][0]))

    def batches(workers: int) -> list:
        loader = DataLoader(d, batch_sampler=ssl_data.StepSampler(0, 3, 8), collate_fn=ssl_data.collate,
                            num_workers=workers, multiprocessing_context="spawn" if workers else None)
        return [views for views, _ in loader]

    one, two = batches(0), batches(1)
    assert len(one) == len(two) == 3
    for a, b in zip(one, two):
        assert all(torch.equal(x, y) for x, y in zip(a, b))


# -- TensorBoard (optional extra) --------------------------------------------------------------
def test_tensorboard_scalars_of_a_two_step_run(shapes_ds, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    m = _ibot()
    tb = tmp_path / "tb"
    spec = TrainSpec(steps=2, batch_size=8, progress=False, tensorboard_dir=str(tb))
    out = train(m, _dataset(shapes_ds, m), spec, tmp_path / "w")
    assert list(tb.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(tb))
    acc.Reload()
    assert {"pretrain/loss", "pretrain/lr", "pretrain/momentum", "pretrain/teacher_temp"} <= set(acc.Tags()["scalars"])
    loss = acc.Scalars("pretrain/loss")
    assert [e.step for e in loss] == [1, 2]
    assert [e.value for e in loss] == pytest.approx(out.log["loss"].tolist(), rel=1e-6)


def test_tensorboard_missing_says_what_to_install(shapes_ds, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    m = _ibot()
    spec = TrainSpec(steps=2, batch_size=8, progress=False, tensorboard_dir=str(tmp_path / "tb"))
    with pytest.raises(ImportError, match=r"pip install 'icepaper\[tensorboard\]'"):
        train(m, _dataset(shapes_ds, m), spec, tmp_path / "w")
    assert not (tmp_path / "w" / "last.pt").exists()  # refused before training


def test_tensorboard_folder_from_profile_or_environment(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from icepaper.core.profiles import get_profile
    from icepaper.ssl import pretrain
    from icepaper.ssl.tblog import ENV

    monkeypatch.delenv(ENV, raising=False)
    base = get_profile("smoke").pretrain
    assert pretrain._tensorboard_run_dir(base, "moco", "abc") == ""
    monkeypatch.setenv(ENV, str(tmp_path / "env"))
    assert pretrain._tensorboard_run_dir(base, "moco", "abc") == str(tmp_path / "env" / "moco-abc")
    over = get_profile("smoke", {"pretrain.tensorboard_dir": str(tmp_path / "set")})
    assert pretrain._tensorboard_run_dir(over.pretrain, "byol", "k") == str(tmp_path / "set" / "byol-k")
    # where a run logs never changes what it computes: same cache key
    ds = SimpleNamespace(fingerprint="test")
    a = pretrain.cache_key(SimpleNamespace(profile=get_profile("smoke"), seed=0), ds, "moco", indices=[0])
    b = pretrain.cache_key(SimpleNamespace(profile=over, seed=0), ds, "moco", indices=[0])
    assert a == b
