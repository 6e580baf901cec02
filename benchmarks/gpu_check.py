"""One prepared GPU check of the package's own code: throughput, memory and a short SSL run.

Run it through ``benchmarks/gpu_check.sh`` (which adds the log and the hard time limit); see
that script for the commands. Steps, in this order, each in its own time box; a step that
fails or runs out of time is recorded (``status``, ``error``) and the next one runs:

``data``
    The synthetic default dataset (``icepaper.synth.generate.generate_dataset``, the generator
    of every notebook) at GPU scale: 24,000 images of 224 px, rendered on every CPU core.
``ibot_vmf_throughput``
    ViT-S/16 iBOT-vMF, 2 x 224 px + 10 x 96 px crops, bf16 autocast, batch 256, images/s of
    (a) the engine ``icepaper.ssl.trainer.train`` (from its log: wall time per step, data
    loading included), (b) a plain loop on the same model, optimiser and DataLoader,
    (c) the model alone on crops already on the GPU, (d) the DataLoader alone; target
    5,000 images/s (each image = 12 crops) for (a).
``moco_throughput``, ``byol_throughput``
    MoCo v2 and BYOL on ResNet-50 at 224 px (2 crops), images/s of the engine and of the
    model alone.
``embedding_throughput``
    ``icepaper.representations.embed.extract_embeddings`` of a ViT-S/16 at 224 px over the
    packed uint8 data on disk (three passes over the set), data loading included, with
    DataLoader workers (target 10,000 images/s) and, for comparison, without.
``ssl_run``
    iBOT-vMF trained for up to 4 minutes (what the budget leaves after the steps above and
    the probes; ``planned_seconds``) through ``icepaper.ssl.pretrain.pretrained`` (paper
    profile, batch 256; the step count is set from the measured engine rate) on the same
    data, then notebook 05's probes (``icepaper.representations.probes``: weighted kNN and
    logistic regression on the test rows, C chosen on val) of that network, of the same
    network at random init and of the 13 geometric features.
``peak_memory``
    Peak GPU memory (GiB, ``torch.cuda.max_memory_allocated``) of each step above.

The data are in the page cache when they are read (they were just written), as on any pass
after the first. Budget: 450 s for the steps (``--budget``), inside the 480 s limit of
gpu_check.sh; a SIGTERM from that limit stops the running step with what it had measured.

``--tiny`` (or ``GPU_CHECK_TINY=1``) runs every step on the CPU at the smoke profile's sizes
(600 images of 32 px, seconds instead of minutes): what ``tests/test_gpu_check.py`` runs.
Output: ``<out>/gpu_check.json`` (rewritten after every step) and, via the shell script,
``<out>/gpu_check.log``. Work files (dataset, checkpoints, caches) go to a temporary folder
that is deleted at the end (``--work`` to choose and keep it).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

SCHEMA = "icepaper-gpu-check/1"
SECTIONS = ("data", "ibot_vmf_throughput", "moco_throughput", "byol_throughput",
            "embedding_throughput", "ssl_run", "peak_memory")
TARGETS = {"ibot_vmf_engine_img_per_s": 5000.0, "embedding_img_per_s": 10000.0}

# sizes of the two modes; "profile" names the icepaper profile whose pretrain section is used
GPU = dict(profile="paper", n_images=24_000, image_size=224, batch=256, warm=3, timed=20,
           resnet_timed=15, embed_passes=3, ssl_seconds=240.0, budget=450.0, probe_reserve=60.0, ssl_overhead=25.0,
           boxes=dict(data=90, ibot_vmf_throughput=120, moco_throughput=60, byol_throughput=60,
                      embedding_throughput=60),
           probe_caps=dict(max_train=3000, max_val=1000, max_test=2000))
TINY = dict(profile="smoke", n_images=600, image_size=32, batch=16, warm=1, timed=2,
            resnet_timed=2, embed_passes=2, ssl_seconds=3.0, budget=150.0, probe_reserve=20.0, ssl_overhead=5.0,
            boxes=dict(data=60, ibot_vmf_throughput=40, moco_throughput=30, byol_throughput=30,
                       embedding_throughput=30),
            probe_caps=dict(max_train=300, max_val=100, max_test=150),
            overrides=dict(pretrain__resnet="test_resnet"))  # timm's test ResNet: 10x faster than resnet18


class StepTimeout(Exception):
    """A step ran past its time box."""


class Stopped(StepTimeout):
    """SIGTERM, e.g. from the overall time limit of gpu_check.sh: the running step is recorded
    as "stopped" with what it had measured, the others are not run, the report is written."""


_TERM = {"asked": False, "armed": False}  # SIGTERM seen; a step's measurement is running


def catch_sigterm():
    """Install :func:`_on_sigterm` (flags cleared); return the previous handler."""
    _TERM.update(asked=False, armed=False)
    return signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum, frame):
    """SIGTERM handler: stop the running measurement (:class:`Stopped`); between steps only
    remember it, so that no bookkeeping is cut in half."""
    _TERM["asked"] = True
    if _TERM["armed"]:
        _TERM["armed"] = False
        raise Stopped("stopped by SIGTERM (the overall time limit?)")


@contextlib.contextmanager
def time_box(seconds: float):
    """Raise :class:`StepTimeout` in the main thread after ``seconds`` (SIGALRM)."""

    def handler(signum, frame):
        raise StepTimeout(f"time box of {seconds:.0f} s exceeded")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def log(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Report:
    """The JSON report: top-level fields plus one section per step, rewritten after each step."""

    def __init__(self, path: Path, **fields):
        self.path = Path(path)
        self.data = {"schema": SCHEMA, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **fields, "sections": {}}
        self.stopped = False  # a SIGTERM arrived: no further step runs

    def write(self) -> None:
        from icepaper.core.atomic import atomic_write_json

        atomic_write_json(self.path, self.data)

    def step(self, name: str, fn, box: float, cleanup=None, requires: str | None = None) -> dict:
        """Run ``fn(section)`` within ``box`` seconds; record its section with ``status`` "ok",
        "failed" (``error``: the exception) or "timeout", whatever ``fn`` had filled in before,
        and ``seconds``. ``requires``: a reason not to run it (status "failed"). After a SIGTERM
        (:class:`Stopped`, or the trainer's own checkpoint-and-stop) the step is "stopped" and
        later steps are "not run"."""
        rec: dict = {}
        t0 = time.perf_counter()
        status, err = "ok", None
        log(f"-- {name} (time box {box:.0f} s)")
        try:
            if self.stopped or _TERM["asked"]:
                status, err = "not run", "stopped by SIGTERM before this step"
            else:
                if requires:
                    raise RuntimeError(requires)
                with time_box(box):
                    _TERM["armed"] = True
                    try:
                        fn(rec)
                    finally:
                        _TERM["armed"] = False
        except StepTimeout as e:
            status, err = ("stopped" if isinstance(e, Stopped) else "timeout"), str(e)
        except SystemExit as e:  # icepaper.ssl.signals.TrainingInterrupted: SIGTERM during training
            status, err = "stopped", str(e)
        except Exception as e:  # noqa: BLE001 - one failed step must not stop the others
            status, err = "failed", f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            if cleanup is not None:
                cleanup()
        self.stopped = self.stopped or status in ("stopped", "not run") or _TERM["asked"]
        sec = {"status": status, "seconds": round(time.perf_counter() - t0, 2), **rec}
        if err:
            sec["error"] = err
            log(f"{name}: {status}: {err}")
        self.data["sections"][name] = sec
        self.write()
        return sec


# -- GPU helpers ----------------------------------------------------------------------------
def _cuda(device: str) -> bool:
    return device.startswith("cuda")


def _sync(device: str) -> None:
    import torch

    if _cuda(device):
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    import torch

    if _cuda(device):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    """Peak GPU memory allocated since the last reset (GiB); None on the CPU."""
    import torch

    if not _cuda(device):
        return None
    torch.cuda.synchronize()
    return round(torch.cuda.max_memory_allocated() / 2**30, 3)


def _free(device: str) -> None:
    import torch

    gc.collect()
    if _cuda(device):
        torch.cuda.empty_cache()


# -- configuration ----------------------------------------------------------------------------
def _cfg(size: dict, data: Path | str = "", out: Path | None = None, **overrides):
    """A RunConfig of the mode's profile (``icepaper.setup``) with ``overrides``."""
    from icepaper.core.config import setup

    over = {k.replace("__", "."): v for k, v in {**size.get("overrides", {}), **overrides}.items()}
    return setup("gpu_check", profile=size["profile"], seed=0, data=str(data),
                 out=str(out or Path(os.environ["ICEPAPER_HOME"]) / "run"), overrides=over)


def _build(cfg, method: str, ds, batch: int):
    """(method module, MultiCropDataset) as ``pretrain.pretrained`` builds them."""
    import torch

    from icepaper.ssl import pretrain
    from icepaper.ssl.data import MultiCropDataset

    torch.manual_seed(0)
    m = pretrain.build_method(cfg, method)
    d = MultiCropDataset(ds, pretrain.default_indices(ds), pretrain.build_recipe(cfg, method), seed=0,
                         global_batch=batch, n_global=m.n_global,
                         mask_grid=m.mask_grid if method.startswith("ibot") else None)
    return m, d


# -- steps --------------------------------------------------------------------------------------
def step_data(rec: dict, st: dict, size: dict) -> None:
    from icepaper.data import PackedDataset
    from icepaper.synth import generate

    workers = max(1, len(os.sched_getaffinity(0)))
    root = st["work"] / "data" / f"synthetic-{size['n_images']}-{size['image_size']}px"
    rec.update(n_images=size["n_images"], image_size=size["image_size"], workers=workers)
    t0 = time.perf_counter()
    if not (root / "manifest.json").exists():
        generate.generate_dataset(root, n_images=size["n_images"], image_size=size["image_size"], seed=0,
                                  workers=workers, progress=False)
    dt = time.perf_counter() - t0
    ds = PackedDataset(root)
    st["ds"] = ds
    rec.update(generate_seconds=round(dt, 2), images_per_sec=round(len(ds) / dt, 1),
               gib_on_disk=round(len(ds) * ds.size**2 / 2**30, 3))
    log(f"data: {len(ds)} images of {ds.size} px in {dt:.1f} s on {workers} processes")


def _engine(cfg, method, ds, batch, warm, timed, device, workers, workdir: Path) -> tuple[float, float | None]:
    """(images/s of ``trainer.train`` over steps warm+1..warm+timed from its log, peak GiB);
    ``workdir`` is emptied first (a checkpoint there would be resumed)."""
    from icepaper.ssl.trainer import TrainSpec, train

    shutil.rmtree(workdir, ignore_errors=True)
    m, d = _build(cfg, method, ds, batch)
    _reset_peak(device)
    out = train(m, d, TrainSpec(steps=warm + timed, batch_size=batch, num_workers=workers, device=device,
                                progress=False, log_every=1), workdir)
    peak = _peak_gib(device)
    log_ = out.log.set_index("step")
    dt = float(log_.loc[warm + timed, "seconds"] - log_.loc[warm, "seconds"])
    del m, out
    return timed * batch / dt, peak


def _plain(cfg, method, ds, batch, warm, timed, device, workers) -> tuple[float, float | None]:
    """Images/s (and peak GiB) of a bare loop like lightly's examples: same model, optimiser and
    DataLoader, bf16 autocast on CUDA, first ``warm`` steps excluded."""

    from icepaper.ssl.data import make_loader

    m, d = _build(cfg, method, ds, batch)
    loader = make_loader(d, 0, warm + timed, batch, num_workers=workers, pin_memory=_cuda(device))
    batches = (([v.to(device, non_blocking=True) for v in views], masks) for views, masks in loader)
    return _timed_steps(m, batches, batch, warm, timed, device)


def _timed_steps(m, batches, batch, warm, timed, device) -> tuple[float, float | None]:
    """Images/s (and peak GiB) of ``warm + timed`` steps of ``m`` (forward + backward + optimiser
    + EMA, bf16 autocast on CUDA) on ``batches`` of (views on ``device``, masks), the first
    ``warm`` steps excluded from the clock."""
    import torch

    m.to(device).train()
    opt = m.make_optimizer()
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=_cuda(device))
    _reset_peak(device)
    t0 = None
    for i, (views, masks) in enumerate(batches):
        if i == warm:
            _sync(device)
            t0 = time.perf_counter()
        with amp:
            loss, _ = m(views, masks, step=i, total=warm + timed)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        m.momentum_update(0.996)
    _sync(device)
    return timed * batch / (time.perf_counter() - t0), _peak_gib(device)


