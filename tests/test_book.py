"""make book: the notebooks render to HTML pages with their figures and without test cells."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book)


def test_book_pages_show_figures_and_hide_the_test_cells(tmp_path):
    nb = ROOT / "notebooks" / "00_introduction.ipynb"
    index = book.build(tmp_path, [nb])
    page = (tmp_path / "00_introduction.html").read_text()
    assert index.name == "index.html" and "00_introduction.html" in index.read_text()
    assert "<img" in page  # figures embedded
    assert "NBVAL_CHECK_OUTPUT" in nb.read_text() and "NBVAL_CHECK_OUTPUT" not in page
    assert "contents</a>" in page
