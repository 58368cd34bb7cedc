"""The network-feature columns of the reconstruction table (MindEye / Brain-Diffuser evaluation).

AlexNet layers 2 and 5 (`features.4`, `features.11`) and InceptionV3 (`avgpool`) are scored by two-way
identification; EfficientNet-B1 and SwAV (ResNet-50) `avgpool` features by mean correlation distance.
Images are resized as in MindEye's script (AlexNet 256, Inception 342, EfficientNet 255, SwAV 224) and
ImageNet-normalised. Weights are torchvision state dicts read from local paths (never downloaded); a
network without a path gives `None` columns, which the table reports as unavailable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import models
from torchvision.models.feature_extraction import create_feature_extractor

from voxelflow.decoding_metrics import correlation_distance, two_way_identification
from voxelflow.devices import resolve_device
from voxelflow.encoders.checkpoints import read_torch_file
from voxelflow.errors import InputError

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class MetricNetwork:
    build: Callable[[], torch.nn.Module]
    size: int
    columns: dict[str, str]  # table column -> layer (torchvision node name)
    score: Callable[[np.ndarray, np.ndarray], float]


METRIC_NETWORKS = {
    "alexnet": MetricNetwork(lambda: models.alexnet(), 256, {"AlexNet(2)": "features.4", "AlexNet(5)": "features.11"},
                             two_way_identification),
    # transform_input: torchvision builds Inception this way whenever it loads the ImageNet weights (as the
    # references do): the weights expect it to re-normalise ImageNet-normalised input to (x - 0.5) / 0.5
    "inception": MetricNetwork(lambda: models.inception_v3(aux_logits=True, init_weights=False, transform_input=True),
                               342, {"Inception": "avgpool"}, two_way_identification),
    "efficientnet_b1": MetricNetwork(lambda: models.efficientnet_b1(), 255, {"EffNet-B": "avgpool"},
                                     correlation_distance),
    "swav": MetricNetwork(lambda: models.resnet50(), 224, {"SwAV": "avgpool"}, correlation_distance),
}
COLUMNS = [column for network in METRIC_NETWORKS.values() for column in network.columns]


def load_network(name: str, weights: str | Path) -> torch.nn.Module:
    """A torchvision network of METRIC_NETWORKS with its state dict from `weights` (a local file)."""
    path = Path(weights)
    if not path.is_file():
        raise InputError(f"decoders.metric_networks.{name}: weights file {path} does not exist")
    state = read_torch_file(path, f"decoders.metric_networks.{name} weights", weights_only=True)
    if not isinstance(state, dict):
        raise InputError(f"decoders.metric_networks.{name}: {path} holds a {type(state).__name__}, not a state dict")
    state = state.get("state_dict", state)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    network = METRIC_NETWORKS[name].build()
    missing, unexpected = network.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.startswith("fc.")]  # SwAV's trunk comes without a classifier
    if missing or unexpected:
        raise InputError(f"decoders.metric_networks.{name}: {path} does not fit torchvision's {name} "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return network.eval()


@torch.no_grad()
def _features(extractor, images: np.ndarray, size: int, device: torch.device, batch_size: int = 32) -> dict:
    out: dict[str, list] = {}
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = ((x - IMAGENET_MEAN) / IMAGENET_STD).to(device)
        for layer, value in extractor(x).items():
            out.setdefault(layer, []).append(value.flatten(1).float().cpu().numpy())
    return {layer: np.concatenate(values) for layer, values in out.items()}


def network_scores(truth: np.ndarray, candidates: dict[str, np.ndarray], weights: dict[str, str | None],
                   device: str = "auto") -> dict[str, dict[str, float | None]]:
    """truth: (n, H, W, 3) in [0, 1]; candidates: name -> images paired with truth by row. weights: network name ->
    state-dict path or None. Returns, per candidate set, every column of COLUMNS: its score, or None where the
    network's weights were not given. Each network is loaded, and the truth's features computed, once."""
    unknown = sorted(set(weights) - set(METRIC_NETWORKS))
    if unknown:
        raise InputError(f"decoders.metric_networks: unknown network {unknown[0]!r}; known: "
                         f"{', '.join(METRIC_NETWORKS)}")
    scores: dict[str, dict[str, float | None]] = {name: dict.fromkeys(COLUMNS) for name in candidates}
    torch_device = resolve_device(device)
    for network, path in weights.items():
        if not path:
            continue
        spec = METRIC_NETWORKS[network]
        extractor = create_feature_extractor(load_network(network, path), list(spec.columns.values())).to(torch_device)
        real = _features(extractor, truth, spec.size, torch_device)
        for name, images in candidates.items():
            fake = _features(extractor, images, spec.size, torch_device)
            for column, layer in spec.columns.items():
                scores[name][column] = spec.score(real[layer], fake[layer])
    return scores
