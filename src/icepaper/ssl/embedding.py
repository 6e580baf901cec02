"""In-memory embedding of dataset rows by a backbone: the evaluation preprocessing (resize +
normalise, as ``augment.eval_transform``), CLS or mean-token pooling, and ``embed_array`` (used
by pretraining's kNN check; ``representations.embed`` adds the cache for whole datasets)."""

from __future__ import annotations

import numpy as np
import torch

POOLINGS = ("cls", "mean")


def input_size(model: torch.nn.Module, default: int) -> int:
    """Square input size (px) the backbone was built for (a ViT's ``img_size``), else ``default``."""
    meta = getattr(model, "icepaper_timm", {}) or {}
    s = meta.get("kwargs", {}).get("img_size")
    if s is None and hasattr(model, "patch_embed"):
        s = model.patch_embed.img_size
    if s is None:
        return int(default)
    return int(s[0] if isinstance(s, (tuple, list)) else s)


def in_chans(model: torch.nn.Module) -> int:
    """Number of input channels of the backbone's first convolution."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            return int(m.in_channels)
    return 1


class Preprocess:
    """uint8 (n, S, S) batch (array or tensor) -> normalised float (n, C, size, size) on
    ``device``: the same resize and normalisation as ``icepaper.augment.eval_transform(size,
    in_chans)``, run on the device."""

    def __init__(self, size: int, channels: int = 1, device: str = "cpu"):
        from icepaper.augment import eval_transform

        self.size, self.channels, self.device = int(size), int(channels), torch.device(device)
        stats = eval_transform(size, channels).params["normalize"]
        self.mean = torch.tensor(stats["mean"], device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(stats["std"], device=self.device).view(1, -1, 1, 1)

    def __call__(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        import torchvision.transforms.v2.functional as TF

        x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
        if self.device.type == "cuda":
            x = (x if x.is_pinned() else x.pin_memory()).to(self.device, non_blocking=True)
        x = x.unsqueeze(1)
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = TF.resize(x, [self.size, self.size], interpolation=TF.InterpolationMode.BICUBIC,
                          antialias=True)
        y = x.float() / 255.0
        if self.channels != 1:
            y = y.expand(-1, self.channels, -1, -1)
        return (y - self.mean) / self.std


def pool(model: torch.nn.Module, x: torch.Tensor, pooling: str = "cls") -> torch.Tensor:
    """(n, D) embedding of a preprocessed batch: ``model(x)`` ("cls") or mean patch token ("mean")."""
    if pooling == "cls":
        return model(x)
    if pooling != "mean":
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    f = model.forward_features(x)
    if f.ndim == 4:  # CNN feature map
        return f.mean(dim=(2, 3))
    return f[:, int(getattr(model, "num_prefix_tokens", 1)):].mean(1)


@torch.inference_mode()
def embed_array(model: torch.nn.Module, ds, rows, *, size: int | None = None, batch_size: int = 256,
                pooling: str = "cls", device: str = "cpu") -> np.ndarray:
    """(len(rows), D) float32 embeddings of ``ds`` rows held in memory (no cache, no progress):
    for quick checks on a few thousand images; use :func:`embeddings_for` for whole datasets."""
    model = model.to(device).eval()
    size = input_size(model, ds.size) if size is None else int(size)
    prep = Preprocess(size, in_chans(model), device)
    rows = np.asarray(rows, dtype=np.int64)
    out = []
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=torch.device(device).type == "cuda"):
        for a in range(0, len(rows), batch_size):
            out.append(pool(model, prep(ds.batch(rows[a:a + batch_size])), pooling).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)
