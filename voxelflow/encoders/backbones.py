"""Frozen image backbones: pixels -> (pooled embedding, patch tokens), differentiable end to end.

Every backbone is a torch module taking images as (n, 3, H, W) float in [0, 1]
(see `voxelflow.toolkit.tensor_images.images_to_tensor`) and returning `pooled` (n, d) and `tokens`
(n, t, d). Real open_clip towers load weights from a local file through open_clip's own
factory; nothing is fetched from a hub. The demo and the tests use
`vf-tiny-ViT`, a tiny open_clip ViT of the same classes, randomly initialised
with a fixed seed.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from voxelflow.errors import InputError
from voxelflow.toolkit.model_files import read_torch_file

log = logging.getLogger(__name__)
open_clip.add_model_config(Path(__file__).parent / "model_configs")


def create_clip(model: str, pretrained: str | None = None, seed: int = 0) -> nn.Module:
    """An open_clip model (both towers) from a local weights file, or randomly initialised with `seed`."""
    if model not in open_clip.list_models():
        raise InputError(f"unknown open_clip model {model!r}; known: {', '.join(open_clip.list_models()[:12])}, ...")
    if pretrained is not None and not Path(pretrained).is_file():
        raise InputError(f"backbone weights {pretrained} do not exist (weights are never downloaded)")
    torch.manual_seed(seed)
    try:
        return open_clip.create_model(model, pretrained=pretrained, load_weights=pretrained is not None)
    except RuntimeError as err:  # load_state_dict's size/key mismatch
        raise InputError(f"backbone weights {pretrained} do not fit architecture {model!r}: "
                         f"{str(err).splitlines()[0]}") from None


@torch.no_grad()
def encode_text(spec: dict, prompts: list[str]) -> np.ndarray:
    """Text embeddings (n_prompts, embed_dim) float32 from an open_clip backbone's config entry: the space of
    that backbone's pooled image features."""
    if spec.get("type") != "open_clip":
        raise InputError(f"text prompts need an open_clip backbone (with a text tower), not {spec.get('type')!r}")
    clip = create_clip(spec["model"], spec.get("pretrained"), spec.get("seed", 0)).eval()
    tokens = open_clip.get_tokenizer(spec["model"])(prompts)
    return clip.encode_text(tokens).float().numpy()


class OpenClipBackbone(nn.Module):
    """The image tower of an open_clip model.

    model: an open_clip architecture name ("ViT-B-16", "ViT-L-14", or voxelflow's "vf-tiny-ViT")
    pretrained: path of a local weights file, or None for random weights (seeded by `seed`)
    layer: transformer block whose tokens are returned (-1: the last)
    pooled is the model's image embedding (after its projection); tokens are the
    class token followed by the patch tokens of `layer`: (n, 1 + n_patches, width).
    """

    def __init__(self, model: str, pretrained: str | None = None, layer: int = -1, seed: int = 0):
        super().__init__()
        clip = create_clip(model, pretrained, seed)
        self.visual = clip.visual.eval().requires_grad_(False)
        n_layers = len(self.visual.transformer.resblocks)
        if not -n_layers <= layer < n_layers:
            raise InputError(f"layer {layer} does not exist: {model} has {n_layers} blocks")
        self.layer = layer % n_layers
        cfg = open_clip.get_model_preprocess_cfg(clip)
        self.image_size = int(np.atleast_1d(cfg["size"])[0])
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.interpolate(images, size=(self.image_size, self.image_size), mode="bicubic", antialias=True,
                          align_corners=False)
        x = (x - self.mean) / self.std
        out = self.visual.forward_intermediates(x.to(self.mean.dtype), indices=[self.layer], output_fmt="NLC",
                                                output_extra_tokens=True)
        tokens = torch.cat([out["image_intermediates_prefix"][0], out["image_intermediates"][0]], dim=1)
        return out["image_features"], tokens


def gabor_bank(size: int, wavelengths: list[float], n_orientations: int) -> torch.Tensor:
    """Quadrature Gabor filters: (2 * len(wavelengths) * n_orientations, 1, size, size) float32.

    Even and odd filters alternate; each has zero mean and unit norm. The Gaussian
    envelope's sigma is half the wavelength (about one octave of bandwidth).
    """
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    filters = []
    for wavelength in wavelengths:
        envelope = torch.exp(-(x**2 + y**2) / (2 * (wavelength / 2) ** 2))
        for k in range(n_orientations):
            theta = math.pi * k / n_orientations
            phase = 2 * math.pi * (x * math.cos(theta) + y * math.sin(theta)) / wavelength
            for carrier in (torch.cos(phase), torch.sin(phase)):
                f = envelope * carrier
                f = f - f.mean()
                filters.append(f / f.norm())
    return torch.stack(filters).unsqueeze(1).float()


