"""Multi-process (DDP) helpers: one process per GPU, started by ``torchrun``.

``torchrun --nproc_per_node=N -m icepaper.ssl.pretrain --method ibot_vmf --profile paper``
sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; :func:`init_from_env` then joins the process
group (NCCL on GPUs, gloo on CPU). Outside torchrun everything here is a no-op, so the
same training loop runs single-process in a notebook.

BatchNorm (the MoCo and BYOL ResNets and their heads) is synchronised across processes
(:func:`sync_batchnorm`), so N processes with B/N images each normalise like one process
with B. torch's ``SyncBatchNorm`` has GPU kernels only (torch 2.14 raises "SyncBatchNorm
expected input tensor to be on GPU" on CPU tensors); CPU (gloo) runs keep per-process
statistics and say so in one warning.
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.distributed as dist
from torch import nn

SYNC_BN_DEVICES = ("cuda", "xpu", "hpu")  # where torch's SyncBatchNorm has kernels


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_dist() else 0


def world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def is_main() -> bool:
    return rank() == 0


def init_from_env(device: str = "cuda") -> str:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1; return this rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_dist():
        return device
    backend = "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return "cpu"


def barrier() -> None:
    if is_dist():
        dist.barrier()


def mean_scalar(x: torch.Tensor) -> torch.Tensor:
    """Mean of a scalar tensor over all processes (itself when single-process)."""
    if not is_dist():
        return x
    y = x.detach().clone().float()
    dist.all_reduce(y)
    return y / dist.get_world_size()


def any_of(*flags: bool, device: str = "cpu") -> tuple[bool, ...]:
    """Each flag, true when it is true on any process (so that all processes act alike)."""
    if not is_dist():
        return tuple(bool(f) for f in flags)
    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def broadcast_object(obj):
    """``obj`` from rank 0 on every rank."""
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def sync_batchnorm(module: nn.Module, device: str) -> nn.Module:
    """``module`` with BatchNorm over the global batch when several processes train it.

    Converts in place (same parameters and buffers, same ``state_dict`` keys) under DDP on a
    GPU; single-process, or without BatchNorm, ``module`` is returned untouched; under DDP on
    CPU it is left with per-process statistics and a one-line warning (rank 0).
    """
    if world_size() <= 1 or not has_batchnorm(module):
        return module
    if torch.device(device).type in SYNC_BN_DEVICES:
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if is_main():
        warnings.warn(f"{type(module).__name__}: BatchNorm is not synchronised across the "
                      f"{world_size()} CPU processes (torch's SyncBatchNorm needs a GPU); each "
                      "normalises with its own share of the batch", stacklevel=2)
    return module
