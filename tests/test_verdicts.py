"""The three-state verdict rules (icepaper.core.verdicts): every relation in both directions,
at its boundary, and the intervals they rest on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from icepaper.papers.verdicts import (
    FAILS,
    HOLDS,
    UNRESOLVED,
    all_of,
    compare,
    compare_folds,
    decide,
    fold_interval,
    from_interval,
    paired_bootstrap,
    t_quantile,
)


@pytest.mark.parametrize("relation,margin,interval,state", [
    # A >= B: holds when the lower end is above -margin, fails when the upper end is below it
    (">=", 1.0, (-0.5, 2.0), HOLDS),
    (">=", 1.0, (-3.0, -1.5), FAILS),
    (">=", 1.0, (-1.5, 0.5), UNRESOLVED),
    (">=", 1.0, (-1.0, 0.5), UNRESOLVED),      # boundary: lower end exactly -margin
    (">=", 1.0, (-2.0, -1.0), UNRESOLVED),     # boundary: upper end exactly -margin
    # A > B: the threshold is +margin
    (">", 0.0, (0.1, 2.0), HOLDS),
    (">", 0.0, (-2.0, -0.1), FAILS),
    (">", 0.0, (0.0, 2.0), UNRESOLVED),
    (">", 1.0, (0.5, 3.0), UNRESOLVED),
    (">", 1.0, (1.01, 3.0), HOLDS),
    (">", 1.0, (0.2, 0.9), FAILS),             # better, but by less than the margin
    # mirrors
    ("<=", 1.0, (-2.0, 0.5), HOLDS),
    ("<=", 1.0, (1.5, 3.0), FAILS),
    ("<=", 1.0, (0.5, 1.0), UNRESOLVED),
    ("<", 0.0, (-2.0, -0.1), HOLDS),
    ("<", 0.0, (0.1, 2.0), FAILS),
    ("<", 0.0, (-1.0, 0.0), UNRESOLVED),
    # similar: inside (-m, m) holds, wholly outside fails
    ("~", 2.0, (-1.9, 1.9), HOLDS),
    ("~", 2.0, (2.1, 4.0), FAILS),
    ("~", 2.0, (-5.0, -2.1), FAILS),
    ("~", 2.0, (-1.0, 2.0), UNRESOLVED),       # boundary
    ("~", 2.0, (1.0, 3.0), UNRESOLVED),
    ("~", 2.0, (-3.0, 3.0), UNRESOLVED),
])
def test_rules(relation, margin, interval, state):
    assert decide(*interval, relation, margin) == state


def test_mirrored_relations_are_symmetric():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lo, hi = np.sort(rng.normal(size=2) * 3)
        m = float(rng.uniform(0, 2))
        assert decide(lo, hi, ">=", m) == decide(-hi, -lo, "<=", m)
        assert decide(lo, hi, ">", m) == decide(-hi, -lo, "<", m)
        assert decide(lo, hi, "~", m) == decide(-hi, -lo, "~", m)


def test_small_difference_with_a_wide_interval_is_not_resolved():
    # +0.25 pp beside a +-2.2 pp interval: neither ">" nor ">=" (margin 1 pp) can be decided
    v = from_interval(0.25, 0.25 - 2.2, 0.25 + 2.2, ">=", margin=1.0, unit=" pp")
    assert v.state == UNRESOLVED and v.ok is None
    assert from_interval(0.25, -1.95, 2.45, ">").state == UNRESOLVED
    assert "not resolved" in v.sentence("curated", "full")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        decide(0, 1, "=>")
    with pytest.raises(ValueError):
        decide(0, 1, ">", margin=-1)
    with pytest.raises(ValueError):
        decide(1, 0, ">")
    assert decide(math.nan, 1.0, ">") == UNRESOLVED


def test_paired_bootstrap_is_seeded_and_narrower_than_unpaired():
    rng = np.random.default_rng(1)
    a = rng.random(1000) < 0.8
    b = np.where(rng.random(1000) < 0.9, a, ~a)  # b agrees with a on 90 % of the images
    one = paired_bootstrap(a, b, n_boot=400, seed=3, scale=100)
    assert one == paired_bootstrap(a, b, n_boot=400, seed=3, scale=100)
    unp = paired_bootstrap(a, b, paired=False, n_boot=400, seed=3, scale=100)
    assert one[0] == pytest.approx(unp[0])
    assert one[2] - one[1] < unp[2] - unp[1]
    assert one[1] < one[0] < one[2]


def test_compare_accuracies_both_directions():
    rng = np.random.default_rng(2)
    y = rng.random(3000)
    a, b = y < 0.85, y < 0.75  # a right wherever b is right, plus 10 % more
    assert compare(a, b, ">", n_boot=300).state == HOLDS
    assert compare(b, a, ">", n_boot=300).state == FAILS
    assert compare(b, a, ">=", margin=1.0, n_boot=300).state == FAILS
    same = compare(a, a, "~", margin=1.0, n_boot=300)
    assert same.state == HOLDS and same.estimate == 0.0


def test_t_quantile_matches_tables():
    for df, q in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (30, 2.0423)):
        assert t_quantile(0.975, df) == pytest.approx(q, abs=2e-4)
    assert t_quantile(0.025, 4) == pytest.approx(-2.7764, abs=2e-4)


def test_fold_intervals_paired_and_unpaired():
    est, lo, hi, n = fold_interval([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert (est, lo, hi, n) == (1.0, 1.0, 1.0, 3)  # constant paired difference: zero width
    est, lo, hi, n = fold_interval([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], paired=False)
    assert est == 1.0 and lo < 0 < hi and n == 3
    assert compare_folds([4.0, 4.2, 4.1], relation="<=", margin=0.0, reference=5.5).state == HOLDS
    assert compare_folds([6.0, 6.2, 6.1], relation="<=", margin=0.0, reference=5.5).state == FAILS
    assert compare_folds([3.0, 4.0, 5.0], relation="<=", margin=0.0, reference=5.5).state == UNRESOLVED
    v = compare_folds([1.0], [0.0])
    assert v.state == UNRESOLVED and "no interval" in v.note


def test_all_of():
    h, f, u = (from_interval(1, 0.5, 2, ">"), from_interval(-1, -2, -0.5, ">"), from_interval(0, -1, 1, ">"))
    assert all_of([h, h]) == HOLDS and all_of([h, u]) == UNRESOLVED and all_of([h, u, f]) == FAILS
    assert all_of([]) == UNRESOLVED
