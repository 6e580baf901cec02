"""Import user data into the packed format, and export a packed dataset back to a folder.

``import_folder``   an image folder: ``<src>/<class>/<image>`` (labelled; ImageFolder),
                    ``<src>/<class>/<sub>/.../<image>`` (nested: the first-level folder is the
                    class) or ``<src>/<image>`` (unlabelled), any-case png/jpg/jpeg/tif/tiff/
                    bmp/gif, with an optional ``<src>/metadata.csv``. An image's id is its path
                    relative to ``src`` without extension (``a/00000``; ``icepaper.data.scan``),
                    so file names may repeat across class folders.
``import_sheets``   a folder of CPI sheet PNGs: every particle is cropped out and measured
                    (``icepaper.data.sheets``).
``import_any``      picks one of the two (what ``load_dataset`` calls for ``data=PATH``).
``export_folder``   a packed dataset -> ``<dest>/<class>/<image_id>.png`` + ``metadata.csv``.

Images of any mode and shape are converted as ``icepaper.data.images`` describes: grey
uint8, dark particle on a bright background (``polarity``), letterboxed to a square with
their own background level and resized to ``image_size``. ``pixel_um`` of a stored image
is the original um/px (``metadata.csv`` column or the ``pixel_um`` argument; NA if unknown)
times (longer original side / image_size); ``source_px`` is that longer side (px), so sizes
measured on a stored image convert back to pixels of the original file.

metadata.csv
    One row per image, keyed by the first ``file``/``filename``/``file_name``/``path``/
    ``filepath``/``relative_path`` column present, else by ``image_id``. A key is the
    image's path relative to ``src`` (extension optional, ``\\`` or ``/``, leading folders
    such as an absolute path to ``src`` allowed) or a plain file name that is unique in the
    tree (``scan.match_keys``); a plain name shared by several images is bad input naming
    the row and the files. With a file column, an ``image_id`` column gives the images' ids
    (what ``export_folder`` writes). Any other columns are kept, e.g. labels per scheme
    (``habit19``, ``habit4``, ``cpi``), ``campaign``, ``instrument``, ``temperature_c``
    (deg C), ``supersaturation``, ``dmax_um``, ``pixel_um`` (um per pixel of the original
    file) and ``split`` (train/val/test; assigned with ``assign_splits`` when absent).
    The class folder gives the label of ``label_scheme`` (default ``"cpi"``; pass e.g.
    ``"habit19"`` for HOLIMO classes); a metadata label that disagrees with the folder
    is bad input.

Bad input
    Every problem is reported with the file it concerns: unreadable, zero-byte,
    truncated or non-image files, folders named like images, broken links, symlink
    loops, empty class folders, images over ``images.MAX_PIXELS`` (20000 x 20000) or
    under ``images.MIN_SIDE`` (4 px on the longer side), metadata rows without an image,
    images without a row, duplicate or ambiguous rows, NaN or implausible temperatures,
    non-numeric metadata, duplicate image ids (``a/x.png`` beside ``a/x.jpg``), a
    nonexistent input path, an unwritable output folder. Mixed modes (RGB, RGBA,
    palette, 16-bit) are converted and counted in the report, a single class and blank
    (single-level) images are warnings, not errors. ``plan_folder`` runs every check
    without writing (``icepaper check-data`` uses it).
    ``on_error="fail"`` (default) checks everything -- every image is decoded -- before
    anything is written and raises ``BadInputError`` listing all problems;
    ``on_error="skip"`` imports the rest and lists what it skipped and why in the
    ``ImportReport``. Writing goes through ``PackedWriter``: the dataset appears under
    its final name only when complete.

Output folder (``icepaper.data.destination``)
    Imports and exports refuse an output that is the input, inside it or contains it, and
    a non-empty output folder they did not write. Replacing an existing packed dataset (or
    export folder) needs ``overwrite=True`` (``--overwrite``); the old one stays until the
    new one is complete. Two writers of one output take turns (a lock beside it).
"""

from __future__ import annotations

from ..destination import writes_destination
from .common import BadInputError, ImportReport, NotAFolderError, _check_src, check_output_writable
from .cpi_sheets import import_sheets, is_sheet_folder, looks_like_sheet
from .export import export_folder, remove_dataset
from .folder import FolderPlan, import_folder, plan_folder
from .metadata import FILE_COLUMNS, KEY_COLUMNS, NUMERIC_COLUMNS, TEMPERATURE_RANGE_C

# Part of an imported dataset's cache key (load_dataset): bump when an import of the same folder
# would give other ids, images or metadata (2: relative-path ids and source_px; 3: CPI-sheet
# extraction rejects streak frames and per-edge cut-offs).
IMPORTER_VERSION = 3


@writes_destination("dataset", src="src", dest="root")
def import_any(src, root, image_size: int, **kwargs) -> ImportReport:
    """Import ``src`` as CPI sheets when its top level holds only sheet-like images, else as an image folder."""
    src = _check_src(src)
    if is_sheet_folder(src):
        return import_sheets(src, root, image_size, **kwargs)
    return import_folder(src, root, image_size, **kwargs)


__all__ = [
    "FILE_COLUMNS", "IMPORTER_VERSION", "KEY_COLUMNS", "NUMERIC_COLUMNS", "TEMPERATURE_RANGE_C", "BadInputError",
    "FolderPlan", "ImportReport", "NotAFolderError", "check_output_writable", "export_folder", "import_any",
    "import_folder", "import_sheets", "is_sheet_folder", "looks_like_sheet", "plan_folder", "remove_dataset",
]
