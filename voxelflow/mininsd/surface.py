"""The mini-NSD on the cortical surface: NSD's fsaverage layout on nilearn's bundled fsaverage5 mesh.

The same ROI rules and planted tuning as the volume (`anatomy.lay_out_rois`, `anatomy.plant_tuning`) are laid
over fsaverage5's pial vertices (both hemispheres, coordinates scaled into the unit ball), so V1-hV4 are
retinotopic bands at the occipital pole and the floc ROIs blobs further anterior, as on the volume. The labels
are fsaverage's, one set for every subject (as NSD's fsaverage-space files are); each subject's tuning, noise
and session drifts are its own. fsaverage5's 10,242 vertices a hemisphere are the first 10,242 of fsaverage's
163,842 (the icosahedral meshes nest), so the files are NSD's at a lower resolution, read by the same code.

Files (NSD's fsaverage layout): nsddata_betas/ppdata/subjXX/fsaverage/<betas_version>/{lh,rh}.betas_sessionNN.mgh
(vertices, 1, 1, trials) float32 percent signal change, {lh,rh}.ncsnr.mgh; nsddata/freesurfer/fsaverage/label/
{lh,rh}.<family>.mgz (vertices, 1, 1) int32 (0 unlabelled, k the k-th label) and <family>.mgz.ctab.
"""

from __future__ import annotations

from functools import cache

import h5py
import nibabel as nib
import numpy as np

from voxelflow.atlases.label_tables import write_label_table
from voxelflow.mininsd.anatomy import ROI_LABELS, RoiLayout, lay_out_rois, plant_tuning
from voxelflow.nsd_layout import HEMISPHERES, NSDLayout

SURFACE_SPACE = "fsaverage"


@cache
def fsaverage5_coordinates() -> np.ndarray:
    """Pial vertex coordinates (2 x 10242, 3) in mm of nilearn's bundled fsaverage5, left hemisphere first."""
    from nilearn.datasets import load_fsaverage

    pial = load_fsaverage("fsaverage5")["pial"]
    return np.concatenate([np.asarray(pial.parts[side].coordinates) for side in ("left", "right")])


def surface_layout(seed: int) -> tuple[RoiLayout, np.ndarray, np.ndarray]:
    """The fsaverage ROI layout every subject shares, over the (2 x 10242,) vertices, and the vertices'
    normalised coordinates u (left-right) and w (inferior-superior) that the tuning reads."""
    xyz = fsaverage5_coordinates()
    low, high = xyz.min(0), xyz.max(0)
    u, v, w = ((xyz - (low + high) / 2) / ((high - low) / 2) * 0.95).T
    return lay_out_rois(u, v, w, np.ones(len(xyz), bool), np.random.default_rng([seed, 3])), u, w


def write_surface_labels(layout: NSDLayout, rois: RoiLayout) -> None:
    """fsaverage's ROI label files and tables, from `surface_layout`'s ROIs."""
    n = len(rois.general) // 2
    for family, labels in rois.volumes.items():
        for h, hemi in enumerate(HEMISPHERES):
            path = layout.surface_label(hemi, family)
            path.parent.mkdir(parents=True, exist_ok=True)
            values = np.maximum(labels[h * n:(h + 1) * n], 0).astype(np.int32)
            nib.save(nib.MGHImage(values.reshape(n, 1, 1), np.eye(4)), path)
        write_label_table(layout.surface_label_table(family), ROI_LABELS[family])


def write_surface_subject(layout: NSDLayout, surface: tuple[RoiLayout, np.ndarray, np.ndarray], subject: str,
                          subject_images: np.ndarray, trial_rows: list[np.ndarray], truth: h5py.Group,
                          rng: np.random.Generator, write_ncsnr: bool = True) -> None:
    """One subject's fsaverage betas: per session, (vertices, 1, 1, trials) float32 of each hemisphere, the trials
    showing subject_images[trial_rows[session]]; its ncsnr files; its planted truth in `truth` (datasets ijk =
    (hemisphere 0/1, vertex, 0) keys, kind, ncsnr, and the true brain). surface: `surface_layout`'s."""
    rois, u, w = surface
    general = np.flatnonzero(rois.general)
    ncsnr_general, brain = plant_tuning(rois.kind[general].astype(str), u[general], w[general],
                                        rois.depth[general], subject_images.shape[1], rng)
    raw = brain.raw_response(subject_images)
    brain.signal_mean, brain.signal_std = raw.mean(0), raw.std(0)
    brain.signal_std[brain.signal_std == 0] = 1.0
    signal = (raw - brain.signal_mean) / brain.signal_std
    n_all = len(rois.general)
    n = n_all // 2
    ncsnr = np.zeros(n_all)
    ncsnr[general] = ncsnr_general
    amp = rng.uniform(1.0, 3.0, n_all)
    for session, rows in enumerate(trial_rows, start=1):
        gain = rng.uniform(0.85, 1.15) * rng.uniform(0.75, 1.25, n_all)
        offset = rng.normal(0, 1.0) + rng.normal(0, 1.5, n_all)
        clean = np.zeros((len(rows), n_all))
        clean[:, general] = signal[rows] * ncsnr_general
        betas = (offset + gain * amp * (clean + rng.standard_normal(clean.shape))).astype(np.float32)
        for h, hemi in enumerate(HEMISPHERES):
            path = layout.surface_betas_session(subject, session, hemi)
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.MGHImage(betas[:, h * n:(h + 1) * n].T.reshape(n, 1, 1, len(rows)), np.eye(4)), path)
    if write_ncsnr:
        for h, hemi in enumerate(HEMISPHERES):
            nib.save(nib.MGHImage(ncsnr[h * n:(h + 1) * n].astype(np.float32).reshape(n, 1, 1), np.eye(4)),
                     layout.surface_ncsnr(subject, hemi))
    keys = np.stack([general // n, general % n, np.zeros(len(general), int)], axis=1)
    for name, data in [("ijk", keys), ("kind", rois.kind[general].astype("S")), ("ncsnr", ncsnr_general),
                       ("hemisphere", np.array(HEMISPHERES, "S2")[general // n])]:
        truth.create_dataset(name, data=data)
    brain.save(truth.create_group("true_brain"))
