"""Labelling cost, decreased overall accuracy and the inflection point (Chu et al. 2025, Sect. 5.1).

The paper's arithmetic (its Eqs. 11-12): with the overall accuracy of the full-label
supervised baseline as the reference ``ROA`` and the time to label the full training set
as the reference ``RT``,

    DOA_n = ROA - OA_n          (percentage points)
    TS_n  = RT - T_n            (hours)

where ``OA_n`` is a model's accuracy with ``n`` labelled images and ``T_n`` the time to
label them. Labelling times [fact, Chu et al. 2025]: 6 s per basic-habit image, 60 s per
complex-shape image; the paper used the 33 s average for every image (its 154 h at
n = 2048 is (18864 - 2048) x 33 s). ``labelling_seconds`` does either: per class (the
default here, using the labels actually drawn) or flat.

A class is a *complex shape* when its name says it went through a microphysical process
(contains ``aged``, ``rime`` or ``aggregate``, case-insensitive: the HOLIMO scheme's 12
complex categories, cocpit's ``rimed`` and ``aggregate``); every other class is a basic
habit. User classes follow the same rule.

Inflection point [default method, documented]: the knee of the DOA-versus-time-saved
curve by the maximum distance to the chord (Kneedle, Satopaa et al. 2011). Both axes are
scaled to [0, 1] over the budgets; the knee is the budget whose point lies furthest
*below* the straight line joining the largest budget (TS = 0) and the smallest budget
(most time saved): up to there, saving labelling time costs little accuracy, beyond it
the accuracy drops fast. No point below the chord (or fewer than three budgets) means no
knee (``None``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BASIC_SECONDS = 6.0  # [fact] Chu et al. 2025: average time to label a basic-habit image
COMPLEX_SECONDS = 60.0  # [fact] Chu et al. 2025: average time to label a complex-shape image
FLAT_SECONDS = 33.0  # [fact] Chu et al. 2025: the average it used for every image
PROCESS_GROUPS = ("aged", "aggregate", "aged_aggregate")


def _processes(label: str) -> tuple[bool, bool]:
    s = str(label).lower()
    return ("aged" in s or "rime" in s), "aggregate" in s


def is_complex(label: str) -> bool:
    """True for a complex shape (the class name contains 'aged', 'rime' or 'aggregate').

    >>> is_complex('Column_aged'), is_complex('Plate')
    (True, False)
    """
    return any(_processes(label))


def process_group(label: str) -> str:
    """'aged_aggregate', 'aged', 'aggregate' for complex shapes, else 'basic' (Chu et al. 2025 Fig. 7).

    >>> process_group('Plate_aged_aggregate'), process_group('Column')
    ('aged_aggregate', 'basic')
    """
    aged, agg = _processes(label)
    if aged and agg:
        return "aged_aggregate"
    if aged:
        return "aged"
    if agg:
        return "aggregate"
    return "basic"


def labelling_seconds(labels: Sequence, basic_s: float = BASIC_SECONDS,
                      complex_s: float = COMPLEX_SECONDS, flat_s: float | None = None) -> float:
    """Seconds a person needs to label ``labels``: per class, or ``flat_s`` each when given.

    >>> labelling_seconds(['Column', 'Column_aged']), labelling_seconds(['Column'] * 3, flat_s=33)
    (66.0, 99.0)
    """
    labels = list(labels)
    if flat_s is not None:
        return float(flat_s) * len(labels)
    n_complex = sum(is_complex(x) for x in labels)
    return float(basic_s * (len(labels) - n_complex) + complex_s * n_complex)


def decreased_accuracy(reference_oa: float, oa: Sequence[float] | float) -> np.ndarray:
    """DOA = ROA - OA (same units as the inputs, percentage points for % accuracies).

    >>> decreased_accuracy(90.0, [80.0, 88.5]).tolist()
    [10.0, 1.5]
    """
    return float(reference_oa) - np.asarray(oa, dtype=float)


def time_saved_hours(reference_s: float, seconds: Sequence[float] | float) -> np.ndarray:
    """TS = RT - T, converted from seconds to hours.

    >>> time_saved_hours(7200, [3600, 0]).tolist()
    [1.0, 2.0]
    """
    return (float(reference_s) - np.asarray(seconds, dtype=float)) / 3600.0


def knee_index(time_saved: Sequence[float], doa: Sequence[float]) -> int | None:
    """Index of the knee of DOA vs time saved (max distance below the chord), or None.

    >>> knee_index([0, 1, 2, 3], [0, 0.1, 0.2, 3.0])
    2
    """
    x = np.asarray(time_saved, dtype=float)
    y = np.asarray(doa, dtype=float)
    if len(x) < 3:
        return None
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    xr, yr = xs[-1] - xs[0], ys.max() - ys.min()
    if xr <= 0:
        return None
    xn = (xs - xs[0]) / xr
    yn = (ys - ys.min()) / yr if yr > 0 else np.zeros_like(ys)
    chord = yn[0] + (yn[-1] - yn[0]) * xn  # the line joining the two end points
    gap = chord - yn  # > 0: below the chord
    gap[[0, -1]] = -np.inf
    k = int(np.argmax(gap))
    return int(order[k]) if gap[k] > 0 else None
