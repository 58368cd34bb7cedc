"""The field's decoding metrics (MindEye / MindEye2 / Brain-Diffuser protocols), on numpy arrays.

Images are (n, H, W, 3) float in [0, 1]; features and embeddings are (n, d), row i of the
ground truth paired with row i of the prediction. Network features (AlexNet, Inception, CLIP,
EfficientNet, SwAV) are computed elsewhere and passed in; these functions only score.
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from voxelflow.errors import InputError


def _check_pairs(truth: np.ndarray, predicted: np.ndarray) -> None:
    if truth.shape != predicted.shape or len(truth) < 2:
        raise InputError(f"ground truth {truth.shape} and predictions {predicted.shape} must be paired arrays of "
                         f"the same shape with at least 2 items")


def pixcorr(truth: np.ndarray, predicted: np.ndarray) -> float:
    """PixCorr: mean over images of the Pearson r between the flattened RGB pixels of truth_i and predicted_i."""
    _check_pairs(truth, predicted)
    a = truth.reshape(len(truth), -1).astype(np.float64)
    b = predicted.reshape(len(predicted), -1).astype(np.float64)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return float(np.mean((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))))


SSIM_MODES = ("2d", "columns")


def ssim(truth: np.ndarray, predicted: np.ndarray, mode: str = "2d") -> float:
    """SSIM: mean over images of the structural similarity of the grayscale images (skimage rgb2gray;
    Gaussian weights, sigma 1.5, population covariance, data range 1), as MindEye's and Brain-Diffuser's code call it.

    mode "2d": the SSIM of the 2-D grayscale images, what that call computes under scikit-image >= 0.20 (MindEye1,
    MindEye2), which silently ignores its `multichannel=True`. mode "columns": what it computed under
    scikit-image <= 0.19 (Brain-Diffuser pins 0.17.2), where `multichannel=True` made the last axis of the 2-D gray
    image the channel axis: the mean over the W columns of 1-D SSIMs along the rows.
    """
    _check_pairs(truth, predicted)
    if mode not in SSIM_MODES:
        raise InputError(f"SSIM mode must be one of {SSIM_MODES}, got {mode!r}")
    channel_axis = -1 if mode == "columns" else None
    return float(np.mean([
        structural_similarity(rgb2gray(t), rgb2gray(p), gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=1.0, channel_axis=channel_axis)
        for t, p in zip(truth, predicted)]))


def two_way_identification(real: np.ndarray, predicted: np.ndarray) -> float:
    """Two-way identification: for each prediction i, the fraction of other images j whose ground truth
    correlates less with prediction i than truth i does (r(real_j, pred_i) < r(real_i, pred_i)); mean over i.
    Chance 0.5. Features are flattened per image."""
    _check_pairs(real, predicted)
    n = len(real)
    r = np.corrcoef(real.reshape(n, -1), predicted.reshape(n, -1))[:n, n:]  # r[j, i] = r(real_j, pred_i)
    success = (r < np.diag(r)[None, :]).sum(0)  # the diagonal itself never counts (not < itself)
    return float(np.mean(success / (n - 1)))


def correlation_distance(real: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over pairs of 1 - Pearson r of the flattened features (EfficientNet-B1 and SwAV columns; lower is better)."""
    _check_pairs(real, predicted)
    return 1.0 - pixcorr(real, predicted)


def retrieval_top1(brain: np.ndarray, images: np.ndarray, n_candidates: int = 300, n_draws: int = 30,
                   seed: int = 42) -> dict[str, float]:
    """Top-1 retrieval among random candidate sets (MindEye's protocol: 30 draws of 300).

    brain, images: (n, d) embeddings of the same n test images (row i = image i), flattened and
    L2-normalised here. Each draw takes min(n_candidates, n) distinct test items. Named by query -> target:
    "brain_to_image": for brain i, is image i the most similar of the draw's images (the papers' *definition* of
    image retrieval); "image_to_brain": for image i, is brain i the most similar of the draw's brains. MindEye's
    code computes the column its papers print as image retrieval ("FwdRetrieval") as image_to_brain (its
    `batchwise_cosine_similarity` transposes), and brain retrieval as brain_to_image; `decoders.protocols` maps
    the columns. Returns the means over draws and their standard errors, the candidate count and the chance
    level.
    """
    _check_pairs(brain, images)
    n = len(brain)
    b = brain.reshape(n, -1).astype(np.float64)
    v = images.reshape(n, -1).astype(np.float64)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    size = min(n_candidates, n)
    rng = np.random.default_rng(seed)
    to_image, to_brain = [], []
    for _ in range(n_draws):
        chosen = rng.choice(n, size=size, replace=False)
        similarity = b[chosen] @ v[chosen].T  # (brain, image)
        target = np.arange(size)
        to_image.append(np.mean(similarity.argmax(1) == target))
        to_brain.append(np.mean(similarity.argmax(0) == target))
    return {"brain_to_image": float(np.mean(to_image)), "image_to_brain": float(np.mean(to_brain)),
            "brain_to_image_se": float(np.std(to_image) / np.sqrt(n_draws)),
            "image_to_brain_se": float(np.std(to_brain) / np.sqrt(n_draws)),
            "n_candidates": size, "chance": 1.0 / size}
