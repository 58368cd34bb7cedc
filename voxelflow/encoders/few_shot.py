"""Few-shot curves: test accuracy against the number of context images, in-context encoder vs ridge on the same k."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from voxelflow.encoders.in_context import InContextEncoder, sample_context
from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.encoding_scores import EncoderScores, score_predictions, summarize
from voxelflow.responses import ResponseSet

log = logging.getLogger(__name__)


def context_sizes(ks: list, n_available: int) -> list[int]:
    """Config context sizes (ints, or "all" for every training image) as sorted ints."""
    sizes = sorted({n_available if k == "all" else int(k) for k in ks})
    for k in sizes:
        sample_context(n_available, k, np.random.default_rng(0))  # one clear error for an impossible k
    return sizes


def score_encoders(in_context: InContextEncoder | None, ridge: dict, X: np.ndarray, Y: np.ndarray, X_test: np.ndarray,
                   responses: ResponseSet) -> dict[str, EncoderScores]:
    """Ridge fitted from scratch and (unless `in_context` is None) the in-context voxel models, both made from the
    same training pairs X (k, E) features and Y (k, n_voxels) responses, scored on the test features X_test
    (n_test, E) against `responses`' test images. ridge: RidgeEncoder keyword arguments; its CV folds are capped
    at k. Returns {"in-context": scores, "ridge": scores}."""
    ridge_k = RidgeEncoder(**ridge)
    ridge_k.cv = min(ridge_k.cv, len(X))
    models = {"ridge": ridge_k.fit(X, Y)}
    if in_context is not None:
        models = {"in-context": in_context.predict_voxel_models(X, Y), **models}
    return {method: score_predictions(model.predict(X_test), responses) for method, model in models.items()}


def few_shot_table(in_context: InContextEncoder, ridge: dict, responses: ResponseSet, features: np.ndarray,
                   ks: list, repeats: int, rois: list[str], seed: int = 0) -> pd.DataFrame:
    """Score both models on the test images after fitting each on the same k random training images.

    features: (n_images, E) pooled features, rows aligned with responses.image_ids. ridge: RidgeEncoder
    keyword arguments (alphas, cv, device; RidgeEncoder's defaults otherwise). For each k and repeat, one random
    context is drawn from the training images (the same for both methods; `score_encoders`). Returns one row per
    (method, k, repeat, roi) with columns method, k, repeat, roi, n_voxels, median_r, mean_r, median_nna, mean_nna,
    fraction_significant, and k_trained_max (the largest context the in-context model saw in meta-training).
    """
    train = ~responses.is_test
    X, Y, X_test = features[train], responses.responses[train], features[responses.is_test]
    rng = np.random.default_rng(seed)
    rows = []
    for k in context_sizes(ks, len(X)):
        for repeat in range(repeats if k < len(X) else 1):  # every image: one context only
            context = sample_context(len(X), k, rng)
            for method, scores in score_encoders(in_context, ridge, X[context], Y[context], X_test, responses).items():
                rows += [{"method": method, "k": k, "repeat": repeat, "roi": roi,
                          **{key: value for key, value in values.items() if key != "definition"}}
                         for roi, values in summarize(scores, responses, rois).items()]
            log.info("k = %d, repeat %d scored", k, repeat)
    table = pd.DataFrame(rows)
    table["k_trained_max"] = in_context.config.context_max
    return table
