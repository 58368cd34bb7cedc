"""Any single-trial study described by a small table (`dataset: table`, `study_table: study.yaml`), read as it is.

The table (YAML; relative paths are relative to its folder):

    images: stimuli.hdf5                # HDF5 dataset imgBrick (n_images, H, W, 3) uint8; an image id is its row
                                        #   (or leave it out and name image files in the trials tables)
    subjects:
      subj01:
        betas: [ses01.nii.gz, ...]      # one file per session, in session order: NIfTI 4-D (X, Y, Z, trials),
                                        #   NSD-style HDF5 `betas` (trials, Z, Y, X), or .npy (trials, mask voxels
                                        #   in C order); integer betas are NSD's percent signal change x 300
        trials: subj01_trials.tsv       # one row per trial, sessions in order, trials in file order: columns
                                        #   session (1-based), image (0-based id, or an image file's path), and
                                        #   optionally split (train/test)
        mask: nsdgeneral.nii.gz         # the voxels read: > 0
        rois:                           # optional: family -> [label volume (-1/0 none, k label k), label table]
          floc-faces: [floc-faces.nii.gz, floc-faces.mgz.ctab]
        hemispheres: {lh: [lh.nsdgeneral.nii.gz], rh: [rh.nsdgeneral.nii.gz]}  # optional (else the sign of x)
        ncsnr: ncsnr.nii.gz             # optional
        valid: [valid_session01.nii.gz, ...]  # optional: per session, voxels with valid data (> 0)

Test images: those of rows with split "test"; without a split column, the images every subject of the table saw.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import yaml

from voxelflow.atlases.label_tables import read_label_table
from voxelflow.atlases.roi_masks import RoiSet, hemispheres_from_volumes, voxel_labels
from voxelflow.errors import InputError
from voxelflow.file_reading import load_nifti
from voxelflow.nsd_study import Subject, select_sessions

SUBJECT_KEYS = {"betas", "trials", "mask", "rois", "hemispheres", "ncsnr", "valid"}


class StudyTable:
    """A study table at `path`: its subjects, each read as a `Subject` for `preprocess_subject`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"study table {self.path} does not exist")
        try:
            self.table = yaml.safe_load(self.path.read_text()) or {}
        except yaml.YAMLError as err:
            raise InputError(f"study table {self.path}: not YAML: {err}") from None
        if "subjects" not in self.table:
            raise InputError(f"study table {self.path}: no 'subjects' key")
        for name, entry in self.table["subjects"].items():
            unknown = set(entry) - SUBJECT_KEYS
            missing = {"betas", "trials", "mask"} - set(entry)
            if unknown or missing:
                raise InputError(f"study table {self.path}: subjects.{name}: "
                                 + (f"unknown key {sorted(unknown)[0]!r}" if unknown else
                                    f"no {sorted(missing)[0]!r} key"))

    @property
    def space(self) -> str:
        """"volume" (the default) or "fsaverage" (per-hemisphere files)."""
        space = self.table.get("space", "volume")
        if space not in ("volume", "fsaverage"):
            raise InputError(f"study table {self.path}: space must be volume or fsaverage, got {space!r}")
        return space

    def files(self, name: str, key: str) -> list[Path]:
        """The file(s) of subject `name`'s `key` (e.g. "trials", "mask"): one, or a surface's lh and rh."""
        return self._files(self.entry(name)[key])

    def _files(self, value) -> list[Path]:
        """A file entry as paths: one, or a surface's {lh, rh} pair (left first)."""
        if isinstance(value, dict):
            if set(value) != {"lh", "rh"}:
                raise InputError(f"study table {self.path}: a surface file entry needs lh and rh, got {sorted(value)}")
            return [self._file(value["lh"]), self._file(value["rh"])]
        return [self._file(value)]

    def _file(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.path.parent / path

    @property
    def images(self) -> Path | None:
        """The stimulus brick, or None when the trials tables name image files."""
        return self._file(self.table["images"]) if "images" in self.table else None

    @cached_property
    def image_files(self) -> list[Path]:
        """Every image file the trials tables name (their image column holds paths instead of ids), sorted: an
        image's id is its place in this list, the same for every subject."""
        files = set()
        for name in self.subjects:
            column = self._raw_trials(name)["image"]
            if not pd.api.types.is_integer_dtype(column):
                files.update(str(self._file(value)) for value in column)
        return [Path(f) for f in sorted(files)]

    @contextmanager
    def open_images(self):
        """The study's images by id behind the stimulus interface (`nsd_layout.open_stimuli`): its brick, or the
        image files the trials tables name."""
        from voxelflow.nsd_layout import open_stimuli

        if self.images is not None:
            with open_stimuli(self.images) as brick:
                yield brick
            return
        if not self.image_files:
            raise InputError(f"study table {self.path}: no 'images' brick and no image files in the trials tables")
        yield ImageFiles(self.image_files)

    @property
    def subjects(self) -> list[str]:
        return list(self.table["subjects"])

    def entry(self, name: str) -> dict:
        if name not in self.table["subjects"]:
            raise InputError(f"unknown subject {name!r}: study table {self.path} has {', '.join(self.subjects)}")
        return self.table["subjects"][name]

    def _raw_trials(self, name: str) -> pd.DataFrame:
        path = self._file(self.entry(name)["trials"])
        if not path.is_file():
            raise InputError(f"study table {self.path}: subjects.{name}.trials: {path} does not exist")
        trials = pd.read_csv(path, sep="\t")
        for column in ("session", "image"):
            if column not in trials:
                raise InputError(f"{path}: no {column!r} column (columns: {', '.join(trials.columns)})")
        return trials

    def trials(self, name: str) -> pd.DataFrame:
        """The subject's trials table: session (1-based), image (0-based id: the brick's row, or the place of the
        named file in `image_files`), split when given."""
        path = self._file(self.entry(name)["trials"])
        trials = self._raw_trials(name)
        if not pd.api.types.is_integer_dtype(trials["image"]):
            index = {str(f): i for i, f in enumerate(self.image_files)}
            trials["image"] = [index[str(self._file(value))] for value in trials["image"]]
            missing = [f for f in self.image_files if not f.is_file()]
            if missing:
                raise InputError(f"{path} names image file {missing[0]}, which does not exist")
        if "split" in trials and not set(trials["split"]) <= {"train", "test"}:
            raise InputError(f"{path}: split must be train or test, got {sorted(set(trials['split']) - {'train', 'test'})}")
        return trials

    def image_ids(self, name: str) -> np.ndarray:
        """(n,) sorted 0-based ids of every image the subject saw."""
        return np.unique(self.trials(name)["image"].to_numpy(np.int64))

    @cached_property
    def _common(self) -> np.ndarray:
        ids = None
        for name in self.subjects:
            seen = self.image_ids(name)
            ids = seen if ids is None else np.intersect1d(ids, seen)
        return ids

    def test_ids(self, name: str) -> np.ndarray:
        """The subject's test images: its split column's, else the images every subject saw."""
        trials = self.trials(name)
        if "split" in trials:
            return np.unique(trials.loc[trials["split"] == "test", "image"].to_numpy(np.int64))
        return np.intersect1d(self.image_ids(name), self._common)

    def roi_tables(self, name: str) -> dict[str, dict[int, str]]:
        return {family: read_label_table(self._file(files[1]))
                for family, files in (self.entry(name).get("rois") or {}).items()}

    def input_files(self, name: str) -> list[Path]:
        """Every file reading subject `name` opens: the table, betas, trials, mask, ROIs, ncsnr, validity."""
        entry = self.entry(name)
        files = [self.path, *(f for b in entry["betas"] for f in self._files(b)), self._file(entry["trials"]),
                 *self._files(entry["mask"])]
        files += [f for volume, table in (entry.get("rois") or {}).values() for f in [*self._files(volume),
                                                                                     self._file(table)]]
        files += [self._file(f) for side in (entry.get("hemispheres") or {}).values() for f in side]
        files += [f for value in [entry.get("ncsnr"), *(entry.get("valid") or [])] if value
                  for f in self._files(value)]
        return files

    def subject(self, name: str, sessions="all") -> Subject:
        """Subject `name` as `preprocess_subject` reads it."""
        if self.space == "fsaverage":
            return self._surface_subject(name, sessions)
        entry = self.entry(name)
        mask_image = load_nifti(self._file(entry["mask"]), f"study table {self.path}: subjects.{name}.mask")
        mask = np.asarray(mask_image.dataobj) > 0
        paths = [self._file(p) for p in entry["betas"]]
        per_session = self._per_session(name, paths, mask)
        chosen = select_sessions(sessions, list(range(1, len(paths) + 1)), name)
        rois = RoiSet()
        for family, (volume, table) in (entry.get("rois") or {}).items():
            labels = load_nifti(self._file(volume), f"ROI volume of {family}")
            rois.add_family(family, voxel_labels(np.asarray(labels.dataobj), mask), read_label_table(self._file(table)))
        ijk = np.argwhere(mask)
        sides = entry.get("hemispheres")
        if sides:
            values = {h: [np.asarray(load_nifti(self._file(f), "hemisphere volume").dataobj)[mask]
                          for f in sides[h]] for h in ("lh", "rh")}
            rois.hemisphere, source = hemispheres_from_volumes(values["lh"], values["rh"], ijk), "hemisphere volumes"
        else:
            x_mm = ijk @ mask_image.affine[0, :3] + mask_image.affine[0, 3]
            rois.hemisphere, source = np.where(x_mm < 0, "lh", "rh").astype("<U2"), "scanner x"
            warnings.warn(f"{name}: the study table names no hemisphere volumes; hemispheres are taken from the "
                          f"sign of scanner x", stacklevel=2)
        ncsnr = None
        if entry.get("ncsnr"):
            ncsnr = np.asarray(load_nifti(self._file(entry["ncsnr"]), "ncsnr").dataobj, dtype=np.float32)[mask]
        valid = [self._file(p) for p in entry.get("valid") or []] or [None] * len(paths)
        return Subject(name=name, session_paths=[paths[s - 1] for s in chosen],
                       trial_image_ids=[per_session[s - 1] for s in chosen], shared_image_ids=self._common,
                       mask=mask, affine=mask_image.affine, rois=rois, ncsnr=ncsnr, session_numbers=chosen,
                       valid_paths=[valid[s - 1] for s in chosen], hemisphere_source=source)

    def _per_session(self, name: str, paths: list[Path], mask: np.ndarray) -> list[np.ndarray]:
        """Per session, the image ids of its trials, checked against each betas file's trial count."""
        trials = self.trials(name)
        numbers = sorted(set(trials["session"]))
        if numbers != list(range(1, len(paths) + 1)):
            raise InputError(f"study table {self.path}: subjects.{name}: {len(paths)} betas files but the trials "
                             f"table's sessions are {numbers}")
        per_session = [trials.loc[trials["session"] == s, "image"].to_numpy(np.int64) for s in numbers]
        for path, ids in zip(paths, per_session):
            n = _trial_count(path, mask)
            if n != len(ids):
                raise InputError(f"betas {path} hold {n} trials but the trials table lists {len(ids)} for its "
                                 f"session")
        return per_session

    def _surface_subject(self, name: str, sessions) -> Subject:
        from voxelflow.nsd_surface import SurfaceSubject, read_hemispheres, surface_roi_set

        entry = self.entry(name)
        mask = read_hemispheres(self._files(entry["mask"]), "vertex mask") > 0
        n = len(mask) // 2
        pairs = [self._files(b) for b in entry["betas"]]
        per_session = self._per_session(name, [p[0] for p in pairs], mask)
        chosen = select_sessions(sessions, list(range(1, len(pairs) + 1)), name)
        rois = surface_roi_set(mask, {
            family: (read_hemispheres(self._files(labels), f"ROI labels of {family}", n),
                     read_label_table(self._file(table)))
            for family, (labels, table) in (entry.get("rois") or {}).items()})
        ncsnr = None
        if entry.get("ncsnr"):
            ncsnr = read_hemispheres(self._files(entry["ncsnr"]), "ncsnr", n)[mask].astype(np.float32)
        return SurfaceSubject(name=name, session_paths=[pairs[s - 1][0] for s in chosen],
                              right_paths=[pairs[s - 1][1] for s in chosen],
                              trial_image_ids=[per_session[s - 1] for s in chosen], shared_image_ids=self._common,
                              mask=mask, affine=None, rois=rois, ncsnr=ncsnr, session_numbers=chosen,
                              hemisphere_source="study table lh/rh files")


class ImageFiles:
    """Images by id from files (id = place in `files`), behind the stimulus interface: missing(ids), [ids]."""

    def __init__(self, files: list[Path]):
        self.files = files

    def missing(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        return ids[(ids < 0) | (ids >= len(self.files))]

    def __getitem__(self, ids) -> np.ndarray:
        from PIL import Image

        return np.stack([np.asarray(Image.open(self.files[int(i)]).convert("RGB")) for i in np.asarray(ids)])


def _trial_count(path: Path, mask: np.ndarray) -> int:
    """Trials in a betas file (header only), an error naming it when it cannot be read."""
    if not path.is_file():
        raise InputError(f"betas file {path} does not exist")
    try:
        if path.suffix in (".mgh", ".mgz"):
            return int(nib.load(path).shape[3])
        if path.suffix == ".npy":
            return int(np.load(path, mmap_mode="r").shape[0])
        if path.suffix == ".hdf5":
            with h5py.File(path, "r") as f:
                return int(f["betas"].shape[0])
        return int(nib.load(path).shape[3])
    except Exception as err:  # nibabel/h5py/numpy raise many types for damaged files
        raise InputError(f"cannot read betas {path}: {err}") from None


def export_table(mininsd_root: str | Path, out: str | Path, subjects: list[str], space: str = "volume") -> Path:
    """A study table (and its trials tables beside it) describing `subjects` of an NSD-layout study (e.g. the
    mini-NSD) through its own files, of its volume (func1pt8mm) or its fsaverage surface (`space`), so that the
    table reader and the NSD reader read the same data. Returns `out`."""
    from voxelflow.nsd_layout import HEMISPHERES, hemisphere_file
    from voxelflow.nsd_study import NSDStudy

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    surface = space == "fsaverage"
    study = NSDStudy(mininsd_root, "fsaverage" if surface else "func1pt8mm", betas_format="nifti")
    layout = study.layout

    def pair(lh: Path) -> dict:
        return {hemi: str(hemisphere_file(lh, hemi)) for hemi in HEMISPHERES}

    entries = {}
    for name in subjects:
        subject = study.subject(name)
        shared = np.isin(np.concatenate(subject.trial_image_ids), subject.shared_image_ids)
        trials = pd.DataFrame({"session": np.repeat(subject.session_numbers,
                                                    [len(ids) for ids in subject.trial_image_ids]),
                               "image": np.concatenate(subject.trial_image_ids),
                               "split": np.where(shared, "test", "train")})
        trials_path = out.parent / f"{name}_trials.tsv"
        trials.to_csv(trials_path, sep="\t", index=False)
        families = list(study.roi_tables(name))
        if surface:
            entries[name] = {
                "betas": [pair(p) for p in subject.session_paths], "trials": trials_path.name,
                "mask": pair(layout.surface_label("lh", "nsdgeneral")),
                "rois": {f: [pair(layout.surface_label("lh", f)), str(layout.surface_label_table(f))]
                         for f in families},
                **({"ncsnr": pair(layout.surface_ncsnr(name, "lh"))} if layout.surface_ncsnr(name, "lh").is_file()
                   else {}),
            }
            continue
        entries[name] = {
            "betas": [str(p) for p in subject.session_paths], "trials": trials_path.name,
            "mask": str(layout.roi(name, "nsdgeneral")),
            "rois": {f: [str(layout.roi(name, f)), str(layout.label_table(name, f))] for f in families},
            "hemispheres": {h: [str(layout.roi(name, f"{h}.{f}")) for f in families] for h in HEMISPHERES},
            **({"ncsnr": str(layout.ncsnr(name))} if layout.ncsnr(name).is_file() else {}),
            "valid": [str(p) for p in subject.valid_paths if p is not None],
        }
    table = {**({"space": "fsaverage"} if surface else {}), "images": str(layout.stimuli), "subjects": entries}
    out.write_text(yaml.safe_dump(table, sort_keys=False))
    return out
