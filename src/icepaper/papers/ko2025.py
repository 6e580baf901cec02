"""Ko et al. 2025: the paper's published numbers and claims, and the runs that
combine the chapters the way the paper does.

Numbers: ``PAPER_TABLE`` (CPI-21K kNN / logistic-regression accuracy, %), ``ABLATION``,
``PAPER_TRENDS`` (signs of d kappa / dx), ``PAPER_COMPUTE`` (compute of the curated runs
relative to the full run), ``PAPER_SCALE``.
Orchestration: ``ko2025_runs`` (notebooks 04, 05: full run -> latent curation -> curated
from scratch -> curated + init + short), ``ko2025_backbones`` (notebook 05's rows).
Claims: ``ablation_table``, ``orderings`` (notebook 05: three-state verdicts from a paired
bootstrap over the test images, ``icepaper.core.verdicts``), and, re-exported from
``ko2025_trends``, ``verdicts``, ``trend_verdict``, ``compare_trends``, ``sensitivity_verdict``,
``similarity_verdict``, ``entropy_verdict`` (notebook 07): every sentence is computed from our
numbers, so it stays true for any profile or dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from icepaper.core import verdicts as V
from icepaper.representations.curation import Curation, curate
from icepaper.representations.embed import embeddings_for, file_hash
from icepaper.representations.probes import DEFAULT_SCHEME, ProbeResult
from icepaper.representations.reference import reference_backbone
from icepaper.ssl.backbones import ENV_WEIGHTS, imagenet_weights
from icepaper.ssl.pretrain import pretrained

from .ko2025_trends import (  # noqa: F401  (notebook 07 reads them from here)
    PAPER_TRENDS,
    compare_trends,
    entropy_verdict,
    sensitivity_verdict,
    similarity_verdict,
    slope_verdict,
    trend_verdict,
    verdicts,
)

# ----------------------------------------------------------------------------- published numbers

# Where the numbers come from: the project's two texts of Ko et al. 2025 (not the paper's own
# PDF): a summary page of the paper (../shared/papers/000_*.txt, headings quoted below) and
# its arXiv 2509.07688 abstract page (001_*.txt). Neither numbers the paper's tables or
# sections, so the places are given by those texts' headings.

# Ko et al. 2025, main results table (000: "Key Experimental Results > Main Results"): CPI-21K
# accuracy (%) of a kNN and a logistic-regression probe, rows iBOT / ImageNet / 800 epochs and
# iBOT-vMF on CPI-3M (100 epochs), CPI-H-1M (100) and CPI-H-1M with ImageNet init (10). Its
# DINOv3 row (74.83 / 81.83) is not used. The geometric baseline's 65 % is the sentence under
# that table (13 geometric features, logistic regression); it has no kNN number. The random-
# init row is ours only (no paper number).
PAPER_TABLE = {
    "random-init ViT": (None, None),
    "iBOT ImageNet": (78.33, 82.00),
    "iBOT-vMF full (CPI-3M)": (75.05, 81.00),
    "iBOT-vMF curated (CPI-H-1M)": (77.67, 83.17),
    "iBOT-vMF curated + init + short": (81.56, 84.39),
    "geometric baseline (13 features)": (None, 65.00),
}

FULL, CURATED, SHORT = "iBOT-vMF full (CPI-3M)", "iBOT-vMF curated (CPI-H-1M)", "iBOT-vMF curated + init + short"


GEO, IMAGENET, RANDOM = "geometric baseline (13 features)", "iBOT ImageNet", "random-init ViT"


# Ko et al. 2025, ablation table (000: "Ablation Study"; configuration names verbatim, accuracy %,
# the same numbers as the main table's logistic-regression column).
ABLATION = [  # (paper configuration, our row, paper logistic-regression accuracy %)
    ("Geometric feature baseline", GEO, 65.00),
    ("ImageNet SSL directly applied", IMAGENET, 82.00),
    ("From-scratch training on CPI-3M", FULL, 81.00),
    ("Training on curated CPI-H-1M", CURATED, 83.17),
    ("Curation + initialization + short training", SHORT, 84.39),
]

#: Compute of each Ko et al. 2025 run relative to the from-scratch run on all images. Ko et al. 2025
#: (000: "Method > Key Designs" 2 and 3, and "Highlights"): the curated CPI-H-1M is "one-third
#: the size" of CPI-3M (1.2 M of 3.2 M images, i.e. 0.375), trained for the same 100 epochs (main
#: table); curated + ImageNet init + 10 epochs needs "approximately 30x less computation".
PAPER_COMPUTE = {"full": 1.0, "curated": 1 / 3, "curated+init+short": 1 / 30}

#: The scale the paper ran at (for the sentences that put our scale beside it). Ko et al. 2025
#: (000: "Method > Overall Architecture": ViT-Small, 3.2 million CPI images; main table: 100
#: epochs on CPI-3M; "Main Results": CPI-21K, 21,000 manually annotated test images). Patch 16
#: and 224 px are not stated in the project's texts of the paper (they are iBOT's ViT-S/16
#: defaults, docs/science.md §6).
PAPER_SCALE = "ViT-S/16 at 224 px, 100 epochs on 3.2 M CPI images, tested on CPI-21K (21,000 labelled images)"


# ----------------------------------------------------------------------------- Ko et al. 2025 runs

IMAGENET_ENV = ENV_WEIGHTS  # path of a local ImageNet iBOT ViT-S/16 checkpoint


def curated_steps(cfg, n_curated: int, n_full: int) -> int:
    """Steps of the from-scratch run on the curated subset: the full run's number of epochs
    (Ko et al. 2025 trains CPI-3M and CPI-H-1M for 100 epochs each), at least 1."""
    return max(1, int(round(int(cfg.profile.pretrain["steps"]) * n_curated / max(n_full, 1))))


@dataclass
class Ko2025Runs:
    """The Ko et al. 2025 runs: full (notebook 03), curated from scratch, curated + init + short."""

    full: Any
    curation: Curation
    curated: Any
    short: Any
    init: str  # "imagenet" or the path of the notebook-03 backbone
    init_note: str
    embeddings: np.ndarray  # full-run embeddings of every image (curation's latent space)

    @property
    def init_is_imagenet(self) -> bool:
        return self.init == "imagenet"

    def compute(self) -> pd.DataFrame:
        """Steps, images seen and compute relative to the full from-scratch run (flops proxy ratio).

        ``cumulative`` adds the initialisation's own training when it is the notebook-03
        network (ImageNet pretraining is not counted, as in the paper)."""
        rows = []
        for name, r in (("full", self.full), ("curated", self.curated), ("curated+init+short", self.short)):
            rel = r.relative_compute(self.full)
            cum = rel + (1.0 if name == "curated+init+short" and not self.init_is_imagenet else 0.0)
            rows.append({"run": name, "images": len(self.curation.pool if name == "full" else self.curation.indices),
                         "steps": r.steps, "images_seen": r.images_seen, "seconds": round(r.seconds, 1),
                         "compute_vs_full": round(rel, 4), "cumulative_vs_full": round(cum, 4)})
        return pd.DataFrame(rows).set_index("run")


def latent_curation(cfg, ds):
    """Steps 1-2 of Ko et al. 2025 (cached): the notebook-03 iBOT-vMF run on the pretraining set (no
    ``test`` image, not the unseen campaign), its (len(ds), D) float16 embeddings and the
    curation of that same set in that latent space. Returns (run, embeddings, curation)."""
    full = pretrained(cfg, ds, "ibot_vmf")
    emb = embeddings_for(cfg, ds, full.backbone)
    return full, emb, curate(cfg, ds, emb, embed_key=file_hash(full.backbone))


def retraining_unavailable(cfg, n_curated: int) -> str:
    """Why the runs on the curated subset cannot train ("" when they can): the subset holds
    fewer images than one training batch (``pretrain.batch_size``)."""
    batch = int(cfg.profile.pretrain["batch_size"])
    if n_curated < batch:
        return f"{n_curated} curated images, fewer than one training batch of {batch}"
    return ""


def ko2025_runs(cfg, ds) -> Ko2025Runs:
    """Ko et al. 2025's pretraining recipe at profile scale (every step cached; notebooks 04 and 05).

    1. iBOT-vMF from scratch on the pretraining set (the notebook-03 run; no ``test`` image);
    2. its embeddings, hierarchical k-means of that same set and balanced sampling to
       ``curation.sample_frac`` of it (CPI-3M -> CPI-H-1M);
    3. iBOT-vMF from scratch on the curated subset for the same number of epochs;
    4. iBOT-vMF on the curated subset from an initialisation for ``pretrain.short_steps``
       steps: ImageNet weights when a local file is given (``$ICEPAPER_IMAGENET_WEIGHTS``,
       which ``icepaper.representations.backbones`` reads), else the network of step 1.
    """
    full, emb, cur = latent_curation(cfg, ds)
    curated = pretrained(cfg, ds, "ibot_vmf", indices=cur.indices,
                         steps=curated_steps(cfg, cur.n, len(cur.pool)), tag="curated")
    w = imagenet_weights(cfg)
    if w is not None:
        init, note = "imagenet", f"ImageNet weights from the local file {w.name}"
    else:
        init = str(full.backbone)
        note = (f"no ImageNet weights file was given (set {IMAGENET_ENV}), so the short run starts "
                "from the notebook-03 network (iBOT-vMF trained from scratch on the pretraining set) instead "
                "of ImageNet iBOT: it tests 'curate + continue briefly', and its cumulative compute "
                "includes that network's training")
    short = pretrained(cfg, ds, "ibot_vmf", indices=cur.indices, init=init,
                       steps=int(cfg.profile.pretrain["short_steps"]), tag="curated+init+short")
    return Ko2025Runs(full, cur, curated, short, init, note, emb)


def scale_line(cfg, ds, splits: Mapping[str, np.ndarray], scheme: str = DEFAULT_SCHEME) -> str:
    """One sentence saying at what scale our probe table was run, beside the paper's.

    >>> from types import SimpleNamespace
    >>> from icepaper.core.profiles import get_profile
    >>> cfg = SimpleNamespace(profile=get_profile("smoke"), uses_default_data=True)
    >>> import pandas as pd
    >>> class Images(list):  # a stand-in dataset: len() images of ``size`` px, 40 of them test
    ...     size, name = 64, "synthetic"
    ...     meta = pd.DataFrame({"split": ["test"] * 40 + ["train"] * 2360})
    ...     def has_labels(self, scheme):  # no habit labels: no held-out campaign
    ...         return False
    >>> splits = {"train": range(100), "val": range(20), "test": range(40)}
    >>> print(scale_line(cfg, Images(range(2400)), splits))  # doctest: +ELLIPSIS
    Ours: the synthetic CPI-like dataset, 2400 images at 64 px (2360 in the pretraining set); ViT depth ...; probes fit on 100 labelled train images (C chosen on 20 val) and tested on 40 held-out images in the 'cpi' scheme. Paper: ...
    """
    from icepaper.data.splits import pretrain_indices

    s = cfg.profile.pretrain
    n_pre = len(pretrain_indices(ds))
    epochs = int(s["steps"]) * int(s["batch_size"]) / max(n_pre, 1)
    src = "the synthetic CPI-like dataset" if getattr(cfg, "uses_default_data", True) else f"dataset {ds.name!r}"
    return (f"Ours: {src}, {len(ds)} images at {ds.size} px ({n_pre} in the pretraining set); ViT depth {s['vit_depth']}, width "
            f"{s['vit_embed_dim']}, patch {s['vit_patch']} at {s['vit_img_size']} px; the full run "
            f"{s['steps']} steps of {s['batch_size']} images ({epochs:.2g} epochs); probes fit on "
            f"{len(splits['train'])} labelled train images (C chosen on {len(splits['val'])} val) and "
            f"tested on {len(splits['test'])} held-out images in the {scheme!r} scheme. "
            f"Paper: {PAPER_SCALE}.")


def ko2025_backbones(cfg, ds, runs=None) -> tuple[dict[str, Any], dict[str, str], str]:
    """(backbone file or None of every row of Ko et al. 2025's main table, {row: why it has none},
    the short run's initialisation note or "").

    The runs are trained/cached on demand (``runs``: ``ko2025_runs(cfg, ds)`` when
    already at hand). When the curated subset is smaller than one pretraining batch
    (``retraining_unavailable``) the two curated rows have no network, and say why.
    """
    why: dict[str, str] = {}
    files: dict[str, Any] = {RANDOM: reference_backbone(cfg, "random"), IMAGENET: reference_backbone(cfg, "imagenet")}
    if files[IMAGENET] is None:
        why[IMAGENET] = "not available offline (no ImageNet weights file)"
    if runs is None:
        full, _, cur = latent_curation(cfg, ds)
        small = retraining_unavailable(cfg, cur.n)
        if small:
            why.update({CURATED: small, SHORT: small})
            return {**files, FULL: full.backbone, CURATED: None, SHORT: None}, why, ""
        runs = ko2025_runs(cfg, ds)
    return ({**files, FULL: runs.full.backbone, CURATED: runs.curated.backbone, SHORT: runs.short.backbone},
            why, runs.init_note)


def plot_run_losses(runs: Ko2025Runs):
    """Training loss per logged step of the full, curated and curated + init + short runs."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, r in (("full (notebook 03)", runs.full), ("curated, from scratch", runs.curated),
                    ("curated + init + short", runs.short)):
        if len(r.log):
            ax.plot(r.log["step"], r.log["loss"], lw=1, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("iBOT-vMF loss")
    ax.legend(frameon=False, fontsize=8)
    return fig


# ----------------------------------------------------------------------------- claims (notebook 05)


def ablation_table(results: Mapping[str, ProbeResult | None]) -> pd.DataFrame:
    """Ko et al. 2025's ablation (logistic-regression accuracy %): the paper's value beside ours.

    >>> from types import SimpleNamespace
    >>> t = ablation_table({GEO: SimpleNamespace(logreg=60.004)})
    >>> t.loc["Geometric feature baseline", ["paper %", "ours %"]].astype(float).tolist()
    [65.0, 60.0]
    """
    rows = []
    for config, ours, paper in ABLATION:
        r = results.get(ours)
        rows.append({"configuration": config, "our row": ours, "paper %": paper,
                     "ours %": np.nan if r is None else round(r.logreg, 2)})
    return pd.DataFrame(rows).set_index("configuration")


#: [default] Margin (percentage points) of the orderings: "A >= B" holds when the lower end of the
#: interval of A - B is above -ORDER_MARGIN_PP; "A > B" (SSL above the geometric baseline) when it
#: is above 0. Within a point, two probe accuracies count as equal at our test-set sizes.
ORDER_MARGIN_PP = 1.0
ORDER_BOOT = 2000  # bootstrap resamples of the test images


def _correct(r, probe: str) -> np.ndarray | None:
    """1/0 per test image of one row's probe, or None when the row kept no predictions."""
    y, pred = getattr(r, "y_test", None), getattr(r, f"{probe}_pred", None)
    if y is None or pred is None or len(y) == 0 or len(y) != len(pred):
        return None
    return (np.asarray(y) == np.asarray(pred)).astype(np.float64)


def ordering_verdict(results: Mapping[str, ProbeResult | None], a: str, b: str, probe: str,
                     relation: str, margin: float = ORDER_MARGIN_PP, seed: int = 0,
                     n_boot: int = ORDER_BOOT) -> V.Verdict:
    """Verdict on ``accuracy(a) REL accuracy(b)`` (points) from a paired bootstrap over the test
    images both rows were scored on (their ``y_test`` must be the same images in the same order)."""
    ra, rb = results.get(a), results.get(b)
    if ra is None or rb is None:
        return V.unresolved(relation, margin, f"row {a if ra is None else b!r} did not run", " pp")
    ca, cb = _correct(ra, probe), _correct(rb, probe)
    if ca is None or cb is None:
        return V.unresolved(relation, margin, "no per-image predictions", " pp")
    if not np.isfinite(getattr(ra, probe)) or not np.isfinite(getattr(rb, probe)):
        return V.unresolved(relation, margin, "no accuracy for this probe", " pp")
    paired = len(ca) == len(cb) and np.array_equal(np.asarray(ra.y_test), np.asarray(rb.y_test))
    return V.compare(ca, cb, relation, margin, paired=paired, n_boot=n_boot, seed=seed)


def orderings(results: Mapping[str, ProbeResult | None], margin: float = ORDER_MARGIN_PP,
              seed: int = 0, n_boot: int = ORDER_BOOT) -> pd.DataFrame:
    """The paper's orderings checked on our numbers: a three-state verdict each (holds / fails /
    not resolved) from a paired bootstrap over the test images (95 % interval of the difference in
    percentage points) and the margin ``margin``.

    1. SSL above the geometric baseline (paper: 81-84 % vs 65 %): the best iBOT-vMF row (by point
       estimate) "> " the geometric baseline, logistic regression; holds when the interval's lower
       end is above 0;
    2. curated >= full (83.17 vs 81.00; kNN 77.67 vs 75.05): holds when the lower end is above
       -margin, fails when the upper end is below -margin;
    3. curated + init + short the best iBOT-vMF run (84.39; kNN 81.56): ">=" against each of the
       other two runs, combined (fails if either fails, holds if both hold).

    A missing row or a row without per-image predictions gives "not resolved" and says why.

    >>> from types import SimpleNamespace as R
    >>> y, rng = np.array(["a", "b"] * 500), np.random.default_rng(0)
    >>> def row(n_wrong):  # a row that misclassifies n_wrong random test images of 1000
    ...     p = y.copy(); p[rng.choice(1000, n_wrong, replace=False)] = "c"
    ...     return R(knn=100 - n_wrong / 10, logreg=100 - n_wrong / 10, y_test=y, knn_pred=p, logreg_pred=p)
    >>> results = {GEO: row(400), FULL: row(100), CURATED: row(96), SHORT: row(200)}
    >>> t = orderings(results, n_boot=200)
    >>> t["verdict"].tolist()  # curated 90.4 vs full 90.0: +0.4 points, not resolved on 1000 images
    ['holds', 'not resolved', 'fails', 'not resolved', 'fails']
    """
    def acc(name, probe):
        r = results.get(name)
        return np.nan if r is None else float(getattr(r, probe))

    checks = []
    for probe, label in (("logreg", "logistic regression"), ("knn", "kNN")):
        if probe == "logreg":
            have = [n for n in (FULL, CURATED, SHORT) if np.isfinite(acc(n, probe))]
            best = max(have, key=lambda n: acc(n, probe)) if have else FULL
            v = ordering_verdict(results, best, GEO, probe, ">", 0.0, seed, n_boot)
            checks.append(_row("SSL above the geometric baseline (logistic regression)", "84.39 vs 65.00",
                               acc(best, probe), acc(GEO, probe), v))
        pf, pc, ps = (PAPER_TABLE[n][0 if probe == "knn" else 1] for n in (FULL, CURATED, SHORT))
        v = ordering_verdict(results, CURATED, FULL, probe, ">=", margin, seed, n_boot)
        checks.append(_row(f"curated >= full ({label})", f"{pc:.2f} vs {pf:.2f}", acc(CURATED, probe),
                           acc(FULL, probe), v))
        vs = [ordering_verdict(results, SHORT, other, probe, ">=", margin, seed, n_boot) for other in (FULL, CURATED)]
        other = max((FULL, CURATED), key=lambda n: acc(n, probe) if np.isfinite(acc(n, probe)) else -np.inf)
        worst = vs[(FULL, CURATED).index(other)]  # the interval shown: against the stronger of the two
        row = _row(f"curated + init + short best of the three ({label})", f"{ps:.2f} vs {max(pf, pc):.2f}",
                   acc(SHORT, probe), acc(other, probe), worst)
        row["verdict"] = V.all_of(vs)
        if any(v.note for v in vs):
            row["note"] = "; ".join(sorted({v.note for v in vs if v.note}))
        checks.append(row)
    return pd.DataFrame(checks).set_index("claim")


def _row(claim: str, paper: str, a: float, b: float, v: V.Verdict) -> dict[str, Any]:
    return {"claim": claim, "paper": paper, "ours": f"{a:.2f} vs {b:.2f}",
            "difference (points)": round(v.estimate, 2) if np.isfinite(v.estimate) else np.nan,
            "95 % interval": v.interval, "rule": v.rule, "verdict": v.state, "note": v.note}
