"""Frozen image backbones: pixels -> (pooled embedding, tokens of each chosen layer), differentiable end to end.

Every backbone is a `Backbone`: a torch module taking images as (n, 3, H, W) float in [0, 1] (see
`voxelflow.toolkit.tensor_images.images_to_tensor`). `forward_layers(images)` returns `pooled` (n, d), the model's
image embedding, and {layer name: tokens (n, t, d_layer)} for every layer in `layers` from one pass;
`forward(images)` returns `pooled` and the tokens of `layers[-1]`, the primary layer (the deepest of `all`).
`n_prefix_tokens` tokens (a class token) come before the spatial ones, which are row-major positions.

This module holds the contract, the config entry -> backbone factory, open_clip towers and the Gabor baseline;
`library_backbones` holds torchvision, timm and Hugging Face models, `stages_backbone` the mini-NSD's two-stage
known-answer network. Real weights are read from local files; nothing is fetched from a hub. The demo and the
tests use tiny models of the same classes, randomly initialised with a fixed seed.
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

log = logging.getLogger(__name__)
open_clip.add_model_config(Path(__file__).parent / "model_configs")


class Backbone(nn.Module):
    """The backbone contract (see the module docstring); subclasses set `layers` and define `forward_layers`."""

    layers: list[str]
    n_prefix_tokens: int = 0

    def forward_layers(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, tokens = self.forward_layers(images)
        return pooled, tokens[self.layers[-1]]


def layer_indices(layer, n_layers: int, what: str) -> list[int]:
    """Config `layer` (an index, negative from the end, a list of them, or "all") -> list of
    indices in [0, n_layers); one clear error naming `what` for an index out of range or a duplicate."""
    if layer == "all":
        return list(range(n_layers))
    chosen = layer if isinstance(layer, list) else [layer]
    if not chosen or not all(isinstance(i, int) and not isinstance(i, bool) for i in chosen):
        raise InputError(f"{what}: layer must be an index, a list of indices or 'all', got {layer!r}")
    bad = [i for i in chosen if not -n_layers <= i < n_layers]
    if bad:
        raise InputError(f"{what}: layer {bad[0]} does not exist: it has {n_layers} layers (0 to {n_layers - 1})")
    indices = [i % n_layers for i in chosen]
    if len(set(indices)) < len(indices):
        raise InputError(f"{what}: layer list {layer!r} names a layer twice")
    return indices


class ImagePreprocess(nn.Module):
    """Differentiable preprocessing as a model states it: resize (the shorter side to `resize`, or to a square
    when `square`), centre crop to `crop`, normalise by `mean`/`std`. Images (n, 3, H, W) in [0, 1]."""

    def __init__(self, resize: int, crop: int, mean, std, interpolation: str = "bicubic", square: bool = False):
        super().__init__()
        self.resize, self.crop, self.interpolation, self.square = int(resize), int(crop), interpolation, square
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        scale = self.resize / min(h, w)
        size = (self.resize, self.resize) if self.square else (round(h * scale), round(w * scale))
        if size != (h, w):
            images = F.interpolate(images, size=size, mode=self.interpolation, antialias=True, align_corners=False)
        top, left = (size[0] - self.crop) // 2, (size[1] - self.crop) // 2
        images = images[..., top:top + self.crop, left:left + self.crop]
        return (images - self.mean) / self.std

    def extra_repr(self) -> str:
        how = "square" if self.square else "shorter side"
        return (f"resize {how} to {self.resize} ({self.interpolation}), centre crop {self.crop}, "
                f"mean {self.mean.flatten().tolist()}, std {self.std.flatten().tolist()}")


def check_weights_file(path: str | None) -> None:
    """One clear error when a backbone's local weights file `path` (None: random weights) does not exist."""
    if path is not None and not Path(path).is_file():
        raise InputError(f"backbone weights {path} do not exist (weights are never downloaded)")


def create_clip(model: str, pretrained: str | None = None, seed: int = 0) -> nn.Module:
    """An open_clip model (both towers) from a local weights file, or randomly initialised with `seed`."""
    if model not in open_clip.list_models():
        raise InputError(f"unknown open_clip model {model!r}; known: {', '.join(open_clip.list_models()[:12])}, ...")
    check_weights_file(pretrained)
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


