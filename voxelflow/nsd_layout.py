"""Where NSD keeps each file, as published: the one path map for the reader and the mini-NSD."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5

SUBJECT_PATTERN = re.compile(r"^subj(\d\d)$")
SESSION_PATTERN = re.compile(r"^betas_session(\d\d)\.(nii\.gz|nii|hdf5)$")
BETAS_SUFFIX = {"nifti": ".nii.gz", "hdf5": ".hdf5"}
HEMISPHERES = ("lh", "rh")
SURFACE_SESSION_PATTERN = re.compile(r"^lh\.betas_session(\d\d)\.mgh$")


def hemisphere_file(path: Path, hemi: str) -> Path:
    """The file of hemisphere `hemi` ("lh" or "rh") beside `path`, a file of either hemisphere named "lh.<rest>"
    or "rh.<rest>" (NSD's fsaverage files)."""
    return path.with_name(hemi + path.name[2:])


def subject_number(subject: str) -> int:
    """1-based subject number of a name like "subj01"; ValueError for anything else."""
    match = SUBJECT_PATTERN.match(subject)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"subject names look like 'subj01', got {subject!r}")
    return int(match.group(1))


@dataclass(frozen=True)
class NSDLayout:
    """Paths of an NSD copy rooted at `root` (the folder holding nsddata/, nsddata_betas/, ...).

    `space` is the volume preparation (func1pt8mm or func1mm) and `betas_version`
    the GLM version (betas_fithrf_GLMdenoise_RR is NSD's b3).
    """

    root: Path
    space: str = "func1pt8mm"
    betas_version: str = "betas_fithrf_GLMdenoise_RR"

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def expdesign(self) -> Path:
        return self.root / "nsddata/experiments/nsd/nsd_expdesign.mat"

    @property
    def stim_info(self) -> Path:
        return self.root / "nsddata/experiments/nsd/nsd_stim_info_merged.csv"

    @property
    def stimuli(self) -> Path:
        return self.root / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"

    @property
    def subjects_dir(self) -> Path:
        return self.root / "nsddata_betas/ppdata"

    def betas_dir(self, subject: str) -> Path:
        return self.subjects_dir / subject / self.space / self.betas_version

    def betas_session(self, subject: str, session: int, fmt: str) -> Path:
        """Betas of 1-based `session` in format "nifti" or "hdf5"."""
        return self.betas_dir(subject) / f"betas_session{session:02d}{BETAS_SUFFIX[fmt]}"

    def ncsnr(self, subject: str) -> Path:
        return self.betas_dir(subject) / "ncsnr.nii.gz"

    def ppdata_dir(self, subject: str) -> Path:
        return self.root / "nsddata/ppdata" / subject / self.space

    def roi_dir(self, subject: str) -> Path:
        return self.ppdata_dir(subject) / "roi"

    def roi(self, subject: str, name: str) -> Path:
        """ROI volume of family `name`; "lh.<family>" / "rh.<family>" name one hemisphere's volume."""
        return self.roi_dir(subject) / f"{name}.nii.gz"

    def valid_session(self, subject: str, session: int) -> Path:
        """Voxels with valid data in 1-based `session` (1) or not (0); their betas are stored as 0."""
        return self.ppdata_dir(subject) / f"valid_session{session:02d}.nii.gz"

    def valid(self, subject: str) -> Path:
        return self.ppdata_dir(subject) / "valid.nii.gz"

    def surface_dir(self, subject: str) -> Path:
        """The subject's fsaverage betas folder (whatever `space` is)."""
        return self.subjects_dir / subject / "fsaverage" / self.betas_version

    def surface_betas_session(self, subject: str, session: int, hemi: str) -> Path:
        """fsaverage betas of 1-based `session`, hemisphere "lh" or "rh": (vertices, 1, 1, trials) float."""
        return self.surface_dir(subject) / f"{hemi}.betas_session{session:02d}.mgh"

    def surface_ncsnr(self, subject: str, hemi: str) -> Path:
        return self.surface_dir(subject) / f"{hemi}.ncsnr.mgh"

    @property
    def fsaverage_dir(self) -> Path:
        return self.root / "nsddata/freesurfer/fsaverage"

    def surface_label(self, hemi: str, family: str) -> Path:
        """fsaverage's label file of ROI family `family` on hemisphere `hemi`: (vertices, 1, 1) ints."""
        return self.fsaverage_dir / "label" / f"{hemi}.{family}.mgz"

    def surface_label_table(self, family: str) -> Path:
        return self.fsaverage_dir / "label" / f"{family}.mgz.ctab"

    def behavior(self, subject: str) -> Path:
        """Per-trial behaviour (SESSION, RUN, TRIAL, 73KID 1-based, ...), one row per acquired trial."""
        return self.root / "nsddata/ppdata" / subject / "behav/responses.tsv"

    def mean_epi(self, subject: str) -> Path:
        return self.ppdata_dir(subject) / "mean.nii.gz"

    def brainmask(self, subject: str) -> Path:
        return self.ppdata_dir(subject) / "brainmask.nii.gz"

    def label_table(self, subject: str, name: str) -> Path:
        """The label table of ROI family `name`: the subject's FreeSurfer one, else NSD's template one
        (thalamus and MTL ship theirs in nsddata/templates); the former's path when neither exists."""
        own = self.root / "nsddata/freesurfer" / subject / "label" / f"{name}.mgz.ctab"
        template = self.root / "nsddata/templates" / f"{name}.ctab"
        return template if not own.is_file() and template.is_file() else own


