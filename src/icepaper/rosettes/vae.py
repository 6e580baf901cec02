"""Variational autoencoders for crystal images and what their latent spaces show (Ko 2024, part 2).

- ``ConvVAE``: the talk's small convolutional VAE (two stride-2 convolutions, a dense layer,
  a 2-D latent by default) at 28 x 28.
- ``ResNetVAE``: a residual encoder (torchvision ``BasicBlock`` stages, stride 2 each, widths
  w, 2w, 4w, 8w) and a mirrored decoder (nearest upsampling + residual conv blocks) with a
  128-D latent, for larger images and many classes.

Both model ``x`` in [0, 1] (particle bright) with a Bernoulli likelihood (binary
cross-entropy with logits, summed over pixels) and a standard-normal prior; the loss per image
is ``BCE + beta * KL``. The encoder mean is the embedding.

Inputs: ``prepare_images`` turns dark-on-bright uint8 images into [0, 1] arrays: inverted
against the border median, optionally cropped to the particle and rescaled so its larger
side fills the frame (shape only, no size), optionally masked (background set to 0, "mask
applied for better shape isolation" in the talk).

Latent analyses: k-means scores (ARI, NMI, Hungarian-matched confusion matrix), a
latent-manifold decoding grid, and domain-gap statistics between two image sets: a
classifier two-sample test (``c2st``: cross-validated accuracy of a logistic regression
telling the sets apart; 0.5 = indistinguishable) and a kernel two-sample test (``mmd_test``:
squared MMD with a Gaussian kernel at the median-distance bandwidth and a permutation
p-value).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from icepaper.data.features import particle_mask


# ----------------------------------------------------------------------------- inputs
def prepare_images(images: np.ndarray, size: int, crop: bool = True, mask: bool = True,
                   margin: float = 0.08) -> np.ndarray:
    """(n, S, S) uint8 dark-on-bright -> (n, size, size) float32 in [0, 1], particle bright.

    A dark disc on a bright frame becomes a bright disc filling the frame:

    >>> img = np.full((32, 32), 230, np.uint8)
    >>> img[(np.arange(32)[:, None] - 12) ** 2 + (np.arange(32) - 20) ** 2 < 25] = 40
    >>> x = prepare_images(img[None], 16)
    >>> x.shape, x.dtype, float(x.max()), float(x[0, 8, 8]), float(x[0, 0, 0])
    ((1, 16, 16), dtype('float32'), 1.0, 1.0, 0.0)
    """
    out = np.zeros((len(images), size, size), np.float32)
    for i, im in enumerate(np.asarray(images)):
        im = im.astype(np.float32)
        border = np.concatenate([im[0], im[-1], im[:, 0], im[:, -1]])
        bg = float(np.median(border))
        lo = float(im.min())
        x = np.clip((bg - im) / max(bg - lo, 1.0), 0, 1)
        m = particle_mask(im.astype(np.uint8))
        if m is None:  # blank frame: nothing to keep
            continue
        if mask:
            m = cv2.dilate(m, np.ones((3, 3), np.uint8))
            x = x * (m > 0)
        if crop:
            ys, xs = np.nonzero(m)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            side = int(math.ceil(max(y1 - y0, x1 - x0) * (1 + 2 * margin))) + 1
            cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
            canvas = np.zeros((side, side), np.float32)
            sy, sx = int(round(cy - side / 2)), int(round(cx - side / 2))
            ys0, xs0 = max(sy, 0), max(sx, 0)
            ys1, xs1 = min(sy + side, x.shape[0]), min(sx + side, x.shape[1])
            canvas[ys0 - sy:ys1 - sy, xs0 - sx:xs1 - sx] = x[ys0:ys1, xs0:xs1]
            x = canvas
        out[i] = cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(out, 0, 1)


def balanced_indices(labels, n_total: int, seed: int = 0, exclude=()) -> np.ndarray:
    """Sorted row indices with up to ``n_total // n_classes`` per class (all of smaller classes).

    Rows whose label is missing or in ``exclude`` are never drawn.

    Up to 4 // 2 = 2 rows per class: two of the three "a" rows and the only "b" row.

    >>> idx = balanced_indices(["a", "a", "a", "b", None, "blank"], 4, exclude=("blank",))
    >>> len(idx), 3 in idx, bool(set(idx) <= {0, 1, 2, 3})
    (3, True, True)
    """
    import pandas as pd

    lab = pd.Series(labels).reset_index(drop=True)
    ok = lab.notna() & ~lab.isin(list(exclude))
    classes = sorted(lab[ok].unique())
    if not classes:
        raise ValueError("no labelled rows to sample from")
    per = max(1, int(n_total) // len(classes))
    rng = np.random.default_rng(seed)
    out = []
    for c in classes:
        idx = np.flatnonzero((lab == c).to_numpy(bool) & ok.to_numpy(bool))
        out.append(rng.choice(idx, min(per, len(idx)), replace=False))
    return np.sort(np.concatenate(out))


# ----------------------------------------------------------------------------- models
def _nn():
    import torch
    from torch import nn

    return torch, nn


def _seeded(build, seed: int | None):
    """``build()`` with torch's RNG seeded (weights reproducible), the global state left as it was."""
    import torch

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def conv_vae(latent_dim: int = 2, size: int = 28, width: int = 32, hidden: int = 256,
             seed: int | None = None):
    """The talk's convolutional VAE: conv(w, s2) -> conv(2w, s2) -> dense -> latent; mirrored.

    ``seed`` makes the initial weights reproducible.
    """
    torch, nn = _nn()
    if size % 4:
        raise ValueError(f"ConvVAE needs a size divisible by 4, got {size}")
    s4 = size // 4

    class ConvVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.latent_dim = latent_dim
            self.enc = nn.Sequential(
                nn.Conv2d(1, width, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                nn.Linear(2 * width * s4 * s4, hidden), nn.ReLU(),
                nn.Linear(hidden, 2 * latent_dim))
            self.dec = nn.Sequential(
                nn.Linear(latent_dim, hidden), nn.ReLU(),
                nn.Linear(hidden, 2 * width * s4 * s4), nn.ReLU(),
                nn.Unflatten(1, (2 * width, s4, s4)),
                nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(width, 1, 4, 2, 1))

        def encode(self, x):
            mu, logvar = self.enc(x).chunk(2, dim=1)
            return mu, logvar.clamp(-12, 8)

        def decode(self, z):
            return self.dec(z)

        def forward(self, x):
            mu, logvar = self.encode(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            return self.decode(z), mu, logvar

    return _seeded(ConvVAE, seed)


def resnet_vae(latent_dim: int = 128, size: int = 64, width: int = 32, seed: int | None = None):
    """Residual VAE: BasicBlock encoder stages (w, 2w, 4w, 8w; stride 2) and a mirrored decoder.

    ``seed`` makes the initial weights reproducible.
    """
    torch, nn = _nn()
    from torchvision.models.resnet import BasicBlock

    if size % 16:
        raise ValueError(f"ResNetVAE needs a size divisible by 16, got {size}")
    s16 = size // 16
    ws = [width, 2 * width, 4 * width, 8 * width]

    def down(cin, cout):
        ds = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))
        return BasicBlock(cin, cout, stride=2, downsample=ds)

    class UpBlock(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.conv = nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
            self.skip = nn.Conv2d(cin, cout, 1, bias=False)

        def forward(self, x):
            x = self.up(x)
            return torch.relu(self.conv(x) + self.skip(x))

    class ResNetVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.latent_dim = latent_dim
            self.stem = nn.Sequential(nn.Conv2d(1, ws[0], 3, padding=1, bias=False),
                                      nn.BatchNorm2d(ws[0]), nn.ReLU(True))
            chans = [ws[0]] + ws
            self.stages = nn.Sequential(*[down(a, b) for a, b in zip(chans[:-1], chans[1:])])
            self.to_latent = nn.Linear(ws[-1] * s16 * s16, 2 * latent_dim)
            self.from_latent = nn.Linear(latent_dim, ws[-1] * s16 * s16)
            rev = ws[::-1] + [ws[0]]
            self.ups = nn.Sequential(*[UpBlock(a, b) for a, b in zip(rev[:-1], rev[1:])])
            self.out = nn.Conv2d(ws[0], 1, 3, padding=1)

        def encode(self, x):
            h = self.stages(self.stem(x)).flatten(1)
            mu, logvar = self.to_latent(h).chunk(2, dim=1)
            return mu, logvar.clamp(-12, 8)

        def decode(self, z):
            h = self.from_latent(z).view(len(z), ws[-1], s16, s16)
            return self.out(self.ups(torch.relu(h)))

        def forward(self, x):
            mu, logvar = self.encode(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            return self.decode(z), mu, logvar

    return _seeded(ResNetVAE, seed)


def vae_loss(logits, x, mu, logvar, beta: float = 1.0):
    """Mean over the batch of (BCE summed over pixels + beta * KL to N(0, I))."""
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)
    return bce + beta * kl, bce, kl


def train_vae(model, x: np.ndarray, epochs: int, seed: int = 0, device: str = "cpu",
              batch_size: int = 64, lr: float = 1e-3, beta: float = 1.0,
              progress: bool = True, desc: str = "VAE") -> list[float]:
    """Train on ``x`` (n, S, S) in [0, 1] with Adam; return the mean loss of each epoch.

    ``x`` may be a memory map (``vae_inputs.prepared_images``): only the batch in use is read."""
    import torch

    from icepaper.core.rowfile import RowReader
    from icepaper.core.seeding import seed_everything, torch_generator

    seed_everything(seed)
    model.to(device).train()
    src = RowReader(x)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch_generator(seed)
    hist = []
    it = range(epochs)
    if progress:
        from icepaper.core.progress import tqdm

        it = tqdm(it, desc=desc, leave=False)
    for _ in it:
        perm = torch.randperm(len(src), generator=gen)
        tot = 0.0
        for b in range(0, len(perm), batch_size):
            rows = src.read(perm[b:b + batch_size].numpy())
            xb = torch.from_numpy(np.asarray(rows, np.float32))[:, None].to(device)
            logits, mu, logvar = model(xb)
            loss, _, _ = vae_loss(logits, xb, mu, logvar, beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item() * len(xb)
        hist.append(tot / len(src))
    model.eval()
    return hist


def encode(model, x: np.ndarray, device: str = "cpu", batch_size: int = 256) -> np.ndarray:
    """Posterior means (n, latent_dim) of images ``x`` (n, S, S) in [0, 1] (a memory map is read
    one batch at a time)."""
    import torch

    from icepaper.core.rowfile import RowReader

    model.eval()
    out = []
    src = RowReader(x)
    with torch.no_grad():
        for b in range(0, len(src), batch_size):
            xb = torch.from_numpy(np.asarray(src.read(slice(b, b + batch_size)), np.float32))[:, None]
            out.append(model.encode(xb.to(device))[0].float().cpu())
    return torch.cat(out).numpy()


def encode_images(model, images: np.ndarray, size: int, crop: bool = True, mask: bool = True,
                  device: str = "cpu", batch_size: int = 256) -> np.ndarray:
    """Posterior means (n, latent_dim) of uint8 dark-on-bright ``images`` (n, S, S), prepared
    (:func:`prepare_images`) batch by batch: the same as ``encode(model, prepare_images(images,
    ...))`` without holding all n prepared float32 images (70,000 at 128 px: 4.6 GB)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for b in range(0, len(images), batch_size):
            x = prepare_images(np.asarray(images[b:b + batch_size]), size, crop=crop, mask=mask)
            out.append(model.encode(torch.from_numpy(x)[:, None].to(device))[0].float().cpu())
    if not out:
        return np.zeros((0, int(model.latent_dim)), np.float32)
    return torch.cat(out).numpy()


def decode_grid(model, lim: float = 2.5, n: int = 10, device: str = "cpu") -> np.ndarray:
    """Decoded images on an n x n grid over [-lim, lim]^2 of a 2-D latent: (n*S, n*S)."""
    import torch

    if model.latent_dim != 2:
        raise ValueError("the latent-manifold grid needs a 2-D latent")
    g = np.linspace(-lim, lim, n)
    zz = np.array([[gx, gy] for gy in g[::-1] for gx in g], np.float32)
    with torch.no_grad():
        imgs = torch.sigmoid(model.decode(torch.from_numpy(zz).to(device))).cpu().numpy()[:, 0]
    s = imgs.shape[-1]
    return imgs.reshape(n, n, s, s).transpose(0, 2, 1, 3).reshape(n * s, n * s)


# ----------------------------------------------------------------------------- latent analyses
def kmeans_scores(z: np.ndarray, labels, k: int | None = None, seed: int = 0) -> dict:
    """k-means (k = number of classes) on ``z``: ARI, NMI, cluster ids, matched confusion.

    The confusion matrix (rows: true classes, normalised by row) uses the one-to-one
    cluster-to-class matching that maximises agreement (Hungarian), as in the talk's
    spheres-vs-rosettes matrix.

    Two well-separated blobs are found exactly:

    >>> z = np.r_[np.zeros((5, 2)), np.ones((5, 2))] + 0.01 * np.arange(10)[:, None]
    >>> s = kmeans_scores(z, ["sphere"] * 5 + ["rosette"] * 5)
    >>> round(s["ari"], 6), round(s["nmi"], 6), s["classes"].tolist(), s["confusion"].tolist()
    (1.0, 1.0, ['rosette', 'sphere'], [[1.0, 0.0], [0.0, 1.0]])
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, confusion_matrix, normalized_mutual_info_score

    labels = np.asarray(labels)
    classes = np.unique(labels)
    k = k or len(classes)
    pred = KMeans(k, n_init=10, random_state=seed).fit_predict(np.asarray(z, np.float64))
    y = np.searchsorted(classes, labels)
    cont = confusion_matrix(y, pred, labels=range(max(k, len(classes))))
    r, c = linear_sum_assignment(-cont)
    mapping = dict(zip(c, r))
    matched = np.array([mapping.get(p, -1) for p in pred])
    cm = confusion_matrix(y, matched, labels=range(len(classes)), normalize="true")
    return {"ari": float(adjusted_rand_score(labels, pred)),
            "nmi": float(normalized_mutual_info_score(labels, pred)),
            "clusters": pred, "matched": matched, "classes": classes,
            "confusion": np.nan_to_num(cm)}


def c2st(za: np.ndarray, zb: np.ndarray, seed: int = 0, folds: int = 5) -> float:
    """Classifier two-sample test: cross-validated accuracy telling ``za`` from ``zb``.

    Equal-size subsamples; a standardised logistic regression. 0.5 means the sets cannot be
    told apart, 1.0 means they are fully separable.

    >>> rng = np.random.default_rng(0)
    >>> za, zb = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 10.0
    >>> c2st(za, zb)
    1.0
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    n = min(len(za), len(zb))
    if n < folds:
        raise ValueError(f"c2st needs at least {folds} samples per set, got {len(za)} and {len(zb)}")
    a = za[rng.choice(len(za), n, replace=False)]
    b = zb[rng.choice(len(zb), n, replace=False)]
    X = np.vstack([a, b])
    y = np.r_[np.zeros(n), np.ones(n)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, X, y, cv=cv, scoring="accuracy").mean())


def mmd_test(za: np.ndarray, zb: np.ndarray, n_perm: int = 200, seed: int = 0,
             max_n: int = 500) -> tuple[float, float]:
    """Squared MMD (Gaussian kernel, median-heuristic bandwidth) and its permutation p-value.

    >>> rng = np.random.default_rng(0)
    >>> mmd2, p = mmd_test(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 10.0, n_perm=50)
    >>> bool(mmd2 > 0.5), round(p, 3)  # the smallest p-value 50 permutations allow
    (True, 0.02)
    """
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(seed)
    a = za[rng.choice(len(za), min(len(za), max_n), replace=False)]
    b = zb[rng.choice(len(zb), min(len(zb), max_n), replace=False)]
    X = np.vstack([a, b]).astype(np.float64)
    d2 = cdist(X, X, "sqeuclidean")
    bw = np.median(d2[np.triu_indices_from(d2, 1)])
    K = np.exp(-d2 / max(bw, 1e-12))
    na = len(a)

    def stat(idx):
        ia, ib = idx[:na], idx[na:]
        kaa = K[np.ix_(ia, ia)]
        kbb = K[np.ix_(ib, ib)]
        kab = K[np.ix_(ia, ib)]
        m, n = len(ia), len(ib)
        return ((kaa.sum() - np.trace(kaa)) / (m * (m - 1))
                + (kbb.sum() - np.trace(kbb)) / (n * (n - 1)) - 2 * kab.mean())

    idx = np.arange(len(X))
    obs = stat(idx)
    perm = np.array([stat(rng.permutation(idx)) for _ in range(n_perm)])
    p = (1 + (perm >= obs).sum()) / (1 + n_perm)
    return float(obs), float(p)


def umap_2d(z: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """2-D UMAP of ``z`` (``embedding_maps.umap_2d``: deterministic for a seed, duplicate rows
    share one point instead of breaking the map)."""
    from icepaper.representations.maps import umap_2d as _umap_2d

    return _umap_2d(z, seed=seed, n_neighbors=n_neighbors)


def domain_gap(za: np.ndarray, zb: np.ndarray, seed: int = 0, n_perm: int = 200) -> dict:
    """C2ST accuracy, squared MMD and its permutation p-value between two embedding sets.

    >>> rng = np.random.default_rng(0)
    >>> gap = domain_gap(rng.normal(size=(20, 2)), rng.normal(size=(30, 2)) + 10.0, n_perm=20)
    >>> gap["c2st_accuracy"], gap["n"], round(gap["mmd_p"], 3)
    (1.0, 20, 0.048)
    """
    mmd2, p = mmd_test(za, zb, n_perm=n_perm, seed=seed)
    return {"c2st_accuracy": c2st(za, zb, seed=seed), "mmd2": mmd2, "mmd_p": p,
            "n": int(min(len(za), len(zb)))}