def _model_only(cfg, method, batch, warm, timed, device) -> tuple[float, float | None]:
    """Images/s (and peak GiB) of forward + backward + optimiser + EMA on random crops that are
    already on the device (no data loading): the ceiling the engine could reach."""
    import torch

    from icepaper.ssl import pretrain

    torch.manual_seed(0)
    m = pretrain.build_method(cfg, method)
    c = pretrain.crop_sizes(cfg, method)
    sizes = [c["global_size"]] * 2 + [c["local_size"]] * c["n_local"]
    views = [torch.randn(batch, 1, s, s, device=device) for s in sizes]
    masks = None
    if method.startswith("ibot"):
        h, w = m.mask_grid
        masks = torch.rand(2 * batch, h, w) < 0.25
        masks[::2] = False  # half the images unmasked, as iBOT
    return _timed_steps(m, ((views, masks) for _ in range(warm + timed)), batch, warm, timed, device)


def _loader_only(cfg, method, ds, batch, warm, timed, workers) -> float:
    """Images/s of the pretraining DataLoader alone (augmentations on the CPU workers), over the
    ``timed`` batches after the first ``warm`` (at least one: worker start-up)."""
    from icepaper.ssl.data import make_loader

    _, d = _build(cfg, method, ds, batch)
    warm = max(int(warm), 1)
    t0 = 0.0
    for i, _batch in enumerate(make_loader(d, 0, warm + timed, batch, num_workers=workers)):
        if i == warm - 1:
            t0 = time.perf_counter()
    return timed * batch / (time.perf_counter() - t0)


