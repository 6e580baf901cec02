"""Backbones: one grey channel, pooled embeddings, ImageNet/offline init, safetensors export."""

from __future__ import annotations

import pytest
import timm
import torch

from icepaper.ssl.backbones import (
    create_backbone,
    embed_dim,
    export_backbone,
    load_backbone,
)

SECTION = dict(vit="vit_tiny_patch16_224", vit_img_size=32, vit_patch=8, vit_depth=1,
               vit_embed_dim=32, vit_heads=2, resnet="resnet18", resnet_img_size=32)


@pytest.mark.parametrize("arch,dim", [("vit", 32), ("resnet", 512)])
def test_backbone_gives_pooled_embedding(arch, dim):
    m = create_backbone(SECTION, arch).eval()
    x = torch.randn(2, 1, 32, 32)
    assert m(x).shape == (2, dim) and embed_dim(m) == dim


@pytest.mark.parametrize("arch", ["vit", "resnet"])
def test_export_loads_in_timm(tmp_path, arch):
    torch.manual_seed(0)
    m = create_backbone(SECTION, arch).eval()
    path = export_backbone(m, tmp_path / "bb.safetensors")
    meta = m.icepaper_timm
    direct = timm.create_model(meta["model_name"], pretrained=True,
                               pretrained_cfg_overlay=dict(file=str(path), num_classes=0),
                               **meta["kwargs"]).eval()
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        ref = m(x)
        assert torch.allclose(direct(x), ref, atol=1e-5)
        assert torch.allclose(load_backbone(path)(x), ref, atol=1e-5)
    # and it initialises a new backbone ("init + short training")
    again = create_backbone(SECTION, arch, init=str(path)).eval()
    with torch.no_grad():
        assert torch.allclose(again(x), ref, atol=1e-5)


def test_imagenet_offline_without_file_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ICEPAPER_IMAGENET_WEIGHTS", raising=False)
    monkeypatch.delenv("ICEPAPER_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(FileNotFoundError, match="ICEPAPER_IMAGENET_WEIGHTS"):
        create_backbone(SECTION, "resnet", init="imagenet")


def test_imagenet_init_from_local_rgb_file(tmp_path, monkeypatch):
    """RGB ImageNet-style weights load into the one-channel stem (timm sums the filters)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    rgb = timm.create_model("resnet18", num_classes=1000)
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, tmp_path / "resnet18.safetensors")
    monkeypatch.setenv("ICEPAPER_IMAGENET_WEIGHTS", str(tmp_path))
    m = create_backbone(SECTION, "resnet", init="imagenet")
    assert torch.allclose(m.conv1.weight, rgb.conv1.weight.sum(1, keepdim=True), atol=1e-6)
    assert torch.equal(m.layer4[1].conv2.weight, rgb.layer4[1].conv2.weight)


def test_imagenet_vit_from_local_rgb_file(tmp_path, monkeypatch):
    """The ImageNet ViT path (the paper profile's ViT-S/16 takes the same one): RGB hub-style
    weights saved locally load into the one-channel patch embedding, the blocks unchanged, the
    position embedding resampled to the profile's image size."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    rgb = timm.create_model("vit_tiny_patch16_224", num_classes=1000)  # 5.7 M parameters
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, tmp_path / "w.safetensors")
    monkeypatch.setenv("ICEPAPER_IMAGENET_WEIGHTS", str(tmp_path / "w.safetensors"))
    section = {**SECTION, "vit_img_size": 64}
    m = create_backbone(section, "vit", init="imagenet").eval()
    assert torch.allclose(m.patch_embed.proj.weight, rgb.patch_embed.proj.weight.sum(1, keepdim=True), atol=1e-6)
    assert torch.equal(m.blocks[11].mlp.fc2.weight, rgb.blocks[11].mlp.fc2.weight)
    assert m.pos_embed.shape == (1, 1 + (64 // 16) ** 2, 192)
    assert torch.equal(m.pos_embed[:, 0], rgb.pos_embed[:, 0])  # the [CLS] position is kept as is
    assert m(torch.randn(2, 1, 64, 64)).shape == (2, 192)


def test_bad_init_path_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        create_backbone(SECTION, "vit", init=str(tmp_path / "nothing-here.safetensors"))
