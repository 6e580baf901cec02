"""The one training loop of every SSL method (iBOT-vMF, iBOT, MoCo v2, BYOL).

Why plain PyTorch (+ ``torchrun`` for DDP) rather than PyTorch Lightning: the loop must
resume *exactly* (optimiser, EMA teacher, loss centers, MoCo queue, step and data order),
and the data order here is a pure function of ``(seed, step, slot)``
(:mod:`icepaper.ssl.data`), so a resume only has to restore one ``state_dict`` and start
the sampler at the saved step; Lightning's fit loop and its sampler/epoch bookkeeping
would have to be bent to do the same, and it adds start-up time and memory to a CPU
notebook that trains for two minutes. The loop is ~150 lines; DDP is torch's own.

Per step: schedules (lr warm-up + cosine, weight-decay cosine for iBOT, EMA momentum
cosine, teacher temperature warm-up) are computed from the step number, so there is no
scheduler object to save; RNGs are re-seeded from ``(seed, step, rank)``; forward under
bf16 autocast on CUDA (fp32 on CPU); a non-finite loss (averaged over processes) stops
the run with :class:`NonFiniteLossError` before any update, leaving the last good
checkpoint untouched; backward; gradient clipping (``method.clip_grad``, global L2 norm);
optimiser step; EMA update. Under DDP, BatchNorm layers are synchronised across
processes on GPUs (:func:`icepaper.ssl.ddp.sync_batchnorm`). Checkpoints (``last.pt``:
model incl. EMA and buffers, optimiser, step, log, elapsed time) are written atomically
every ``ckpt_every`` steps, every ``ckpt_minutes`` of wall time, on SIGUSR1 (training goes
on) and on SIGTERM (training stops with :class:`TrainingInterrupted`), always at the end of
a step (:mod:`icepaper.ssl.signals`), and at the end; ``log.csv`` holds step, loss, lr, momentum,
teacher_temp, images_per_sec (every crop counted) and method-specific terms; with
``spec.tensorboard_dir`` the same rows also go to TensorBoard (:mod:`icepaper.ssl.tblog`).
"""

from __future__ import annotations

import inspect
import io
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from icepaper.core.atomic import atomic_write_bytes

from . import ddp
from .base import SSLMethod
from .data import MultiCropDataset, make_loader, seed_step
from .signals import CheckpointSignals, TrainingInterrupted

