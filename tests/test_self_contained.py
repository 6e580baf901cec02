"""The checkout is self-contained: licence, citation metadata, science notes, real CPI sheets."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_is_mit_as_pyproject_says():
    assert _project()["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 icepaper contributors" in text


def test_citation_cff_parses_and_has_required_keys():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors"):  # required by CFF 1.2.0
        assert cff.get(key), key
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == _project()["version"]
    assert cff["license"] == "MIT"
    refs = cff["references"]
    assert len(refs) == 3
    for ref in refs:
        for key in ("type", "title", "authors"):  # required of a reference
            assert ref.get(key), (key, ref.get("title"))
        assert ref["authors"][0]["family-names"]
    firsts = [(r["authors"][0]["family-names"], r["year"]) for r in refs]
    assert firsts == [("Ko", 2025), ("Chu", 2025), ("Ko", 2024)]
    assert "Habit Diversity" in refs[0]["title"]
    assert "contrastive semi-supervised" in refs[1]["title"]
    assert "in situ Imagery" in refs[2]["title"]


def _cited_texts():
    """(file, text) of every source file and notebook cell a reader sees."""
    for path in sorted((ROOT / "src").rglob("*.py")):
        yield path, path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            yield path, "".join(cell["source"])


def test_science_notes_live_in_the_repo_and_every_citation_points_at_a_section():
    notes = (ROOT / "docs" / "science.md").read_text(encoding="utf-8")
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", notes, flags=re.M)}
    assert sections == {1, 2, 3, 4, 5, 6}
    assert "../papers/" not in notes  # the papers are not in the repository
    cited = 0
    for path, text in _cited_texts():
        flat = re.sub(r"\s+", " ", text)
        # every mention of the notes names the in-repo file ...
        for m in re.finditer(r"(\S*)science(?:\.md| notes)", flat):
            assert m.group(1).endswith("docs/"), f"{path.name}: {flat[m.start():m.end() + 20]!r}"
        # ... and a section that exists
        for m in re.finditer(r"docs/science\.md\s*((?:§\d+(?: and )?)+)", flat):
            for n in re.findall(r"\d+", m.group(1)):
                assert int(n) in sections, f"{path.name}: {m.group(0)!r}"
                cited += 1
    assert cited >= 10


def test_cpi_sheets_ship_with_the_repo(monkeypatch, tmp_path):
    from icepaper.core import paths

    monkeypatch.setenv("ICEPAPER_SHARED", str(tmp_path / "nowhere"))  # the repo copy wins
    sheets = paths.cpi_sheets_dir()
    assert sheets == ROOT / "data" / "cpi_sheets"
    assert sorted(p.name for p in sheets.glob("*.png")) == [
        "2002_0707_194848_345.png", "CP20080331_200925_841.png",
        "CP20140422_210541_345.png", "CP20140422_212000_170.png"]
    assert (sheets / "README.md").is_file()


def test_cpi_sheets_are_not_git_ignored():
    """``/data/*`` is ignored; ``data/cpi_sheets`` must be re-included, caches must not."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = ["data/cpi_sheets/CP20140422_212000_170.png", "data/cpi_sheets/README.md",
             "data/cache/x", "data/datasets/y"]
    out = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=ROOT,
                         capture_output=True, text=True).stdout.split()
    assert out == ["data/cache/x", "data/datasets/y"]


# ----------------------------------------------------------------- teaching documents (issue 15)

TEACHING_DOCS = ("workshop.md", "glossary.md")
FIGURE_NAME = re.compile(r"\b(?:ko2025|chu2025|ko2024|intro)_[A-Za-z0-9_]+")  # figA1: capitals too


def _saved_figure_names() -> tuple[set[str], set[str]]:
    """(names, prefixes) of the figure-name strings in the notebooks and the package.

    A string literal is a full name; the constant part before an f-string field or a ``+``
    (``f"chu2025_fig{...}"``, ``"ko2024_fig_vae2d_spheres_vs_rosettes_" + name``) is a prefix.
    """
    texts = ["".join(c["source"]) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
             for c in json.loads(p.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "src" / "icepaper").rglob("*.py"))]
    names, prefixes = set(), set()
    for text in texts:
        for m in re.finditer(r"""(f?)["']((?:ko2025|chu2025|ko2024|intro)_[A-Za-z0-9_]*)(["'{])(\s*\+)?""", text):
            if m.group(3) == "{" or m.group(4):
                prefixes.add(m.group(2))
            else:
                names.add(m.group(2))
    return names, prefixes


@pytest.mark.parametrize("doc", TEACHING_DOCS)
def test_teaching_docs_name_only_what_exists(doc):
    path = ROOT / "docs" / doc
    assert path.is_file(), f"docs/{doc} is missing"
    text = path.read_text(encoding="utf-8")
    notebooks = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    for name in set(re.findall(r"\b\d\d_[a-z0-9_]+\.ipynb", text)):
        assert name in notebooks, f"docs/{doc} names {name}, which is not in notebooks/"
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", makefile, flags=re.M))
    flat = re.sub(r"\s+", " ", text)  # a command may be broken across lines
    commands = set(re.findall(r"`make ([a-z][\w-]*)", flat))
    assert commands, f"docs/{doc} names no make target in backquotes"
    for target in commands:
        assert target in targets, f"docs/{doc} mentions `make {target}`, not a Makefile target"
    names, prefixes = _saved_figure_names()
    assert names and prefixes
    figures = set(FIGURE_NAME.findall(text))
    assert doc != "workshop.md" or len(figures) >= 20, "the workshop plan should name the key figures"
    for fig in figures:
        ok = fig in names or any(fig.startswith(p) and len(fig) > len(p) for p in prefixes)
        assert ok, f"docs/{doc} names figure {fig}, which no notebook saves"


def test_teaching_docs_are_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in TEACHING_DOCS:
        assert f"(docs/{doc})" in readme
