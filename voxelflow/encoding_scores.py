"""Score any encoder's test predictions against a subject's responses: per voxel and per ROI."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from voxelflow.atomic_output import atomic_output
from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5
from voxelflow.metrics import fdr_significant, noise_normalized_accuracy, pearson_r, r_p_values, roi_summary
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
                          responses.rois.present(rois, responses.subject))
    for name, values in summary.items():
        values["definition"] = responses.rois.resolve(name).describe()
    return summary


def write_scores(path: str | Path, scores: EncoderScores, summary: dict, summary_path: str | Path,
                 attrs: dict, empty_rois: list[str] = ()) -> None:
    """Per-voxel scores to HDF5 and the per-ROI summary (plus `attrs`, and the requested ROIs that hold no voxels
    of this subject) to JSON, both atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(attrs)
        f.attrs["n_test"] = scores.n_test
        for name in ("predicted", "r", "nna", "p", "significant"):
            f.create_dataset(name, data=getattr(scores, name))
    with atomic_output(summary_path) as tmp:
        Path(tmp).write_text(json.dumps({**attrs, "n_test": scores.n_test, "rois": summary,
                                         "empty_rois": list(empty_rois)}, indent=2))
    log.info("wrote scores of %d voxels on %d test images to %s and %s", len(scores.r), scores.n_test, path,
             summary_path)


def save_test_scores(predicted: np.ndarray, responses: ResponseSet, rois: list[str], scores_path: str | Path,
                     summary_path: str | Path, attrs: dict) -> EncoderScores:
    """Score test predictions (n_test, n_voxels) and write the per-voxel scores and the ROI summary."""
    scores = score_predictions(predicted, responses)
    summary = summarize(scores, responses, rois)
    write_scores(scores_path, scores, summary, summary_path, attrs, [name for name in rois if name not in summary])
    return scores


def read_scores(path: str | Path) -> EncoderScores:
    """Per-voxel scores written by `write_scores`."""
    with open_hdf5(path, "encoder scores") as f:
        return EncoderScores(f["predicted"][()], f["r"][()], f["nna"][()], f["p"][()], f["significant"][()],
                             int(f.attrs["n_test"]))
