"""Predict 3-D rosette properties from 2-D projections: feature models and image models (Ko 2024).

Targets: ``rho_eff`` and ``sa_eff`` (regression; R^2 and RMSE on the test split) and
``n_arms`` (classification; balanced accuracy and the confusion matrix normalised by row).

Feature models (scikit-learn; median imputation for the rare blank projection, then
standardisation): multiple linear regression (``LinearRegression``; for ``n_arms`` a
multinomial ``LogisticRegression``), random forest and MLP. Inputs are the 2-D features of
one view or of two views side by side (``view_feature_table``); the talk used its seven
features (``features.TALK_7``), so 14 columns for two views.

Image models (torch): a small CNN (``SmallCNN``) and ResNet-18 (``timm``, random init,
``in_chans`` = number of views). One network per input setting predicts both standardised
regression targets and the ``n_arms`` logits (multi-task: MSE + cross-entropy) [default;
the published work trained per target]. Inputs are the silhouettes scaled so the particle is
1 and the background 0; two views are two channels. Training: AdamW, linear warm-up then cosine decay,
random vertical flips of all channels (a mirror image about the plane that contains both
viewing directions is the same two-view geometry of the mirrored rosette, which has the same
targets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from icepaper.data.features import FEATURES, TALK_7, geometric_features
from icepaper.ssl.schedules import warmup_cosine_factor

from .projection import BACKGROUND, PARTICLE

REG_TARGETS = ("rho_eff", "sa_eff")
CLS_TARGET = "n_arms"


# ----------------------------------------------------------------------------- features
def _require(meta: pd.DataFrame, where: str) -> None:
    """Raise a clear error when ``meta`` lacks the split or target columns."""
    missing = [c for c in ("split", *REG_TARGETS, CLS_TARGET) if c not in meta.columns]
    if missing:
        raise KeyError(f"{where}: metadata lacks column(s) {missing} "
                       "(expected the table of rosette_data.generate_rosettes)")
    for split in ("train", "test"):
        if not (meta["split"] == split).any():
            raise ValueError(f"{where}: no rows in the {split!r} split")


def view_feature_table(images: np.ndarray, pixel_um: float | np.ndarray, views=(0,),
                       features=tuple(FEATURES)) -> pd.DataFrame:
    """Columns ``<feature>_v<k>`` for each view ``k`` of ``images`` (n, n_views, S, S).

    >>> disc = np.full((32, 32), BACKGROUND, np.uint8)
    >>> disc[(np.arange(32)[:, None] - 16) ** 2 + (np.arange(32) - 16) ** 2 < 64] = PARTICLE
    >>> t = view_feature_table(np.stack([disc, disc])[None], pixel_um=2.0, views=(0, 1),
    ...                        features=("circularity", "max_dim"))
    >>> list(t.columns), round(float(t["max_dim_v1"].iloc[0]))
    (['circularity_v0', 'max_dim_v0', 'circularity_v1', 'max_dim_v1'], 31)
    """
    if np.ndim(images) != 4:
        raise ValueError(f"expected images of shape (n, n_views, S, S), got {np.shape(images)}")
    parts = []
    for k in views:
        f = geometric_features(images[:, k], pixel_um=pixel_um)[list(features)]
        parts.append(f.add_suffix(f"_v{k}"))
    return pd.concat(parts, axis=1)


def select_views(table: pd.DataFrame, views, features=TALK_7) -> pd.DataFrame:
    """The columns of ``table`` for the given views and features.

    >>> t = pd.DataFrame(columns=["area_v0", "area_v1", "complexity_v0", "complexity_v1"])
    >>> list(select_views(t, (0, 1), features=["area"]).columns)
    ['area_v0', 'area_v1']
    """
    return table[[f"{f}_v{k}" for k in views for f in features]]


def feature_model(kind: str, task: str, seed: int = 0, rf_trees: int = 200,
                  mlp_hidden=(128, 64), mlp_iter: int = 300):
    """A scikit-learn pipeline: ``kind`` in linear/rf/mlp, ``task`` in reg/cls."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "linear":
        est = LinearRegression() if task == "reg" else LogisticRegression(max_iter=3000, C=1.0)
    elif kind == "rf":
        cls = RandomForestRegressor if task == "reg" else RandomForestClassifier
        est = cls(n_estimators=rf_trees, min_samples_leaf=2, n_jobs=2, random_state=seed)
    elif kind == "mlp":
        cls = MLPRegressor if task == "reg" else MLPClassifier
        est = cls(hidden_layer_sizes=tuple(mlp_hidden), max_iter=mlp_iter, early_stopping=True,
                  n_iter_no_change=20, random_state=seed, learning_rate_init=1e-3, alpha=1e-4)
    else:
        raise ValueError(f"unknown feature model {kind!r}; use linear, rf or mlp")
    if task == "reg" and kind != "rf":
        est = TransformedTargetRegressor(est, transformer=StandardScaler())
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), est)


