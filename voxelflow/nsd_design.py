"""NSD's experiment design: which image each trial showed (nsd_expdesign.mat, 1-based, as shipped)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import loadmat

from voxelflow.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExperimentDesign:
    """The design, converted once to 0-based indices.

    masterordering: (n_trial_slots,) index into a subject's image list for every trial slot
    subjectim: (n_subjects, n_images_per_subject) 0-based 73k image ids of each subject's images
    sharedix: (n_shared,) 0-based 73k ids of the images every subject saw (the test set)
    trials_per_session: stimulus trials in each session (from `stimpattern`), or None if absent
    """

    path: Path
    masterordering: np.ndarray
    subjectim: np.ndarray
    sharedix: np.ndarray
    trials_per_session: np.ndarray | None

    def trial_image_ids(self, subject_number: int, n_trials: int) -> np.ndarray:
        """0-based 73k image id of each of the first `n_trials` trials of 1-based `subject_number`."""
        if not 1 <= subject_number <= len(self.subjectim):
            raise InputError(f"{self.path} has subjects 1..{len(self.subjectim)}, not {subject_number}")
        if n_trials > len(self.masterordering):
            raise InputError(
                f"the betas hold {n_trials} trials but {self.path} orders only {len(self.masterordering)}"
            )
        return self.subjectim[subject_number - 1, self.masterordering[:n_trials]]


def read_expdesign(path: str | Path) -> ExperimentDesign:
    """Read `nsd_expdesign.mat` (masterordering, subjectim, sharedix, optional stimpattern)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"experiment design {path} does not exist")
    try:
        mat = loadmat(path)
    except Exception as err:  # scipy raises several types for a damaged file
        raise InputError(f"cannot read experiment design {path}: {err}") from None
    for key in ("masterordering", "subjectim", "sharedix"):
        if key not in mat:
            raise InputError(f"experiment design {path} has no {key!r} field")
    trials = None
    if "stimpattern" in mat:
        pattern = np.asarray(mat["stimpattern"])
        trials = pattern.reshape(pattern.shape[0], -1).sum(axis=1).astype(int)
    return ExperimentDesign(
        path=path,
        masterordering=np.asarray(mat["masterordering"]).ravel().astype(np.int64) - 1,
        subjectim=np.asarray(mat["subjectim"]).astype(np.int64) - 1,
        sharedix=np.asarray(mat["sharedix"]).ravel().astype(np.int64) - 1,
        trials_per_session=trials,
    )


def check_against_stim_info(path: str | Path, subject_number: int, trial_image_ids: np.ndarray) -> None:
    """Cross-check a subject's trial -> image map with `nsd_stim_info_merged.csv`.

    The CSV's `subjectK_repN` columns give the 1-based global trial of each
    repetition of each image (0 = not shown). Any acquired trial that the CSV
    assigns to another image is an error; trials it does not list are only logged.
    """
    path = Path(path)
    columns = [f"subject{subject_number}_rep{r}" for r in range(3)]
    try:
        table = pd.read_csv(path, index_col=0, usecols=lambda c: c in columns or c.startswith("Unnamed"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {path}: {err}") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{path} has no column {missing[0]!r}")
    reps = table[columns].to_numpy()
    image, rep = np.nonzero(reps)
    trial = reps[image, rep] - 1
    listed = trial < len(trial_image_ids)
    wrong = np.flatnonzero(trial_image_ids[trial[listed]] != image[listed])
    if len(wrong):
        t = trial[listed][wrong[0]]
        raise InputError(
            f"{path} says trial {t + 1} of subject {subject_number} showed image {image[listed][wrong[0]]}, "
            f"but the experiment design says image {trial_image_ids[t]} ({len(wrong)} trials disagree)"
        )
    unlisted = len(trial_image_ids) - int(listed.sum())
    if unlisted:
        log.info("%s does not list %d of %d acquired trials of subject %d", path.name, unlisted,
                 len(trial_image_ids), subject_number)
