"""ROI masks over a subject's voxel set: NSD labels, whole families, and named unions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from voxelflow.errors import InputError

# Unions a user can name besides single labels and whole families (e.g. "floc-faces").
ROI_UNIONS: dict[str, tuple[str, ...]] = {
    "V1": ("V1v", "V1d"),
    "V2": ("V2v", "V2d"),
    "V3": ("V3v", "V3d"),
    "EVC": ("V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"),
    "FFA": ("FFA-1", "FFA-2"),
    "VWFA": ("VWFA-1", "VWFA-2"),
    "FBA": ("FBA-1", "FBA-2"),
}


def voxel_labels(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Label of every mask voxel in an NSD ROI volume: (n_voxels,) int, 0 where unlabelled.

    NSD ROI volumes hold -1 outside cortex, 0 for unlabelled cortex and k > 0 for
    label k; both -1 and 0 mean "not in any ROI" here.
    """
    labels = np.asarray(volume)[mask]
    return np.where(labels > 0, labels, 0).astype(np.int16)


@dataclass
class RoiSet:
    """Boolean masks over n_voxels, one per ROI label, grouped by family.

    masks: label name -> (n_voxels,) bool
    families: family name (e.g. "floc-faces") -> its label names in label order
    """

    masks: dict[str, np.ndarray] = field(default_factory=dict)
    families: dict[str, list[str]] = field(default_factory=dict)

    def add_family(self, family: str, labels: np.ndarray, table: dict[int, str]) -> None:
        """Add one family from per-voxel `labels` (n_voxels,) and its label table."""
        self.families[family] = [table[k] for k in sorted(table)]
        for value, name in table.items():
            self.masks[name] = labels == value

    @property
    def names(self) -> list[str]:
        """Every name `mask` accepts: labels, families, and unions whose labels are all present."""
        unions = [u for u, parts in ROI_UNIONS.items() if all(p in self.masks for p in parts)]
        return [*self.masks, *self.families, *unions]

    def mask(self, name: str) -> np.ndarray:
        """(n_voxels,) bool mask of a label ("FFA-1"), a family ("floc-faces") or a union ("V1")."""
        if name in self.masks:
            return self.masks[name]
        parts = self.families.get(name) or ROI_UNIONS.get(name)
        if parts and all(p in self.masks for p in parts):
            return np.logical_or.reduce([self.masks[p] for p in parts])
        raise InputError(f"unknown ROI {name!r}; known ROIs are: {', '.join(self.names)}")

    def present(self, names: list[str]) -> dict[str, np.ndarray]:
        """Masks of those `names` that this subject has and that hold voxels, in the order given."""
        known = set(self.names)
        masks = {name: self.mask(name) for name in names if name in known}
        return {name: mask for name, mask in masks.items() if mask.any()}

    def subset(self, keep: np.ndarray) -> RoiSet:
        """The same ROIs restricted to the voxels where `keep` (n_voxels,) is True."""
        return RoiSet({name: m[keep] for name, m in self.masks.items()}, dict(self.families))
