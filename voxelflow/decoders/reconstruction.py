"""Reconstruction: voxels -> brain embedding -> prior sample -> generator (img2img from the blurry image)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from voxelflow.atomic_output import atomic_output
from voxelflow.decoders.contrastive import ContrastiveDecoder, as_tokens
from voxelflow.decoders.generator import ImageGenerator
from voxelflow.decoders.low_level import BlurryDecoder
from voxelflow.decoders.prior import DiffusionPrior
from voxelflow.decoders.unclip import UnclipGenerator
from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5
from voxelflow.images import to_uint8, to_unit_float


@dataclass
class Reconstructions:
    """images (n, S, S, 3) in [0, 1], the first sample; embeddings (n, t, d) the prior's samples behind them;
    blurry (n, s, s, 3) or None; best (n, S, S, 3), the best of `n_samples` by MindEye's selection, or None (one
    sample); best_sample (n,) the index of the chosen sample (0 = `images`)."""

    images: np.ndarray
    embeddings: np.ndarray
    blurry: np.ndarray | None
    best: np.ndarray | None = None
    best_sample: np.ndarray | None = None
    n_samples: int = 1


def check_compatible(decoder: ContrastiveDecoder, prior: DiffusionPrior,
                     generator: ImageGenerator | UnclipGenerator) -> None:
    """One clear error unless the decoder's output, the prior and the generator share an embedding shape."""
    decoder_shape = (decoder.model_.n_tokens, decoder.model_.dim)
    if decoder_shape != prior.embedding_shape:
        raise InputError(f"the brain decoder produces {decoder_shape} embeddings but the prior reads "
                         f"{prior.embedding_shape}")
    if prior.embedding_shape[1] != generator.embedding_dim:
        raise InputError(f"the generator is conditioned on {generator.embedding_dim}-d embeddings but the prior "
                         f"produces {prior.embedding_shape[1]}-d ones: train or choose a generator for the "
                         f"decoders' target backbone")


def reconstruct(responses: np.ndarray, decoder: ContrastiveDecoder, prior: DiffusionPrior,
                generator: ImageGenerator | UnclipGenerator,
                blurry: BlurryDecoder | None = None, strength: float = 0.85, n_steps: int = 25,
                guidance_scale: float = 3.0, prior_steps: int | None = None, seed: int = 0, n_samples: int = 1,
                embed: Callable[[np.ndarray], np.ndarray] | None = None) -> Reconstructions:
    """responses (n, n_voxels) -> Reconstructions. strength 1 (or no blurry decoder) ignores the low-level path;
    the same seed gives the same images.

    n_samples > 1: MindEye's second-order selection. Sample k (prior and generator seeded seed + k) is drawn for
    every image, and the one whose embedding (`embed`: images -> the decoder's target space, as its features
    files hold it) is most cosine-similar to the decoder's retrieval (projector) output is kept as `best`.
    """
    check_compatible(decoder, prior, generator)
    if n_samples < 1 or (n_samples > 1 and embed is None):
        raise InputError(f"decoders.reconstruction.samples: {n_samples}; more than one sample needs an embedder")
    brain = decoder.embed(responses)
    low = blurry.predict(responses) if blurry is not None else None

    def sample(k: int) -> tuple[np.ndarray, np.ndarray]:
        embeddings = prior.sample(brain, n_steps=prior_steps, seed=seed + k)
        return generator.generate(embeddings, init_images=low, strength=strength if low is not None else 1.0,
                                  n_steps=n_steps, guidance_scale=guidance_scale, seed=seed + k), embeddings

    images, embeddings = sample(0)
    if n_samples == 1:
        return Reconstructions(images, embeddings, low)
    reference = _unit_rows(decoder.project(responses))
    best, best_similarity = images.copy(), np.sum(reference * _unit_rows(as_tokens(embed(images))), axis=1)
    best_sample = np.zeros(len(images), dtype=np.int64)
    for k in range(1, n_samples):
        candidate = sample(k)[0]
        similarity = np.sum(reference * _unit_rows(as_tokens(embed(candidate))), axis=1)
        better = similarity > best_similarity
        best[better], best_similarity[better], best_sample[better] = candidate[better], similarity[better], k
    return Reconstructions(images, embeddings, low, best, best_sample, n_samples)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n, prod(...)) rows scaled to unit length."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return flat / np.linalg.norm(flat, axis=1, keepdims=True)


def write_reconstructions(path: str | Path, image_ids: np.ndarray, out: Reconstructions, attrs: dict) -> None:
    """One subject's reconstructions to HDF5, atomically: image_ids (n,), images (n, S, S, 3) uint8, embeddings,
    and when present blurry, best (uint8) and best_sample (n,); attrs (sampling settings) plus n_samples."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("image_ids", data=image_ids)
        f.create_dataset("images", data=to_uint8(out.images))
        f.create_dataset("embeddings", data=out.embeddings)
        if out.blurry is not None:
            f.create_dataset("blurry", data=to_uint8(out.blurry))
        if out.best is not None:
            f.create_dataset("best", data=to_uint8(out.best))
            f.create_dataset("best_sample", data=out.best_sample)
        f.attrs.update({**attrs, "n_samples": out.n_samples})


def read_reconstructions(path: str | Path) -> tuple[np.ndarray, Reconstructions, dict]:
    """image_ids (n,), the Reconstructions (images in [0, 1], float32) and the attrs `write_reconstructions` wrote."""
    with open_hdf5(path, "reconstructions") as f:
        optional = {key: to_unit_float(f[key][()]) if key != "best_sample" else f[key][()]
                    for key in ("blurry", "best", "best_sample") if key in f}
        attrs = dict(f.attrs)
        out = Reconstructions(to_unit_float(f["images"][()]), f["embeddings"][()], optional.get("blurry"),
                              optional.get("best"), optional.get("best_sample"), int(attrs.get("n_samples", 1)))
        return f["image_ids"][()], out, attrs
