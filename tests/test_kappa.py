"""The vMF kappa estimator, its bootstrap intervals and the diversity analysis."""

from __future__ import annotations

import math

import numpy as np
import pytest

from icepaper.diversity import kappa as K
from icepaper.diversity.kappa_validation import sample_vmf, validation_grid


def _iso(n, p, seed=0):
    return np.random.default_rng(seed).standard_normal((n, p))


# --------------------------------------------------------------------------- A_p(kappa)


@pytest.mark.parametrize("k", [1e-4, 0.3, 2.0, 40.0, 900.0])
def test_bessel_ratio_closed_form_p3(k):
    # A_3(kappa) = coth(kappa) - 1/kappa
    assert K.bessel_ratio(3, k) == pytest.approx(1 / math.tanh(k) - 1 / k, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("p", [16, 192, 768, 4096])
def test_bessel_ratio_recurrence_all_regimes(p):
    # I_{v-1} - I_{v+1} = (2v/k) I_v  =>  A_p = k / (p + k A_{p+2}); covers the ive and continued-fraction paths
    k = np.array([1e-3, 0.5, 3.0, 50.0, 400.0, 5000.0, 1e5])
    a, a2 = K.bessel_ratio(p, k), K.bessel_ratio(p + 2, k)
    assert np.all(np.isfinite(a)) and np.all((a > 0) & (a < 1))
    np.testing.assert_allclose(a, k / (p + k * a2), rtol=1e-9)
    assert np.all(np.diff(a) > 0)  # increasing in kappa
    # small-kappa limit A_p(k) ~ k / p
    assert K.bessel_ratio(p, 1e-6) == pytest.approx(1e-6 / p, rel=1e-4)


def test_bessel_ratio_matches_mpmath_where_ive_underflows():
    mpmath = pytest.importorskip("mpmath")
    for p, k in [(768, 1.0), (768, 30.0), (2000, 5.0), (64, 3.0)]:
        ref = float(mpmath.besseli(p / 2, k) / mpmath.besseli(p / 2 - 1, k))
        assert K.bessel_ratio(p, k) == pytest.approx(ref, rel=1e-10)


# --------------------------------------------------------------------------- point estimates


@pytest.mark.parametrize("p,c", [(16, 2.0), (64, 0.5), (256, 2.0), (768, 1.0)])
def test_estimators_recover_known_kappa(p, c):
    k_true = c * p
    x = sample_vmf(p, k_true, 1500 if p < 500 else 600, seed=p)
    for method, kw in [("newton", {}), ("newton", {"newton_steps": None}), ("newton", {"debias": True})]:
        est = K.estimate_kappa(x, method, **kw)
        assert est.kappa == pytest.approx(k_true, rel=0.06), (method, kw, est)
    # Newton's exact root solves A_p(kappa) = R
    ml = K.estimate_kappa(x, "newton", newton_steps=None)
    assert K.bessel_ratio(p, ml.kappa) == pytest.approx(ml.R, rel=1e-9)


def test_newton_agrees_with_scipy_fit_in_low_dimension():
    x = sample_vmf(16, 40.0, 3000, seed=1)
    ml = K.estimate_kappa(x, "newton", newton_steps=None).kappa
    assert K.estimate_kappa(x, "scipy").kappa == pytest.approx(ml, rel=1e-5)
    # two Newton steps from Banerjee's start are already at the root
    assert K.estimate_kappa(x, "newton").kappa == pytest.approx(ml, rel=1e-6)


def test_scipy_reference_fails_cleanly_in_high_dimension():
    x = sample_vmf(256, 256.0, 500, seed=2)
    assert math.isnan(K.kappa_mle_scipy(x))  # scipy's bracket underflows; ours does not
    assert K.estimate_kappa(x).kappa == pytest.approx(256.0, rel=0.08)


def test_kappa_from_R_edges_and_vectorised():
    assert K.kappa_from_R(0.0, 32) == 0.0
    assert K.kappa_from_R(1.0, 32) == math.inf
    with pytest.raises(ValueError):
        K.kappa_from_R(1.5, 32)
    r = np.array([0.1, 0.5, 0.9, np.nan])
    k = K.kappa_from_R(r, 32, newton_steps=None)
    assert np.isnan(k[-1])
    np.testing.assert_allclose(K.bessel_ratio(32, k[:3]), r[:3], rtol=1e-9)
    assert K.banerjee_kappa(0.5, 32) == pytest.approx(0.5 * (32 - 0.25) / 0.75)


def test_debiasing_removes_the_isotropic_bias():
    p, n = 64, 100
    plain, deb, rho2 = [], [], []
    for s in range(40):
        x = _iso(n, p, s)
        plain.append(K.estimate_kappa(x).kappa)
        deb.append(K.estimate_kappa(x, debias=True).kappa)
        xs = K.l2_normalize(x)
        rho2.append(K.unbiased_rho2(xs.sum(0), n))
    # plain: R ~ 1/sqrt(n) gives kappa ~ p / sqrt(n) although the truth is 0
    assert np.mean(plain) > 0.8 * p / math.sqrt(n)
    assert np.mean(deb) < 0.35 * np.mean(plain)
    assert abs(np.mean(rho2)) < 3 * np.std(rho2) / math.sqrt(len(rho2)) + 1e-3


def test_unbiased_rho2_with_multiplicities_ignores_self_pairs():
    a, b = K.l2_normalize(_iso(2, 8, 3))
    # resample {a, a, b}: distinct pairs are (a, b) twice -> mean cosine a.b
    s = 2 * a + b
    assert K.unbiased_rho2(s, 3, sum_c2=5.0) == pytest.approx(float(a @ b))
    x = K.l2_normalize(_iso(10, 8, 4))
    n = len(x)
    brute = np.mean([x[i] @ x[j] for i in range(n) for j in range(n) if i != j])
    assert K.unbiased_rho2(x.sum(0), n) == pytest.approx(brute)


def test_minimum_n_guard():
    x = sample_vmf(16, 10.0, 12, seed=0)
    with pytest.raises(K.TooFewSamples, match="below the minimum"):
        K.estimate_kappa(x, min_n=20)
    grp = ["big"] * 10 + ["small"] * 2
    xx = np.concatenate([x[:10], x[10:]])
    with pytest.warns(UserWarning, match="below min_n"):
        gk = K.kappa_by_group(xx, grp, min_n=5, n_boot=20)
    t = gk.table.set_index("group")
    assert np.isfinite(t.loc["big", "kappa"]) and math.isnan(t.loc["small", "kappa"])
    assert "below min_n=5" in t.loc["small", "note"]


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="2-D"):
        K.estimate_kappa(np.ones(5))
    x = np.ones((5, 3))
    x[2] = 0
    with pytest.raises(ValueError, match="zero"):
        K.estimate_kappa(x)


