"""Variational autoencoders, their inputs and the latent-space statistics."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from icepaper.rosettes import vae
from icepaper.rosettes.datasets import spheres_and_rosettes


@pytest.fixture(scope="module")
def two_class():
    images, labels = spheres_and_rosettes(16, 28, seed=0)
    return vae.prepare_images(images, 28, crop=False), labels


def _train(x, seed, epochs=6, latent=2):
    torch.set_num_threads(1)
    model = vae.conv_vae(latent, 28, width=8, hidden=32, seed=seed)
    hist = vae.train_vae(model, x, epochs, seed=seed, batch_size=8, lr=2e-3, progress=False)
    return model, hist


def test_conv_vae_loss_decreases(two_class):
    x, _ = two_class
    _, hist = _train(x, seed=0)
    assert len(hist) == 6 and np.all(np.isfinite(hist))
    assert hist[-1] < 0.9 * hist[0]  # from ~784 ln 2 (an untrained decoder) clearly down
    assert hist[-1] < min(hist[:2])


def test_resnet_vae_loss_decreases_and_encodes_128d():
    torch.set_num_threads(1)
    images, _ = spheres_and_rosettes(8, 32, seed=1)
    x = vae.prepare_images(images, 16, crop=True)
    model = vae.resnet_vae(128, size=16, width=4, seed=0)
    hist = vae.train_vae(model, x, 4, seed=0, batch_size=8, lr=2e-3, progress=False)
    assert hist[-1] < hist[0]
    z = vae.encode(model, x)
    assert z.shape == (16, 128) and np.isfinite(z).all()


def test_training_is_deterministic_under_a_seed(two_class):
    x, _ = two_class
    m1, h1 = _train(x, seed=3, epochs=2)
    m2, h2 = _train(x, seed=3, epochs=2)
    m3, h3 = _train(x, seed=4, epochs=2)
    assert h1 == h2 and h1 != h3
    assert np.array_equal(vae.encode(m1, x), vae.encode(m2, x))


def test_decode_grid_shape_and_range(two_class):
    x, _ = two_class
    model, _ = _train(x, seed=0, epochs=1)
    g = vae.decode_grid(model, n=5)
    assert g.shape == (5 * 28, 5 * 28) and 0 <= g.min() and g.max() <= 1
    with pytest.raises(ValueError, match="2-D latent"):
        vae.decode_grid(vae.conv_vae(3, 28, width=4, hidden=8))


def test_prepare_images_inverts_crops_and_blanks():
    im = np.full((64, 64), 230, np.uint8)
    cv2.circle(im, (20, 40), 8, 30, -1)
    blank = np.full((64, 64), 230, np.uint8)
    out = vae.prepare_images(np.stack([im, blank]), 32, crop=True)
    assert out.shape == (2, 32, 32) and out.dtype == np.float32
    assert out[1].max() == 0  # a blank frame stays empty
    assert out[0, 16, 16] > 0.9 and out[0, 0, 0] == 0  # particle bright, centred, fills the frame
    cols = np.flatnonzero((out[0] > 0.5).any(axis=0))
    assert cols.max() - cols.min() + 1 >= 0.7 * 32  # the disc spans most of the frame
    kept = vae.prepare_images(im[None], 64, crop=False)[0]
    assert kept[40, 20] > 0.9 and kept[40, 50] == 0  # no crop: position kept


def test_kmeans_scores_on_separated_blobs():
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    labels = np.array(["b"] * 30 + ["a"] * 30)
    k = vae.kmeans_scores(z, labels)
    assert k["ari"] == pytest.approx(1.0) and k["nmi"] == pytest.approx(1.0)
    assert np.allclose(k["confusion"], np.eye(2))
    noise = vae.kmeans_scores(rng.normal(size=(60, 2)), labels)
    assert noise["ari"] < 0.3


def test_domain_gap_statistics():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(150, 8)), rng.normal(size=(150, 8))
    shifted = rng.normal(size=(150, 8)) + 1.0
    same, diff = vae.domain_gap(a, b, n_perm=100), vae.domain_gap(a, shifted, n_perm=100)
    assert same["c2st_accuracy"] < 0.65 and diff["c2st_accuracy"] > 0.9
    assert same["mmd_p"] > 0.05 and diff["mmd_p"] < 0.02
    assert diff["mmd2"] > same["mmd2"]


def test_balanced_indices():
    labels = pd.Series(["a"] * 50 + ["b"] * 5 + [None] * 10 + ["blank"] * 20)
    idx = vae.balanced_indices(labels, 40, seed=0, exclude=("blank",))
    got = labels[idx].value_counts()
    assert got["a"] == 20 and got["b"] == 5 and "blank" not in got
    assert np.array_equal(idx, np.sort(idx))
    assert np.array_equal(idx, vae.balanced_indices(labels, 40, seed=0, exclude=("blank",)))
