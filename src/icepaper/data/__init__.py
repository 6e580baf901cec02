"""Datasets: the packed format, importers for user folders and CPI sheets, splits, torch wrappers.

``load_dataset(cfg)`` is what every notebook calls: the synthetic default dataset at the
profile's size when ``cfg.data`` is empty, the synthetic optical-array-probe (2D-S/PIP) set
at the profile's size for ``"synthetic-oap"``, a packed dataset folder as is, or a user's
image folder / CPI-sheet folder imported (once, cached) into the packed format.
"""

from __future__ import annotations

from pathlib import Path

from .packed import LABEL_SCHEMES, PackedDataset, PackedWriter, is_packed

__all__ = ["LABEL_SCHEMES", "PackedDataset", "PackedWriter", "is_packed", "load_dataset"]


def load_dataset(cfg) -> PackedDataset:
    """The dataset a notebook runs on, built or imported on first use and cached."""
    from icepaper.core import paths
    from icepaper.core.atomic import dir_lock, remove_stale
    from icepaper.core.cache import key_hash

    size = int(cfg.profile.data["image_size"])
    kind = getattr(cfg, "data_kind", "synthetic" if cfg.uses_default_data else "path")
    if kind in ("synthetic", "synthetic-oap"):
        from icepaper.synth import generate

        n = int(cfg.profile.data["n_images"])
        key = {"kind": kind, "n": n, "size": size, "seed": cfg.seed, "generator": _generator_version()}
        if kind == "synthetic-oap":
            from icepaper.synth import OAP_VERSION

            key["oap"] = OAP_VERSION
        root = paths.datasets_dir() / f"{kind}-{n}-{size}px-{key_hash(key)}"
        if not is_packed(root):
            with dir_lock(root):  # a concurrent run builds it once; the other waits and reuses it
                remove_stale(root.parent)  # temporaries of killed builds
                if not is_packed(root):
                    make = generate.generate_dataset if kind == "synthetic" else generate.generate_oap_dataset
                    make(root, n_images=n, image_size=size, seed=cfg.seed)
        return PackedDataset(root)
    src = Path(cfg.data)
    if is_packed(src):
        return PackedDataset(src)
    from .importers import IMPORTER_VERSION, import_any

    key = {"kind": "import", "src": str(src.resolve()), "size": size, "stamp": _tree_stamp(src),
           "importer": IMPORTER_VERSION}
    root = paths.datasets_dir() / f"imported-{src.name}-{size}px-{key_hash(key)}"
    if not is_packed(root):
        with dir_lock(root):
            remove_stale(root.parent)
            if not is_packed(root):
                print(import_any(src, root, image_size=size))  # what was converted, inverted or skipped
    return PackedDataset(root)


def _generator_version() -> str:
    from icepaper.synth import GENERATOR_VERSION

    return GENERATOR_VERSION


def _tree_stamp(src: Path) -> str:
    """Cheap change detector for a user folder: file count, total size and newest mtime."""
    n = size = 0
    newest = 0.0
    for p in src.rglob("*"):
        if p.is_file():
            st = p.stat()
            n += 1
            size += st.st_size
            newest = max(newest, st.st_mtime)
    return f"{n}-{size}-{newest:.0f}"
