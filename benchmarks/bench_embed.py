"""Benchmark: embedding-extraction throughput (images/s), data loading included.

Measures ``icepaper.representations.embed.extract_embeddings`` end to end on a packed dataset of random
particle-like images: read uint8 batches from the memory map, preprocess (resize +
normalise) on the device, forward pass, write float16 rows to the output memory map.

    python benchmarks/bench_embed.py                                  # CPU, default-profile ViT
    python benchmarks/bench_embed.py --device cuda --preset paper     # ViT-S/16, 224 px, bf16

Target (paper preset): >= 10,000 images/s on one H100 (bf16 autocast, data loading included).
On the CPU the default preset reports what notebooks 04-05 can expect.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _results import append_result


def _dataset(root: Path, n: int, size: int):
    from icepaper.data.packed import PackedDataset, PackedWriter

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    with PackedWriter(root, image_size=size, name="bench") as w:
        for a in range(0, n, 1024):
            m = min(1024, n - a)
            r = rng.uniform(0.1, 0.4, m)[:, None, None] * size
            c = rng.uniform(0.35, 0.65, (m, 2)) * size
            disc = (yy - c[:, 0, None, None]) ** 2 + (xx - c[:, 1, None, None]) ** 2 < r ** 2
            img = np.where(disc, 40, 235) + rng.integers(-8, 8, (m, size, size))
            meta = pd.DataFrame({"image_id": [f"b{a + i}" for i in range(m)], "split": "train", "source_file": ""})
            w.add(img.clip(0, 255).astype(np.uint8), meta)
    return PackedDataset(root)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="default", choices=["smoke", "default", "paper"],
                    help="profile whose pretrain ViT (and image size) is measured")
    ap.add_argument("--n", type=int, default=None, help="images (default: 2048 on CPU, 100000 on GPU)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the profile's embed.batch_size")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)

    from icepaper.core.profiles import get_profile
    from icepaper.representations.embed import extract_embeddings
    from icepaper.ssl.backbones import create_backbone

    torch.set_num_threads(a.threads)
    prof = get_profile(a.preset)
    size = int(prof.pretrain["vit_img_size"])
    n = a.n or (100_000 if a.device.startswith("cuda") else 2048)
    bs = a.batch_size or int(prof.embed["batch_size"])
    torch.manual_seed(0)
    model = create_backbone(prof.pretrain, "vit").eval()
    with tempfile.TemporaryDirectory() as tmp:
        ds = _dataset(Path(tmp) / "ds", n, size)
        # warm-up (kernels, page cache) on a small slice
        extract_embeddings(model, ds, Path(tmp) / "warm", indices=np.arange(min(n, 2 * bs)),
                           batch_size=bs, device=a.device, progress=False)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        emb = extract_embeddings(model, ds, Path(tmp) / "out", batch_size=bs, device=a.device, progress=True)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        assert np.isfinite(np.asarray(emb[-1], np.float32)).all()
    ips = n / dt
    arch = (f"ViT depth {prof.pretrain['vit_depth']}, dim {prof.pretrain['vit_embed_dim']}, "
            f"patch {prof.pretrain['vit_patch']}, {size} px")
    target = "target: >= 10000 img/s on one H100 (paper preset, bf16)" if a.preset == "paper" else "no target; informs notebook budgets"
    print(f"embed_throughput: {ips:.0f} img/s ({target}) [{a.device}, {arch}, batch {bs}, {n} images]")
    if a.device == "cpu":
        print(f"cpu_threads: {a.threads}; load_average_1min: {os.getloadavg()[0]:.2f} (other jobs inflate timings)")
    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "device": a.device, "preset": a.preset, "n": n,
           "batch_size": bs, "image_size": size, "images_per_sec": ips, "seconds": dt,
           "loadavg": os.getloadavg()[0],
           "gpu": torch.cuda.get_device_name() if a.device.startswith("cuda") else None}
    append_result("embed", rec)
    return rec


if __name__ == "__main__":
    main()
