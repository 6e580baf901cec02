"""An interactive 2-D embedding map (bokeh): hover a point to see its particle, class,
temperature (°C) and size (µm); click a point to show every particle of its cluster.

``embedding_explorer(xy, images, meta, classes=..., clusters=...)``
    the bokeh layout: the map (coloured by cluster) and a gallery panel beside it. At most
    ``MAX_POINTS`` points are shown, a seeded random sample (``sample_rows``) when there are
    more, so the page stays small (a 48-px WebP thumbnail is about 0.45 kB of base64).
``notebook_view(layout)``
    the layout as one HTML output (an ``<iframe srcdoc>`` page loading BokehJS from its CDN):
    shown by JupyterLab, VS Code and nbconvert's HTML export (``make book``) without any
    extension. Untrusted notebooks (opened from disk, on GitHub) hide it: the static figure
    beside it (``plot_map``, or the notebook's own map) is the copy everybody sees.
``save_explorer(layout, path)``
    a standalone page with BokehJS inlined (works offline; ~1.6 MB plus the thumbnails),
    written atomically, for the run's figures folder (not committed: ``icepaper run`` publishes
    only PNG and PDF figures). ``show(layout, path)`` saves it and returns the notebook view.

Missing metadata (a user folder without ``temperature_c`` or ``dmax_um``) simply drops that
line from the tooltip.
"""

from __future__ import annotations

import base64
import html
import io
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

MAX_POINTS = 2000  # points (thumbnails) shown at most: ~1.2 MB of notebook output at 48 px WebP
THUMB_PX = 48  # thumbnail side (px) in the tooltip and the gallery
THUMB_FORMAT = "webp"  # ~0.45 kB a thumbnail; "png" is ~1.9 kB
GALLERY_MAX = 120  # thumbnails in the gallery of one cluster at most
TOOLTIP_CLASS = "icepaper-tip"  # marks the tooltip template in the page (tests look for it)
VIEW_HEIGHT = 560  # px of the notebook iframe


