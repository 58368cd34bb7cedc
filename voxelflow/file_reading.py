"""Opening the files voxelflow reads (HDF5, NIfTI), with one clear error for a damaged one.

A truncated or corrupt file becomes an `InputError` naming the file, what it is
and, for the workflow's own outputs under `results/`, the rule that wrote it and
what to do: delete it and rerun, and Snakemake rebuilds it. The workflow does not
delete such files itself: a read can fail for reasons that are not the file's
fault (a lagging network file system, a full disk), and a job that deleted
another job's output could destroy a good result that other jobs are reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import nibabel as nib

from voxelflow.errors import InputError

# Which rule writes which of the workflow's outputs (the file name inside results/).
_WRITERS = [
    (r"results/features/", "extract_features"),
    (r"responses\.h5$", "preprocess_subject"),
    (r"encoders/(ridge|transformer|in_context)/[^/]+/(model|scores)\.(h5|pt)$", r"fit_\1"),
    (r"results/in_context/.*network\.pt$", "meta_train_in_context"),
    (r"decoders/contrastive/model\.pt$", "fit_contrastive"),
    (r"decoders/reconstruction/prior\.pt$", "fit_prior"),
    (r"decoders/reconstruction/low_level\.h5$", "fit_low_level"),
    (r"decoders/reconstruction/reconstructions\.h5$", "reconstruct"),
    (r"synthesis/[^/]+\.h5$", "synthesize"),
]


def damaged_file_message(path: str | Path, what: str, err: BaseException | str) -> str:
    """One line for a file that cannot be read: its path, what it should be, the rule that wrote it (for the
    workflow's outputs) and what to do."""
    path = Path(path)
    text = str(path)
    for pattern, rule in _WRITERS:
        match = re.search(pattern, text)
        if match and "results/" in text:
            return (f"{path} ({what}) is truncated or corrupt ({err}); it was written by rule "
                    f"{match.expand(rule)}: delete it and rerun, and Snakemake rebuilds it")
    return f"{path} ({what}) is truncated or corrupt: {err}"


@contextmanager
def open_hdf5(path: str | Path, what: str = "HDF5 file") -> Iterator[h5py.File]:
    """`h5py.File(path, "r")`, with an InputError naming the file when it is missing, truncated or corrupt (a
    dataset it should hold but does not is reported the same way)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(damaged_file_message(path, what, err)) from None
    try:
        with f:
            yield f
    except (OSError, KeyError) as err:
        raise InputError(damaged_file_message(path, what, err)) from None


def load_nifti(path: str | Path, what: str = "NIfTI image") -> nib.spatialimages.SpatialImage:
    """`nibabel.load(path)` with an InputError naming the file when it is missing or cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    try:
        return nib.load(path)
    except Exception as err:  # nibabel raises many types for damaged headers
        raise InputError(damaged_file_message(path, what, err)) from None
