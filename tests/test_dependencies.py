"""Every third-party module the package imports is declared, with the same bounds for pip and conda."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTION = {"zmq": "pyzmq", "cv2": "opencv-python-headless", "sklearn": "scikit-learn", "PIL": "pillow",
                "yaml": "pyyaml", "faiss": "faiss-cpu", "umap": "umap-learn", "IPython": "ipython",
                "mpl_toolkits": "matplotlib", "skimage": "scikit-image"}
CONDA_NAME = {"opencv-python-headless": "py-opencv"}  # conda-forge's name, where it differs


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(spec: str) -> tuple[str, str]:
    """``"faiss-cpu>=1.14"`` -> ``("faiss-cpu", ">=1.14")``."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)", spec)
    return _norm(m.group(1)), m.group(2).split(";")[0].replace(" ", "")


def _declared() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(_requirement(d) for d in deps)


def _imports() -> dict[str, set[str]]:
    """Top-level names of every absolute import in src/icepaper -> the files importing them."""
    found: dict[str, set[str]] = {}
    for f in sorted((ROOT / "src" / "icepaper").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                found.setdefault(n.split(".")[0], set()).add(str(f.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_declared():
    declared = _declared()
    third = {m: files for m, files in _imports().items()
             if m not in sys.stdlib_module_names and m != "icepaper"}
    assert {"torch", "cv2", "faiss", "joblib", "threadpoolctl"} <= set(third)  # the scan sees the code
    missing = {m: sorted(files)[:3] for m, files in third.items()
               if _norm(DISTRIBUTION.get(m, m)) not in declared}
    assert not missing, f"imported but not in pyproject's dependencies: {missing}"


def test_environment_yml_has_the_same_bounds():
    """environment.yml lists every pyproject dependency with the same version bounds (conda
    or its pip section), and takes torch, torchvision, lightly and timm from pip."""
    conda, pip = {}, {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"(\s*)-\s+\"?([^\"#]+?)\"?\s*(#.*)?$", line)
        if not m or m.group(2).startswith(("-e", "pip", "python=")) or ":" in m.group(2):
            continue
        name, spec = _requirement(m.group(2))
        (pip if len(m.group(1)) > 2 else conda)[name] = spec
    for name, spec in _declared().items():
        where = pip if name in pip else conda
        key = name if name in where else _norm(CONDA_NAME.get(name, name))
        assert where.get(key) == spec, (name, spec, where.get(key))
    assert {"torch", "torchvision", "lightly", "timm"} <= set(pip) and not {"torch", "timm"} & set(conda)
