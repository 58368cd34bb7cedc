"""Synthesis from files: the guiding encoder and generator a run names, images for a target, their storage."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from voxelflow.atomic_output import atomic_output
from voxelflow.decoders.generator import ImageGenerator
from voxelflow.encoders.linear import LinearEncoder
from voxelflow.encoders.transformer import TransformerEncoder
from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5
from voxelflow.images import to_uint8
from voxelflow.synthesis.guidance import BrainGuidance
from voxelflow.synthesis.stable_diffusion import StableDiffusionGenerator, is_stable_diffusion_folder

ENCODER_KINDS = ("ridge", "transformer", "in_context")


def load_encoder(kind: str, path: str | Path, device: str = "auto") -> tuple[object, bool]:
    """(encoder, reads_tokens) from a fitted model file of ours: ridge and in-context voxel models (model.h5,
    pooled features), the transformer (model.pt, tokens)."""
    if kind == "transformer":
        return TransformerEncoder.load(path, device=device), True
    if kind in ENCODER_KINDS:
        return LinearEncoder.load(path), False
    raise InputError(f"unknown encoder {kind!r}; synthesis can be guided or scored by {', '.join(ENCODER_KINDS)}")


def load_generator(folder: str | Path, device: str = "auto", gradient_checkpointing: bool = False
                   ) -> ImageGenerator | StableDiffusionGenerator:
    """A diffusers Stable Diffusion folder (real runs) or a voxelflow generator folder (the demo's)."""
    if is_stable_diffusion_folder(folder):
        return StableDiffusionGenerator.load(folder, device=device, gradient_checkpointing=gradient_checkpointing)
    return ImageGenerator.load(folder, device=device)


def synthesize(generator: ImageGenerator | StableDiffusionGenerator, guidance: BrainGuidance | None, n_images: int,
               n_steps: int, seed: int, batch_size: int = 8) -> np.ndarray:
    """n_images images (n, S, S, 3) uint8 at the generator's resolution, sampled unconditionally under
    `guidance` (None: unguided); the same seed gives the same starting noise whatever the target."""
    return to_uint8(generator.sample(n_images, n_steps=n_steps, seed=seed, guide=guidance, batch_size=batch_size))


def write_images(path: str | Path, images: np.ndarray, attrs: dict) -> None:
    """Synthesized images (n, S, S, 3) uint8 and how they were made (attrs) to an HDF5 file, atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("images", data=images)
        f.attrs.update({k: v for k, v in attrs.items() if v is not None})


def read_images(path: str | Path) -> tuple[np.ndarray, dict]:
    """(images (n, S, S, 3) uint8, attrs) written by `write_images`."""
    with open_hdf5(path, "synthesized images") as f:
        return f["images"][()], dict(f.attrs)
