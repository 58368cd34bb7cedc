"""Image conversions shared by the figures, the decoders, synthesis and the metric protocols.

Images are numpy arrays (n, H, W, 3), uint8 or float in [0, 1]. There is one resizer, `resize_images`; its
`method` names the resampling, because the published metric protocols differ exactly there:

- "antialias": bilinear with antialiasing (torch's `interpolate(..., antialias=True)`, PIL's filter), what
  voxelflow uses everywhere it resizes for itself;
- "skimage": bilinear with antialiasing by scikit-image in float64, voxelflow's 425-px PixCorr/SSIM chain
  (kept so that metric values measured before this function existed do not move);
- "no-antialias": bilinear without antialiasing (torch's `interpolate`, align_corners=False), what
  torchvision < 0.17's `Resize` did to tensors (MindEye);
- "pil-bicubic": PIL's `Image.resize` default on uint8 (Brain-Diffuser's 425-px reconstructions);
- "pil-bilinear": torchvision's `resize` of a PIL image, bilinear on uint8 (Brain-Diffuser's network inputs).

The two bilinear methods are separable weight matrices (numpy, no torch: the figures use them too), equal to
torch's `interpolate` to float32 precision (tests/test_images.py).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage.transform import resize as skimage_resize

RESIZE_METHODS = ("antialias", "skimage", "no-antialias", "pil-bicubic", "pil-bilinear")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] (any shape) -> uint8, rounded; values outside [0, 1] are clipped."""
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [0, 1]; float images are returned as float32 unchanged."""
    return images.astype(np.float32) / 255 if images.dtype == np.uint8 else images.astype(np.float32)


def resize_images(images: np.ndarray, size: int, method: str = "antialias") -> np.ndarray:
    """(n, H, W, 3) uint8 or float in [0, 1] -> (n, size, size, 3) float in [0, 1] resampled by `method` (see the
    module docstring); float32, float64 for "skimage". An image already of that size comes back unchanged
    (as float), whatever the method."""
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}; known: {', '.join(RESIZE_METHODS)}")
    if method == "skimage":
        floats = to_unit_float(images).astype(np.float64)
        if images.shape[1:3] == (size, size):
            return floats
        return np.stack([skimage_resize(image, (size, size), order=1, anti_aliasing=True) for image in floats])
    if images.shape[1:3] == (size, size):
        return to_unit_float(images)
    if method.startswith("pil"):
        resample = Image.BICUBIC if method == "pil-bicubic" else Image.BILINEAR
        return np.stack([np.asarray(Image.fromarray(image).resize((size, size), resample), dtype=np.float32) / 255
                         for image in to_uint8(to_unit_float(images))])
    rows = bilinear_weights(images.shape[1], size, antialias=method == "antialias")
    columns = bilinear_weights(images.shape[2], size, antialias=method == "antialias")
    out = np.einsum("oh,nhwc->nowc", rows, to_unit_float(images), optimize=True)
    return np.clip(np.einsum("pw,nowc->nopc", columns, out, optimize=True), 0, 1).astype(np.float32)


def bilinear_weights(n_in: int, n_out: int, antialias: bool) -> np.ndarray:
    """(n_out, n_in) float32 weights of bilinear resampling along one axis (pixel centres at i + 0.5).

    Without antialiasing: torch's bilinear with align_corners=False, source coordinate (o + 0.5) * scale - 0.5
    clamped at the first pixel. With it (PIL's and torch's antialiased filter): a triangle as wide as the scale
    when shrinking, the weights normalised to sum to 1 (at the edges too); enlarging, plain bilinear.
    """
    scale = np.float32(n_in / n_out)  # float32 coordinates, as torch computes them for float32 images
    centres = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale
    if antialias:
        width = max(scale, 1.0)
        weights = np.clip(1 - np.abs((np.arange(n_in)[None, :] + 0.5 - centres[:, None]) / width), 0, None)
        return (weights / weights.sum(1, keepdims=True)).astype(np.float32)
    source = np.maximum(centres - np.float32(0.5), 0)
    low = np.minimum(np.floor(source).astype(int), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    fraction = source - low
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.arange(n_out), low), 1 - fraction)
    np.add.at(weights, (np.arange(n_out), high), fraction)
    return weights.astype(np.float32)
