"""Progress bars for long work: plain-text tqdm on stderr.

``tqdm.auto`` would draw ipywidgets bars, which executed notebooks store as widget state
that GitHub and nbval cannot show (and warns when ipywidgets is missing). Plain bars,
refreshed at most every 2 s, stay readable in papermill outputs and in a terminal.
"""

from __future__ import annotations

from tqdm.std import tqdm as _tqdm


def tqdm(*args, **kwargs) -> _tqdm:
    """``tqdm.tqdm`` with notebook-friendly defaults (refresh every 2 s, 90 columns)."""
    kwargs.setdefault("mininterval", 2.0)
    kwargs.setdefault("ncols", 90)
    return _tqdm(*args, **kwargs)
