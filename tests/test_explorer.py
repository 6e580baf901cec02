"""The interactive embedding explorer (notebooks 05 and 07): hover template, capped thumbnails,
missing metadata, the cluster gallery's callback, the atomic standalone page, the book export."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icepaper.representations import explorer as ex

ROOT = Path(__file__).resolve().parents[1]


def _data(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 24, 24), dtype=np.uint8)
    xy = rng.normal(size=(n, 2))
    meta = pd.DataFrame({"temperature_c": rng.uniform(-40, 0, n), "dmax_um": rng.uniform(20, 800, n)})
    classes = np.array(["plate", "column", "rosette"], dtype=object)[np.arange(n) % 3]
    clusters = np.array(["cluster 01", "cluster 02"], dtype=object)[(np.arange(n) // 5) % 2]
    return xy, images, meta, classes, clusters


def _strings(page: str) -> set[str]:
    """Every string in the bokeh document embedded in ``page`` (its JSON script, unescaped)."""
    import html

    (blob,) = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, flags=re.S)
    found: set[str] = set()

    def walk(o):
        if isinstance(o, str):
            found.add(o)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(json.loads(html.unescape(blob)))
    return found


def _tap_callback(layout):
    from bokeh.models import TapTool

    fig = layout.children[0]
    (tap,) = [t for t in fig.tools if isinstance(t, TapTool)]
    return tap.callback


def test_sample_rows_is_capped_sorted_and_seeded():
    a = ex.sample_rows(5000, 300, seed=3)
    assert len(a) == 300 and np.all(np.diff(a) > 0) and a.max() < 5000
    assert np.array_equal(a, ex.sample_rows(5000, 300, seed=3))
    assert not np.array_equal(a, ex.sample_rows(5000, 300, seed=4))
    assert ex.sample_rows(7, 300).tolist() == list(range(7))


def test_page_holds_the_tooltip_template_and_one_thumbnail_per_capped_point():
    xy, images, meta, classes, clusters = _data(40)
    layout = ex.embedding_explorer(xy, images, meta, classes=classes, clusters=clusters, max_points=25, seed=1)
    page = ex.explorer_html(layout)
    tip = ex.tooltip_html(["class", "temperature", "size"])
    assert tip in _strings(page)  # the whole hover template, as the browser receives it
    for line in ('<img src="@thumb"', "class: <b>@class</b>", "temperature: @temperature{0.0} °C", "size: @size{0} µm"):
        assert line in tip, line
    assert len(re.findall(r"data:image/webp;base64,", page)) == 25  # the cap, not the 40 points
    assert "25 of 40 points (seeded random sample)" in page
    assert page == ex.explorer_html(layout)  # bokeh's random ids made stable: reruns give the same bytes


def test_table_rows_follow_the_sample_and_the_images():
    xy, images, meta, classes, clusters = _data(40)
    t = ex.explorer_table(xy, images, meta, classes=classes, clusters=clusters, max_points=10, seed=2)
    rows = ex.sample_rows(40, 10, seed=2)
    assert t["row"].tolist() == rows.tolist()
    assert np.allclose(t[["x", "y"]].to_numpy(), xy[rows])
    assert t["temperature"].tolist() == meta["temperature_c"].to_numpy()[rows].tolist()
    assert t["thumb"].iloc[0] == ex.thumbnail_uri(images[rows[0]])
    # anything with batch(idx), e.g. a packed dataset opened on exactly these rows
    batcher = type("B", (), {"batch": lambda self, idx: images[np.asarray(idx)]})()
    assert ex.explorer_table(xy, batcher, meta, max_points=10, seed=2)["thumb"].tolist() == t["thumb"].tolist()


def test_missing_or_empty_temperature_and_size_drop_their_tooltip_lines():
    xy, images, meta, classes, clusters = _data(12)
    for m in (meta.drop(columns=["temperature_c", "dmax_um"]), meta.assign(temperature_c=np.nan, dmax_um=np.nan),
              None):
        t = ex.explorer_table(xy, images, m, classes=classes, clusters=clusters)
        assert "temperature" not in t.columns and "size" not in t.columns
        page = ex.explorer_html(ex.embedding_explorer(xy, images, m, classes=classes, clusters=clusters))
        assert ex.tooltip_html(["class"]) in _strings(page)
        assert "@temperature" not in page and "@size" not in page
    # no classes and no clusters: one cluster holding every point
    t = ex.explorer_table(xy, images)
    assert set(t["cluster"]) == {"all particles"} and "class" not in t.columns
    with pytest.raises(ValueError, match="meta has 5 rows for 12"):
        ex.explorer_table(xy, images, meta.iloc[:5])


def test_gallery_callback_holds_each_clusters_point_indices():
    xy, images, meta, classes, clusters = _data(40)
    layout = ex.embedding_explorer(xy, images, meta, classes=classes, clusters=clusters, max_points=30, seed=0)
    cb = _tap_callback(layout)
    members, source = cb.args["members"], cb.args["source"]
    shown = list(source.data["cluster"])
    assert len(shown) == 30 and sorted(members) == ["cluster 01", "cluster 02"]
    assert sorted(i for idx in members.values() for i in idx) == list(range(30))
    for c, idx in members.items():
        assert idx and all(shown[i] == c for i in idx)
    assert cb.args["div"] is layout.children[1] and "members" in cb.code and "div.text" in cb.code


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the callback's JavaScript")
def test_gallery_javascript_selects_the_clicked_points_cluster():
    data = {"x": [0, 1, 2, 3], "y": [0, 1, 2, 3], "cluster": ["a", "b", "a", "b"], "class": ["P<", "Q", "P<", "P<"],
            "temperature": [-10.0, -1.0, -5.0, -3.0], "thumb": ["t0", "t1", "t2", "t3"]}
    js = f"""
