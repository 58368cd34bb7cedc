"""Backbones from the model libraries: torchvision classifiers, timm models and Hugging Face vision towers.

Each is a `voxelflow.encoders.backbones.Backbone` (pooled (n, d) and tokens (n, t, d_layer) per chosen layer, from
one differentiable pass over images (n, 3, H, W) in [0, 1]), preprocessed as the model's own config states it
(logged), with weights read from local files only: a missing file, or weights of another architecture, is one
error naming the file. Vision transformers' layers are named "blocks.{i}" (the output of block i, before any final
norm); their tokens are the class token (if the model has one) then the patch tokens, register tokens dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from voxelflow.encoders.backbones import Backbone, ImagePreprocess, check_weights_file, layer_indices
from voxelflow.errors import InputError
from voxelflow.toolkit.model_files import read_torch_file

log = logging.getLogger(__name__)

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _spatial_tokens(out: torch.Tensor) -> torch.Tensor:
    """A node's output as tokens: a map (n, c, h, w) -> positions (n, h * w, c); a vector (n, c) -> (n, 1, c);
    a sequence (n, t, c) as it is."""
    return {4: lambda: out.flatten(2).transpose(1, 2), 3: lambda: out, 2: lambda: out[:, None]}[out.ndim]()


class TorchvisionBackbone(Backbone):
    """A torchvision classifier read at nodes of its graph (AlexNet, ResNet-50, any classifier by name).

    model: a torchvision classification model ("alexnet", "resnet50", ...); pretrained: a local state dict file, or
    None for random weights (seeded by `seed`); layer: a node name as `torchvision.models.feature_extraction.
    get_graph_node_names` lists them for eval mode, or a module holding nodes (its output: e.g. AlexNet
    "features.12", ResNet "layer4"), a list of them, or "all" (the network's top-level modules); None: the
    penultimate node. Images are preprocessed by the `transforms` entry of the model's weights enum (default
    "DEFAULT": resize, centre crop and ImageNet normalisation as torchvision states them). A spatial map (n, c, h, w)
    gives tokens (n, h * w, c), positions as tokens; a vector (n, c) is its only token. pooled is the primary
    (last) layer's vector, or the mean of its tokens.
    """

    def __init__(self, model: str, pretrained: str | None = None, layer: str | list | None = None,
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

        def readable(name: str) -> bool:  # a node, or a module holding nodes
            return any(node == name or node.startswith(f"{name}.") for node in nodes)

        if layer == "all":
            layer = [name for name, _ in network.named_children() if readable(name)]
        self.layers = [nodes[-2]] if layer is None else (list(layer) if isinstance(layer, list) else [layer])
        for name in self.layers:
            if not readable(name):
                raise InputError(f"torchvision {model} has no node {name!r}; its nodes end with "
                                 f"{', '.join(nodes[-12:])}")
        self.extractor = create_feature_extractor(network, {name: name for name in self.layers}).requires_grad_(False)
        weights = models.get_model_weights(model)
        if transforms not in weights.__members__:
            raise InputError(f"torchvision {model} has no weights entry {transforms!r} to take its preprocessing "
                             f"from; it has {', '.join(weights.__members__)}")
        self.preprocess = weights[transforms].transforms()
        log.info("torchvision %s at %s; preprocessing of %s: %s", model, ", ".join(self.layers), transforms,
                 " ".join(str(self.preprocess).split()))

    def forward_layers(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.extractor(self.preprocess(images))
        tokens = {name: _spatial_tokens(out[name]) for name in self.layers}
        primary = out[self.layers[-1]]
        return (primary if primary.ndim == 2 else tokens[self.layers[-1]].mean(1)), tokens


def _load_state_dict(network: nn.Module, path: str, model: str) -> None:
    """Load a local state dict into `network`; one clear error naming the file when it is not one of `model`."""
    check_weights_file(path)
    state = read_torch_file(path, f"torchvision {model} weights", weights_only=True)
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise InputError(f"backbone weights {path} do not fit torchvision {model}: "
                         f"{str(err).strip().splitlines()[0][:200]}") from None


class TimmBackbone(Backbone):
    """Any timm model by name (e.g. DINOv2 "vit_base_patch14_dinov2", "vit_base_patch14_reg4_dinov2", ResNets).

    pretrained: a local checkpoint, read through timm's own loader (so original DINOv2 checkpoints and position
    embeddings of another resolution are converted as timm does); None for random weights (seeded by `seed`).
    model_args: keyword arguments of the model's constructor (e.g. {img_size: 434} for DINOv2's 31 x 31 = 961
    patch tokens; the demo's tiny models set depth and width). layer: block index, list, or "all" (timm's
    `forward_intermediates` indices; a CNN's stages). pooled is timm's pre-logits embedding. Preprocessing is timm's
    data config of the model (input size, crop_pct, interpolation, mean, std), the input size of `img_size` if given.
    """

    def __init__(self, model: str, pretrained: str | None = None, layer=-1, model_args: dict | None = None,
                 seed: int = 0):
        super().__init__()
        import timm

        if not timm.is_model(model):
            raise InputError(f"unknown timm model {model!r}; e.g. vit_base_patch14_dinov2, resnet50")
        check_weights_file(pretrained)
        model_args = dict(model_args or {})
        torch.manual_seed(seed)
        try:
            network = timm.create_model(model, pretrained=pretrained is not None, **model_args,
                                        pretrained_cfg_overlay={"file": pretrained, "source": "file"})
        except (RuntimeError, KeyError, ValueError) as err:
            raise InputError(f"backbone weights {pretrained} do not fit timm {model}: "
                             f"{str(err).strip().splitlines()[0][:200]}") from None
        except TypeError as err:
            raise InputError(f"timm {model}: model_args {model_args}: {err}") from None
        self.network = network.eval().requires_grad_(False)
        self.indices = layer_indices(layer, len(self.network.feature_info), f"timm {model}")
        self.layers = [self.network.feature_info[i]["module"] for i in self.indices]
        self.is_transformer = hasattr(self.network, "num_prefix_tokens")
        self.n_prefix_tokens = int(getattr(self.network, "cls_token", None) is not None) if self.is_transformer else 0
        cfg = timm.data.resolve_model_data_config(self.network)
        size = model_args.get("img_size", cfg["input_size"][-1])
        size = size if isinstance(size, int) else size[-1]
        self.preprocess = ImagePreprocess(int(size / cfg["crop_pct"]), size, cfg["mean"], cfg["std"],
                                          cfg["interpolation"] if cfg["interpolation"] != "nearest" else "bicubic")
        log.info("timm %s at %s; preprocessing: %s", model, ", ".join(self.layers), self.preprocess.extra_repr())

    def forward_layers(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self.preprocess(images)
        if self.is_transformer:
            final, intermediates = self.network.forward_intermediates(x, indices=self.indices, output_fmt="NLC",
                                                                      return_prefix_tokens=True)
            tokens = {name: torch.cat([prefix[:, :self.n_prefix_tokens], patches], dim=1)  # registers dropped
                      for name, (patches, prefix) in zip(self.layers, intermediates)}
        else:
            final, intermediates = self.network.forward_intermediates(x, indices=self.indices)
            tokens = {name: _spatial_tokens(out) for name, out in zip(self.layers, intermediates)}
        return self.network.forward_head(final, pre_logits=True), tokens


class HuggingFaceBackbone(Backbone):
    """A Hugging Face transformers vision tower: CLIP (pooled: the projected image embedding), DINOv2 (with or
    without registers), ViT, SigLIP, ... (pooled: the model's pooler output).

    path: a local folder as `save_pretrained` writes it (config, weights, preprocessor_config.json), loaded with
    `local_files_only`; None builds a random model from `config` ({model_type: dinov2, hidden_size: ...}, seeded by
    `seed`; preprocessing then resizes to its image_size with ImageNet statistics). layer: transformer layer index
    (hidden state i + 1), list, or "all". Preprocessing follows the folder's image processor config (resize, centre
    crop, mean, std, resampling).
    """

    def __init__(self, path: str | None = None, layer=-1, config: dict | None = None, seed: int = 0):
        super().__init__()
        import transformers

        torch.manual_seed(seed)
        if path is None:
            if not config or "model_type" not in config:
                raise InputError("huggingface backbone: give path (a local model folder) or config with model_type")
            model_config = transformers.AutoConfig.for_model(**config)
            model_class = self._model_class(model_config.model_type, transformers)
            network = (model_class.from_config(model_config) if model_class is transformers.AutoModel
                       else model_class(model_config))
            size = model_config.image_size
            self.preprocess = ImagePreprocess(size, size, IMAGENET_MEAN, IMAGENET_STD)
        else:
            if not (Path(path) / "config.json").is_file():
                raise InputError(f"backbone folder {path} has no config.json (a save_pretrained folder; weights "
                                 "are never downloaded)")
            model_type = transformers.AutoConfig.from_pretrained(path, local_files_only=True).model_type
            network, info = self._model_class(model_type, transformers).from_pretrained(
                path, local_files_only=True, output_loading_info=True)
            if info["missing_keys"] or info["mismatched_keys"]:
                missing = sorted(info["missing_keys"]) + [str(k) for k in info["mismatched_keys"]]
                raise InputError(f"backbone weights in {path} do not fit {type(network).__name__}: "
                                 f"{len(missing)} weights missing or of another shape, e.g. {missing[0]}")
            self.preprocess = self._processor_preprocess(path, transformers)
        self.network = network.eval().requires_grad_(False)
        cfg = getattr(self.network.config, "vision_config", self.network.config)
        self.n_registers = getattr(cfg, "num_register_tokens", 0)
        self.n_prefix_tokens = 0 if "siglip" in cfg.model_type else 1
        what = f"huggingface {path or cfg.model_type}"
        self.indices = layer_indices(layer, cfg.num_hidden_layers, what)
        self.layers = [f"blocks.{i}" for i in self.indices]
        log.info("%s (%s) at %s; preprocessing: %s", what, type(self.network).__name__, ", ".join(self.layers),
                 self.preprocess.extra_repr())

    @staticmethod
    def _model_class(model_type: str, transformers):
        if model_type in ("clip", "clip_vision_model"):
            return transformers.CLIPVisionModelWithProjection
        return transformers.AutoModel

    @staticmethod
    def _processor_preprocess(path: str, transformers) -> ImagePreprocess:
        processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True)
        size, crop = processor.size, getattr(processor, "crop_size", None)
        resize = size["shortest_edge"] if size.get("shortest_edge") else size["height"]
        square = not size.get("shortest_edge")
        crop_side = crop["height"] if getattr(processor, "do_center_crop", False) and crop else resize
        mean = processor.image_mean if processor.do_normalize else (0.0, 0.0, 0.0)
        std = processor.image_std if processor.do_normalize else (1.0, 1.0, 1.0)
        resample = getattr(processor, "resample", None)
        resample = getattr(resample, "value", resample)  # a PIL or torchvision enum
        interpolation = resample if isinstance(resample, str) else _PIL_RESAMPLE.get(resample, "bicubic")
        return ImagePreprocess(resize, crop_side, mean, std, interpolation, square=square)

    def forward_layers(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.network(pixel_values=self.preprocess(images), output_hidden_states=True)
        start = self.n_prefix_tokens + self.n_registers
        tokens = {name: torch.cat([out.hidden_states[i + 1][:, :self.n_prefix_tokens],
                                   out.hidden_states[i + 1][:, start:]], dim=1)
                  for name, i in zip(self.layers, self.indices)}
        pooled = out.image_embeds if hasattr(out, "image_embeds") else out.pooler_output
        return pooled, tokens
