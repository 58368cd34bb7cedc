"""Synthetic anatomy of a mini-NSD subject: brain, cortex, ROI volumes and voxel tuning.

The volume is an ellipsoid brain in RAS voxel order (i: left to right, j:
posterior to anterior, k: inferior to superior) whose outer shell is "cortex".
nsdgeneral is the posterior cortex. Within it, early visual areas V1-hV4 are
bands along the posterior-anterior axis with a retinotopic map (ventral ->
upper visual field, left hemisphere -> right visual field, eccentricity rising
anteriorly within each area), and the floc category ROIs are blobs further
anterior. ROI volumes follow NSD's convention: -1 outside cortex, 0 unlabelled
cortex, k > 0 the k-th label of the family's label table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxelflow.mininsd.scenes import CATEGORIES
from voxelflow.mininsd.true_brain import TrueBrain

# Label tables exactly as NSD's *.mgz.ctab files list them.
ROI_LABELS: dict[str, list[str]] = {
    "nsdgeneral": ["nsdgeneral"],
    "prf-visualrois": ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"],
    "floc-bodies": ["EBA", "FBA-1", "FBA-2", "mTL-bodies"],
    "floc-faces": ["OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"],
    "floc-places": ["OPA", "PPA", "RSC"],
    "floc-words": ["OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"],
    "streams": ["early", "midventral", "midlateral", "midparietal", "ventral", "lateral", "parietal"],
    # Real NSD's traps: Glasser's parcellation names labels V1-V4 and RSC (other voxels than the pRF maps and
    # floc-places), and Kastner2015 repeats prf-visualrois' names; both have V3A.
    "HCP_MMP1": ["V1", "MST", "V6", "V2", "V3", "V4", "V8", "RSC", "V3A", "FFC"],
    "Kastner2015": ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4", "VO1", "VO2", "PHC1", "PHC2", "TO2", "TO1",
                    "LO2", "LO1", "V3B", "V3A"],
}
MIDLINE_X_MM = 9.0  # scanner x of the midline: x = 0 lies 5 voxels into the left hemisphere
FLOC_CATEGORY = {"floc-faces": "face", "floc-bodies": "body", "floc-places": "place", "floc-words": "word"}

# Early visual areas: (first label, posterior depth range within nsdgeneral, pRF size factor, CSS exponent)
_EARLY_AREAS = [
    ("V1", 0.0, 0.26, 1.0, 0.6),
    ("V2", 0.26, 0.37, 1.4, 0.5),
    ("V3", 0.37, 0.46, 1.8, 0.45),
    ("hV4", 0.46, 0.55, 2.4, 0.4),
]
# Category blobs: family, label, (depth, |lateral|, vertical) centre, hemispheres ("lr" both), radius
_BLOBS = [
    ("floc-faces", "OFA", (0.6, 0.85, -0.05), "lr", 0.28),
    ("floc-faces", "FFA-1", (0.72, 0.55, -0.65), "lr", 0.28),
    ("floc-faces", "FFA-2", (0.88, 0.55, -0.65), "lr", 0.28),
    ("floc-bodies", "EBA", (0.62, 0.9, 0.3), "lr", 0.28),
    ("floc-bodies", "FBA-1", (0.78, 0.7, -0.35), "lr", 0.28),
    ("floc-places", "OPA", (0.62, 0.55, 0.75), "lr", 0.28),
    ("floc-places", "PPA", (0.82, 0.25, -0.7), "lr", 0.28),
    ("floc-places", "RSC", (0.9, 0.15, 0.45), "lr", 0.28),
    ("floc-words", "OWFA", (0.64, 0.75, -0.45), "l", 0.36),
    ("floc-words", "VWFA-1", (0.8, 0.7, -0.55), "l", 0.36),
    ("floc-words", "VWFA-2", (0.94, 0.7, -0.55), "l", 0.36),
    ("food", "food", (0.66, 0.3, -0.5), "lr", 0.36),
]


@dataclass
class Anatomy:
    """One subject's synthetic anatomy.

    `brainmask` is (X, Y, Z) bool; `roi_volumes[family]` (X, Y, Z) int16 with
    NSD's -1/0/k convention; the per-voxel arrays are over nsdgeneral voxels in
    C order of (i, j, k), the order the reader uses: `ijk` (n_voxels, 3),
    `kind` (n_voxels,) str ("V1".."hV4", "face", "body", "place", "word",
    "food", "other"), `ncsnr` (n_voxels,) the planted noise-ceiling SNR, and
    `true_brain` the planted tuning without standardisation constants; `left` (X, Y, Z) bool the left
    hemisphere (for the lh./rh. ROI volumes).
    """

    affine: np.ndarray
    brainmask: np.ndarray
    roi_volumes: dict[str, np.ndarray]
    ijk: np.ndarray
    kind: np.ndarray
    ncsnr: np.ndarray
    true_brain: TrueBrain
    left: np.ndarray


def _coordinates(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised ellipsoid coordinates in [-1, 1] along each axis."""
    axes = [(np.arange(n) + 0.5) / n * 2 - 1 for n in shape]
    return np.meshgrid(*axes, indexing="ij")


