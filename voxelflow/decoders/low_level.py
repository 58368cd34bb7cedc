"""Low-level path: voxels -> a blurry image by ridge regression onto downsampled pixels.

Brain-Diffuser's idea (a linear map to a low-level image code) at the pixel level: the prediction keeps
layout and colour, not detail, and initialises the generator's img2img at a configurable strength.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxelflow.images import resize_images
from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.errors import InputError


class BlurryDecoder:
    """fit(responses, images) / predict(responses) -> (n, size, size, 3) in [0, 1] / save / load."""

    def __init__(self, size: int = 16, alphas=tuple(np.logspace(0, 7, 8)), cv: int = 5, device: str = "auto"):
        self.size = size
        self.ridge = RidgeEncoder(alphas=alphas, cv=cv, device=device)

    def fit(self, responses: np.ndarray, images: np.ndarray) -> BlurryDecoder:
        """responses (n, n_voxels); images (n, H, W, 3) uint8 of the same n images."""
        pixels = resize_images(images, self.size)
        self.ridge.fit(responses, pixels.reshape(len(pixels), -1))
        return self

    def predict(self, responses: np.ndarray) -> np.ndarray:
        """responses (n, n_voxels) -> blurry images (n, size, size, 3) float32 in [0, 1]."""
        n_voxels = self.ridge.coef_.shape[0]
        if responses.ndim != 2 or responses.shape[1] != n_voxels:
            raise InputError(f"responses have shape {responses.shape}, but the low-level decoder was trained on "
                             f"{n_voxels} voxels")
        pixels = self.ridge.predict(responses).reshape(len(responses), self.size, self.size, 3)
        return np.clip(pixels, 0, 1).astype(np.float32)

    def save(self, path: str | Path) -> None:
        """The ridge weights (HDF5); the image size follows from their shape."""
        self.ridge.save(path)

    @classmethod
    def load(cls, path: str | Path) -> BlurryDecoder:
        """Read a decoder written by `save`."""
        ridge = RidgeEncoder.load(path)
        decoder = cls(size=int(round(np.sqrt(ridge.coef_.shape[1] / 3))))
        decoder.ridge = ridge
        return decoder
