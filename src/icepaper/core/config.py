"""Turn a notebook's parameters cell into one run configuration.

Every notebook starts with::

    cfg = icepaper.setup("03_pretraining", profile=profile, seed=seed, data=data, out=out,
                         overrides=overrides)

``overrides`` (``{"pretrain.steps": 600}``; ``{}`` in the parameters cell, filled by
``icepaper run --set pretrain.steps=600``) changes profile values for this run.
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
from .profiles import DRY_RUN, Profile, get_profile, parse_set
from .seeding import seed_everything

#: ``data`` values that name a generated dataset instead of a path, and their kind.
SYNTHETIC_DATA = {"": "synthetic", "synthetic-oap": "synthetic-oap"}

# Fixed metadata so reruns give byte-stable figures where the backend allows.
_PNG_META = {"Software": "icepaper"}
_PDF_META = {"Creator": "icepaper", "Producer": "icepaper", "CreationDate": None}


@dataclass
class RunConfig:
    """Everything a notebook needs: sizes, seed, device, data path and output folders."""

    notebook: str
    profile: Profile
    seed: int
    data: str  # "" = the synthetic default; "synthetic-oap"; else a user folder or packed dataset
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
        """True only for the synthetic CPI-like default dataset (whose ground truth notebooks use)."""
        return not self.data

    @property
    def dry_run(self) -> bool:
        """True on a dry-run profile (``paper-dry``): the paper's code paths with two steps per
        training, so a check of what training achieved (an accuracy above chance) does not apply."""
        return self.profile.name in DRY_RUN.values()

    @property
    def data_kind(self) -> str:
        """``"synthetic"`` (the CPI-like default), ``"synthetic-oap"`` (generated 2D-S/PIP
        images) or ``"path"`` (a user folder, CPI sheets or a packed dataset)."""
        return SYNTHETIC_DATA.get(self.data, "path")

    def save_figure(self, fig, name: str, dpi: int = 130) -> Path:
        """Save ``fig`` as ``<out>/figures/<name>.png`` and ``.pdf`` with fixed metadata.

        ``name`` says which paper figure it reproduces, e.g. ``chu2025_fig01_gallery``. Each
        file is written under a temporary name and renamed, so a killed run leaves no half figure.
        In a notebook the saved PNG is also shown in the cell (whatever the matplotlib backend),
        and the figure is closed so an inline backend does not show it twice. The name is listed
        under ``figures`` in the results JSON.
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
        self.record(figures=sorted({*self.results.get("figures", []), name}))
        _show_in_notebook(fig, png, name)
        return png

    def record(self, **numbers: Any) -> None:
        """Add headline numbers to the results JSON and write it (atomically)."""
        self.results.update(numbers)
        payload = {
            "notebook": self.notebook,
            "profile": self.profile.name,
            "profile_values": self.profile.as_dict(),  # every value of every section, overrides applied
            "overrides": dict(self.profile.overrides),
            "seed": self.seed,
            "data": self.data or "synthetic-default",
            "device": self.device,
            **self.results,
        }
        atomic_write_json(self.results_path, payload)

    def skip(self, section: str, reason: str) -> None:
        """Say in one printed line that ``section`` cannot run on this data and why, and record
        it under ``skipped`` in the results JSON (written with the next ``record``)."""
        print(f"skipped: {section} ({reason})")
        self.results.setdefault("skipped", {})[section] = reason

    def load_results(self, notebook: str) -> dict[str, Any] | None:
        """Results JSON that another notebook wrote in this output folder (or None)."""
        p = self.out / "results" / f"{notebook}.json"
        return json.loads(p.read_text()) if p.exists() else None


def resolve_data(data: str | os.PathLike | None) -> str:
    """A ``data`` parameter as the config keeps it: ``""`` (synthetic default) or a name of
    :data:`SYNTHETIC_DATA` as is, else the absolute path of an existing file or folder
    (FileNotFoundError otherwise). A folder that happens to carry a synthetic name is
    reached as ``./synthetic-oap``.

    >>> resolve_data(None), resolve_data("synthetic-oap")
    ('', 'synthetic-oap')
    >>> Path(resolve_data(".")).is_absolute()
    True
    >>> resolve_data("/no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: data path /no/such/folder does not exist (or name one of the generated datasets: synthetic-oap)
    """
    data = "" if data is None else str(data)
    if data in SYNTHETIC_DATA:
        return data
    p = Path(data).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"data path {p} does not exist (or name one of the generated "
                                f"datasets: {', '.join(k for k in SYNTHETIC_DATA if k)})")
    return str(p.resolve())


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
    overrides: dict[str, Any] | list[str] | None = None,
) -> RunConfig:
    """Validate the parameters, seed everything, set plotting defaults, return the config.

    ``overrides`` maps ``"section.key"`` to a value that replaces the profile's
    (``{"cssl.folds": 3}``); an unknown key or a value of the wrong type is a ValueError."""
    if isinstance(overrides, (list, tuple)):  # ["pretrain.steps=600", ...], as on the command line
        overrides = parse_set(overrides)
    prof = get_profile(profile, overrides)
    data = resolve_data(data)
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


def _show_in_notebook(fig, png: Path, name: str) -> None:
    """Display ``png`` as the cell's output when running in a Jupyter kernel, then close ``fig``."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    display(Image(data=png.read_bytes(), format="png"), metadata={"icepaper_figure": name})
    plt.close(fig)