def stimuli_file(path: str | Path | list) -> Path:
    """The stimulus brick given either its path or an `nsddata_stimuli/` folder (as the demo's rule passes); an
    Algonauts 2023 release folder stays itself (its images are PNGs)."""
    from voxelflow.algonauts import is_release

    if isinstance(path, (list, tuple)):  # a rule's input list: the study table first, then its image files
        path = path[0]
    path = Path(path)
    return NSDLayout(path.parent).stimuli if path.is_dir() and not is_release(path) else path


class _Brick:
    """NSD's stimulus brick behind the interface `open_stimuli` gives: missing(ids), [sorted ids]."""

    def __init__(self, dataset):
        self.dataset = dataset

    def missing(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        return ids[(ids < 0) | (ids >= len(self.dataset))]

    def __getitem__(self, ids):
        return self.dataset[ids]


@contextmanager
def open_stimuli(path: str | Path):
    """The images of a study by 0-based id: NSD's brick (file or `nsddata_stimuli/` folder), an Algonauts 2023
    release folder's PNGs, or a study table's images. Yields an object with `missing(ids)` and `[sorted ids]` ->
    (n, H, W, 3) uint8."""
    from voxelflow.algonauts import ReleaseImages, is_release

    path = stimuli_file(path)
    if is_release(path):
        yield ReleaseImages(path)
        return
    if path.suffix in (".yaml", ".yml"):  # a study table: its brick or its image files
        from voxelflow.study_table import StudyTable

        with StudyTable(path).open_images() as images:
            yield images
        return
    with open_hdf5(path, "stimulus brick") as f:
        yield _Brick(f["imgBrick"])


def read_stimuli(path: str | Path, image_ids) -> np.ndarray:
    """Images `image_ids` (0-based NSD ids of any shape S, any order, repeats allowed) of the study's stimuli at
    `path` (`open_stimuli`) -> (*S, H, W, 3) uint8, in the order of `image_ids`."""
    ids = np.asarray(image_ids, dtype=np.int64)
    wanted, where = np.unique(ids.ravel(), return_inverse=True)
    with open_stimuli(path) as images:
        missing = images.missing(wanted)
        if len(missing):
            raise InputError(f"{stimuli_file(path)} does not hold image id {missing[0]} ({len(missing)} of the "
                             f"{len(wanted)} asked for are missing)")
        found = images[wanted][where.ravel()]
    return found.reshape(*ids.shape, *found.shape[1:])
