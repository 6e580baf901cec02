"""What readers see in the committed notebooks: every saved figure shown inline, no progress-bar
redraws, no absolute paths of the machine that ran them."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ABSOLUTE = re.compile(r"(?<![\w.~])/(home|root|tmp|work|Users|private|var|mnt|scratch)/")


def _outputs(nb):
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            yield i, out


def _texts(out) -> list[str]:
    t = [out.get("text", "")] + [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return ["".join(x) if isinstance(x, list) else str(x) for x in t]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_saved_figure_is_shown_in_the_notebook(path):
    results = ROOT / "results" / f"{path.stem}.json"
    assert results.exists(), f"{results.name}: no committed results JSON (run `make paper`)"
    saved = json.loads(results.read_text()).get("figures", [])
    shown = {out.get("metadata", {}).get("icepaper_figure") for _, out in _outputs(json.loads(path.read_text()))}
    missing = [f for f in saved if f not in shown]
    assert not missing, f"{path.name} saves but does not show: {missing}"
    for f in saved:
        assert (ROOT / "figures" / f"{f}.png").exists(), f"figures/{f}.png (saved by {path.name}) is not committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_hold_no_progress_redraws_or_absolute_paths(path):
    for i, out in _outputs(json.loads(path.read_text())):
        for text in _texts(out):
            assert "\r" not in text and "\x1b[" not in text, f"{path.name} cell {i}: a progress-bar redraw"
            m = ABSOLUTE.search(text)
            assert m is None, f"{path.name} cell {i}: absolute path {text[max(0, m.start() - 20):m.end() + 40]!r}"


def test_every_committed_figure_has_a_producer():
    made = set()
    for p in (ROOT / "results").glob("*.json"):
        made |= set(json.loads(p.read_text()).get("figures", []))
    orphans = sorted(p.stem for p in (ROOT / "figures").glob("*.png") if p.stem not in made)
    assert not orphans, f"figures/ holds files no notebook wrote in its last run: {orphans[:5]}"
