"""Every location the package uses, resolved from one place (never the working directory).

``ICEPAPER_HOME`` overrides the data/cache root (default: ``<repo>/data`` when run from a
checkout, else ``~/.cache/icepaper``). ``ICEPAPER_SHARED`` overrides the folder that holds
the real CPI sheets (default: ``<repo>/../shared``).
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
    """The shared folder beside the checkout (papers, real CPI sheets)."""
    env = os.environ.get("ICEPAPER_SHARED")
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root() or Path.cwd()
    return root.parent / "shared"


def cpi_sheets_dir() -> Path:
    """Folder of real CPI sheet PNGs (may not exist)."""
    return shared_dir() / "data" / "cpi_sheets"
