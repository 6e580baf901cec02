"""Deterministic, stratified train/val/test splits, with whole-group (campaign) hold-out.

``assign_splits(meta)`` returns a Series of "train"/"val"/"test" aligned with ``meta.index``.
Each row gets exactly one split, so no image is ever in two splits.

* Stratified: every class of the ``stratify`` column is split on its own in the requested
  fractions (largest-remainder rounding). Missing labels (NA) form their own stratum.
  Rare classes are placed sensibly instead of failing: a class with 1 member goes to
  train, with 2 members to train and test, with 3 or more at least one member to every
  split that has a non-zero fraction.
* Deterministic: the order inside a class is a hash of ``(seed, image_id)`` (row position
  when there is no ``image_id`` column), so the assignment does not depend on row order and
  a particle keeps its split when other rows are added or removed (up to rounding).
* Groups: ``group="campaign", holdout_groups=["CLOUDLAB-like"]`` sends those campaigns
  whole to test and splits the remaining rows (stratified) into train and val in the ratio
  ``fractions[0] : fractions[1]``. ``group=...`` without ``holdout_groups`` keeps every group
  whole and assigns groups to splits so that row counts approach the fractions (e.g.
  ``group="source_file"`` keeps the crops of one CPI sheet together).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")
_NA = "\x00<NA>"  # stratum key for missing labels (cannot clash with a real label)


def assign_splits(
    meta: pd.DataFrame,
    stratify: str | None = "cpi",
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    group: str | None = None,
    holdout_groups: Iterable | None = None,
) -> pd.Series:
    """Split labels ("train"/"val"/"test") for every row of ``meta``, aligned with its index.

    ``stratify``: column whose classes are split proportionally (None: no stratification).
    ``fractions``: (train, val, test), non-negative, summing to 1.
    ``group`` / ``holdout_groups``: see the module docstring.
    """
    fr = _check_fractions(fractions)
    if stratify is not None and stratify not in meta.columns:
        raise KeyError(f"cannot stratify on {stratify!r}: not a metadata column "
                       f"(columns: {list(meta.columns)}); pass stratify=None")
    if group is not None and group not in meta.columns:
        raise KeyError(f"cannot group on {group!r}: not a metadata column (columns: {list(meta.columns)})")
    if holdout_groups is not None and group is None:
        raise ValueError("holdout_groups needs group= (the column holding the groups, e.g. 'campaign')")

    n = len(meta)
    out = np.empty(n, dtype=object)
    order = _hash_order(meta, seed)  # per-row pseudo-random key, stable under reordering
    strata = _strata(meta, stratify)

    if group is not None and holdout_groups is not None:
        hold = list(holdout_groups)
        gvals = meta[group].astype("object").where(meta[group].notna(), None).to_numpy()
        present = set(gvals.tolist())
        unknown = [g for g in hold if g not in present]
        if unknown:
            raise ValueError(f"holdout_groups {unknown} not found in column {group!r} "
                             f"(values: {sorted(map(str, present))})")
        is_hold = np.isin(gvals, np.array(hold, dtype=object))
        out[is_hold] = "test"
        rest = np.flatnonzero(~is_hold)
        tv = np.array([fr[0], fr[1], 0.0])
        tv = tv / tv.sum() if tv.sum() > 0 else np.array([1.0, 0.0, 0.0])
        out[rest] = _stratified(strata[rest], order[rest], tv, seed)
    elif group is not None:
        out[:] = _by_group(meta[group], order, fr, seed)
    else:
        out[:] = _stratified(strata, order, fr, seed)
    return pd.Series(out, index=meta.index, name="split", dtype="object")


def split_summary(meta: pd.DataFrame, split: pd.Series | None = None, by: str | None = "cpi") -> pd.DataFrame:
    """Counts per split (columns) and class of ``by`` (rows); a quick check of a split."""
    split = meta["split"] if split is None else split
    if by is None or by not in meta.columns:
        return split.value_counts().reindex(SPLITS, fill_value=0).to_frame("n").T
    lab = meta[by].astype("object").where(meta[by].notna(), "<NA>")
    return pd.crosstab(lab, split).reindex(columns=list(SPLITS), fill_value=0)


# --------------------------------------------------------------------------- helpers


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (3,) or np.any(~np.isfinite(fr)) or np.any(fr < 0):
        raise ValueError(f"fractions must be three non-negative numbers (train, val, test), got {fractions!r}")
    if abs(fr.sum() - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {fr.sum():.6g})")
    if fr[0] <= 0:
        raise ValueError(f"the train fraction must be positive, got {fractions!r}")
    return fr


def _hash_order(meta: pd.DataFrame, seed: int) -> np.ndarray:
    key = f"{int(seed) % 10**16:016d}"
    ids = meta["image_id"].astype(str) if "image_id" in meta.columns else pd.Series(np.arange(len(meta)).astype(str))
    return pd.util.hash_pandas_object(ids.reset_index(drop=True), index=False, hash_key=key).to_numpy()


def _strata(meta: pd.DataFrame, stratify: str | None) -> np.ndarray:
    if stratify is None:
        return np.zeros(len(meta), dtype=object)
    col = meta[stratify]
    return col.astype("object").where(col.notna(), _NA).astype(str).to_numpy(dtype=object)


def _counts(n: int, fr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer counts per split for a class of ``n`` rows (largest remainder + minimums)."""
    exact = n * fr
    c = np.floor(exact).astype(int)
    rem = n - c.sum()
    if rem:
        frac = exact - c + rng.random(3) * 1e-9  # random tie-break
        frac[fr == 0] = -1
        for j in np.argsort(-frac)[:rem]:
            c[j] += 1
    # minimums for rare classes: 1 -> train; 2 -> train + test (else val); >=3 -> every split
    if n == 1:
        return np.array([1, 0, 0])
    if n == 2:
        second = 2 if fr[2] > 0 else (1 if fr[1] > 0 else 0)
        c = np.array([1, 0, 0])
        c[second] += 1
        return c
    for j in (0, 2, 1):
        if c[j] == 0 and fr[j] > 0:
            donor = int(np.argmax(c))
            if c[donor] > 1:
                c[donor] -= 1
                c[j] += 1
    return c


