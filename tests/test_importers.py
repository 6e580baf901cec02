"""Importers on small fixtures: layouts, mode conversion, polarity, metadata, every bad input."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from icepaper.data.images import letterbox, pil_to_grey, read_grey, to_packed
from icepaper.data.importers import (
    BadInputError,
    ImportReport,
    export_folder,
    import_any,
    import_folder,
    import_sheets,
)
from icepaper.data.packed import PackedDataset, is_packed
from icepaper.data.sheets import render_sheet

S = 32


def _particle(h=40, w=60, dark=True, seed=0):
    """A grey uint8 image: dark ellipse on a bright background (or inverted)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = np.full((h, w), 210, np.uint8)
    img[((yy - h / 2) / (h / 4)) ** 2 + ((xx - w / 2) / (w / 4)) ** 2 < 1] = 40
    img = (img.astype(int) + rng.integers(-3, 4, img.shape)).clip(0, 255).astype(np.uint8)
    return img if dark else 255 - img


def _save(path, arr, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def _labelled(tmp_path, n_per=4, classes=("column", "plate", "sphere")):
    src = tmp_path / "src"
    k = 0
    for c in classes:
        for j in range(n_per):
            _save(src / c / f"{c}_{j}.png", _particle(seed=k))
            k += 1
    return src


def test_labelled_folder_roundtrip_and_splits(tmp_path):
    src = _labelled(tmp_path)
    rep = import_folder(src, tmp_path / "out", image_size=S, pixel_um=2.3, instrument="CPI")
    assert isinstance(rep, ImportReport) and rep.n_imported == 12 and not rep.skipped
    ds = PackedDataset(tmp_path / "out")
    assert len(ds) == 12 and ds.size == S
    assert set(ds.labels("cpi")) == {"column", "plate", "sphere"}
    assert set(ds.meta["split"]) <= {"train", "val", "test"}
    assert (ds.meta["instrument"] == "CPI").all()
    # 60 px wide original -> 32 px: pixel size grows by 60/32
    np.testing.assert_allclose(ds.meta["pixel_um"], 2.3 * 60 / S)
    img = ds[0]
    assert img.dtype == np.uint8 and img.shape == (S, S)
    assert img[0, 0] > 150 and img[S // 2, S // 2] < 100  # dark particle, bright letterbox
    assert "imported 12 image(s)" in str(rep)


def test_flat_unlabelled_folder_and_unknown_pixel_size(tmp_path):
    src = tmp_path / "flat"
    for j in range(5):
        _save(src / f"p{j}.jpg", np.repeat(_particle(seed=j)[..., None], 3, 2))
    rep = import_folder(src, tmp_path / "out", image_size=S)
    ds = PackedDataset(tmp_path / "out")
    assert rep.n_imported == 5 and "cpi" not in ds.meta.columns
    assert ds.meta["pixel_um"].isna().all()
    assert any("pixel size unknown" in w for w in rep.warnings)


def test_mixed_modes_are_converted_and_reported(tmp_path):
    src = tmp_path / "src"
    g = _particle(seed=1)
    _save(src / "a" / "grey.png", g)
    _save(src / "a" / "rgb.tif", np.repeat(g[..., None], 3, 2))
    rgba = np.dstack([np.repeat(g[..., None], 3, 2), np.full(g.shape, 255, np.uint8)])
    rgba[:5, :, 3] = 0  # transparent rows -> composited on white
    _save(src / "a" / "rgba.png", rgba)
    Image.fromarray(g).convert("P").save(src / "a" / "pal.png")
    g16 = g.astype(np.uint16) * 257
    Image.fromarray(g16).save(src / "a" / "sixteen.png")  # mode I;16
    g12 = (g.astype(np.uint16) * 16)  # 12-bit data in a 16-bit container
    Image.fromarray(g12).save(src / "a" / "twelve.tif")
    rep = import_folder(src, tmp_path / "out", image_size=S)
    assert rep.n_imported == 6 and not rep.skipped
    assert any("converted to 8-bit grey" in w for w in rep.warnings)
    assert {"RGB", "RGBA", "P"} <= set(rep.modes)
    ds = PackedDataset(tmp_path / "out")
    ref = ds[int(np.flatnonzero(ds.meta["image_id"] == "a/grey")[0])].astype(int)
    for iid in ("a/rgb", "a/sixteen", "a/twelve", "a/pal"):
        img = ds[int(np.flatnonzero(ds.meta["image_id"] == iid)[0])].astype(int)
        assert np.abs(img - ref).mean() < 3, iid
    # alpha composited on white: transparent rows are white in the original
    grey, _ = read_grey(src / "a" / "rgba.png")
    assert (grey[:5] == 255).all()


def test_sixteen_bit_full_range_is_divided_by_257(tmp_path):
    a = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    a[0, 0] = 65535
    out = pil_to_grey(Image.fromarray(a))
    assert out.max() == 255 and out.dtype == np.uint8
    assert out[10, 10] == round(a[10, 10] / 257)


def test_polarity_auto_inverts_dark_background_only(tmp_path):
    bright = _particle(dark=False)  # white particle on black (optical-array probe style)
    out, factor, inv = to_packed(bright, S, "auto")
    assert inv and out[0, 0] > 150 and out[S // 2, S // 2] < 100
    out2, _, inv2 = to_packed(_particle(), S, "auto")
    assert not inv2 and np.abs(out2.astype(int) - out.astype(int)).mean() < 3
    assert to_packed(bright, S, "dark")[2] is False and to_packed(_particle(), S, "bright")[2] is True
    assert factor == pytest.approx(60 / S)
    with pytest.raises(ValueError, match="polarity"):
        to_packed(bright, S, "weird")


def test_letterbox_uses_own_background():
    img = np.full((10, 30), 180, np.uint8)
    img[4:6, 10:20] = 20
    sq = letterbox(img)
    assert sq.shape == (30, 30) and sq[0, 0] == 180 and sq[-1, -1] == 180


def test_binary_probe_folder_import_inverts(tmp_path):
    src = tmp_path / "oap"
    for j in range(3):
        b = np.zeros((24, 48), np.uint8)
        b[8:16, 10 + j:30 + j] = 255  # white shadow on black
        _save(src / f"s{j}.png", b)
    rep = import_folder(src, tmp_path / "out", image_size=S, polarity="auto", pixel_um=10.0,
                        instrument="2D-S")
    ds = PackedDataset(tmp_path / "out")
    assert rep.n_inverted == 3
    assert (ds.batch(range(3))[:, 0, 0] == 255).all()
    assert (ds.batch(range(3))[:, S // 2, S // 2] == 0).all()


def test_metadata_csv_columns_and_split_kept(tmp_path):
    src = _labelled(tmp_path, n_per=2, classes=("column", "plate"))
    ids = [f"{c}_{j}" for c in ("column", "plate") for j in range(2)]
    pd.DataFrame({"file": [i + ".png" for i in ids], "campaign": ["A", "A", "B", "B"],
                  "temperature_c": [-5, -6, -15, -16], "pixel_um": [2.3, 2.3, 4.6, 4.6],
                  "habit4": ["Column", None, None, None],
                  "split": ["train", "test", "train", "val"]}).to_csv(src / "metadata.csv", index=False)
    import_folder(src, tmp_path / "out", image_size=S)
    m = PackedDataset(tmp_path / "out").meta.set_index("image_id")  # ids: paths without extension
    assert m.loc["plate/plate_0", "campaign"] == "B" and m.loc["column/column_1", "temperature_c"] == -6
    assert m.loc["column/column_1", "split"] == "test" and m.loc["plate/plate_1", "split"] == "val"
    assert m.loc["plate/plate_0", "pixel_um"] == pytest.approx(4.6 * 60 / S)
    assert m.loc["column/column_0", "habit4"] == "Column" and pd.isna(m.loc["plate/plate_0", "habit4"])
    assert m["temperature_c"].dtype == float


def test_export_then_import_roundtrip(tmp_path, packed_factory):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (9, S, S), dtype=np.uint8)
    imgs[:, 0, :] = 230  # bright border: polarity stays
    imgs[:, -1, :] = 230
    imgs[:, :, 0] = 230
    imgs[:, :, -1] = 230
    meta = pd.DataFrame({"image_id": [f"x{i}" for i in range(9)], "split": ["train"] * 5 + ["val", "test"] * 2,
                         "source_file": "gen", "cpi": ["column", "plate", None] * 3,
                         "temperature_c": np.linspace(-30, -5, 9), "pixel_um": 2.3})
    ds = packed_factory(imgs, meta)
    dest = export_folder(ds, tmp_path / "exported", scheme="cpi")
    assert (dest / "column" / "x0.png").exists() and (dest / "x2.png").exists()
    assert (dest / "metadata.csv").exists()
    import_folder(dest, tmp_path / "back", image_size=S)
    back = PackedDataset(tmp_path / "back")
    order = [int(np.flatnonzero(back.meta["image_id"] == f"x{i}")[0]) for i in range(9)]
    np.testing.assert_array_equal(back.batch(order), imgs)
    bm = back.meta.iloc[order].reset_index(drop=True)
    assert list(bm["split"]) == list(meta["split"])
    assert list(bm["cpi"].fillna("NA")) == list(meta["cpi"].fillna("NA"))
    np.testing.assert_allclose(bm["temperature_c"], meta["temperature_c"])
    np.testing.assert_allclose(bm["pixel_um"], 2.3)


def test_import_any_dispatches(tmp_path):
    src = _labelled(tmp_path, n_per=2)
    assert import_any(src, tmp_path / "a", image_size=S).kind == "image folder"
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    crops = [_particle(30 + 3 * i, 40, seed=i) for i in range(12)]
    Image.fromarray(render_sheet(crops, [f"20: 9:\n12:{i:03d}" for i in range(12)], header="t")).save(
        sheets / "s1.png")
    rep = import_any(sheets, tmp_path / "b", image_size=S)
    assert rep.kind == "CPI sheets" and rep.n_imported == 12


def test_import_sheets_records_geometry(tmp_path):
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    crops = [_particle(40, 60, seed=i) for i in range(6)]
    rgb, boxes = render_sheet(crops, ["12:00"] * 6, header="h", return_boxes=True)
    Image.fromarray(rgb).save(sheets / "a.png")
    pd.DataFrame({"file": ["a.png"], "campaign": ["X"], "temperature_c": [-20.0]}).to_csv(
        sheets / "metadata.csv", index=False)
    rep = import_sheets(sheets, tmp_path / "out", image_size=S)
    ds = PackedDataset(tmp_path / "out")
    m = ds.meta
    assert rep.n_imported == 6 and rep.sheets["a.png"]["kept"] == 6
    assert set(zip(m.box_x, m.box_y, m.box_w, m.box_h)) == set(boxes)
    np.testing.assert_allclose(m["crop_w_um"], 60 * 2.3)
    np.testing.assert_allclose(m["pixel_um"], 2.3 * 60 / S)
    # ellipse of 30 x 20 px (axes h/4*2, w/4*2): dmax ~ 31 px
    assert ((m["dmax_um"] > 27 * 2.3) & (m["dmax_um"] < 35 * 2.3)).all()
    assert (m["campaign"] == "X").all() and (m["temperature_c"] == -20).all()
    assert (m["source_file"] == "a.png").all() and (m["instrument"] == "CPI").all()


# --------------------------------------------------------------------------- bad input


def _expect_fail(src, out, match, **kw):
    with pytest.raises(BadInputError, match=match) as e:
        import_folder(src, out, image_size=S, **kw)
    assert not out.exists() and not any(out.parent.glob(f".{out.name}*"))  # nothing written
    return e.value


def test_nonexistent_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        import_folder(tmp_path / "nope", tmp_path / "out", image_size=S)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        import_any(tmp_path / "nope", tmp_path / "out", image_size=S)


def test_unwritable_output(tmp_path):
    src = _labelled(tmp_path, n_per=1)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="not writable"):
        import_folder(src, blocker / "out", image_size=S)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_unwritable_output_readonly_dir(tmp_path):
    src = _labelled(tmp_path, n_per=1)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            import_folder(src, ro / "out", image_size=S)
    finally:
        ro.chmod(0o700)


def test_zero_byte_unreadable_and_non_image_files(tmp_path):
    src = _labelled(tmp_path, n_per=2)
    (src / "column" / "empty.png").write_bytes(b"")
    (src / "plate" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (src / "plate" / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    err = _expect_fail(src, out, "problem")
    msg = str(err)
    assert "empty.png: empty file (0 bytes)" in msg
    assert "broken.png" in msg and "notes.txt: not an image file" in msg
    rep = import_folder(src, out, image_size=S, on_error="skip")
    assert rep.n_imported == 6 and len(rep.skipped) == 3
    assert {os.path.basename(f) for f, _ in rep.skipped} == {"empty.png", "broken.png", "notes.txt"}
    assert "skipped 3" in str(rep)


def test_truncated_image_is_caught_before_writing(tmp_path):
    src = _labelled(tmp_path, n_per=2)
    good = (src / "column" / "column_0.png").read_bytes()
    (src / "column" / "trunc.png").write_bytes(good[: len(good) // 2])
    _expect_fail(src, tmp_path / "out", "trunc.png")


def test_empty_class_folder(tmp_path):
    src = _labelled(tmp_path, n_per=1)
    (src / "rosette").mkdir()
    _expect_fail(src, tmp_path / "out", "rosette: empty class folder")
    rep = import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    assert rep.n_imported == 3 and "empty class folder" in rep.skipped[0][1]


def test_duplicate_ids(tmp_path):
    # ids are paths without extension: the same name in another class folder is a different
    # image (tests/test_layouts.py); the same path with two extensions is a duplicate id
    src = _labelled(tmp_path, n_per=1)
    _save(src / "column" / "column_0.jpg", _particle())
    err = _expect_fail(src, tmp_path / "out", "duplicate image id 'column/column_0'")
    assert len(err.problems) == 2
    rep = import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    assert rep.n_imported == 2


def test_metadata_rows_without_images_and_images_without_rows(tmp_path):
    src = _labelled(tmp_path, n_per=2, classes=("a",))
    pd.DataFrame({"image_id": ["a_0", "ghost"], "campaign": ["X", "Y"]}).to_csv(src / "metadata.csv", index=False)
    err = _expect_fail(src, tmp_path / "out", "ghost")
    msg = str(err)
    assert "metadata.csv:3: metadata row for image_id 'ghost' has no image" in msg
    assert "a_1.png: no row for image_id 'a/a_1'" in msg
    rep = import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    assert rep.n_imported == 1


def test_nan_and_bad_numbers_in_metadata(tmp_path):
    src = _labelled(tmp_path, n_per=4, classes=("a",))
    pd.DataFrame({"image_id": [f"a_{j}" for j in range(4)],
                  "temperature_c": ["-5", "", "253.1", "-7"],
                  "dmax_um": ["100", "120", "130", "big"]}).to_csv(src / "metadata.csv", index=False)
    msg = str(_expect_fail(src, tmp_path / "out", "temperature_c"))
    assert "metadata.csv:3: temperature_c is NaN" in msg
    assert "Kelvin" in msg and "dmax_um is not a number ('big')" in msg
    assert "a_1.png: its metadata row is invalid" in msg
    rep = import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    assert rep.n_imported == 1
    assert PackedDataset(tmp_path / "out").meta["temperature_c"].tolist() == [-5.0]


def test_duplicate_ids_in_metadata(tmp_path):
    src = _labelled(tmp_path, n_per=2, classes=("a",))
    pd.DataFrame({"image_id": ["a_0", "a_0", "a_1"], "campaign": ["X", "Y", "Z"]}).to_csv(
        src / "metadata.csv", index=False)
    _expect_fail(src, tmp_path / "out", "duplicate image_id 'a_0'")


def test_label_conflict_between_folder_and_metadata(tmp_path):
    src = _labelled(tmp_path, n_per=1, classes=("column", "plate"))
    pd.DataFrame({"image_id": ["column_0", "plate_0"], "cpi": ["plate", "plate"]}).to_csv(
        src / "metadata.csv", index=False)
    _expect_fail(src, tmp_path / "out", "disagrees with class folder 'column'")


def test_nothing_importable_even_with_skip(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("x")
    with pytest.raises(BadInputError, match="nothing was written"):
        import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    assert not is_packed(tmp_path / "out")


def test_failed_import_keeps_existing_dataset(tmp_path):
    src = _labelled(tmp_path, n_per=1)
    out = tmp_path / "out"
    import_folder(src, out, image_size=S)
    fp = PackedDataset(out).fingerprint
    (src / "column" / "bad.png").write_bytes(b"")
    with pytest.raises(BadInputError):
        import_folder(src, out, image_size=S, overwrite=True)
    assert PackedDataset(out).fingerprint == fp


def test_bad_sheet_inputs(tmp_path):
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    Image.fromarray(render_sheet([_particle()], ["t"], header="h")).save(sheets / "ok.png")
    (sheets / "zero.png").write_bytes(b"")
    (sheets / "junk.png").write_bytes(b"not a png")
    with pytest.raises(BadInputError) as e:
        import_sheets(sheets, tmp_path / "out", image_size=S)
    msg = str(e.value)
    assert "zero.png: empty file (0 bytes)" in msg and "junk.png" in msg
    assert not (tmp_path / "out").exists()
    rep = import_sheets(sheets, tmp_path / "out", image_size=S, on_error="skip")
    assert rep.n_imported == 1 and len(rep.skipped) == 2


# --------------------------------------------------------------------------- torch wrapper


def test_packed_images_torch_wrapper(packed_factory):
    import pickle

    import torch
    from torchvision.transforms import v2

    from icepaper.data.torchdata import PackedImages, make_loader

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (10, 16, 16), dtype=np.uint8)
    meta = pd.DataFrame({"image_id": [f"i{k}" for k in range(10)], "split": "train", "source_file": "",
                         "cpi": ["b", "a", None, "a", "b", "c", "a", None, "c", "b"]})
    ds = packed_factory(imgs, meta)
    pil = PackedImages(ds)[3]
    assert pil.mode == "L" and np.array_equal(np.asarray(pil), imgs[3])
    tf = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    lab = PackedImages(ds, transform=tf, label_scheme="cpi")
    assert lab.classes == ["a", "b", "c"] and len(lab) == 8  # unlabelled rows left out
    x, y = lab[0]
    assert x.shape == (1, 16, 16) and y == 1
    assert PackedImages(ds, indices=[2], label_scheme="cpi")[0][1] == -1
    clone = pickle.loads(pickle.dumps(lab))
    assert clone._ds is None and torch.equal(clone[4][0], lab[4][0])
    order = [torch.cat([b[1] for b in make_loader(lab, 4, shuffle=True, seed=s)]).tolist() for s in (1, 1, 2)]
    assert order[0] == order[1] and sorted(order[0]) == sorted(lab.targets.tolist())
    xb, yb = next(iter(make_loader(lab, 4, num_workers=2, seed=0)))
    assert xb.shape == (4, 1, 16, 16) and yb.tolist() == lab.targets[:4].tolist()
