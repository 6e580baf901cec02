"""Three-state verdicts: a claim about a difference *holds*, *fails* or is *not resolved*, decided
from an interval of the difference and a stated margin (one module for notebooks 04-08; it
lives in ``core`` so that every package may use it, ``icepaper.papers.verdicts`` re-exports it).

Every claim is written as ``A REL B`` about ``d = A - B`` (or ``d = A - reference`` when B is a
fixed number such as chance, 0.5 or a 5 pp budget), with a margin ``m >= 0`` in the units of d.
With ``[lo, hi]`` the interval of d:

============  =========================  ==========================  =========================
relation      holds when                 fails when                  meaning
============  =========================  ==========================  =========================
``">="``      lo > -m                    hi < -m                     A at least as good as B,
                                                                     up to the margin
``">"``       lo > +m                    hi < +m                     A better than B by more
                                                                     than the margin
``"<="``      hi < +m                    lo > +m                     mirror of ">="
``"<"``       hi < -m                    lo > -m                     mirror of ">"
``"~"``       -m < lo and hi < +m        lo > +m or hi < -m          A and B similar (within m)
============  =========================  ==========================  =========================

and *not resolved* otherwise. Each rule compares the whole interval with one threshold (two
for ``"~"``): the claim holds when every value in the interval satisfies it, fails when no value
does, and is not resolved when the interval straddles the threshold. Inequalities are strict, so
an interval that ends exactly on a threshold is not resolved. ``">"`` with margin 0 is the usual
"the interval excludes 0 on the right side"; a ">" that fails may still be better by less than
the margin.

Intervals (all seeded and deterministic, numpy only):

``paired_bootstrap`` / ``compare``
    percentile bootstrap over items (test images): one resample of item indices per replicate,
    used for both rows when they score the same items (``paired=True``), so the interval is that
    of the difference on the same images; independent resamples otherwise.
``bootstrap_statistic``
    the same for any statistic of a resample (NMI, AUROC, precision@k of an index set).
``fold_interval`` / ``compare_folds``
    Student-t interval of the mean of per-fold values (paired: per-fold differences; unpaired:
    Welch). Folds of one cross-validation share training images, so the interval is somewhat
    optimistic (Nadeau & Bengio 2003); with 5 folds it is already wide.
``from_interval``
    a verdict from an interval computed elsewhere (e.g. the bootstrap interval of a slope).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

HOLDS, FAILS, UNRESOLVED = "holds", "fails", "not resolved"
STATES = (HOLDS, FAILS, UNRESOLVED)
RELATIONS = (">=", ">", "<=", "<", "~")

_WORDS = {">=": "at least as high as", ">": "above", "<=": "at most", "<": "below", "~": "similar to"}


@dataclass(frozen=True)
class Verdict:
    """The verdict on ``A REL B`` and what it rests on.

    ``estimate`` is d (A - B or A - reference), ``low``/``high`` its interval at level ``ci``,
    ``margin`` the stated margin, ``rule`` the rule in words, ``state`` one of
    holds / fails / not resolved, ``method`` how the interval was computed."""

    relation: str
    estimate: float
    low: float
    high: float
    margin: float
    state: str
    rule: str
    ci: float = 0.95
    method: str = ""
    unit: str = ""
    note: str = ""

    @property
    def ok(self) -> bool | None:
        """True (holds), False (fails) or None (not resolved)."""
        return {HOLDS: True, FAILS: False}.get(self.state)

    @property
    def interval(self) -> str:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return "n/a"
        return f"[{self.low:+.3g}, {self.high:+.3g}]{self.unit}"

    def sentence(self, a: str = "A", b: str = "B") -> str:
        """One line: the difference, its interval, the rule and the state."""
        if self.note and not math.isfinite(self.estimate):
            return f"{a} {_WORDS[self.relation]} {b}: {self.state} ({self.note})."
        lvl = int(round(100 * self.ci))
        tail = f"; {self.note}" if self.note else ""
        return (f"{a} {_WORDS[self.relation]} {b}: difference {self.estimate:+.3g}{self.unit}, "
                f"{lvl} % interval {self.interval} ({self.method}); rule: {self.rule} -> {self.state}{tail}.")

    def as_dict(self) -> dict:
        return {"relation": self.relation, "estimate": self.estimate, "low": self.low, "high": self.high,
                "margin": self.margin, "ci": self.ci, "state": self.state, "rule": self.rule,
                "method": self.method, "note": self.note}


def rule_text(relation: str, margin: float, reference: float = 0.0) -> str:
    """The rule of ``relation`` in words, e.g. 'holds if lower end > -1, fails if upper end < -1'.

    >>> rule_text(">=", 1.0)
    'holds if lower end > -1, fails if upper end < -1'
    >>> rule_text("~", 2.0)
    'holds if interval inside (-2, +2), fails if it lies wholly outside'
    """
    m = float(margin)
    if relation == "~":
        return f"holds if interval inside ({reference - m:+g}, {reference + m:+g}), fails if it lies wholly outside"
    t = _threshold(relation, m) + reference
    if relation in (">=", ">"):
        return f"holds if lower end > {t:+g}, fails if upper end < {t:+g}"
    return f"holds if upper end < {t:+g}, fails if lower end > {t:+g}"


def _threshold(relation: str, margin: float) -> float:
    return {">=": -margin, ">": margin, "<=": margin, "<": -margin}[relation]


def decide(low: float, high: float, relation: str, margin: float = 0.0) -> str:
    """holds / fails / not resolved for an interval [low, high] of d (see the module's table).

    >>> decide(0.1, 2.0, ">"), decide(-2.0, -0.1, ">"), decide(-0.1, 2.0, ">")
    ('holds', 'fails', 'not resolved')
    >>> decide(-1.95, 2.45, ">=", margin=1.0)  # +0.25 pp with a +-2.2 pp interval
    'not resolved'
    """
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not (math.isfinite(low) and math.isfinite(high)):
        return UNRESOLVED
    if low > high:
        raise ValueError(f"interval [{low}, {high}] has its ends swapped")
    if relation == "~":
        if -margin < low and high < margin:
            return HOLDS
        if low > margin or high < -margin:
            return FAILS
        return UNRESOLVED
    t = _threshold(relation, margin)
    if relation in (">=", ">"):
        return HOLDS if low > t else FAILS if high < t else UNRESOLVED
    return HOLDS if high < t else FAILS if low > t else UNRESOLVED


def from_interval(estimate: float, low: float, high: float, relation: str, margin: float = 0.0, *,
                  reference: float = 0.0, ci: float = 0.95, method: str = "", unit: str = "",
                  note: str = "") -> Verdict:
    """A verdict on ``A REL reference`` from an interval of A already computed (e.g. a slope's).

    ``estimate``, ``low`` and ``high`` are of A itself; the verdict's numbers are of
    d = A - reference.

    >>> v = from_interval(-9.0, -19.0, -1.3, "<", method="bootstrap over particles")
    >>> v.state, v.rule
    ('holds', 'holds if upper end < +0, fails if lower end > +0')
    >>> from_interval(0.8, 0.70, 0.86, ">", margin=0.25, reference=0.5).state  # AUROC well above 0.5?
    'not resolved'
    """
    d, lo, hi = (float(x) - reference for x in (estimate, low, high))
    return Verdict(relation, d, lo, hi, float(margin), decide(lo, hi, relation, margin),
                   rule_text(relation, margin, reference) if reference else rule_text(relation, margin),
                   ci, method, unit, note)


def unresolved(relation: str, margin: float, why: str, unit: str = "") -> Verdict:
    """A 'not resolved' verdict that says why no interval exists (missing data, too few folds)."""
    nan = float("nan")
    return Verdict(relation, nan, nan, nan, float(margin), UNRESOLVED, rule_text(relation, margin),
                   method="", unit=unit, note=why)


def _quantiles(values: np.ndarray, ci: float) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    a = (1.0 - ci) / 2
    lo, hi = np.quantile(v, [a, 1.0 - a])
    return float(lo), float(hi)


def bootstrap_statistic(n_items: int, statistic: Callable[[np.ndarray], float], *, n_boot: int = 2000,
                        ci: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(statistic of all items, interval low, high): percentile bootstrap over ``n_items`` items.

    ``statistic(idx)`` gets an index array (the items of one resample, with repeats) and returns
    a float; replicates where it is not finite are dropped.

    >>> est, lo, hi = bootstrap_statistic(4, lambda i: float(np.mean(np.array([1, 2, 3, 4])[i])), n_boot=200)
    >>> est, bool(1 <= lo < est < hi <= 4)
    (2.5, True)
    """
    n = int(n_items)
    if n < 1:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    reps = np.array([statistic(rng.integers(0, n, n)) for _ in range(int(n_boot))], dtype=np.float64)
    return (float(statistic(np.arange(n))), *_quantiles(reps, ci))


def paired_bootstrap(a, b, *, paired: bool = True, n_boot: int = 2000, ci: float = 0.95, seed: int = 0,
                     scale: float = 1.0) -> tuple[float, float, float]:
    """(mean(a) - mean(b), interval low, high), times ``scale``, by bootstrap over items.

    ``a`` and ``b`` are per-item scores (e.g. 1/0 for a correct/wrong test image). Paired: one
    resample of item indices per replicate, used for both (``a`` and ``b`` must be of the same
    items, in the same order); unpaired: each resampled on its own. Vectorised in blocks.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if paired and a.shape != b.shape:
        raise ValueError(f"paired bootstrap needs the same items: {a.shape} vs {b.shape}")
    if not (len(a) and len(b)):
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    est = scale * (a.mean() - b.mean())
    reps = np.empty(int(n_boot))
    block = max(1, 2_000_000 // max(len(a), len(b)))
    for s in range(0, int(n_boot), block):
        k = min(block, int(n_boot) - s)
        ia = rng.integers(0, len(a), (k, len(a)))
        ib = ia if paired else rng.integers(0, len(b), (k, len(b)))
        reps[s:s + k] = scale * (a[ia].mean(1) - b[ib].mean(1))
    return (float(est), *_quantiles(reps, ci))


def compare(a, b, relation: str = ">=", margin: float = 0.0, *, paired: bool = True, n_boot: int = 2000,
            ci: float = 0.95, seed: int = 0, scale: float = 100.0, unit: str = " pp",
            what: str = "test images") -> Verdict:
    """Verdict on ``mean(a) REL mean(b)`` from per-item scores (default: accuracies in %, d in pp).

    ``a_correct``/``b_correct``: 1/0 per test image; ``paired=True`` when both rows scored the
    same images in the same order (the interval is then that of the paired difference).

    >>> rng = np.random.default_rng(0)
    >>> a = rng.random(2000) < 0.80                  # two classifiers, 80 % and 75 %
    >>> b = np.where(rng.random(2000) < 0.8, a, rng.random(2000) < 0.75)
    >>> v = compare(a, b, ">", margin=0.0, n_boot=500)
    >>> v.state, v.estimate > 0
    ('holds', True)
    >>> compare(b, a, ">", n_boot=500).state
    'fails'
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    est, lo, hi = paired_bootstrap(a, b, paired=paired, n_boot=n_boot, ci=ci, seed=seed, scale=scale)
    how = (f"{'paired' if paired else 'unpaired'} bootstrap over {len(a)}"
           + ("" if paired else f" and {len(b)}") + f" {what}, {int(n_boot)} resamples")
    return Verdict(relation, est, lo, hi, float(margin), decide(lo, hi, relation, margin),
                   rule_text(relation, margin), ci, how, unit)


# --------------------------------------------------------------------------- folds


@lru_cache(maxsize=512)
def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (numerical, |error| < 1e-6).

    >>> round(t_quantile(0.975, 4), 4), round(t_quantile(0.975, 1), 3), round(t_quantile(0.5, 3), 6)
    (2.7764, 12.706, 0.0)
    """
    if not 0 < p < 1 or df <= 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def cdf(x: float) -> float:  # 0.5 + integral of the density from 0 to x (Simpson, u = atan)
        # substitute t = sqrt(df) tan(u): density * dt = c sqrt(df) cos(u)^(df - 1) du
        u = np.linspace(0.0, math.atan(x / math.sqrt(df)), 4001)
        f = c * math.sqrt(df) * np.cos(u) ** (df - 1)
        h = u[1] - u[0]
        return 0.5 + float(h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum()))

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def fold_interval(a, b=None, *, paired: bool = True, ci: float = 0.95) -> tuple[float, float, float, int]:
    """(mean difference, low, high, n) of per-fold values: t interval of mean(a - b) (paired),
    Welch's interval of mean(a) - mean(b) (unpaired), or of mean(a) when ``b`` is None.

    NaN folds are dropped (pairs together). Fewer than two values give a NaN interval.

    >>> est, lo, hi, n = fold_interval([1.0, 2.0, 3.0, 2.0, 2.0])
    >>> est, round(lo, 3), round(hi, 3), n
    (2.0, 1.122, 2.878, 5)
    """
    a = np.asarray(a, dtype=np.float64)
    nan = float("nan")
    if b is None or paired:
        d = a if b is None else a - np.asarray(b, dtype=np.float64)
        d = d[np.isfinite(d)]
        if not len(d):
            return nan, nan, nan, 0
        est = float(d.mean())
        if len(d) < 2:
            return est, nan, nan, len(d)
        half = t_quantile(0.5 + ci / 2, len(d) - 1) * float(d.std(ddof=1)) / math.sqrt(len(d))
        return est, est - half, est + half, len(d)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not (len(a) and len(b)):
        return nan, nan, nan, 0
    est = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return est, nan, nan, min(len(a), len(b))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return est, est, est, min(len(a), len(b))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile(0.5 + ci / 2, df) * se
    return est, est - half, est + half, min(len(a), len(b))


def compare_folds(a, b=None, relation: str = ">", margin: float = 0.0, *, paired: bool = True,
                  ci: float = 0.95, reference: float = 0.0, unit: str = " pp",
                  what: str = "folds") -> Verdict:
    """Verdict on ``mean(a) REL mean(b)`` (or ``mean(a) REL reference`` when ``b`` is None) from
    per-fold values, with the t interval of ``fold_interval``.

    >>> compare_folds([2.0, 3.0, 2.5, 3.5, 2.0], [1.0, 1.5, 1.0, 2.0, 1.5], ">").state
    'holds'
    >>> compare_folds([1.0, 1.5, 1.0, 2.0, 1.5], [2.0, 3.0, 2.5, 3.5, 2.0], ">").state
    'fails'
    >>> compare_folds([0.5, -0.5], [0.0, 0.0], ">").state   # two folds: a wide interval
    'not resolved'
    """
    est, lo, hi, n = fold_interval(a, b, paired=paired, ci=ci)
    if b is None:
        est, lo, hi = est - reference, lo - reference, hi - reference
    if n < 2:
        why = f"{n} fold(s) with a value: no interval"
        return Verdict(relation, est, float("nan"), float("nan"), float(margin), UNRESOLVED, rule_text(relation, margin),
                       ci, f"t interval over {n} {what}", unit, why)
    how = (f"t interval over {n} {what}" + (", paired" if b is not None and paired else
                                            ", Welch" if b is not None else ""))
    rule = rule_text(relation, margin, reference) if (b is None and reference) else rule_text(relation, margin)
    return Verdict(relation, est, lo, hi, float(margin), decide(lo, hi, relation, margin), rule, ci, how, unit)


# --------------------------------------------------------------------------- combining


def all_of(verdicts: Sequence[Verdict]) -> str:
    """State of 'every one of these claims': fails if any fails, holds if all hold, else not resolved.

    >>> v = [from_interval(1, 0.5, 2, ">"), from_interval(1, -0.5, 2, ">")]
    >>> all_of(v), all_of(v[:1]), all_of([from_interval(-1, -2, -0.5, ">")] + v)
    ('not resolved', 'holds', 'fails')
    """
    states = [v.state for v in verdicts]
    if not states:
        return UNRESOLVED
    if FAILS in states:
        return FAILS
    return HOLDS if all(s == HOLDS for s in states) else UNRESOLVED


def as_bool(state: str | None) -> bool | None:
    """True / False / None for holds / fails / not resolved (tables that keep a boolean column)."""
    return {HOLDS: True, FAILS: False}.get(state) if state is not None else None
