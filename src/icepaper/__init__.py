"""icepaper: self-supervised learning on ice-crystal images from cloud probes.

Notebooks start with ``cfg = icepaper.setup("NN_name", profile=..., seed=..., data=..., out=...)``.
"""

__version__ = "0.1.0"

import warnings

# Noise from dependencies that would otherwise fill executed notebooks: tqdm.auto (imported by
# timm/lightly's dependencies) warns that ipywidgets is absent (icepaper uses plain bars, see
# icepaper.core.progress), and lightly's DINO head still calls torch's deprecated weight_norm.
warnings.filterwarnings("ignore", message="IProgress not found")
warnings.filterwarnings("ignore", message=r".*torch\.nn\.utils\.weight_norm.* is deprecated")

from .core.config import RunConfig, setup  # noqa: E402

__all__ = ["RunConfig", "setup", "__version__"]
