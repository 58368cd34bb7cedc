"""Synthesis targets: which voxels an image should drive, as per-voxel weights of the predicted response."""

from __future__ import annotations

import numpy as np

from voxelflow.atlases.roi_masks import RoiSet
from voxelflow.errors import InputError


def target_weights(rois: RoiSet, target: str) -> np.ndarray:
    """(n_voxels,) float32 weights whose dot product with a predicted response is the objective.

    target: an ROI label, family or union ("floc-faces", "V1"), a union of them joined by "+"
    ("FFA-1+OFA"), or a contrast "A - B" (mean of A minus mean of B; each side may itself be a "+" union).
    The weights of a side sum to 1, so the objective is a mean predicted response.
    """
    sides = [side.strip() for side in target.split(" - ")]
    if len(sides) > 2 or not all(sides):
        raise InputError(f"synthesis target {target!r}: write an ROI, ROIs joined by '+', or 'A - B'")
    masks = [np.logical_or.reduce([rois.mask(name.strip()) for name in side.split("+")]) for side in sides]
    weights = np.zeros(len(masks[0]), dtype=np.float32)
    for sign, side, mask in zip((1.0, -1.0), sides, masks, strict=False):
        if not mask.any():
            raise InputError(f"synthesis target {target!r}: {side!r} holds no voxels of this subject")
        weights[mask] += sign / mask.sum()
    return weights


def mask_weights(mask: np.ndarray, name: str) -> np.ndarray:
    """Weights (n_voxels,) of a boolean voxel mask given by the user (a custom voxel set); a clear error if empty."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise InputError(f"synthesis target {name!r}: the voxel mask is empty")
    return (mask / mask.sum()).astype(np.float32)
