"""Single-trial betas -> per-image responses: session z-scoring, repeat averaging, split, noise ceiling."""

from __future__ import annotations

import logging
import warnings

import numpy as np
from tqdm import tqdm

from voxelflow.errors import InputError
from voxelflow.noise_ceiling import (
    TRIAL_CHUNK,
    RepeatSums,
    ncsnr_from_sums,
    noise_ceiling,
)
from voxelflow.nsd_study import Subject
from voxelflow.responses import ResponseSet

log = logging.getLogger(__name__)


def zscore_session(betas: np.ndarray, stats_rows: np.ndarray | None = None) -> np.ndarray:
    """Z-score each voxel of one session, in place: betas (n_trials, n_voxels) float32.

    Mean and standard deviation come from the trials in `stats_rows` ((n_trials,)
    bool; all trials if None), e.g. to keep test trials out of the statistics.
    A voxel that is constant over those trials becomes 0 (as scikit-learn's
    StandardScaler does) instead of NaN. Returns `betas`.
    """
    rows = np.arange(len(betas)) if stats_rows is None else np.flatnonzero(stats_rows)
    if len(rows) < 2:
        raise InputError(f"z-scoring needs at least 2 trials per session, got {len(rows)}")
    total = np.zeros(betas.shape[1])
    total_sq = np.zeros(betas.shape[1])
    for start in range(0, len(rows), TRIAL_CHUNK):
        block = betas[rows[start:start + TRIAL_CHUNK]].astype(np.float64)
        total += block.sum(0)
        total_sq += (block**2).sum(0)
    mean = total / len(rows)
    std = np.sqrt(np.maximum(total_sq / len(rows) - mean**2, 0))
    std[std <= 1e-6 * np.maximum(np.abs(mean), 1)] = np.inf  # constant voxel -> 0
    betas -= mean.astype(np.float32)
    betas /= std.astype(np.float32)
    return betas


def add_session(subject: Subject, index: int, sums: RepeatSums, zscore_stats: str = "all") -> np.ndarray:
    """Read, z-score and add 0-based session `index` of `subject` into `sums`.

    Non-finite betas are set to 0 before z-scoring; returns the (n_voxels,) bool
    mask of voxels that had any, for the caller to drop.
    """
    betas = subject.read_session(index)
    trial_ids = subject.trial_image_ids[index]
    nonfinite = ~np.isfinite(betas).all(axis=0)
    if nonfinite.any():
        betas[:, nonfinite] = 0.0
    stats_rows = None if zscore_stats == "all" else ~np.isin(trial_ids, subject.shared_image_ids)
    zscore_session(betas, stats_rows)
    sums.add(betas, trial_ids)
    return nonfinite


def preprocess_subject(subject: Subject, zscore_stats: str = "all", ncsnr_source: str = "auto") -> ResponseSet:
    """Turn a subject's single-trial betas into trial-averaged responses and noise ceilings.

    zscore_stats: "all" z-scores each session over all its trials (NSD, Algonauts);
        "train" uses only the non-shared trials for the statistics (no test leakage).
    ncsnr_source: "study" uses the study's ncsnr file, "estimated" estimates it from
        the repeats, "auto" uses the study's when it ships one.
    Voxels with a non-finite beta in any session are dropped, with a warning.
    """
    if zscore_stats not in ("all", "train"):
        raise InputError(f"zscore_stats must be 'all' or 'train', got {zscore_stats!r}")
    if ncsnr_source not in ("auto", "study", "estimated"):
        raise InputError(f"ncsnr must be 'auto', 'study' or 'estimated', got {ncsnr_source!r}")
    if ncsnr_source == "study" and subject.ncsnr is None:
        raise InputError(f"ncsnr: 'study' was asked for but {subject.name} ships no ncsnr file")

    image_ids = np.unique(np.concatenate(subject.trial_image_ids))
    n_voxels = subject.n_voxels
    sums = RepeatSums(image_ids, n_voxels)
    bad = np.zeros(n_voxels, dtype=bool)
    first_bad = None
    for index, path in enumerate(tqdm(subject.session_paths, desc=f"{subject.name} sessions", unit="session")):
        nonfinite = add_session(subject, index, sums, zscore_stats)
        if nonfinite.any():
            bad |= nonfinite
            first_bad = first_bad or path.name
        log.info("%s: read %s (%d trials)", subject.name, path.name, len(subject.trial_image_ids[index]))

    counts = sums.counts
    ncsnr_estimated = ncsnr_from_sums(sums.sums, sums.sums_sq, counts)
    responses = sums.sums
    del sums  # frees the squares before the responses are handed out
    responses /= counts[:, None]
    is_test = np.isin(image_ids, subject.shared_image_ids)
    if not is_test.any():
        raise InputError(f"{subject.name} saw none of the {len(subject.shared_image_ids)} shared test images")
    use_study = subject.ncsnr is not None and ncsnr_source != "estimated"
    ncsnr = subject.ncsnr if use_study else ncsnr_estimated

    keep = ~bad
    if bad.any():
        warnings.warn(f"{subject.name}: dropped {bad.sum()} of {n_voxels} voxels with NaN or infinite betas "
                      f"(first seen in {first_bad})", stacklevel=2)
        log.warning("%s: dropped %d voxels with non-finite betas (first seen in %s)", subject.name, bad.sum(), first_bad)
    return ResponseSet(
        subject=subject.name,
        responses=responses[:, keep] if bad.any() else responses,
        image_ids=image_ids,
        split=np.where(is_test, "test", "train"),
        repeats=counts,
        ijk=subject.ijk[keep],
        affine=subject.affine,
        volume_shape=subject.mask.shape,
        rois=subject.rois.subset(keep),
        ncsnr=ncsnr[keep],
        ncsnr_source="study" if use_study else "estimated",
        ncsnr_estimated=ncsnr_estimated[keep],
        noise_ceiling=noise_ceiling(ncsnr[keep], counts[is_test]),
        attrs={"zscore_stats": zscore_stats},
    )
