"""The reconstruction metrics table (MindEye / Brain-Diffuser columns) for one subject's test images."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from voxelflow.decoders.metric_networks import network_scores
from voxelflow.decoding_metrics import PAPER_SIZE, pixcorr, resize_images, ssim, two_way_identification

LOW_LEVEL_WEIGHT = 0.25  # MindEye2's "0.75 * enhanced + 0.25 * blurry" blend, reported as its own row


def candidate_sets(reconstructions: np.ndarray, blurry: np.ndarray | None, size: int) -> dict[str, np.ndarray]:
    """The image sets the table scores, each (n, size, size, 3) in [0, 1]: the reconstructions, and when there is
    a low-level path, the blurry images and MindEye2's blend of the two (raw and blended numbers kept apart)."""
    sets = {"reconstruction": resize_images(reconstructions, size)}
    if blurry is not None:
        sets["low-level"] = resize_images(blurry, size)
        sets["blend 0.75/0.25"] = (1 - LOW_LEVEL_WEIGHT) * sets["reconstruction"] + LOW_LEVEL_WEIGHT * sets["low-level"]
    return sets


def reconstruction_table(truth: np.ndarray, candidates: dict[str, np.ndarray],
                         embed: Callable[[np.ndarray], np.ndarray], embed_name: str,
                         network_weights: dict[str, str | None], device: str = "auto") -> pd.DataFrame:
    """One row per candidate set: PixCorr and SSIM (at 425 x 425), two-way identification with the decoders'
    target backbone (`embed`: images (n, H, W, 3) in [0, 1] -> (n, ...) features; the papers' CLIP column),
    and the AlexNet(2), AlexNet(5), Inception, EffNet-B and SwAV columns (NaN where their weights are absent).

    truth and every candidate: (n, H, W, 3) in [0, 1], row i the same test image.
    """
    truth_paper = resize_images(truth, PAPER_SIZE)
    truth_features = embed(truth)
    networks = network_scores(truth, candidates, network_weights, device)
    rows = []
    for name, images in candidates.items():
        paper = resize_images(images, PAPER_SIZE)
        row = {"images": name, "PixCorr": pixcorr(truth_paper, paper), "SSIM": ssim(truth_paper, paper),
               f"two-way {embed_name}": two_way_identification(truth_features, embed(images))}
        row.update({column: np.nan if value is None else value for column, value in networks[name].items()})
        rows.append(row)
    return pd.DataFrame(rows)