class GaborBackbone(nn.Module):
    """A fixed, non-learned baseline: Gabor energy on a spatial grid.

    The luminance image (resized to `image_size`) is filtered by quadrature pairs
    at `wavelengths` (pixels) and `n_orientations`; energy = sqrt(even^2 + odd^2),
    averaged within each cell of a grid x grid partition. tokens are the cells:
    (n, grid^2, channels); pooled is all cells concatenated (n, grid^2 * channels).
    """

    def __init__(self, image_size: int = 64, wavelengths: tuple[float, ...] = (4.0, 8.0, 16.0),
                 n_orientations: int = 4, grid: int = 8):
        super().__init__()
        if image_size % grid:
            raise InputError(f"gabor: image_size {image_size} must be a multiple of grid {grid}")
        self.image_size, self.grid = image_size, grid
        size = int(2 * max(wavelengths)) | 1
        self.register_buffer("filters", gabor_bank(size, list(wavelengths), n_orientations))
        self.register_buffer("luminance", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                          align_corners=False)
        lum = (x * self.luminance).sum(1, keepdim=True)
        lum = lum - lum.mean(dim=(2, 3), keepdim=True)
        response = F.conv2d(lum, self.filters, padding=self.filters.shape[-1] // 2)
        energy = torch.sqrt(response[:, 0::2] ** 2 + response[:, 1::2] ** 2 + 1e-8)
        cells = F.adaptive_avg_pool2d(energy, self.grid)  # (n, channels, grid, grid)
        tokens = cells.flatten(2).transpose(1, 2)
        return tokens.flatten(1), tokens


class TorchvisionBackbone(nn.Module):
    """A torchvision classifier read at one node of its graph (AlexNet, ResNet-50, any classifier by name).

    model: a torchvision classification model ("alexnet", "resnet50", ...); pretrained: a local state dict file, or
    None for random weights (seeded by `seed`); layer: a node name as `torchvision.models.feature_extraction.
    get_graph_node_names` lists them for eval mode, or a module holding nodes (its output: e.g. AlexNet
    "features.12", ResNet "layer4"); None: the penultimate node. Images are preprocessed by the `transforms` entry of the model's weights enum (default
    "DEFAULT": resize, centre crop and ImageNet normalisation as torchvision states them). A spatial map (n, c, h, w)
    gives tokens (n, h * w, c), positions as tokens, and pooled (n, c), their mean; a vector (n, c) is pooled and
    its only token; a token sequence (n, t, c) is kept, pooled by its mean.
    """

    def __init__(self, model: str, pretrained: str | None = None, layer: str | None = None,
                 transforms: str = "DEFAULT", seed: int = 0):
        super().__init__()
        from torchvision import models
        from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

        if model not in models.list_models(module=models):
            raise InputError(f"unknown torchvision classifier {model!r}; e.g. alexnet, resnet50, vgg16, vit_b_16")
        torch.manual_seed(seed)
        network = models.get_model(model, weights=None).eval()
        if pretrained is not None:
            _load_state_dict(network, pretrained, model)
        nodes = get_graph_node_names(network)[1]
        self.layer = nodes[-2] if layer is None else layer
        if not any(node == self.layer or node.startswith(f"{self.layer}.") for node in nodes):  # a node or module
            raise InputError(f"torchvision {model} has no node {layer!r}; its nodes end with {', '.join(nodes[-12:])}")
        self.extractor = create_feature_extractor(network, {self.layer: "out"}).requires_grad_(False)
        weights = models.get_model_weights(model)
        if transforms not in weights.__members__:
            raise InputError(f"torchvision {model} has no weights entry {transforms!r} to take its preprocessing "
                             f"from; it has {', '.join(weights.__members__)}")
        self.preprocess = weights[transforms].transforms()
        log.info("torchvision %s at %s; preprocessing of %s: %s", model, self.layer, transforms,
                 " ".join(str(self.preprocess).split()))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.extractor(self.preprocess(images))["out"]
        tokens = {4: lambda: out.flatten(2).transpose(1, 2), 3: lambda: out, 2: lambda: out[:, None]}[out.ndim]()
        return (out if out.ndim == 2 else tokens.mean(1)), tokens


def _load_state_dict(network: nn.Module, path: str, model: str) -> None:
    """Load a local state dict into `network`; one clear error naming the file when it is not one of `model`."""
    if not Path(path).is_file():
        raise InputError(f"backbone weights {path} do not exist (weights are never downloaded)")
    state = read_torch_file(path, f"torchvision {model} weights", weights_only=True)
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise InputError(f"backbone weights {path} do not fit torchvision {model}: "
                         f"{str(err).strip().splitlines()[0][:200]}") from None


def build_backbone(name: str, spec: dict) -> nn.Module:
    """A backbone from its config entry: {"type": "open_clip" | "torchvision" | "gabor", ...}."""
    spec = dict(spec)
    kind = spec.pop("type", None)
    try:
        if kind == "open_clip":
            return OpenClipBackbone(**spec)
        if kind == "torchvision":
            return TorchvisionBackbone(**spec)
        if kind == "gabor":
            return GaborBackbone(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
    except TypeError as err:
        raise InputError(f"backbones.{name}: {err}") from None
    raise InputError(f"backbones.{name}.type must be open_clip, torchvision or gabor, got {kind!r}")
