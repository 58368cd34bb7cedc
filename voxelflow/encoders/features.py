"""Backbone features of stimulus images: `results/features/{backbone}.h5`.

Layout: `image_ids` (n,) int64 ascending 0-based NSD ids; `pooled` (n, d) float16;
`tokens` (n, t, d_tokens) float16, one chunk per image. Attributes: backbone, spec (JSON).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from voxelflow.atomic_output import atomic_output
from voxelflow.devices import resolve_device
from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5
from voxelflow.toolkit.tensor_images import images_to_tensor

log = logging.getLogger(__name__)


@dataclass
class Features:
    """image_ids (n,); pooled (n, d) float32; tokens (n, t, d_tokens) float32 or None."""

    image_ids: np.ndarray
    pooled: np.ndarray
    tokens: np.ndarray | None = None

    def embeddings(self, tokens: bool) -> np.ndarray:
        """The token grid (n, t, d_tokens) when `tokens` (it must have been loaded), else pooled (n, d)."""
        if tokens and self.tokens is None:
            raise ValueError("token features were not loaded (load_features(..., tokens=True))")
        return self.tokens if tokens else self.pooled


def embed_batch(backbone: nn.Module, images: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch (b, H, W, 3) uint8 or float in [0, 1] through `backbone` (on `device`, in eval mode) -> pooled
    (b, d) and tokens (b, t, d_tokens); float16 autocast on CUDA, float32 on the CPU."""
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        return backbone(images_to_tensor(images, device))


def image_embedder(backbone: nn.Module, device: str = "auto", tokens: bool = False,
                   batch_size: int = 64) -> Callable[[np.ndarray], np.ndarray]:
    """images (n, H, W, 3) uint8 or float in [0, 1] -> the backbone's embeddings as features files hold them:
    pooled (n, d), or the token grid (n, t, d_tokens) when `tokens`; float32."""
    torch_device = resolve_device(device)
    backbone = backbone.to(torch_device).eval()

    def embed(images: np.ndarray) -> np.ndarray:
        batches = [embed_batch(backbone, images[start:start + batch_size], torch_device)[1 if tokens else 0]
                   for start in range(0, len(images), batch_size)]
        return torch.cat(batches).float().cpu().numpy()
    return embed


def extract_features(backbone: nn.Module, stimuli_path: str | Path, image_ids: np.ndarray, out_path: str | Path,
                     batch_size: int = 64, device: str = "auto", attrs: dict | None = None) -> None:
    """Run `backbone` over the images `image_ids` of the stimulus brick and write the features file.

    The brick (`imgBrick`, (n_images, H, W, 3) uint8) is read `batch_size` images
    at a time. On CUDA the backbone runs in float16 autocast; on the CPU in float32.
    """
    image_ids = np.unique(np.asarray(image_ids, dtype=np.int64))
    device = resolve_device(device)
    backbone = backbone.to(device).eval()
    with open_hdf5(stimuli_path, "stimulus brick") as stimuli:
        brick = stimuli["imgBrick"]
        missing = image_ids[(image_ids < 0) | (image_ids >= len(brick))]
        if len(missing):
            raise InputError(f"{len(missing)} images are missing from {stimuli_path} (it holds {len(brick)}); "
                             f"first missing id: {missing[0]}")
        with atomic_output(out_path) as tmp, h5py.File(tmp, "w") as out:
            out.attrs.update(attrs or {})
            out.create_dataset("image_ids", data=image_ids)
            pooled = tokens = None
            for start in tqdm(range(0, len(image_ids), batch_size), desc=f"features {Path(out_path).stem}",
                              unit="batch"):
                ids = image_ids[start:start + batch_size]
                p, t = embed_batch(backbone, brick[ids], device)
                if pooled is None:
                    pooled = out.create_dataset("pooled", (len(image_ids), p.shape[1]), dtype=np.float16)
                    tokens = out.create_dataset("tokens", (len(image_ids), *t.shape[1:]), dtype=np.float16,
                                                chunks=(1, *t.shape[1:]))
                pooled[start:start + len(ids)] = p.float().cpu().numpy()
                tokens[start:start + len(ids)] = t.float().cpu().numpy()
    log.info("wrote features of %d images to %s", len(image_ids), out_path)


def load_features(path: str | Path | list, image_ids: np.ndarray | None = None, tokens: bool = False) -> Features:
    """Features of `image_ids` (all if None), rows in the order of `image_ids`, as float32. `path` is one
    features file or a list of them (e.g. several subjects'): each image is read from the first file holding it."""
    if isinstance(path, (list, tuple)):
        return _load_from_files([Path(p) for p in path], image_ids, tokens)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"features file {path} does not exist; run the extract_features rule first")
    with open_hdf5(path, "features") as f:
        stored = f["image_ids"][()]
        if image_ids is None:
            rows = np.arange(len(stored))
        else:
            rows = np.searchsorted(stored, image_ids)
            rows = np.minimum(rows, len(stored) - 1)
            absent = stored[rows] != image_ids
            if absent.any():
                raise InputError(f"{path} lacks features of {absent.sum()} images (first: {image_ids[absent][0]})")
        order = np.argsort(rows)  # h5py reads rows in increasing order
        pooled = np.empty((len(rows), f["pooled"].shape[1]), dtype=np.float32)
        pooled[order] = f["pooled"][np.sort(rows)]
        token_array = None
        if tokens:
            token_array = np.empty((len(rows), *f["tokens"].shape[1:]), dtype=np.float32)
            token_array[order] = f["tokens"][np.sort(rows)]
        return Features(stored[rows], pooled, token_array)


def _load_from_files(paths: list[Path], image_ids: np.ndarray | None, tokens: bool) -> Features:
    stored = []
    for path in paths:
        with open_hdf5(path, "features") as f:
            stored.append(f["image_ids"][()])
    wanted = np.unique(np.concatenate(stored)) if image_ids is None else np.asarray(image_ids)
    source = np.full(len(wanted), -1)
    for index in range(len(paths) - 1, -1, -1):  # the first file holding an image wins
        source[np.isin(wanted, stored[index])] = index
    if (source < 0).any():
        raise InputError(f"none of {', '.join(map(str, paths))} holds features of image {wanted[source < 0][0]}")
    parts = {index: load_features(paths[index], wanted[source == index], tokens) for index in np.unique(source)}
    first = next(iter(parts.values()))
    pooled = np.empty((len(wanted), first.pooled.shape[1]), dtype=np.float32)
    token_array = np.empty((len(wanted), *first.tokens.shape[1:]), dtype=np.float32) if tokens else None
    for index, part in parts.items():
        pooled[source == index] = part.pooled
        if tokens:
            token_array[source == index] = part.tokens
    return Features(wanted, pooled, token_array)


def backbone_spec_json(spec: dict) -> str:
    """The backbone's config entry as canonical JSON, stored with its features."""
    return json.dumps(spec, sort_keys=True)
