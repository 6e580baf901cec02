"""Backbones: timm ViTs and ResNets with one grey input channel, their init and export.

``create_backbone(section, "vit" | "resnet", init=...)`` returns a timm model built with
``num_classes=0`` so that ``model(x)`` is the pooled embedding (the CLS token for a ViT,
the global-average-pooled feature for a ResNet). ``section`` is the profile's ``pretrain``
section (or any mapping with the same keys): the ViT is the timm architecture named by
``vit`` with the profile's ``vit_img_size``, ``vit_patch``, ``vit_depth``,
``vit_embed_dim``, ``vit_heads`` (ViT-S/16 at 224 px in the ``paper`` profile, a small
ViT on CPU profiles); the ResNet is the timm architecture named by ``resnet``.

Grey images enter through a one-channel stem (``in_chans=1``): no pixel triplication.
timm sums the RGB filters of ImageNet weights into that one channel when it loads them.

Initialisations (``init``):

- ``"scratch"``: random timm initialisation.
- ``"imagenet"``: ImageNet weights for the hub architecture (``vit`` / ``resnet`` of the
  profile at its own width, depth and patch size; only the image size and the input
  channel are adapted). The weights come from a local file: the ``weights`` argument,
  or the environment variable ``ICEPAPER_IMAGENET_WEIGHTS`` (a file, or a folder with
  ``<timm name>.safetensors|.pth|.bin``). Without a file the hub tag in
  :data:`IMAGENET_HUB` is downloaded only when ``ICEPAPER_ALLOW_DOWNLOAD=1``; otherwise a
  ``FileNotFoundError`` says how to provide the file.
- a path: an exported backbone (``.safetensors`` with its ``.json`` beside it, see
  :func:`export_backbone`), a training checkpoint folder or ``.pt`` file written by
  :mod:`icepaper.ssl.trainer` ("init + short training").
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

# The ImageNet weights the papers start from, by the timm architecture the profile names.
# Ko et al. 2025 used ImageNet iBOT ViT-S/16 weights (not on the timm hub: give them as a file);
# the closest hub weights are DINO's. Chu et al. 2025 used ImageNet MoCo / BYOL ResNet-50
# weights (not on the hub either); the hub default is a supervised ResNet.
IMAGENET_HUB = {
    "vit_small_patch16_224": "vit_small_patch16_224.dino",
    "vit_tiny_patch16_224": "vit_tiny_patch16_224.augreg_in21k_ft_in1k",
    "vit_base_patch16_224": "vit_base_patch16_224.dino",
    "resnet50": "resnet50.a1_in1k",
    "resnet18": "resnet18.a1_in1k",
}
ENV_WEIGHTS = "ICEPAPER_IMAGENET_WEIGHTS"
ENV_DOWNLOAD = "ICEPAPER_ALLOW_DOWNLOAD"


def _get(section: Any, key: str) -> Any:
    """``section[key]`` (or its attribute); a missing key is an error naming it, not a default."""
    if isinstance(section, Mapping):
        return section[key]
    return getattr(section, key)


def _section(cfg_or_section: Any) -> Any:
    """Accept a RunConfig, a Profile or the ``pretrain`` mapping itself."""
    prof = getattr(cfg_or_section, "profile", cfg_or_section)
    pre = getattr(prof, "pretrain", None)
    return pre if pre is not None else cfg_or_section


def vit_kwargs(section: Any, drop_path: float = 0.0) -> dict[str, Any]:
    """timm keyword arguments of the profile's ViT (one input channel, no classifier)."""
    s = _section(section)
    return dict(
        img_size=int(_get(s, "vit_img_size")),
        patch_size=int(_get(s, "vit_patch")),
        depth=int(_get(s, "vit_depth")),
        embed_dim=int(_get(s, "vit_embed_dim")),
        num_heads=int(_get(s, "vit_heads")),
        in_chans=1,
        num_classes=0,
        dynamic_img_size=True,  # multi-crop: local crops are smaller than global ones
        drop_path_rate=float(drop_path),
    )


def resnet_kwargs(section: Any) -> dict[str, Any]:
    """timm keyword arguments of the profile's ResNet (one input channel, no classifier)."""
    return dict(in_chans=1, num_classes=0)


