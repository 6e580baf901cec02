"""Run machinery: the notebook configuration (``config``), run profiles (``profiles``), where
files go (``paths``), the artifact cache (``cache``), crash-safe writes and locks (``atomic``),
seeding, progress bars, the papermill runner (``runner``) and the ``icepaper`` command (``cli``).

Every notebook uses it through ``icepaper.setup(...)``; nothing in it knows about ice crystals.
"""
