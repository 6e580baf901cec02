"""Optional TensorBoard scalars for pretraining (the ``tensorboard`` extra).

Off unless a folder is given: the profile key ``pretrain.tensorboard_dir`` (``icepaper run --set
pretrain.tensorboard_dir=runs/tb``) or the environment variable ``ICEPAPER_TENSORBOARD``. Each
run then writes ``<folder>/<method>-<run key>/events.*`` through
``torch.utils.tensorboard.SummaryWriter``: every logged row of the training loop (loss, lr,
momentum, teacher temperature, images per second and the method's own terms, e.g. the iBOT
losses or the vMF concentration) as scalars ``pretrain/<name>`` against the step. The folder
never enters a cache key: where a run logs does not change what it computes.

    tensorboard --logdir runs/tb
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV = "ICEPAPER_TENSORBOARD"


def tensorboard_dir(section: Mapping[str, Any]) -> str:
    """The folder asked for by ``section["tensorboard_dir"]``, else ``$ICEPAPER_TENSORBOARD``, else ""."""
    return str(section.get("tensorboard_dir") or os.environ.get(ENV, "") or "")


def summary_writer(logdir: str | Path, purge_step: int | None = None):
    """A ``SummaryWriter`` on ``logdir``; ``purge_step``: on a resumed run, drop the events logged
    after the checkpoint's step (they are logged again). ImportError saying what to install
    when TensorBoard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch.utils.tensorboard needs the tensorboard package
        raise ImportError(
            f"TensorBoard logging was asked for (pretrain.tensorboard_dir or ${ENV} = {str(logdir)!r}) "
            "but the tensorboard package is not installed: pip install 'icepaper[tensorboard]' "
            f"(or unset ${ENV} / set pretrain.tensorboard_dir to '')") from e
    Path(logdir).mkdir(parents=True, exist_ok=True)
    return SummaryWriter(log_dir=str(logdir), purge_step=purge_step)


def write_row(writer, row: Mapping[str, Any]) -> None:
    """Each finite number of a training-log ``row`` (except ``step``) as ``pretrain/<name>`` at ``row["step"]``."""
    step = int(row["step"])
    for k, v in row.items():
        if k != "step" and isinstance(v, (int, float)) and math.isfinite(float(v)):
            writer.add_scalar(f"pretrain/{k}", float(v), step)
