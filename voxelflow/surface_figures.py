"""Per-vertex maps on the inflated fsaverage surface (nilearn): both hemispheres, lateral, ventral and medial views.

The mesh is the study's own (nsddata/freesurfer/fsaverage/surf/{lh,rh}.inflated and .sulc) when it has one with
the data's vertex count, else nilearn's bundled fsaverage5 (nothing is downloaded). fsaverage's icosahedral
meshes nest: fsaverage5's 10,242 vertices a hemisphere are the first 10,242 of fsaverage's 163,842, so data on a
finer fsaverage is shown at those vertices (a subsample, not an average).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from matplotlib.figure import Figure

VIEWS = [(hemi, view) for hemi in ("left", "right") for view in ("lateral", "ventral", "medial")]
_HEMI = {"lh": "left", "rh": "right"}


@dataclass
class SurfaceMesh:
    """Per hemisphere ("left", "right"): the mesh nilearn plots, its sulcal depth (background), vertex count."""

    meshes: dict
    sulc: dict[str, np.ndarray | None]
    n_vertices: int
    source: str


def surface_mesh(study_root: str | Path | None, n_vertices: int) -> SurfaceMesh:
    """The inflated mesh to show data of `n_vertices` a hemisphere on: the study's fsaverage when it matches,
    else nilearn's bundled fsaverage5."""
    if study_root is not None:
        from voxelflow.nsd_layout import NSDLayout

        surf = NSDLayout(study_root).fsaverage_dir / "surf"
        paths = {side: surf / f"{hemi}.inflated" for hemi, side in _HEMI.items()}
        if all(p.is_file() for p in paths.values()):
            geometry = {side: nib.freesurfer.read_geometry(p) for side, p in paths.items()}
            if all(len(coords) == n_vertices for coords, _ in geometry.values()):
                sulc = {side: _sulc(surf / f"{hemi}.sulc") for hemi, side in _HEMI.items()}
                return SurfaceMesh(geometry, sulc, n_vertices, str(surf))
    from nilearn.datasets import load_fsaverage, load_fsaverage_data

    inflated = load_fsaverage("fsaverage5")["inflated"]
    sulcal = load_fsaverage_data(mesh="fsaverage5", mesh_type="inflated", data_type="sulcal")
    return SurfaceMesh({side: inflated.parts[side] for side in _HEMI.values()},
                       {side: np.asarray(sulcal.data.parts[side]).ravel() for side in _HEMI.values()},
                       len(np.asarray(inflated.parts["left"].coordinates)), "nilearn fsaverage5")


def surface_size(study_root: str | Path, responses) -> int:
    """Vertices a hemisphere of the study's fsaverage data (the responses hold only the masked vertices): from an
    NSD copy's fsaverage label files or an Algonauts release's all-vertices mask; fsaverage's 163,842 else."""
    from voxelflow.algonauts import AlgonautsLayout, is_release
    from voxelflow.nsd_layout import NSDLayout

    if is_release(study_root):
        return len(np.load(AlgonautsLayout(study_root).all_vertices(responses.subject, "lh")))
    labels = sorted((NSDLayout(study_root).fsaverage_dir / "label").glob("lh.*.mgz"))
    return int(nib.load(labels[0]).shape[0]) if labels else 163842


def _sulc(path: Path) -> np.ndarray | None:
    return nib.freesurfer.read_morph_data(path) if path.is_file() else None


def to_hemispheres(values: np.ndarray, hemisphere: np.ndarray, vertex: np.ndarray, n_mesh: int
                   ) -> dict[str, np.ndarray]:
    """Per-voxel values (n,) at (hemisphere "lh"/"rh", vertex) -> {"left", "right": (n_mesh,) float, NaN where no
    vertex}; vertices beyond the mesh (a finer fsaverage) are left out."""
    out = {}
    for hemi, side in _HEMI.items():
        full = np.full(n_mesh, np.nan)
        keep = (hemisphere == hemi) & (vertex < n_mesh)
        full[vertex[keep]] = values[keep]
        out[side] = full
    return out


@dataclass
class SurfaceRow:
    """One row of views: a title, per-voxel values (n,) at (hemisphere (n,) "lh"/"rh", vertex (n,)), and how to
    colour them (|value| < threshold is left grey; NaN too)."""

    title: str
    values: np.ndarray
    hemisphere: np.ndarray
    vertex: np.ndarray
    cmap: str = "cold_hot"
    vmin: float | None = None
    vmax: float | None = None
    threshold: float | None = None
    ticks: dict[float, str] | None = None  # colour-bar tick labels (e.g. layer names), else the values


def surface_maps(rows: list[SurfaceRow], mesh: SurfaceMesh, title: str) -> Figure:
    """One row per SurfaceRow, six views each (left then right hemisphere: lateral, ventral, medial), a colour bar
    per row."""
    from nilearn import plotting

    fig, axes = plt.subplots(len(rows), len(VIEWS), figsize=(2.4 * len(VIEWS), 2.3 * len(rows) + 0.4),
                             subplot_kw={"projection": "3d"}, squeeze=False)
    for r, row in enumerate(rows):
        maps = to_hemispheres(np.asarray(row.values, dtype=np.float64), row.hemisphere, row.vertex,
                              mesh.n_vertices)
        finite = np.concatenate([m[np.isfinite(m)] for m in maps.values()])
        vmax = row.vmax if row.vmax is not None else float(np.percentile(np.abs(finite), 99)) if len(finite) else 1.0
        vmin = row.vmin if row.vmin is not None else -vmax
        for c, (side, view) in enumerate(VIEWS):
            data = np.nan_to_num(maps[side], nan=0.0)  # unselected vertices: 0, under the threshold
            plotting.plot_surf_stat_map(mesh.meshes[side], data, hemi=side, view=view, bg_map=mesh.sulc[side],
                                        axes=axes[r, c], figure=fig, colorbar=False, cmap=row.cmap, vmin=vmin,
                                        vmax=vmax or 1.0, threshold=row.threshold)
            axes[r, c].set_title(f"{side} {view}" if r == 0 else "", fontsize="small")
        axes[r, 0].text2D(-0.05, 0.5, row.title, transform=axes[r, 0].transAxes, rotation=90, ha="right",
                          va="center", fontsize="small")
        mappable = plt.cm.ScalarMappable(cmap=row.cmap, norm=plt.Normalize(vmin, vmax or 1.0))
        bar = fig.colorbar(mappable, ax=axes[r, :].tolist(), fraction=0.015, pad=0.01)
        if row.ticks:
            bar.set_ticks(list(row.ticks), labels=list(row.ticks.values()), fontsize="x-small")
    fig.suptitle(f"{title} (mesh: {mesh.source})", fontsize="medium")
    return fig
