"""Synthesis targets: which voxels an image should drive, as per-voxel weights of the predicted response."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxelflow.atlases.roi_masks import RoiSet, target_roi_names
from voxelflow.errors import InputError
from voxelflow.file_reading import load_nifti
from voxelflow.responses import ResponseSet


def target_weights(rois: RoiSet, target: str) -> np.ndarray:
    """(n_voxels,) float32 weights whose dot product with a predicted response is the objective.

    target: an ROI label, family or union ("floc-faces", "V1"), a union of them joined by "+"
    ("FFA-1+OFA"), or a contrast "A - B" (mean of A minus mean of B; each side may itself be a "+" union).
    The weights of a side sum to 1, so the objective is a mean predicted response.
    """
    sides = target_roi_names(target)
    masks = [np.logical_or.reduce([rois.mask(name) for name in side]) for side in sides]
    weights = np.zeros(len(masks[0]), dtype=np.float32)
    for sign, side, mask in zip((1.0, -1.0), sides, masks, strict=False):
        if not mask.any():
            raise InputError(f"synthesis target {target!r}: {'+'.join(side)!r} holds no voxels of this subject")
        weights[mask] += sign / mask.sum()
    return weights


def mask_weights(mask: np.ndarray, name: str) -> np.ndarray:
    """Weights (n_voxels,) of a boolean voxel mask given by the user (a custom voxel set); a clear error if empty."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise InputError(f"synthesis target {name!r}: the voxel mask is empty")
    return (mask / mask.sum()).astype(np.float32)


def volume_mask(path: str | Path, responses: ResponseSet) -> np.ndarray:
    """(n_voxels,) bool: the subject's voxels that are non-zero in a NIfTI mask on the subject's volume grid."""
    if responses.on_surface:
        raise InputError(f"synthesis voxel mask {path}: {responses.subject}'s responses are on a surface; a NIfTI mask "
                         f"needs a volume study (name ROIs instead)")
    image = load_nifti(path, "synthesis voxel mask")
    if tuple(image.shape[:3]) != tuple(responses.volume_shape) or image.ndim > 3 and image.shape[3] > 1:
        raise InputError(f"synthesis voxel mask {path} has shape {image.shape}, but {responses.subject}'s "
                         f"volume is {tuple(responses.volume_shape)}")
    if not np.allclose(image.affine, responses.affine, atol=1e-3):
        raise InputError(f"synthesis voxel mask {path} is not on {responses.subject}'s voxel grid (its affine "
                         f"differs from the betas')")
    data = np.asanyarray(image.dataobj).reshape(image.shape[:3])
    return data[tuple(responses.ijk.T)] != 0


def resolve_target(name: str, spec: str | dict, responses: ResponseSet) -> np.ndarray:
    """Weights (n_voxels,) of a configured target: an ROI expression (`target_weights`) or {"mask": NIfTI path}."""
    if isinstance(spec, dict):
        return mask_weights(volume_mask(spec["mask"], responses), name)
    try:
        return target_weights(responses.rois, spec)
    except InputError as err:
        raise InputError(f"synthesis.targets.{name}: {err}") from None