# ----------------------------------------------------------------------------- metrics
def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                       names=REG_TARGETS) -> dict[str, float]:
    """R^2 and RMSE per target column.

    >>> y = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    >>> regression_metrics(y, y)
    {'r2_rho_eff': 1.0, 'rmse_rho_eff': 0.0, 'r2_sa_eff': 1.0, 'rmse_sa_eff': 0.0}
    """
    from sklearn.metrics import mean_squared_error, r2_score

    out = {}
    for j, n in enumerate(names):
        out[f"r2_{n}"] = float(r2_score(y_true[:, j], y_pred[:, j]))
        out[f"rmse_{n}"] = float(math.sqrt(mean_squared_error(y_true[:, j], y_pred[:, j])))
    return out


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels) -> dict:
    """Balanced accuracy and the row-normalised confusion matrix (as nested lists).

    >>> classification_metrics([4, 4, 6, 6], [4, 6, 6, 6], labels=[4, 6])
    {'bacc_n_arms': 0.75, 'confusion': [[0.5, 0.5], [0.0, 1.0]]}
    """
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix

    cm = confusion_matrix(y_true, y_pred, labels=labels, normalize="true")
    return {"bacc_n_arms": float(balanced_accuracy_score(y_true, y_pred)),
            "confusion": np.nan_to_num(cm).tolist()}


@dataclass
class ModelResult:
    """Test metrics and predictions of one model on one input setting."""

    model: str
    views: int
    inputs: str
    metrics: dict
    reg_pred: np.ndarray
    cls_pred: np.ndarray
    second_view_deg: float | None = None  # angle between the two views (None: one view)

    def row(self) -> dict:
        return {"model": self.model, "views": self.views, "second_view_deg": self.second_view_deg,
                "inputs": self.inputs,
                **{k: v for k, v in self.metrics.items() if k != "confusion"}}


def fit_feature_models(X: pd.DataFrame, meta: pd.DataFrame, views: int, inputs: str,
                       kinds=("linear", "rf", "mlp"), seed: int = 0, angle: float | None = None,
                       **kw) -> list[ModelResult]:
    """Fit each feature model on the train split, score it on the test split."""
    _require(meta, "fit_feature_models")
    tr, te = (meta.split == "train").to_numpy(), (meta.split == "test").to_numpy()
    y = meta[list(REG_TARGETS)].to_numpy(float)
    yc = meta[CLS_TARGET].to_numpy()
    labels = np.unique(yc)
    names = {"linear": "linear", "rf": "random forest", "mlp": "MLP"}
    out = []
    for kind in kinds:
        reg = feature_model(kind, "reg", seed, **kw).fit(X[tr], y[tr])
        clf = feature_model(kind, "cls", seed, **kw).fit(X[tr], yc[tr])
        rp, cp = reg.predict(X[te]), clf.predict(X[te])
        m = {**regression_metrics(y[te], rp), **classification_metrics(yc[te], cp, labels)}
        out.append(ModelResult(names[kind], views, inputs, m, rp, cp, angle))
    return out


def no_model_result(meta: pd.DataFrame) -> ModelResult:
    """The floor every model must clear: the train split's mean for rho_eff and sa_eff (test R^2
    at or just below 0) and its majority arm count for n_arms (balanced accuracy 1/K), scored on
    the test split.

    >>> meta = pd.DataFrame({"split": ["train"] * 3 + ["test"] * 2, "rho_eff": [1.0, 2, 3, 2, 4],
    ...                      "sa_eff": [1.0, 1, 1, 2, 2], "n_arms": [4, 4, 6, 4, 6]})
    >>> r = no_model_result(meta)
    >>> r.model, r.metrics["bacc_n_arms"], round(r.metrics["r2_rho_eff"], 2)
    ('no model (train mean / majority)', 0.5, -1.0)
    """
    _require(meta, "no_model_result")
    tr, te = (meta.split == "train").to_numpy(), (meta.split == "test").to_numpy()
    y = meta[list(REG_TARGETS)].to_numpy(float)
    yc = meta[CLS_TARGET].to_numpy()
    values, counts = np.unique(yc[tr], return_counts=True)
    rp = np.repeat(y[tr].mean(axis=0, keepdims=True), int(te.sum()), axis=0)
    cp = np.full(int(te.sum()), values[np.argmax(counts)])
    m = {**regression_metrics(y[te], rp), **classification_metrics(yc[te], cp, np.unique(yc))}
    return ModelResult("no model (train mean / majority)", 1, "none", m, rp, cp, None)


