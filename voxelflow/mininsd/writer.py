"""Write the mini-NSD: a small study in NSD's exact published layout, with its planted truth.

Betas are generated per trial as

    beta = offset[session, v] + gain[session, v] * amp[v] * (ncsnr[v] * S[image, v] + noise)

in percent signal change, where S is the true brain's standardised response
(unit variance over the subject's images) and noise ~ N(0, 1). Session gain and
offset drift are removed by z-scoring within session, so `ncsnr` is exactly the
noise-ceiling SNR that NSD's method estimates. Betas are stored as NSD stores
them: int16 of percent signal change x 300, zero outside the brain mask.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.io import savemat
from tqdm import tqdm

from voxelflow.atlases.label_tables import write_label_table
from voxelflow.errors import InputError
from voxelflow.mininsd.anatomy import ROI_LABELS, build_anatomy
from voxelflow.mininsd.scenes import CATEGORIES, render_scenes
from voxelflow.mininsd.surface import SURFACE_SPACE, surface_layout, write_surface_labels, write_surface_subject
from voxelflow.nsd_layout import NSDLayout, subject_number

log = logging.getLogger(__name__)
TRUTH_NAME = "truth/planted.h5"
NSD_TREES = ("nsddata", "nsddata_betas", "nsddata_stimuli")
_RUNS = 12  # runs per session, as in NSD (odd runs 63 stimulus trials, even runs 62)
_BLANK_SLOTS = 3  # blank trial slots per run in stimpattern, as NSD's runs have
_INVALID_ONE_SESSION = 6  # nsdgeneral voxels of each subject invalid in one session (valid_sessionNN = 0)
_INVALID_EVERY_SESSION = 3  # ... and in every session


def run_sizes(trials_per_session: int) -> np.ndarray:
    """Stimulus trials in each of the 12 runs of a session, odd runs first to get the extra trial (NSD: 750 =
    6 x 63 + 6 x 62): (12,) int."""
    sizes = np.full(_RUNS, trials_per_session // _RUNS)
    order = np.r_[0:_RUNS:2, 1:_RUNS:2]
    sizes[order[: trials_per_session % _RUNS]] += 1
    return sizes


@dataclass
class MiniNSDConfig:
    """Sizes of the mini-NSD. NSD itself: 8 subjects, 1000 shared + 9000 own images, 40 sessions."""

    n_subjects: int = 4  # subj01 .. subjNN
    image_size: int = 64
    n_shared: int = 100
    n_unique: int = 400
    n_sessions: int = 10
    fewer_sessions: dict[str, int] = field(default_factory=lambda: {"subj04": 8})
    grid: tuple[int, int, int] = (24, 28, 20)
    betas_format: str = "nifti"  # nifti, hdf5 or both
    write_ncsnr: bool = True
    seed: int = 0
    surface: bool = False  # also NSD's fsaverage layout (on fsaverage5's vertices; see mininsd/surface.py)

    def validate(self) -> None:
        if not 1 <= self.n_subjects <= 99:
            raise InputError(f"mininsd.n_subjects must be within 1..99, got {self.n_subjects}")
        images_per_subject = self.n_shared + self.n_unique
        if (3 * images_per_subject) % self.n_sessions:
            raise InputError(
                f"mininsd: 3 repeats x (n_shared + n_unique) = {3 * images_per_subject} trials must split "
                f"evenly into n_sessions = {self.n_sessions} sessions"
            )
        for subject, n in self.fewer_sessions.items():
            if not 1 <= n <= self.n_sessions:
                raise InputError(f"mininsd.fewer_sessions.{subject} = {n} must be within 1..{self.n_sessions}")
        if self.betas_format not in ("nifti", "hdf5", "both"):
            raise InputError(f"mininsd.betas_format must be nifti, hdf5 or both, got {self.betas_format!r}")

    @property
    def subjects(self) -> list[str]:
        """["subj01", ..., "subjNN"]."""
        return [f"subj{number:02d}" for number in range(1, self.n_subjects + 1)]

    @property
    def trials_per_session(self) -> int:
        return 3 * (self.n_shared + self.n_unique) // self.n_sessions


def write_mininsd(root: str | Path, config: MiniNSDConfig) -> Path:
    """Write the mini-NSD under `root` (nsddata/, nsddata_betas/, nsddata_stimuli/ and truth/).

    Everything is written to a staging folder first and moved into place at the
    end, so a failure leaves no partial study. Returns the truth file's path.
    """
    config.validate()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".mininsd-", dir=root))
    try:
        _write_study(staging, config)
        for name in (*NSD_TREES, "truth"):
            if (root / name).exists():
                shutil.rmtree(root / name)
            os.replace(staging / name, root / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / TRUTH_NAME


def _write_study(root: Path, config: MiniNSDConfig) -> None:
    rng = np.random.default_rng(config.seed)
    layout = NSDLayout(root)
    n_subjects, subjects = config.n_subjects, config.subjects
    per_subject = config.n_shared + config.n_unique
    n_total = config.n_shared + n_subjects * config.n_unique

    log.info("rendering %d scenes of %d px", n_total, config.image_size)
    images, contents = render_scenes(n_total, config.image_size, config.seed)
    shared = np.sort(rng.choice(n_total, config.n_shared, replace=False))
    own = rng.permutation(np.setdiff1d(np.arange(n_total), shared)).reshape(n_subjects, config.n_unique)
    subjectim = np.concatenate([np.tile(shared, (n_subjects, 1)), own], axis=1)  # 0-based
    masterordering = rng.permutation(np.repeat(np.arange(per_subject), 3))  # 0-based
    sessions = {s: config.fewer_sessions.get(s, config.n_sessions) for s in subjects}

    _write_design(layout, config, subjectim, shared, masterordering)
    # The release's traps (behaviour answers, invalid voxels) draw from their own stream, so the planted
    # responses are the same draws as before the traps existed.
    trap_rng = np.random.default_rng([config.seed, 1])
    for index, subject in enumerate(subjects):
        _write_behavior(layout, subject, subjectim[index], masterordering, sessions[subject],
                        config.trials_per_session, trap_rng)
    _write_stim_info(layout, n_total, shared, subjectim, masterordering, sessions, config.trials_per_session)
    layout.stimuli.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(layout.stimuli, "w") as f:
        f.create_dataset("imgBrick", data=images, chunks=(1, *images.shape[1:]))

    truth_path = root / TRUTH_NAME
    truth_path.parent.mkdir(parents=True)
    with h5py.File(truth_path, "w") as truth:
        truth.attrs["categories"] = list(CATEGORIES)
        truth.attrs["image_size"] = config.image_size
        _write_contents(truth.create_group("images"), contents)
        for index, subject in enumerate(tqdm(subjects, desc="mini-NSD subjects")):
            _write_subject(layout, config, subject, images[subjectim[index]], masterordering,
                           sessions[subject], truth.create_group(subject), rng, trap_rng)
        if config.surface:  # from streams of its own: the volume's draws stay as they were
            surface = surface_layout(config.seed)
            write_surface_labels(layout, surface[0])
            T = config.trials_per_session
            for index, subject in enumerate(tqdm(subjects, desc="mini-NSD surfaces")):
                rows = [masterordering[s * T:(s + 1) * T] for s in range(sessions[subject])]
                write_surface_subject(layout, surface, subject, images[subjectim[index]], rows,
                                      truth.create_group(f"{SURFACE_SPACE}/{subject}"),
                                      np.random.default_rng([config.seed, 2, index]), config.write_ncsnr)


def _write_design(layout: NSDLayout, config: MiniNSDConfig, subjectim, shared, masterordering) -> None:
    """nsd_expdesign.mat with NSD's 1-based fields and stimpattern (sessions x 12 runs x slots)."""
    sizes = run_sizes(config.trials_per_session)
    stimpattern = np.zeros((config.n_sessions, _RUNS, sizes.max() + _BLANK_SLOTS), dtype=np.uint8)
    for run, size in enumerate(sizes):  # blank slots at the start and end of each run, as NSD's are
        stimpattern[:, run, 1:1 + size] = 1
    layout.expdesign.parent.mkdir(parents=True, exist_ok=True)
    savemat(layout.expdesign, {
        "masterordering": (masterordering + 1)[None].astype(np.float64),
        "subjectim": (subjectim + 1).astype(np.float64),
        "sharedix": (shared + 1)[None].astype(np.float64),
        "stimpattern": stimpattern,
    })


