"""Progress bars: one final line outside a terminal, none for nested bars, none when off."""

import io

from icepaper.core.progress import tqdm


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_outside_a_terminal_a_bar_writes_one_final_line(monkeypatch):
    monkeypatch.delenv("ICEPAPER_PROGRESS", raising=False)
    out = _Pipe()
    for _ in tqdm(range(3), desc="outer", file=out, unit="img"):
        for _ in tqdm(range(50), desc="inner", file=out, leave=False):
            pass
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("outer: 3/3 img in ")
    assert "\r" not in out.getvalue() and "inner" not in out.getvalue()


def test_an_unfinished_bar_says_how_far_it_got(monkeypatch):
    monkeypatch.delenv("ICEPAPER_PROGRESS", raising=False)
    out = _Pipe()
    with tqdm(total=5, desc="ctx", file=out) as bar:
        bar.update(2)
    assert out.getvalue().startswith("ctx: 2/5 ")


def test_a_terminal_gets_a_live_bar(monkeypatch):
    monkeypatch.delenv("ICEPAPER_PROGRESS", raising=False)
    out = _Terminal()
    for _ in tqdm(range(3), desc="live", file=out, mininterval=0):
        pass
    assert out.getvalue().count("\r") >= 2  # redrawn in place


def test_progress_off_and_disable_write_nothing(monkeypatch):
    out = _Pipe()
    monkeypatch.setenv("ICEPAPER_PROGRESS", "off")
    for _ in tqdm(range(3), file=out):
        pass
    monkeypatch.delenv("ICEPAPER_PROGRESS")
    for _ in tqdm(range(3), file=out, disable=True):
        pass
    assert out.getvalue() == ""