def arch_name(section: Any, arch: str) -> str:
    """The timm architecture name the profile uses for ``arch`` ('vit' or 'resnet')."""
    s = _section(section)
    if arch not in ("vit", "resnet"):
        raise ValueError(f"arch must be 'vit' or 'resnet', got {arch!r}")
    return str(_get(s, arch))


def create_backbone(
    cfg_or_profile_section: Any,
    arch: str,
    init: str | Path = "scratch",
    *,
    drop_path: float = 0.0,
    weights: str | Path | None = None,
) -> nn.Module:
    """A timm backbone (``num_classes=0``, 1 input channel) initialised as ``init`` says.

    ``model(x)`` with ``x`` of shape (n, 1, H, W) returns the (n, embed_dim) embedding.
    The timm name and keyword arguments are stored on the model as ``icepaper_timm``
    (used by :func:`export_backbone`).
    """
    import timm

    s = _section(cfg_or_profile_section)
    name = arch_name(s, arch)
    init = str(init)
    if init == "imagenet":
        return _imagenet_backbone(s, arch, name, drop_path=drop_path, weights=weights)
    kwargs = vit_kwargs(s, drop_path) if arch == "vit" else resnet_kwargs(s)
    if arch == "resnet" and drop_path:
        kwargs["drop_path_rate"] = float(drop_path)
    if init == "scratch":
        model = timm.create_model(name, pretrained=False, **kwargs)
        _tag(model, name, kwargs)
        return model
    return _backbone_from_path(Path(init), arch=arch, drop_path=drop_path)


def _tag(model: nn.Module, name: str, kwargs: dict[str, Any]) -> None:
    export_kwargs = {k: v for k, v in kwargs.items() if k != "drop_path_rate"}
    model.icepaper_timm = {"model_name": name, "kwargs": export_kwargs}


def imagenet_weights_file(name: str, weights: str | Path | None = None) -> Path | None:
    """The local ImageNet weights file for timm architecture ``name`` (or None)."""
    cand = weights or os.environ.get(ENV_WEIGHTS)
    if not cand:
        return None
    p = Path(cand).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        for stem in (name, IMAGENET_HUB.get(name, name)):
            for ext in (".safetensors", ".pth", ".bin", ".pt"):
                f = p / f"{stem}{ext}"
                if f.is_file():
                    return f
            f = p / stem / "model.safetensors"
            if f.is_file():
                return f
        return None
    raise FileNotFoundError(f"ImageNet weights path {p} (from {ENV_WEIGHTS} or weights=) does not exist")


def _imagenet_backbone(s: Any, arch: str, name: str, *, drop_path: float, weights) -> nn.Module:
    import timm

    kwargs: dict[str, Any] = dict(in_chans=1, num_classes=0)
    if arch == "vit":
        kwargs.update(img_size=int(_get(s, "vit_img_size")), dynamic_img_size=True)
    if drop_path:
        kwargs["drop_path_rate"] = float(drop_path)
    f = imagenet_weights_file(name, weights)
    hub = IMAGENET_HUB.get(name, name)
    if f is not None:
        model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(f)), **kwargs)
    elif os.environ.get(ENV_DOWNLOAD) == "1":
        model = timm.create_model(hub, pretrained=True, **kwargs)
    else:
        raise FileNotFoundError(
            f"ImageNet initialisation of {name!r} needs a local weights file (hub weights "
            f"{hub!r} are not downloaded at run time). Download them once, e.g. "
            f"`python -c \"import timm; timm.create_model('{hub}', pretrained=True)\"` on a "
            f"machine with internet and save the state dict, then set {ENV_WEIGHTS}=/path/to/"
            f"file.safetensors (or a folder holding {name}.safetensors), or pass weights=...; "
            f"set {ENV_DOWNLOAD}=1 to let timm download {hub!r} from the hub."
        )
    _tag(model, name, {k: v for k, v in kwargs.items()})
    return model