def _write_behavior(layout, subject, subject_images, masterordering, n_sessions, trials_per_session, rng) -> None:
    """nsddata/ppdata/subjXX/behav/responses.tsv: one row per acquired trial, NSD's columns (73KID and 10KID
    1-based; the behavioural answers are random)."""
    sizes = run_sizes(trials_per_session)
    n = n_sessions * trials_per_session
    order = masterordering[:n]
    session = np.repeat(np.arange(1, n_sessions + 1), trials_per_session)
    run = np.tile(np.repeat(np.arange(1, _RUNS + 1), sizes), n_sessions)
    trial = np.tile(np.concatenate([np.arange(1, k + 1) for k in sizes]), n_sessions)
    seen_before = np.ones(n, dtype=bool)
    seen_before[np.unique(order, return_index=True)[1]] = False
    answered_old = np.where(rng.random(n) < 0.8, seen_before, ~seen_before)
    table = pd.DataFrame({
        "SUBJECT": subject_number(subject), "SESSION": session, "RUN": run, "TRIAL": trial,
        "73KID": subject_images[order] + 1, "10KID": order + 1, "TIME": 737000 + np.arange(n) / 1e4,
        "ISOLD": seen_before.astype(int), "ISCORRECT": (answered_old == seen_before).astype(int),
        "RT": np.round(rng.uniform(400, 1500, n), 1), "CHANGEMIND": 0, "MEMORYRECENT": np.nan,
        "MEMORYFIRST": np.nan, "ISOLDCURRENT": seen_before.astype(int),
        "ISCORRECTCURRENT": (answered_old == seen_before).astype(int), "TOTAL1": 1, "TOTAL2": 0,
        "BUTTON": np.where(answered_old, 1, 2), "MISSINGDATA": 0,
    })
    path = layout.behavior(subject)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False)


