"""Resumable training checkpoints: one torch file, written atomically, tied to the config that made it."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from voxelflow.atomic_output import atomic_output
from voxelflow.errors import InputError

log = logging.getLogger(__name__)


def load_checkpoint(path: str | Path | None, config: dict, device: torch.device) -> dict | None:
    """The training state saved at `path`, or None when there is none or it was made with another config."""
    if not path or not Path(path).is_file():
        return None
    saved = torch.load(path, map_location=device, weights_only=False)
    if saved.get("config") != config:
        log.info("checkpoint %s was made with another config; starting afresh", path)
        return None
    log.info("resuming from %s", path)
    return saved


def save_checkpoint(path: str | Path | None, config: dict, state: dict) -> None:
    """Write `state` (model and optimizer state dicts, progress counters) with `config`; no-op without a path."""
    if not path:
        return
    with atomic_output(path) as tmp:
        torch.save({"config": config, **state}, tmp)


def read_model_file(path: str | Path, key: str, kind: str, what: str) -> dict:
    """A model file written by a `save` method: the dict whose `key` ("encoder" or "decoder") is `kind`;
    a clear error naming the file when it does not exist or holds something else (`what` names the model)."""
    if not Path(path).is_file():
        raise InputError(f"{what} file {path} does not exist")
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(saved, dict) or saved.get(key) != kind:
        raise InputError(f"{path} is not {what}")
    return saved
