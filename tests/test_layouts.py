"""Folder layouts and image ids, image-level bad input, and ``check_data`` (issue 11)."""

from __future__ import annotations

import os
import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from icepaper.core.cli import main
from icepaper.data.check import check_data
from icepaper.data.images import MAX_PIXELS, load_grey, to_packed
from icepaper.data.importers import BadInputError, export_folder, import_folder
from icepaper.data.packed import PackedDataset
from icepaper.data.sheets import render_sheet

S = 32


def _blob(h=40, w=60, seed=0, white_on_black=False):
    """A grey uint8 image: a dark ellipse (size and place varying with ``seed``) on a bright background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    cy, cx = h / 2 + rng.uniform(-3, 3), w / 2 + rng.uniform(-5, 5)
    ry, rx = h / 4 + rng.uniform(-2, 2), w / 4 + rng.uniform(-3, 3)
    img = np.full((h, w), 210, np.uint8)
    img[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = 40
    img = (img.astype(int) + rng.integers(-3, 4, img.shape)).clip(0, 255).astype(np.uint8)
    return 255 - img if white_on_black else img


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _imagefolder(tmp_path, classes=("a", "b", "c"), n=2, name="src"):
    """``<src>/<class>/<00000>.png``: the same file names in every class folder."""
    src = tmp_path / name
    for k, c in enumerate(classes):
        for j in range(n):
            _save(src / c / f"{j:05d}.png", _blob(seed=10 * k + j))
    return src


def _by_id(ds):
    return {iid: i for i, iid in enumerate(ds.meta["image_id"])}


def _tree(root):
    """{relative path: (size, mtime_ns)} of everything under ``root`` (links not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


# --------------------------------------------------------------------------- ids and layouts


def test_imagefolder_with_repeated_names_imports(tmp_path):
    src = _imagefolder(tmp_path)
    rep = import_folder(src, tmp_path / "out", image_size=S)
    assert rep.n_imported == 6 and not rep.skipped and rep.layout == "labelled folder"
    ds = PackedDataset(tmp_path / "out")
    ids = _by_id(ds)
    assert set(ids) == {f"{c}/{j:05d}" for c in "abc" for j in range(2)}
    m = ds.meta.set_index("image_id")
    assert m.loc["b/00001", "cpi"] == "b" and m.loc["b/00001", "source_file"] == "b/00001.png"
    # each id holds its own file's pixels, not another class's 00001.png
    for c, k in (("a", 0), ("c", 2)):
        want = to_packed(_blob(seed=10 * k + 1), S)[0]
        assert np.array_equal(ds[ids[f"{c}/00001"]], want)
        assert not np.array_equal(ds[ids["b/00001"]], want)


def test_flat_folder_ids_are_stems(tmp_path):
    src = tmp_path / "flat"
    for j in range(3):
        _save(src / f"p{j}.png", _blob(seed=j))
    rep = import_folder(src, tmp_path / "out", image_size=S)
    assert rep.layout == "unlabelled flat folder"
    assert sorted(PackedDataset(tmp_path / "out").meta["image_id"]) == ["p0", "p1", "p2"]


def test_nested_class_folders_take_the_first_level(tmp_path):
    src = tmp_path / "src"
    _save(src / "a" / "2019" / "flight1" / "1.png", _blob(seed=1))
    _save(src / "a" / "1.png", _blob(seed=2))
    _save(src / "b" / "x" / "1.png", _blob(seed=3))
    rep = import_folder(src, tmp_path / "out", image_size=S)
    assert rep.layout == "nested labelled folder"
    m = PackedDataset(tmp_path / "out").meta.set_index("image_id")
    assert m["cpi"].to_dict() == {"a/1": "a", "a/2019/flight1/1": "a", "b/x/1": "b"}


def test_extensions_any_case_and_bit_depths(tmp_path):
    src = tmp_path / "src"
    ref = _blob(seed=5)
    _save(src / "a" / "ref.png", ref)
    _save(src / "a" / "upper.PNG", ref)
    Image.fromarray(ref).save(src / "a" / "photo.JPG", quality=98)
    Image.fromarray(ref).save(src / "a" / "photo2.jpeg", quality=98)
    Image.fromarray(ref).save(src / "b" / "bitmap.bmp") if (src / "b").mkdir() is None else None
    cv2.imwrite(str(src / "b" / "eight.tif"), ref)
    cv2.imwrite(str(src / "b" / "sixteen.tiff"), ref.astype(np.uint16) * 257)  # full 16-bit range
    Image.fromarray(ref.astype(np.uint16) * 16).save(src / "b" / "twelve.TIF")  # 12-bit in 16 bit
    rep = import_folder(src, tmp_path / "out", image_size=S)
    assert rep.n_imported == 8 and not rep.skipped, rep
    ds = PackedDataset(tmp_path / "out")
    ids = _by_id(ds)
    want = ds[ids["a/ref"]].astype(int)
    for iid in ("a/upper", "a/photo", "a/photo2", "b/bitmap", "b/eight", "b/sixteen", "b/twelve"):
        assert np.abs(ds[ids[iid]].astype(int) - want).mean() < 3, iid
    assert rep.modes.get("I;16", 0) >= 1  # the 16-bit files were read as 16 bit


def test_metadata_keyed_by_relative_path(tmp_path):
    src = _imagefolder(tmp_path, classes=("a", "b"))
    keys = ["a/00000.png", "a/00001", "b\\00000.PNG", str(src / "b" / "00001.png")]
    pd.DataFrame({"file": keys, "temperature_c": [-1, -2, -3, -4]}).to_csv(src / "metadata.csv", index=False)
    import_folder(src, tmp_path / "out", image_size=S)
    m = PackedDataset(tmp_path / "out").meta.set_index("image_id")
    assert m["temperature_c"].to_dict() == {"a/00000": -1, "a/00001": -2, "b/00000": -3, "b/00001": -4}


def test_metadata_keyed_by_unique_plain_names(tmp_path):
    src = tmp_path / "src"
    for c, names in (("col", ("c1", "c2")), ("pla", ("p1",))):
        for n in names:
            _save(src / c / f"{n}.png", _blob(seed=len(n)))
    pd.DataFrame({"image_id": ["c1", "c2.png", "pla/p1"], "campaign": ["X", "X", "Y"]}).to_csv(
        src / "metadata.csv", index=False)
    import_folder(src, tmp_path / "out", image_size=S)
    m = PackedDataset(tmp_path / "out").meta.set_index("image_id")
    assert m["campaign"].to_dict() == {"col/c1": "X", "col/c2": "X", "pla/p1": "Y"}


def test_ambiguous_plain_names_are_named(tmp_path):
    src = _imagefolder(tmp_path, classes=("a", "b"))
    pd.DataFrame({"file": ["00000.png", "a/00001", "b/00001"], "campaign": ["X", "Y", "Z"]}).to_csv(
        src / "metadata.csv", index=False)
    with pytest.raises(BadInputError) as e:
        import_folder(src, tmp_path / "out", image_size=S)
    msg = str(e.value)
    assert "metadata.csv:2: file name '00000.png' is ambiguous: 2 images have it (a/00000, b/00000)" in msg
    assert "a/00000.png: its metadata row is invalid (see metadata.csv:2)" in msg
    assert "b/00000.png: its metadata row is invalid (see metadata.csv:2)" in msg
    assert not (tmp_path / "out").exists()
    rep = import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    assert rep.n_imported == 2
    assert sorted(PackedDataset(tmp_path / "out").meta["image_id"]) == ["a/00001", "b/00001"]


def test_file_column_finds_the_image_and_image_id_names_it(tmp_path):
    src = _imagefolder(tmp_path, classes=("a", "b"), n=1)
    pd.DataFrame({"file": ["a/00000.png", "b/00000.png"], "image_id": ["2DS-0001", "2DS-0002"]}).to_csv(
        src / "metadata.csv", index=False)
    import_folder(src, tmp_path / "out", image_size=S)
    m = PackedDataset(tmp_path / "out").meta.set_index("image_id")
    assert m["cpi"].to_dict() == {"2DS-0001": "a", "2DS-0002": "b"}
    pd.DataFrame({"file": ["a/00000.png", "b/00000.png"], "image_id": ["same", "same"]}).to_csv(
        src / "metadata.csv", index=False)
    with pytest.raises(BadInputError, match="duplicate image_id 'same' in the image_id column"):
        import_folder(src, tmp_path / "out2", image_size=S)


def test_export_and_import_back_keep_path_ids(tmp_path, packed_factory):
    src = _imagefolder(tmp_path, classes=("a", "b"))
    _save(src / "loose.png", _blob(seed=99))  # a top-level image beside the classes: unlabelled
    import_folder(src, tmp_path / "packed", image_size=S)
    ds = PackedDataset(tmp_path / "packed")
    dest = export_folder(ds, tmp_path / "exported")
    assert (dest / "a" / "00000.png").exists() and (dest / "b" / "00001.png").exists()
    assert (dest / "loose.png").exists() and not (dest / "a" / "a").exists()
    import_folder(dest, tmp_path / "back", image_size=S)
    back = PackedDataset(tmp_path / "back")
    bi, di = _by_id(back), _by_id(ds)
    assert set(bi) == set(di)
    for iid in di:
        assert np.array_equal(back[bi[iid]], ds[di[iid]]), iid
    mb, md = back.meta.set_index("image_id"), ds.meta.set_index("image_id")
    assert mb["cpi"].fillna("-").to_dict() == md["cpi"].fillna("-").to_dict()
    assert mb["split"].to_dict() == md["split"].to_dict()

    # ids with folders that are not their class, and unlabelled ids with folders
    imgs = np.stack([np.asarray(_blob(S, S, seed=i)) for i in range(4)])
    meta = pd.DataFrame({"image_id": ["q/1", "q/2", "sub/x", "column/y"], "split": "train",
                         "source_file": "", "cpi": ["column", "plate", None, "column"]})
    ds2 = packed_factory(imgs, meta, name="p2")
    dest2 = export_folder(ds2, tmp_path / "exported2")
    assert (dest2 / "column" / "q" / "1.png").exists() and (dest2 / "sub__x.png").exists()
    assert (dest2 / "column" / "y.png").exists()
    import_folder(dest2, tmp_path / "back2", image_size=S)
    m2 = PackedDataset(tmp_path / "back2").meta.set_index("image_id")
    assert m2["cpi"].fillna("-").to_dict() == {"q/1": "column", "q/2": "plate", "sub/x": "-", "column/y": "column"}


# --------------------------------------------------------------------------- image-level bad input


def test_bad_image_files_are_named(tmp_path):
    src = _imagefolder(tmp_path, classes=("a", "b"))
    (src / "a" / "zero.png").write_bytes(b"")
    (src / "a" / "text.png").write_text("this is not an image\n")
    good = (src / "a" / "00000.png").read_bytes()
    (src / "b" / "trunc.png").write_bytes(good[: len(good) // 2])
    _save(src / "b" / "dot.png", np.zeros((1, 1), np.uint8))
    (src / "b" / "folder.png").mkdir()
    os.symlink(src / "nowhere.png", src / "a" / "dangling.png")
    with pytest.raises(BadInputError) as e:
        import_folder(src, tmp_path / "out", image_size=S)
    reasons = {os.path.basename(f): r for f, r in e.value.problems}
    assert reasons["zero.png"] == "empty file (0 bytes)"
    assert reasons["text.png"] == "not a readable image (unknown or corrupt format)"
    assert "truncated" in reasons["trunc.png"]
    assert reasons["dot.png"].startswith("image is only 1x1 px (< 4 px on its longer side)")
    assert reasons["folder.png"] == "a folder named like an image file, not an image"
    assert reasons["dangling.png"].startswith("broken symlink")
    assert len(reasons) == 6 and not (tmp_path / "out").exists()
    rep = import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    assert rep.n_imported == 4 and {os.path.basename(f) for f, _ in rep.skipped} == set(reasons)


def test_symlink_loops_are_named_not_duplicates(tmp_path):
    src = _imagefolder(tmp_path, classes=("a", "b"))
    os.symlink(src, src / "a" / "loop")  # a class folder's link back to the root
    os.symlink(src / "b", src / "b" / "again")  # a folder's link to itself
    os.symlink(src / "self", src / "self")  # a link to itself
    with pytest.raises(BadInputError) as e:
        import_folder(src, tmp_path / "out", image_size=S)
    probs = dict(e.value.problems)
    assert set(probs) == {str(src / "a" / "loop"), str(src / "b" / "again"), str(src / "self")}
    assert all("symlink loop" in r for r in probs.values())
    assert not any("duplicate" in r for r in probs.values())
    rep = import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    assert rep.n_imported == 4


def test_single_class_warns_and_modes_are_counted(tmp_path):
    src = tmp_path / "src"
    g = _blob(seed=1)
    _save(src / "only" / "grey.png", g)
    _save(src / "only" / "rgba.png", np.dstack([g, g, g, np.full_like(g, 255)]))
    Image.fromarray(g).convert("P").save(src / "only" / "pal.png")
    _save(src / "only" / "blank.png", np.full((20, 20), 200, np.uint8))
    rep = import_folder(src, tmp_path / "out", image_size=S)
    assert rep.n_imported == 4 and rep.modes == {"L": 2, "RGBA": 1, "P": 1}
    text = str(rep)
    assert "only one class ('only')" in text and "need at least 2 classes" in text
    assert "converted to 8-bit grey: 1 P, 1 RGBA" in text
    assert "1 image(s) have a single grey level (blank frames, no particle): only/blank" in text


def test_large_image_is_read_with_bounded_memory(tmp_path):
    big = np.full((8000, 8000), 220, np.uint8)
    big[3000:5000, 2000:6000] = 30
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(big).save(src / "big.png", compress_level=1)
    _save(src / "small.png", _blob(seed=1))
    tracemalloc.start()
    grey, mode, shape = load_grey(src / "big.png", max_side=2 * S)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert shape == (8000, 8000) and mode == "L" and max(grey.shape) < 4 * S
    assert peak < 8e6  # numpy side: never a full-size copy (64 MB)
    rep = import_folder(src, tmp_path / "out", image_size=S, pixel_um=10.0)
    m = PackedDataset(tmp_path / "out").meta.set_index("image_id")
    assert rep.n_imported == 2 and m.loc["big", "pixel_um"] == pytest.approx(10.0 * 8000 / S)
    img = PackedDataset(tmp_path / "out")[int(np.flatnonzero(m.index == "big")[0])]
    assert img[S // 2, S // 2] < 60 and img[2, 2] > 200


def test_sixteen_bit_decode_has_no_wide_temporaries(tmp_path):
    a = (np.arange(3000 * 3000, dtype=np.uint32) % 4096).astype(np.uint16).reshape(3000, 3000)
    Image.fromarray(a).save(tmp_path / "w.tif")  # uncompressed I;16 TIFF
    tracemalloc.start()
    grey, mode, _ = load_grey(tmp_path / "w.tif")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert mode == "I;16" and grey.dtype == np.uint8 and grey.max() == 255
    # Pillow's raw bytes and the uint16 array (2 + 2 bytes/px) and the uint8 result; the former
    # int64 and float64 temporaries took over 20 bytes/px
    assert peak < 6 * a.size


def _png_header_only(path, w, h):
    """A PNG whose header claims w x h px (8-bit grey) with one tiny, invalid data chunk."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


def test_too_large_image_is_a_named_problem_not_a_bomb_error(tmp_path):
    src = _imagefolder(tmp_path, classes=("a", "b"), n=1)
    _png_header_only(src / "a" / "huge.png", 30000, 30000)
    assert 30000 * 30000 > MAX_PIXELS
    with pytest.raises(BadInputError, match=r"huge.png: image is 30000x30000 px \(900 Mpx\), above the 400 Mpx"):
        import_folder(src, tmp_path / "out", image_size=S)
    rep = import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    assert rep.n_imported == 2 and "decompression-bomb guard" in rep.skipped[0][1]


def test_14000_px_png_is_read(tmp_path):
    # 196 Mpx: above Pillow's own bomb limit (179 Mpx), below ours (MAX_PIXELS, 400 Mpx)
    im = Image.new("1", (14000, 14000), 1)
    im.paste(0, (5000, 6000, 9000, 8000))
    src = tmp_path / "src"
    src.mkdir()
    im.save(src / "mosaic.png", compress_level=1)
    grey, mode, shape = load_grey(src / "mosaic.png", max_side=2 * S)
    assert mode == "1" and shape == (14000, 14000) and max(grey.shape) < 4 * S
    img = to_packed(grey, S)[0]
    assert img[S // 2, S // 2] < 60 and img[2, 2] > 200


def test_metadata_rows_missing_extra_duplicated_non_numeric_nan(tmp_path):
    src = _imagefolder(tmp_path, classes=("a", "b"), n=3)
    pd.DataFrame({"file": ["a/00000", "a/00001", "a/00001.png", "b/00000", "b/00001", "c/ghost", "b/00002"],
                  "temperature_c": ["-5", "-6", "-6", "cold", "", "-1", "-9"]}).to_csv(
        src / "metadata.csv", index=False)  # a/00002 has no row
    with pytest.raises(BadInputError) as e:
        import_folder(src, tmp_path / "out", image_size=S)
    msg = str(e.value)
    assert "metadata.csv:3: duplicate image_id 'a/00001' (lines 3, 4)" in msg
    assert "metadata.csv:4: duplicate image_id 'a/00001' (lines 3, 4)" in msg
    assert "metadata.csv:5: temperature_c is not a number ('cold')" in msg
    assert "metadata.csv:6: temperature_c is NaN (missing) for image_id 'b/00001'" in msg
    assert "metadata.csv:7: metadata row for image_id 'c/ghost' has no image" in msg
    assert "a/00002.png: no row for image_id 'a/00002' in metadata.csv" in msg
    rep = import_folder(src, tmp_path / "out", image_size=S, on_error="skip")
    m = PackedDataset(tmp_path / "out").meta.set_index("image_id")
    assert rep.n_imported == 2 and m["temperature_c"].to_dict() == {"a/00000": -5.0, "b/00002": -9.0}


def test_nonexistent_and_file_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        import_folder(tmp_path / "nope", tmp_path / "out", image_size=S)
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        import_folder(tmp_path / "f.png", tmp_path / "out", image_size=S)
    assert main(["import", str(tmp_path / "f.png"), str(tmp_path / "out")]) == 2  # one line, no traceback
    assert main(["import", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- check_data


def _messy_folder(tmp_path):
    src = _imagefolder(tmp_path, classes=("a", "b"), n=3)
    _save(src / "b" / "probe.png", _blob(seed=7, white_on_black=True))
    (src / "b" / "copy.png").write_bytes((src / "a" / "00000.png").read_bytes())
    (src / "a" / "zero.png").write_bytes(b"")
    ids = [f"{c}/{j:05d}" for c in "ab" for j in range(3)] + ["b/probe", "b/copy", "a/zero"]
    pd.DataFrame({"image_id": ids, "campaign": "X", "temperature_c": np.linspace(-30, -5, len(ids))}).to_csv(
        src / "metadata.csv", index=False)
    return src


def test_check_data_writes_nothing(tmp_path, monkeypatch, capsys):
    src = _messy_folder(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ICEPAPER_HOME", str(home))
    before, parent = _tree(src), set(os.listdir(tmp_path))
    rep = check_data(src)
    assert main(["check-data", str(src)]) == 0
    assert _tree(src) == before and set(os.listdir(tmp_path)) == parent
    assert _tree(home) == {}
    assert str(rep) in capsys.readouterr().out


def test_check_data_report(tmp_path):
    rep = check_data(_messy_folder(tmp_path))
    assert rep.kind == "labelled folder" and rep.n_files == 9 and rep.n_images == 8
    assert rep.classes == {"cpi": {"a": 3, "b": 5}}
    assert rep.columns == ["campaign", "temperature_c"] and rep.campaigns == {"X": 8}
    assert [os.path.basename(f) for f, _ in rep.problems] == ["zero.png"]
    assert rep.duplicates == [["a/00000.png", "b/copy.png"]]
    assert set(rep.repeated_names) == {"00000.png", "00001.png", "00002.png"}
    assert rep.height_px == (40, 40) and rep.width_px == (60, 60)
    assert rep.white_on_black == pytest.approx(1 / 8)
    runs = {(s.notebook, s.title): (s.runs, s.why) for s in rep.sections}
    assert runs[("05", "kNN and logistic probes vs the geometric baseline")] == (True, "")
    assert runs[("07", "kappa vs temperature")] == (True, "")
    assert runs[("06", "unseen-campaign generalisation")] == (False, "needs >= 2 campaigns")
    assert runs[("01", "extraction of your CPI sheets")][0] is False
    text = str(rep)
    for part in ("labelled folder", "8 images that import (of 9 image files)", "classes (cpi, 2): a 3, b 5",
                 "zero.png: empty file (0 bytes)", "a/00000.png = b/copy.png", "3 file name(s) repeat",
                 "image size: 40-40 px high, 60-60 px wide", "white-on-black share: 12%",
                 "06 skip  unseen-campaign generalisation (needs >= 2 campaigns)"):
        assert part in text, part


def test_check_data_unlabelled_empty_missing(tmp_path, capsys):
    flat = tmp_path / "flat"
    for j in range(3):
        _save(flat / f"{j}.png", _blob(seed=j, white_on_black=True))
    rep = check_data(flat)
    assert rep.kind == "unlabelled flat folder" and rep.n_images == 3 and rep.classes == {}
    assert rep.white_on_black == 1.0
    skipped = {s.title: s.why for s in rep.sections if not s.runs}
    assert skipped["kNN and logistic probes vs the geometric baseline"] == "needs >= 2 labelled classes"
    assert skipped["label-budget study"] == "needs >= 2 labelled classes"
    assert skipped["kappa vs temperature"] == "no temperature_c column"
    assert main(["check-data", str(flat)]) == 0
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "notes.txt").write_text("x")
    assert check_data(empty).n_images == 0 and main(["check-data", str(empty)]) == 2
    out = capsys.readouterr().out
    assert "empty class folder" in out and "notes.txt: not an image file" in out
    assert "importable: no" in out
    assert main(["check-data", str(tmp_path / "nope")]) == 2
    assert main(["check-data", str(flat / "0.png")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().out


def test_check_data_sheets_and_packed(tmp_path, packed_factory):
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    crops = [_blob(30 + 3 * i, 40, seed=i) for i in range(8)]
    Image.fromarray(render_sheet(crops, ["12:00"] * 8, header="h")).save(sheets / "s1.png")
    rep = check_data(sheets)
    assert rep.kind == "CPI sheets" and rep.n_files == 1 and rep.n_images == rep.sheets["s1.png"]["kept"] == 8
    assert {s.title for s in rep.sections if s.runs} >= {"extraction of your CPI sheets", "kappa vs particle size"}
    imgs = np.stack([_blob(S, S, seed=i) for i in range(4)])
    meta = pd.DataFrame({"image_id": list("wxyz"), "split": "train", "source_file": "",
                         "cpi": ["p", "q", "p", "q"], "campaign": ["A", "A", "B", "B"]})
    ds = packed_factory(imgs, meta)
    rep = check_data(ds.root)
    assert rep.kind == "packed dataset" and rep.n_images == 4 and rep.classes == {"cpi": {"p": 2, "q": 2}}
    assert all(s.runs for s in rep.sections if s.notebook == "06" and "temperature" not in s.title)