def _write_stim_info(layout, n_total, shared, subjectim, masterordering, sessions, trials_per_session) -> None:
    """nsd_stim_info_merged.csv: one row per image, subjectK_repN = 1-based global trial or 0."""
    table = pd.DataFrame({
        "cocoId": np.arange(n_total) + 100000,
        "cocoSplit": "train2017",
        "cropBox": "(0, 0, 0, 0)",
        "loss": 0.0,
        "nsdId": np.arange(n_total),
        "flagged": False,
        "BOLD5000": False,
        "shared1000": np.isin(np.arange(n_total), shared),
    })
    reps = {}
    for index, subject in enumerate(sessions):
        k = index + 1
        n_trials = sessions[subject] * trials_per_session
        trial_images = subjectim[index, masterordering[:n_trials]]
        shown = np.zeros(n_total, dtype=bool)
        shown[trial_images] = True
        table[f"subject{k}"] = shown.astype(int)
        rep = np.zeros((n_total, 3), dtype=int)
        seen = np.zeros(n_total, dtype=int)
        for trial, image in enumerate(trial_images):
            rep[image, seen[image]] = trial + 1
            seen[image] += 1
        for r in range(3):
            reps[f"subject{k}_rep{r}"] = rep[:, r]
    table = pd.concat([table, pd.DataFrame(reps)], axis=1)
    table.to_csv(layout.stim_info)


def _write_contents(group: h5py.Group, contents) -> None:
    """What each image shows: `has_category` (n_images, n_categories) and a table of objects."""
    has = np.zeros((len(contents), len(CATEGORIES)), dtype=bool)
    rows = []
    for image, objects in enumerate(contents):
        for obj in objects:
            c = CATEGORIES.index(obj.category)
            has[image, c] = True
            rows.append((image, c, obj.x, obj.y, obj.size))
    group.create_dataset("has_category", data=has)
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    for name, column in zip(("object_image", "object_category", "object_x", "object_y", "object_size"), table.T):
        group.create_dataset(name, data=column.astype(np.int64) if name in ("object_image", "object_category") else column)


