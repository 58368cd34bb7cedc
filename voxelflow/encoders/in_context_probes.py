"""What an in-context encoder's voxel models say: text-prompt selectivity per ROI, and the context images a
voxel's model reads most."""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxelflow.encoders.linear import LinearEncoder


def text_selectivity(voxel_models: LinearEncoder, text_embeddings: np.ndarray, prompts: list[str],
                     rois: dict[str, np.ndarray]) -> pd.DataFrame:
    """Predicted response of each ROI to each prompt, relative to the mean over the prompts.

    text_embeddings (n_prompts, E) in the space of the image features the models read. Each voxel's
    prediction for a prompt minus its mean over all prompts (which cancels the constant offset between
    text and image embeddings), averaged over the ROI's voxels. rois: name -> (n_voxels,) bool.
    Returns one row per (prompt, roi): prompt, roi, selectivity (z-score units), rank (1 = the ROI the
    prompt drives most).
    """
    predicted = voxel_models.predict(text_embeddings)  # (n_prompts, n_voxels)
    relative = predicted - predicted.mean(0)
    table = pd.DataFrame([{"prompt": p, "roi": roi, "selectivity": float(relative[i, mask].mean())}
                          for i, p in enumerate(prompts) for roi, mask in rois.items() if mask.any()])
    table["rank"] = table.groupby("prompt")["selectivity"].rank(ascending=False, method="first").astype(int)
    return table


def top_context_images(attention: np.ndarray, voxels: np.ndarray, n_top: int) -> np.ndarray:
    """Indices (len(voxels), n_top) of the context images each voxel attends to most, strongest first.

    attention: (n_voxels, k) from `InContextEncoder.context_attention`."""
    return np.argsort(-attention[voxels], axis=1)[:, :n_top]
