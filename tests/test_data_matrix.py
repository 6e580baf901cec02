"""Real-data test matrix: the notebooks run to their end (smoke profile) on every kind of data
a cloud-physics group brings, not only on the synthetic default.

Kinds: a labelled ImageFolder whose file names repeat across class folders, an unlabelled
flat folder, the real CPI sheets of ``data/cpi_sheets``, a packed dataset,
synthetic optical-array-probe (OAP) images written white on black, and 16-bit TIFFs.
``MATRIX`` says which notebooks run on which kind; every notebook meets several kinds,
labelled and unlabelled, and the whole matrix fits the CI budget (see README).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from icepaper.core import paths
from icepaper.core.runner import run_notebooks

pytestmark = pytest.mark.slow

# kind -> notebooks run on it (03 pretrains the networks that 04-07 read from the cache;
# 00 uses built-in examples whatever the data, so one kind is enough). Each notebook meets a
# labelled and an unlabelled kind where it reads labels (on unlabelled data 05 and 06 say what
# they skip); kinds in the synthetic packed format run only what nbval does not already cover
# (the whole matrix costs about 10 minutes of the CI budget, see README).
MATRIX = {
    "imagefolder_repeated_names": "01,03,05",
    "unlabelled_flat": "01,03,04,05,06,07",
    "cpi_sheets": "01,03,04,07",
    "packed": "02,08",
    "oap_white_on_black": "01,02,03,05,06,07",
    "tiff16": "00,01,02",
}
LABELLED = {"imagefolder_repeated_names", "packed", "oap_white_on_black", "tiff16"}


def _rois(n: int, seed: int):
    from icepaper.synth.generate import generate_rois

    imgs, meta = generate_rois(n, seed=seed, artefact_rate=0.0)
    keep = meta["cpi"].notna().to_numpy()
    return [im for im, k in zip(imgs, keep) if k], meta[keep].reset_index(drop=True)


def _imagefolder(root: Path, n: int, seed: int, fmt: str = "png", bits: int = 8) -> Path:
    """``root/<cpi class>/00000.<fmt>``: names restart in every class folder (ImageFolder)."""
    imgs, meta = _rois(n, seed)
    counts: dict[str, int] = {}
    for im, cls in zip(imgs, meta["cpi"]):
        k = counts[cls] = counts.get(cls, -1) + 1
        (root / cls).mkdir(parents=True, exist_ok=True)
        if bits == 16:  # 12-bit camera data in a 16-bit container
            Image.fromarray(im.astype(np.uint16) * 16).save(root / cls / f"{k:05d}.{fmt}")
        else:
            Image.fromarray(im).save(root / cls / f"{k:05d}.{fmt}")
    return root


def _build(kind: str, base: Path) -> str:
    root = base / kind
    if kind == "imagefolder_repeated_names":
        return str(_imagefolder(root, 360, seed=1))
    if kind == "tiff16":
        return str(_imagefolder(root, 300, seed=2, fmt="tif", bits=16))
    if kind == "unlabelled_flat":
        imgs, _ = _rois(300, seed=3)
        root.mkdir(parents=True)
        for i, im in enumerate(imgs):
            Image.fromarray(im).save(root / f"crop_{i:05d}.png")
        return str(root)
    if kind == "cpi_sheets":
        sheets = paths.cpi_sheets_dir()
        if not sheets.is_dir():
            pytest.skip(f"real CPI sheets not found at {sheets}")
        return str(sheets)
    if kind == "packed":
        from icepaper.synth.generate import generate_dataset

        generate_dataset(root, n_images=400, image_size=64, seed=4, workers=1)
        return str(root)
    if kind == "oap_white_on_black":
        from icepaper.synth.generate import write_oap_folder

        return str(write_oap_folder(root, 420, seed=5, metadata=False))
    raise KeyError(kind)


@pytest.mark.parametrize("kind", list(MATRIX))
def test_notebooks_run_on(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    data = _build(kind, tmp_path / "data")
    out = tmp_path / "run"
    lines: list[str] = []
    res = run_notebooks("smoke", data=data, out=out, only=MATRIX[kind], publish=False, echo=lines.append)
    assert [r.status for r in res] == ["ok"] * len(res), "\n".join(lines)
    for r in res:
        results = json.loads((out / "results" / f"{r.name}.json").read_text())
        assert results["data"] == data
        skipped = results.get("skipped", {})
        if r.name[:2] in ("05", "06") and kind not in LABELLED:
            assert any("label" in why for why in skipped.values()), (r.name, skipped)
        if r.name[:2] == "05" and kind in LABELLED:
            assert not any("label" in why for why in skipped.values()), (r.name, skipped)
    executed = sorted(p.name for p in (out / "notebooks").glob("*.ipynb"))
    assert len(executed) == len(res)