def _save_nifti(data: np.ndarray, affine: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(data, affine)
    image.header.set_data_dtype(data.dtype)
    nib.save(image, path)


def _write_subject(layout, config, subject, subject_images, masterordering, n_sessions, truth, rng,
                   trap_rng) -> None:
    number = subject_number(subject)
    shape = tuple(int(n) + d for n, d in zip(config.grid, (number % 2, number % 3 - 1, (number + 1) % 2)))
    anatomy = build_anatomy(shape, config.image_size, rng)
    brain = anatomy.true_brain

    raw = brain.raw_response(subject_images)
    brain.signal_mean, brain.signal_std = raw.mean(0), raw.std(0)
    brain.signal_std[brain.signal_std == 0] = 1.0
    signal = (raw - brain.signal_mean) / brain.signal_std  # (images, nsdgeneral voxels)

    brain_ijk = np.argwhere(anatomy.brainmask)
    general_ijk = anatomy.ijk
    general_cols = np.flatnonzero(np.isin(_ravel(brain_ijk, shape), _ravel(general_ijk, shape)))
    n_brain, n_general = len(brain_ijk), len(general_ijk)
    ncsnr = np.zeros(n_brain)
    ncsnr[general_cols] = anatomy.ncsnr
    amp = rng.uniform(1.0, 3.0, n_brain)
    # One nsdgeneral voxel of subj01 is constant zero in every session, as voxels at
    # the edge of the field of view can be in NSD; z-scoring must survive it.
    dead = np.zeros(n_general, dtype=bool)
    if number == 1:
        dead[rng.integers(n_general)] = True
        ncsnr[general_cols[dead]] = 0.0

    # Voxels without valid data in a session, marked 0 in valid_sessionNN.nii.gz with betas stored as 0 (NSD's
    # export zeroes them): a few in one session, a few in every session.
    valid = np.ones((n_sessions, n_general), dtype=bool)
    candidates = trap_rng.permutation(np.flatnonzero(~dead))
    one, every = candidates[:_INVALID_ONE_SESSION], candidates[_INVALID_ONE_SESSION:][:_INVALID_EVERY_SESSION]
    valid[trap_rng.integers(n_sessions, size=len(one)), one] = False
    valid[:, every] = False

    T = config.trials_per_session
    gains = np.empty((n_sessions, n_general))
    offsets = np.empty((n_sessions, n_general))
    formats = ["nifti", "hdf5"] if config.betas_format == "both" else [config.betas_format]
    for s in range(n_sessions):
        rows = masterordering[s * T:(s + 1) * T]
        gain = rng.uniform(0.85, 1.15) * rng.uniform(0.75, 1.25, n_brain)
        offset = rng.normal(0, 1.0) + rng.normal(0, 1.5, n_brain)
        clean = np.zeros((T, n_brain))
        clean[:, general_cols] = signal[rows] * ncsnr[general_cols]
        betas = offset + gain * amp * (clean + rng.standard_normal((T, n_brain)))
        betas[:, general_cols[dead | ~valid[s]]] = 0.0
        gains[s], offsets[s] = gain[general_cols], offset[general_cols]
        valid_volume = anatomy.brainmask.astype(np.int16)
        valid_volume[tuple(general_ijk[~valid[s]].T)] = 0
        _save_nifti(valid_volume, anatomy.affine, layout.valid_session(subject, s + 1))
        volume = np.zeros((*shape, T), dtype=np.int16)
        volume[anatomy.brainmask] = np.clip(np.round(betas.T * 300), -32768, 32767).astype(np.int16)
        for fmt in formats:
            path = layout.betas_session(subject, s + 1, fmt)
            if fmt == "nifti":
                _save_nifti(volume, anatomy.affine, path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                with h5py.File(path, "w") as f:  # NSD's HDF5 order: (trials, Z, Y, X), one voxel per chunk
                    f.create_dataset("betas", data=volume.transpose(3, 2, 1, 0), chunks=(T, 1, 1, 1))

    if config.write_ncsnr:
        ncsnr_volume = np.zeros(shape, dtype=np.float32)
        ncsnr_volume[anatomy.brainmask] = ncsnr
        _save_nifti(ncsnr_volume, anatomy.affine, layout.ncsnr(subject))
    _save_nifti(anatomy.brainmask.astype(np.int16), anatomy.affine, layout.brainmask(subject))
    _save_nifti(_mean_epi(anatomy.brainmask), anatomy.affine, layout.mean_epi(subject))
    valid_any = anatomy.brainmask.astype(np.int16)  # valid.nii.gz: valid in at least one session
    valid_any[tuple(general_ijk[~valid.any(0)].T)] = 0
    _save_nifti(valid_any, anatomy.affine, layout.valid(subject))
    for family, volume in anatomy.roi_volumes.items():
        _save_nifti(volume, anatomy.affine, layout.roi(subject, family))
        for hemi, side in (("lh", anatomy.left), ("rh", ~anatomy.left)):  # -1 also marks the other hemisphere
            _save_nifti(np.where(side, volume, -1).astype(np.int16), anatomy.affine,
                        layout.roi(subject, f"{hemi}.{family}"))
        write_label_table(layout.label_table(subject, family), ROI_LABELS[family])

    truth.attrs["n_sessions"] = n_sessions
    truth.attrs["volume_shape"] = shape
    hemisphere = np.where(anatomy.left[tuple(general_ijk.T)], "lh", "rh").astype("S2")
    for name, data in [("ijk", general_ijk), ("kind", anatomy.kind.astype("S")), ("ncsnr", ncsnr[general_cols]),
                       ("dead", dead), ("valid", valid), ("hemisphere", hemisphere), ("session_gain", gains),
                       ("session_offset", offsets)]:
        truth.create_dataset(name, data=data)
    brain.save(truth.create_group("true_brain"))


def _mean_epi(brainmask: np.ndarray) -> np.ndarray:
    """A plausible mean EPI: bright brain, darker towards its edge, dark background."""
    distance = ndimage.distance_transform_edt(brainmask)
    return np.where(brainmask, 600 + 600 * np.minimum(distance / 4, 1), 40).astype(np.float32)


def _ravel(ijk: np.ndarray, shape) -> np.ndarray:
    return np.ravel_multi_index(tuple(ijk.T), shape)
