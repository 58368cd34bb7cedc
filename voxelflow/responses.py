"""The per-subject response store, `results/{subject}/responses.h5`.

Layout (one HDF5 file):
    responses       (n_images, n_voxels) float32  trial-averaged, session-z-scored
    image_ids       (n_images,) int64              0-based NSD 73k index, ascending
    split           (n_images,) bytes              b"train" / b"test" (test = the shared images)
    repeats         (n_images,) int16              trials averaged per image
    ijk             (n_voxels, 3) int32            voxel indices in the subject's volume
    affine          (4, 4) float64                 voxel -> scanner mm
    ncsnr           (n_voxels,) float32            noise-ceiling SNR (attr `source`: study or estimated)
    ncsnr_estimated (n_voxels,) float32            ncsnr estimated from the repeats (always)
    noise_ceiling   (n_voxels,) float32            percent variance, for the test images' repeats
    roi/<label>     (n_voxels,) bool               one mask per ROI label (attr `family`)
attributes: subject, volume_shape, zscore_stats, study_root, voxelflow_version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from voxelflow import __version__
from voxelflow.atlases.roi_masks import RoiSet
from voxelflow.atomic_output import atomic_output
from voxelflow.errors import InputError


log = logging.getLogger(__name__)


@dataclass
class ResponseSet:
    """One subject's preprocessed responses; field shapes as in the module docstring."""

    subject: str
    responses: np.ndarray
    image_ids: np.ndarray
    split: np.ndarray
    repeats: np.ndarray
    ijk: np.ndarray
    affine: np.ndarray
    volume_shape: tuple[int, int, int]
    rois: RoiSet
    ncsnr: np.ndarray
    ncsnr_source: str
    ncsnr_estimated: np.ndarray
    noise_ceiling: np.ndarray
    attrs: dict = field(default_factory=dict)

    @property
    def is_test(self) -> np.ndarray:
        """(n_images,) bool, True for the shared test images."""
        return self.split == "test"

    @property
    def x_mm(self) -> np.ndarray:
        """Scanner x coordinate (mm, RAS: negative = left hemisphere) of each voxel: (n_voxels,)."""
        return (self.ijk @ self.affine[0, :3] + self.affine[0, 3]).astype(np.float32)

    def volume(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Scatter per-voxel `values` (n_voxels,) into the subject's (X, Y, Z) volume."""
        return scatter_to_volume(values, self.ijk, self.volume_shape, fill)


def scatter_to_volume(values: np.ndarray, ijk: np.ndarray, shape: tuple, fill: float = np.nan) -> np.ndarray:
    """Per-voxel values (n_voxels,) at voxel indices ijk (n_voxels, 3) in an (X, Y, Z) float32 volume."""
    out = np.full(shape, fill, dtype=np.float32)
    out[tuple(ijk.T)] = values
    return out


def write_responses(path: str | Path, data: ResponseSet) -> None:
    """Write `data` to `path` atomically (temporary name, then rename)."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"subject": data.subject, "volume_shape": data.volume_shape,
                        "voxelflow_version": __version__, **data.attrs})
        f.create_dataset("responses", data=data.responses.astype(np.float32), chunks=True)
        f.create_dataset("image_ids", data=data.image_ids.astype(np.int64))
        f.create_dataset("split", data=data.split.astype("S5"))
        f.create_dataset("repeats", data=data.repeats.astype(np.int16))
        f.create_dataset("ijk", data=data.ijk.astype(np.int32))
        f.create_dataset("affine", data=data.affine)
        f.create_dataset("ncsnr", data=data.ncsnr.astype(np.float32)).attrs["source"] = data.ncsnr_source
        f.create_dataset("ncsnr_estimated", data=data.ncsnr_estimated.astype(np.float32))
        f.create_dataset("noise_ceiling", data=data.noise_ceiling.astype(np.float32))
        roi = f.create_group("roi", track_order=True)
        family_of = {label: family for family, labels in data.rois.families.items() for label in labels}
        for name, mask in data.rois.masks.items():
            roi.create_dataset(name, data=mask).attrs["family"] = family_of.get(name, "")
    log.info("wrote %d images x %d voxels of %s to %s", *data.responses.shape, data.subject, path)


def read_image_ids(path: str | Path, split: str | None = None) -> np.ndarray:
    """Only the `image_ids` (n_images,) of a response store, or those of one split ("train" or "test"),
    without reading the responses themselves."""
    with h5py.File(path, "r") as f:
        ids = f["image_ids"][()]
        return ids if split is None else ids[f["split"][()].astype(str) == split]


def read_responses(path: str | Path) -> ResponseSet:
    """Read a response store written by `write_responses`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"response store {path} does not exist; run the preprocess rule first")
    try:
        with h5py.File(path, "r") as f:
            rois = RoiSet()
            for name, dataset in f["roi"].items():
                rois.masks[name] = dataset[()]
                rois.families.setdefault(str(dataset.attrs["family"]), []).append(name)
            extra = {k: v for k, v in f.attrs.items() if k not in ("subject", "volume_shape")}
            return ResponseSet(
                subject=str(f.attrs["subject"]),
                responses=f["responses"][()],
                image_ids=f["image_ids"][()],
                split=f["split"][()].astype(str),
                repeats=f["repeats"][()],
                ijk=f["ijk"][()],
                affine=f["affine"][()],
                volume_shape=tuple(int(n) for n in f.attrs["volume_shape"]),
                rois=rois,
                ncsnr=f["ncsnr"][()],
                ncsnr_source=str(f["ncsnr"].attrs["source"]),
                ncsnr_estimated=f["ncsnr_estimated"][()],
                noise_ceiling=f["noise_ceiling"][()],
                attrs=extra,
            )
    except (OSError, KeyError) as err:
        raise InputError(f"cannot read response store {path}: {err}") from None
