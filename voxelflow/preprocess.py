"""Single-trial betas -> per-image responses: session z-scoring, repeat averaging, split, noise ceiling.

Missing data is handled as NSD's own noise-ceiling code does (NaN, then nanmean):
a voxel is missing in a session where the study's `valid_sessionNN` volume marks
it invalid (NSD stores those betas as 0), where any of its betas is non-finite,
or where it is constant over the session's trials (it carries no information
there). Missing sessions are left out of that voxel's z-scoring, repeat averages
and ncsnr estimate; a voxel missing in every session is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from voxelflow.errors import InputError
from voxelflow.noise_ceiling import TRIAL_CHUNK, RepeatSums, ncsnr_from_sums, noise_ceiling
from voxelflow.nsd_study import NSDStudy, Subject
from voxelflow.responses import ResponseSet, TrialSet

log = logging.getLogger(__name__)

TEST_SPLITS = ("shared", "shared-common")


@dataclass
class PreprocessOptions:
    """The `preprocess:` block of config.yaml (defaults as in the schema).

    sessions: "all", N (the first N: 37 is NSD's original release) or a list of 1-based sessions
    test_split: "shared" (every shared image the subject saw), "shared-common" (the shared images every subject in
        `common_subjects` saw in its sessions), or the path of a file of 0-based 73k ids (one per line, or .npy)
    keep_trials: also keep the z-scored single trials of the training images
    """

    space: str = "func1pt8mm"
    betas_version: str = "betas_fithrf_GLMdenoise_RR"
    betas_format: str = "auto"
    mask_roi: str = "nsdgeneral"
    zscore_stats: str = "all"
    ncsnr: str = "auto"
    sessions: object = "all"
    test_split: str = "shared"
    keep_trials: bool = False
    common_subjects: list[str] = field(default_factory=list)


def zscore_session(betas: np.ndarray, stats_rows: np.ndarray | None = None) -> np.ndarray:
    """Z-score each voxel of one session, in place: betas (n_trials, n_voxels) float32.

    Mean and standard deviation come from the trials in `stats_rows` ((n_trials,)
    bool; all trials if None), e.g. to keep test trials out of the statistics.
    A voxel that is constant over those trials becomes 0 (as scikit-learn's
    StandardScaler does) instead of NaN. Returns `betas`.
    """
    return _zscore(betas, stats_rows)[0]


def _zscore(betas: np.ndarray, stats_rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """zscore_session, and the (n_voxels,) bool mask of voxels constant over the statistics' trials."""
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
    constant = std <= 1e-6 * np.maximum(np.abs(mean), 1)
    std[constant] = np.inf  # constant voxel -> 0
    betas -= mean.astype(np.float32)
    betas /= std.astype(np.float32)
    return betas, constant


@dataclass
class _MissingCounts:
    """Per-voxel tallies of why sessions were missing, for the log."""

    study: np.ndarray
    nonfinite: np.ndarray
    constant: np.ndarray

    @classmethod
    def zeros(cls, n_voxels: int) -> _MissingCounts:
        return cls(*(np.zeros(n_voxels, dtype=np.int32) for _ in range(3)))

    @property
    def any_session(self) -> np.ndarray:
        return self.study + self.nonfinite + self.constant


def add_session(subject: Subject, index: int, sums: RepeatSums, zscore_stats: str = "all",
                missing: _MissingCounts | None = None,
                test_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read, z-score and add 0-based session `index` of `subject` into `sums`. With zscore_stats "train" the
    statistics leave out the trials of `test_ids` (default: the shared images).

    Returns the z-scored betas (n_trials, n_voxels), 0 where missing, and the (n_voxels,) bool mask of voxels
    missing in this session (module docstring), which are left out of the sums' counts.
    """
    betas = subject.read_session(index)
    trial_ids = subject.trial_image_ids[index]
    valid = subject.session_validity(index)
    nonfinite = ~np.isfinite(betas).all(axis=0)
    invalid = nonfinite.copy() if valid is None else nonfinite | ~valid
    betas[:, invalid] = 0.0
    held_out = subject.shared_image_ids if test_ids is None else test_ids
    stats_rows = None if zscore_stats == "all" else ~np.isin(trial_ids, held_out)
    betas, constant = _zscore(betas, stats_rows)
    constant &= ~invalid
    invalid |= constant
    betas[:, invalid] = 0.0
    if missing is not None:
        missing.nonfinite += nonfinite
        if valid is not None:
            missing.study += ~valid & ~nonfinite
        missing.constant += constant
    sums.add(betas, trial_ids, invalid)
    return betas, invalid


def test_image_ids(study: NSDStudy, subject: Subject, options: PreprocessOptions) -> tuple[np.ndarray, np.ndarray]:
    """The 0-based ids of `subject`'s test images and of the shared images left out of both splits (only
    "shared-common" leaves any out): ((n_test,), (n_left_out,))."""
    seen = np.unique(np.concatenate(subject.trial_image_ids))
    shared = np.intersect1d(seen, subject.shared_image_ids)
    split = options.test_split
    if split == "shared":
        return shared, np.zeros(0, dtype=np.int64)
    if split == "shared-common":
        common = shared
        for other in options.common_subjects:
            if other != subject.name:
                ids = study.subject_trial_image_ids(other, options.sessions)
                common = np.intersect1d(common, np.concatenate(ids))
        return common, np.setdiff1d(shared, common)
    return np.intersect1d(seen, read_image_id_file(split)), np.zeros(0, dtype=np.int64)


def read_image_id_file(path: str | Path) -> np.ndarray:
    """0-based 73k image ids from a .npy file or a text file with one id per line ('#' starts a comment)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"preprocess.test_split: {path} is neither 'shared', 'shared-common' nor an existing file "
                         f"of image ids")
    try:
        if path.suffix == ".npy":
            ids = np.load(path).ravel()
        else:
            ids = np.loadtxt(path, dtype=np.int64, comments="#", ndmin=1)
    except ValueError as err:
        raise InputError(f"preprocess.test_split: cannot read image ids from {path}: {err}") from None
    if len(ids) == 0 or (ids < 0).any():
        raise InputError(f"preprocess.test_split: {path} must list 0-based image ids (none negative), got "
                         f"{len(ids)} ids")
    return np.unique(ids.astype(np.int64))


