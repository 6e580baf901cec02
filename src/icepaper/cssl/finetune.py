"""Fine-tuning an encoder + MLP head on images (the ``head+last`` and ``all`` depths).

Chu et al. 2025 Sect. 3.4 / 4.1: the transferred encoder and the 3-layer MLP head are trained
with cross-entropy and SGD, learning rate warmed up linearly from 1e-5 and then
cosine-annealed to 0, with the fine-tuning augmentation (resize, crop 60-100 % of the
area, flip; ``icepaper.augment.build_recipe("finetune")``). Depths:

* ``all``: every weight trains (the paper).
* ``head+last``: only the last stage of the encoder (ResNet ``layer4``; a ViT's last block
  and final norm) and the head train; the frozen layers stay in eval mode (their
  BatchNorm statistics are not updated).

On CUDA the forward pass runs in bfloat16 autocast; on the CPU the weights are channels-last.
Steps follow ``heads.n_steps``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from icepaper.ssl.schedules import warmup_cosine

from .heads import HeadParams, MLPHead, RunLog, n_steps

DEPTHS = ("head", "head+last", "all")


def last_stage(model: nn.Module) -> list[nn.Module]:
    """The modules ``head+last`` trains: ResNet ``layer4``, or a ViT's last block and norms."""
    if hasattr(model, "layer4"):
        return [model.layer4]
    if hasattr(model, "blocks"):
        mods = [model.blocks[-1]]
        mods += [getattr(model, n) for n in ("norm", "fc_norm") if isinstance(getattr(model, n, None), nn.Module)]
        return mods
    raise ValueError(f"do not know the last stage of {type(model).__name__}")


class Classifier(nn.Module):
    """Encoder (pooled features) followed by the MLP head."""

    def __init__(self, encoder: nn.Module, head: MLPHead):
        super().__init__()
        self.encoder, self.head = encoder, head

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.embed(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def set_depth(model: Classifier, depth: str) -> list[nn.Parameter]:
    """Freeze what ``depth`` keeps fixed; return the parameters to train."""
    if depth not in ("head+last", "all"):
        raise ValueError(f"image fine-tuning depth must be 'head+last' or 'all', got {depth!r}")
    for p in model.encoder.parameters():
        p.requires_grad_(depth == "all")
    if depth == "head+last":
        for m in last_stage(model.encoder):
            for p in m.parameters():
                p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def _train_mode(model: Classifier, depth: str) -> None:
    model.train()
    if depth == "head+last":
        model.encoder.eval()
        for m in last_stage(model.encoder):
            m.train()


class _OneView:
    """Picklable transform: the single view of a one-view recipe."""

    def __init__(self, recipe):
        self.recipe = recipe

    def __call__(self, img) -> torch.Tensor:
        return self.recipe(img)[0]


class _Labelled(torch.utils.data.Dataset):
    def __init__(self, images, y):
        self.images, self.y = images, np.asarray(y, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.images[i], int(self.y[i])


@torch.no_grad()
def predict_images(model: Classifier, ds, rows, size: int, device: str, batch_size: int = 256
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and head hidden-layer embeddings for ``ds`` rows (evaluation transform)."""
    from icepaper.representations.embed import Preprocess

    model.eval().to(device)
    prep = Preprocess(size, 1, device)
    preds, embs = [], []
    rows = np.asarray(rows, dtype=np.int64)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
        for a in range(0, len(rows), batch_size):
            h = model.embed(prep(ds.batch(rows[a:a + batch_size]))).float()
            preds.append(model.head.out(h).argmax(1).cpu().numpy())
            embs.append(h.cpu().numpy())
    if not preds:
        return np.empty(0, np.int64), np.empty((0, model.head.out.in_features), np.float32)
    return np.concatenate(preds), np.concatenate(embs).astype(np.float32)


def finetune(encoder: nn.Module, ds, rows, y, n_classes: int, hp: HeadParams, depth: str, size: int,
             augment_sizes, device: str = "cpu", seed: int = 0, lr: float = 0.01, num_workers: int = 0,
             val_rows=None, y_val=None) -> tuple[Classifier, RunLog]:
    """Fine-tune ``encoder`` + a new head on images ``rows`` of ``ds``; return the model and its log."""
    from icepaper.augment import build_recipe
    from icepaper.data.torchdata import PackedImages, make_loader
    from icepaper.ssl.backbones import embed_dim

    torch.manual_seed(seed)
    model = Classifier(encoder, MLPHead(embed_dim(encoder), hp.hidden, n_classes)).to(device)
    if device == "cpu":
        model = model.to(memory_format=torch.channels_last)  # ~1.3-2x faster convolutions on CPU
    params = set_depth(model, depth)
    opt = torch.optim.SGD(params, lr=lr, momentum=hp.momentum, nesterov=True, weight_decay=hp.weight_decay)
    recipe = build_recipe("finetune", {**dict(augment_sizes), "global_size": size}, in_chans=1)
    images = PackedImages(ds, rows, transform=_OneView(recipe))
    bs = max(2, min(hp.batch_size, len(rows)))
    total = n_steps(len(rows), hp)
    warm = int(round(hp.warmup_frac * total))
    every = max(1, total // max(1, hp.n_evals))
    lossf = nn.CrossEntropyLoss()
    log = RunLog()
    gen = torch.Generator().manual_seed(seed)
    n_perm = -(-total * bs // len(rows))
    order = torch.cat([torch.randperm(len(rows), generator=gen) for _ in range(n_perm)])[: total * bs]
    loader = make_loader(_Labelled(images, y), bs, seed=seed, num_workers=num_workers, drop_last=True,
                         sampler=order.tolist())
    _train_mode(model, depth)
    step, correct, seen = 0, 0, 0
    for x, t in loader:
        x, t = x.to(device, non_blocking=True), t.to(device, non_blocking=True)
        lr_t = warmup_cosine(step, total, lr, warm)
        for g in opt.param_groups:
            g["lr"] = lr_t
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            logits = model(x)
            loss = lossf(logits.float(), t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        correct += int((logits.argmax(1) == t).sum())
        seen += len(t)
        log.loss.append(float(loss.detach()))
        log.lr.append(lr_t)
        if step % every == 0 or step == total:
            log.eval_step.append(step)
            log.train_acc.append(100.0 * correct / max(seen, 1))  # running accuracy on augmented batches
            log.val_acc.append(float("nan"))
            correct, seen = 0, 0
    if val_rows is not None and len(val_rows):
        pred, _ = predict_images(model, ds, val_rows, size, device)
        log.val_acc[-1] = float(np.mean(pred == np.asarray(y_val)) * 100.0)
    model.eval()
    return model, log
