"""The per-subject response store, `results/{subject}/responses.h5`.

Layout (one HDF5 file):
    responses       (n_images, n_voxels) float32  trial-averaged, session-z-scored (missing trials left out)
    image_ids       (n_images,) int64              0-based NSD 73k index, ascending
    split           (n_images,) bytes              b"train" / b"test" (attr: test_split)
    repeats         (n_images,) int16              trials of each image in the sessions used
    valid_sessions  (n_voxels,) int16              sessions in which the voxel had valid data
    ijk             (n_voxels, 3) int32            voxel indices in the subject's volume (volume studies)
    affine          (4, 4) float64                 voxel -> scanner mm (volume studies)
    vertex          (n_voxels,) int32              vertex index within its hemisphere (surface studies, attr
                                                   space "fsaverage"; no ijk, affine or volume_shape)
    hemisphere      (n_voxels,) bytes              b"lh" / b"rh" (file attr `hemisphere_source`)
    ncsnr           (n_voxels,) float32            noise-ceiling SNR (attr `source`: study or estimated)
    ncsnr_estimated (n_voxels,) float32            ncsnr estimated from the repeats (always)
    noise_ceiling   (n_voxels,) float32            percent variance, for the test images' repeats
    roi/<family>    (n_voxels,) int16              label value per voxel, 0 = none (attrs `values`, `names`: the
                                                   family's label table); names resolve as `RoiSet.resolve` says
    trials/         optional (preprocess.keep_trials): `responses` (n_trials, n_voxels) float32 z-scored single
                    trials of the training images, `image_ids` (n_trials,), `session` (n_trials,) 1-based
    test_trials/    optional (preprocess.keep_trials): the same for the test images (their repeats: RSA's
                    cross-validated distances)
attributes: subject, volume_shape, zscore_stats, sessions (1-based, used), test_split, mask_roi, space,
betas_version, hemisphere_source (lh./rh. ROI volumes, or scanner x), study_root, voxelflow_version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np

from voxelflow import __version__
from voxelflow.atlases.roi_masks import RoiSet
from voxelflow.atomic_output import atomic_output
from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5


log = logging.getLogger(__name__)


@dataclass
class TrialSet:
    """Single trials of one split's images: responses (n_trials, n_voxels) float32 z-scored per session,
    image_ids (n_trials,) 0-based, session (n_trials,) 1-based."""

    responses: np.ndarray
    image_ids: np.ndarray
    session: np.ndarray


@dataclass
class ResponseSet:
    """One subject's preprocessed responses; field shapes as in the module docstring."""

    subject: str
    responses: np.ndarray
    image_ids: np.ndarray
    split: np.ndarray
    repeats: np.ndarray
    ijk: np.ndarray | None  # None on a surface
    affine: np.ndarray | None
    volume_shape: tuple[int, int, int] | None
    rois: RoiSet
    ncsnr: np.ndarray
    ncsnr_source: str
    ncsnr_estimated: np.ndarray
    noise_ceiling: np.ndarray
    valid_sessions: np.ndarray | None = None
    trials: TrialSet | None = None
    test_trials: TrialSet | None = None
    attrs: dict = field(default_factory=dict)
    vertex: np.ndarray | None = None  # a surface's vertex indices instead of ijk

    @property
    def is_test(self) -> np.ndarray:
        """(n_images,) bool, True for the shared test images."""
        return self.split == "test"

    @property
    def hemisphere(self) -> np.ndarray | None:
        """(n_voxels,) str "lh"/"rh": each voxel's hemisphere."""
        return self.rois.hemisphere

    @property
    def on_surface(self) -> bool:
        """True for a surface study (vertices with `vertex` and `hemisphere`, no volume)."""
        return self.vertex is not None

    @property
    def location_keys(self) -> np.ndarray:
        """(n_voxels, 3) int keys that name each voxel within its subject: ijk on a volume, (hemisphere 0 = lh or
        1 = rh, vertex, 0) on a surface (the mini-NSD's truth uses the same keys)."""
        if not self.on_surface:
            return self.ijk
        return np.stack([self.hemisphere == "rh", self.vertex, np.zeros(len(self.vertex))], axis=1).astype(np.int64)

    def volume(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Scatter per-voxel `values` (n_voxels,) into the subject's (X, Y, Z) volume."""
        if self.on_surface:
            raise InputError(f"{self.subject}'s responses are on a surface ({self.attrs.get('space')}): they have "
                             f"no volume")
        return scatter_to_volume(values, self.ijk, self.volume_shape, fill)


def scatter_to_volume(values: np.ndarray, ijk: np.ndarray, shape: tuple, fill: float = np.nan) -> np.ndarray:
    """Per-voxel values (n_voxels,) at voxel indices ijk (n_voxels, 3) in an (X, Y, Z) float32 volume."""
    out = np.full(shape, fill, dtype=np.float32)
    out[tuple(ijk.T)] = values
    return out


def write_responses(path: str | Path, data: ResponseSet) -> None:
    """Write `data` to `path` atomically (temporary name, then rename)."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"subject": data.subject, "voxelflow_version": __version__, **data.attrs})
        if data.volume_shape is not None:
            f.attrs["volume_shape"] = data.volume_shape
        f.create_dataset("responses", data=data.responses.astype(np.float32), chunks=True)
        f.create_dataset("image_ids", data=data.image_ids.astype(np.int64))
        f.create_dataset("split", data=data.split.astype("S5"))
        f.create_dataset("repeats", data=data.repeats.astype(np.int16))
        valid = data.valid_sessions if data.valid_sessions is not None else np.zeros(data.responses.shape[1],
                                                                                      np.int16)
        f.create_dataset("valid_sessions", data=valid.astype(np.int16))
        if data.on_surface:
            f.create_dataset("vertex", data=data.vertex.astype(np.int32))
        else:
            f.create_dataset("ijk", data=data.ijk.astype(np.int32))
            f.create_dataset("affine", data=data.affine)
        if data.hemisphere is not None:
            f.create_dataset("hemisphere", data=data.hemisphere.astype("S2"))
        f.create_dataset("ncsnr", data=data.ncsnr.astype(np.float32)).attrs["source"] = data.ncsnr_source
        f.create_dataset("ncsnr_estimated", data=data.ncsnr_estimated.astype(np.float32))
        f.create_dataset("noise_ceiling", data=data.noise_ceiling.astype(np.float32))
        roi = f.create_group("roi", track_order=True)
        for family, labels in data.rois.labels.items():
            dataset = roi.create_dataset(family, data=labels.astype(np.int16))
            table = data.rois.tables[family]
            dataset.attrs["values"] = np.array(list(table), dtype=np.int16)
            dataset.attrs["names"] = list(table.values())
        for name, trials in (("trials", data.trials), ("test_trials", data.test_trials)):
            if trials is not None:
                group = f.create_group(name)
                group.create_dataset("responses", data=trials.responses.astype(np.float32), chunks=True)
                group.create_dataset("image_ids", data=trials.image_ids.astype(np.int64))
                group.create_dataset("session", data=trials.session.astype(np.int16))
    log.info("wrote %d images x %d voxels of %s to %s", *data.responses.shape, data.subject, path)


def training_pairs(data: ResponseSet, targets: np.ndarray, train_on: str = "averages") -> tuple[np.ndarray, np.ndarray]:
    """Training samples of a decoder: (responses (n, n_voxels), targets (n, ...)) with `targets` (n_images, ...)
    aligned with `data.image_ids`; one per training image ("averages") or one per single trial ("trials",
    MindEye's choice: each repeat a sample; needs the store's trials)."""
    train = ~data.is_test
    if train_on == "averages":
        return data.responses[train], targets[train]
    if train_on != "trials":
        raise InputError(f"train_on must be 'averages' or 'trials', got {train_on!r}")
    if data.trials is None:
        raise InputError(f"train_on: trials needs {data.subject}'s single trials; set preprocess.keep_trials: true")
    rows = np.searchsorted(data.image_ids, data.trials.image_ids)
    return data.trials.responses, targets[rows]


def first_sessions(data: ResponseSet, n_sessions: int | str) -> ResponseSet:
    """`data` as if only its first `n_sessions` sessions (of those used, in order; "all": every one) had been
    recorded for training: the training images are those with a trial in them, each the mean of those trials,
    and the single trials are those trials; the test images, their responses and noise ceilings are unchanged,
    so that every session count is scored on the same test set. Needs the store's single trials."""
    sessions = np.sort(np.asarray(data.attrs.get("sessions", []), dtype=int))
    if n_sessions == "all" or (isinstance(n_sessions, (int, np.integer)) and n_sessions >= len(sessions) > 0):
        return data
    if not isinstance(n_sessions, (int, np.integer)) or isinstance(n_sessions, bool) or n_sessions < 1:
        raise InputError(f"a session count must be a positive integer or 'all', got {n_sessions!r}")
    if data.trials is None:
        raise InputError(f"training on {data.subject}'s first {n_sessions} sessions needs its single trials; set "
                         f"preprocess.keep_trials: true")
    kept = np.isin(data.trials.session, sessions[:n_sessions])
    trials = TrialSet(data.trials.responses[kept], data.trials.image_ids[kept], data.trials.session[kept])
    train_ids, inverse, counts = np.unique(trials.image_ids, return_inverse=True, return_counts=True)
    sums = np.zeros((len(train_ids), data.responses.shape[1]), np.float64)
    np.add.at(sums, inverse, trials.responses)
    test = data.is_test
    ids = np.concatenate([train_ids, data.image_ids[test]])
    order = np.argsort(ids, kind="stable")
    subset = replace(data, responses=np.concatenate([sums / counts[:, None], data.responses[test]])[order].astype(
                         np.float32),
                     image_ids=ids[order], split=np.concatenate([np.full(len(train_ids), "train"),
                                                                 data.split[test]])[order],
                     repeats=np.concatenate([counts, data.repeats[test]])[order].astype(np.int16), trials=trials,
                     attrs={**data.attrs, "training_sessions": sessions[:n_sessions]})
    log.info("%s: first %d sessions: %d training images from %d trials", data.subject, n_sessions, len(train_ids),
             len(trials.image_ids))
    return subset


def read_image_ids(path: str | Path, split: str | None = None) -> np.ndarray:
    """Only the `image_ids` (n_images,) of a response store, or those of one split ("train" or "test"),
    without reading the responses themselves."""
    with open_hdf5(path, "response store") as f:
        ids = f["image_ids"][()]
        return ids if split is None else ids[f["split"][()].astype(str) == split]


def read_responses(path: str | Path, trials: bool = False, test_trials: bool = False) -> ResponseSet:
    """Read a response store written by `write_responses`; its single trials of the training images too when
    `trials`, of the test images when `test_trials` (and stored)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"response store {path} does not exist; run the preprocess rule first")
    with open_hdf5(path, "response store") as f:
        hemisphere = f["hemisphere"][()].astype(str) if "hemisphere" in f else None
        rois = RoiSet(hemisphere=hemisphere)
        for family, dataset in f["roi"].items():
            table = dict(zip(dataset.attrs["values"].tolist(), (str(n) for n in dataset.attrs["names"])))
            rois.add_family(family, dataset[()], table)
        extra = {k: v for k, v in f.attrs.items() if k not in ("subject", "volume_shape")}
        trial_sets = {name: TrialSet(f[name]["responses"][()], f[name]["image_ids"][()], f[name]["session"][()])
                      for name, wanted in (("trials", trials), ("test_trials", test_trials))
                      if wanted and name in f}
        return ResponseSet(
            subject=str(f.attrs["subject"]),
            responses=f["responses"][()],
            image_ids=f["image_ids"][()],
            split=f["split"][()].astype(str),
            repeats=f["repeats"][()],
            ijk=f["ijk"][()] if "ijk" in f else None,
            affine=f["affine"][()] if "affine" in f else None,
            volume_shape=tuple(int(n) for n in f.attrs["volume_shape"]) if "volume_shape" in f.attrs else None,
            vertex=f["vertex"][()] if "vertex" in f else None,
            rois=rois,
            ncsnr=f["ncsnr"][()],
            ncsnr_source=str(f["ncsnr"].attrs["source"]),
            ncsnr_estimated=f["ncsnr_estimated"][()],
            noise_ceiling=f["noise_ceiling"][()],
            valid_sessions=f["valid_sessions"][()] if "valid_sessions" in f else None,
            trials=trial_sets.get("trials"),
            test_trials=trial_sets.get("test_trials"),
            attrs=extra,
        )
