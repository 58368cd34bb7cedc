"""Resumable training checkpoints: one torch file, written atomically, tied to the settings and the training
data that made it."""

from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path

import numpy as np
import torch

from voxelflow.atomic_output import atomic_output
from voxelflow.errors import InputError
from voxelflow.file_reading import damaged_file_message

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
    saved = read_torch_file(path, "training checkpoint", map_location=device)
    if not isinstance(saved, dict) or saved.get("identity") != identity:
        old = saved.get("identity", {}) if isinstance(saved, dict) else {}
        what = "settings" if old.get("config") != identity.get("config") else "training data"
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
    saved = read_torch_file(path, what)
    if not isinstance(saved, dict) or saved.get(key) != kind:
        raise InputError(f"{path} is not {what}")
    return saved


def read_torch_file(path: str | Path, what: str, map_location="cpu", weights_only: bool = False):
    """`torch.load` of a file voxelflow reads, with one InputError naming the file (and, for the workflow's
    outputs, the rule that wrote it) when it is truncated, corrupt or not a torch file at all. `weights_only`
    for files from outside (weights): then anything but tensors and plain containers is refused, and the error
    says what the file holds instead of suggesting to unpickle it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as err:
        if weights_only:
            first = str(err).strip().splitlines()[-1][:160]
            raise InputError(f"{path} ({what}) is not a plain state dict of tensors: {first}") from None
        raise InputError(damaged_file_message(path, what, err)) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise InputError(damaged_file_message(path, what, str(err).strip().splitlines()[0][:200])) from None
