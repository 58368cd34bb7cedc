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

TRIAL_CHUNK = 64  # trials reduced at once (z-scoring, repeat sums): bounds transient memory


def ncsnr_from_sums(sums: np.ndarray, sums_sq: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Estimate ncsnr per voxel from per-image sums of single-trial responses.

    sums, sums_sq: (n_images, n_voxels) sum and sum of squares of each image's trials
    counts: (n_images,) number of trials of each image, or (n_images, n_voxels) when
        voxels differ (trials invalid for some voxels are left out, as NSD's nanmean does)
    Images seen once count towards the total variance but not the noise variance.
    Returns (n_voxels,) float32; 0 where the voxel has no variance or no repeats.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim == 2:
        return _ncsnr_per_voxel_counts(sums, sums_sq, counts)
    n_total = counts.sum()
    total_var = sums_sq.sum(0, dtype=np.float64) / n_total - (sums.sum(0, dtype=np.float64) / n_total) ** 2
    repeated = counts >= 2
    if not repeated.any():
        return np.zeros(sums.shape[1], dtype=np.float32)
    n = counts[repeated, None]
    s, sq = sums[repeated].astype(np.float64), sums_sq[repeated].astype(np.float64)
    noise_var = np.maximum((sq - s**2 / n) / (n - 1), 0).mean(0)
    return _snr(total_var, noise_var)


def _ncsnr_per_voxel_counts(sums: np.ndarray, sums_sq: np.ndarray, counts: np.ndarray) -> np.ndarray:
    n_total = np.maximum(counts.sum(0), 1)
    total_var = sums_sq.sum(0, dtype=np.float64) / n_total - (sums.sum(0, dtype=np.float64) / n_total) ** 2
    repeated = counts >= 2
    n = np.where(repeated, counts, 2.0)
    per_image = np.where(repeated, np.maximum((sums_sq - sums.astype(np.float64) ** 2 / n) / (n - 1), 0), 0.0)
    n_repeated = repeated.sum(0)
    noise_var = np.where(n_repeated > 0, per_image.sum(0) / np.maximum(n_repeated, 1), 0.0)
    return _snr(total_var, noise_var)


def _snr(total_var: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
    signal_var = np.maximum(total_var - noise_var, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ncsnr = np.where(noise_var > 0, np.sqrt(signal_var / noise_var), 0.0)
    return ncsnr.astype(np.float32)


class RepeatSums:
    """Running per-image sums of z-scored single trials, for averaging and the noise ceiling.

    image_ids: (n_images,) sorted 0-based ids; sums, sums_sq: (n_images, n_voxels)
    float32 sum and sum of squares of each image's trials; counts: (n_images,).
    """

    def __init__(self, image_ids: np.ndarray, n_voxels: int):
        self.image_ids = image_ids
        self.sums = np.zeros((len(image_ids), n_voxels), dtype=np.float32)
        self.sums_sq = np.zeros((len(image_ids), n_voxels), dtype=np.float32)
        self.counts = np.zeros(len(image_ids), dtype=np.int64)
        self._invalid: list[tuple[np.ndarray, np.ndarray]] = []  # per batch: (trials per image, invalid columns)

    def add(self, z: np.ndarray, trial_image_ids: np.ndarray, invalid: np.ndarray | None = None) -> None:
        """Add trials z (n_trials, n_voxels) shown with images `trial_image_ids` (n_trials,).

        invalid: (n_voxels,) bool, voxels without valid data in these trials; their columns of `z` must be 0,
        and they are left out of those images' counts (`valid_counts`).
        """
        rows = np.searchsorted(self.image_ids, trial_image_ids)
        per_image = np.bincount(rows, minlength=len(self.image_ids))
        self.counts += per_image
        if invalid is not None and invalid.any():
            self._invalid.append((per_image, np.flatnonzero(invalid)))
        for start in range(0, len(rows), TRIAL_CHUNK):
            r, block = rows[start:start + TRIAL_CHUNK], z[start:start + TRIAL_CHUNK]
            occurrence = np.zeros(len(r), dtype=int)  # k-th trial of the same image within the chunk
            for i in range(1, len(r)):
                occurrence[i] = np.count_nonzero(r[:i] == r[i])
            for k in range(occurrence.max() + 1):
                take = occurrence == k
                part = block[take]
                self.sums[r[take]] += part
                part *= part
                self.sums_sq[r[take]] += part


    def valid_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Voxels that missed any trial, (k,) column indices, and their valid trials per image (n_images, k);
        every other voxel's count is `counts`."""
        if not self._invalid:
            return np.zeros(0, dtype=np.int64), np.zeros((len(self.image_ids), 0), dtype=np.int64)
        columns = np.unique(np.concatenate([cols for _, cols in self._invalid]))
        valid = np.repeat(self.counts[:, None], len(columns), axis=1)
        for per_image, cols in self._invalid:
            valid[:, np.searchsorted(columns, cols)] -= per_image[:, None]
        return columns, valid


def ncsnr_from_trials(betas: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Estimate ncsnr from single trials: betas (n_trials, n_voxels) z-scored, image_ids (n_trials,)."""
    sums = RepeatSums(np.unique(image_ids), betas.shape[1])
    sums.add(np.asarray(betas, dtype=np.float32), image_ids)
    return ncsnr_from_sums(sums.sums, sums.sums_sq, sums.counts)


def noise_ceiling(ncsnr: np.ndarray, repeats: np.ndarray) -> np.ndarray:
    """Noise ceiling in percent of variance: ncsnr (n_voxels,), repeats (n_images,) of the scored images, or
    (n_images, n_voxels) when voxels differ (images a voxel has no valid trial of are left out of its mean;
    0 for a voxel with none)."""
    repeats = np.asarray(repeats, dtype=np.float64)
    snr2 = np.asarray(ncsnr, dtype=np.float64) ** 2
    if repeats.ndim == 2:
        seen = repeats > 0
        inverse = np.where(seen, 1 / np.where(seen, repeats, 1), 0).sum(0) / np.maximum(seen.sum(0), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            nc = np.where(seen.any(0), 100 * snr2 / (snr2 + inverse), 0.0)
        return np.nan_to_num(nc).astype(np.float32)
    if repeats.size == 0 or (repeats <= 0).any():
        raise ValueError(f"repeats must be positive counts, got {repeats}")
    return (100 * snr2 / (snr2 + np.mean(1 / repeats))).astype(np.float32)
