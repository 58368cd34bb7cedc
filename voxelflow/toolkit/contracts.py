"""What every encoder and generator offers, as `typing.Protocol`s that the models satisfy by shape (no base class
to inherit), and the one "not fitted" error.

Conventions behind them (scikit-learn's): `__init__` takes hyper-parameters, the device and a checkpoint path,
never data; `fit` takes the data and returns self; learned state ends in "_"; `device` is resolved once, in
`__init__` (`voxelflow.devices.resolve_device`); `save(path)` / `cls.load(path, device)` round-trip a model, and
`voxelflow.toolkit.registry` loads any saved model from the tag its file carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from voxelflow.errors import InputError


@runtime_checkable
class Encoder(Protocol):
    """A fitted image -> voxel model. Features are pooled (n, n_features) or, when `reads_tokens`, token grids
    (n, n_tokens, d_tokens); responses are (n, n_voxels)."""

    reads_tokens: bool
    n_features_in_: int

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def predict_torch(self, X: torch.Tensor) -> torch.Tensor: ...

    def score(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray: ...

    def save(self, path: str | Path) -> None: ...


@runtime_checkable
class TrainableEncoder(Encoder, Protocol):
    """An encoder fitted on one subject's training images: fit(features, responses) -> self."""

    def fit(self, X: np.ndarray, Y: np.ndarray) -> TrainableEncoder: ...


@runtime_checkable
class Generator(Protocol):
    """Embeddings -> images: generate(embeddings (n, d) or (n, t, d), init_images, strength, ...) -> (n, S, S, 3)
    float in [0, 1]; `embedding_dim` is d. Loaded with `cls.load(folder, device, gradient_checkpointing=False)`."""

    embedding_dim: int

    def generate(self, embeddings: np.ndarray, init_images: np.ndarray | None = None, strength: float = 1.0,
                 n_steps: int = 25, guidance_scale: float = 3.0, seed: int = 0) -> np.ndarray: ...


def check_fitted(model: object, attribute: str) -> None:
    """One clear error when `model` has no learned `attribute` yet (it was neither fitted nor loaded)."""
    if not hasattr(model, attribute):
        raise InputError(f"this {type(model).__name__} is not fitted yet: call fit(...) or {type(model).__name__}"
                         f".load(path) first")
