"""Backbone features of stimulus images: `results/features/{backbone}.h5`.

Layout: `image_ids` (n,) int64 ascending 0-based NSD ids; `pooled` (n, d) float16; `layers/{name}` (n, t, d_layer)
float16 tokens of each of the backbone's layers (reduced as the entry's `tokens` says), one lzf-compressed chunk per
image; `tokens` is the primary (last) layer's, a hard link; `pca/{layer}/mean, components` when tokens were
projected on principal components. Attributes: backbone, spec, layers, token_reduction (JSON), rows_done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from voxelflow.devices import resolve_device
from voxelflow.encoders.backbones import Backbone
from voxelflow.encoders.token_reduction import TokenCovariance, TokenReduction, grid_pool, project
from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5
from voxelflow.nsd_layout import open_stimuli
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


def embed_layers(backbone: Backbone, images: np.ndarray, device: torch.device
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One batch (b, H, W, 3) uint8 or float in [0, 1] through `backbone` (on `device`, in eval mode) -> pooled
    (b, d) and {layer: tokens (b, t, d_layer)}; float16 autocast on CUDA, float32 on the CPU."""
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        return backbone.forward_layers(images_to_tensor(images, device))


def embed_batch(backbone: Backbone, images: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """`embed_layers` -> pooled (b, d) and the primary layer's tokens (b, t, d_tokens)."""
    pooled, layers = embed_layers(backbone, images, device)
    return pooled, layers[backbone.layers[-1]]


def image_embedder(backbone: Backbone, device: str = "auto", tokens: bool = False,
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


def extract_features(backbone: Backbone, stimuli_path: str | Path, image_ids: np.ndarray, out_path: str | Path,
                     batch_size: int = 64, device: str = "auto", attrs: dict | None = None,
                     reduction: TokenReduction = TokenReduction(), fit_image_ids: np.ndarray | None = None) -> None:
    """Run `backbone` over the images `image_ids` of the stimulus brick and write the features file.

    The brick (`imgBrick`, (n_images, H, W, 3) uint8) is read `batch_size` images at a time and each batch's
    features are written as they are computed (one writer thread, so writing overlaps the next batch), into
    `.{name}.partial` beside `out_path`, renamed to `out_path` when complete: memory is bounded by two batches, and
    a run that was interrupted continues where it stopped if the same backbone, reduction, images and stimuli
    are asked for (else it starts over). All of the backbone's layers come from one pass; tokens are reduced by
    `reduction` (a PCA is fitted on the tokens of `fit_image_ids`, the training images, first). On CUDA the
    backbone runs in float16 autocast; on the CPU in float32.
    """
    image_ids = np.unique(np.asarray(image_ids, dtype=np.int64))
    device = resolve_device(device)
    backbone = backbone.to(device).eval()
    out_path = Path(out_path)
    with open_stimuli(stimuli_path) as brick:
        missing = brick.missing(image_ids)
        if len(missing):
            raise InputError(f"{len(missing)} images are missing from {stimuli_path}; first missing id: {missing[0]}")
        attrs = {**(attrs or {}), "layers": json.dumps(backbone.layers),
                 "token_reduction": json.dumps(reduction.as_dict())}
        stat = Path(stimuli_path).stat()
        fingerprint = json.dumps({**attrs, "stimuli": [str(Path(stimuli_path).resolve()), stat.st_size,
                                                      stat.st_mtime_ns],
                                  "image_ids": hashlib.sha256(image_ids.tobytes()).hexdigest()}, sort_keys=True)
        partial = out_path.with_name(f".{out_path.name}.partial")
        with _resumable_file(partial, fingerprint) as out:
            out.attrs.update(attrs)
            if "image_ids" not in out:
                out.create_dataset("image_ids", data=image_ids)
            pca = _fitted_pca(out, backbone, brick, fit_image_ids, reduction, batch_size, device)
            done = int(out.attrs.get("rows_done", 0))
            if done:
                log.info("resuming %s at image %d of %d", partial, done, len(image_ids))
            with ThreadPoolExecutor(max_workers=1) as writer, \
                    tqdm(total=len(image_ids), initial=done, unit="img", desc=f"features {out_path.stem}") as bar:
                pending = None
                for start in range(done, len(image_ids), batch_size):
                    ids = image_ids[start:start + batch_size]
                    pooled, layers = _reduced_batch(backbone, brick[ids], device, reduction, pca)
                    if pending is not None:
                        pending.result()
                    pending = writer.submit(_write_rows, out, start, pooled, layers, len(image_ids))
                    bar.update(len(ids))
                if pending is not None:
                    pending.result()
            out.attrs["rows_done"] = len(image_ids)
            if "tokens" not in out:
                out["tokens"] = out[f"layers/{backbone.layers[-1]}"]  # the primary layer, a hard link
        os.replace(partial, out_path)
    log.info("wrote features of %d images (layers %s) to %s", len(image_ids), ", ".join(backbone.layers), out_path)


@contextmanager
def _resumable_file(path: Path, fingerprint: str):
    """An HDF5 file at `path` to fill: the one there if it was started with the same `fingerprint` (and is
    readable), else a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        try:
            with h5py.File(path, "r") as f:
                same = f.attrs.get("fingerprint") == fingerprint
        except OSError:  # killed while writing: not readable
            same = False
        if not same:
            log.info("discarding %s: it was started for other inputs or is damaged", path)
            path.unlink()
    with h5py.File(path, "a") as f:
        f.attrs["fingerprint"] = fingerprint
        yield f


def _reduced_batch(backbone: Backbone, images: np.ndarray, device: torch.device, reduction: TokenReduction,
                   pca: dict | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One batch through the backbone -> pooled (b, d) and {layer: reduced tokens (b, t, d')} float16 arrays."""
    pooled, layers = embed_layers(backbone, images, device)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        if reduction.method == "grid":
            layers = {name: grid_pool(t, backbone.n_prefix_tokens, reduction.grid, f"layer {name}")
                      for name, t in layers.items()}
        elif reduction.method == "pca":
            layers = {name: project(t, *pca[name]) for name, t in layers.items()}
    # float16 here: HDF5's own float32 -> float16 conversion is slow enough to cost a fast model 10 % of its rate
    return pooled.half().cpu().numpy(), {name: t.half().cpu().numpy() for name, t in layers.items()}


def _write_rows(out: h5py.File, start: int, pooled: np.ndarray, layers: dict[str, np.ndarray], n: int) -> None:
    """Write one batch's rows (creating the datasets on the first), then record them as done."""
    if "pooled" not in out:
        out.create_dataset("pooled", (n, pooled.shape[1]), dtype=np.float16)
        for name, tokens in layers.items():
            out.create_dataset(f"layers/{name}", (n, *tokens.shape[1:]), dtype=np.float16,
                               chunks=(1, *tokens.shape[1:]), compression="lzf")
    out["pooled"][start:start + len(pooled)] = pooled
    for name, tokens in layers.items():
        out[f"layers/{name}"][start:start + len(tokens)] = tokens
    out.attrs["rows_done"] = start + len(pooled)
    out.flush()


def _fitted_pca(out: h5py.File, backbone: Backbone, brick, fit_image_ids: np.ndarray | None,
                reduction: TokenReduction, batch_size: int, device: torch.device) -> dict | None:
    """{layer: (mean (d,), components (k, d))} on `device` for a PCA reduction, fitted on the first
    `reduction.fit_images` of `fit_image_ids` and kept in `out` under pca/ (so a resumed run reuses it)."""
    if reduction.method != "pca":
        return None
    if "pca" not in out:
        if fit_image_ids is None or not len(fit_image_ids):
            raise InputError("tokens: pca needs training images to be fitted on")
        fit = np.unique(np.asarray(fit_image_ids))[:reduction.fit_images]
        covariances = {name: TokenCovariance() for name in backbone.layers}
        for start in tqdm(range(0, len(fit), batch_size), desc="token PCA", unit="batch"):
            _, layers = embed_layers(backbone, brick[fit[start:start + batch_size]], device)
            for name, tokens in layers.items():
                covariances[name].add(tokens)
        for name, covariance in covariances.items():
            d = covariance.total.shape[0]
            if reduction.components > d:
                raise InputError(f"tokens: pca {reduction.components} is more than layer {name}'s {d} values")
            mean, components = covariance.principal_components(reduction.components)
            out.create_dataset(f"pca/{name}/mean", data=mean.cpu().numpy())
            out.create_dataset(f"pca/{name}/components", data=components.cpu().numpy())
        out.attrs["pca_fit_images"] = len(fit)
        out.flush()
    return {name: (torch.from_numpy(out[f"pca/{name}/mean"][()]).to(device),
                   torch.from_numpy(out[f"pca/{name}/components"][()]).to(device)) for name in backbone.layers}


def feature_layers(path: str | Path) -> list[str]:
    """The layers a features file holds, in the backbone's order (the last is the primary, `tokens`)."""
    with open_hdf5(path, "features") as f:
        return json.loads(f.attrs["layers"]) if "layers" in f.attrs else []


def load_features(path: str | Path | list, image_ids: np.ndarray | None = None, tokens: bool = False,
                  layer: str | None = None) -> Features:
    """Features of `image_ids` (all if None), rows in the order of `image_ids`, as float32; with `tokens`, the
    tokens of `layer` (None: the primary layer). `path` is one features file or a list of them (e.g. several
    subjects'): each image is read from the first file holding it."""
    if isinstance(path, (list, tuple)):
        return _load_from_files([Path(p) for p in path], image_ids, tokens, layer)
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
            name = "tokens" if layer is None else f"layers/{layer}"
            if name not in f:
                raise InputError(f"{path} holds no layer {layer!r}; it has "
                                 f"{', '.join(json.loads(f.attrs.get('layers', '[]')))}")
            token_array = np.empty((len(rows), *f[name].shape[1:]), dtype=np.float32)
            token_array[order] = f[name][np.sort(rows)]
        return Features(stored[rows], pooled, token_array)


def _load_from_files(paths: list[Path], image_ids: np.ndarray | None, tokens: bool, layer: str | None) -> Features:
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
    parts = {index: load_features(paths[index], wanted[source == index], tokens, layer) for index in np.unique(source)}
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
