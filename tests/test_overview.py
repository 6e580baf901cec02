"""Notebook 01's dataset overview: summary table, particle sizes and their fallbacks, size figures."""

from __future__ import annotations

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from icepaper.data import overview, plots  # noqa: E402


def _discs(radii, size=32):
    """Dark discs of the given radii (px) on a bright background, one image each."""
    out = []
    for r in radii:
        img = np.full((size, size), 230, np.uint8)
        if r:
            cv2.circle(img, (size // 2, size // 2), int(r), 30, -1)
        out.append(img)
    return np.stack(out)


def _meta(n, **cols):
    return pd.DataFrame({"image_id": [f"i{k}" for k in range(n)], "split": "train", "source_file": "", **cols})


def test_summary_table_with_and_without_metadata():
    meta = _meta(4, campaign=["A", "A", "B", "B"], temperature_c=[-5.0, -15.0, -30.0, -40.0],
                 instrument=["CPI", "CPI", "HOLIMO", "HOLIMO"])
    t = overview.summary_table(meta)
    assert list(t.index) == ["A", "B"] and t.loc["A", "T min (°C)"] == -15.0
    assert list(t.columns) == ["images", "T min (°C)", "T max (°C)", "instrument"]
    bare = overview.summary_table(_meta(3))
    assert list(bare.index) == ["all"] and list(bare.columns) == ["images"] and bare.loc["all", "images"] == 3
    temp_only = overview.summary_table(_meta(2, temperature_c=[-1.0, -2.0]))
    assert list(temp_only.columns) == ["images", "T min (°C)", "T max (°C)"]


def test_particle_sizes_prefer_dmax_then_pixel_size_then_pixels(packed_factory):
    imgs = _discs([4, 8, 0])
    ds = packed_factory(imgs, _meta(3, dmax_um=[10.0, 20.0, np.nan]), name="dmax")
    s, unit = overview.particle_sizes(ds)
    assert unit == "um" and s.tolist()[:2] == [10.0, 20.0] and np.isnan(s[2])
    px, unit = overview.particle_sizes(packed_factory(imgs, name="px"))
    assert unit == "px" and px[0] == pytest.approx(9, abs=1.5) and px[1] == pytest.approx(17, abs=1.5)
    assert np.isnan(px[2])  # blank frame: no particle
    um, unit = overview.particle_sizes(packed_factory(imgs, _meta(3, pixel_um=2.0), name="um"))
    assert unit == "um" and np.allclose(um[:2], 2 * px[:2])
    src, unit = overview.particle_sizes(packed_factory(imgs, _meta(3, pixel_um=np.nan, source_px=64.0), name="src"))
    assert unit == "px" and np.allclose(src[:2], 2 * px[:2])  # originals were 64 px, stored at 32


def test_missing_and_label_scheme(packed_factory):
    ds = packed_factory(_discs([4, 5]), _meta(2, cpi=[None, "plate"], temperature_c=[-3.0, -4.0]))
    assert overview.label_scheme(ds) == "cpi"
    assert overview.missing(ds, ("labels", "temperature_c")) == ""
    assert overview.missing(ds, ("labels", "temperature_c", "dmax_um", "campaign")) == "no dmax_um, no campaign"
    bare = packed_factory(_discs([4, 5]), name="bare")
    assert overview.label_scheme(bare) is None
    assert overview.missing(bare, ("labels", "temperature_c")) == "no class labels, no temperature_c"
    assert overview.sheet_folder(bare).name == "cpi_sheets"


@pytest.mark.parametrize("with_labels", [False, True])
def test_size_figures(packed_factory, with_labels):
    imgs = _discs([2, 3, 4, 5, 6, 7, 8, 9, 10, 0])
    meta = _meta(10, cpi=list("aabbccddee") if with_labels else None, temperature_c=np.linspace(-40, -2, 10))
    ds = packed_factory(imgs, meta)
    sizes, unit = overview.particle_sizes(ds)
    fig = plots.size_gallery(ds, sizes, unit, n_bins=3, per_bin=2)
    assert len(fig.axes) == 3 and "px" in fig.axes[0].get_ylabel()
    plt.close(fig)
    fig = plots.size_distribution(sizes, unit, labels=meta["cpi"] if with_labels else None,
                                  temperature=meta["temperature_c"])
    assert len(fig.axes) == (3 if with_labels else 2)
    plt.close(fig)
    # no particle at all: the figures still draw, and say so
    blank = packed_factory(_discs([0, 0]), name="blank")
    s, u = overview.particle_sizes(blank)
    plt.close(plots.size_gallery(blank, s, u))
    fig = plots.size_distribution(s, u)
    assert fig.axes[0].get_title() == "no particle found"
    plt.close(fig)