def _backbone_from_path(p: Path, arch: str, drop_path: float = 0.0) -> nn.Module:
    """A backbone initialised from an exported backbone or a training checkpoint."""
    if not p.exists():
        raise FileNotFoundError(
            f"init {str(p)!r} is neither 'scratch', 'imagenet' nor an existing checkpoint path"
        )
    if p.is_dir():
        for cand in (p / "backbone.safetensors", p / "checkpoint.pt", p / "last.pt"):
            if cand.exists():
                p = cand
                break
        else:
            raise FileNotFoundError(f"{p}: no backbone.safetensors or checkpoint.pt inside")
    if p.suffix == ".safetensors":
        model = load_backbone(p, drop_path=drop_path)
    else:
        state = torch.load(p, map_location="cpu", weights_only=False)
        if "backbone_state" not in state or "backbone_timm" not in state:
            raise ValueError(f"{p}: not an icepaper training checkpoint (no backbone_state)")
        model = _from_timm_meta(state["backbone_timm"], drop_path=drop_path)
        model.load_state_dict(state["backbone_state"])
    want = "vit" if arch == "vit" else "resnet"
    got = "vit" if "vit" in model.icepaper_timm["model_name"] else "resnet"
    if want != got:
        raise ValueError(f"{p}: holds a {got} backbone but a {want} was asked for")
    return model


def _from_timm_meta(meta: dict[str, Any], drop_path: float = 0.0) -> nn.Module:
    import timm

    kwargs = dict(meta["kwargs"])
    if drop_path:
        kwargs["drop_path_rate"] = float(drop_path)
    model = timm.create_model(meta["model_name"], pretrained=False, **kwargs)
    _tag(model, meta["model_name"], kwargs)
    return model


def embed_dim(model: nn.Module) -> int:
    """Dimension of the pooled embedding ``model(x)`` returns."""
    for attr in ("num_features", "embed_dim"):
        v = getattr(model, attr, None)
        if isinstance(v, int):
            return v
    raise AttributeError(f"cannot tell the embedding size of {type(model).__name__}")


def export_backbone(model: nn.Module, path: str | Path) -> Path:
    """Write ``model``'s weights to ``path`` (.safetensors) and its timm recipe to ``.json``.

    The file loads with ``timm.create_model(name, pretrained=True,
    pretrained_cfg_overlay=dict(file=path, num_classes=0), **kwargs)`` where ``name`` and
    ``kwargs`` are in the JSON beside it; :func:`load_backbone` does exactly that.
    Both files are written atomically.
    """
    from safetensors.torch import save as st_save

    from icepaper.core.atomic import atomic_write_bytes, atomic_write_json

    meta = getattr(model, "icepaper_timm", None)
    if meta is None:
        raise ValueError("model was not built by icepaper.ssl.backbones (no icepaper_timm recipe)")
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, st_save(state, metadata={"timm_model": meta["model_name"]}))
    atomic_write_json(path.with_suffix(".json"), meta)
    return path


def load_backbone(path: str | Path, device: str = "cpu", drop_path: float = 0.0) -> nn.Module:
    """Load an exported backbone (.safetensors + .json beside it) through timm, in eval mode."""
    import timm

    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.exists():
        raise FileNotFoundError(f"backbone file {path} does not exist")
    if not meta_path.exists():
        raise FileNotFoundError(f"{path}: the timm recipe {meta_path.name} is missing beside it")
    meta = json.loads(meta_path.read_text())
    kwargs = dict(meta["kwargs"])
    if drop_path:
        kwargs["drop_path_rate"] = float(drop_path)
    overlay = dict(file=str(path), num_classes=0)
    img = kwargs.get("img_size")
    if img:
        overlay["input_size"] = (kwargs.get("in_chans", 1), int(img), int(img))
    else:
        overlay["input_size"] = (kwargs.get("in_chans", 1), 224, 224)
    model = timm.create_model(meta["model_name"], pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
    _tag(model, meta["model_name"], kwargs)
    return model.to(device).eval()


def imagenet_weights(cfg, weights: str | Path | None = None) -> Path | None:
    """Local ImageNet weights file for the profile's ViT (argument, else ``$ICEPAPER_IMAGENET_WEIGHTS``),
    or None when none is given."""
    return imagenet_weights_file(arch_name(cfg, "vit"), weights)
