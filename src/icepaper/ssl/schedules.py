"""Learning-rate schedules: linear warm-up then half-cosine decay to 0, as a value per step
(:func:`warmup_cosine`) or as a ``LambdaLR`` factor function (:func:`warmup_cosine_factor`)."""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_cosine(step: int, total: int, base_lr: float = 1.0, warmup: int = 0, start_lr: float = 1e-5,
                  *, inclusive: bool = False) -> float:
    """Learning rate at ``step`` (0-based) of ``total``: linear warm-up over ``warmup`` steps,
    then cosine from ``base_lr`` to 0 at ``total`` (held at 0 after it).

    Warm-up: ``inclusive=False`` goes from ``start_lr`` at step 0 towards ``base_lr``, reached
    at step ``warmup`` (the CSSL heads and fine-tuning); ``inclusive=True`` is
    ``base_lr * (step + 1) / warmup``, reaching ``base_lr`` on the last warm-up step
    (``start_lr`` unused; the rosette shape models).

    >>> warmup_cosine(0, 100, 0.1, 10)
    1e-05
    >>> warmup_cosine(10, 100, 0.1, 10), warmup_cosine(55, 100, 0.1, 10)
    (0.1, 0.05)
    >>> warmup_cosine(100, 100, 0.1, 10) < 1e-12
    True
    >>> [warmup_cosine(s, 10, 1.0, 2, inclusive=True) for s in (0, 1, 2)]
    [0.5, 1.0, 1.0]
    """
    if step < warmup:
        if inclusive:
            return base_lr * (step + 1) / warmup
        return start_lr + (base_lr - start_lr) * step / max(1, warmup)
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, t)))


def warmup_cosine_factor(total_steps: int, warmup_frac: float = 0.2) -> Callable[[int], float]:
    """LR factor per step for ``torch.optim.lr_scheduler.LambdaLR``: linear warm-up over
    ``warmup_frac`` of the steps (at least one; ``(step + 1) / warm``), then cosine to 0.

    >>> f = warmup_cosine_factor(10)  # 2 warm-up steps
    >>> [round(f(s), 4) for s in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """
    warm = max(1, int(round(warmup_frac * total_steps)))

    def factor(step: int) -> float:
        return warmup_cosine(step, total_steps, 1.0, warm, inclusive=True)

    return factor
