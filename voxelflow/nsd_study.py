"""Read an NSD-layout study (NSD itself or the mini-NSD) as `Subject`s: betas, trials, ROIs, ncsnr."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np

from voxelflow.atlases.label_tables import read_label_table
from voxelflow.atlases.roi_masks import RoiSet, voxel_labels
from voxelflow.errors import InputError
from voxelflow.nsd_betas import read_masked_betas
from voxelflow.nsd_design import ExperimentDesign, check_against_stim_info, read_expdesign
from voxelflow.nsd_layout import SESSION_PATTERN, SUBJECT_PATTERN, NSDLayout, subject_number

log = logging.getLogger(__name__)


@dataclass
class Subject:
    """One subject's data, masked to a voxel set, read session by session.

    session_paths: the betas file of each session, in session order
    trial_image_ids: per session, (n_trials,) 0-based 73k id of each trial's image
    shared_image_ids: (n_shared,) 0-based ids of the shared (test) images
    mask: (X, Y, Z) bool voxel set; ijk: (n_voxels, 3) its voxel indices in C order
    affine: (4, 4) voxel -> scanner mm
    rois: ROI masks over the n_voxels
    ncsnr: (n_voxels,) the study's noise-ceiling SNR, or None if it ships none
    """

    name: str
    session_paths: list[Path]
    trial_image_ids: list[np.ndarray]
    shared_image_ids: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    rois: RoiSet
    ncsnr: np.ndarray | None

    @property
    def ijk(self) -> np.ndarray:
        return np.argwhere(self.mask)

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())

    def read_session(self, index: int) -> np.ndarray:
        """Betas of 0-based session `index`: (n_trials, n_voxels) float32 percent signal change."""
        return read_masked_betas(self.session_paths[index], self.mask)


class NSDStudy:
    """An NSD copy (or the mini-NSD) at `root`, read as NSD ships it.

    space: "func1pt8mm" or "func1mm"; betas_version: e.g. "betas_fithrf_GLMdenoise_RR";
    betas_format: "nifti", "hdf5", or "auto" (HDF5 where present: it reads voxels faster).
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

    @cached_property
    def design(self) -> ExperimentDesign:
        return read_expdesign(self.layout.expdesign)

    def subject(self, name: str, mask_roi: str = "nsdgeneral") -> Subject:
        """Open subject `name` masked to the voxels with a label > 0 in ROI volume `mask_roi`."""
        if name not in self.subjects:
            raise InputError(
                f"unknown subject {name!r}: {self.layout.subjects_dir} has {', '.join(self.subjects) or 'none'}"
            )
        mask_path = self.layout.roi(name, mask_roi)
        if not mask_path.is_file():
            available = sorted(p.name.removesuffix(".nii.gz") for p in self.layout.roi_dir(name).glob("*.nii.gz"))
            raise InputError(f"unknown ROI {mask_roi!r} for the voxel mask: {mask_path} does not exist; "
                             f"ROI volumes there: {', '.join(available) or 'none'}")
        mask_image = _load_volume(mask_path)
        mask = np.asarray(mask_image.dataobj) > 0
        sessions = self._session_paths(name)
        trials = [self._check_session(path, index, mask.shape) for index, path in enumerate(sessions)]
        number = subject_number(name)
        ids = self.design.trial_image_ids(number, int(sum(trials)))
        if self.layout.stim_info.is_file():
            check_against_stim_info(self.layout.stim_info, number, ids)
        log.info("%s: %d sessions, %d trials, %d voxels in %s", name, len(sessions), len(ids), mask.sum(), mask_roi)
        return Subject(
            name=name,
            session_paths=sessions,
            trial_image_ids=np.split(ids, np.cumsum(trials)[:-1]),
            shared_image_ids=self.design.sharedix,
            mask=mask,
            affine=mask_image.affine,
            rois=self._rois(name, mask),
            ncsnr=self._ncsnr(name, mask),
        )

    def _session_paths(self, subject: str) -> list[Path]:
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

    def _check_session(self, path: Path, index: int, grid: tuple) -> int:
        """Check a session's grid and trial count against the mask and design; return its trial count."""
        try:
            if path.suffix == ".hdf5":
                with h5py.File(path, "r") as f:
                    shape = (*f["betas"].shape[:0:-1], f["betas"].shape[0])
            else:
                shape = nib.load(path).shape
        except Exception as err:  # nibabel/h5py raise many types for damaged files
            raise InputError(f"cannot read betas {path}: {err}") from None
        if len(shape) != 4 or tuple(shape[:3]) != tuple(grid):
            raise InputError(f"betas {path} have volume shape {tuple(shape[:3])} but the ROI masks have "
                             f"{tuple(grid)}: they belong to different subjects or spaces")
        expected = self.design.trials_per_session
        if expected is not None:
            if index >= len(expected) or shape[3] != expected[index]:
                want = expected[index] if index < len(expected) else 0
                raise InputError(f"betas {path} hold {shape[3]} trials but {self.design.path} has {want} "
                                 f"stimulus trials in session {index + 1}")
        return int(shape[3])

    def _rois(self, subject: str, mask: np.ndarray) -> RoiSet:
        rois = RoiSet()
        for path in sorted(self.layout.roi_dir(subject).glob("*.nii.gz")):
            family = path.name.removesuffix(".nii.gz")
            table_path = self.layout.label_table(subject, family)
            if family.startswith(("lh.", "rh.")) or not table_path.is_file():
                continue
            volume = np.asarray(_load_volume(path, mask.shape).dataobj)
            rois.add_family(family, voxel_labels(volume, mask), read_label_table(table_path))
        return rois

    def _ncsnr(self, subject: str, mask: np.ndarray) -> np.ndarray | None:
        path = self.layout.ncsnr(subject)
        if not path.is_file():
            return None
        return np.asarray(_load_volume(path, mask.shape).dataobj, dtype=np.float32)[mask]


def _load_volume(path: Path, grid: tuple | None = None) -> nib.Nifti1Image:
    """A 3-D NIfTI volume, checked to lie on `grid` when given."""
    try:
        image = nib.load(path)
    except Exception as err:
        raise InputError(f"cannot read {path}: {err}") from None
    if grid is not None and tuple(image.shape[:3]) != tuple(grid):
        raise InputError(f"{path} has volume shape {tuple(image.shape[:3])} but the voxel mask has {tuple(grid)}")
    return image
