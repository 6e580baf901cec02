"""Turn a notebook's parameters cell into one run configuration.

Every notebook starts with::

    cfg = icepaper.setup("03_pretraining", profile=profile, seed=seed, data=data, out=out)

``cfg`` carries the profile sizes, the seed, the device, the dataset location and the
output folders, and writes figures (PNG + PDF) and the notebook's results JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .atomic import atomic_write_json
from .profiles import Profile, get_profile
from .seeding import seed_everything

# Fixed metadata so reruns give byte-stable figures where the backend allows.
_PNG_META = {"Software": "icepaper"}
_PDF_META = {"Creator": "icepaper", "Producer": "icepaper", "CreationDate": None}


@dataclass
class RunConfig:
    """Everything a notebook needs: sizes, seed, device, data path and output folders."""

    notebook: str
    profile: Profile
    seed: int
    data: str  # "" = the synthetic default dataset; else a user folder or packed dataset
    out: Path
    device: str
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def figures_dir(self) -> Path:
        return self.out / "figures"

    @property
    def results_path(self) -> Path:
        return self.out / "results" / f"{self.notebook}.json"

    @property
    def uses_default_data(self) -> bool:
        return not self.data

    def save_figure(self, fig, name: str, dpi: int = 130) -> Path:
        """Save ``fig`` as ``<out>/figures/<name>.png`` and ``.pdf`` with fixed metadata.

        ``name`` says which paper figure it reproduces, e.g. ``seed002_fig01_gallery``. Each
        file is written under a temporary name and renamed, so a killed run leaves no half figure.
        """
        import os

        from .atomic import temp_path_for

        self.figures_dir.mkdir(parents=True, exist_ok=True)
        png = self.figures_dir / f"{name}.png"
        for path, kw in ((png, {"dpi": dpi, "metadata": _PNG_META}),
                         (self.figures_dir / f"{name}.pdf", {"metadata": _PDF_META})):
            tmp = temp_path_for(path)
            try:
                fig.savefig(tmp, bbox_inches="tight", **kw)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        return png

    def record(self, **numbers: Any) -> None:
        """Add headline numbers to the results JSON and write it (atomically)."""
        self.results.update(numbers)
        payload = {
            "notebook": self.notebook,
            "profile": self.profile.name,
            "seed": self.seed,
            "data": self.data or "synthetic-default",
            "device": self.device,
            **self.results,
        }
        atomic_write_json(self.results_path, payload)

    def load_results(self, notebook: str) -> dict[str, Any] | None:
        """Results JSON that another notebook wrote in this output folder (or None)."""
        p = self.out / "results" / f"{notebook}.json"
        return json.loads(p.read_text()) if p.exists() else None


def pick_device() -> str:
    """'cuda' when a GPU is visible (and ICEPAPER_DEVICE does not say otherwise), else 'cpu'."""
    env = os.environ.get("ICEPAPER_DEVICE")
    if env:
        return env
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def setup(
    notebook: str,
    profile: str = "default",
    seed: int = 0,
    data: str = "",
    out: str = "",
) -> RunConfig:
    """Validate the parameters, seed everything, set plotting defaults, return the config."""
    prof = get_profile(profile)
    if data:
        p = Path(data).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"data path {p} does not exist")
        data = str(p.resolve())
    out_dir = Path(out).expanduser().resolve() if out else paths.default_out_dir()
    seed_everything(seed)
    _plot_defaults()
    return RunConfig(notebook=notebook, profile=prof, seed=seed, data=data, out=out_dir,
                     device=pick_device())


def _plot_defaults() -> None:
    import matplotlib

    matplotlib.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 130,
            "font.size": 9,
            "axes.titlesize": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "image.cmap": "gray",
            "svg.hashsalt": "icepaper",
        }
    )
