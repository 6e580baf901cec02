"""Synthetic optical-array-probe (2D-S, PIP) images: imaging rules, labels, datasets, folders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from icepaper.synth.geometry import Geometry, box
from icepaper.synth.habits import build
from icepaper.synth.labels import BASE_HABITS
from icepaper.synth.oap import (
    OAP_CLASSES,
    PROBES,
    RESOLVED_PX,
    oap_label,
    recorded_dmax_px,
    shadow_image,
)
from icepaper.synth.oap_dataset import (
    generate_oap_dataset,
    generate_oap_particles,
    write_oap_folder,
)


@pytest.fixture(scope="module")
def oap_set():
    return generate_oap_particles(160, seed=5)


def _exact(g: Geometry, probe: str, center_um: float):
    """Shadow image with no stretch, no blur and the slice clock at phase 0."""
    return shadow_image(g, PROBES[probe], np.random.default_rng(0), center_um=center_um,
                        stretch=1.0, defocus_px=0.0, phase=0.0)


def _sphere(d_um: float) -> Geometry:
    return build("liquid_droplet", d_um, np.random.default_rng(0))


def test_source_images_binary_white_on_black_within_the_array(oap_set):
    images, meta = oap_set
    assert len(images) == len(meta) == 160
    assert set(meta["instrument"]) == {"2D-S", "PIP"}
    for im, (_, row) in zip(images, meta.iterrows()):
        pr = PROBES[row["instrument"]]
        assert im.dtype == np.uint8 and set(np.unique(im)) == {0, 255}
        assert im.shape[1] <= pr.n_diodes  # never wider than the diode array
        assert not im[: pr.margin_px].any() and not im[-pr.margin_px :].any()  # background slices
        assert row["pixel_um"] == pr.pixel_um
        assert row["dmax_um"] >= pr.min_dmax_px * pr.pixel_um
        assert row["n_pixels"] == int((im == 255).sum())
    assert meta["dmax_um"].div(meta["pixel_um"]).lt(RESOLVED_PX).mean() > 0.2  # many near the resolution limit


def test_fifty_percent_shadowing_rule():
    # a 3 um and a 7 um wide bar inside one 10 um diode: 30 % vs 70 % shadowed
    thin = Geometry([box(1.5, 50.0, 1.0)])
    wide = Geometry([box(3.5, 50.0, 1.0)])
    img, info = _exact(thin, "2D-S", center_um=645.0)
    assert img is None and not info["truncated"]
    img, info = _exact(wide, "2D-S", center_um=645.0)
    assert img is not None and info["n_pixels"] == 10 and (img == 255).sum(axis=1).max() == 1


def test_pixel_size_sets_the_recorded_size():
    img_2ds, info_2ds = _exact(_sphere(200.0), "2D-S", center_um=640.0)
    img_pip, info_pip = _exact(_sphere(200.0), "PIP", center_um=3200.0)
    assert 19 <= info_2ds["dmax_px"] <= 21  # 200 um on 10 um diodes
    assert 1 <= info_pip["dmax_px"] <= 3  # 200 um on 100 um diodes: near the resolution limit
    assert img_2ds.shape[0] > 5 * img_pip.shape[0] // 2


def test_truncation_flags_on_constructed_particles():
    pr = PROBES["2D-S"]
    img, info = _exact(_sphere(200.0), "2D-S", center_um=640.0)  # mid-array
    assert not info["truncated"] and not info["edge_touching"]
    assert not img[:, : pr.margin_px].any() and not img[:, -pr.margin_px :].any()
    img, info = _exact(_sphere(200.0), "2D-S", center_um=1175.0)  # whole, 5 um short of the end
    assert not info["truncated"]
    img, info = _exact(_sphere(200.0), "2D-S", center_um=0.0)  # half beyond the first diode
    assert info["truncated"] and info["edge_touching"]
    assert img[:, 0].any()  # cut at the image border: no margin where there are no diodes
    assert 10 <= img.shape[1] <= 10 + 1 + pr.margin_px
    img, info = _exact(Geometry([box(1000.0, 30.0, 30.0)]), "2D-S", center_um=640.0)  # 2 mm rod
    assert info["truncated"] and img.shape[1] == pr.n_diodes and img[:, [0, -1]].any(axis=0).all()
    img, info = _exact(Geometry([box(4000.0, 300.0, 300.0)]), "PIP", center_um=3200.0)  # 8 mm on PIP
    assert info["truncated"] and img.shape[1] == PROBES["PIP"].n_diodes


def test_generated_truncation_matches_the_image(oap_set):
    images, meta = oap_set
    assert meta["truncated"].any() and not meta["truncated"].all()
    for im, (_, row) in zip(images, meta.iterrows()):
        if row["truncated"]:  # a cut particle reaches the image's left or right border
            assert im[:, 0].any() or im[:, -1].any()
    assert (meta["edge_touching"] >= meta["truncated"]).mean() > 0.95


def test_labels_cover_every_habit_and_follow_the_rules(oap_set):
    for h in BASE_HABITS:
        assert oap_label(h, False, False, 0.0, 50) in OAP_CLASSES
    assert oap_label("column", False, False, 0.0, RESOLVED_PX - 1) == "compact"
    assert oap_label("column", False, False, 0.0, 20) == "column_needle"
    assert oap_label("stellar", False, False, 0.0, 20) == "dendrite"
    assert oap_label("plate", True, True, 0.8, 20) == "rimed"
    assert oap_label("plate", True, True, 0.2, 20) == "aggregate"
    assert oap_label("bullet_rosette", False, False, 0.0, 20) == "rosette"
    with pytest.raises(ValueError, match="no OAP class"):
        oap_label("teapot", False, False, 0.0, 20)
    _, meta = oap_set
    assert set(meta["oap"]) <= set(OAP_CLASSES) and meta["oap"].nunique() >= 5
    small = meta["dmax_um"] / meta["pixel_um"] < RESOLVED_PX
    assert (meta.loc[small, "oap"] == "compact").all()


def test_recorded_dmax_px():
    assert recorded_dmax_px(np.zeros((3, 3), bool)) == 0
    assert recorded_dmax_px(np.ones((1, 1), bool)) == 1
    assert recorded_dmax_px(np.ones((1, 7), bool)) == 7
    assert recorded_dmax_px(np.eye(4, dtype=bool)) == pytest.approx(1 + 3 * np.sqrt(2))


def test_deterministic_for_a_seed_and_any_worker_count():
    a_img, a_meta = generate_oap_particles(40, seed=2)
    b_img, b_meta = generate_oap_particles(40, seed=2)
    pd.testing.assert_frame_equal(a_meta, b_meta)
    assert all(np.array_equal(x, y) for x, y in zip(a_img, b_img))
    c_img, c_meta = generate_oap_particles(300, seed=2, probes={"2D-S": 1.0}, workers=1)
    d_img, d_meta = generate_oap_particles(300, seed=2, probes={"2D-S": 1.0}, workers=2)
    pd.testing.assert_frame_equal(c_meta, d_meta)
    assert all(np.array_equal(x, y) for x, y in zip(c_img, d_img))
    with pytest.raises(ValueError, match="unknown probe"):
        generate_oap_particles(5, probes={"CIP": 1.0})


def test_packed_dataset_is_dark_on_bright_like_an_import(tmp_path):
    from icepaper.data.images import border_level
    from icepaper.data.importers import import_folder

    ds = generate_oap_dataset(tmp_path / "packed", 48, 32, seed=4, workers=1, progress=False)
    assert len(ds) == 48 and ds.has_labels("oap") and not ds.has_labels("cpi")
    imgs = ds.batch(np.arange(len(ds)))
    assert all(border_level(im) >= 100 and im.min() < 100 for im in imgs)  # dark particle, bright background
    assert ds.manifest["provenance"]["auto_polarity_missed"] == 0
    assert set(ds.meta["split"]) == {"train", "val", "test"}
    for col in ("instrument", "pixel_um", "dmax_um", "temperature_c", "campaign", "truncated"):
        assert ds.meta[col].notna().all()

    # the same particles written as a probe export and imported give the same stored images
    folder = write_oap_folder(tmp_path / "export", 48, seed=4, unique_names=True)
    report = import_folder(folder, tmp_path / "imported", 32, label_scheme="oap", progress=False)
    assert report.n_inverted == 48
    from icepaper.data.packed import PackedDataset

    imp = PackedDataset(tmp_path / "imported")
    names = imp.meta["image_id"].str.rsplit("/", n=1).str[-1]  # imported ids are <class>/<file stem>
    order = pd.Index(names).get_indexer(ds.meta["image_id"])
    assert (order >= 0).all()
    assert np.array_equal(imp.batch(order), imgs)
    assert np.allclose(imp.meta["pixel_um"].to_numpy()[order], ds.meta["pixel_um"].to_numpy())
    assert (imp.meta["oap"].to_numpy()[order] == ds.meta["oap"].to_numpy()).all()


def test_image_folder_repeats_names_across_classes(tmp_path):
    dest = write_oap_folder(tmp_path / "probe", 60, seed=6)
    classes = sorted(p.name for p in dest.iterdir() if p.is_dir())
    assert set(classes) <= set(OAP_CLASSES) and len(classes) >= 3
    names = [set(q.name for q in (dest / c).glob("*.png")) for c in classes]
    assert all("00000.png" in n for n in names)  # every class starts at 00000.png
    assert sum(len(n) for n in names) == 60
    im = np.asarray(Image.open(dest / classes[0] / "00000.png"))
    assert im.ndim == 2 and set(np.unique(im)) == {0, 255} and im[0].max() == 0
    meta = pd.read_csv(dest / "metadata.csv")
    assert meta["image_id"].is_unique and len(meta) == 60
    assert all((dest / f"{i}.png").exists() for i in meta["image_id"])


def test_synthetic_oap_through_setup_and_load_dataset(tmp_path, monkeypatch):
    import icepaper
    from icepaper.core.profiles import PROFILES
    from icepaper.data import load_dataset
    from icepaper.data.packed import LABEL_SCHEMES

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(PROFILES["smoke"]["data"], "n_images", 40)
    cfg = icepaper.setup("99_test", profile="smoke", data="synthetic-oap", out=str(tmp_path / "out"))
    assert cfg.data == "synthetic-oap" and cfg.data_kind == "synthetic-oap" and not cfg.uses_default_data
    ds = load_dataset(cfg)
    assert len(ds) == 40 and ds.size == cfg.profile.data["image_size"] and ds.root.name.startswith("synthetic-oap-40-")
    assert set(ds.meta["instrument"]) == {"2D-S", "PIP"}
    assert [s for s in LABEL_SCHEMES if ds.has_labels(s)] == ["oap"]  # what notebooks iterate finds it
    monkeypatch.setattr("icepaper.synth.generate.generate_oap_dataset",
                        lambda *a, **k: pytest.fail("regenerated a cached dataset"))
    assert load_dataset(cfg).root == ds.root
    cfg.record(n=len(ds))
    assert '"data": "synthetic-oap"' in cfg.results_path.read_text()
    default = icepaper.setup("99_test", profile="smoke", out=str(tmp_path / "out"))
    assert default.uses_default_data and default.data_kind == "synthetic"


def test_cli_generates_an_oap_dataset(tmp_path, capsys):
    from icepaper.core.cli import main
    from icepaper.data.packed import PackedDataset

    assert main(["generate", str(tmp_path / "d"), "--kind", "oap", "--n", "24", "--size", "32",
                 "--workers", "1"]) == 0
    ds = PackedDataset(tmp_path / "d")
    assert len(ds) == 24 and ds.has_labels("oap")
    assert main(["generate", str(tmp_path / "f"), "--kind", "oap-folder", "--n", "12", "--workers", "1"]) == 0
    assert len(list((tmp_path / "f").rglob("*.png"))) == 12


def test_runner_passes_the_name_through(tmp_path):
    import json

    import nbformat

    from icepaper.core.runner import run_notebooks

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "default"\nseed = 0\ndata = ""\nout = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import pathlib\n(pathlib.Path(out) / 'data.txt').write_text(data)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "01_data.ipynb")
    out = tmp_path / "out"
    run_notebooks("smoke", data="synthetic-oap", out=out, notebooks_folder=tmp_path / "nbs", publish=False,
                  echo=lambda s: None)
    assert (out / "data.txt").read_text() == "synthetic-oap"
    assert json.loads((out / "run.json").read_text())["data"] == "synthetic-oap"
