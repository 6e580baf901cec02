"""Every location the package uses, resolved from one place (never the working directory).

``ICEPAPER_HOME`` overrides the data/cache root (default: ``<repo>/data`` when run from a
checkout, else ``~/.cache/icepaper``). The four real CPI sheets ship with the checkout in
``<repo>/data/cpi_sheets`` (``cpi_sheets_dir``); only without them (an installed wheel) is the
shared reference folder used, ``<repo>/../shared`` or ``ICEPAPER_SHARED``.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/icepaper


def repo_root() -> Path | None:
    """The checkout holding this package (``src/icepaper`` layout), or None when installed."""
    root = PACKAGE_DIR.parent.parent
    return root if (root / "pyproject.toml").exists() and (root / "notebooks").is_dir() else None


def data_home() -> Path:
    """Root for generated datasets, imported datasets and the artifact cache."""
    env = os.environ.get("ICEPAPER_HOME")
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    return (root / "data") if root else Path.home() / ".cache" / "icepaper"


def cache_dir() -> Path:
    """Artifact cache (checkpoints, embeddings, ...) keyed by configuration."""
    return data_home() / "cache"


def datasets_dir() -> Path:
    """Packed datasets (generated synthetic sets and imported user folders)."""
    return data_home() / "datasets"


def notebooks_dir() -> Path:
    """The source notebooks of the checkout."""
    root = repo_root()
    if root is None:
        raise FileNotFoundError("the notebooks ship with the repository checkout, not the wheel")
    return root / "notebooks"


def figures_dir() -> Path:
    """The committed figures folder of the checkout."""
    root = repo_root()
    return (root / "figures") if root else Path.cwd() / "figures"


def results_dir() -> Path:
    """The committed results folder of the checkout (each notebook's results JSON from the
    last default-profile run; the README's results table is generated from it)."""
    root = repo_root()
    return (root / "results") if root else Path.cwd() / "results"


def default_out_dir() -> Path:
    """Where a run writes executed notebooks, figures and results by default."""
    root = repo_root()
    return (root / "build" / "run") if root else Path.cwd() / "icepaper-run"


def shared_dir() -> Path:
    """The project's shared reference folder beside the checkout (papers, the original copy of
    the CPI sheets); ``ICEPAPER_SHARED`` overrides it. Not part of the repository."""
    env = os.environ.get("ICEPAPER_SHARED")
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root() or Path.cwd()
    return root.parent / "shared"


def cpi_sheets_dir() -> Path:
    """Folder of the four real CPI sheet PNGs: ``<repo>/data/cpi_sheets`` (committed with the
    checkout, see its README.md), else ``shared_dir()/data/cpi_sheets`` (may not exist)."""
    root = repo_root()
    if root is not None and (root / "data" / "cpi_sheets").is_dir():
        return root / "data" / "cpi_sheets"
    return shared_dir() / "data" / "cpi_sheets"
