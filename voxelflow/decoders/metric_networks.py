"""The network-feature columns of the reconstruction table (MindEye / Brain-Diffuser evaluation).

AlexNet layers 2 and 5 (`features.4`, `features.11`), InceptionV3 (`avgpool`) and CLIP ViT-L/14 (the final image
embedding, `encode_image`) are scored by two-way identification; EfficientNet-B1 and SwAV (ResNet-50) `avgpool`
features by mean correlation distance. The input side of each network and how images are resized to it come
from the metric protocol (`voxelflow.decoders.protocols`); inputs are then normalised as the reference code does
(ImageNet statistics; OpenAI CLIP's for CLIP). Weights are read from local paths, never downloaded: torchvision
state dicts, and for CLIP an OpenAI or open_clip ViT-L/14 file (open_clip reads both). A network without a path
gives `None` columns, which the table reports as unavailable.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision import models
from torchvision.models.feature_extraction import create_feature_extractor

from voxelflow.decoders.protocols import MINDEYE_NETWORK_SIZES
from voxelflow.decoding_metrics import correlation_distance, two_way_identification
from voxelflow.devices import resolve_device
from voxelflow.encoders.backbones import create_clip
from voxelflow.toolkit.model_files import read_torch_file
from voxelflow.errors import InputError
from voxelflow.images import resize_images
from voxelflow.toolkit.tensor_images import images_to_tensor

IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
OPENAI_CLIP_STATS = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
# The papers' CLIP column: OpenAI's ViT-L/14 (QuickGELU); tests put a tiny open_clip architecture here.
CLIP_ARCHITECTURE = "ViT-L-14-quickgelu"


@dataclass(frozen=True)
class MetricNetwork:
    build: Callable[[], torch.nn.Module] | None  # a torchvision network (None: CLIP, built by open_clip)
    columns: dict[str, str]  # table column -> layer (torchvision node name; "" for CLIP's embedding)
    score: Callable[[np.ndarray, np.ndarray], float]
    stats: tuple[tuple[float, ...], tuple[float, ...]] = IMAGENET_STATS
    weights: str = ""  # the torchvision weights the references load, for README and errors


METRIC_NETWORKS = {
    "alexnet": MetricNetwork(lambda: models.alexnet(), {"AlexNet(2)": "features.4", "AlexNet(5)": "features.11"},
                             two_way_identification, weights="AlexNet_Weights.IMAGENET1K_V1"),
    # transform_input: torchvision builds Inception this way whenever it loads the ImageNet weights (as the
    # references do): the weights expect it to re-normalise ImageNet-normalised input to (x - 0.5) / 0.5
    "inception": MetricNetwork(lambda: models.inception_v3(aux_logits=True, init_weights=False, transform_input=True),
                               {"Inception": "avgpool"}, two_way_identification,
                               weights="Inception_V3_Weights.IMAGENET1K_V1 (DEFAULT)"),
    "clip": MetricNetwork(None, {"CLIP": ""}, two_way_identification, OPENAI_CLIP_STATS,
                          weights="OpenAI CLIP ViT-L/14 (ViT-L-14.pt, or open_clip's ViT-L-14 'openai')"),
    "efficientnet_b1": MetricNetwork(lambda: models.efficientnet_b1(), {"EffNet-B": "avgpool"}, correlation_distance,
                                     weights="EfficientNet_B1_Weights.IMAGENET1K_V2 (DEFAULT)"),
    "swav": MetricNetwork(lambda: models.resnet50(), {"SwAV": "avgpool"}, correlation_distance,
                          weights="facebookresearch/swav resnet50 (torch.hub), trunk without classifier"),
}
COLUMNS = [column for network in METRIC_NETWORKS.values() for column in network.columns]


def load_network(name: str, weights: str | Path) -> torch.nn.Module:
    """A network of METRIC_NETWORKS with its weights from `weights` (a local file): a torchvision module, or for
    "clip" the open_clip model of CLIP_ARCHITECTURE."""
    path = Path(weights)
    if not path.is_file():
        raise InputError(f"decoders.metric_networks.{name}: weights file {path} does not exist")
    if name == "clip":
        return _load_clip(path)
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


def _is_torchscript(path: Path) -> bool:
    """True for a TorchScript archive (OpenAI's released CLIP files are ones): a zip holding TorchScript code."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _load_clip(path: Path) -> torch.nn.Module:
    """CLIP_ARCHITECTURE with the weights of `path`: an OpenAI TorchScript archive (its state dict; open_clip's
    CLIP has OpenAI's parameter names) or a state dict open_clip reads."""
    if not _is_torchscript(path):
        try:
            return create_clip(CLIP_ARCHITECTURE, str(path)).eval()
        except InputError as err:
            raise InputError(f"decoders.metric_networks.clip: {err}") from None
    with warnings.catch_warnings():  # torch.jit.load is deprecated, but OpenAI's files are TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    model = create_clip(CLIP_ARCHITECTURE)
    expected = model.state_dict()
    fitting = {key: value for key, value in state.items() if key in expected and value.shape == expected[key].shape}
    missing = sorted(set(expected) - set(fitting))
    if missing:
        raise InputError(f"decoders.metric_networks.clip: {path} does not fit {CLIP_ARCHITECTURE} "
                         f"({len(missing)} weights missing or of another shape, e.g. {missing[:3]})")
    model.load_state_dict(fitting)
    return model.eval()


def _extractor(name: str, network: torch.nn.Module) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    spec = METRIC_NETWORKS[name]
    if name == "clip":
        return lambda x: {"": network.encode_image(x)}
    return create_feature_extractor(network, list(spec.columns.values()))


@torch.no_grad()
def _features(extract, images: np.ndarray, size: int, resize: str, stats, device: torch.device,
              batch_size: int = 32) -> dict[str, np.ndarray]:
    mean, std = (torch.tensor(s, device=device).view(1, 3, 1, 1) for s in stats)
    out: dict[str, list] = {}
    for start in range(0, len(images), batch_size):
        x = images_to_tensor(resize_images(images[start:start + batch_size], size, resize), device)
        for layer, value in extract((x - mean) / std).items():
            out.setdefault(layer, []).append(value.flatten(1).float().cpu().numpy())
    return {layer: np.concatenate(values) for layer, values in out.items()}


def network_scores(truth: np.ndarray, candidates: dict[str, np.ndarray], weights: dict[str, str | None],
                   device: str = "auto", sizes: dict[str, int] | None = None,
                   resize: str = "antialias") -> dict[str, dict[str, float | None]]:
    """truth: (n, H, W, 3) in [0, 1]; candidates: name -> images paired with truth by row. weights: network name ->
    weights path or None. sizes: network name -> input side (default MindEye's), reached by `resize` (a
    `voxelflow.images.resize_images` method). Returns, per candidate set, every column of COLUMNS: its score, or
    None where the network's weights were not given. Each network is loaded, and the truth's features computed,
    once."""
    sizes = sizes or MINDEYE_NETWORK_SIZES
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
        extract = _extractor(network, load_network(network, path).to(torch_device))
        real = _features(extract, truth, sizes[network], resize, spec.stats, torch_device)
        for name, images in candidates.items():
            fake = _features(extract, images, sizes[network], resize, spec.stats, torch_device)
            for column, layer in spec.columns.items():
                scores[name][column] = spec.score(real[layer], fake[layer])
    return scores
