"""Network-feature columns: real torchvision networks from local weight files, unavailable without them."""

import numpy as np
import pytest
import torch
from torchvision import models
from torchvision.models.feature_extraction import create_feature_extractor

from voxelflow.decoders.metric_networks import COLUMNS, load_network, network_scores
from voxelflow.errors import InputError


@pytest.fixture(scope="module")
def alexnet_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "alexnet.pth"
    torch.save(models.alexnet().state_dict(), path)
    return path


def test_identical_images_identify_perfectly_and_unconfigured_networks_are_unavailable(alexnet_weights):
    images = np.random.default_rng(0).random((6, 32, 32, 3)).astype(np.float32)
    noise = np.random.default_rng(1).random(images.shape).astype(np.float32)
    by_set = network_scores(images, {"same": images.copy(), "noise": noise},
                            {"alexnet": str(alexnet_weights), "inception": None}, device="cpu")
    scores = by_set["same"]
    assert set(scores) == set(COLUMNS) and set(by_set["noise"]) == set(COLUMNS)
    assert by_set["noise"]["AlexNet(2)"] < 1.0
    assert scores["AlexNet(2)"] == 1.0 and scores["AlexNet(5)"] == 1.0
    assert scores["Inception"] is None and scores["SwAV"] is None and scores["EffNet-B"] is None


def test_weights_of_another_network_are_a_clear_error(alexnet_weights):
    images = np.zeros((2, 32, 32, 3), np.float32)
    with pytest.raises(InputError, match="does not fit torchvision's swav"):
        network_scores(images, {"same": images}, {"swav": str(alexnet_weights)}, device="cpu")
    with pytest.raises(InputError, match="unknown network 'vgg'"):
        network_scores(images, {"same": images}, {"vgg": "x"}, device="cpu")


@pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing")  # torchvision's note on eval-mode tracing
def test_inception_sees_its_input_as_the_imagenet_weights_expect(tmp_path):
    """torchvision's ImageNet Inception (what MindEye and Brain-Diffuser load) re-normalises its input first
    (transform_input=True); a network built without it feeds those weights wrongly scaled pixels."""
    torch.manual_seed(0)
    plain = models.inception_v3(aux_logits=True, init_weights=False).eval()
    torch.save(plain.state_dict(), tmp_path / "inception.pth")
    loaded = load_network("inception", tmp_path / "inception.pth")
    assert loaded.transform_input
    x = torch.randn(1, 3, 299, 299)
    # channel c: (x * std_c + mean_c - 0.5) / 0.5, torchvision's _transform_input
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    by_hand = (x * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1) - 0.5) / 0.5
    with torch.no_grad():  # the avgpool features the Inception column scores (random logits barely vary)
        features = create_feature_extractor(loaded, {"avgpool": "f"})(x)["f"]
        plain_features = create_feature_extractor(plain, {"avgpool": "f"})
        scale = features.abs().max()
        assert (features - plain_features(by_hand)["f"]).abs().max() < 1e-4 * scale
        assert (features - plain_features(x)["f"]).abs().max() > 0.1 * scale
