"""Cloud physics of the synthetic particles: campaigns, environment, size, habit and processes.

Everything here is a probability of a *physical* outcome given temperature T (deg C),
supersaturation over ice S_i (fraction), the particle's maximum dimension D (um) and a
campaign's environment. Nothing encodes a habit-diversity value: how diverse the habits
are per temperature or size bin is a consequence to be *measured* later, not an input.

Sources (tags as in ``docs/science.md``): habit regimes versus T and S (Bailey & Hallett 2009;
Lamb & Verlinde 2011) [fact]; aggregation most likely warmer than -5 C with a local peak
near -15 C and rare colder than -20 C [fact]; riming needs supercooled liquid (mostly
warmer than -20 C) [fact]; mean size grows with temperature (tens of um near -60 C,
~200 um near -30 C, 0.5-1 mm warmer than -10 C) [fact for the trend, default for the
numbers]. Every numerical coefficient below is a [default] chosen to reproduce these
regimes and the class mixes of the real campaigns (Chu et al. 2025 Fig. 1; docs/science.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .labels import BASE_HABITS, CAN_AGE, CAN_AGGREGATE

HABIT_INDEX = {h: i for i, h in enumerate(BASE_HABITS)}


@dataclass(frozen=True)
class Campaign:
    """One synthetic field campaign: its instrument and its cloud environment.

    ``t_range`` is the in-cloud temperature range (deg C); ``liquid_frac`` the chance that
    a particle grew in a liquid-saturated (mixed-phase) region; ``size_scale`` multiplies
    the temperature-dependent mean size; ``rime``/``aggregation``/``irregular`` scale
    process rates (turbulence, concentration, collisions during sedimentation); ``cycling``
    is the chance a column-regime crystal went through the plate regime (CPC);
    ``allowed`` restricts the base habits (CLOUDLAB seeding: column family only);
    ``drops`` the share of liquid drops imaged (CPI only; the HOLIMO datasets were
    ice-only after a CNN filter); ``artefact_rate`` the share of blank frames and
    fragments; ``defocus`` the spread of out-of-focus blur (instrument-dependent).
    """

    name: str
    instrument: str
    t_range: tuple[float, float]
    weight: float
    modelled_on: str
    liquid_frac: float = 0.0
    size_scale: float = 1.0
    rime: float = 1.0
    aggregation: float = 1.0
    irregular: float = 1.0
    cycling: float = 0.0
    allowed: tuple[str, ...] | None = None
    drops: float = 0.0
    artefact_rate: float = 0.0
    defocus: float = 1.0
    extra: dict = field(default_factory=dict)


CAMPAIGNS: dict[str, Campaign] = {
    c.name: c
    for c in [
        Campaign(
            "NASCENT19-like", "HOLIMO", (-8.0, -1.0), 0.17,
            "NASCENT, Ny-Alesund, Nov 2019 (HOLIMO3B, tethered balloon): mixed-phase, column regime",
            liquid_frac=0.9, size_scale=0.9, rime=1.6, aggregation=0.7, irregular=0.2, cycling=0.9,
        ),
        Campaign(
            "NASCENT20-like", "HOLIMO", (-22.0, -15.0), 0.13,
            "NASCENT, Ny-Alesund, Apr 2020 (HOLIMO3B): plate regime, large irregulars collided aloft",
            liquid_frac=0.45, size_scale=0.6, rime=1.0, aggregation=1.6, irregular=2.5,
        ),
        Campaign(
            "CLOUDLAB-like", "HOLIMO", (-8.0, 0.0), 0.04,
            "CLOUDLAB seeding experiments, Eriswil, Jan 2023 (HOLIMO3B): supercooled stratus, columns",
            liquid_frac=1.0, size_scale=0.8, rime=1.2, aggregation=1.0, irregular=0.0,
            allowed=("column", "needle"),
        ),
        Campaign(
            "CIRRUS-COLD-like", "CPI", (-65.0, -30.0), 0.26,
            "mid-latitude synoptic cirrus (SPARTICUS-type, CPI): rosettes and polycrystals",
            liquid_frac=0.0, size_scale=1.0, aggregation=0.6, irregular=1.0, artefact_rate=0.12,
        ),
        Campaign(
            "ANVIL-CIRRUS-like", "CPI", (-40.0, -20.0), 0.18,
            "convective anvil cirrus (CRYSTAL-FACE-type, CPI): plate-like polycrystals",
            liquid_frac=0.1, size_scale=1.1, aggregation=1.0, irregular=1.3, artefact_rate=0.12,
        ),
        Campaign(
            "ARCTIC-MIXED-like", "CPI", (-20.0, -2.0), 0.22,
            "Arctic mixed-phase stratus (M-PACE/ISDAC-type, CPI): drops, rimed crystals, aggregates",
            liquid_frac=0.8, size_scale=0.85, rime=1.3, aggregation=1.0, irregular=1.0,
            cycling=0.3, drops=0.2, artefact_rate=0.12,
        ),
    ]
}

#: Instrument of each campaign family.
INSTRUMENTS = ("CPI", "HOLIMO")


def campaign(name: str) -> Campaign:
    """The campaign called ``name`` (ValueError listing the valid names otherwise)."""
    try:
        return CAMPAIGNS[name]
    except KeyError:
        raise ValueError(f"unknown campaign {name!r}; valid campaigns: {', '.join(CAMPAIGNS)}") from None


def campaign_table() -> pd.DataFrame:
    """One row per campaign: instrument, temperature range, mixture weight, what it imitates."""
    return pd.DataFrame(
        [
            {
                "campaign": c.name,
                "instrument": c.instrument,
                "t_min_c": c.t_range[0],
                "t_max_c": c.t_range[1],
                "weight": c.weight,
                "modelled_on": c.modelled_on,
            }
            for c in CAMPAIGNS.values()
        ]
    )


# ----------------------------------------------------------------------------- helpers


def _sig(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def _box(t, lo, hi, w):
    """Smooth indicator of lo <= t <= hi with edge width w."""
    return _sig((t - lo) / w) * _sig((hi - t) / w)


def water_saturation_over_ice(t_c):
    """Supersaturation over ice at water saturation, e_w/e_i - 1 (fraction) at T (deg C).

    Ratio of the Murphy & Koop (2005) saturation vapour pressures over liquid and ice.
    """
    t = np.asarray(t_c, dtype=float) + 273.15
    ln_ei = 9.550426 - 5723.265 / t + 3.53068 * np.log(t) - 0.00728332 * t
    ln_ew = (
        54.842763 - 6763.22 / t - 4.210 * np.log(t) + 0.000367 * t
        + np.tanh(0.0415 * (t - 218.8)) * (53.878 - 1331.22 / t - 9.44523 * np.log(t) + 0.014025 * t)
    )
    return np.exp(ln_ew - ln_ei) - 1.0


def mean_size_um(t_c):
    """Mean maximum dimension (um) of the ice size distribution at T (deg C) [default].

    A sigmoid in T: ~35 um at -60 C, ~190 um at -30 C, ~600 um at -10 C, ~670 um at 0 C.
    """
    t = np.asarray(t_c, dtype=float)
    return 30.0 + 670.0 * _sig((t + 22.0) / 7.0)


#: shape parameter k = mu + 1 of the gamma size distribution N(D) ~ D^mu exp(-lambda D) [default]
GAMMA_SHAPE = 2.0
D_MIN_UM = {"CPI": 12.0, "HOLIMO": 20.0}  # smallest particle an instrument records [default]
D_MAX_UM = 3000.0


# ----------------------------------------------------------------------------- sampling


def sample_environment(n: int, camp: Campaign, rng: np.random.Generator) -> pd.DataFrame:
    """Temperature (deg C), liquid-saturated flag and supersaturation over ice per particle."""
    lo, hi = camp.t_range
    t = lo + (hi - lo) * rng.beta(1.4, 1.4, n)
    liquid_possible = _sig((t + 36.0) / 1.0)  # no supercooled liquid below ~-37 C
    liquid = rng.random(n) < camp.liquid_frac * liquid_possible
    sw = water_saturation_over_ice(t)
    # ice-only regions: sub-water-saturated, capped near the homogeneous-freezing threshold
    # of ~50 % over ice (Koop et al. 2000) [fact for the threshold, default for the spread]
    s_ice = np.minimum(sw * rng.beta(2.0, 2.2, n) * 1.05, 0.5)
    s = np.where(liquid, sw * rng.uniform(0.96, 1.02, n), s_ice)
    return pd.DataFrame({"temperature_c": t, "liquid": liquid, "supersaturation": s})


def sample_size(t_c, camp: Campaign, rng: np.random.Generator) -> np.ndarray:
    """Maximum dimension D (um) from a gamma distribution whose mean grows with T."""
    mean = mean_size_um(t_c) * camp.size_scale
    d = rng.gamma(GAMMA_SHAPE, mean / GAMMA_SHAPE)
    dmin = D_MIN_UM[camp.instrument]
    # left-truncate at the instrument's detection limit by re-drawing the short ones once,
    # then clamping (keeps the gamma shape above dmin)
    short = d < dmin
    d[short] = rng.gamma(GAMMA_SHAPE, mean[short] / GAMMA_SHAPE)
    return np.clip(d, dmin, D_MAX_UM)


def habit_weights(t_c, s_i, d_um, liquid, camp: Campaign) -> np.ndarray:
    """Unnormalised probabilities (n, len(BASE_HABITS)) of the main crystal's base habit.

    Growth regimes [fact]: plates 0 to -3.5 C, columns -3.5 to -9 C (needles near -5 C at
    water saturation), plates -9 to -22 C (stellar/dendritic -12 to -17 C at water
    saturation), plate-like polycrystals -20 to -40 C, bullet rosettes only colder than
    -30 C (mostly below -40 C). Small particles (< ~75 um) show no habit. Frozen drops
    and lollipops need liquid; CPC needs cycling between the column and plate regimes.
    """
    t = np.asarray(t_c, dtype=float)
    d = np.asarray(d_um, dtype=float)
    rh_w = np.asarray(s_i) / np.maximum(water_saturation_over_ice(t), 1e-3)  # S_i / S_w
    liq = np.asarray(liquid, dtype=float)
    w = np.zeros((len(t), len(BASE_HABITS)))
    H = HABIT_INDEX

    col = _box(t, -9.2, -3.6, 0.5) + 0.25 * _sig((-42.0 - t) / 2.0)
    needle_frac = _box(t, -6.5, -4.0, 0.5) * _sig((rh_w - 0.97) / 0.015)
    plate = 0.45 * _box(t, -3.6, 0.5, 0.5) + _box(t, -22.0, -9.2, 0.8)
    stellar_frac = 0.85 * _box(t, -17.0, -12.0, 0.6) * _sig((rh_w - 0.97) / 0.015)
    developed = _sig((d - 90.0) / 20.0)  # a habit shows only once a crystal has grown
    # vapour growth is slow: single pristine crystals are mostly 50-500 um, larger particles
    # are aggregates, rimed or irregular [fact: docs/science.md §2; default decay lengths]
    pristine = np.exp(-np.maximum(d - 600.0, 0.0) / 400.0)
    developed = developed * pristine

    w[:, H["column"]] = col * (1 - needle_frac) * developed
    w[:, H["needle"]] = 1.3 * col * needle_frac * developed
    w[:, H["plate"]] = plate * (1 - stellar_frac) * developed
    w[:, H["stellar"]] = (plate * stellar_frac * _sig((d - 250.0) / 60.0) * 1.5
                          * np.exp(-np.maximum(d - 1500.0, 0.0) / 600.0))
    w[:, H["cpc"]] = 0.9 * camp.cycling * _box(t, -9.0, -3.0, 0.6) * _sig((d - 160.0) / 40.0) * pristine
    w[:, H["lollipop"]] = 0.2 * liq * _box(t, -9.0, -3.0, 0.6) * _sig((d - 120.0) / 40.0) * pristine
    w[:, H["frozen_droplet"]] = 0.35 * liq * np.exp(-d / 110.0)
    w[:, H["small"]] = 2.5 * _sig((75.0 - d) / 12.0)
    irr = 0.12 + 0.7 * _sig((d - 450.0) / 150.0) + 0.6 * _sig((-20.0 - t) / 3.0) * _sig((d - 60) / 20)
    w[:, H["irregular"]] = camp.irregular * irr
    cold = (t < -30.0) * _sig((-38.0 - t) / 3.0)  # rosettes strictly colder than -30 C
    w[:, H["bullet_rosette"]] = 0.55 * cold * _sig((d - 90.0) / 25.0) * np.exp(-np.maximum(d - 500.0, 0.0) / 300.0)
    w[:, H["budding_rosette"]] = 0.35 * cold * _box(d, 45.0, 160.0, 15.0)
    w[:, H["planar_polycrystal"]] = (0.9 * _box(t, -40.0, -20.0, 2.0) * _sig((d - 110.0) / 30.0)
                                     * np.exp(-np.maximum(d - 800.0, 0.0) / 500.0))

    if camp.allowed is not None:
        keep = np.zeros(len(BASE_HABITS), bool)
        keep[[H[h] for h in camp.allowed]] = True
        w[:, ~keep] = 0.0
        # a habit from the allowed family even where the regime favours another one
        w[:, keep] += 1e-3
    return w


def _choose(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise categorical draw from unnormalised weights."""
    c = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * c[:, -1]
    return np.minimum((c < u[:, None]).sum(axis=1), w.shape[1] - 1)