def _window(size: dict, workers: int, resnet: bool = False) -> tuple[int, int]:
    """(warm-up steps, timed steps). Each DataLoader worker builds whole batches, so a
    loader-bound run delivers batches in rounds of ``workers``: the timed window starts after
    the first round and spans at least one whole round, else it would time prefetched batches."""
    timed = size["resnet_timed" if resnet else "timed"]
    if workers:
        timed = workers * max(1, round(timed / workers))  # whole rounds
    return max(size["warm"], workers), timed


def step_throughput(rec: dict, st: dict, size: dict, method: str) -> None:
    import torch

    from icepaper.ssl.pretrain import crop_sizes

    ds, device, workers = st["ds"], st["device"], st["workers"]
    batch = size["batch"]
    warm, timed = _window(size, workers, resnet=not method.startswith("ibot"))
    cfg = _cfg(size, pretrain__batch_size=batch)
    c = crop_sizes(cfg, method)
    p = cfg.profile.pretrain
    arch = (f"ViT depth {p['vit_depth']}, width {p['vit_embed_dim']}, patch {p['vit_patch']}"
            if method.startswith("ibot") else str(p["resnet"]))
    rec.update(architecture=arch, batch_size=batch, warm_steps=warm, timed_steps=timed, dataloader_workers=workers,
               crops=f"2 x {c['global_size']} px" + (f" + {c['n_local']} x {c['local_size']} px" if c["n_local"] else ""),
               crops_per_image=2 + c["n_local"], bf16_autocast=_cuda(device), peak_gib={})
    while True:  # out of GPU memory: half the batch (down to 32), recorded
        try:
            eng, rec["peak_gib"]["engine"] = _engine(cfg, method, ds, batch, warm, timed, device, workers,
                                                     st["work"] / f"engine-{method}")
            break
        except torch.cuda.OutOfMemoryError:
            if batch <= 32:
                raise
        _free(device)  # outside the except block: its traceback no longer holds the model
        rec.setdefault("out_of_memory_at_batch", []).append(batch)
        batch //= 2
        cfg = _cfg(size, pretrain__batch_size=batch)
        rec["batch_size"] = batch
        log(f"{method}: out of GPU memory, batch {batch} now")
    rec["engine_img_per_s"] = round(eng, 1)
    rec["engine_crops_per_s"] = round(eng * rec["crops_per_image"], 1)
    st[f"{method}_steps_per_s"], st[f"{method}_batch"] = eng / batch, batch
    log(f"{method}: engine {eng:.0f} img/s (batch {batch}, {timed} timed steps after {warm})")
    _free(device)
    if method.startswith("ibot"):
        plain, rec["peak_gib"]["plain"] = _plain(cfg, method, ds, batch, warm, timed, device, workers)
        rec["plain_img_per_s"] = round(plain, 1)
        rec["engine_over_plain"] = round(eng / plain, 3)
        log(f"{method}: plain loop {plain:.0f} img/s")
        _free(device)
    mo, rec["peak_gib"]["model_only"] = _model_only(cfg, method, batch, size["warm"], size["timed"], device)
    rec["model_only_img_per_s"] = round(mo, 1)
    log(f"{method}: model alone {mo:.0f} img/s")
    _free(device)
    if method.startswith("ibot"):
        lo = _loader_only(cfg, method, ds, batch, warm, timed, workers)
        rec["loader_only_img_per_s"] = round(lo, 1)
        if workers:
            rec["loader_img_per_s_per_worker"] = round(lo / workers, 1)
        rec["target_engine_img_per_s"] = TARGETS["ibot_vmf_engine_img_per_s"]
        rec["meets_target"] = bool(eng >= TARGETS["ibot_vmf_engine_img_per_s"])
        rec["limited_by"] = "data loading (DataLoader alone slower than the model alone)" if lo < mo else "model"
        log(f"{method}: DataLoader alone {lo:.0f} img/s")


