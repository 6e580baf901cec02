"""Render the committed notebooks, in order, to a static HTML book (``make book``).

    python tools/build_book.py               # -> build/book/index.html
    python tools/build_book.py --out DIR

Each notebook becomes one page (nbconvert's HTML exporter, figures embedded) without the test
scaffolding (cells tagged ``remove-cell``: the nbval checks and the assertion cells) and without
papermill's injected-parameters cell; ``index.html`` lists the pages in reading order with each
notebook's title, and links the previous and next page. Nothing is executed: the book shows
the outputs of the last ``make paper`` run. The interactive embedding maps (bokeh) load
BokehJS from its CDN; when the installed bokeh is the version they name, its files are copied
into ``bokehjs/`` beside the pages and the pages point there, so the book also works offline.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = {"remove-cell", "injected-parameters"}
BOKEH_CDN = re.compile(r"https://cdn\.bokeh\.org/bokeh/release/(bokeh(?:-[a-z]+)*)-(\d[\w.]*)\.min\.js")


def title_of(nb: dict, fallback: str) -> str:
    """The first markdown heading of ``nb`` (without the leading #s), else ``fallback``."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def render(path: Path) -> tuple[str, str]:
    """(title, HTML page) of the notebook at ``path``, hidden cells left out."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    nb = nbformat.read(path, as_version=4)
    c = Config()
    c.TagRemovePreprocessor.remove_cell_tags = HIDDEN
    c.TagRemovePreprocessor.enabled = True
    exporter = HTMLExporter(config=c)
    exporter.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    return title_of(json.loads(path.read_text()), path.stem), body


def localise_bokeh(page: str, out: Path) -> str:
    """``page`` with every BokehJS CDN address of the installed bokeh version replaced by a copy
    in ``out/bokehjs/`` (copied once); other versions, or no bokeh, keep the CDN address."""
    try:
        import bokeh
    except ImportError:
        return page
    static = Path(bokeh.__file__).parent / "server" / "static" / "js"

    def local(m: re.Match) -> str:
        src = static / f"{m.group(1)}.min.js"
        if m.group(2) != bokeh.__version__ or not src.is_file():
            return m.group(0)
        dest = out / "bokehjs" / f"{m.group(1)}-{m.group(2)}.min.js"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        return f"bokehjs/{dest.name}"

    return BOKEH_CDN.sub(local, page)


def _nav(pages: list[tuple[str, str]], i: int) -> str:
    links = ['<a href="index.html">contents</a>']
    if i > 0:
        links.insert(0, f'<a href="{pages[i - 1][0]}.html">&larr; {html.escape(pages[i - 1][1])}</a>')
    if i + 1 < len(pages):
        links.append(f'<a href="{pages[i + 1][0]}.html">{html.escape(pages[i + 1][1])} &rarr;</a>')
    return '<nav style="font-family:sans-serif;margin:1em">' + " | ".join(links) + "</nav>"


def build(out: Path, notebooks: list[Path] | None = None) -> Path:
    """Write the book into ``out`` and return the path of its first page (``index.html``)."""
    notebooks = notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SystemExit(f"no notebooks found under {ROOT / 'notebooks'}")
    out.mkdir(parents=True, exist_ok=True)
    rendered = [(p.stem, *render(p)) for p in notebooks]
    pages = [(stem, title) for stem, title, _ in rendered]
    for i, (stem, _title, body) in enumerate(rendered):
        nav = _nav(pages, i)
        body = localise_bokeh(body.replace("</body>", nav + "</body>", 1), out)
        head_end = body.find(">", body.find("<body")) + 1
        (out / f"{stem}.html").write_text(body[:head_end] + nav + body[head_end:])
    items = "\n".join(f'<li><a href="{s}.html">{html.escape(t)}</a> <code>{s}.ipynb</code></li>' for s, t in pages)
    index = out / "index.html"
    index.write_text(f"""<!doctype html><html><head><meta charset="utf-8"><title>icepaper</title></head>
<body style="font-family:sans-serif;max-width:50em;margin:2em auto">
<h1>icepaper: self-supervised learning on ice-crystal images</h1>
<p>The notebooks in reading order, with the outputs of the last <code>make paper</code> run
(default profile). Ko et al. 2025, Chu et al. 2025 and Ko 2024 reproduced at CPU scale; see the
README's results table for which findings hold here.</p>
<ol>
{items}
</ol></body></html>
""")
    return index


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "book")
    args = ap.parse_args(argv)
    print(f"book: {build(args.out).relative_to(ROOT) if args.out.is_relative_to(ROOT) else build(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
