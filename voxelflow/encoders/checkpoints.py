"""Resumable training checkpoints: one torch file, written atomically, tied to the settings and the training
data that made it."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch

from voxelflow.atomic_output import atomic_output
from voxelflow.errors import InputError

log = logging.getLogger(__name__)


def data_fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 of the shapes, dtypes and bytes of the training arrays: what ties a checkpoint to its data."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def load_checkpoint(path: str | Path | None, identity: dict, device: torch.device) -> dict | None:
    """The training state saved at `path`, or None when there is none. `identity` ({"config": settings, "data":
    data_fingerprint(...)}) must equal the saved one: a checkpoint of other settings or other training data is
    deleted with a log line, never resumed from."""
    if not path or not Path(path).is_file():
        return None
    saved = torch.load(path, map_location=device, weights_only=False)
    if saved.get("identity") != identity:
        what = "settings" if saved.get("identity", {}).get("config") != identity.get("config") else "training data"
        log.info("checkpoint %s was made with other %s; discarded, training afresh", path, what)
        Path(path).unlink()
        return None
    log.info("resuming from %s", path)
    return saved


def save_checkpoint(path: str | Path | None, identity: dict, state: dict) -> None:
    """Write `state` (model and optimizer state dicts, progress counters) with `identity`; no-op without a path."""
    if not path:
        return
    with atomic_output(path) as tmp:
        torch.save({"identity": identity, **state}, tmp)


def read_model_file(path: str | Path, key: str, kind: str, what: str) -> dict:
    """A model file written by a `save` method: the dict whose `key` ("encoder" or "decoder") is `kind`;
    a clear error naming the file when it does not exist or holds something else (`what` names the model)."""
    if not Path(path).is_file():
        raise InputError(f"{what} file {path} does not exist")
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(saved, dict) or saved.get(key) != kind:
        raise InputError(f"{path} is not {what}")
    return saved