def aging_probability(t_c, d_um, liquid, camp: Campaign) -> np.ndarray:
    """Chance a crystal is aged (rimed, i.e. drops frozen on its faces) [default numbers].

    Needs supercooled liquid (mostly warmer than -20 C) and a collector large enough to
    collect drops (onset ~150-250 um).
    """
    t = np.asarray(t_c, dtype=float)
    d = np.asarray(d_um, dtype=float)
    p = 0.75 * camp.rime * np.asarray(liquid, float) * _sig((t + 22.0) / 2.0) * _sig((d - 220.0) / 70.0)
    return np.clip(p, 0.0, 0.95)


def aggregation_probability(t_c, d_um, camp: Campaign) -> np.ndarray:
    """Chance a particle is an aggregate of >= 2 crystals [default numbers].

    Sticking efficiency peaks warmer than -5 C (quasi-liquid layer), has a local maximum
    near -15 C (dendrite interlocking) and is small colder than -20 C; the collision
    kernel grows with size, so aggregates are large.
    """
    t = np.asarray(t_c, dtype=float)
    d = np.asarray(d_um, dtype=float)
    stick = 0.03 + 0.6 * _sig((t + 5.0) / 1.2) + 0.35 * np.exp(-(((t + 15.0) / 2.5) ** 2))
    stick = stick * np.where(t < -20.0, 0.4, 1.0)
    p = camp.aggregation * stick * _sig((d - 380.0) / 120.0)
    return np.clip(p, 0.0, 0.9)


