"""Encoding accuracy per voxel and per ROI: Pearson r, noise-normalised accuracy, significance."""

from __future__ import annotations

import numpy as np
from scipy import stats


MIN_NOISE_CEILING = 1.0  # percent; below it r^2 / NC is noise over noise and is left undefined


def pearson_r(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column: predicted, measured (n_images, n_voxels) -> (n_voxels,).

    A column with zero variance gets r = 0.
    """
    p = predicted - predicted.mean(0)
    m = measured - measured.mean(0)
    denominator = np.sqrt((p**2).sum(0) * (m**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (p * m).sum(0) / denominator, 0.0)


def noise_normalized_accuracy(r: np.ndarray, noise_ceiling: np.ndarray) -> np.ndarray:
    """Explained share of the explainable variance, in percent: 100 * max(r, 0)^2 / (NC / 100).

    Algonauts 2023's noise-normalised squared correlation. r: (n_voxels,) Pearson r
    on the test images; noise_ceiling: (n_voxels,) NC in percent for those images'
    repeats. NaN where NC < MIN_NOISE_CEILING percent. A model at the ceiling scores 100.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(noise_ceiling >= MIN_NOISE_CEILING, 1e4 * np.maximum(r, 0) ** 2 / noise_ceiling, np.nan)


def algonauts_accuracy(r: np.ndarray, noise_ceiling: np.ndarray) -> np.ndarray:
    """Algonauts 2023's per-vertex noise-normalised encoding accuracy, in percent, exactly as the challenge computed
    it: r (n,) Pearson r on held-out images (NaN, a constant prediction, counts as 0), negative r set to 0, r^2
    divided by the noise ceiling as a fraction (NC in percent / 100; a ceiling of exactly 0 becomes 1e-14, so any
    positive r there scores 100), capped at 100. Its mean over vertices is the challenge score. Unlike
    `noise_normalized_accuracy`, no vertex is left out."""
    r = np.nan_to_num(np.asarray(r, dtype=np.float64), nan=0.0)
    nc = np.asarray(noise_ceiling, dtype=np.float64) / 100
    nc = np.where(nc == 0, 1e-14, nc)
    return 100 * np.minimum(np.maximum(r, 0) ** 2 / nc, 1.0)


def r_p_values(r: np.ndarray, n: int) -> np.ndarray:
    """One-sided p-values of H0: r <= 0, from the t distribution with n - 2 degrees of freedom."""
    r = np.clip(r, -0.999999, 0.999999)
    t = r * np.sqrt((n - 2) / (1 - r**2))
    return stats.t.sf(t, n - 2)


def fdr_significant(p: np.ndarray, q: float = 0.05) -> np.ndarray:
    """Benjamini-Hochberg: (n,) bool, True where p survives false discovery rate q."""
    order = np.argsort(p)
    thresholds = q * np.arange(1, len(p) + 1) / len(p)
    passed = p[order] <= thresholds
    significant = np.zeros(len(p), dtype=bool)
    if passed.any():
        significant[order[: np.flatnonzero(passed)[-1] + 1]] = True
    return significant


def roi_summary(r: np.ndarray, nna: np.ndarray, significant: np.ndarray, masks: dict[str, np.ndarray],
                noise_ceiling: np.ndarray) -> dict[str, dict[str, float]]:
    """Per ROI (name -> (n_voxels,) bool mask): n_voxels, median and mean r, median and mean
    noise-normalised accuracy (voxels with a ceiling under MIN_NOISE_CEILING left out), the Algonauts 2023 score
    (`algonauts_accuracy`'s mean over every voxel), fraction significant. Empty masks are skipped."""
    summary = {}
    for name, mask in masks.items():
        if not mask.any():
            continue
        finite = nna[mask][np.isfinite(nna[mask])]
        summary[name] = {
            "n_voxels": int(mask.sum()),
            "median_r": float(np.median(r[mask])),
            "mean_r": float(np.mean(r[mask])),
            "median_nna": float(np.median(finite)) if len(finite) else float("nan"),
            "mean_nna": float(np.mean(finite)) if len(finite) else float("nan"),
            "algonauts_score": float(np.mean(algonauts_accuracy(r[mask], noise_ceiling[mask]))),
            "fraction_significant": float(significant[mask].mean()),
        }
    return summary
