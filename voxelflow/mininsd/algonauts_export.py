"""The surface mini-NSD exported in the Algonauts 2023 release's layout (`voxelflow.algonauts` lists it).

As the challenge made its release from NSD: each subject's fsaverage betas z-scored per session and averaged over
repeats (voxelflow's preprocessing of the surface mini-NSD), its nsdgeneral vertices as the challenge vertices,
half the shared images as the test split (the other half in training, as the release keeps some shared images
there), the images as PNGs named by their NSD id, the ROI labels per challenge vertex
and on fsaverage, and the label mappings. With `release_test` the test fMRI and noise ceiling are included, as
the post-challenge release has them; without, the test images come alone, as during the challenge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from voxelflow.algonauts import AlgonautsLayout, ROI_FAMILIES
from voxelflow.nsd_layout import HEMISPHERES, NSDLayout, read_stimuli
from voxelflow.nsd_surface import surface_labels
from voxelflow.preprocess import PreprocessOptions, preprocess_study_subject


def export_algonauts(mininsd_root: str | Path, out: str | Path, subjects: list[str],
                     release_test: bool = True) -> Path:
    """Write `subjects` of a surface mini-NSD (written with surface=True) under `out` in the release's layout;
    returns `out`."""
    layout, nsd = AlgonautsLayout(out), NSDLayout(mininsd_root)
    fsaverage_labels = {family: surface_labels(nsd, family) for family in ROI_FAMILIES}  # every subject's
    n = len(fsaverage_labels[ROI_FAMILIES[0]]) // 2
    for subject in subjects:
        data = preprocess_study_subject(mininsd_root, subject, PreprocessOptions(space="fsaverage"))
        # as the release: half of the shared images (every other one) are the test split, the rest is training
        shared = np.flatnonzero(data.is_test)
        is_test = np.zeros(len(data.image_ids), bool)
        is_test[shared[::2]] = True
        for split, rows in (("train", ~is_test), ("test", is_test)):
            ids = data.image_ids[rows]
            folder = layout.images_dir(subject, split)
            folder.mkdir(parents=True, exist_ok=True)
            for index, (image_id, image) in enumerate(zip(ids, read_stimuli(nsd.stimuli, ids)), start=1):
                Image.fromarray(image).save(folder / f"{split}-{index:04d}_nsd-{image_id:05d}.png")
            if split == "test" and not release_test:
                continue
            for hemi in HEMISPHERES:
                path = layout.fmri(subject, split, hemi)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, data.responses[rows][:, data.hemisphere == hemi].astype(np.float32))
        masks = layout.roi_masks(subject)
        masks.mkdir(parents=True, exist_ok=True)
        for h, hemi in enumerate(HEMISPHERES):
            side = data.hemisphere == hemi
            everywhere = np.zeros(n, np.int32)
            everywhere[data.vertex[side]] = 1
            np.save(layout.all_vertices(subject, hemi), everywhere)
            if release_test:
                path = layout.noise_ceiling(subject, hemi)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, (data.noise_ceiling[side] / 100).astype(np.float32))  # the release's: a fraction
            for family in ROI_FAMILIES:
                np.save(layout.challenge_labels(subject, hemi, family), data.rois.labels[family][side].astype(np.int32))
                full = fsaverage_labels[family][h * n:(h + 1) * n]
                np.save(masks / f"{hemi}.{family}_fsaverage_space.npy", np.maximum(full, 0).astype(np.int32))
        for family in ROI_FAMILIES:
            mapping = {0: "Unknown", **data.rois.tables[family]}
            np.save(layout.mapping(subject, family), np.array(mapping, dtype=object), allow_pickle=True)
    return Path(out)
