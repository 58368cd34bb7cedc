"""Network-feature columns: real torchvision networks from local weight files, unavailable without them."""

import numpy as np
import pytest
import torch
from torchvision import models

from voxelflow.decoders.metric_networks import COLUMNS, network_scores
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
