"""2-D embedding maps (t-SNE, UMAP) on duplicate points: finite, right shape, never a crash.

The crash cases run in a subprocess: scikit-learn's Barnes-Hut t-SNE segfaults on identical
rows, and a segfault must fail the test instead of killing pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from icepaper.representations import maps as em

_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from icepaper.cssl.plots import tsne_coords
    from icepaper.rosettes.vae import umap_2d

    rng = np.random.default_rng(0)
    cases = {
        "identical": np.ones((1000, 64), np.float32),
        "three values": np.repeat(rng.normal(size=(3, 64)), [500, 300, 200], axis=0).astype(np.float32),
        "float16 zeros": np.zeros((1000, 384), np.float16),
    }
    out = {}
    for name, x in cases.items():
        for method, fn in (("tsne", tsne_coords), ("umap", umap_2d)):
            y = fn(x, seed=0)
            out[f"{name}|{method}"] = [list(y.shape), bool(np.isfinite(y).all()),
                                       int(len(np.unique(y, axis=0)))]
    print(json.dumps(out))
""")


def test_maps_of_duplicate_rows_are_finite_in_a_subprocess():
    r = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"child died (rc {r.returncode}, negative = signal): {r.stderr[-2000:]}"
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for key, (shape, finite, n_points) in out.items():
        assert shape == [1000, 2], key
        assert finite, key
        # duplicates share a point: as many distinct points as distinct rows
        assert n_points == (3 if key.startswith("three") else 1), key


def test_distinct_rows_round_trip_in_first_occurrence_order():
    x = np.array([[2, 0], [1, 1], [2, 0], [0, 5], [1, 1]], np.float32)
    first, inverse = em.distinct_rows(x)
    assert first.tolist() == [0, 1, 3]
    assert inverse.tolist() == [0, 1, 0, 2, 1]
    np.testing.assert_array_equal(x[first][inverse], x)


def test_tsne_without_duplicates_is_the_plain_scikit_learn_map():
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    x = np.random.default_rng(1).normal(size=(60, 8)).astype(np.float32)
    with threadpool_limits(1):
        plain = TSNE(n_components=2, init="pca", perplexity=(60 - 1) / 3.5, random_state=3).fit_transform(
            StandardScaler().fit_transform(x))
    np.testing.assert_allclose(em.tsne_2d(x, seed=3), plain, rtol=1e-5, atol=1e-5)


def test_duplicates_share_the_point_of_their_distinct_row():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(40, 6)).astype(np.float32)
    rows = rng.integers(0, 40, 300)
    rows[:40] = np.arange(40)  # every distinct row occurs
    y = em.map_distinct(base[rows], fit=lambda xu: xu[:, :2] * 2.0)  # any map of the distinct rows
    np.testing.assert_array_equal(y, base[rows][:, :2] * 2.0)
    assert y.shape == (300, 2) and np.isfinite(y).all()
    for k in range(40):
        pts = y[rows == k]
        assert np.ptp(pts, axis=0).max() == 0
    assert len(np.unique(y, axis=0)) == 40


@pytest.mark.parametrize("n_distinct", [1, 2, 4])
def test_too_few_distinct_rows_get_a_pca_layout(n_distinct):
    x = np.repeat(np.random.default_rng(n_distinct).normal(size=(n_distinct, 8)), 10, axis=0)
    y = em.map_distinct(x, fit=lambda xu: pytest.fail("a neighbourhood map was fitted"))
    assert y.shape == (10 * n_distinct, 2) and np.isfinite(y).all()
    assert len(np.unique(y, axis=0)) == n_distinct


def test_non_finite_input_is_a_clear_error():
    x = np.ones((10, 4), np.float32)
    x[3, 1] = np.inf
    with pytest.raises(ValueError, match="1 of 10 rows have NaN or infinite values"):
        em.tsne_2d(x)


def test_a_non_finite_map_is_an_error_not_a_figure():
    x = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(FloatingPointError, match="not finite"):
        em.map_distinct(x, fit=lambda xu: np.full((len(xu), 2), np.nan))