const source = {{data: {json.dumps(data)}, selected: {{indices: [1]}}}};
const div = {{text: ""}};
const f = new Function("source", "div", "members", "nmax", "px", "size_unit", "cb_obj", "cb_data", {json.dumps(ex.GALLERY_JS)});
f(source, div, {{a: [0, 2], b: [1, 3]}}, 1, 48, "µm", null, {{}});
const first = {{sel: source.selected.indices, text: div.text}};
source.selected.indices = [];  // no selection: the point nearest the click
f(source, div, new Map([["a", [0, 2]], ["b", [1, 3]]]), 10, 48, "µm", null, {{geometries: {{x: 0.1, y: 0.2}}}});
console.log(JSON.stringify([first, {{sel: source.selected.indices, text: div.text}}]));
"""
    out = subprocess.run(["node", "-e", js], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = json.loads(out.stdout)
    assert first["sel"] == [1, 3] and "<b>b</b>: 2 of the 4 points" in first["text"]
    assert "(first 1 shown)" in first["text"] and first["text"].count("<img") == 1
    assert second["sel"] == [0, 2] and second["text"].count("<img") == 2
    assert "P&#60; 2" in second["text"] and "-10.0 °C" in second["text"]  # class names escaped


def test_standalone_page_is_inline_and_written_atomically(tmp_path, monkeypatch):
    xy, images, meta, classes, clusters = _data(8)
    layout = ex.embedding_explorer(xy, images, meta, classes=classes, clusters=clusters)
    path = ex.save_explorer(layout, tmp_path / "figures" / "x_explorer.html")
    page = path.read_text(encoding="utf-8")
    assert "cdn.bokeh.org" not in page and ex.TOOLTIP_CLASS in page and len(page) > 1_000_000  # BokehJS inlined
    assert os.listdir(path.parent) == ["x_explorer.html"]

    import icepaper.core.atomic as atomic

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        ex.save_explorer(ex.embedding_explorer(xy[:4], images[:4]), path)
    assert path.read_text(encoding="utf-8") == page  # the old page is untouched
    assert os.listdir(path.parent) == ["x_explorer.html"]  # and no temporary file is left


def test_notebook_view_survives_the_html_book_export(tmp_path):
    """The output a notebook stores (an iframe page) goes through nbconvert into the book with
    the plot's script and data, and the book points at a local copy of BokehJS."""
    import nbformat

    xy, images, meta, classes, clusters = _data(10)
    view = ex.notebook_view(ex.embedding_explorer(xy, images, meta, classes=classes, clusters=clusters))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Explorer"), nbformat.v4.new_code_cell(
        "view", outputs=[nbformat.v4.new_output("display_data", data={"text/html": view.data,
                                                                         "text/plain": "<HTML>"})])]
    src = tmp_path / "99_explorer.ipynb"
    nbformat.write(nb, src)
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(book)
    book.build(tmp_path / "book", [src])
    page = (tmp_path / "book" / "99_explorer.html").read_text()
    assert "<iframe srcdoc=" in page and ex.TOOLTIP_CLASS in page and "Bokeh.embed.embed_items" in page
    assert page.count("data:image/webp;base64,") == 10
    import bokeh

    assert f"bokehjs/bokeh-{bokeh.__version__}.min.js" in page and "cdn.bokeh.org" not in page
    assert (tmp_path / "book" / "bokehjs" / f"bokeh-widgets-{bokeh.__version__}.min.js").is_file()


def test_static_map_has_one_legend_entry_per_cluster():
    xy, _, _, _, clusters = _data(40)
    fig = ex.plot_map(xy, clusters, title="t")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["cluster 01 (20)", "cluster 02 (20)"]
    import matplotlib.pyplot as plt

    plt.close(fig)
