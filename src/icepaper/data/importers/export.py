"""Export a packed dataset back to an image folder (and delete a packed dataset)."""


from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from ..destination import EXPORT_MARKER, is_export, writes_destination
from ..packed import PackedDataset
from ..scan import METADATA_FILE
from .common import check_output_writable


def _safe_name(s: str) -> str:
    s = re.sub(r"[^\w.\- ]+", "_", str(s)).strip(" .")
    return s or "_"


@writes_destination("export", src="ds", dest="dest")
def export_folder(ds: PackedDataset, dest, scheme: str | None = "cpi", indices=None) -> Path:
    """Write ``ds`` to ``<dest>/<class>/<image_id>.png`` plus ``<dest>/metadata.csv`` (atomically).

    An id with folders (``a/00000``) is written as nested folders, without repeating the
    class folder it already starts with (``a/00000`` of class ``a`` -> ``a/00000.png``).
    Images without a label in ``scheme`` (or every image when ``scheme`` is None or absent)
    go to the top level of ``dest``, their id's folders joined by ``__`` (a top-level folder
    would read back as a class). ``metadata.csv`` names each file (``file``) and keeps its
    ``image_id``, so ``import_folder(dest, ...)`` reads the folder back with the same ids,
    labels, splits and metadata (``pixel_um`` is the stored pixel size). ``indices``
    restricts the export to some rows. Returns ``dest``.
    """
    from PIL import Image

    from icepaper.core.atomic import atomic_dir

    dest = check_output_writable(dest)
    idx = np.arange(len(ds)) if indices is None else np.asarray(indices, dtype=np.int64)
    meta = ds.meta.iloc[idx].reset_index(drop=True)
    use_scheme = scheme is not None and scheme in meta.columns
    labels = [meta[scheme].iloc[k] if use_scheme else None for k in range(len(meta))]
    files = [_export_path(iid, lab) for iid, lab in zip(meta["image_id"], labels)]
    seen: dict[str, str] = {}
    for iid, f in zip(meta["image_id"], files):
        other = seen.setdefault(f.lower(), str(iid))  # case-insensitive file systems
        if other != str(iid):
            raise ValueError(f"{ds.root}: image ids {other!r} and {iid!r} both become the file {f!r}; "
                             f"cannot export")
    with atomic_dir(dest, replace=is_export) as tmp:
        for i, f in zip(idx, files):
            (tmp / f).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(ds[int(i)])).save(tmp / f)
        out = meta.drop(columns=[c for c in ("source_file",) if c in meta.columns])
        out.insert(0, "file", files)
        out.to_csv(tmp / METADATA_FILE, index=False)
        (tmp / EXPORT_MARKER).write_text(json.dumps({"exported_from": str(ds.root), "n_images": len(idx),
                                                     "scheme": scheme}, indent=2) + "\n")
    return dest


def _export_path(image_id, label) -> str:
    """Relative file path (posix) of one exported image (``export_folder``)."""
    parts = [_safe_name(q) for q in str(image_id).replace("\\", "/").split("/") if q.strip(" .")] or ["_"]
    if isinstance(label, str) and label:
        folder = _safe_name(label)
        if len(parts) > 1 and parts[0] == folder:
            parts = parts[1:]
        return "/".join([folder, *parts]) + ".png"
    return "__".join(parts) + ".png"


def remove_dataset(root) -> None:
    """Delete a packed dataset folder (only if it is one)."""
    from ..packed import is_packed

    if is_packed(root):
        shutil.rmtree(root)