# --------------------------------------------------------------------------- bootstrap and groups


def test_bootstrap_interval_coverage():
    p, k_true, trials = 16, 16.0, 40
    hits = 0
    for s in range(trials):
        x = sample_vmf(p, k_true, 150, seed=100 + s)
        row = K.kappa_by_group(x, None, min_n=10, n_boot=150, seed=s).table.iloc[0]
        hits += row.ci_low <= k_true <= row.ci_high
    assert hits / trials >= 0.85  # nominal 95 %


def test_interval_is_at_the_groups_own_n_and_paper_estimator_at_equal_m():
    x = np.concatenate([sample_vmf(32, 32.0, 2000, seed=1), sample_vmf(32, 32.0, 200, seed=2)])
    g = ["large"] * 2000 + ["small"] * 200
    gk = K.kappa_by_group(x, g, min_n=20, equal_n=500, n_boot=200, seed=0)
    t = gk.table.set_index("group")
    assert gk.m == 200 and (t["m"] == 200).all()  # the plain estimator's m: capped at the smallest group
    w = t["ci_high"] - t["ci_low"]
    # kappa and its interval both use all n: ten times the particles, about sqrt(10) narrower
    assert 2.0 < w["small"] / w["large"] < 5.0
    for grp in t.index:  # same true kappa -> both intervals cover it
        assert t.loc[grp, "ci_low"] < 32.0 < t.loc[grp, "ci_high"]
    # equal_n changes only kappa_paper, never kappa or its interval
    gk2 = K.kappa_by_group(x, g, min_n=20, equal_n=50, n_boot=200, seed=0)
    t2 = gk2.table.set_index("group")
    assert (t2["m"] == 50).all()
    np.testing.assert_allclose(t2[["kappa", "ci_low", "ci_high"]], t[["kappa", "ci_low", "ci_high"]])


