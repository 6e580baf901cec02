"""Cross-validation folds and nested label budgets for the label-budget study (Chu et al. 2025, 3.5.1).

* ``stratified_folds(labels, n_folds, seed)``: scikit-learn's ``StratifiedKFold`` with a
  seeded shuffle; returns ``(train_pos, val_pos)`` position arrays into ``labels``. Every
  position is in exactly one validation fold.
* ``budget_list(n_pool, spec, start)``: the training-set sizes of one study: ``"doubling"``
  gives ``start, 2 start, 4 start, ...`` up to 90 % of ``n_pool`` and then ``n_pool`` itself
  (the paper's 128, 256, ..., 16384, 18864; a doubling within 10 % of the whole pool would
  repeat the "all" run); a list keeps its entries below ``n_pool`` and maps ``"all"`` to
  ``n_pool``.
* ``nested_order(labels, seed)``: one ordering of a fold's training pool in which every
  prefix is a proportionally stratified sample, so the budget-``n`` subset is simply the
  first ``n`` positions and the 128 images are inside the 256 (curves are comparable).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

NEAR_ALL = 0.9  # [default] a doubling budget above this share of the pool is left out (it repeats "all")


def stratified_folds(labels: Sequence, n_folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_folds`` stratified (train_pos, val_pos) pairs over positions of ``labels``.

    Classes with fewer members than ``n_folds`` are still placed (some folds lack them);
    ``n_folds`` must be at least 2 and at most the number of labelled items.

    >>> [(tr.tolist(), va.tolist()) for tr, va in stratified_folds(list('aaabbb'), 3)]
    [([0, 1, 3, 5], [2, 4]), ([0, 2, 3, 4], [1, 5]), ([1, 2, 4, 5], [0, 3])]
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels).astype(str)
    if n_folds < 2:
        raise ValueError(f"need at least 2 folds, got {n_folds}")
    if len(y) < n_folds:
        raise ValueError(f"cannot make {n_folds} folds from {len(y)} labelled images")
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=int(seed) % 2**32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        return [(np.sort(tr), np.sort(va)) for tr, va in skf.split(np.zeros(len(y)), y)]


def budget_list(n_pool: int, spec: str | Sequence = "doubling", start: int = 128) -> list[int]:
    """Training-set sizes (ascending, unique) for a training pool of ``n_pool`` images.

    >>> budget_list(1000)
    [128, 256, 512, 1000]
    """
    n_pool = int(n_pool)
    if n_pool < 1:
        raise ValueError("the training pool is empty")
    if isinstance(spec, str):
        if spec != "doubling":
            raise ValueError(f"budgets must be 'doubling' or a list of sizes, got {spec!r}")
        sizes, n = [], int(start)
        while n <= NEAR_ALL * n_pool:
            sizes.append(n)
            n *= 2
    else:
        sizes = [n_pool if s == "all" else int(s) for s in spec]
        sizes = [s for s in sizes if 0 < s < n_pool]
    return sorted(set(sizes)) + [n_pool]


def nested_order(labels: Sequence, seed: int = 0) -> np.ndarray:
    """A permutation of ``range(len(labels))`` whose every prefix is stratified by class.

    Systematic stratified sampling: inside each class (shuffled) the ``r``-th member gets
    the key ``(r + u) / n_class`` with ``u ~ U(0, 1)``; sorting all keys interleaves the
    classes so that a prefix of length ``n`` holds about ``n * n_class / N`` of each class.

    >>> nested_order(list('aabbbc')).tolist()
    [0, 4, 1, 2, 5, 3]
    """
    y = np.asarray(labels).astype(str)
    rng = np.random.default_rng(int(seed) % 2**32)
    key = np.empty(len(y))
    for c in np.unique(y):
        pos = np.flatnonzero(y == c)
        pos = pos[rng.permutation(len(pos))]
        key[pos] = (np.arange(len(pos)) + rng.random(len(pos))) / len(pos)
    return np.argsort(key, kind="stable")


def nested_subsets(labels: Sequence, budgets: Sequence[int], seed: int = 0) -> dict[int, np.ndarray]:
    """``{budget: positions}``, each the first ``budget`` entries of ``nested_order`` (sorted).

    >>> {b: p.tolist() for b, p in nested_subsets(list('aaaabbbb'), [2, 4]).items()}
    {2: [2, 4], 4: [0, 2, 4, 6]}
    """
    order = nested_order(labels, seed)
    return {int(b): np.sort(order[: int(b)]) for b in budgets}