def build_anatomy(shape: tuple[int, int, int], image_size: int, rng: np.random.Generator) -> Anatomy:
    """Lay out brain, ROIs and planted tuning on a grid of `shape` voxels (1.8 mm, RAS)."""
    u, v, w = _coordinates(shape)
    radius = np.sqrt(u**2 + v**2 + w**2)
    brain = radius <= 0.95
    cortex = brain & (radius >= 0.6)
    layout = lay_out_rois(u, v, w, cortex, rng)
    general = layout.general
    ijk = np.argwhere(general)
    tuning = plant_tuning(layout.kind[general].astype(str), u[general], w[general], layout.depth[general], image_size,
                          rng)
    affine = np.diag([1.8, 1.8, 1.8, 1.0])
    affine[:3, 3] = -0.9 * np.array(shape)
    affine[0, 3] += MIDLINE_X_MM  # as in NSD, scanner x = 0 need not lie on the midline
    return Anatomy(affine, brain, layout.volumes, ijk, layout.kind[general].astype(str), *tuning, left=u < 0)


@dataclass
class RoiLayout:
    """ROIs laid out over points (grid voxels or surface vertices) of any shape S: `volumes[family]` S int16 with
    NSD's -1/0/k convention, `general` S bool (nsdgeneral), `kind` S object (planted kind, "" outside
    nsdgeneral), `depth` S float (0 at the occipital pole, 1 at nsdgeneral's anterior edge)."""

    volumes: dict[str, np.ndarray]
    general: np.ndarray
    kind: np.ndarray
    depth: np.ndarray


def lay_out_rois(u: np.ndarray, v: np.ndarray, w: np.ndarray, cortex: np.ndarray, rng: np.random.Generator
                 ) -> RoiLayout:
    """NSD's ROI families over points with normalised coordinates u (left -1 to right 1), v (posterior -1 to
    anterior 1), w (inferior -1 to superior 1), arrays of one shape; `cortex` marks the points that can be
    labelled (the others are -1)."""
    shape = u.shape
    general = cortex & (v < -0.1)
    depth = (v + 1) / 0.9  # 0 at the occipital pole, 1 at nsdgeneral's anterior edge
    lateral = np.abs(u)

    volumes = {family: np.where(cortex, 0, -1).astype(np.int16) for family in ROI_LABELS}
    volumes["nsdgeneral"][general] = 1

    kind = np.full(shape, "", dtype=object)
    kind[general] = "other"
    # Early visual bands, split ventral (v) / dorsal (d) for V1-V3.
    area_of = np.full(shape, -1)
    for a, (name, lo, hi, _, _) in enumerate(_EARLY_AREAS):
        band = general & (depth >= lo) & (depth < hi)
        if name == "hV4":
            band &= w < 0
            volumes["prf-visualrois"][band] = 7
        else:
            first = ROI_LABELS["prf-visualrois"].index(name + "v") + 1
            volumes["prf-visualrois"][band] = np.where(w[band] < 0, first, first + 1)
        kind[band] = name
        area_of[band] = a

    # Category blobs: nearest centre wins within a family; planted kind by nearest blob overall.
    best = {family: np.full(shape, np.inf) for family in list(FLOC_CATEGORY) + ["food"]}
    nearest_kind_dist = np.full(shape, np.inf)
    for family, label, (d0, l0, w0), hemis, blob_radius in _BLOBS:
        jitter = rng.normal(0, 0.03, 3)
        for hemi in hemis:
            side = u < 0 if hemi == "l" else u >= 0
            dist = np.sqrt(((depth - d0 - jitter[0]) / 1.2) ** 2 + (lateral - l0 - jitter[1]) ** 2
                           + (w - w0 - jitter[2]) ** 2)
            inside = general & side & (dist < blob_radius) & (area_of < 0) & (dist < best[family])
            best[family][inside] = dist[inside]
            if family != "food":
                volumes[family][inside] = ROI_LABELS[family].index(label) + 1
            closer = inside & (dist < nearest_kind_dist)
            nearest_kind_dist[closer] = dist[closer]
            kind[closer] = FLOC_CATEGORY.get(family, "food")

    streams = volumes["streams"]
    streams[general & (area_of >= 0)] = 1
    later = general & (area_of < 0)
    for stage, (lo, hi) in enumerate([(0.0, 0.72), (0.72, 2.0)]):
        band = later & (depth >= lo) & (depth < hi)
        streams[band & (w < -0.25)] = 2 + 3 * stage  # midventral / ventral
        streams[band & (w >= -0.25) & (w < 0.35)] = 3 + 3 * stage  # midlateral / lateral
        streams[band & (w >= 0.35)] = 4 + 3 * stage  # midparietal / parietal

    _atlas_traps(volumes, general, depth, w)
    return RoiLayout(volumes, general, kind, depth)


