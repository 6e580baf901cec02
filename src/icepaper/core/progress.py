"""Progress bars for long work: live in a terminal, one final line in a notebook.

``tqdm.auto`` would draw ipywidgets bars, which executed notebooks store as widget state
that GitHub and nbval cannot show. Plain text bars redrawn every few seconds are no better
in an executed notebook: each redraw is stored, so a cell keeps dozens of stale lines.

So a bar draws live only where its stream is a terminal (``icepaper`` commands in a shell).
Anywhere else (papermill, nbval, a log file) it prints nothing while it runs and one line
when it closes: the finished count, elapsed time and rate. Bars nested inside another
(``leave=False`` or a position below the first) print nothing at all.
``ICEPAPER_PROGRESS=live`` forces live bars, ``ICEPAPER_PROGRESS=off`` silences them.
"""

from __future__ import annotations

import os
import sys

from tqdm.std import tqdm as _tqdm


def _mode(file) -> str:
    forced = os.environ.get("ICEPAPER_PROGRESS", "").strip().lower()
    if forced in ("live", "final", "off"):
        return forced
    stream = file if file is not None else sys.stderr
    try:
        return "live" if stream.isatty() else "final"
    except (AttributeError, ValueError):
        return "final"


class _Bar(_tqdm):
    """tqdm that, outside a terminal, writes only its final state (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        mode = _mode(kwargs.get("file"))
        self._final_only = mode == "final"
        if mode == "off":
            kwargs["disable"] = True
        if self._final_only:
            kwargs["delay"] = float("inf")  # never drawn while running, nothing to clear on close
        super().__init__(*args, **kwargs)

    def close(self) -> None:
        if self.disable:
            return
        top = abs(getattr(self, "pos", 0)) == 0 and self.leave is not False
        line = None
        if self._final_only and top:
            fmt = "{desc}: {n_fmt}/{total_fmt} {unit} in {elapsed} ({rate_fmt})" if self.total else \
                "{desc}: {n_fmt} {unit} in {elapsed} ({rate_fmt})"
            line = self.format_meter(**{**self.format_dict, "bar_format": fmt, "ncols": None})
        super().close()
        if line:
            (self.fp or sys.stderr).write(line.strip() + "\n")


def tqdm(*args, **kwargs) -> _tqdm:
    """``tqdm.tqdm`` with notebook-friendly output: live bars (refresh every 2 s, 90 columns)
    on a terminal, one final line elsewhere."""
    kwargs.setdefault("mininterval", 2.0)
    kwargs.setdefault("ncols", 90)
    return _Bar(*args, **kwargs)