def view_settings(angles_deg) -> list[tuple[tuple[int, ...], float | None]]:
    """Input settings from the rendered view angles: one view, then view 0 with each other view.

    >>> view_settings((0.0, 90.0, 120.0))
    [((0,), None), ((0, 1), 90.0), ((0, 2), 120.0)]
    """
    return [((0,), None)] + [((0, k), float(a)) for k, a in enumerate(angles_deg) if k > 0]


def run_feature_models(table: pd.DataFrame, meta: pd.DataFrame, angles_deg, seed: int = 0,
                       features=TALK_7, inputs: str = "TALK_7") -> list[ModelResult]:
    """Linear, RF and MLP on ``features`` of one view and of view 0 with each second view."""
    out = []
    for views, angle in view_settings(angles_deg):
        X = select_views(table, views, features)
        out += fit_feature_models(X, meta, len(views), inputs, seed=seed, angle=angle)
    return out


# ----------------------------------------------------------------------------- image models
def small_cnn(in_chans: int, n_out: int, width: int = 32):
    """Four conv-BN-ReLU-maxpool blocks (width, 2w, 4w, 4w), average+max pooling, linear head."""
    import torch
    from torch import nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [in_chans, width, 2 * width, 4 * width, 4 * width]
            layers = []
            for a, b in zip(chans[:-1], chans[1:]):
                layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b),
                           nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(2 * chans[-1], n_out)

        def forward(self, x):
            h = self.body(x)
            return self.head(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))

    return SmallCNN()


def image_model(arch: str, in_chans: int, n_out: int, width: int = 32):
    """``small_cnn`` or a randomly initialised timm backbone (e.g. ``resnet18``)."""
    if arch == "small_cnn":
        return small_cnn(in_chans, n_out, width)
    import timm

    return timm.create_model(arch, pretrained=False, in_chans=in_chans, num_classes=n_out)


def to_input(images: np.ndarray):
    """uint8 silhouettes (n, C, S, S) -> float tensor, particle 1, background 0."""
    import torch

    x = (BACKGROUND - images.astype(np.float32)) / (BACKGROUND - PARTICLE)
    return torch.from_numpy(np.clip(x, 0, 1))


class ImageBatches:
    """The network inputs of rosettes ``rows`` with view channels ``views``, made per batch.

    ``batches[idx]`` (a slice, or positions into ``rows`` as an array or tensor) reads those
    rosettes from ``images`` (n, n_views, S, S) uint8, e.g. the memory map of
    ``rosette_dataset``, and returns ``to_input`` of their views: a (len(idx), len(views), S, S)
    float tensor. Only one batch is ever converted to float32, so memory does not grow with
    the set (70,000 rosettes x 2 views at 128 px would be 9 GB as one float32 array).
    """

    def __init__(self, images: np.ndarray, rows: np.ndarray, views):
        from icepaper.core.rowfile import RowReader

        if np.ndim(images) != 4:
            raise ValueError(f"expected images of shape (n, n_views, S, S), got {np.shape(images)}")
        self.reader = RowReader(images, np.asarray(rows, dtype=np.int64))
        self.views = list(views)

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, idx):
        if not isinstance(idx, slice):
            idx = np.asarray(idx, dtype=np.int64)
        return to_input(self.reader.read(idx)[:, self.views])


