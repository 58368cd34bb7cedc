"""Reconstruction: voxels -> brain embedding -> prior sample -> generator (img2img from the blurry image)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxelflow.decoders.contrastive import ContrastiveDecoder
from voxelflow.decoders.generator import ImageGenerator
from voxelflow.decoders.low_level import BlurryDecoder
from voxelflow.decoders.prior import DiffusionPrior
from voxelflow.decoders.unclip import UnclipGenerator, is_unclip_folder
from voxelflow.errors import InputError


@dataclass
class Reconstructions:
    """images (n, S, S, 3) in [0, 1]; embeddings (n, t, d) the prior's samples; blurry (n, s, s, 3) or None."""

    images: np.ndarray
    embeddings: np.ndarray
    blurry: np.ndarray | None


def load_generator(folder: str | Path, device: str = "auto") -> ImageGenerator | UnclipGenerator:
    """The generator saved in `folder`: a diffusers Stable unCLIP pipeline, or a voxelflow generator folder."""
    if is_unclip_folder(folder):
        return UnclipGenerator(folder, device=device)
    return ImageGenerator.load(folder, device=device)


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
                guidance_scale: float = 3.0, prior_steps: int | None = None, seed: int = 0) -> Reconstructions:
    """responses (n, n_voxels) -> Reconstructions. strength 1 (or no blurry decoder) ignores the low-level path;
    the same seed gives the same images."""
    check_compatible(decoder, prior, generator)
    embeddings = prior.sample(decoder.embed(responses), n_steps=prior_steps, seed=seed)
    low = blurry.predict(responses) if blurry is not None else None
    images = generator.generate(embeddings, init_images=low, strength=strength if low is not None else 1.0,
                                n_steps=n_steps, guidance_scale=guidance_scale, seed=seed)
    return Reconstructions(images, embeddings, low)
