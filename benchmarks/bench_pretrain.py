"""Benchmark: SSL pretraining throughput (crops/s, every crop counted) per method, side by side.

For each method (iBOT-vMF, iBOT, MoCo v2, BYOL) at a profile's sizes it times, in one run on
the same synthetic packed dataset and the same augmentations:

- ``engine``: ``icepaper.ssl.trainer.train`` (schedules, per-step seeding, NaN guard,
  gradient clipping, EMA, logging, final checkpoint), timed from its own log between the end of
  the first (warm-up) step and the last step;
- ``plain``: a bare loop written like lightly's examples (``for views in loader: loss =
  model(views); loss.backward(); opt.step(); opt.zero_grad(); update_momentum``), same model,
  optimiser and DataLoader, first step excluded.

``engine / plain`` near 1 means the engine's bookkeeping costs nothing measurable.

    python benchmarks/bench_pretrain.py                          # CPU, default-profile sizes
    python benchmarks/bench_pretrain.py --preset smoke --steps 3
    python benchmarks/bench_pretrain.py --device cuda --preset paper --methods ibot_vmf
        # ViT-S/16 at 224 px, 2 + 10 crops, bf16 (the GPU target below)

GPU target (issue 3): ViT-S/16 iBOT-vMF at 224 px with 2 + 10 crops in bf16 >= 3,000 images/s
on one H100. Results: printed, and written to build/bench/pretrain.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def _dataset(root: Path, n: int, size: int):
    """n particle-like grey images (dark ellipses and bars on a bright background)."""
    from icepaper.data.packed import PackedDataset, PackedWriter

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] - size / 2
    with PackedWriter(root, image_size=size, name="bench") as w:
        for a in range(0, n, 512):
            m = min(512, n - a)
            ax = rng.uniform(0.05, 0.4, (m, 2, 1, 1)) * size
            blob = (xx / ax[:, 0]) ** 2 + (yy / ax[:, 1]) ** 2 < 1
            img = np.where(blob, 40, 235) + rng.integers(-8, 8, (m, size, size))
            meta = pd.DataFrame({"image_id": [f"b{a + i}" for i in range(m)], "split": "train", "source_file": ""})
            w.add(img.clip(0, 255).astype(np.uint8), meta)
    return PackedDataset(root)


class _Cfg:
    """The bits of a RunConfig that ``pretrain.build_method``/``build_recipe`` read."""

    def __init__(self, profile, seed: int = 0):
        self.profile, self.seed = profile, seed


def _build(cfg, method: str, ds, batch: int, seed: int = 0):
    from icepaper.ssl import pretrain
    from icepaper.ssl.data import MultiCropDataset

    torch.manual_seed(seed)
    m = pretrain.build_method(cfg, method)
    d = MultiCropDataset(ds, np.arange(len(ds)), pretrain.build_recipe(cfg, method), seed=seed,
                         global_batch=batch, n_global=m.n_global,
                         mask_grid=m.mask_grid if method.startswith("ibot") else None)
    return m, d


def engine_rate(cfg, method, ds, batch, steps, device, workers, tmp: Path) -> float:
    """Crops/s of ``trainer.train`` over steps 2..steps+1 (from its log; step 1 is warm-up)."""
    from icepaper.ssl.trainer import TrainSpec, train

    m, d = _build(cfg, method, ds, batch)
    out = train(m, d, TrainSpec(steps=steps + 1, batch_size=batch, num_workers=workers, device=device,
                                progress=False), tmp / f"engine-{method}")
    log = out.log.set_index("step")
    n_views = out.crops_seen // out.images_seen
    return steps * batch * n_views / float(log.loc[steps + 1, "seconds"] - log.loc[1, "seconds"])


def plain_rate(cfg, method, ds, batch, steps, device, workers) -> float:
    """Crops/s of a bare lightly-style loop on the same model, optimiser and data (step 1 excluded)."""
    from icepaper.ssl.data import make_loader

    m, d = _build(cfg, method, ds, batch)
    m.to(device).train()
    opt = m.make_optimizer()
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))
    crops, t0 = 0, None
    for i, (views, masks) in enumerate(make_loader(d, 0, steps + 1, batch, num_workers=workers)):
        views = [v.to(device, non_blocking=True) for v in views]
        with amp:
            loss, _ = m(views, masks, step=i, total=steps + 1)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        m.momentum_update(0.996)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i == 0:
            t0 = time.perf_counter()
        else:
            crops += batch * len(views)
    return crops / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="default", choices=["smoke", "default", "paper"],
                    help="profile whose pretrain sizes (networks, crops, batch) are measured")
    ap.add_argument("--methods", default="ibot_vmf,ibot,moco,byol")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per loop (default 4 on CPU, 30 on GPU)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the profile's pretrain.batch_size")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: the profile's)")
    a = ap.parse_args(argv)

    from icepaper.core.profiles import get_profile
    from icepaper.ssl.pretrain import crop_sizes

    torch.set_num_threads(a.threads)
    prof = get_profile(a.preset)
    cfg = _Cfg(prof)
    p = prof.pretrain
    gpu = a.device.startswith("cuda")
    steps = a.steps or (30 if gpu else 4)
    batch = a.batch_size or (int(p["batch_size"]) if not gpu else min(int(p["batch_size"]), 256))
    workers = int(p["num_workers"]) if a.workers is None else a.workers
    methods = [m for m in a.methods.split(",") if m]
    size = max(int(p["vit_img_size"]), int(p["resnet_img_size"]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ds = _dataset(tmp / "ds", batch * (steps + 1), size)
        for method in methods:
            eng = engine_rate(cfg, method, ds, batch, steps, a.device, workers, tmp)
            plain = plain_rate(cfg, method, ds, batch, steps, a.device, workers)
            c = crop_sizes(cfg, method)
            rows.append({"method": method, "engine_crops_per_sec": eng, "plain_crops_per_sec": plain,
                         "engine_over_plain": eng / plain, "crops_per_image": 2 + c["n_local"],
                         "global_px": c["global_size"], "local_px": c["local_size"]})
            print(f"{method:>9}: engine {eng:8.1f} crops/s   plain loop {plain:8.1f} crops/s   "
                  f"engine/plain {eng / plain:.2f}", flush=True)
    table = pd.DataFrame(rows).set_index("method")
    print(table.round(2).to_string())
    if not gpu:
        print(f"cpu_threads: {a.threads}; dataloader workers: {workers}; load_average_1min: "
              f"{os.getloadavg()[0]:.2f} (other jobs inflate timings; ratios in one run stay comparable)")
    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "device": a.device, "preset": a.preset,
           "batch_size": batch, "timed_steps": steps, "threads": a.threads, "workers": workers,
           "loadavg_1min": os.getloadavg()[0],
           "gpu": torch.cuda.get_device_name() if gpu else None,
           "results": {r["method"]: {k: v for k, v in r.items() if k != "method"} for r in rows}}
    out = Path(__file__).resolve().parent.parent / "build" / "bench" / "pretrain.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=2))
    return rec


if __name__ == "__main__":
    main()
