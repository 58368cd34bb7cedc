"""Read an NSD-layout study (NSD itself or the mini-NSD) as `Subject`s: betas, trials, ROIs, ncsnr."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np

from voxelflow.atlases.label_tables import read_label_table
from voxelflow.atlases.roi_masks import RoiSet, hemispheres_from_volumes, voxel_labels
from voxelflow.errors import InputError
from voxelflow.file_reading import load_nifti
from voxelflow.nsd_betas import read_masked_betas
from voxelflow.nsd_design import (
    ExperimentDesign,
    behavior_trials_per_session,
    check_against_behavior,
    check_against_stim_info,
    read_expdesign,
)
from voxelflow.nsd_layout import HEMISPHERES, SESSION_PATTERN, SUBJECT_PATTERN, NSDLayout, hemisphere_file, \
    subject_number

log = logging.getLogger(__name__)


@dataclass
class Subject:
    """One subject's data, masked to a voxel set, read session by session.

    session_paths: the betas file of each session used, in session order
    session_numbers: their 1-based session numbers
    trial_image_ids: per session, (n_trials,) 0-based 73k id of each trial's image
    shared_image_ids: (n_shared,) 0-based ids of the shared images
    mask: (X, Y, Z) bool voxel set; ijk: (n_voxels, 3) its voxel indices in C order
    affine: (4, 4) voxel -> scanner mm
    rois: ROI label families over the n_voxels, with each voxel's hemisphere
    ncsnr: (n_voxels,) the study's noise-ceiling SNR, or None if it ships none
    valid_paths: per session, the study's validity volume (valid_sessionNN) or None
    """

    name: str
    session_paths: list[Path]
    trial_image_ids: list[np.ndarray]
    shared_image_ids: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    rois: RoiSet
    ncsnr: np.ndarray | None
    session_numbers: list[int] | None = None
    valid_paths: list[Path | None] | None = None
    hemisphere_source: str = "none"

    def __post_init__(self):
        if self.session_numbers is None:
            self.session_numbers = list(range(1, len(self.session_paths) + 1))
        if self.valid_paths is None:
            self.valid_paths = [None] * len(self.session_paths)

    @property
    def ijk(self) -> np.ndarray:
        return np.argwhere(self.mask)

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())

    def read_session(self, index: int) -> np.ndarray:
        """Betas of 0-based session `index`: (n_trials, n_voxels) float32 percent signal change."""
        return read_masked_betas(self.session_paths[index], self.mask)

    def location(self, keep: np.ndarray) -> dict:
        """The response store's location fields of the kept voxels ((n_voxels,) bool `keep`): ijk, affine and the
        volume shape (a surface subject gives vertex indices instead)."""
        return {"ijk": self.ijk[keep], "affine": self.affine, "volume_shape": self.mask.shape, "vertex": None}

    def session_validity(self, index: int) -> np.ndarray | None:
        """(n_voxels,) bool, False where the study marks a voxel invalid in 0-based session `index`; None when
        the study ships no validity volume for it."""
        path = self.valid_paths[index]
        if path is None:
            return None
        return np.asarray(_load_volume(path, self.mask.shape).dataobj)[self.mask] > 0


def select_sessions(sessions, available: list[int], subject: str) -> list[int]:
    """1-based session numbers chosen by `sessions` ("all", a count N = the first N, or a list) among
    `available`; InputError for a session the subject lacks."""
    if sessions in (None, "all"):
        return list(available)
    if isinstance(sessions, int) and not isinstance(sessions, bool):
        if sessions < 1:
            raise InputError(f"preprocess.sessions must be at least 1, got {sessions}")
        chosen = list(range(1, min(sessions, len(available)) + 1))
        if sessions > len(available):
            log.info("%s has %d sessions; preprocess.sessions: %d uses all of them", subject, len(available),
                     sessions)
        return chosen
    chosen = sorted({int(s) for s in sessions})
    missing = [s for s in chosen if s not in available]
    if missing:
        raise InputError(f"preprocess.sessions names session {missing[0]} but {subject} has sessions "
                         f"{available[0]}..{available[-1]}")
    return chosen


class NSDStudy:
    """An NSD copy (or the mini-NSD) at `root`, read as NSD ships it.

    space: "func1pt8mm" or "func1mm" (volumes), or "fsaverage" (surfaces, `voxelflow.nsd_surface`);
    betas_version: e.g. "betas_fithrf_GLMdenoise_RR"; betas_format (volumes): "nifti", "hdf5", or "auto" (HDF5
    where present: it reads voxels faster).
    """

    def __init__(self, root: str | Path, space: str = "func1pt8mm",
                 betas_version: str = "betas_fithrf_GLMdenoise_RR", betas_format: str = "auto"):
        if betas_format not in ("auto", "nifti", "hdf5"):
            raise InputError(f"betas_format must be auto, nifti or hdf5, got {betas_format!r}")
        self.layout = NSDLayout(Path(root), space, betas_version)
        self.betas_format = betas_format
        if not self.layout.subjects_dir.is_dir():
            raise InputError(f"{root} is not an NSD copy: {self.layout.subjects_dir} does not exist")

    @property
    def subjects(self) -> list[str]:
        """Subjects with a betas folder, e.g. ["subj01", "subj02"]."""
        return sorted(p.name for p in self.layout.subjects_dir.iterdir() if SUBJECT_PATTERN.match(p.name))

    def check_subject(self, name: str) -> None:
        """An InputError listing the study's subjects unless it has `name`."""
        if name not in self.subjects:
            raise InputError(
                f"unknown subject {name!r}: {self.layout.subjects_dir} has {', '.join(self.subjects) or 'none'}"
            )

    @cached_property
    def design(self) -> ExperimentDesign:
        return read_expdesign(self.layout.expdesign)

    @property
    def is_surface(self) -> bool:
        return self.layout.space == "fsaverage"

    def subject(self, name: str, mask_roi: str = "nsdgeneral", sessions="all") -> Subject:
        """Open subject `name` masked to the voxels (vertices) with a label > 0 in ROI `mask_roi`, using
        `sessions` ("all", the first N, or a list of 1-based session numbers)."""
        self.check_subject(name)
        if self.is_surface:
            return self._surface_subject(name, mask_roi, sessions)
        mask_path = self.layout.roi(name, mask_roi)
        if not mask_path.is_file():
            available = sorted(p.name.removesuffix(".nii.gz") for p in self.layout.roi_dir(name).glob("*.nii.gz"))
            raise InputError(f"unknown ROI {mask_roi!r} for the voxel mask: {mask_path} does not exist; "
                             f"ROI volumes there: {', '.join(available) or 'none'}")
        mask_image = _load_volume(mask_path)
        mask = np.asarray(mask_image.dataobj) > 0
        paths = self._session_paths(name)
        trials = [self._session_trials(path, mask.shape) for path in paths]
        per_session = self._trial_image_ids(name, paths, trials, cross_check=True)
        chosen = select_sessions(sessions, list(range(1, len(paths) + 1)), name)
        rois, hemisphere_source = self._rois(name, mask, mask_image.affine)
        valid_paths = [self.layout.valid_session(name, s) for s in chosen]
        valid_paths = [p if p.is_file() else None for p in valid_paths]
        if not any(valid_paths) and self.layout.valid(name).is_file():
            valid_paths = [self.layout.valid(name)] * len(chosen)  # one volume for every session
        log.info("%s: %d of %d sessions, %d trials, %d voxels in %s", name, len(chosen), len(paths),
                 sum(trials[s - 1] for s in chosen), mask.sum(), mask_roi)
        return Subject(
            name=name,
            session_paths=[paths[s - 1] for s in chosen],
            trial_image_ids=[per_session[s - 1] for s in chosen],
            shared_image_ids=self.design.sharedix,
            mask=mask,
            affine=mask_image.affine,
            rois=rois,
            ncsnr=self._ncsnr(name, mask),
            session_numbers=chosen,
            valid_paths=valid_paths,
            hemisphere_source=hemisphere_source,
        )

    def _surface_subject(self, name: str, mask_roi: str, sessions) -> Subject:
        from voxelflow.nsd_surface import SurfaceSubject, surface_labels, surface_ncsnr, surface_roi_tables, \
            surface_rois

        families = surface_roi_tables(self.layout)
        if mask_roi not in families:
            raise InputError(f"unknown ROI {mask_roi!r} for the vertex mask: {self.layout.surface_label('lh', mask_roi)}"
                             f" (or its rh. file or table) does not exist; fsaverage label families: "
                             f"{', '.join(families) or 'none'}")
        mask = surface_labels(self.layout, mask_roi) > 0
        paths = self._session_paths(name)
        trials = [self._session_trials(path) for path in paths]
        per_session = self._trial_image_ids(name, paths, trials, cross_check=True)
        chosen = select_sessions(sessions, list(range(1, len(paths) + 1)), name)
        log.info("%s: %d of %d sessions, %d trials, %d fsaverage vertices in %s", name, len(chosen), len(paths),
                 sum(trials[s - 1] for s in chosen), mask.sum(), mask_roi)
        return SurfaceSubject(
            name=name, session_paths=[paths[s - 1] for s in chosen],
            trial_image_ids=[per_session[s - 1] for s in chosen], shared_image_ids=self.design.sharedix,
            mask=mask, affine=None, rois=surface_rois(self.layout, mask), ncsnr=surface_ncsnr(self.layout, name, mask),
            session_numbers=chosen, hemisphere_source="fsaverage lh./rh. labels")

    def subject_trial_image_ids(self, name: str, sessions="all") -> list[np.ndarray]:
        """Per chosen session of subject `name`, (n_trials,) 0-based ids of its trials' images, from the design
        and the betas files' trial counts (headers only)."""
        paths = self._session_paths(name)
        per_session = self._trial_image_ids(name, paths, [self._session_trials(p) for p in paths])
        return [per_session[s - 1] for s in select_sessions(sessions, list(range(1, len(paths) + 1)), name)]

    def _trial_image_ids(self, name: str, paths: list[Path], trials: list[int],
                         cross_check: bool = False) -> list[np.ndarray]:
        """Per session file, the image ids of its trials; checked against the design's trial counts, and with
        `cross_check` against the stimulus CSV and behaviour file when present."""
        self._check_trial_counts(name, paths, trials)
        number = subject_number(name)
        ids = self.design.trial_image_ids(number, int(sum(trials)))
        if cross_check and self.layout.stim_info.is_file():
            check_against_stim_info(self.layout.stim_info, number, ids)
        if cross_check and self.layout.behavior(name).is_file():
            check_against_behavior(self.layout.behavior(name), number, ids)
        return np.split(ids, np.cumsum(trials)[:-1])

    def input_files(self, subject: str, mask_roi: str = "nsdgeneral", others: tuple[str, ...] = ()) -> list[Path]:
        """Every file that reading `subject` opens (and, for `others`, e.g. the subjects of a shared-common split,
        their betas headers): the design, the stimulus CSV and behaviour file, each betas session, ncsnr, the
        mask, every ROI volume and label table, the validity volumes. The workflow declares them as inputs, so
        that replacing any one of them reruns exactly the preprocessing it feeds."""
        layout = self.layout
        if self.is_surface:
            files = [layout.expdesign, layout.stim_info, layout.behavior(subject)]
            files += [hemisphere_file(p, hemi) for p in self._session_paths(subject) for hemi in HEMISPHERES]
            files += [layout.surface_ncsnr(subject, hemi) for hemi in HEMISPHERES]
            files += [path for family in self.roi_tables(subject) for path in
                      (layout.surface_label("lh", family), layout.surface_label("rh", family),
                       layout.surface_label_table(family))]
        else:
            files = [layout.expdesign, layout.roi(subject, mask_roi), *self._session_paths(subject)]
            files += [layout.stim_info, layout.behavior(subject), layout.ncsnr(subject), layout.valid(subject)]
            files += sorted(layout.ppdata_dir(subject).glob("valid_session*.nii.gz"))
            files += sorted(layout.roi_dir(subject).glob("*.nii.gz"))
            files += [layout.label_table(subject, family) for family in self.roi_tables(subject)]
        for other in others:
            if other != subject:
                files += [*self._session_paths(other), layout.behavior(other)]
        return list(dict.fromkeys(path for path in files if path.is_file()))

    def roi_tables(self, subject: str) -> dict[str, dict[int, str]]:
        """Label tables of every ROI family `subject` has a volume and a table of ({family: {value: name}}): what
        ROI names can mean, read without any voxel data (the workflow checks the config's names with it)."""
        if self.is_surface:
            from voxelflow.nsd_surface import surface_roi_tables

            return surface_roi_tables(self.layout)
        tables = {}
        for path in sorted(self.layout.roi_dir(subject).glob("*.nii.gz")):
            family = path.name.removesuffix(".nii.gz")
            if family[:3] not in ("lh.", "rh.") and self.layout.label_table(subject, family).is_file():
                tables[family] = read_label_table(self.layout.label_table(subject, family))
        return tables

    def _session_paths(self, subject: str) -> list[Path]:
        if self.is_surface:
            from voxelflow.nsd_surface import surface_session_paths

            return surface_session_paths(self.layout, subject)
        folder = self.layout.betas_dir(subject)
        found: dict[str, dict[int, Path]] = {"nifti": {}, "hdf5": {}}
        for path in folder.glob("betas_session*"):
            match = SESSION_PATTERN.match(path.name)
            if match:
                fmt = "hdf5" if match.group(2) == "hdf5" else "nifti"
                found[fmt][int(match.group(1))] = path
        fmt = self.betas_format
        if fmt == "auto":
            fmt = "hdf5" if found["hdf5"] else "nifti"
        sessions = found[fmt]
        if not sessions:
            raise InputError(f"no {fmt} betas sessions (betas_sessionNN) in {folder}")
        for number in range(1, max(sessions) + 1):
            if number not in sessions:
                raise InputError(f"missing betas session file {self.layout.betas_session(subject, number, fmt)}: "
                                 f"sessions {sorted(sessions)} exist")
        return [sessions[n] for n in sorted(sessions)]

    def _session_trials(self, path: Path, grid: tuple | None = None) -> int:
        """A session's trial count, its grid checked against the mask's `grid` when given."""
        if self.is_surface:
            from voxelflow.nsd_surface import surface_trials

            trials = surface_trials(path)
            right = hemisphere_file(path, "rh")
            if surface_trials(right) != trials:
                raise InputError(f"{right} holds {surface_trials(right)} trials but {path} holds {trials}")
            return trials
        try:
            if path.suffix == ".hdf5":
                with h5py.File(path, "r") as f:
                    shape = (*f["betas"].shape[:0:-1], f["betas"].shape[0])
            else:
                shape = nib.load(path).shape
        except Exception as err:  # nibabel/h5py raise many types for damaged files
            raise InputError(f"cannot read betas {path}: {err}") from None
        if len(shape) != 4 or (grid is not None and tuple(shape[:3]) != tuple(grid)):
            raise InputError(f"betas {path} have volume shape {tuple(shape[:3])} but the ROI masks have "
                             f"{tuple(grid)}: they belong to different subjects or spaces")
        return int(shape[3])

    def _check_trial_counts(self, subject: str, paths: list[Path], trials: list[int]) -> None:
        """Each session's trial count must be the design's: from `stimpattern`, else from the subject's
        behaviour file, else every session must hold as many trials as the first (NSD: 750)."""
        expected, source = self.design.trials_per_session, str(self.design.path)
        if expected is None and self.layout.behavior(subject).is_file():
            expected = behavior_trials_per_session(self.layout.behavior(subject), len(paths))
            source = str(self.layout.behavior(subject))
        if expected is None:
            expected, source = np.full(len(paths), trials[0]), f"the first session ({paths[0].name})"
        for index, (path, n) in enumerate(zip(paths, trials)):
            want = int(expected[index]) if index < len(expected) else 0
            if n != want:
                raise InputError(f"betas {path} hold {n} trials but {source} has {want} stimulus trials in "
                                 f"session {index + 1}")

    def _rois(self, subject: str, mask: np.ndarray, affine: np.ndarray) -> tuple[RoiSet, str]:
        """Every ROI family with a label table, and each voxel's hemisphere (from the lh./rh. volumes, else the
        sign of scanner x, with a warning). Returns the set and where the hemispheres came from."""
        rois = RoiSet()
        for family, table in self.roi_tables(subject).items():
            volume = np.asarray(_load_volume(self.layout.roi(subject, family), mask.shape).dataobj)
            rois.add_family(family, voxel_labels(volume, mask), table)
        sides: dict[str, list[np.ndarray]] = {"lh": [], "rh": []}
        for hemi, values in sides.items():
            for path in sorted(self.layout.roi_dir(subject).glob(f"{hemi}.*.nii.gz")):
                values.append(np.asarray(_load_volume(path, mask.shape).dataobj)[mask])
        ijk = np.argwhere(mask)
        if sides["lh"] and sides["rh"]:
            rois.hemisphere = hemispheres_from_volumes(sides["lh"], sides["rh"], ijk)
            return rois, "lh./rh. ROI volumes"
        x_mm = ijk @ affine[0, :3] + affine[0, 3]
        rois.hemisphere = np.where(x_mm < 0, "lh", "rh").astype("<U2")
        warnings.warn(f"{subject}: no lh./rh. ROI volumes in {self.layout.roi_dir(subject)}; hemispheres are taken "
                      f"from the sign of scanner x, which is right only if x = 0 lies on the midline", stacklevel=2)
        return rois, "scanner x"

    def _ncsnr(self, subject: str, mask: np.ndarray) -> np.ndarray | None:
        path = self.layout.ncsnr(subject)
        if not path.is_file():
            return None
        return np.asarray(_load_volume(path, mask.shape).dataobj, dtype=np.float32)[mask]


def _load_volume(path: Path, grid: tuple | None = None) -> nib.Nifti1Image:
    """A 3-D NIfTI volume, checked to lie on `grid` when given."""
    image = load_nifti(path, "volume")
    if grid is not None and tuple(image.shape[:3]) != tuple(grid):
        raise InputError(f"{path} has volume shape {tuple(image.shape[:3])} but the voxel mask has {tuple(grid)}")
    return image