def sample_particles(
    n: int,
    camp: Campaign,
    rng: np.random.Generator,
    artefact_rate: float | None = None,
) -> pd.DataFrame:
    """Construction table of ``n`` particles from one campaign (no geometry yet).

    Columns: campaign, instrument, temperature_c, supersaturation, liquid, size_um (3-D
    maximum dimension drawn from the size distribution), habit, aged, rime_degree,
    aggregate, n_components, components (``+``-joined base habits of the other crystals),
    artefact, defocus (native px of blur sigma), blurry.
    """
    env = sample_environment(n, camp, rng)
    t, s, liq = env["temperature_c"].to_numpy(), env["supersaturation"].to_numpy(), env["liquid"].to_numpy()
    d = sample_size(t, camp, rng)
    # aggregation depends on the particle's size; the main crystal of an aggregate grew to a
    # fraction of it, so its habit follows the physics at that smaller size
    aggregate = rng.random(n) < aggregation_probability(t, d, camp)
    d_main = np.where(aggregate, d * rng.uniform(0.55, 0.8, n), d)
    w = habit_weights(t, s, d_main, liq, camp)
    w[aggregate, HABIT_INDEX["small"]] = 0.0
    w[aggregate, HABIT_INDEX["irregular"]] += 1e-6  # never an all-zero row
    habit_idx = _choose(w, rng)
    habit = np.asarray(BASE_HABITS, dtype=object)[habit_idx]

    # liquid drops imaged by the CPI in liquid-bearing regions (not ice; no processes)
    if camp.drops > 0:
        drop = liq & (rng.random(n) < camp.drops / max(camp.liquid_frac, 1e-6))
        habit = np.where(drop, "liquid_droplet", habit)
        d = np.where(drop, np.clip(rng.gamma(3.0, 12.0, n), D_MIN_UM[camp.instrument], 400.0), d)

    can_age = np.isin(habit, list(CAN_AGE))
    aged = can_age & (rng.random(n) < aging_probability(t, d, liq, camp))
    rime = np.where(aged, np.clip(rng.beta(2.0, 2.5, n) + 0.15 * _sig((d - 600) / 200), 0.05, 1.0), 0.0)
    aggregate = aggregate & np.isin(habit, list(CAN_AGGREGATE))
    ncomp = np.where(aggregate, 2 + rng.poisson(0.4 + d / 900.0), 1)
    ncomp = np.minimum(ncomp, 7)

    # companions of an aggregate: crystals of the same cloud, drawn from the same habit
    # physics at smaller sizes
    comps = np.full(n, "", dtype=object)
    idx = np.flatnonzero(aggregate)
    if len(idx):
        reps = ncomp[idx] - 1
        rows = np.repeat(idx, reps)
        dc = d[rows] * rng.uniform(0.35, 0.75, len(rows))
        wc = habit_weights(t[rows], s[rows], dc, liq[rows], camp)
        wc[:, HABIT_INDEX["small"]] *= 0.3  # a tiny companion would not be seen as a crystal
        wc[:, HABIT_INDEX["liquid_droplet"]] = 0.0
        hc = np.asarray(BASE_HABITS, dtype=object)[_choose(wc, rng)]
        hc = np.where(hc == "small", "irregular", hc)
        start = np.concatenate([[0], np.cumsum(reps)[:-1]])
        for k, i in enumerate(idx):
            comps[i] = "+".join(hc[start[k] : start[k] + reps[k]])

    # imaging: blur (native px) and artefacts
    # most particles are near focus; a share is far out of the depth of field [default]
    blur = np.abs(rng.normal(0.0, 0.8, n)) * camp.defocus
    oof = rng.random(n) < 0.1 * camp.defocus
    blur = np.where(oof, rng.uniform(2.8, 7.0, n), np.minimum(blur, 2.7))
    if camp.instrument == "HOLIMO":
        blur = 0.3 * np.minimum(blur, 2.7)  # every hologram plane is refocused
    rate = camp.artefact_rate if artefact_rate is None else float(artefact_rate)
    u = rng.random(n)
    artefact = np.where(u < 0.4 * rate, "blank", np.where(u < rate, "fragment", ""))
    is_art = artefact != ""
    d = np.where(artefact == "fragment", rng.uniform(10.0, 45.0, n), d)
    # the depth of field grows with particle size, so only a particle whose defocus blur is
    # large compared with its size looks blurry (the cocpit 'blurry' class) [default]
    blurry = oof & (blur * 2.3 > 0.06 * d) & ~is_art & (camp.instrument == "CPI")

    return pd.DataFrame(
        {
            "campaign": camp.name,
            "instrument": camp.instrument,
            "temperature_c": t,
            "supersaturation": s,
            "liquid": liq,
            "size_um": np.where(artefact == "blank", np.nan, d),
            "habit": np.where(is_art, "", habit).astype(object),
            "aged": aged & ~is_art,
            "rime_degree": np.where(is_art, 0.0, rime),
            "aggregate": aggregate & ~is_art,
            "n_components": np.where(is_art, 0, ncomp),
            "components": np.where(is_art, "", comps),
            "artefact": artefact,
            "defocus": blur,
            "blurry": blurry,
        }
    )
