"""The mini-NSD's planted "true brain": an image-computable response model.

Every voxel's noise-free response to an image is

    r_v = prf_weight_v * (sum_xy G_v(x, y) E(x, y)) ** prf_exponent_v      (pRF contrast energy)
        + sum_c category_weights_v[c] * D_c(image)                         (category detectors)

where E is the local contrast energy of the luminance image, G_v a normalised
2-D Gaussian population receptive field (centre `prf_x, prf_y`, width
`prf_sigma`, pixels) and D_c the maximum normalised cross-correlation of the
image with the canonical template of category c over positions and three scales.
Early visual voxels (V1-hV4) have only the pRF term; category-ROI voxels mostly
their category's detector. Responses are standardised with each subject's
`signal_mean`/`signal_std` (over that subject's images), so `TrueBrain(images)`
is the planted signal in the units the betas were generated in.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np
from scipy.ndimage import gaussian_filter
from scipy import fft as sp_fft
from scipy.fft import next_fast_len

from voxelflow.mininsd.scenes import CATEGORIES, category_template, object_size_range

_NCC_STD_FLOOR = 0.03  # per-pixel std floor, so flat patches do not match any template
_BATCH = 64


def _luminance(images: np.ndarray) -> np.ndarray:
    rgb = images.astype(np.float64) / 255.0
    return rgb @ np.array([0.299, 0.587, 0.114])


def _redness(images: np.ndarray) -> np.ndarray:
    rgb = images.astype(np.float64) / 255.0
    return rgb[..., 0] - 0.5 * (rgb[..., 1] + rgb[..., 2])


def contrast_energy(images: np.ndarray) -> np.ndarray:
    """Local contrast energy of (n, H, W, 3) uint8 images: (n, H, W) float64.

    The squared output of a centre-surround (luminance minus its Gaussian blur)
    filter whose surround scales with the image size (sigma = H / 64 pixels).
    """
    lum = _luminance(images)
    sigma = images.shape[1] / 64
    return (lum - gaussian_filter(lum, sigma=(0, sigma, sigma))) ** 2


def _box_sum(x: np.ndarray, m: int) -> np.ndarray:
    """Sum over every m x m window fully inside x (n, H, W): (n, H-m+1, W-m+1)."""
    c = np.pad(x, ((0, 0), (1, 0), (1, 0))).cumsum(1).cumsum(2)
    return c[:, m:, m:] - c[:, :-m, m:] - c[:, m:, :-m] + c[:, :-m, :-m]


def max_normalized_xcorr(channel: np.ndarray, templates: list[np.ndarray]) -> np.ndarray:
    """Largest normalised cross-correlation of each template over `channel` (n, H, W): (n, n_templates).

    Templates are square (m, m), of any sizes up to H; only positions where a
    template lies fully inside the image count. Values are at most 1 (a patch
    that is an affine copy of the template). One FFT of the channel serves all templates.
    """
    n, h, w = channel.shape
    shape = (next_fast_len(h + max(t.shape[0] for t in templates) - 1),) * 2
    spectrum = sp_fft.rfft2(channel.astype(np.float32), shape, workers=-1)
    patch_norms: dict[int, np.ndarray] = {}
    out = np.empty((n, len(templates)))
    for j, template in enumerate(templates):
        m = template.shape[0]
        t = template - template.mean()
        t = t / np.linalg.norm(t)
        full = sp_fft.irfft2(spectrum * sp_fft.rfft2(t[::-1, ::-1].astype(np.float32), shape), shape, workers=-1)
        corr = full[:, m - 1:h, m - 1:w]
        if m not in patch_norms:
            s1, s2 = _box_sum(channel, m), _box_sum(channel**2, m)
            patch_norms[m] = np.sqrt(np.maximum(s2 - s1**2 / (m * m), 0.0)) + _NCC_STD_FLOOR * m
        out[:, j] = (corr / patch_norms[m]).max(axis=(1, 2))
    return out


class CategoryDetectors:
    """Fixed template detectors, one per category in `CATEGORIES`, at three scales."""

    def __init__(self, image_size: int):
        self.image_size = image_size
        self.templates: dict[str, list[np.ndarray]] = {}
        for category in CATEGORIES:
            lo, hi = object_size_range(category, image_size)
            sizes = sorted({int(round(s)) for s in np.linspace(lo, hi, 3)})
            channel = _redness if category == "food" else _luminance
            self.templates[category] = [
                channel((category_template(category, s) * 255)[None])[0] for s in sizes
            ]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Detector outputs for (n, H, W, 3) uint8 images: (n, n_categories) float64."""
        lum, red = _luminance(images), _redness(images)
        out = np.empty((len(images), len(CATEGORIES)))
        for c, category in enumerate(CATEGORIES):
            channel = red if category == "food" else lum
            out[:, c] = max_normalized_xcorr(channel, self.templates[category]).max(axis=1)
        return out


