"""Artifact cache keyed by the configuration that produced each artifact.

``cached_dir(kind, key, build)`` returns ``<cache>/<kind>/<hash(key)>/``; if that folder
is missing it calls ``build(tmp_dir)`` and renames the result into place atomically, so a
notebook run alone computes exactly what it needs and a rerun reuses what is up to date.
The key is stored beside the artifact as ``key.json``. Two processes building the same
artifact take turns (``dir_lock``): the second waits and then reuses the first one's result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import paths
from .atomic import atomic_dir, dir_lock, remove_stale

CACHE_VERSION = 1  # bump to invalidate every artifact after an incompatible code change


def key_hash(key: dict[str, Any]) -> str:
    """Stable 16-hex-digit hash of a JSON-serialisable key."""
    blob = json.dumps({"v": CACHE_VERSION, **key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_path(kind: str, key: dict[str, Any], root: Path | None = None) -> Path:
    """Folder where the artifact of ``kind`` built from ``key`` lives (may not exist yet)."""
    return Path(root or paths.cache_dir()) / kind / key_hash(key)


def cached_dir(
    kind: str,
    key: dict[str, Any],
    build: Callable[[Path], None],
    root: Path | None = None,
) -> Path:
    """Return the artifact folder for ``key``, building it with ``build(tmp)`` when missing."""
    final = cache_path(kind, key, root)
    if (final / "key.json").exists():
        return final
    with dir_lock(final):
        if (final / "key.json").exists():  # built by another process while we waited
            return final
        remove_stale(final.parent)  # temporaries of killed builds of any key of this kind
        # a folder without key.json at this path is an unfinished artifact: replace it
        with atomic_dir(final, replace=True) as tmp:
            build(tmp)
            (tmp / "key.json").write_text(json.dumps(key, indent=2, sort_keys=True, default=str))
    return final