def preprocess_subject(subject: Subject, zscore_stats: str = "all", ncsnr_source: str = "auto",
                       test_ids: np.ndarray | None = None, left_out_ids: np.ndarray | None = None,
                       keep_trials: bool = False) -> ResponseSet:
    """Turn a subject's single-trial betas into trial-averaged responses and noise ceilings.

    zscore_stats: "all" z-scores each session over all its trials (NSD, Algonauts);
        "train" uses only the training images' trials for the statistics (no test leakage).
    ncsnr_source: "study" uses the study's ncsnr file, "estimated" estimates it from
        the repeats, "auto" uses the study's when it ships one.
    test_ids: 0-based ids of the test images (default: the shared images the subject saw);
    left_out_ids: ids in neither split (dropped); keep_trials: keep the single trials (training and test
    images apart).
    Missing data is left out as the module docstring says; voxels missing in every session are dropped.
    """
    if zscore_stats not in ("all", "train"):
        raise InputError(f"zscore_stats must be 'all' or 'train', got {zscore_stats!r}")
    if ncsnr_source not in ("auto", "study", "estimated"):
        raise InputError(f"ncsnr must be 'auto', 'study' or 'estimated', got {ncsnr_source!r}")
    if ncsnr_source == "study" and subject.ncsnr is None:
        raise InputError(f"ncsnr: 'study' was asked for but {subject.name} ships no ncsnr file")

    image_ids = np.unique(np.concatenate(subject.trial_image_ids))
    test_ids = np.intersect1d(subject.shared_image_ids, image_ids) if test_ids is None else test_ids
    n_voxels = subject.n_voxels
    sums = RepeatSums(image_ids, n_voxels)
    missing = _MissingCounts.zeros(n_voxels)
    kept: list[dict[str, tuple[np.ndarray, np.ndarray, int]]] = []  # per session: split -> (z, ids, session)
    for index, path in enumerate(tqdm(subject.session_paths, desc=f"{subject.name} sessions", unit="session")):
        z, _ = add_session(subject, index, sums, zscore_stats, missing, test_ids)
        ids = subject.trial_image_ids[index]
        if keep_trials:  # the trials of images in a split (test_split may leave shared images out of both)
            in_split = ~np.isin(ids, left_out_ids) if left_out_ids is not None else np.ones(len(ids), bool)
            tested = np.isin(ids, test_ids)
            kept.append({split: (z[in_split & chosen], ids[in_split & chosen], subject.session_numbers[index])
                         for split, chosen in (("train", ~tested), ("test", tested))})
        log.info("%s: read %s (%d trials)", subject.name, path.name, len(ids))

    counts = sums.counts
    partial, valid_counts = sums.valid_counts()
    ncsnr_estimated = ncsnr_from_sums(sums.sums, sums.sums_sq, counts)
    if len(partial):
        ncsnr_estimated[partial] = ncsnr_from_sums(sums.sums[:, partial], sums.sums_sq[:, partial], valid_counts)
    responses = sums.sums
    del sums  # frees the squares before the responses are handed out
    partial_sums = responses[:, partial]
    responses /= counts[:, None]
    responses[:, partial] = np.where(valid_counts > 0, partial_sums / np.maximum(valid_counts, 1), 0)

    is_test = np.isin(image_ids, test_ids)
    if not is_test.any():
        raise InputError(f"{subject.name} saw none of the {len(test_ids)} test images")
    use_study = subject.ncsnr is not None and ncsnr_source != "estimated"
    ncsnr = subject.ncsnr if use_study else ncsnr_estimated
    nc = noise_ceiling(ncsnr, counts[is_test])
    if len(partial):
        nc[partial] = noise_ceiling(ncsnr[partial], valid_counts[is_test])

    n_sessions = len(subject.session_paths)
    missing_sessions = missing.any_session
    keep = missing_sessions < n_sessions
    _log_missing(subject, missing, keep)
    rows = ~np.isin(image_ids, left_out_ids) if left_out_ids is not None and len(left_out_ids) else slice(None)
    if not isinstance(rows, slice):
        log.info("%s: %d shared images are in neither split (test_split leaves them out)", subject.name,
                 int((~rows).sum()))
    trials = test_trials = None
    if keep_trials:
        trials, test_trials = (TrialSet(
            responses=np.concatenate([session[split][0] for session in kept])[:, keep],
            image_ids=np.concatenate([session[split][1] for session in kept]),
            session=np.concatenate([np.full(len(session[split][1]), session[split][2], dtype=np.int16)
                                    for session in kept]),
        ) for split in ("train", "test"))
    return ResponseSet(
        subject=subject.name,
        responses=responses[rows][:, keep],
        image_ids=image_ids[rows],
        split=np.where(is_test, "test", "train")[rows],
        repeats=counts[rows],
        **subject.location(keep),
        rois=subject.rois.subset(keep),
        ncsnr=ncsnr[keep],
        ncsnr_source="study" if use_study else "estimated",
        ncsnr_estimated=ncsnr_estimated[keep],
        noise_ceiling=nc[keep],
        valid_sessions=(n_sessions - missing_sessions[keep]).astype(np.int16),
        trials=trials,
        test_trials=test_trials,
        attrs={"zscore_stats": zscore_stats, "sessions": np.asarray(subject.session_numbers, dtype=np.int16),
               "hemisphere_source": subject.hemisphere_source},
    )


