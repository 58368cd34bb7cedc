"""Bring an ROI atlas from another space onto a subject's functional grid (nilearn)."""

from __future__ import annotations

import nibabel as nib
from nilearn.image import resample_to_img

from voxelflow.errors import InputError


def resample_atlas(atlas: str | nib.Nifti1Image, target: str | nib.Nifti1Image,
                   fill_value: int = -1) -> nib.Nifti1Image:
    """Resample a label volume onto `target`'s grid and affine, by nearest neighbour.

    Nearest-neighbour keeps labels integers (no blending of label 2 and 4 into 3).
    Target voxels outside the atlas's field of view get `fill_value`: NSD's -1,
    "outside cortex", by default. Both arguments may be paths or nibabel images;
    the result has `target`'s shape.
    """
    try:
        atlas_img = nib.load(atlas) if isinstance(atlas, str) else atlas
        target_img = nib.load(target) if isinstance(target, str) else target
    except (OSError, nib.filebasedimages.ImageFileError) as err:
        raise InputError(f"cannot read atlas or target image: {err}") from None
    return resample_to_img(atlas_img, target_img, interpolation="nearest",
                           fill_value=fill_value, force_resample=True, copy_header=True)
