"""Scoring synthesized images against natural ones, per target, by scorers that did and did not guide them.

A scorer maps uint8 images (n, H, W, 3) to predicted responses (n, n_voxels) in z-scored units: the
guiding encoder, an encoder that never guided (the validation that the guidance cannot fool), and on the
mini-NSD the planted true brain. A target's weights turn those into its mean response per image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from voxelflow.images import resize_images, to_uint8
from voxelflow.mininsd.true_brain import TrueBrain
from voxelflow.toolkit.tensor_images import images_to_tensor

Scorer = Callable[[np.ndarray], np.ndarray]
IMAGE_SETS = ("synthesized", "other targets", "unguided", "natural top", "natural random", "natural all")


def encoder_scorer(backbone: torch.nn.Module, encoder, device: torch.device | str = "cpu",
                   batch_size: int = 32) -> Scorer:
    """uint8 images (n, H, W, 3) -> encoder(backbone(images)) (n, n_voxels) float32 (an `Encoder`: tokens or pooled
    features as it reads them)."""
    backbone = backbone.to(device).eval()

    @torch.no_grad()
    def score(images: np.ndarray) -> np.ndarray:
        out = []
        for lo in range(0, len(images), batch_size):
            pooled, grid = backbone(images_to_tensor(images[lo:lo + batch_size], device))
            out.append(encoder.predict_torch((grid if encoder.reads_tokens else pooled).float()).float().cpu().numpy())
        return np.concatenate(out)
    return score


def fitted_encoder_scorer(model_path: str, backbone_name: str, backbone_spec: dict,
                          device: torch.device | str = "cpu") -> Scorer:
    """`encoder_scorer` of the encoder saved at `model_path` on the configured backbone `backbone_name`."""
    from voxelflow.encoders.backbones import build_backbone
    from voxelflow.toolkit.registry import load_encoder

    return encoder_scorer(build_backbone(backbone_name, backbone_spec), load_encoder(model_path, device=device),
                          device)


def true_brain_scorer(truth: str, subject: str, ijk: np.ndarray | None = None, surface: bool = False) -> Scorer:
    """uint8 images (n, H, W, 3) at any size -> the mini-NSD's planted responses (n, n_voxels), the images
    resized to the size the true brain was built for. truth: the mini-NSD's truth/planted.h5; ijk: (n_voxels, 3)
    the voxels to score, e.g. a response store's `location_keys` (default: every planted voxel); surface: of the
    fsaverage vertices."""
    brain = TrueBrain.from_truth(truth, subject, ijk, surface)
    return lambda images: brain(to_uint8(resize_images(images, brain.image_size)))


def natural_choices(measured: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the n natural images with the highest measured target response (n_images,), best first, and of
    n others drawn at random (seeded)."""
    top = np.argsort(measured)[::-1][:n]
    return top, np.random.default_rng(seed).choice(len(measured), size=min(n, len(measured)), replace=False)


def synthesis_table(weights: dict[str, np.ndarray], synthesized: dict[str, np.ndarray], unguided: np.ndarray,
                    natural: np.ndarray, measured: np.ndarray, scorers: dict[str, Scorer], n_natural: int,
                    seed: int = 0) -> pd.DataFrame:
    """One row per (target, image set, scorer): n, mean and s.e.m. of the target's response.

    weights: target -> (n_voxels,); synthesized: target -> its images (n, S, S, 3) uint8; unguided: the same
    seeds sampled without guidance; natural: test images (m, H, W, 3) uint8 with measured responses (m, n_voxels).
    Image sets: the target's own images, the other targets' images, unguided, the natural images of highest
    measured target response, natural images at random, and all of them. Scorer "measured" is the fMRI itself
    (natural images only).
    """
    everything = {"unguided": unguided, "natural": natural, **{f"target {t}": im for t, im in synthesized.items()}}
    predicted = {scorer: {name: fn(images) for name, images in everything.items()} for scorer, fn in scorers.items()}
    predicted["measured"] = {"natural": measured}
    rows = []
    for target, w in weights.items():
        top, random = natural_choices(measured @ w, n_natural, seed)
        for scorer, by_set in predicted.items():
            sets = {"natural top": by_set["natural"][top] @ w, "natural random": by_set["natural"][random] @ w,
                    "natural all": by_set["natural"] @ w}
            if scorer != "measured":
                others = [by_set[f"target {t}"] @ w for t in synthesized if t != target]
                sets.update({"synthesized": by_set[f"target {target}"] @ w, "unguided": by_set["unguided"] @ w})
                if others:
                    sets["other targets"] = np.concatenate(others)
            for image_set in IMAGE_SETS:
                if image_set in sets:
                    values = sets[image_set]
                    rows.append({"target": target, "images": image_set, "scorer": scorer, "n": len(values),
                                 "mean": float(values.mean()),
                                 "sem": float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0})
    return pd.DataFrame(rows)
