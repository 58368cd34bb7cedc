"""ROI masks over a subject's voxel set: NSD's label families, the names the field uses, hemispheres.

NSD ships ROI families whose label names repeat: HCP_MMP1 (Glasser) has labels
"V1" .. "V4" and "RSC" in other voxels than prf-visualrois and floc-places, and
Kastner2015 repeats prf-visualrois' "V1v" .. "hV4". So a name is resolved by
one explicit rule (`RoiSet.resolve`):

1. `lh.` / `rh.` in front of any name keeps that hemisphere's voxels only;
2. a family name ("floc-faces") means all its labels;
3. `family.label` ("HCP_MMP1.V1", "Kastner2015.V1v") means that label of that family;
4. the field's unions: V1 = prf-visualrois V1v + V1d, V2, V3 likewise, EVC = V1-hV4,
   FFA = floc-faces FFA-1 + FFA-2, FBA and VWFA likewise (`FIELD_UNIONS`);
5. any other plain name is a label of the field's own families (prf-visualrois,
   floc-*) if one of them has it, else of the one family that has it;
   a name several families have, with no rule above, is an error listing the
   qualified names to choose from.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from voxelflow.errors import InputError

log = logging.getLogger(__name__)

# Plain names for unions of one family's labels.
FIELD_UNIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "V1": ("prf-visualrois", ("V1v", "V1d")),
    "V2": ("prf-visualrois", ("V2v", "V2d")),
    "V3": ("prf-visualrois", ("V3v", "V3d")),
    "EVC": ("prf-visualrois", ("V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4")),
    "FFA": ("floc-faces", ("FFA-1", "FFA-2")),
    "FBA": ("floc-bodies", ("FBA-1", "FBA-2")),
    "VWFA": ("floc-words", ("VWFA-1", "VWFA-2")),
}


def voxel_labels(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Label of every mask voxel in an NSD ROI volume: (n_voxels,) int16, 0 where unlabelled.

    NSD ROI volumes hold -1 outside cortex, 0 for unlabelled cortex and k > 0 for
    label k; both -1 and 0 mean "not in any ROI" here.
    """
    labels = np.asarray(volume)[mask]
    return np.where(labels > 0, labels, 0).astype(np.int16)


@dataclass(frozen=True)
class RoiDefinition:
    """What a resolved ROI name stands for: labels of one family, optionally one hemisphere."""

    name: str
    family: str
    labels: tuple[str, ...]
    hemisphere: str | None = None

    def describe(self) -> dict:
        """JSON-ready: {"family": ..., "labels": [...], "hemisphere": ...} for tables and summaries."""
        return {"family": self.family, "labels": list(self.labels), "hemisphere": self.hemisphere}


