"""The von Mises-Fisher concentration kappa of L2-normalised embeddings, with bootstrap intervals.

Ko et al. 2025 (Ko et al. 2025) fit a vMF distribution to the embeddings of a group of
particles and read its concentration kappa (dimensionless) as the inverse of habit
diversity: low kappa = embeddings spread over the sphere (diverse habits), high kappa =
embeddings clustered (uniform habits).

Estimators (p = embedding dimension, x_i unit vectors, R = |mean_i x_i|):

* Banerjee et al. (2005): ``kappa0 = R (p - R^2) / (1 - R^2)``.
* Sra (2012): Newton steps on ``A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa) = R``,
  ``kappa <- kappa - (A_p(kappa) - R) / (1 - A_p(kappa)^2 - (p - 1) A_p(kappa) / kappa)``
  (two steps by default, as in Sra's paper; ``newton_steps=None`` iterates to the exact
  maximum-likelihood root). ``A_p`` uses exponentially scaled Bessel functions and falls
  back to Gauss' continued fraction where those underflow (large order, small kappa),
  so it stays finite up to p in the thousands; ``scipy.stats.vonmises_fisher.fit`` (the
  reference) does not: it returns ~1e-8 for p = 768 at moderate kappa.
* Small-sample debiasing: for n independent draws ``E|x_bar|^2 = 1/n + (n-1)/n rho^2``
  with ``rho = A_p(kappa)`` the population mean resultant length, so even isotropic data
  give R ~ 1/sqrt(n) and kappa ~ p/sqrt(n). The unbiased estimate of rho^2 is the mean
  cosine over distinct pairs, ``rho2 = (n R^2 - 1) / (n - 1)``; for a resample with
  multiplicities c_j it is ``(|sum_i x_i|^2 - sum_j c_j^2) / (m^2 - sum_j c_j^2)`` (pairs of
  copies of the same particle are left out). The debiased kappa solves
  ``A_p(kappa) = sqrt(max(rho2, 0))`` (kappa = 0 when rho2 <= 0, i.e. no detectable
  concentration).

Group comparisons (``kappa_by_group``) report the debiased kappa of the whole group (n
particles) and a percentile interval from ``n_boot`` resamples of the **same n** (drawn with
replacement), i.e. the bootstrap distribution of exactly the estimator reported, so the point
and its interval refer to one sample size. Groups of different size are compared through the
debiased estimator, whose target (rho^2, the mean pair cosine) does not depend on n; their
intervals differ in width because their precision does. An earlier version resampled every
group at a common m < n: that interval described an estimate from m particles (about
sqrt(n / m) times too wide for the full-n point it was drawn around). The paper's plain
estimator, which is biased by ~1/n, is reported beside it at a common m (``kappa_paper``: the
mean over subsamples of m particles without replacement; m = ``equal_n`` capped at the smallest
eligible group), which is where equal n matters. Groups smaller than ``min_n`` get no kappa
and a note saying why. ``GroupKappa.slope`` fits kappa against a group coordinate and takes
its interval from the same (full-n) resamples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ive
from scipy.stats import entropy

__all__ = [
    "TooFewSamples", "KappaEstimate", "GroupKappa", "Slope",
    "l2_normalize", "bessel_ratio", "banerjee_kappa", "kappa_from_R", "unbiased_rho2",
    "estimate_kappa", "kappa_mle_scipy", "shannon_entropy", "kappa_by_group",
]


class TooFewSamples(ValueError):
    """A group is smaller than the minimum size for a kappa estimate."""


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit Euclidean length (float64; zero rows raise).

    >>> l2_normalize([[3.0, 4.0], [0.0, 2.0]])
    array([[0.6, 0.8],
           [0. , 1. ]])
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (n, p), got shape {x.shape}")
    nrm = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(nrm == 0) or not np.all(np.isfinite(nrm)):
        raise ValueError("embeddings contain zero or non-finite rows; cannot normalise")
    return x / nrm


def _ratio_cf(nu: float, k: np.ndarray, depth: int = 400) -> np.ndarray:
    """I_nu(k)/I_{nu-1}(k) by backward recurrence of r_v = k / (2 v + k r_{v+1}).

    Started from the Amos (1974) bound at order nu + depth; errors in the start value
    shrink geometrically, fast when nu is large relative to k (where ``ive`` underflows).
    """
    v = nu + depth
    r = k / (v - 0.5 + np.sqrt((v + 0.5) ** 2 + k**2))
    for j in range(depth, 0, -1):
        r = k / (2.0 * (nu + j - 1) + k * r)
    return r


def bessel_ratio(p: int, kappa) -> np.ndarray:
    """A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa): the mean resultant length of a vMF.

    Vectorised over ``kappa``; 0 at kappa = 0; safe for large p (continued-fraction
    fallback where the exponentially scaled Bessel functions underflow).

    In 3 dimensions A_3(kappa) = coth(kappa) - 1/kappa:

    >>> round(float(bessel_ratio(3, 10.0)), 6)
    0.9
    >>> bessel_ratio(3, [0.0, 10.0]).round(3).tolist()
    [0.0, 0.9]
    """
    k = np.atleast_1d(np.asarray(kappa, dtype=np.float64))
    out = np.zeros_like(k)
    pos = k > 0
    if pos.any():
        kp = k[pos]
        nu = 0.5 * p
        with np.errstate(all="ignore"):
            num = ive(nu, kp)
            den = ive(nu - 1.0, kp)
            r = num / den
        bad = ~np.isfinite(r) | (num < 1e-250) | (den < 1e-250)
        if bad.any():
            r[bad] = _ratio_cf(nu, kp[bad])
        out[pos] = r
    return out if np.ndim(kappa) else out[0]


def banerjee_kappa(R, p: int):
    """Banerjee et al. (2005) approximation kappa = R (p - R^2) / (1 - R^2) (inf at R = 1).

    >>> round(banerjee_kappa(0.9, 3), 3)
    10.374
    >>> banerjee_kappa(1.0, 3)
    inf
    """
    R = np.asarray(R, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = R * (p - R**2) / (1.0 - R**2)
    k = np.where(R >= 1.0, np.inf, np.where(R <= 0.0, 0.0, k))
    return k if k.ndim else float(k)


def kappa_from_R(R, p: int, newton_steps: int | None = 2, tol: float = 1e-10):
    """Solve A_p(kappa) = R: Banerjee's start, then Newton steps (Sra 2012).

    Vectorised over ``R`` (NaN in, NaN out); 0 at R = 0, inf at R = 1. ``newton_steps=0``
    returns Banerjee's value, ``None`` iterates to the exact ML root (relative change
    below ``tol``).

    Two Newton steps from Banerjee's 10.37 land on the exact root, kappa = 10 in 3-D:

    >>> round(kappa_from_R(0.9, 3), 4)
    10.0
    >>> kappa_from_R([0.0, 1.0], 3).tolist()
    [0.0, inf]
    """
    Ra = np.atleast_1d(np.asarray(R, dtype=np.float64))
    if np.any((Ra < 0) | (Ra > 1.0 + 1e-12)):
        raise ValueError(f"mean resultant length must lie in [0, 1], got {Ra[(Ra < 0) | (Ra > 1 + 1e-12)][0]}")
    k = np.atleast_1d(banerjee_kappa(np.minimum(Ra, 1.0), p)).astype(np.float64)
    k[np.isnan(Ra)] = np.nan
    active = (Ra > 0) & (Ra < 1)
    for _ in range(200 if newton_steps is None else int(newton_steps)):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        kk = k[idx]
        a = bessel_ratio(p, kk)
        deriv = 1.0 - a * a - (p - 1.0) * a / kk
        good = np.isfinite(deriv) & (deriv > 0)
        k_new = np.where(good, kk - (a - Ra[idx]) / np.where(good, deriv, 1.0), kk)
        k_new = np.where(k_new <= 0, 0.5 * kk, k_new)  # never leave the positive half-line
        done = ~good | (np.abs(k_new - kk) <= tol * np.maximum(kk, 1e-12))
        k[idx] = k_new
        active[idx[done]] = False
    return k if np.ndim(R) else float(k[0])


def unbiased_rho2(sum_vec: np.ndarray, m: int, sum_c2: float | None = None) -> float:
    """Unbiased estimate of rho^2 = |E x|^2 from the resultant ``sum_vec`` of m unit vectors.

    ``(|S|^2 - sum_j c_j^2) / (m^2 - sum_j c_j^2)``: the mean cosine over pairs of distinct
    particles; ``sum_c2`` is the sum of squared multiplicities (m when all are distinct,
    which gives ``(m R^2 - 1) / (m - 1)``). May be negative for near-isotropic data.

    Two identical unit vectors: mean pair cosine 1; two opposite ones: -1.

    >>> unbiased_rho2(np.array([2.0, 0.0]), 2)
    1.0
    >>> unbiased_rho2(np.array([0.0, 0.0]), 2)
    -1.0
    """
    c2 = float(m if sum_c2 is None else sum_c2)
    denom = m * m - c2
    if denom <= 0:
        return math.nan
    return (float(sum_vec @ sum_vec) - c2) / denom


@dataclass(frozen=True)
class KappaEstimate:
    """One kappa estimate: concentration, the mean resultant length used, n, p, method."""

    kappa: float
    R: float
    n: int
    p: int
    method: str


def estimate_kappa(
    x: np.ndarray,
    method: str = "newton",
    debias: bool = False,
    newton_steps: int | None = 2,
    min_n: int = 2,
) -> KappaEstimate:
    """kappa of the embeddings ``x`` (n, p), normalised here.

    ``method``: "banerjee" (closed form), "newton" (Banerjee + ``newton_steps`` Newton
    steps; ``None`` = exact ML), "scipy" (``scipy.stats.vonmises_fisher.fit``). ``debias``
    replaces R by sqrt of the unbiased rho^2 (not with "scipy"). Raises ``TooFewSamples``
    when n < ``min_n``.

    Tightly clustered unit vectors give a large kappa:

    >>> tight = [[1.0, 0.05, 0.0], [1.0, -0.05, 0.0], [1.0, 0.0, 0.05], [1.0, 0.0, -0.05]]
    >>> est = estimate_kappa(tight)
    >>> est.method, est.n, est.p, est.kappa > 100
    ('newton2', 4, 3, True)

    Three orthogonal vectors: the plain estimate still reads a concentration (R = 1/sqrt(3)),
    the debiased one none:

    >>> round(estimate_kappa(np.eye(3)).kappa, 2), estimate_kappa(np.eye(3), debias=True).kappa
    (2.25, 0.0)
    >>> estimate_kappa([[1.0, 0.0, 0.0]])
    Traceback (most recent call last):
    ...
    icepaper.diversity.kappa.TooFewSamples: 1 embeddings is below the minimum of 2 for a kappa estimate
    """
    x = l2_normalize(x)
    n, p = x.shape
    if n < max(min_n, 2):
        raise TooFewSamples(f"{n} embeddings is below the minimum of {max(min_n, 2)} for a kappa estimate")
    s = x.sum(axis=0)
    if method == "scipy":
        if debias:
            raise ValueError("the scipy reference fit has no debiased variant")
        return KappaEstimate(kappa_mle_scipy(x), float(np.linalg.norm(s) / n), n, p, "scipy")
    R = math.sqrt(max(unbiased_rho2(s, n), 0.0)) if debias else float(np.linalg.norm(s) / n)
    R = min(R, 1.0)
    if method == "banerjee":
        k = float(banerjee_kappa(R, p))
    elif method == "newton":
        k = kappa_from_R(R, p, newton_steps)
    else:
        raise ValueError(f"unknown method {method!r}; use 'banerjee', 'newton' or 'scipy'")
    steps = "" if method == "banerjee" else ("ml" if newton_steps is None else str(newton_steps))
    name = method + steps + ("-debiased" if debias else "")
    return KappaEstimate(k, R, n, p, name)


def kappa_mle_scipy(x: np.ndarray) -> float:
    """scipy's exact ML kappa (``scipy.stats.vonmises_fisher.fit``); NaN where it fails.

    scipy brackets the root in [1e-8, 1e9] with unscaled-ratio Bessel values that underflow
    for large p; a result at the bracket edge is reported as NaN.
    """
    from scipy.stats import vonmises_fisher

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            _, k = vonmises_fisher.fit(l2_normalize(x))
    except (ValueError, RuntimeError):
        return math.nan
    return math.nan if k <= 1e-7 else float(k)


def shannon_entropy(labels: Sequence, miller_madow: bool = True) -> float:
    """Shannon entropy (nats) of a label sample; Miller-Madow corrected by default.

    The plug-in estimate is biased low at small n; Miller-Madow adds (K - 1) / (2 n)
    with K the number of classes seen. Missing labels are ignored.

    >>> round(shannon_entropy(["a", "a", "b", "b"], miller_madow=False), 4)  # ln 2
    0.6931
    >>> round(shannon_entropy(["a", "a", "b", "b", None]), 4)  # + (2 - 1) / (2 * 4)
    0.8181
    """
    codes, _ = pd.factorize(pd.Series(list(labels), dtype=object), use_na_sentinel=True)
    return _entropy_codes(codes, miller_madow)


def _entropy_codes(codes: np.ndarray, miller_madow: bool = True) -> float:
    codes = codes[codes >= 0]
    n = len(codes)
    if n == 0:
        return math.nan
    cnt = np.bincount(codes)
    cnt = cnt[cnt > 0]
    h = float(entropy(cnt))  # natural log: nats
    return h + (len(cnt) - 1) / (2 * n) if miller_madow else h


@dataclass
class Slope:
    """Least-squares slope of kappa against a group coordinate, with a bootstrap interval.

    >>> Slope(2.0, 0.5, 3.5, 0.99).sign, Slope(-1.0, -2.0, 0.5, 0.2).sign
    (1, 0)
    """

    slope: float
    ci_low: float
    ci_high: float
    frac_positive: float  # share of bootstrap slopes > 0
    units: str = ""

    @property
    def sign(self) -> int:
        """+1 / -1 when the interval excludes 0 on that side, 0 when it contains 0."""
        if self.ci_low > 0:
            return 1
        if self.ci_high < 0:
            return -1
        return 0

    def as_dict(self) -> dict[str, float | str]:
        return {"slope": self.slope, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "frac_positive": self.frac_positive, "units": self.units}


@dataclass
class GroupKappa:
    """kappa per group: a table (one row per group) and the bootstrap replicates.

    ``table`` columns: group, n, R, rho2, kappa (debiased, whole group of n), ci_low, ci_high
    (percentile interval from bootstrap resamples of the same n), m and kappa_paper (the plain
    Banerjee + Newton estimator at the common subsample size m), and when labels were given
    entropy, entropy_low, entropy_high (bootstrap at n); note says why a group has no kappa.
    ``boot`` is (n_boot, n_groups) with NaN columns for groups below ``min_n``.
    """

    table: pd.DataFrame
    boot: np.ndarray
    m: int
    p: int
    ci: float = 0.95
    notes: list[str] = field(default_factory=list)

    def slope(self, x: Sequence[float] | None = None, units: str = "", relative: bool = False) -> Slope:
        """Slope of kappa against ``x`` (default: the group values, which must be numeric).

        Point slope from the whole-group kappas; interval from the same least-squares fit to
        each bootstrap replicate (resampling particles within every group). ``relative``: the
        slope in per cent of the mean kappa over the groups (per replicate for the interval), to
        compare networks whose kappa scales differ.
        """
        t = self.table
        xs = np.asarray(t["group"] if x is None else x, dtype=np.float64)
        ok = t["kappa"].notna().to_numpy()
        if ok.sum() < 2:
            return Slope(math.nan, math.nan, math.nan, math.nan, units)
        xo = xs[ok]
        xc = xo - xo.mean()
        w = xc / (xc @ xc)
        k = t["kappa"].to_numpy()[ok]
        point = float(w @ k)
        b = self.boot[:, ok] @ w
        if relative:
            point, b = 100 * point / float(k.mean()), 100 * b / self.boot[:, ok].mean(axis=1)
        lo, hi = np.quantile(b, [(1 - self.ci) / 2, (1 + self.ci) / 2])
        return Slope(point, float(lo), float(hi), float((b > 0).mean()), units)


def kappa_by_group(
    emb: np.ndarray,
    groups: Sequence | None = None,
    *,
    labels: Sequence | None = None,
    min_n: int = 30,
    equal_n: int | None = None,
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int = 0,
    newton_steps: int | None = 2,
    order: Sequence | None = None,
) -> GroupKappa:
    """Debiased kappa per group with bootstrap intervals at the group's own n (module docstring).

    ``groups``: one key per row (NaN rows are dropped; None = one group "all").
    ``labels``: habit labels per row, to report the Shannon entropy beside kappa.
    ``equal_n``: common subsample size m of the paper's plain estimator ``kappa_paper`` (capped
    at the smallest eligible group; None = the smallest eligible group); kappa and its interval
    always use all n rows of the group. Groups with fewer than ``min_n`` rows get NaN and a note.

    Forty embeddings near e_1 in group "tight", forty spread over the sphere in "wide":

    >>> rng = np.random.default_rng(0)
    >>> tight = np.eye(8)[0] + 0.1 * rng.normal(size=(40, 8))
    >>> wide = rng.normal(size=(40, 8))
    >>> gk = kappa_by_group(np.vstack([tight[:30], wide]), ["tight"] * 30 + ["wide"] * 40, n_boot=20)
    >>> gk.table[["group", "n", "m"]]
       group   n   m
    0  tight  30  30
    1   wide  40  30
    >>> k = gk.table.set_index("group")["kappa"]
    >>> bool(k["tight"] > 10 * k["wide"])
    True
    """
    x = l2_normalize(emb)
    n_all, p = x.shape
    g = pd.Series(["all"] * n_all if groups is None else list(groups), dtype=object)
    if len(g) != n_all:
        raise ValueError(f"{len(g)} group keys for {n_all} embeddings")
    lab_codes = None if labels is None else pd.factorize(pd.Series(list(labels), dtype=object))[0]
    if lab_codes is not None and len(lab_codes) != n_all:
        raise ValueError(f"{len(lab_codes)} labels for {n_all} embeddings")
    valid = g.notna().to_numpy()
    keys = list(order) if order is not None else sorted(pd.unique(g[valid]), key=_sort_key)
    members = {k: np.flatnonzero(valid & (g == k).to_numpy()) for k in keys}
    sizes = {k: len(v) for k, v in members.items()}
    eligible = [k for k in keys if sizes[k] >= max(min_n, 2)]
    notes = [f"group {k!r}: n={sizes[k]} is below min_n={min_n}, no kappa" for k in keys if k not in eligible]
    if notes:
        warnings.warn("; ".join(notes), stacklevel=2)
    m_cap = min((sizes[k] for k in eligible), default=0)
    m = m_cap if equal_n is None else min(int(equal_n), m_cap)
    boot = np.full((n_boot, len(keys)), np.nan)
    lo_q, hi_q = (1 - ci) / 2, (1 + ci) / 2
    rows = []
    for j, k in enumerate(keys):
        idx = members[k]
        row: dict[str, Any] = {"group": k, "n": sizes[k], "m": m if k in eligible else 0}
        labs = None if lab_codes is None else lab_codes[idx]
        if labs is not None:
            row["entropy"] = _entropy_codes(labs)
        if k not in eligible:
            row.update(R=math.nan, rho2=math.nan, kappa=math.nan, ci_low=math.nan, ci_high=math.nan,
                       kappa_paper=math.nan, note=notes[[n.startswith(f"group {k!r}") for n in notes].index(True)])
            if labs is not None:
                row.update(entropy=math.nan, entropy_low=math.nan, entropy_high=math.nan)
            rows.append(row)
            continue
        xg = x[idx]
        s = xg.sum(0)
        rho2 = unbiased_rho2(s, len(idx))
        row["R"] = float(np.linalg.norm(s) / len(idx))
        row["rho2"] = rho2
        row["kappa"] = kappa_from_R(math.sqrt(min(max(rho2, 0.0), 1.0)), p, newton_steps)
        # separate streams: the bootstrap does not depend on equal_n (the plain estimator's draws)
        rng, rng_sub = (np.random.default_rng([seed, j, stream]) for stream in (0, 1))
        ent = []
        r2 = np.empty(n_boot)
        n_g = len(idx)
        for a in range(0, n_boot, 64):  # resamples of the group's own n, as multiplicities c_j
            picks = rng.integers(0, n_g, (min(64, n_boot - a), n_g))
            counts = np.stack([np.bincount(pk, minlength=n_g) for pk in picks]).astype(np.float64)
            sums = counts @ xg
            for i, b in enumerate(range(a, a + len(picks))):
                r2[b] = unbiased_rho2(sums[i], n_g, float(counts[i] @ counts[i]))
                if labs is not None:
                    ent.append(_entropy_codes(labs[picks[i]]))
        boot[:, j] = kappa_from_R(np.sqrt(np.clip(r2, 0.0, 1.0)), p, newton_steps)
        # the paper's plain estimator at equal n: subsamples of m without replacement
        n_sub = 1 if m == len(idx) else min(n_boot, 50)
        r_plain = [np.linalg.norm(xg[rng_sub.choice(len(idx), m, replace=False)].sum(0)) / m for _ in range(n_sub)]
        paper = kappa_from_R(np.clip(r_plain, 0.0, 1.0), p, newton_steps)
        row["ci_low"], row["ci_high"] = (float(v) for v in np.nanquantile(boot[:, j], [lo_q, hi_q]))
        row["kappa_paper"] = float(np.mean(paper))
        if labs is not None:
            row["entropy_low"], row["entropy_high"] = (float(v) for v in np.nanquantile(ent, [lo_q, hi_q]))
        row["note"] = ""
        rows.append(row)
    return GroupKappa(pd.DataFrame(rows), boot, m, p, ci, notes)


def _sort_key(v):
    return (0, v, "") if isinstance(v, int | float | np.integer | np.floating) else (1, 0, str(v))


