"""torchvision classifiers as backbones: the same features as the library's own feature extractor, local weights
only, one clear error per bad setting, and a place in the feature store."""

import numpy as np
import pytest
import torch
from torchvision import models
from torchvision.models.feature_extraction import create_feature_extractor

from voxelflow.encoders.backbones import build_backbone
from voxelflow.encoders.library_backbones import TorchvisionBackbone
from voxelflow.encoders.features import extract_features, load_features
from voxelflow.errors import InputError
from voxelflow.nsd_layout import NSDLayout


def _library_features(network, layer, images, transforms):
    """What torchvision itself gives: its weights' preprocessing, then the node's output."""
    extractor = create_feature_extractor(network.eval(), {layer: "out"})
    with torch.no_grad():
        return extractor(transforms(images))["out"]


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, 90, 120, generator=torch.Generator().manual_seed(0))  # not square: resize + crop


def test_a_spatial_node_gives_positions_as_tokens_exactly_as_torchvision_does(images):
    backbone = TorchvisionBackbone("resnet18", layer="layer3", transforms="IMAGENET1K_V1", seed=4)
    torch.manual_seed(4)
    reference = _library_features(models.resnet18(), "layer3", images,
                                  models.ResNet18_Weights.IMAGENET1K_V1.transforms())
    with torch.no_grad():
        pooled, tokens = backbone(images)
    assert reference.shape == (3, 256, 14, 14) and tokens.shape == (3, 14 * 14, 256)
    torch.testing.assert_close(tokens, reference.flatten(2).transpose(1, 2))
    torch.testing.assert_close(pooled, reference.mean(dim=(2, 3)))
    assert torch.equal(tokens[:, 15], reference[:, :, 1, 1])  # row-major positions: token 15 = (row 1, column 1)


def test_local_weights_are_loaded_and_a_vector_node_is_its_own_token(images, tmp_path):
    torch.manual_seed(9)
    trained = models.alexnet()
    torch.save(trained.state_dict(), tmp_path / "alexnet.pth")
    backbone = build_backbone("alex", {"type": "torchvision", "model": "alexnet",
                                       "pretrained": str(tmp_path / "alexnet.pth"), "layer": "classifier.4"})
    with torch.no_grad():
        pooled, tokens = backbone(images)
    reference = _library_features(trained, "classifier.4", images, models.AlexNet_Weights.DEFAULT.transforms())
    torch.testing.assert_close(pooled, reference)
    assert tokens.shape == (3, 1, 4096) and torch.equal(tokens[:, 0], pooled)
    random_weights = TorchvisionBackbone("alexnet", layer="classifier.4")
    with torch.no_grad():
        assert not torch.allclose(random_weights(images)[0], pooled)


def test_features_are_differentiable_from_pixels(images):
    backbone = TorchvisionBackbone("resnet18", layer="layer2")
    pixels = images.clone().requires_grad_(True)
    backbone(pixels)[0].sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0


@pytest.mark.parametrize(("spec", "message"), [
    ({"model": "resnet5"}, "unknown torchvision classifier 'resnet5'"),
    ({"model": "resnet18", "layer": "layer9"}, "torchvision resnet18 has no node 'layer9'; its nodes end with"),
    ({"model": "resnet18", "transforms": "IMAGENET1K_V9"}, "has no weights entry 'IMAGENET1K_V9'"),
    ({"model": "resnet18", "pretrained": "/weights/none.pth"}, "backbone weights /weights/none.pth do not exist"),
])
def test_bad_settings_are_one_clear_error(spec, message):
    with pytest.raises(InputError, match=message):
        build_backbone("tv", {"type": "torchvision", **spec})


def test_weights_of_another_architecture_name_the_file(tmp_path):
    torch.save(models.alexnet().state_dict(), tmp_path / "alexnet.pth")
    with pytest.raises(InputError, match=r"alexnet.pth do not fit torchvision resnet18: Error\(s\) in loading"):
        TorchvisionBackbone("resnet18", pretrained=str(tmp_path / "alexnet.pth"))


def test_torchvision_features_go_to_the_feature_store(mini_root, tmp_path):
    ids = np.arange(6)
    backbone = TorchvisionBackbone("alexnet", layer="features.12")
    extract_features(backbone, NSDLayout(mini_root).stimuli, ids, tmp_path / "alexnet.h5", device="cpu")
    features = load_features(tmp_path / "alexnet.h5", ids, tokens=True)
    assert features.pooled.shape == (6, 256) and features.tokens.shape == (6, 36, 256)
    np.testing.assert_allclose(features.tokens.mean(1), features.pooled, rtol=1e-2, atol=1e-3)  # float16 store