@dataclass
class RoiSet:
    """ROI label families over n_voxels, and each voxel's hemisphere.

    labels: family name -> (n_voxels,) int16 label value per voxel (0 = none)
    tables: family name -> {label value: label name}
    hemisphere: (n_voxels,) str "lh"/"rh", or None when unknown
    """

    labels: dict[str, np.ndarray] = field(default_factory=dict)
    tables: dict[str, dict[int, str]] = field(default_factory=dict)
    hemisphere: np.ndarray | None = None

    def add_family(self, family: str, labels: np.ndarray, table: dict[int, str]) -> None:
        """Add one family from per-voxel `labels` (n_voxels,) int and its label table {value: name}."""
        self.labels[family] = np.asarray(labels, dtype=np.int16)
        self.tables[family] = {int(k): str(v) for k, v in sorted(table.items())}

    @property
    def families(self) -> dict[str, list[str]]:
        """Family name -> its label names in label order."""
        return {family: list(table.values()) for family, table in self.tables.items()}

    @property
    def n_voxels(self) -> int:
        return len(next(iter(self.labels.values()))) if self.labels else 0

    @property
    def names(self) -> list[str]:
        """The plain names `resolve` accepts, then every qualified `family.label`."""
        plain = [*self.families]
        plain += [u for u, (fam, parts) in FIELD_UNIONS.items()
                  if fam in self.tables and set(parts) <= set(self.tables[fam].values())]
        holders = self._holders()
        plain += [label for label, fams in holders.items() if self._plain_family(label, fams)]
        qualified = [f"{fam}.{label}" for fam, table in self.tables.items() for label in table.values()]
        return list(dict.fromkeys(plain + qualified))

    def _holders(self) -> dict[str, list[str]]:
        holders: dict[str, list[str]] = {}
        for family, table in self.tables.items():
            for label in table.values():
                holders.setdefault(label, []).append(family)
        return holders

    @staticmethod
    def _plain_family(label: str, families: list[str]) -> str | None:
        """The family a plain label name means (rule 5), or None if the name is ambiguous."""
        preferred = [f for f in families if f == "prf-visualrois" or f.startswith("floc-")]  # the field's own
        if len(preferred) == 1:
            return preferred[0]
        return families[0] if len(families) == 1 else None

    def resolve(self, name: str) -> RoiDefinition:
        """The family, labels and hemisphere behind ROI `name` (module docstring); InputError naming the known
        names, with the closest matches first, for an unknown or ambiguous name."""
        hemisphere, bare = None, name
        if name[:3] in ("lh.", "rh.") and name[3:]:
            hemisphere, bare = name[:2], name[3:]
            if self.hemisphere is None:
                raise InputError(f"ROI {name!r} asks for one hemisphere, but this subject has no hemisphere labels")
        definition = self._resolve_bare(bare)
        return RoiDefinition(name, definition.family, definition.labels, hemisphere)

    def _resolve_bare(self, name: str) -> RoiDefinition:
        if name in self.tables:
            return RoiDefinition(name, name, tuple(self.tables[name].values()))
        family, dot, label = name.partition(".")
        if dot and family in self.tables:
            if label in self.tables[family].values():
                return RoiDefinition(name, family, (label,))
            raise InputError(f"unknown ROI {name!r}: family {family} has labels "
                             f"{', '.join(self.tables[family].values())}")
        if name in FIELD_UNIONS:
            family, parts = FIELD_UNIONS[name]
            if family in self.tables and set(parts) <= set(self.tables[family].values()):
                return RoiDefinition(name, family, parts)
        holders = self._holders().get(name, [])
        if holders:
            family = self._plain_family(name, holders)
            if family is None:
                raise InputError(f"ROI {name!r} is a label of several families ({', '.join(holders)}); name one: "
                                 f"{', '.join(f'{f}.{name}' for f in holders)}")
            return RoiDefinition(name, family, (name,))
        known = self.names
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        if not close:
            close = [k for k in known if k.lower() == name.lower()]
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        plain = [k for k in known if "." not in k]
        raise InputError(f"unknown ROI {name!r}; {hint}known ROIs: {', '.join(plain)} "
                         f"(or any label as family.label)")

    def mask(self, name: str) -> np.ndarray:
        """(n_voxels,) bool mask of ROI `name` (see `resolve`)."""
        definition = self.resolve(name)
        table = self.tables[definition.family]
        values = [value for value, label in table.items() if label in definition.labels]
        out = np.isin(self.labels[definition.family], values)
        if definition.hemisphere is not None:
            out &= self.hemisphere == definition.hemisphere
        return out

    def present(self, names: list[str], subject: str = "") -> dict[str, np.ndarray]:
        """Masks of `names` in the order given, leaving out (with a warning) those with no voxels in this subject.
        An unknown or ambiguous name is an InputError, never a silent drop."""
        masks = {name: self.mask(name) for name in names}
        for name, mask in masks.items():
            if not mask.any():
                log.warning("%sROI %s holds no voxels; it is left out of the tables",
                            f"{subject}: " if subject else "", name)
        return {name: mask for name, mask in masks.items() if mask.any()}

    def subset(self, keep: np.ndarray) -> RoiSet:
        """The same ROIs restricted to the voxels where `keep` (n_voxels,) is True."""
        hemisphere = None if self.hemisphere is None else self.hemisphere[keep]
        return RoiSet({f: labels[keep] for f, labels in self.labels.items()}, dict(self.tables), hemisphere)


def target_roi_names(expression: str) -> list[list[str]]:
    """The ROI names of a synthesis target expression, per side: "A+B - C" -> [["A", "B"], ["C"]]."""
    sides = [side.strip() for side in expression.split(" - ")]
    if len(sides) > 2 or not all(sides):
        raise InputError(f"synthesis target {expression!r}: write an ROI, ROIs joined by '+', or 'A - B'")
    return [[name.strip() for name in side.split("+")] for side in sides]


def check_roi_names(tables: dict[str, dict[int, str]], names: dict[str, str]) -> None:
    """Resolve every ROI name against a study's label tables before any job runs (`names`: name -> the config key
    that uses it); one InputError naming the key and the closest known names."""
    rois = RoiSet(tables={f: dict(t) for f, t in tables.items()}, hemisphere=np.array([], dtype="<U2"))
    for name, key in names.items():
        try:
            rois.resolve(name)
        except InputError as err:
            raise InputError(f"config.yaml: {key}: {err}") from None


def hemispheres_from_volumes(lh: list[np.ndarray], rh: list[np.ndarray], ijk: np.ndarray) -> np.ndarray:
    """Each voxel's hemisphere from NSD's lh./rh. ROI volumes: (n_voxels,) "lh"/"rh".

    lh, rh: per family, (n_voxels,) values of `lh.<family>` / `rh.<family>` at the voxels, where -1 means
    "outside cortex or the other hemisphere" and 0 or more "cortex of this hemisphere". A voxel goes to the
    hemisphere more of the volumes place it in; a voxel no volume places (or a tie) takes the hemisphere of the
    nearest placed voxel (ijk (n_voxels, 3) voxel indices), never the sign of scanner x, whose zero need not lie
    on the midline.
    """
    votes = sum((v >= 0).astype(int) for v in lh) - sum((v >= 0).astype(int) for v in rh)
    placed = votes != 0
    if not placed.any():
        raise InputError("the lh./rh. ROI volumes place none of the voxels in either hemisphere")
    out = np.where(votes > 0, "lh", "rh").astype("<U2")
    if not placed.all():
        _, nearest = cKDTree(ijk[placed]).query(ijk[~placed])
        out[~placed] = out[placed][nearest]
        log.info("%d voxels lie in neither hemisphere's ROI volumes; each took its nearest voxel's hemisphere",
                 int((~placed).sum()))
    return out
