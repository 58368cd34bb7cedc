import json
import math

import numpy as np
import open_clip
import pytest
import torch

from voxelflow.encoders.backbones import GaborBackbone, OpenClipBackbone, build_backbone
from voxelflow.errors import InputError


def test_tiny_open_clip_shapes_seed_and_gradients():
    images = torch.rand(3, 3, 48, 48, requires_grad=True)  # resized to the model's 64 px inside
    pooled, tokens = OpenClipBackbone("vf-tiny-ViT", seed=1)(images)
    assert pooled.shape == (3, 32) and tokens.shape == (3, 1 + 8 * 8, 64)
    again, _ = OpenClipBackbone("vf-tiny-ViT", seed=1)(images)
    other, _ = OpenClipBackbone("vf-tiny-ViT", seed=2)(images)
    torch.testing.assert_close(pooled, again)
    assert not torch.allclose(pooled, other)
    pooled.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0  # usable as a guidance objective


def test_weights_load_from_a_local_file_through_open_clip(tmp_path):
    torch.manual_seed(5)
    clip = open_clip.create_model("vf-tiny-ViT")
    path = tmp_path / "tiny.pt"
    torch.save(clip.state_dict(), path)
    images = torch.rand(2, 3, 64, 64)
    loaded, _ = OpenClipBackbone("vf-tiny-ViT", pretrained=str(path), seed=123)(images)
    seeded, _ = OpenClipBackbone("vf-tiny-ViT", seed=5)(images)
    torch.testing.assert_close(loaded, seeded)


def test_weights_of_another_architecture_are_refused(tmp_path):
    config = json.loads(open(open_clip.factory._MODEL_CONFIG_PATHS[-1] / "vf-tiny-ViT.json").read())
    config["vision_cfg"]["width"] = 96
    (tmp_path / "vf-tiny-wide.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path)
    path = tmp_path / "tiny.pt"
    torch.save(open_clip.create_model("vf-tiny-ViT").state_dict(), path)
    with pytest.raises(InputError, match=r"tiny\.pt do not fit architecture 'vf-tiny-wide'"):
        OpenClipBackbone("vf-tiny-wide", pretrained=str(path))


def test_missing_weights_and_unknown_names_are_clear(tmp_path):
    with pytest.raises(InputError, match=r"weights .*nope\.bin do not exist \(weights are never downloaded\)"):
        OpenClipBackbone("vf-tiny-ViT", pretrained=str(tmp_path / "nope.bin"))
    with pytest.raises(InputError, match="unknown open_clip model 'ViT-Q-99'"):
        OpenClipBackbone("ViT-Q-99")
    with pytest.raises(InputError, match="backbones.mine.type must be one of open_clip, timm, huggingface, torchvision, gabor, mininsd_stages, got 'resnet'"):
        build_backbone("mine", {"type": "resnet"})
    with pytest.raises(InputError, match="backbones.g: .*unexpected keyword argument 'layers'"):
        build_backbone("g", {"type": "gabor", "layers": 3})


def test_gabor_energy_peaks_at_the_grating_orientation():
    backbone = GaborBackbone(image_size=64, wavelengths=(8.0,), n_orientations=4, grid=4)
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    for k in range(4):
        theta = math.pi * k / 4
        grating = 0.5 + 0.4 * torch.cos(2 * math.pi * (x * math.cos(theta) + y * math.sin(theta)) / 8)
        _, tokens = backbone(grating.expand(1, 3, 64, 64))
        assert tokens.shape == (1, 16, 4)
        assert tokens[0].mean(0).argmax().item() == k


def test_the_two_stage_backbone_computes_the_planted_features():
    from voxelflow.mininsd.scenes import render_scenes
    from voxelflow.mininsd.true_brain import CategoryDetectors, contrast_energy
    from voxelflow.toolkit.tensor_images import images_to_tensor

    images, _ = render_scenes(12, 64, seed=3)
    backbone = build_backbone("stages", {"type": "mininsd_stages", "grid": 8})
    with torch.no_grad():
        pooled, layers = backbone.forward_layers(images_to_tensor(images))
    energy = contrast_energy(images).reshape(12, 8, 8, 8, 8).mean(axis=(2, 4)).reshape(12, 64)
    np.testing.assert_allclose(layers["contrast_energy"][..., 0].numpy(), energy, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(layers["category_templates"][:, 0].numpy(), CategoryDetectors(64)(images), atol=1e-4)
    assert backbone.layers == ["contrast_energy", "category_templates"] and pooled.shape == (12, 64 + 5)