def _stratified(strata: np.ndarray, order: np.ndarray, fr: np.ndarray, seed: int) -> np.ndarray:
    out = np.empty(len(strata), dtype=object)
    if len(strata) == 0:
        return out
    uniq, inv = np.unique(strata.astype(str), return_inverse=True)
    for k, name in enumerate(uniq):
        rows = np.flatnonzero(inv == k)
        rows = rows[np.argsort(order[rows], kind="stable")]
        rng = np.random.default_rng([int(seed) % 2**32, _stable_int(name)])
        c = _counts(len(rows), fr, rng)
        out[rows] = np.repeat(np.array(SPLITS, dtype=object), c)
    return out


def _by_group(groups: pd.Series, order: np.ndarray, fr: np.ndarray, seed: int) -> np.ndarray:
    g = groups.astype("object").where(groups.notna(), _NA).astype(str).to_numpy()
    uniq, inv, sizes = np.unique(g, return_inverse=True, return_counts=True)
    # deterministic group order: largest first, ties by a seeded hash of the name
    keys = np.array([_stable_int(f"{seed}:{u}") for u in uniq], dtype=np.uint64)
    gorder = np.lexsort((keys, -sizes))
    target = fr * len(g)
    have = np.zeros(3)
    gsplit = np.empty(len(uniq), dtype=object)
    for k in gorder:
        j = int(np.argmax(np.where(fr > 0, (target - have) / np.maximum(target, 1e-9), -np.inf)))
        gsplit[k] = SPLITS[j]
        have[j] += sizes[k]
    return gsplit[inv]


def _stable_int(s: str) -> int:
    import zlib

    return zlib.crc32(s.encode()) & 0xFFFFFFFF


# --------------------------------------------------------------------------- what each step may see
#
# One purpose per split: pretraining, curation and the quick kNN check use ``train`` (and
# ``val`` where something is chosen or scored); ``test`` is touched once, by the final probe
# (notebook 05). The label-budget study (notebook 06) keeps one whole campaign unseen: no
# pretraining, fine-tuning or check sees it (Chu et al. 2025 kept CLOUDLAB out of both).

#: The campaign the label-budget study trains on, and the one it keeps unseen, when present.
PREFERRED_TRAIN_CAMPAIGN = "NASCENT19-like"
PREFERRED_UNSEEN_CAMPAIGN = "CLOUDLAB-like"


