"""The settings of every trained model, as dataclasses with `validate()`: torch-free, so that the workflow checks
each config block when the DAG is built, before any job runs (the jobs build their models from the same classes).
Each class's defaults are the config schema's (tests/test_config_defaults.py)."""

from __future__ import annotations

from dataclasses import dataclass

from voxelflow.config_check import dataclass_settings
from voxelflow.errors import InputError


def check_model_config(section: str, config, counts: tuple[str, ...], width: str | None = None,
                       n_heads: str = "n_heads") -> None:
    """One clear error unless each of `counts` is at least 1 and `width` (when given) divides by `n_heads`
    (attributes of a model's config dataclass; `section` is its config.yaml key, e.g. "encoders.transformer")."""
    for name in counts:
        if getattr(config, name) < 1:
            raise InputError(f"{section}.{name} must be at least 1, got {getattr(config, name)}")
    if width is not None and getattr(config, width) % getattr(config, n_heads):
        raise InputError(f"{section}.{width} ({getattr(config, width)}) must be divisible by {n_heads} "
                         f"({getattr(config, n_heads)})")


@dataclass
class TransformerConfig:
    """Hyper-parameters of the transformer encoder (defaults follow Adeli et al. at small scale)."""

    partition: str = "streams"
    split_hemispheres: bool = True
    queries_per_roi: int = 1
    d_model: int = 128
    n_layers: int = 1
    n_heads: int = 4
    dropout: float = 0.1
    epochs: int = 60
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 32
    val_fraction: float = 0.1
    patience: int = 8
    seed: int = 0

    def validate(self) -> None:
        check_model_config("encoders.transformer", self, ("queries_per_roi", "d_model", "n_layers", "n_heads",
                                                          "epochs", "batch_size", "patience"), width="d_model")
        if not 0 < self.val_fraction < 0.5:
            raise InputError(f"encoders.transformer.val_fraction must be in (0, 0.5), got {self.val_fraction}")


@dataclass
class InContextConfig:
    """Hyper-parameters of the in-context encoder (BraInCoRL: width 560-1200, 20 layers, 10 heads, 4 registers,
    context 30-500, 100 queries, batch 64; the defaults here, the same as the config schema's, are a CPU-sized
    version)."""

    width: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_registers: int = 4
    context_min: int = 10
    context_max: int = 100
    n_query: int = 50
    batch_voxels: int = 64
    steps: int = 1000
    lr: float = 3e-3
    weight_decay: float = 0.01
    eval_every: int = 250
    patience: int = 5
    seed: int = 0

    def validate(self) -> None:
        check_model_config("encoders.in_context", self, ("width", "n_layers", "n_heads", "n_registers", "n_query",
                                                         "batch_voxels", "steps", "eval_every", "patience"),
                           width="width")
        if not 2 <= self.context_min <= self.context_max:
            raise InputError(f"encoders.in_context needs 2 <= context_min <= context_max, got "
                             f"{self.context_min} and {self.context_max}")


@dataclass
class ContrastiveConfig:
    """Hyper-parameters; the defaults are MindEye's (hidden 4096, 4 residual blocks, 240 epochs of 32)."""

    hidden: int = 4096
    n_blocks: int = 4
    projector_hidden: int = 2048
    dropout_input: float = 0.5
    dropout: float = 0.15
    epochs: int = 240
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-2
    mixup_pct: float = 0.33
    mixco_beta: float = 0.15
    mixco_temperature: float = 0.006
    soft_clip_temperature_start: float = 0.004
    soft_clip_temperature_end: float = 0.0075
    mse_weight: float = 10.0
    seed: int = 0

    def validate(self) -> None:
        check_model_config("decoders.contrastive", self, ("hidden", "projector_hidden", "epochs", "batch_size"))
        if self.n_blocks < 0 or not 0 <= self.mixup_pct <= 1:
            raise InputError(f"decoders.contrastive: n_blocks must be >= 0 and mixup_pct in [0, 1], got "
                             f"{self.n_blocks} and {self.mixup_pct}")


@dataclass
class PriorConfig:
    """Hyper-parameters; MindEye's prior is 6 layers of width 768 with 12 heads and 100 timesteps."""

    width: int = 768
    n_layers: int = 6
    n_heads: int = 12
    timesteps: int = 100
    cond_drop: float = 0.2
    epochs: int = 100
    batch_size: int = 32
    lr: float = 3e-4
    seed: int = 0

    def validate(self) -> None:
        check_model_config("decoders.prior", self, ("width", "n_layers", "n_heads", "timesteps", "epochs",
                                                    "batch_size"), width="width")


@dataclass
class GeneratorConfig:
    """Size and training of the pixel-space generator (the demo's; real runs load a trained folder)."""

    image_size: int = 32
    channels: tuple[int, ...] = (16, 32, 64)
    steps: int = 1500
    batch_size: int = 32
    lr: float = 1e-3
    cond_drop: float = 0.1
    seed: int = 0

    def validate(self) -> None:
        n = len(self.channels)
        if n < 2 or self.image_size % 2 ** (n - 1):
            raise InputError(f"decoders.reconstruction.train_generator: needs at least 2 channel levels and an "
                             f"image_size divisible by {2 ** (n - 1)}, got {list(self.channels)} and {self.image_size}")


def validate_model_blocks(config: dict) -> None:
    """Validate every model block present in a (schema-checked) workflow config; InputError naming the key."""
    for key, settings_class in MODEL_BLOCKS.items():
        block = config
        for part in key.split("."):
            block = block.get(part) if isinstance(block, dict) else None
        if block is not None:
            dataclass_settings(settings_class, block).validate()


# config.yaml block -> its settings class
MODEL_BLOCKS = {
    "encoders.transformer": TransformerConfig,
    "encoders.in_context": InContextConfig,
    "decoders.contrastive": ContrastiveConfig,
    "decoders.reconstruction.prior": PriorConfig,
    "decoders.reconstruction.train_generator": GeneratorConfig,
}