def gaussian_prfs(x: np.ndarray, y: np.ndarray, sigma: np.ndarray, image_size: int) -> np.ndarray:
    """Population receptive fields as weights over pixels: (H*W, n_voxels), each column sums to 1.

    `x`, `y` are centres in pixels (x to the right, y down), `sigma` the width in pixels.
    """
    grid = np.arange(image_size) + 0.5
    gx = np.exp(-0.5 * ((grid[:, None] - x[None]) / sigma[None]) ** 2)  # (W, V)
    gy = np.exp(-0.5 * ((grid[:, None] - y[None]) / sigma[None]) ** 2)  # (H, V)
    g = (gy[:, None, :] * gx[None, :, :]).reshape(image_size * image_size, -1)
    return g / np.maximum(g.sum(0, keepdims=True), 1e-12)


@dataclass
class TrueBrain:
    """Planted voxel tuning of one mini-NSD subject; call it on images to get responses.

    All per-voxel arrays have length n_voxels (the subject's nsdgeneral voxels in
    the reader's order); `category_weights` is (n_voxels, n_categories).
    """

    image_size: int
    prf_x: np.ndarray
    prf_y: np.ndarray
    prf_sigma: np.ndarray
    prf_exponent: np.ndarray
    prf_weight: np.ndarray
    category_weights: np.ndarray
    signal_mean: np.ndarray
    signal_std: np.ndarray

    _FIELDS = ("prf_x", "prf_y", "prf_sigma", "prf_exponent", "prf_weight",
               "category_weights", "signal_mean", "signal_std")

    def raw_response(self, images: np.ndarray) -> np.ndarray:
        """Unstandardised responses to (n, H, W, 3) uint8 images: (n, n_voxels) float64."""
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ValueError(
                f"images must be (n, {self.image_size}, {self.image_size}, 3) uint8, got {images.shape}"
            )
        detectors = CategoryDetectors(self.image_size)
        prfs = gaussian_prfs(self.prf_x, self.prf_y, self.prf_sigma, self.image_size)
        out = np.empty((len(images), len(self.prf_x)))
        for start in range(0, len(images), _BATCH):
            batch = images[start:start + _BATCH]
            energy = contrast_energy(batch).reshape(len(batch), -1)
            out[start:start + _BATCH] = (
                self.prf_weight * (energy @ prfs) ** self.prf_exponent
                + detectors(batch) @ self.category_weights.T
            )
        return out

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Planted (standardised) responses to (n, H, W, 3) uint8 images: (n, n_voxels) float64."""
        return (self.raw_response(images) - self.signal_mean) / self.signal_std

    def save(self, group: h5py.Group) -> None:
        """Write the tuning into an open HDF5 group."""
        group.attrs["image_size"] = self.image_size
        for name in self._FIELDS:
            group.create_dataset(name, data=getattr(self, name))

    @classmethod
    def load(cls, group: h5py.Group) -> TrueBrain:
        """Read the tuning written by `save` from an open HDF5 group."""
        return cls(int(group.attrs["image_size"]), *(group[name][()] for name in cls._FIELDS))

    @classmethod
    def from_truth(cls, truth_path: str, subject: str, ijk: np.ndarray | None = None,
                   surface: bool = False) -> TrueBrain:
        """The true brain of `subject` (e.g. "subj01") from a mini-NSD truth file, of its volume or (`surface`) of
        its fsaverage vertices; with `ijk` ((n, 3) voxel indices or a surface's (hemisphere, vertex, 0) keys: a
        response store's `location_keys`, which drop voxels without valid data), of those only, in that order."""
        with h5py.File(truth_path, "r") as f:
            group = f"fsaverage/{subject}" if surface else subject
            if group not in f:
                raise KeyError(f"{truth_path} has no subject {group!r}; it has {sorted(f)}")
            brain = cls.load(f[group]["true_brain"])
            if ijk is None:
                return brain
            rows = voxel_rows(f[group]["ijk"][()], ijk)
        return cls(brain.image_size, *(getattr(brain, name)[rows] for name in cls._FIELDS))


def voxel_rows(all_ijk: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Rows of `all_ijk` (n_all, 3) holding each voxel of `ijk` (n, 3); KeyError if one is missing."""
    index = {tuple(v): row for row, v in enumerate(np.asarray(all_ijk).tolist())}
    try:
        return np.array([index[tuple(v)] for v in np.asarray(ijk).tolist()], dtype=np.int64)
    except KeyError as err:
        raise KeyError(f"voxel {err.args[0]} is not among the planted voxels") from None