def _atlas_traps(volumes: dict[str, np.ndarray], general: np.ndarray, depth: np.ndarray, w: np.ndarray) -> None:
    """Label HCP_MMP1 and Kastner2015 in other voxels than the same names in prf-visualrois (in place)."""
    hcp, kastner = volumes["HCP_MMP1"], volumes["Kastner2015"]
    hcp_labels, kastner_labels = ROI_LABELS["HCP_MMP1"], ROI_LABELS["Kastner2015"]
    # Glasser's V1-V4: bands shifted anteriorly by about one pRF band (a voxel or more on every grid)
    for name, (lo, hi) in zip(("V1", "V2", "V3", "V4"), [(0.2, 0.42), (0.42, 0.52), (0.52, 0.62), (0.62, 0.72)]):
        hcp[general & (depth >= lo) & (depth < hi)] = hcp_labels.index(name) + 1
    hcp[general & (depth >= 0.72) & (depth < 0.8) & (w > 0.3)] = hcp_labels.index("V3A") + 1
    hcp[general & (depth >= 0.8) & (w > 0.2)] = hcp_labels.index("RSC") + 1
    # Kastner's V1-hV4: ventral and dorsal swapped, bands shifted anteriorly by 0.12 of nsdgeneral
    for a, (lo, hi) in enumerate([(0.12, 0.38), (0.38, 0.49), (0.49, 0.58)]):
        band = general & (depth >= lo) & (depth < hi)
        kastner[band] = np.where(w[band] >= 0, 2 * a + 1, 2 * a + 2)
    kastner[general & (depth >= 0.58) & (depth < 0.67) & (w < 0)] = kastner_labels.index("hV4") + 1
    kastner[general & (depth >= 0.58) & (depth < 0.75) & (w > 0.3)] = kastner_labels.index("V3A") + 1


def plant_tuning(kind: np.ndarray, u: np.ndarray, w: np.ndarray, depth: np.ndarray, image_size: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, TrueBrain]:
    """Per-point pRFs, category weights and ncsnr of nsdgeneral's points (n,): their planted kind, coordinates
    u, w and depth (`lay_out_rois`). Returns (ncsnr (n,), the true brain without standardisation constants)."""
    n = len(kind)
    scale = image_size / 64
    centre = image_size / 2
    prf_x = rng.uniform(0, image_size, n)
    prf_y = rng.uniform(0, image_size, n)
    prf_sigma = np.full(n, 12.0 * scale)
    prf_exponent = np.full(n, 0.5)
    prf_weight = np.zeros(n)
    cat_w = np.zeros((n, len(CATEGORIES)))
    ncsnr = rng.uniform(0.0, 0.35, n)

    for name, lo, hi, size_factor, exponent in _EARLY_AREAS:
        sel = kind == name
        ecc_frac = np.clip((depth[sel] - lo) / (hi - lo) + rng.normal(0, 0.05, sel.sum()), 0, 1)
        ecc = (2 + 0.42 * 64 * ecc_frac) * scale
        angle = np.pi / 2 * np.clip(-w[sel] / 0.8, -1, 1) + rng.normal(0, 0.1, sel.sum())
        angle = np.clip(angle, -0.95 * np.pi / 2, 0.95 * np.pi / 2)  # stay in the contralateral field
        hemi_sign = np.where(u[sel] < 0, 1.0, -1.0)  # left hemisphere sees the right field
        prf_x[sel] = centre + hemi_sign * ecc * np.cos(angle)
        prf_y[sel] = centre - ecc * np.sin(angle)
        prf_sigma[sel] = (1.0 + 0.12 * ecc / scale) * size_factor * scale
        prf_exponent[sel] = exponent
        prf_weight[sel] = 1.0
        ncsnr[sel] = rng.uniform(0.4, 1.3, sel.sum())

    for c, category in enumerate(CATEGORIES):
        sel = kind == category
        cat_w[sel] = rng.uniform(-0.1, 0.2, (sel.sum(), len(CATEGORIES)))
        cat_w[sel, c] = rng.uniform(0.7, 1.2, sel.sum())
        ncsnr[sel] = rng.uniform(0.35, 1.1, sel.sum())

    other = kind == "other"
    prf_weight[other] = rng.uniform(0, 0.5, other.sum())
    cat_w[other] = rng.uniform(-0.1, 0.3, (other.sum(), len(CATEGORIES)))
    ncsnr[rng.random(n) < 0.05] = 0.0  # a few voxels carry no signal at all

    brain = TrueBrain(image_size, prf_x, prf_y, prf_sigma, prf_exponent, prf_weight, cat_w,
                      signal_mean=np.zeros(n), signal_std=np.ones(n))
    return ncsnr, brain
