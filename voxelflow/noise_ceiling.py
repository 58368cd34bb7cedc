"""Noise ceilings of repeat-averaged responses (NSD's ncsnr method).

On session-z-scored single-trial betas, the noise variance of a voxel is the
mean over images of the variance across that image's repeats, the signal
variance is what is left of the total variance, and

    ncsnr = sqrt(max(total_var - noise_var, 0)) / sqrt(noise_var)
    NC    = 100 * ncsnr**2 / (ncsnr**2 + mean_i(1 / n_i))      (percent of variance)

for responses averaged over n_i repeats of image i (Allen et al. 2022; the
mean over 1/n_i for unequal repeats follows the Algonauts 2023 preparation).
The largest Pearson r a model can reach is sqrt(NC / 100).
"""

from __future__ import annotations

import numpy as np


def ncsnr_from_sums(sums: np.ndarray, sums_sq: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Estimate ncsnr per voxel from per-image sums of single-trial responses.

    sums, sums_sq: (n_images, n_voxels) sum and sum of squares of each image's trials
    counts: (n_images,) number of trials of each image
    Images seen once count towards the total variance but not the noise variance.
    Returns (n_voxels,) float32; 0 where the voxel has no variance or no repeats.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_total = counts.sum()
    total_var = sums_sq.sum(0, dtype=np.float64) / n_total - (sums.sum(0, dtype=np.float64) / n_total) ** 2
    repeated = counts >= 2
    if not repeated.any():
        return np.zeros(sums.shape[1], dtype=np.float32)
    n = counts[repeated, None]
    s, sq = sums[repeated].astype(np.float64), sums_sq[repeated].astype(np.float64)
    noise_var = np.maximum((sq - s**2 / n) / (n - 1), 0).mean(0)
    signal_var = np.maximum(total_var - noise_var, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ncsnr = np.where(noise_var > 0, np.sqrt(signal_var / noise_var), 0.0)
    return ncsnr.astype(np.float32)


def ncsnr_from_trials(betas: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Estimate ncsnr from single trials: betas (n_trials, n_voxels) z-scored, image_ids (n_trials,)."""
    _, rows, counts = np.unique(image_ids, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), betas.shape[1]))
    sums_sq = np.zeros_like(sums)
    np.add.at(sums, rows, betas)
    np.add.at(sums_sq, rows, betas.astype(np.float64) ** 2)
    return ncsnr_from_sums(sums, sums_sq, counts)


def noise_ceiling(ncsnr: np.ndarray, repeats: np.ndarray) -> np.ndarray:
    """Noise ceiling in percent of variance: ncsnr (n_voxels,), repeats (n_images,) of the scored images."""
    repeats = np.asarray(repeats, dtype=np.float64)
    if repeats.size == 0 or (repeats <= 0).any():
        raise ValueError(f"repeats must be positive counts, got {repeats}")
    snr2 = np.asarray(ncsnr, dtype=np.float64) ** 2
    return (100 * snr2 / (snr2 + np.mean(1 / repeats))).astype(np.float32)
