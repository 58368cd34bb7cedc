"""Score any encoder's test predictions against a subject's responses: per voxel and per ROI."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from voxelflow.atomic_output import atomic_output
from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5
from voxelflow.encoding_metrics import fdr_significant, noise_normalized_accuracy, pearson_r, r_p_values, roi_summary
from voxelflow.responses import ResponseSet

log = logging.getLogger(__name__)


@dataclass
class EncoderScores:
    """Per-voxel test scores: r, nna (percent of explainable variance), p (one-sided), significant (FDR 5 %),
    and the scored predictions (n_test, n_voxels)."""

    predicted: np.ndarray
    r: np.ndarray
    nna: np.ndarray
    p: np.ndarray
    significant: np.ndarray
    n_test: int
    attrs: dict = field(default_factory=dict)  # who made them: subject, encoder, backbone, ...


def score_predictions(predicted: np.ndarray, responses: ResponseSet) -> EncoderScores:
    """Score predictions (n_test, n_voxels) of the test images, in `responses`' test order."""
    measured = responses.responses[responses.is_test]
    if predicted.shape != measured.shape:
        raise InputError(f"predictions {predicted.shape} do not match the test responses {measured.shape}")
    r = pearson_r(predicted.astype(np.float64), measured.astype(np.float64))
    p = r_p_values(r, len(measured))
    return EncoderScores(predicted.astype(np.float32), r, noise_normalized_accuracy(r, responses.noise_ceiling), p,
                         fdr_significant(p), len(measured))


def summarize(scores: EncoderScores, responses: ResponseSet, rois: list[str]) -> dict:
    """Per-ROI summary for the ROIs of `rois` that hold voxels in this subject (an unknown name is an InputError;
    an empty ROI is left out with a warning), each with the family, labels and hemisphere behind its name."""
    summary = roi_summary(scores.r, scores.nna, scores.significant,
                          responses.rois.present(rois, responses.subject), responses.noise_ceiling)
    for name, values in summary.items():
        values["definition"] = responses.rois.resolve(name).describe()
    return summary


def write_scores(path: str | Path, scores: EncoderScores) -> None:
    """Per-voxel scores (and their `attrs`) to HDF5, atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(scores.attrs)
        f.attrs["n_test"] = scores.n_test
        for name in ("predicted", "r", "nna", "p", "significant"):
            f.create_dataset(name, data=getattr(scores, name))
    log.info("wrote scores of %d voxels on %d test images to %s", len(scores.r), scores.n_test, path)


def save_test_scores(predicted: np.ndarray, responses: ResponseSet, scores_path: str | Path,
                     attrs: dict) -> EncoderScores:
    """Score test predictions (n_test, n_voxels) and write the per-voxel scores, with `attrs` (subject, encoder,
    backbone, ...). The per-ROI summary is `save_roi_summary`'s, so that the ROI list is no setting of a fit."""
    scores = score_predictions(predicted, responses)
    scores.attrs = dict(attrs)
    write_scores(scores_path, scores)
    return scores


def save_roi_summary(scores_path: str | Path, responses: ResponseSet, rois: list[str],
                     summary_path: str | Path) -> dict:
    """The per-ROI summary of saved scores as JSON (atomically): the scores' attrs, n_test, each ROI of `rois`
    that holds voxels of this subject, and the requested ROIs that hold none."""
    scores = read_scores(scores_path)
    summary = summarize(scores, responses, rois)
    document = {**scores.attrs, "n_test": scores.n_test, "rois": summary,
                "empty_rois": [name for name in rois if name not in summary]}
    with atomic_output(summary_path) as tmp:
        Path(tmp).write_text(json.dumps(document, indent=2))
    return document


def read_scores(path: str | Path) -> EncoderScores:
    """Per-voxel scores written by `write_scores`."""
    with open_hdf5(path, "encoder scores") as f:
        attrs = {key: value.item() if isinstance(value, np.generic) else value for key, value in f.attrs.items()
                 if key != "n_test"}
        return EncoderScores(f["predicted"][()], f["r"][()], f["nna"][()], f["p"][()], f["significant"][()],
                             int(f.attrs["n_test"]), attrs)