def _log_missing(subject: Subject, missing: _MissingCounts, keep: np.ndarray) -> None:
    """One log line per subject: how many voxels missed sessions, why, and how many were dropped."""
    affected = missing.any_session > 0
    if not affected.any():
        log.info("%s: every voxel has valid data in every session", subject.name)
        return
    log.warning(
        "%s: %d of %d voxels miss data in some session (invalid in the study's validity volumes: %d, non-finite "
        "betas: %d, constant within a session: %d); %d voxels with no valid session dropped",
        subject.name, int(affected.sum()), len(affected), int((missing.study > 0).sum()),
        int((missing.nonfinite > 0).sum()), int((missing.constant > 0).sum()), int((~keep).sum()))


def preprocess_study_subject(data_root: str | Path, subject: str, options: PreprocessOptions) -> ResponseSet:
    """Read `subject` of the NSD-layout study at `data_root` and preprocess it as `options` say; the settings used
    are recorded in the result's attributes."""
    study = NSDStudy(data_root, options.space, options.betas_version, options.betas_format)
    data = study.subject(subject, mask_roi=options.mask_roi, sessions=options.sessions)
    test_ids, left_out = test_image_ids(study, data, options)
    result = preprocess_subject(data, options.zscore_stats, options.ncsnr, test_ids, left_out, options.keep_trials)
    result.attrs.update(study_root=str(data_root), test_split=str(options.test_split), mask_roi=options.mask_roi,
                        space=options.space, betas_version=options.betas_version)
    return result