def study_schemes(ds) -> list[str]:
    """The label schemes of the label-budget study: ``habit19`` and ``habit4`` when labelled
    (the paper's 19 and 4 categories), else the first labelled scheme; ``[]`` without labels."""
    from .packed import LABEL_SCHEMES

    found = [s for s in ("habit19", "habit4") if ds.has_labels(s)]
    if found:
        return found
    return [s for s in LABEL_SCHEMES if ds.has_labels(s)][:1]


def campaign_column(ds) -> np.ndarray | None:
    """The ``campaign`` column as an object array (missing as None), or None without one."""
    if "campaign" not in ds.meta.columns:
        return None
    c = ds.meta["campaign"]
    return c.astype("object").where(c.notna(), None).to_numpy()


def campaign_roles(ds, scheme: str, train_campaign: str | None = None, gen_campaign: str | None = None,
                   min_gen: int = 10) -> tuple[str | None, str | None, str]:
    """(training campaign, unseen campaign, note) of the label-budget study in ``scheme``.

    Training campaign: ``train_campaign``, else ``NASCENT19-like`` if it carries ``scheme``
    labels, else the campaign with most labelled images. Unseen campaign: ``gen_campaign``,
    else ``CLOUDLAB-like`` if it has at least ``min_gen`` images of the classes labelled in the
    training campaign, else the other campaign with most such images. Either is None (and the
    note says why) without a ``campaign`` column holding two labelled campaigns.
    """
    lab = ds.labels(scheme)
    has = lab.notna().to_numpy()
    camp = campaign_column(ds)
    if camp is None:
        return None, None, "no generalization test: the dataset has no 'campaign' column with a second labelled campaign"
    if len({c for c in camp[has] if c is not None}) < 2:
        return None, None, "no generalization test: only one campaign carries labels"
    counts = pd.Series(camp[has]).value_counts()
    train_c = train_campaign or (PREFERRED_TRAIN_CAMPAIGN if PREFERRED_TRAIN_CAMPAIGN in counts.index
                                 else counts.index[0])
    if train_c not in counts.index:
        raise ValueError(f"training campaign {train_c!r} has no {scheme} labels (campaigns: {list(counts.index)})")
    classes = set(lab[has & (camp == train_c)].astype(str))
    known = has & lab.isin(sorted(classes)).fillna(False).to_numpy(dtype=bool)
    cand = pd.Series(camp[known & (camp != train_c)]).value_counts()
    cand = cand[cand >= min_gen]
    if gen_campaign is not None and gen_campaign not in cand.index:
        raise ValueError(f"unseen campaign {gen_campaign!r} has fewer than {min_gen} images of the "
                         f"{scheme} classes the models learn (candidates: {list(cand.index)})")
    if not len(cand):
        return train_c, None, f"no generalization test: no other campaign has at least {min_gen} images of these classes"
    gen_c = gen_campaign or (PREFERRED_UNSEEN_CAMPAIGN if PREFERRED_UNSEEN_CAMPAIGN in cand.index else cand.index[0])
    return train_c, gen_c, ""


def heldout_campaigns(ds) -> list[str]:
    """The campaigns the label-budget study keeps unseen with its default choices (the unseen
    campaign of each of its :func:`study_schemes`; ``[]`` when it has none). Pretraining,
    curation, fine-tuning and the kNN check leave their images out."""
    out: list[str] = []
    for s in study_schemes(ds):
        gen = campaign_roles(ds, s)[1]
        if gen is not None and gen not in out:
            out.append(gen)
    return out


def pretrain_indices(ds) -> np.ndarray:
    """Rows every pretraining run, curation and kNN check draws from by default (sorted).

    Every image that is not in the ``test`` split (unlabelled images and rows without a split
    count as train) and not in a :func:`heldout_campaigns` campaign. So one pretraining set
    serves notebooks 03-07: the final probe's test images and the unseen campaign of the
    label-budget study stay unseen.
    """
    split = ds.meta["split"].astype("object").to_numpy()
    keep = split != "test"
    hold = heldout_campaigns(ds)
    camp = campaign_column(ds)
    if hold and camp is not None:
        keep &= ~np.isin(camp, np.array(hold, dtype=object))
    return np.flatnonzero(keep).astype(np.int64)