CHECKPOINT = "last.pt"
LOG = "log.csv"


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN/inf; training stopped and the last good checkpoint was kept."""


@dataclass
class TrainSpec:
    """How long and how to train (the method holds the optimisation hyperparameters)."""

    steps: int
    batch_size: int  # global batch (all processes together), images per step
    seed: int = 0
    ckpt_every: int = 0  # 0: checkpoint only at the end (and when stop_at is reached)
    ckpt_minutes: float = 0.0  # also checkpoint after this much wall time (min); 0: off
    log_every: int = 1
    num_workers: int = 0
    device: str = "cpu"
    progress: bool = True
    desc: str = ""
    tensorboard_dir: str = ""  # write the log rows as TensorBoard scalars here ("": off)


@dataclass
class TrainOutput:
    """What :func:`train` returns: final step, log, timings and the checkpoint path."""

    checkpoint: Path
    step: int
    log: pd.DataFrame
    seconds: float
    images_seen: int
    crops_seen: int
    finished: bool
    extra: dict[str, Any] = field(default_factory=dict)


def _autocast(device: str):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def save_checkpoint(path: Path, method: SSLMethod, opt: torch.optim.Optimizer, step: int,
                    rows: list[dict], spec: TrainSpec, elapsed: float) -> None:
    """Write the full training state to ``path`` atomically (rank 0 only)."""
    if not ddp.is_main():
        return
    bb = method.export_model()
    state = {
        "format": "icepaper-ssl-checkpoint/1",
        "method": method.name,
        "step": int(step),
        "model": method.state_dict(),
        "optimizer": opt.state_dict(),
        "log": rows,
        "spec": asdict(spec),
        "elapsed": float(elapsed),
        "backbone_state": {k: v.detach().cpu() for k, v in bb.state_dict().items()},
        "backbone_timm": getattr(bb, "icepaper_timm", None),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(path), buf.getvalue())
    write_log(Path(path).with_name(LOG), rows)


def write_log(path: Path, rows: list[dict]) -> None:
    atomic_write_bytes(path, pd.DataFrame(rows).to_csv(index=False).encode())


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - name the file whatever went wrong
        raise ValueError(f"{path}: unreadable training checkpoint ({e})") from e


def _checkpoint_due(spec: TrainSpec, step: int, since: float, signals: CheckpointSignals) -> tuple[bool, bool]:
    """(write a checkpoint, stop) after ``step`` steps, ``since`` s after the last checkpoint;
    the same answer on every process."""
    save = bool(spec.ckpt_every) and step % spec.ckpt_every == 0
    save = save or (spec.ckpt_minutes > 0 and since >= 60 * spec.ckpt_minutes)
    save = signals.take_checkpoint() or save
    return ddp.any_of(save, signals.stop is not None, device=spec.device)


def train(method: SSLMethod, dataset: MultiCropDataset, spec: TrainSpec, workdir: str | Path,
          *, stop_at: int | None = None) -> TrainOutput:
    """Train ``method`` on ``dataset`` for ``spec.steps`` steps, resuming from ``workdir``.

    ``stop_at`` ends the call after that many steps (with a checkpoint), as an interruption
    would; calling again with the same arguments continues exactly where it stopped.
    """
    workdir = Path(workdir)
    if ddp.is_main():  # the only process that writes there
        workdir.mkdir(parents=True, exist_ok=True)
    ckpt = workdir / CHECKPOINT
    device = spec.device
    world, rank = ddp.world_size(), ddp.rank()
    if spec.batch_size % world:
        raise ValueError(f"global batch {spec.batch_size} is not divisible by {world} processes")
    per_rank = spec.batch_size // world

    method.to(device)
    ddp.sync_batchnorm(method, device)  # before the optimiser and DDP see the layers
    opt = method.make_optimizer()
    step, rows, elapsed = 0, [], 0.0
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        if state.get("method") != method.name:
            raise ValueError(f"{ckpt}: checkpoint of {state.get('method')!r}, not {method.name!r}")
        old = state["spec"]
        for k in ("steps", "batch_size", "seed"):
            if old[k] != getattr(spec, k):
                raise ValueError(f"{ckpt}: was trained with {k}={old[k]}, asked {getattr(spec, k)}; "
                                 "use another work folder")
        method.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, rows, elapsed = int(state["step"]), list(state["log"]), float(state["elapsed"])
    first = ddp.broadcast_object(step)
    if any(ddp.any_of(step != first, device=device)):
        raise RuntimeError(f"rank {rank} resumes at step {step} from {ckpt}, rank 0 at step {first}: "
                           "every process must see rank 0's work folder (one shared filesystem)")
    stop = spec.steps if stop_at is None else min(spec.steps, int(stop_at))

    model: torch.nn.Module = method
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [torch.device(device).index] if device.startswith("cuda") else None
        # buffers synced once, at the start, not before every forward (torch < 2.14: broadcast_buffers)
        no_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters
                   else "broadcast_buffers")
        model = DDP(method, device_ids=ids, **{no_sync: False})

    n_views = None
    params = [p for g in opt.param_groups for p in g["params"]]
    loader = make_loader(dataset, step, stop, per_rank, rank, spec.num_workers,
                         pin_memory=device.startswith("cuda"))
    bar = None
    if spec.progress and ddp.is_main() and stop > step:
        from icepaper.core.progress import tqdm

        bar = tqdm(total=spec.steps, initial=step, desc=spec.desc or method.name, unit="step")
    writer = None
    if spec.tensorboard_dir and ddp.is_main() and stop > step:
        from .tblog import summary_writer

        writer = summary_writer(spec.tensorboard_dir, purge_step=step or None)
    method.train()
    t_prev = t_log = time.perf_counter()
    crops_since = 0
    t_ckpt = time.monotonic()
    with CheckpointSignals() as signals:
        for views, masks in loader:
            sched = method.schedule(step, spec.steps)
            for g in opt.param_groups:
                g["lr"] = sched["lr"]
                if g.get("scheduled_wd"):
                    g["weight_decay"] = sched["weight_decay"]
            seed_step(spec.seed, step, rank)
            views = [v.to(device, non_blocking=True) for v in views]
            n_views = len(views)
            with _autocast(device):
                loss, logs = model(views, masks, step=step, total=spec.steps)
            loss_mean = ddp.mean_scalar(loss.detach().float())
            loss_val = float(loss_mean)
            if not math.isfinite(loss_val):
                msg = (f"non-finite loss ({loss_val}) at step {step} of {method.name}; training stopped "
                       f"before the update. ")
                msg += (f"The last good checkpoint (step {load_checkpoint(ckpt)['step']}) is kept at {ckpt}."
                        if ckpt.exists() else "No checkpoint was written yet.")
                msg += " Lower the learning rate, raise warm-up, or train in fp32/bf16 (never fp16)."
                if bar is not None:
                    bar.close()
                if writer is not None:
                    writer.close()
                raise NonFiniteLossError(msg)
            loss.backward()
            method.after_backward(step)
            clip = float(getattr(method, "clip_grad", 0.0) or 0.0)
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            method.momentum_update(sched["momentum"])
            step += 1
            crops_since += spec.batch_size * n_views
            now = time.perf_counter()
            elapsed += now - t_prev  # wall time of the step, data loading included
            t_prev = now
            if step % spec.log_every == 0 or step == stop:
                row = {"step": step, "loss": loss_val, "lr": sched["lr"], "momentum": sched["momentum"],
                       "teacher_temp": float(sched.get("teacher_temp", float("nan"))),
                       "images_per_sec": crops_since / max(now - t_log, 1e-9),
                       "seconds": elapsed}
                for k, v in logs.items():
                    if k != "teacher_temp":
                        row[k] = float(v)
                rows.append(row)
                if writer is not None:
                    from .tblog import write_row

                    write_row(writer, row)
                crops_since = 0
                t_log = now
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_val:.3f}", img_s=f"{row['images_per_sec']:.0f}")
            if bar is not None:
                bar.update(1)
            save, halt = _checkpoint_due(spec, step, time.monotonic() - t_ckpt, signals)
            if halt:
                break
            if save and step < stop:
                save_checkpoint(ckpt, method, opt, step, rows, spec, elapsed)
                t_ckpt = time.monotonic()
                if writer is not None:
                    writer.flush()
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        save_checkpoint(ckpt, method, opt, step, rows, spec, elapsed)
        ddp.barrier()
        if signals.stop is not None:
            raise TrainingInterrupted(f"{signals.stop} at step {step} of {spec.steps} ({method.name}): "
                                      f"checkpoint written to {ckpt}; run the same command again to resume")
    log = pd.DataFrame(rows)
    if n_views is None:
        n_views = len(dataset[(0, 0)][0])
    crops = int(step * spec.batch_size * n_views)
    return TrainOutput(checkpoint=ckpt, step=step, log=log, seconds=elapsed,
                       images_seen=step * spec.batch_size, crops_seen=crops,
                       finished=step >= spec.steps)
