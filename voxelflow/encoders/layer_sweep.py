"""Encoding accuracy across a backbone's layers: one voxelwise ridge per stored layer (the field's hierarchy).

Each layer's features are its stored tokens flattened, (n_images, t * d_layer) (reduce them first with the
backbone's `tokens: {grid: ...}` or `{pca: ...}` for large models); each ridge is fitted on the training images and
scored on the test images like `fit_ridge`'s. Results: per-voxel scores of every layer (`layers.h5`, written by the
fit), and per ROI and layer the summary of `encoding_scores.summarize` (drawn from them with the ROI list, so that
editing `rois` refits nothing).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from voxelflow.atomic_output import atomic_output
from voxelflow.encoders.features import feature_layers, load_features
from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.encoding_scores import EncoderScores, score_predictions, summarize
from voxelflow.file_reading import open_hdf5
from voxelflow.responses import ResponseSet

log = logging.getLogger(__name__)


def sweep_layers(features_path: str | Path, responses: ResponseSet, alphas, cv: int = 5,
                 device: str = "auto") -> dict[str, EncoderScores]:
    """{layer: test scores of a ridge on that layer's flattened tokens}, for every layer of the features file,
    in the backbone's order."""
    scores = {}
    train, test = ~responses.is_test, responses.is_test
    for layer in feature_layers(features_path):
        tokens = load_features(features_path, responses.image_ids, tokens=True, layer=layer).tokens
        features = tokens.reshape(len(tokens), -1)
        encoder = RidgeEncoder(alphas=tuple(alphas), cv=cv, device=device).fit(features[train],
                                                                               responses.responses[train])
        scores[layer] = score_predictions(encoder.predict(features[test]), responses)
        log.info("layer %s (%d features): median test r %.3f", layer, features.shape[1],
                 np.nanmedian(scores[layer].r))
    return scores


def layer_table(scores: dict[str, EncoderScores], responses: ResponseSet, rois: list[str]) -> pd.DataFrame:
    """One row per (layer, ROI): layer, depth (0-based position in the backbone), roi, n_voxels, median_r,
    median_nna (percent of explainable variance), mean_nna, fraction_significant."""
    return pd.DataFrame([{"layer": layer, "depth": depth, "roi": roi,
                          **{key: value for key, value in values.items() if key != "definition"}}
                         for depth, (layer, layer_scores) in enumerate(scores.items())
                         for roi, values in summarize(layer_scores, responses, rois).items()])


def best_layer(nna: np.ndarray) -> np.ndarray:
    """nna (n_layers, n_voxels) -> (n_voxels,) float: 1-based depth of each voxel's best layer, NaN where no layer
    predicts the voxel (all accuracies non-finite or <= 0)."""
    finite = np.where(np.isfinite(nna), nna, -np.inf)
    best = np.argmax(finite, axis=0).astype(np.float64) + 1
    best[finite.max(axis=0) <= 0] = np.nan
    return best


def write_layer_scores(path: str | Path, scores: dict[str, EncoderScores], attrs: dict) -> None:
    """Per-voxel r, nna, p and significant of every layer, (n_layers, n_voxels), with `layers` (JSON) and n_test, to
    HDF5, atomically (the test predictions are not kept)."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(attrs)
        f.attrs["layers"] = json.dumps(list(scores))
        f.attrs["n_test"] = next(iter(scores.values())).n_test
        for name in ("r", "nna", "p", "significant"):
            f.create_dataset(name, data=np.stack([getattr(s, name) for s in scores.values()]))


def read_layer_scores(path: str | Path) -> dict[str, EncoderScores]:
    """{layer: its per-voxel scores} written by `write_layer_scores`, in the backbone's order (`predicted` empty)."""
    with open_hdf5(path, "layer scores") as f:
        layers, n_test = json.loads(f.attrs["layers"]), int(f.attrs["n_test"])
        r, nna, p, significant = (f[name][()] for name in ("r", "nna", "p", "significant"))
    return {layer: EncoderScores(np.empty((0, r.shape[1]), np.float32), r[i], nna[i], p[i], significant[i], n_test)
            for i, layer in enumerate(layers)}