def test_bootstrap_spread_matches_the_sampling_spread_at_n():
    """The interval describes the estimator at the group's n: its bootstrap spread matches the
    spread of the same estimator over independent samples of n (a resample size m < n would
    inflate it by about sqrt(n / m))."""
    p, k_true, n = 16, 16.0, 600
    draws = [K.estimate_kappa(sample_vmf(p, k_true, n, seed=500 + s), debias=True).kappa for s in range(60)]
    sd_true = float(np.std(draws, ddof=1))
    x = sample_vmf(p, k_true, n, seed=7)
    gk = K.kappa_by_group(x, None, min_n=10, equal_n=100, n_boot=300, seed=0)
    sd_boot = float(np.std(gk.boot[:, 0], ddof=1))
    assert 0.7 < sd_boot / sd_true < 1.4


def test_planted_monotone_trend_is_detected():
    ks = [8.0, 16.0, 32.0, 64.0, 128.0]
    x = np.concatenate([sample_vmf(32, k, 250, seed=i) for i, k in enumerate(ks)])
    temps = np.repeat([-40.0, -30.0, -20.0, -10.0, 0.0], 250)
    gk = K.kappa_by_group(x, temps, min_n=30, equal_n=150, n_boot=150, seed=0)
    kap = gk.table["kappa"].to_numpy()
    assert np.all(np.diff(kap) > 0)
    s = gk.slope(units="deg C")
    assert s.sign == +1 and s.slope > 0 and s.frac_positive == 1.0
    # no trend: same kappa everywhere -> the 95 % interval contains 0 in most trials
    false_pos = 0
    for t in range(20):
        y = np.concatenate([sample_vmf(32, 32.0, 250, seed=100 * t + i) for i in range(5)])
        null = K.kappa_by_group(y, temps, min_n=30, n_boot=100, seed=t).slope()
        false_pos += null.sign != 0
        assert abs(null.slope) < 0.1 * s.slope
    assert false_pos <= 4


def test_entropy_beside_kappa():
    assert K.shannon_entropy(["a"] * 10) == 0.0
    assert K.shannon_entropy(["a", "b"] * 50, miller_madow=False) == pytest.approx(math.log(2))
    assert K.shannon_entropy(["a", "b", None] * 50, miller_madow=False) == pytest.approx(math.log(2))
    x = sample_vmf(16, 16.0, 200, seed=0)
    gk = K.kappa_by_group(x, ["g"] * 200, labels=["a", "b"] * 100, min_n=10, n_boot=30)
    row = gk.table.iloc[0]
    assert row.entropy_low <= row.entropy <= row.entropy_high + 0.02


def test_validation_grid_small():
    df = validation_grid([16, 64], [300], kappa_over_p=[1.0], seed=0)
    assert len(df) == 2
    assert (df["relerr_newton2"].abs() < 0.1).all() and (df["relerr_ml"].abs() < 0.1).all()
    assert np.isfinite(df.loc[df.p == 16, "scipy_ml"]).all()


def test_validation_sentence_reports_the_small_n_bias():
    from icepaper.diversity.kappa_validation import validation_sentence

    df = validation_grid([64], [50, 2000], kappa_over_p=[0.1, 1.0], seed=0)
    s = validation_sentence(df)
    assert "largest n (2000)" in s and "n = 50" in s
    # at n = 50, p = 64, kappa = 6.4 the plain estimator's bias is large: R^2 ~ rho^2 + 1/n
    assert "not comparable without equal n or debiasing" in s
    assert validation_sentence(df.assign(skipped=True)) == "No validation cells were run at this profile."