def sample_rows(n: int, max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted row indices of at most ``max_points`` of ``n`` rows: all of them when they fit,
    else a seeded random sample without replacement (the same for the same ``n`` and seed).

    >>> sample_rows(5).tolist(), len(sample_rows(1000, 600)), sample_rows(10, 3, seed=1).tolist()
    ([0, 1, 2, 3, 4], 600, [3, 4, 7])
    """
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False)).astype(np.int64)


def thumbnail_uri(img: np.ndarray, px: int = THUMB_PX, fmt: str = THUMB_FORMAT) -> str:
    """``data:image/...;base64,...`` of a (H, W) uint8 image resized to ``px`` x ``px`` (Lanczos),
    greyscale, as lossy WebP (quality 80: ~0.45 kB at 48 px, a quarter of a PNG; every current
    browser shows it) or as PNG (``fmt="png"``). The same bytes for the same image.

    >>> thumbnail_uri(np.full((96, 96), 200, np.uint8), fmt="png")[:22]
    'data:image/png;base64,'
    """
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)).resize((px, px), Image.LANCZOS)
    buf = io.BytesIO()
    if fmt == "webp":
        im.save(buf, format="WEBP", quality=80, method=4)
    elif fmt == "png":
        im.save(buf, format="PNG", optimize=True)
    else:
        raise ValueError(f"thumbnail format {fmt!r}: choose 'webp' or 'png'")
    return f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _column(values, meta: pd.DataFrame | None, name: str, n: int) -> np.ndarray | None:
    """``values`` as an array of ``n``, else ``meta[name]`` when present with a value, else None."""
    if values is None and meta is not None and name in meta.columns:
        values = meta[name].to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(values).any():
            return None
    if values is None:
        return None
    values = np.asarray(values)
    if len(values) != n:
        raise ValueError(f"{name}: {len(values)} values for {n} map points")
    return values


def explorer_table(xy: np.ndarray, images, meta: pd.DataFrame | None = None, *,
                   classes: Sequence | None = None, clusters: Sequence | None = None,
                   temperature: Sequence[float] | None = None, size: Sequence[float] | None = None,
                   max_points: int = MAX_POINTS, seed: int = 0, thumb_px: int = THUMB_PX) -> pd.DataFrame:
    """One row per shown point: ``row`` (index into ``xy``), ``x``, ``y``, ``thumb`` (PNG data
    URI, ``thumbnail_uri``), ``cluster`` (str), and ``class``, ``temperature`` (°C), ``size`` where known.

    ``images`` holds one (H, W) uint8 image per row of ``xy`` (an array, or anything with
    ``batch(idx)`` such as a packed dataset opened on exactly those rows). Temperature and
    size default to ``meta["temperature_c"]`` and ``meta["dmax_um"]`` (µm) when those columns
    hold values; clusters default to the classes, else one cluster. At most ``max_points``
    rows (``sample_rows``).
    """
    xy = np.asarray(xy, dtype=float)
    n = len(xy)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"expected (N, 2) map coordinates, got shape {xy.shape}")
    if meta is not None and len(meta) != n:
        raise ValueError(f"meta has {len(meta)} rows for {n} map points")
    cols = {"class": _column(classes, None, "class", n),
            "cluster": _column(clusters, None, "cluster", n),
            "temperature": _column(temperature, meta, "temperature_c", n),
            "size": _column(size, meta, "dmax_um", n)}
    if cols["cluster"] is None:
        cols["cluster"] = cols["class"] if cols["class"] is not None else np.full(n, "all particles")
    rows = sample_rows(n, max_points, seed)
    pics = images.batch(rows) if hasattr(images, "batch") else np.asarray(images)[rows]
    if len(pics) != len(rows):
        raise ValueError(f"{len(pics)} images for {len(rows)} sampled map points")
    out = pd.DataFrame({"row": rows, "x": xy[rows, 0], "y": xy[rows, 1],
                        "thumb": [thumbnail_uri(im, thumb_px) for im in pics]})
    for name, v in cols.items():
        if v is None:
            continue
        v = v[rows]
        out[name] = [str(c) for c in v] if name in ("class", "cluster") else np.asarray(v, dtype=float)
    return out


def cluster_members(clusters: Sequence[str]) -> dict[str, list[int]]:
    """{cluster: positions of its points, in order}, clusters sorted by name.

    >>> cluster_members(["b", "a", "b"])
    {'a': [1], 'b': [0, 2]}
    """
    s = pd.Series(list(clusters), dtype=object)
    return {str(c): s.index[s == c].tolist() for c in sorted(s.unique(), key=str)}


def tooltip_html(columns: Sequence[str], size_unit: str = "µm", thumb_px: int = THUMB_PX) -> str:
    """The hover template: the thumbnail at twice ``thumb_px``, then one line per known field."""
    size_unit = {"um": "µm"}.get(size_unit, size_unit)
    lines = []
    if "class" in columns:
        lines.append("class: <b>@class</b>")
    if "temperature" in columns:
        lines.append("temperature: @temperature{0.0} °C")
    if "size" in columns:
        lines.append(f"size: @size{{0}} {html.escape(size_unit)}")
    lines.append("cluster: @cluster")
    text = "<br>".join(lines)
    return (f'<div class="{TOOLTIP_CLASS}"><img src="@thumb" width="{2 * thumb_px}" height="{2 * thumb_px}" '
            f'style="image-rendering:pixelated;border:1px solid #ccc"><div style="font-size:11px">{text}</div></div>')


# Runs in the browser when a point is clicked: select the point's whole cluster on the map and
# list its thumbnails (captioned with class, temperature and size) in the gallery panel.
GALLERY_JS = """
const d = source.data;
const esc = (v) => String(v).replace(/[&<>"']/g, (ch) => "&#" + ch.charCodeAt(0) + ";");
let hit = source.selected.indices;
if (hit.length === 0 && cb_data && cb_data.geometries) {
  const g = cb_data.geometries; let best = -1, bd = Infinity;
  for (let i = 0; i < d.x.length; i++) {
    const dd = (d.x[i] - g.x) ** 2 + (d.y[i] - g.y) ** 2;
    if (dd < bd) { bd = dd; best = i; }
  }
  hit = best < 0 ? [] : [best];
}
if (hit.length === 0) { return; }
const c = d.cluster[hit[0]];
const idx = members instanceof Map ? members.get(c) : members[c];
source.selected.indices = Array.from(idx);
const caption = (i) => {
  const parts = [];
  if (d["class"] !== undefined) { parts.push(d["class"][i]); }
  if (d.temperature !== undefined && isFinite(d.temperature[i])) { parts.push(d.temperature[i].toFixed(1) + " °C"); }
  if (d.size !== undefined && isFinite(d.size[i])) { parts.push(Math.round(d.size[i]) + " " + size_unit); }
  return esc(parts.join(", "));
};
const counts = {};
if (d["class"] !== undefined) { for (const i of idx) { counts[d["class"][i]] = (counts[d["class"][i]] || 0) + 1; } }
const mix = Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => esc(k) + " " + v).join(", ");
let out = "<b>" + esc(c) + "</b>: " + idx.length + " of the " + d.x.length + " points on the map";
if (idx.length > nmax) { out += " (first " + nmax + " shown)"; }
if (mix) { out += "<br><span style='font-size:11px'>classes: " + mix + "</span>"; }
out += "<div style='display:flex;flex-wrap:wrap;gap:2px;margin-top:4px'>";
for (const i of Array.from(idx).slice(0, nmax)) {
  out += "<img src='" + d.thumb[i] + "' width='" + px + "' height='" + px + "' title='" + caption(i) + "'>";
}
div.text = out + "</div>";
"""


def _palette(n: int) -> list[str]:
    from bokeh.palettes import Category10_10, Category20_20, turbo

    return list(Category10_10[:max(n, 1)] if n <= 10 else Category20_20[:n] if n <= 20 else turbo(n))


def embedding_explorer(xy: np.ndarray, images, meta: pd.DataFrame | None = None, *,
                       classes: Sequence | None = None, clusters: Sequence | None = None,
                       temperature: Sequence[float] | None = None, size: Sequence[float] | None = None,
                       size_unit: str = "µm", title: str = "", max_points: int = MAX_POINTS,
                       seed: int = 0, thumb_px: int = THUMB_PX, xlabel: str = "", ylabel: str = ""):
    """A bokeh ``Row``: the 2-D map ``xy`` coloured by cluster, with a hover tooltip (thumbnail,
    class, temperature in °C, size in ``size_unit``) and a tap tool that selects the clicked
    point's cluster and shows its thumbnails in the gallery panel. Arguments as
    ``explorer_table``; the title says when the points are a sample."""
    from bokeh.layouts import row
    from bokeh.models import ColumnDataSource, CustomJS, Div, HoverTool, Legend, TapTool
    from bokeh.plotting import figure
    from bokeh.transform import factor_cmap

    t = explorer_table(xy, images, meta, classes=classes, clusters=clusters, temperature=temperature,
                       size=size, max_points=max_points, seed=seed, thumb_px=thumb_px)
    n = len(xy)
    shown = f"{len(t)} points" if len(t) == n else f"{len(t)} of {n} points (seeded random sample)"
    members = cluster_members(t["cluster"])
    factors = list(members)
    source = ColumnDataSource(t.drop(columns=["row"]))
    fig = figure(width=500, height=500, title=f"{title} · {shown}" if title else shown,
                 tools="pan,wheel_zoom,box_zoom,reset,save", toolbar_location="above",
                 x_axis_label=xlabel, y_axis_label=ylabel)
    fig.add_layout(Legend(location="top_left", label_text_font_size="8pt"), "right")  # legend_field fills it
    dots = fig.scatter("x", "y", source=source, size=6, alpha=0.8, line_color=None,
                       color=factor_cmap("cluster", _palette(len(factors)), factors),
                       legend_field="cluster", nonselection_alpha=0.15)
    fig.add_tools(HoverTool(renderers=[dots], tooltips=tooltip_html(t.columns, size_unit, thumb_px)))
    gallery = Div(text="<i>Click a point: its cluster is selected on the map and its particles listed here.</i>",
                  width=330, height=500, styles={"overflow-y": "auto"})
    fig.add_tools(TapTool(renderers=[dots], mode="replace", callback=CustomJS(
        args={"source": source, "div": gallery, "members": members, "nmax": GALLERY_MAX,
              "px": thumb_px, "size_unit": {"um": "µm"}.get(size_unit, size_unit)}, code=GALLERY_JS)))
    return row(fig, gallery)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _stable_ids(page: str) -> str:
    """``page`` with bokeh's random element and document UUIDs replaced by ones derived from
    the page's content and their order, so the same explorer gives the same bytes."""
    found = list(dict.fromkeys(_UUID.findall(page)))
    base = uuid.uuid5(uuid.NAMESPACE_URL, _UUID.sub("", page))
    for i, u in enumerate(found):
        page = page.replace(u, str(uuid.uuid5(base, str(i))))
    return page


def explorer_html(layout, title: str = "embedding explorer", inline: bool = False) -> str:
    """A complete HTML page of ``layout``: BokehJS inlined (offline, ~1.5 MB more) when
    ``inline``, else loaded from cdn.bokeh.org. Byte-stable for the same layout."""
    from bokeh.embed import file_html
    from bokeh.resources import CDN, INLINE

    return _stable_ids(file_html(layout, resources=INLINE if inline else CDN, title=title))


def save_explorer(layout, path: str | Path, title: str = "embedding explorer") -> Path:
    """Write ``layout`` as a standalone, offline HTML page at ``path`` (atomically)."""
    from icepaper.core.atomic import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, explorer_html(layout, title, inline=True).encode("utf-8"))
    return path


def notebook_view(layout, height: int = VIEW_HEIGHT, title: str = "embedding explorer"):
    """``IPython.display.HTML``: the explorer page in an ``<iframe srcdoc>`` (BokehJS from the
    CDN), with one line saying what to do when a viewer hides it."""
    from IPython.display import HTML

    page = html.escape(explorer_html(layout, title, inline=False), quote=True)
    note = ("<p style='font-size:11px;color:#666;margin:2px 0'>Interactive map: hover a point for its "
            "particle, click one for its cluster's gallery. Nothing below this line? Run the cell (or "
            "trust the notebook); the static figure shows the same map.</p>")
    return HTML(f'{note}<iframe srcdoc="{page}" style="width:100%;height:{int(height)}px;border:none" '
                f'title="{html.escape(title)}"></iframe>')


def show(layout, path: str | Path, title: str = "embedding explorer", height: int = VIEW_HEIGHT):
    """Save the standalone page at ``path`` (``save_explorer``), say where in one printed line
    (the file name and its folder's name only: no local path in a committed output), and return
    the notebook view (``notebook_view``) to display."""
    path = save_explorer(layout, path, title)
    print(f"explorer saved as {path.parent.name}/{path.name} in the run's output folder "
          f"({path.stat().st_size / 1e6:.1f} MB, works offline)")
    return notebook_view(layout, height, title)


def plot_map(xy: np.ndarray, clusters: Sequence, ax=None, title: str = "", xlabel: str = "", ylabel: str = ""):
    """Static matplotlib copy of the explorer's map: ``xy`` coloured by cluster (legend
    outside); returns the Figure."""
    import matplotlib.pyplot as plt

    xy = np.asarray(xy, dtype=float)
    members = cluster_members([str(c) for c in clusters])
    colors = _palette(len(members))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 4.6))
    for (name, idx), col in zip(members.items(), colors):
        ax.scatter(xy[idx, 0], xy[idx, 1], s=4, color=col, label=f"{name} ({len(idx)})", rasterized=True)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5))
    return ax.figure