def step_embedding(rec: dict, st: dict, size: dict) -> None:
    import torch

    from icepaper.representations.embed import extract_embeddings
    from icepaper.ssl.backbones import create_backbone

    ds, device = st["ds"], st["device"]
    cfg = _cfg(size)
    bs = int(cfg.profile.embed["batch_size"])
    torch.manual_seed(0)
    model = create_backbone(cfg.profile.pretrain, "vit").eval()
    workers = max(1, st["workers"])
    idx = np.tile(np.arange(len(ds)), size["embed_passes"])
    p = cfg.profile.pretrain
    rec.update(architecture=f"ViT depth {p['vit_depth']}, width {p['vit_embed_dim']}, patch {p['vit_patch']}, "
               f"{p['vit_img_size']} px", batch_size=bs, images=len(idx), passes=size["embed_passes"],
               dataloader_workers=workers, bf16_autocast=_cuda(device),
               target_img_per_s=TARGETS["embedding_img_per_s"])
    work = st["work"] / "embed"
    extract_embeddings(model, ds, work / "warm", indices=idx[: 2 * bs], batch_size=bs, device=device,
                       progress=False, num_workers=workers)  # kernels, page cache
    _reset_peak(device)
    _sync(device)
    t0 = time.perf_counter()
    emb = extract_embeddings(model, ds, work / "workers", indices=idx, batch_size=bs, device=device,
                             progress=False, num_workers=workers)
    _sync(device)
    dt = time.perf_counter() - t0
    rec["peak_gib"] = _peak_gib(device)
    if not np.isfinite(np.asarray(emb[-bs:], np.float32)).all():
        raise FloatingPointError("non-finite embeddings")
    rec["img_per_s"] = round(len(idx) / dt, 1)
    rec["meets_target"] = bool(len(idx) / dt >= TARGETS["embedding_img_per_s"])
    log(f"embedding: {len(idx) / dt:.0f} img/s with {workers} DataLoader workers")
    one = idx[: len(ds)]
    t0 = time.perf_counter()
    extract_embeddings(model, ds, work / "main", indices=one, batch_size=bs, device=device, progress=False)
    _sync(device)
    rec["img_per_s_no_workers"] = round(len(one) / (time.perf_counter() - t0), 1)
    log(f"embedding: {rec['img_per_s_no_workers']:.0f} img/s reading in the main process")
    shutil.rmtree(work, ignore_errors=True)


