"""icepaper: self-supervised learning on ice-crystal images from cloud probes.

Notebooks start with ``cfg = icepaper.setup("NN_name", profile=..., seed=..., data=..., out=...)``.
"""

__version__ = "0.1.0"

from .config import RunConfig, setup  # noqa: E402

__all__ = ["RunConfig", "setup", "__version__"]
