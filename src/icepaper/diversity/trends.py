"""Habit diversity by temperature, particle size, campaign and class (Ko et al. 2025's analysis).

``analyse_diversity`` cuts the metadata into groups (equal-count temperature bins in deg C,
equal-count bins of log10 dmax in um, campaigns, habit classes), runs ``kappa.kappa_by_group``
on each grouping and fits the trend slopes (kappa per deg C, kappa per decade of dmax).
Whatever metadata is missing is skipped with a note. ``class_similarity`` gives the mean
cosine similarity within and between classes; ``diversity_backbone`` / ``random_init_backbone``
are the two networks the notebook compares.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from icepaper.core.atomic import jsonable

from .kappa import GroupKappa, Slope, kappa_by_group, l2_normalize

__all__ = [
    "DiversityReport", "analysis_rows", "pick_label_scheme", "pseudo_habits", "n_pseudo_habits", "particle_size",
    "quantile_bins", "class_similarity",
    "analyse_diversity", "summary_table", "trend_strength", "jsonable", "diversity_backbone", "random_init_backbone",
]


def analysis_rows(meta: pd.DataFrame | None, n: int | None = None) -> tuple[np.ndarray, str]:
    """Rows the diversity analysis uses and a sentence saying which.

    Ko et al. 2025 is a CPI study, so when the dataset mixes instruments only the CPI particles
    are used (a second imager's look would dominate the embedding spread). Frames labelled
    ``blank`` (no particle, hence no habit) are left out. Otherwise all rows.

    >>> meta = pd.DataFrame({"instrument": ["CPI", "CPI", "2DS", "CPI"],
    ...                      "cpi": ["plate", "blank", None, "column"]})
    >>> rows, what = analysis_rows(meta)
    >>> rows.tolist(), what
    ([0, 3], '2 of 4 particles: CPI particles (Ko et al. 2025 is a CPI study), without blank frames')
    """
    if meta is None:
        return np.arange(int(n or 0)), "all particles (no metadata)"
    keep = np.ones(len(meta), dtype=bool)
    what = []
    if "instrument" in meta.columns:
        inst = meta["instrument"].astype("string")
        if inst.nunique() > 1 and (inst == "CPI").any():
            keep &= (inst == "CPI").fillna(False).to_numpy()
            what.append("CPI particles (Ko et al. 2025 is a CPI study)")
    if "cpi" in meta.columns:
        blank = (meta["cpi"].astype("string") == "blank").fillna(False).to_numpy()
        if blank.any():
            keep &= ~blank
            what.append("without blank frames")
    rows = np.flatnonzero(keep)
    return rows, f"{len(rows)} of {len(meta)} particles" + (f": {', '.join(what)}" if what else "")


def pick_label_scheme(meta: pd.DataFrame | None) -> str | None:
    """The label column (cpi, habit19, habit4, oap) with the most labelled rows, or None; a
    column with a single class is no habit labelling and is passed over.

    >>> pick_label_scheme(pd.DataFrame({"cpi": ["plate"] * 3, "habit4": ["a", "b", None]}))
    'habit4'
    >>> pick_label_scheme(None) is None
    True
    """
    if meta is None:
        return None
    best, best_n = None, 0
    for col in ("cpi", "habit19", "habit4", "oap"):
        if col in meta.columns and meta[col].nunique() >= 2:
            n = int(meta[col].notna().sum())
            if n > best_n:
                best, best_n = col, n
    return best


def n_pseudo_habits(n: int, k_max: int, min_n: int) -> int:
    """Number of k-means pseudo-habits for ``n`` particles: ``k_max``, fewer when the clusters
    would average under ``2 * min_n`` particles (0 when fewer than two such clusters fit).

    >>> n_pseudo_habits(1000, k_max=10, min_n=30), n_pseudo_habits(200, 10, 30), n_pseudo_habits(100, 10, 30)
    (10, 3, 0)
    """
    k = min(int(k_max), int(n) // (2 * int(min_n)))
    return k if k >= 2 else 0


def pseudo_habits(emb: np.ndarray, k: int, seed: int = 0) -> pd.Series:
    """k-means cluster of every row of ``emb`` (faiss, on the L2-normalised embeddings) as labels
    ``"cluster 01"``, ``"cluster 02"``, ... numbered by decreasing cluster size: pseudo-habits
    for data without habit labels."""
    from icepaper.representations.kmeans import cluster_labels

    return cluster_labels(emb, k, seed=seed)


def particle_size(ds, rows: Sequence[int], min_n: int = 1, chunk: int = 4096) -> tuple[np.ndarray, str, str]:
    """(size per row, unit, where it comes from) for the size trend of rows ``rows`` of ``ds``.

    ``dmax_um`` from the metadata when at least ``2 * min_n`` rows have it; else the diameter of
    the minimum enclosing circle of the particle mask (``features.geometric_features``'
    ``max_dim``), in um when every row's ``pixel_um`` is known and in pixels otherwise. Blank
    frames are NaN.

    >>> from types import SimpleNamespace
    >>> ds = SimpleNamespace(meta=pd.DataFrame({"dmax_um": [120.0, 80.0, 300.0]}))
    >>> particle_size(ds, [2, 0])
    (array([300., 120.]), 'um', 'particle size: dmax_um from the metadata')
    """
    from icepaper.data.features import geometric_features

    rows = np.asarray(rows, dtype=np.int64)
    meta = ds.meta
    if "dmax_um" in meta.columns:
        d = meta["dmax_um"].to_numpy(dtype=float, na_value=np.nan)[rows]
        if np.isfinite(d).sum() >= 2 * min_n:
            return d, "um", "particle size: dmax_um from the metadata"
    px = np.concatenate([geometric_features(ds.batch(rows[a:a + chunk]))["max_dim"].to_numpy(dtype=float)
                         for a in range(0, len(rows), chunk)]) if len(rows) else np.empty(0)
    pix = (meta["pixel_um"].to_numpy(dtype=float, na_value=np.nan)[rows] if "pixel_um" in meta.columns
           else np.full(len(rows), np.nan))
    if len(rows) and np.isfinite(pix).all():
        return px * pix, "um", "particle size: maximum dimension of the particle mask, in um (pixel_um known)"
    return px, "px", ("particle size: maximum dimension of the particle mask in pixels (no dmax_um, "
                      "pixel size unknown)")


def quantile_bins(values: Sequence[float], n_bins: int, log: bool = False) -> tuple[pd.Series, pd.Series]:
    """Equal-count bins of a numeric column: (bin label per row, bin centre per label).

    Labels are the bin index 0..k-1 (NaN for missing values); centres are the median value
    in each bin (the geometric median when ``log``, i.e. computed on log10 values).

    >>> lab, centres = quantile_bins([1.0, 2.0, 3.0, 4.0, np.nan], 2)
    >>> lab.tolist()[:4], centres.to_dict()
    ([0.0, 0.0, 1.0, 1.0], {0: 1.5, 1: 3.5})
    """
    v = pd.Series(np.asarray(values, dtype=np.float64))
    t = np.log10(v.where(v > 0)) if log else v
    ok = t.notna()
    if ok.sum() == 0:
        raise ValueError("no finite values to bin")
    b = pd.qcut(t[ok], q=n_bins, labels=False, duplicates="drop")
    lab = pd.Series(np.nan, index=v.index)
    lab[ok] = b.astype(float)
    centres = t[ok].groupby(b).median()
    if log:
        centres = 10.0**centres
    return lab, centres


def class_similarity(emb: np.ndarray, labels: Sequence, min_n: int = 2) -> pd.DataFrame:
    """Mean pairwise cosine similarity within (diagonal) and between (off-diagonal) classes.

    Off-diagonal (a, b): ``mean_a . mean_b`` of the unit embeddings, which equals the mean
    cosine over all cross-class pairs; diagonal: the unbiased within-class mean cosine over
    distinct pairs, ``(n R^2 - 1) / (n - 1)``. Classes with fewer than ``min_n`` rows are left out
    (no class left: an empty frame).

    >>> emb = [[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]]
    >>> class_similarity(emb, ["a", "a", "b", "b"]).round(2)
         a    b
    a  1.0  0.1
    b  0.1  1.0
    """
    x = l2_normalize(emb)
    lab = pd.Series(list(labels), dtype=object)
    counts = lab.value_counts()
    classes = sorted([c for c in counts.index if counts[c] >= max(min_n, 2)], key=str)
    if not classes:
        return pd.DataFrame(dtype=float)
    means = np.stack([x[(lab == c).to_numpy()].mean(0) for c in classes])
    sim = means @ means.T
    for i, c in enumerate(classes):
        n = int(counts[c])
        sim[i, i] = (n * float(means[i] @ means[i]) - 1.0) / (n - 1)
    return pd.DataFrame(sim, index=classes, columns=classes)


@dataclass
class DiversityReport:
    """kappa by temperature, size, campaign and class, with slopes, notes (groups below the
    minimum size) and ``skipped``: {factor: why} for the factors the data do not allow."""

    by: dict[str, GroupKappa]
    centres: dict[str, pd.Series]
    slopes: dict[str, Slope]
    label_col: str | None
    notes: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    size_unit: str = "um"
    slope_x: dict[str, np.ndarray] = field(default_factory=dict)  # the x of each slope fit

    def relative_slope(self, factor: str) -> Slope:
        """The ``factor`` slope in per cent of the mean kappa (interval per bootstrap replicate)."""
        s = self.slopes[factor]
        return self.by[factor].slope(self.slope_x[factor], units=s.units, relative=True)

    def table(self, factor: str) -> pd.DataFrame:
        """The group table of one factor with the bin centre as ``x`` when it is binned."""
        t = self.by[factor].table.copy()
        if factor in self.centres:
            t.insert(1, "x", t["group"].map(self.centres[factor]))
        return t

    def results(self) -> dict[str, Any]:
        """JSON-ready headline numbers: kappa per bin with CI, slopes with CI, notes."""
        out: dict[str, Any] = {"label_scheme": self.label_col, "notes": self.notes}
        if "size" in self.by and self.size_unit != "um":
            out["size_unit"] = self.size_unit
        for f in self.by:
            t = self.table(f)
            cols = [c for c in ("group", "x", "n", "m", "R", "kappa", "ci_low", "ci_high", "kappa_paper", "entropy")
                    if c in t.columns]
            out[f"kappa_by_{f}"] = t[cols].to_dict("records")
        out["slopes"] = {f: s.as_dict() for f, s in self.slopes.items()}
        return jsonable(out)


def analyse_diversity(
    emb: np.ndarray,
    meta: pd.DataFrame | None = None,
    *,
    label_col: str | None = "auto",
    size: Sequence[float] | None = None,
    size_unit: str = "um",
    n_temp_bins: int = 6,
    n_size_bins: int = 5,
    min_n: int = 30,
    equal_n: int | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> DiversityReport:
    """kappa by temperature bins, log-size bins, campaign and habit class, as far as ``meta`` allows.

    Missing metadata is skipped, with the reason in ``skipped`` (without any metadata:
    per-class kappa when labels exist, else one kappa for the whole set). ``size``: the particle
    size per row in ``size_unit`` (default: ``meta["dmax_um"]``, um). Temperature slope in kappa
    per deg C, size slope in kappa per decade of size (bins equal-count on log10 size).

    Without metadata: one kappa of the whole set, and the reasons for what was skipped.

    >>> emb = np.random.default_rng(0).normal(size=(60, 8))
    >>> rep = analyse_diversity(emb, min_n=20, n_boot=20)
    >>> list(rep.by), rep.skipped["kappa vs temperature"]
    (['all'], 'no temperature_c metadata (or fewer than 40 values)')
    """
    n = len(emb)
    meta = pd.DataFrame(index=range(n)) if meta is None else meta.reset_index(drop=True)
    if len(meta) != n:
        raise ValueError(f"metadata has {len(meta)} rows for {n} embeddings")
    if label_col == "auto":
        label_col = pick_label_scheme(meta)
    labels = meta[label_col] if label_col and label_col in meta.columns else None
    by, centres, slopes, notes, skipped, slope_x = {}, {}, {}, [], {}, {}
    if size is None and "dmax_um" in meta.columns:
        size, size_unit = meta["dmax_um"].to_numpy(dtype=float, na_value=np.nan), "um"
    size = None if size is None else pd.Series(np.asarray(size, dtype=float))
    if size is not None and len(size) != n:
        raise ValueError(f"{len(size)} particle sizes for {n} embeddings")

    def group(name, keys, seed_offset, with_labels=True):
        # groups below min_n: their note goes to the report's notes (printed once) instead of a warning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            gk = kappa_by_group(emb, keys, labels=labels if with_labels else None, min_n=min_n,
                                equal_n=equal_n, n_boot=n_boot, seed=seed + seed_offset)
        notes.extend(f"{name}: {note}" for note in gk.notes)
        by[name] = gk
        return gk

    def usable(col):
        return col in meta.columns and meta[col].notna().sum() >= 2 * min_n

    size_word = "dmax" if size_unit == "um" else f"size ({size_unit})"

    if usable("temperature_c"):
        b, centres["temperature"] = quantile_bins(meta["temperature_c"], n_temp_bins)
        xs = group("temperature", b, 0).table["group"].map(centres["temperature"]).to_numpy(dtype=float)
        slopes["temperature"] = by["temperature"].slope(xs, units="deg C")
        slope_x["temperature"] = xs
    else:
        skipped["kappa vs temperature"] = f"no temperature_c metadata (or fewer than {2 * min_n} values)"
    if size is not None and int((size > 0).sum()) >= 2 * min_n:
        b, centres["size"] = quantile_bins(size, n_size_bins, log=True)
        xs = np.log10(group("size", b, 1).table["group"].map(centres["size"]).to_numpy(dtype=float))
        slopes["size"] = by["size"].slope(xs, units=f"decade of {size_word}")
        slope_x["size"] = xs
    else:
        skipped["kappa vs particle size"] = f"no particle sizes (or fewer than {2 * min_n})"
    if "campaign" in meta.columns and meta["campaign"].nunique() >= 2:
        group("campaign", meta["campaign"], 2)
    else:
        skipped["kappa per campaign"] = "no campaign column, or a single campaign"
    if labels is not None:
        group("class", labels, 3, with_labels=False)
    else:
        skipped["kappa per class"] = "no habit labels; kappa of the whole set only"
        group("all", None, 3)
    return DiversityReport(by, centres, slopes, label_col, notes, skipped, size_unit, slope_x)


def trend_strength(reports: dict[str, DiversityReport], factor: str) -> str:
    """One sentence: the ``factor`` slope of each network in per cent of its own mean kappa, with
    intervals, and which network shows the trend more strongly (only when one interval lies
    wholly farther from 0 than the other, on one side of 0); "" when fewer than two have it.

    >>> t = np.repeat([-30.0, -20.0, -10.0], 40)
    >>> noise = np.random.default_rng(0).normal(size=(120, 8))
    >>> steep = np.eye(8)[0] + (0.1 + 0.03 * (t[:, None] + 30)) * noise
    >>> flat = np.eye(8)[0] + 0.3 * noise
    >>> reps = {name: analyse_diversity(e, pd.DataFrame({"temperature_c": t}), n_temp_bins=3, min_n=20, n_boot=50)
    ...         for name, e in (("steep", steep), ("flat", flat))}
    >>> print(trend_strength(reps, "temperature"))  # doctest: +ELLIPSIS
    Temperature, slope in % of each network's mean kappa per deg C: steep -... [...], flat ... [...]: steep shows it more strongly.
    """
    rel = {name: r.relative_slope(factor) for name, r in reports.items()
           if factor in r.slopes and np.isfinite(r.slopes[factor].slope)}
    if len(rel) < 2:
        return ""

    def inner(s):  # distance of the interval's near end from 0, when it excludes 0
        return min(abs(s.ci_low), abs(s.ci_high)) if s.sign else 0.0

    def outer(s):
        return max(abs(s.ci_low), abs(s.ci_high))

    strong = [a for a, s in rel.items() if s.sign and all(inner(s) > outer(o) for b, o in rel.items() if b != a)]
    units = next(iter(rel.values())).units
    parts = ", ".join(f"{n} {s.slope:+.2f} [{s.ci_low:+.2f}, {s.ci_high:+.2f}]" for n, s in rel.items())
    verdict = (f"{strong[0]} shows it more strongly" if strong else
               "no network shows it more strongly than the others beyond the intervals")
    return f"{factor.capitalize()}, slope in % of each network's mean kappa per {units}: {parts}: {verdict}."


def summary_table(rep: DiversityReport) -> pd.DataFrame:
    """All group tables of a report stacked, one row per (factor, group).

    >>> rep = analyse_diversity(np.random.default_rng(0).normal(size=(60, 8)), min_n=20, n_boot=20)
    >>> summary_table(rep)[["factor", "group", "n", "m"]]
      factor group   n   m
    0    all   all  60  60
    """
    cols = ["factor", "group", "x", "n", "m", "R", "kappa", "ci_low", "ci_high", "kappa_paper", "entropy", "note"]
    parts = []
    for f in rep.by:
        t = rep.table(f)
        t.insert(0, "factor", f)
        parts.append(t.reindex(columns=cols))
    out = pd.concat(parts, ignore_index=True)
    return out.dropna(axis=1, how="all")


def diversity_backbone(cfg, ds) -> tuple[str, str]:
    """(safetensors path, description) of the network whose embeddings measure diversity:
    the iBOT-vMF network of notebook 03 (``ssl.pretrain.pretrained(cfg, ds, "ibot_vmf")``, cached)."""
    from icepaper.ssl.pretrain import pretrained

    return str(pretrained(cfg, ds, "ibot_vmf").backbone), "iBOT-vMF trained from scratch on the pretraining set (notebook 03)"


def random_init_backbone(cfg) -> str:
    """Path of the random-init ViT of the profile (``representations.reference_backbone``), exported
    once to the cache so its embeddings are cached like any other network's."""
    from icepaper.representations.reference import reference_backbone

    return str(reference_backbone(cfg, "random"))
