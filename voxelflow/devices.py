"""`device: auto` -> a torch device: CUDA when present, the CPU otherwise."""

from __future__ import annotations

import torch

from voxelflow.errors import InputError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> cuda if available else cpu; "cpu"/"cuda"/"cuda:1" as given (cuda must exist)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device: {device!r} was asked for but no CUDA device is available")
    try:
        return torch.device(device)
    except RuntimeError:
        raise InputError(f"device must be auto, cpu or cuda, got {device!r}") from None
