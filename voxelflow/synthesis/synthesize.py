"""Synthesis: images for a target from a generator under brain guidance, and their storage."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from voxelflow.atomic_output import atomic_output
from voxelflow.decoders.generator import ImageGenerator
from voxelflow.file_reading import open_hdf5
from voxelflow.images import to_uint8
from voxelflow.synthesis.guidance import BrainGuidance
from voxelflow.synthesis.stable_diffusion import StableDiffusionGenerator


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