def train_image_model(arch: str, images: np.ndarray, meta: pd.DataFrame, views, epochs: int,
                      seed: int = 0, device: str = "cpu", batch_size: int = 64,
                      lr: float = 2e-3, width: int = 32, progress: bool = True,
                      angle: float | None = None, recalibrate: bool = True) -> ModelResult:
    """Train ``arch`` on the train split with the given view channels; score the test split.

    ``recalibrate`` re-estimates the BatchNorm statistics on the training images with the
    final weights before testing (after a few hundred steps the running averages still lag
    the weights, which can wreck eval-mode predictions of a briefly trained network).
    """
    import torch
    import torch.nn.functional as F

    from icepaper.core.seeding import seed_everything, torch_generator

    _require(meta, "train_image_model")
    seed_everything(seed)
    views = list(views)
    tr, te = (meta.split == "train").to_numpy(), (meta.split == "test").to_numpy()
    y = meta[list(REG_TARGETS)].to_numpy(np.float32)
    mu, sd = y[tr].mean(0), y[tr].std(0) + 1e-12
    labels = np.unique(meta[CLS_TARGET].to_numpy())
    yc = np.searchsorted(labels, meta[CLS_TARGET].to_numpy())
    n_reg = len(REG_TARGETS)
    model = image_model(arch, len(views), n_reg + len(labels), width).to(device)
    x_tr = ImageBatches(images, np.flatnonzero(tr), views)  # converted batch by batch
    yr_tr = torch.from_numpy((y[tr] - mu) / sd)
    yc_tr = torch.from_numpy(yc[tr]).long()
    steps = max(1, epochs * math.ceil(len(x_tr) / batch_size))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine_factor(steps))
    gen = torch_generator(seed)
    amp = device.startswith("cuda")
    it = range(epochs)
    if progress:
        from icepaper.core.progress import tqdm

        it = tqdm(it, desc=f"{arch} {len(views)} view(s)", leave=False)
    model.train()
    for _ in it:
        perm = torch.randperm(len(x_tr), generator=gen)
        for b in range(0, len(perm), batch_size):
            idx = perm[b:b + batch_size]
            xb = x_tr[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(2), xb).to(device)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                out = model(xb).float()
            loss = F.mse_loss(out[:, :n_reg], yr_tr[idx].to(device)) + F.cross_entropy(
                out[:, n_reg:], yc_tr[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    if recalibrate:
        recalibrate_batchnorm(model, x_tr, device, batch_size=256)
    out = predict_image_model(model, ImageBatches(images, np.flatnonzero(te), views), device, batch_size=256)
    rp = out[:, :n_reg] * sd + mu
    cp = labels[out[:, n_reg:].argmax(1)]
    m = {**regression_metrics(y[te], rp),
         **classification_metrics(meta[CLS_TARGET].to_numpy()[te], cp, labels)}
    name = "small CNN" if arch == "small_cnn" else {"resnet18": "ResNet-18"}.get(arch, arch)
    return ModelResult(name, len(views), "images", m, rp, cp, angle)


def recalibrate_batchnorm(model, x, device: str = "cpu", batch_size: int = 256) -> None:
    """Replace every BatchNorm's running mean/var by their exact average over ``x`` (no grad);
    ``x``: a float tensor or an :class:`ImageBatches`."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches seen
    model.train()
    with torch.no_grad():
        for b in range(0, len(x), batch_size):
            model(x[b:b + batch_size].to(device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()


def predict_image_model(model, images, device: str = "cpu",
                        batch_size: int = 256) -> np.ndarray:
    """Raw network outputs (n, n_out) for uint8 images (n, C, S, S) or an :class:`ImageBatches`,
    in eval mode."""
    import torch

    model.eval()
    outs = []
    prep = (lambda b: b) if isinstance(images, ImageBatches) else to_input
    with torch.no_grad():
        for b in range(0, len(images), batch_size):
            outs.append(model(prep(images[b:b + batch_size]).to(device)).float().cpu())
    return torch.cat(outs).numpy()


# ----------------------------------------------------------------------------- tables
def best_result(results: list[ModelResult], images: bool, views: int,
                metric: str = "r2_rho_eff") -> ModelResult:
    """The result with the highest ``metric`` among image (or feature) models with ``views``.

    >>> def res(model, views, inputs, r2, angle=None):
    ...     m = {"r2_rho_eff": r2, "r2_sa_eff": r2, "bacc_n_arms": r2}
    ...     return ModelResult(model, views, inputs, m, np.zeros((0, 2)), np.zeros(0), angle)
    >>> results = [res("linear", 1, "TALK_7", 0.90), res("ResNet-18", 1, "images", 0.97),
    ...            res("ResNet-18", 2, "images", 0.99, 90.0)]
    >>> best = best_result(results, images=True, views=1)
    >>> best.model, best.metrics["r2_rho_eff"]
    ('ResNet-18', 0.97)
    """
    pool = [r for r in results if (r.inputs == "images") == images and r.views == views]
    if not pool:
        raise ValueError(f"no {'image' if images else 'feature'} model with {views} view(s)")
    return max(pool, key=lambda r: r.metrics[metric])


def results_table(results: list[ModelResult]) -> pd.DataFrame:
    """One row per model and input setting (test metrics).

    >>> def res(model, views, inputs, r2, angle=None):
    ...     m = {"r2_rho_eff": r2, "r2_sa_eff": r2, "bacc_n_arms": r2}
    ...     return ModelResult(model, views, inputs, m, np.zeros((0, 2)), np.zeros(0), angle)
    >>> results = [res("linear", 1, "TALK_7", 0.90), res("ResNet-18", 1, "images", 0.97),
    ...            res("ResNet-18", 2, "images", 0.99, 90.0)]
    >>> results_table(results)[["model", "views", "second_view_deg", "r2_rho_eff"]]
           model  views  second_view_deg  r2_rho_eff
    0     linear      1              NaN        0.90
    1  ResNet-18      1              NaN        0.97
    2  ResNet-18      2             90.0        0.99
    """
    return pd.DataFrame([r.row() for r in results])