class OpenClipBackbone(Backbone):
    """The image tower of an open_clip model.

    model: an open_clip architecture name ("ViT-B-16", "ViT-L-14", or voxelflow's "vf-tiny-ViT")
    pretrained: path of a local weights file, or None for random weights (seeded by `seed`)
    layer: transformer block(s) whose tokens are returned: an index (-1: the last), a list, or "all"
    pooled is the model's image embedding (after its projection); a block's tokens are the
    class token followed by its patch tokens: (n, 1 + n_patches, width). Layers are named "blocks.{i}".
    """

    n_prefix_tokens = 1

    def __init__(self, model: str, pretrained: str | None = None, layer=-1, seed: int = 0):
        super().__init__()
        clip = create_clip(model, pretrained, seed)
        self.visual = clip.visual.eval().requires_grad_(False)
        self.indices = layer_indices(layer, len(self.visual.transformer.resblocks), f"open_clip {model}")
        self.layers = [f"blocks.{i}" for i in self.indices]
        cfg = open_clip.get_model_preprocess_cfg(clip)
        size = int(np.atleast_1d(cfg["size"])[0])
        self.preprocess = ImagePreprocess(size, size, cfg["mean"], cfg["std"], cfg.get("interpolation", "bicubic"),
                                          square=cfg.get("resize_mode", "shortest") == "squash")
        log.info("open_clip %s at %s; preprocessing: %s", model, ", ".join(self.layers), self.preprocess.extra_repr())

    def forward_layers(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self.preprocess(images).to(self.preprocess.mean.dtype)
        out = self.visual.forward_intermediates(x, indices=self.indices, output_fmt="NLC", output_extra_tokens=True)
        tokens = {name: torch.cat([prefix, patches], dim=1) for name, prefix, patches in
                  zip(self.layers, out["image_intermediates_prefix"], out["image_intermediates"])}
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


class GaborBackbone(Backbone):
    """A fixed, non-learned baseline: Gabor energy on a spatial grid.

    The luminance image (resized to `image_size`) is filtered by quadrature pairs
    at `wavelengths` (pixels) and `n_orientations`; energy = sqrt(even^2 + odd^2),
    averaged within each cell of a grid x grid partition. tokens (its one layer, "energy") are the cells:
    (n, grid^2, channels); pooled is all cells concatenated (n, grid^2 * channels).
    """

    layers = ["energy"]

    def __init__(self, image_size: int = 64, wavelengths: tuple[float, ...] = (4.0, 8.0, 16.0),
                 n_orientations: int = 4, grid: int = 8):
        super().__init__()
        if image_size % grid:
            raise InputError(f"gabor: image_size {image_size} must be a multiple of grid {grid}")
        self.image_size, self.grid = image_size, grid
        size = int(2 * max(wavelengths)) | 1
        self.register_buffer("filters", gabor_bank(size, list(wavelengths), n_orientations))
        self.register_buffer("luminance", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))

    def forward_layers(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                          align_corners=False)
        lum = (x * self.luminance).sum(1, keepdim=True)
        lum = lum - lum.mean(dim=(2, 3), keepdim=True)
        response = F.conv2d(lum, self.filters, padding=self.filters.shape[-1] // 2)
        energy = torch.sqrt(response[:, 0::2] ** 2 + response[:, 1::2] ** 2 + 1e-8)
        cells = F.adaptive_avg_pool2d(energy, self.grid)  # (n, channels, grid, grid)
        tokens = cells.flatten(2).transpose(1, 2)
        return tokens.flatten(1), {"energy": tokens}


BACKBONE_TYPES = ("open_clip", "timm", "huggingface", "torchvision", "gabor", "mininsd_stages")


def build_backbone(name: str, spec: dict) -> Backbone:
    """A backbone from its config entry: {"type": one of BACKBONE_TYPES, ...}; the entry's `tokens` (how stored
    tokens are reduced, see `voxelflow.encoders.token_reduction`) is not the backbone's and is ignored here."""
    from voxelflow.encoders import library_backbones, stages_backbone

    spec = {key: value for key, value in spec.items() if key != "tokens"}
    kind = spec.pop("type", None)
    classes = {"open_clip": OpenClipBackbone, "timm": library_backbones.TimmBackbone,
               "huggingface": library_backbones.HuggingFaceBackbone,
               "torchvision": library_backbones.TorchvisionBackbone, "gabor": GaborBackbone,
               "mininsd_stages": stages_backbone.ContrastCategoryBackbone}
    if kind not in classes:
        raise InputError(f"backbones.{name}.type must be one of {', '.join(BACKBONE_TYPES)}, got {kind!r}")
    if kind == "gabor":
        spec = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
    try:
        return classes[kind](**spec)
    except TypeError as err:
        raise InputError(f"backbones.{name}: {err}") from None
