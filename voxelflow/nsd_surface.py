"""NSD on fsaverage: the surface half of the NSD reader (`NSDStudy(root, space="fsaverage")`).

NSD ships fsaverage betas as nsddata_betas/ppdata/subjXX/fsaverage/<betas_version>/{lh,rh}.betas_sessionNN.mgh,
(vertices, 1, 1, 750) float32 percent signal change, NaN where invalid, beside {lh,rh}.ncsnr.mgh; the ROI labels
as nsddata/freesurfer/fsaverage/label/{lh,rh}.<family>.mgz (0 unlabelled, k the k-th label of <family>.mgz.ctab).
A surface subject's "voxels" are the vertices of both hemispheres, left first, that the mask ROI labels; each
keeps its hemisphere and its vertex index within the hemisphere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from voxelflow.atlases.label_tables import read_label_table
from voxelflow.atlases.roi_masks import RoiSet
from voxelflow.errors import InputError
from voxelflow.nsd_layout import HEMISPHERES, SURFACE_SESSION_PATTERN, NSDLayout, hemisphere_file
from voxelflow.nsd_study import Subject


@dataclass
class SurfaceSubject(Subject):
    """A `Subject` whose mask (2 x n_vertices,) bool runs over the vertices of both hemispheres (left first) and
    whose session paths are the left hemisphere's files; `right_paths` the right's (default: beside them, rh. for
    lh.); no affine."""

    right_paths: list[Path] | None = None

    @property
    def n_per_hemisphere(self) -> int:
        return len(self.mask) // 2

    @property
    def ijk(self) -> None:
        return None

    @property
    def vertex(self) -> np.ndarray:
        """(n_voxels,) index of each selected vertex within its hemisphere."""
        return np.flatnonzero(self.mask) % self.n_per_hemisphere

    def read_session(self, index: int) -> np.ndarray:
        """Betas of 0-based session `index`: (n_trials, n_vertices) float32 percent signal change (NaN stays)."""
        lh = self.session_paths[index]
        rh = self.right_paths[index] if self.right_paths else hemisphere_file(lh, "rh")
        parts = [read_surface_values(path, self.n_per_hemisphere, "betas") for path in (lh, rh)]
        return np.concatenate(parts)[self.mask].T.astype(np.float32, copy=False)

    def session_validity(self, index: int) -> None:
        return None  # NSD marks invalid fsaverage betas NaN, which preprocessing leaves out

    def location(self, keep: np.ndarray) -> dict:
        """The response store's location fields of the kept voxels: their vertex indices, no volume."""
        return {"vertex": self.vertex[keep], "ijk": None, "affine": None, "volume_shape": None}


def read_surface_values(path: Path, n_vertices: int | None, what: str) -> np.ndarray:
    """An MGH/MGZ file of per-vertex values -> (n_vertices, ...) array (the singleton axes dropped), checked to
    have `n_vertices` rows when given; an InputError naming the file otherwise."""
    if not path.is_file():
        raise InputError(f"{what} file {path} does not exist")
    try:
        image = nib.load(path)
        data = np.asanyarray(image.dataobj)
    except Exception as err:  # nibabel raises many types for damaged files
        raise InputError(f"cannot read {what} {path}: {err}") from None
    data = data.reshape(data.shape[0], *data.shape[3:]) if data.ndim >= 3 else data
    if n_vertices is not None and data.shape[0] != n_vertices:
        raise InputError(f"{what} {path} has {data.shape[0]} vertices but the hemisphere's labels have {n_vertices}: "
                         f"they belong to different surfaces")
    return data


def surface_session_paths(layout: NSDLayout, subject: str) -> list[Path]:
    """The left hemisphere's betas file of every session, in order; an error for a missing session or hemisphere."""
    folder = layout.surface_dir(subject)
    sessions = {int(m.group(1)): p for p in folder.glob("lh.betas_session*.mgh")
                if (m := SURFACE_SESSION_PATTERN.match(p.name))}
    if not sessions:
        raise InputError(f"no fsaverage betas sessions (lh.betas_sessionNN.mgh) in {folder}")
    for number in range(1, max(sessions) + 1):
        for hemi in HEMISPHERES:
            path = layout.surface_betas_session(subject, number, hemi)
            if not path.is_file():
                raise InputError(f"missing fsaverage betas file {path}: lh sessions {sorted(sessions)} exist")
    return [sessions[n] for n in sorted(sessions)]


def surface_trials(path: Path) -> int:
    """Trials in a session's fsaverage betas (header only)."""
    try:
        shape = nib.load(path).shape
    except Exception as err:
        raise InputError(f"cannot read betas {path}: {err}") from None
    if len(shape) != 4:
        raise InputError(f"fsaverage betas {path} have shape {shape}, not (vertices, 1, 1, trials)")
    return int(shape[3])


def surface_roi_tables(layout: NSDLayout) -> dict[str, dict[int, str]]:
    """{family: {value: name}} of every fsaverage label family with both hemispheres' files and a table."""
    tables = {}
    for path in sorted((layout.fsaverage_dir / "label").glob("lh.*.mgz")):
        family = path.name[3:].removesuffix(".mgz")
        if layout.surface_label("rh", family).is_file() and layout.surface_label_table(family).is_file():
            tables[family] = read_label_table(layout.surface_label_table(family))
    return tables


def read_hemispheres(paths: list[Path], what: str, n_vertices: int | None = None) -> np.ndarray:
    """Per-vertex values of both hemispheres (their files `paths`, left first) -> (2 x vertices,), left first; an
    error naming the files when their vertex counts differ."""
    lh, rh = (read_surface_values(path, n_vertices, what).ravel() for path in paths)
    if len(lh) != len(rh):
        raise InputError(f"{paths[0]} has {len(lh)} vertices but {paths[1]} has {len(rh)}")
    return np.concatenate([lh, rh])


def surface_labels(layout: NSDLayout, family: str, n_vertices: int | None = None) -> np.ndarray:
    """(2 x n_vertices,) int labels of `family` over both hemispheres, left first."""
    paths = [layout.surface_label(hemi, family) for hemi in HEMISPHERES]
    return read_hemispheres(paths, "ROI labels", n_vertices).astype(np.int64)


def surface_roi_set(mask: np.ndarray, families: dict[str, tuple[np.ndarray, dict[int, str]]]) -> RoiSet:
    """The ROI families over the masked vertices ((2 x n,) bool, left first), each vertex with its hemisphere.
    families: name -> (labels (2 x n,) over both hemispheres, 0 or less unlabelled; its label table)."""
    n = len(mask) // 2
    rois = RoiSet(hemisphere=np.repeat(np.array(HEMISPHERES), n)[mask].astype("<U2"))
    for family, (labels, table) in families.items():
        rois.add_family(family, np.maximum(labels[mask], 0).astype(np.int16), table)
    return rois


def surface_rois(layout: NSDLayout, mask: np.ndarray) -> RoiSet:
    """Every fsaverage ROI family over the masked vertices, each with its hemisphere."""
    n = len(mask) // 2
    return surface_roi_set(mask, {family: (surface_labels(layout, family, n), table)
                                  for family, table in surface_roi_tables(layout).items()})


def surface_ncsnr(layout: NSDLayout, subject: str, mask: np.ndarray) -> np.ndarray | None:
    """The study's ncsnr of the masked vertices, or None when it ships none."""
    paths = [layout.surface_ncsnr(subject, hemi) for hemi in HEMISPHERES]
    if not all(p.is_file() for p in paths):
        return None
    return read_hemispheres(paths, "ncsnr", len(mask) // 2)[mask].astype(np.float32)