def step_ssl(rec: dict, st: dict, size: dict, seconds: float) -> None:
    import torch

    from icepaper.data import load_dataset
    from icepaper.representations import probes
    from icepaper.ssl import pretrain
    from icepaper.ssl.backbones import export_backbone

    ds0, device, batch = st["ds"], st["device"], st.get("ibot_vmf_batch", size["batch"])
    shutil.rmtree(st["work"] / "home" / "cache", ignore_errors=True)  # train anew, also in a kept --work
    rate = st.get("ibot_vmf_steps_per_s")
    if not rate:  # the throughput step failed: a short calibration run instead
        cfg = _cfg(size, pretrain__batch_size=batch)
        img_s, _ = _engine(cfg, "ibot_vmf", ds0, batch, 1, 3, device, st["workers"], st["work"] / "calibrate")
        rate = img_s / batch
        rec["rate_from"] = "calibration run (the throughput step failed)"
    steps = int(np.clip(seconds * rate, 4, 1_000_000))
    warmup = max(1, steps // 10)
    caps = {f"probes__{k}": v for k, v in size["probe_caps"].items()}
    cfg = _cfg(size, data=ds0.root, out=st["work"] / "run", pretrain__batch_size=batch, pretrain__steps=steps,
               pretrain__warmup_steps=warmup, pretrain__num_workers=st["workers"], **caps)
    rec.update(method="ibot_vmf", profile=size["profile"], overrides=dict(cfg.profile.overrides),
               planned_seconds=round(seconds, 1), steps=steps, batch_size=batch)
    log(f"ssl_run: iBOT-vMF, {steps} steps of {batch} images (~{seconds:.0f} s at the measured rate)")
    ds = load_dataset(cfg)
    _reset_peak(device)
    res = pretrain.pretrained(cfg, ds, "ibot_vmf", steps=steps, progress=False)
    rec["peak_gib"] = _peak_gib(device)
    rec.update(train_seconds=round(res.seconds, 1), images_seen=res.images_seen,
               img_per_s=round(res.images_seen / max(res.seconds, 1e-9), 1),
               first_loss=float(res.log["loss"].iloc[0]), final_loss=res.final_loss)
    log(f"ssl_run: trained in {res.seconds:.0f} s, loss {rec['first_loss']:.3f} -> {res.final_loss:.3f}")
    _free(device)
    scheme = probes.pick_scheme(ds, "cpi")
    why = probes.skip_reason(ds, scheme)
    if why:
        raise RuntimeError(f"no probes on these data: {why}")
    rand_path = export_backbone(pretrain.random_backbone(cfg, "vit"), st["work"] / "random-init.safetensors")
    files = {"random-init ViT": rand_path, "iBOT-vMF (this run)": res.backbone}
    t0 = time.perf_counter()
    results, _, sp = probes.evaluate_backbones(cfg, ds, files, scheme)
    geo = probes.geometric_baseline(ds, scheme, Cs=list(cfg.profile.probes["logreg_C"]), splits=sp, seed=0)
    results["13 geometric features"] = geo
    top, majority = probes.majority_accuracy(ds, scheme, sp)
    rec.update(scheme=scheme, population=probes.probe_population(ds)[1],
               probe_rows={s: int(len(v)) for s, v in sp.items()}, probe_seconds=round(time.perf_counter() - t0, 1),
               probes={n: {"knn_pct": round(r.knn, 2), "logreg_pct": round(r.logreg, 2), "C": r.C}
                       for n, r in results.items()},
               majority_class={"class": top, "pct": round(majority, 2)})
    ssl, rnd = results["iBOT-vMF (this run)"], results["random-init ViT"]
    rec["ssl_minus_geometric_logreg_pp"] = round(ssl.logreg - geo.logreg, 2)
    rec["ssl_minus_random_logreg_pp"] = round(ssl.logreg - rnd.logreg, 2)
    for n, r in results.items():
        log(f"ssl_run: {n:>22}: kNN {r.knn:5.1f} %, logistic regression {r.logreg:5.1f} %")
    del res
    torch.manual_seed(0)


# -- driver -----------------------------------------------------------------------------------
def _commit() -> str | None:
    """The checkout's commit (``+`` when files differ from it), or None outside a git checkout."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+" if dirty else "")) or None


def _environment(device: str) -> dict:
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "device": device,
           "cpu_cores": len(os.sched_getaffinity(0)),
           "loadavg_1min": round(os.getloadavg()[0], 2), "commit": _commit()}
    with contextlib.suppress(OSError):  # DataLoader workers pass batches through shared memory
        env["dev_shm_gib"] = round(shutil.disk_usage("/dev/shm").total / 2**30, 1)
    if _cuda(device):
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(p.total_memory / 2**30, 1),
                   cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return env


def run(out: Path, tiny: bool = False, work: Path | None = None, device: str | None = None,
        budget: float | None = None, workers: int | None = None) -> dict:
    """Run every step; write and return the report (``<out>/gpu_check.json``). ``workers``:
    DataLoader processes (default: all cores but two; none with ``tiny``)."""
    import torch

    size = TINY if tiny else GPU
    device = device or ("cuda" if torch.cuda.is_available() and not tiny else "cpu")
    if not _cuda(device):
        torch.set_num_threads(1)  # multithreaded CPU kernels spin-wait (10x slower) on a shared machine
    out.mkdir(parents=True, exist_ok=True)
    keep = work is not None
    work = Path(work) if work else Path(tempfile.mkdtemp(prefix="icepaper-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["ICEPAPER_HOME"] = str(work / "home")  # caches of this check only
    os.environ["ICEPAPER_DEVICE"] = device  # what icepaper.setup picks for the SSL run
    start = time.perf_counter()
    deadline = start + float(budget or size["budget"])
    if workers is None:
        workers = 0 if tiny else max(1, len(os.sched_getaffinity(0)) - 2)
    st = {"work": work, "device": device, "workers": int(workers)}
    rep = Report(out / "gpu_check.json", mode="tiny" if tiny else "gpu", environment=_environment(device),
                 targets=TARGETS, budget_s=round(deadline - start))
    report = rep.data

    def record(name: str, fn, box: float) -> None:
        needs = None if name == "data" or "ds" in st else "no dataset (the data step failed)"
        rep.step(name, fn, box, cleanup=lambda: _free(device), requires=needs)

    old_term = catch_sigterm()
    try:
        boxes = size["boxes"]
        record("data", lambda r: step_data(r, st, size), boxes["data"])
        for m in ("ibot_vmf", "moco", "byol"):
            record(f"{m}_throughput", lambda r, m=m: step_throughput(r, st, size, m), boxes[f"{m}_throughput"])
        record("embedding_throughput", lambda r: step_embedding(r, st, size), boxes["embedding_throughput"])
        left = deadline - time.perf_counter()
        # training time: what is left after the probes and the run's own start-up and checkpoints
        seconds = float(np.clip(left - size["probe_reserve"] - size["ssl_overhead"], 1.0, size["ssl_seconds"]))
        box = min(seconds + size["ssl_overhead"] + size["probe_reserve"] + 20, deadline + 15 - time.perf_counter())
        record("ssl_run", lambda r: step_ssl(r, st, size, seconds), box)
        peaks = {}
        for name, sec in report["sections"].items():
            p = sec.get("peak_gib")
            if isinstance(p, dict):
                peaks.update({f"{name}.{k}": v for k, v in p.items()})
            elif name != "data":
                peaks[name] = p
        report["sections"]["peak_memory"] = {
            "status": "not run" if rep.stopped else "ok", "unit": "GiB (torch.cuda.max_memory_allocated)", "gib": peaks,
            **({} if _cuda(device) else {"note": "CPU run: no GPU memory to measure (values are null)"})}
    finally:
        signal.signal(signal.SIGTERM, old_term)
        _TERM.update(asked=False, armed=False)
        report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        report["total_seconds"] = round(time.perf_counter() - start, 1)
        report["all_ok"] = all(s.get("status") == "ok" for s in report["sections"].values())
        rep.write()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {rep.path} ({report['total_seconds']:.0f} s; all steps ok: {report['all_ok']})")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_out = os.environ.get("OUT") or str(Path(__file__).resolve().parents[1] / "build" / "bench" / "gpu_check")
    ap.add_argument("--out", default=default_out, help="folder of gpu_check.json (default: $OUT, else build/bench/gpu_check)")
    ap.add_argument("--tiny", action="store_true", default=os.environ.get("GPU_CHECK_TINY", "") not in ("", "0"),
                    help="CPU, smoke-profile sizes, seconds (also GPU_CHECK_TINY=1)")
    ap.add_argument("--work", default=None, help="work folder to use and keep (default: a temporary one, deleted)")
    ap.add_argument("--device", default=None, help="default: cuda when available (cpu with --tiny)")
    ap.add_argument("--budget", type=float, default=None, help="seconds for all steps (default 450; tiny 150)")
    ap.add_argument("--workers", type=int, default=None,
                    help="DataLoader worker processes (default: all cores but two; 0 with --tiny)")
    a = ap.parse_args(argv)
    import torch

    if not a.tiny and not torch.cuda.is_available() and not (a.device or "").startswith("cpu"):
        print("gpu_check: no CUDA GPU visible; use --tiny for the CPU smoke run", file=sys.stderr)
        return 2
    rep = run(Path(a.out), tiny=a.tiny, work=Path(a.work) if a.work else None, device=a.device, budget=a.budget,
              workers=a.workers)
    return 0 if rep["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
