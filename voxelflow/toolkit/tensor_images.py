"""Images between numpy and torch models: the tensor side of `voxelflow.images` (which stays torch-free)."""

from __future__ import annotations

import numpy as np
import torch

from voxelflow.images import resize_images, to_unit_float


def images_to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, H, W, 3) uint8 or float in [0, 1] -> (n, 3, H, W) float32 in [0, 1] on `device`."""
    return torch.from_numpy(np.ascontiguousarray(to_unit_float(images))).to(device).permute(0, 3, 1, 2)


def to_model_range(images: np.ndarray, size: int) -> torch.Tensor:
    """(n, H, W, 3) uint8 or float in [0, 1] -> (n, 3, size, size) float32 in [-1, 1], a pixel-space diffusion
    model's range (resized with antialiasing)."""
    return images_to_tensor(resize_images(images, size)).clamp(0, 1) * 2 - 1


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    """Pixel-space samples in [-1, 1] (b, 3, H, W) -> images in [0, 1] (clipped)."""
    return (x.clamp(-1, 1) + 1) / 2
