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

    def subject_image_ids(self, subject_number: int) -> np.ndarray:
        """(n_images_per_subject,) sorted 0-based 73k ids of every image 1-based `subject_number` was to see."""
        if not 1 <= subject_number <= len(self.subjectim):
            raise InputError(f"{self.path} has subjects 1..{len(self.subjectim)}, not {subject_number}")
        return np.unique(self.subjectim[subject_number - 1])

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
    repetition of each image (0 = not shown); its rows are images, identified by
    the `nsdId` column (0-based) when present, else by row order. Columns are
    read by name, whether or not the file has NSD's unnamed first index column.
    A copy without this subject's columns is skipped with a log line; any
    acquired trial that the CSV assigns to another image is an error.
    """
    path = Path(path)
    columns = [f"subject{subject_number}_rep{r}" for r in range(3)]
    try:
        header = pd.read_csv(path, nrows=0).columns
        present = [c for c in columns if c in header]
        if not present:
            log.info("%s has no subject%d_rep0..2 columns: trial cross-check skipped", path.name, subject_number)
            return
        if len(present) < len(columns):
            raise InputError(f"{path} has {', '.join(present)} but no "
                             f"{', '.join(c for c in columns if c not in present)}")
        table = pd.read_csv(path, usecols=[*columns, *(["nsdId"] if "nsdId" in header else [])])
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(f"cannot read {path}: {err}") from None
    reps = table[columns].to_numpy()
    rows, rep = np.nonzero(reps)
    image = table["nsdId"].to_numpy()[rows] if "nsdId" in table else rows
    trial = reps[rows, rep] - 1
    _check_trials(path, subject_number, trial_image_ids, trial, image)


def _read_behavior(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t", usecols=columns)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(f"cannot read {path}: {err}") from None


def behavior_trials_per_session(path: str | Path, n_sessions: int) -> np.ndarray:
    """Acquired trials in each of sessions 1..n_sessions by NSD's `behav/responses.tsv`: (n_sessions,) int."""
    counts = _read_behavior(Path(path), ["SESSION"])["SESSION"].value_counts()
    return np.array([int(counts.get(s, 0)) for s in range(1, n_sessions + 1)])


def check_against_behavior(path: str | Path, subject_number: int, trial_image_ids: np.ndarray) -> None:
    """Cross-check the trial -> image map with NSD's `behav/responses.tsv` (one row per acquired trial, in
    SESSION, RUN, TRIAL order, `73KID` 1-based)."""
    path = Path(path)
    table = _read_behavior(path, ["SESSION", "RUN", "TRIAL", "73KID"])
    table = table.sort_values(["SESSION", "RUN", "TRIAL"], kind="stable")
    image = table["73KID"].to_numpy() - 1
    _check_trials(path, subject_number, trial_image_ids, np.arange(len(image)), image)


def _check_trials(path: Path, subject_number: int, trial_image_ids: np.ndarray, trial: np.ndarray,
                  image: np.ndarray) -> None:
    """An InputError if any listed 0-based `trial` that was acquired showed another image than `image` says."""
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
