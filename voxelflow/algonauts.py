"""The Algonauts 2023 challenge release as a study: its folder read into a vertex response store, its images, and
its submission format.

The release, per subject (names as the challenge's devkit reads them):
    subjXX/training_split/training_images/train-0001_nsd-00013.png   (425 x 425 RGB; nsd- the 0-based 73k id)
    subjXX/training_split/training_fmri/{lh,rh}_training_fmri.npy    (training images x challenge vertices, float32:
                                                                       z-scored per session, averaged over repeats)
    subjXX/test_split/test_images/test-0001_nsd-XXXXX.png
    subjXX/test_split/test_fmri/{lh,rh}_test_fmri.npy                (released after the challenge)
    subjXX/test_split/noise_ceiling/{lh,rh}_noise_ceiling.npy        (ditto; a fraction, per challenge vertex)
    subjXX/roi_masks/{lh,rh}.all-vertices_fsaverage_space.npy        (163842: 1 where a challenge vertex is)
    subjXX/roi_masks/{lh,rh}.<family>_challenge_space.npy            (a label per challenge vertex)
    subjXX/roi_masks/mapping_<family>.npy                            (a pickled dict label -> name, 0 Unknown)
The training fMRI's rows follow the training images' file order. Submissions are
algonauts_2023_challenge_submission/subjXX/{lh,rh}_pred_test.npy, float32 (test images x challenge vertices).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from voxelflow.atlases.roi_masks import RoiSet
from voxelflow.errors import InputError
from voxelflow.nsd_layout import HEMISPHERES
from voxelflow.responses import ResponseSet

ROI_FAMILIES = ("prf-visualrois", "floc-bodies", "floc-faces", "floc-places", "floc-words", "streams")
IMAGE_NAME = re.compile(r"^(train|test)-(\d{4})_nsd-(\d{5})\.png$")
SUBMISSION_DIR = "algonauts_2023_challenge_submission"
N_NSD_IMAGES = 73000


class AlgonautsLayout:
    """Paths of an Algonauts 2023 release rooted at `root` (the folder holding subj01 .. subj08)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def subjects(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("subj[0-9][0-9]") if (p / "training_split").is_dir())

    def images_dir(self, subject: str, split: str) -> Path:
        """The folder of a subject's `split` ("train" or "test") images."""
        return self.root / subject / ("training_split/training_images" if split == "train" else
                                      "test_split/test_images")

    def fmri(self, subject: str, split: str, hemi: str) -> Path:
        folder = "training_split/training_fmri" if split == "train" else "test_split/test_fmri"
        return self.root / subject / folder / f"{hemi}_{'training' if split == 'train' else 'test'}_fmri.npy"

    def noise_ceiling(self, subject: str, hemi: str) -> Path:
        return self.root / subject / f"test_split/noise_ceiling/{hemi}_noise_ceiling.npy"

    def roi_masks(self, subject: str) -> Path:
        return self.root / subject / "roi_masks"

    def all_vertices(self, subject: str, hemi: str) -> Path:
        return self.roi_masks(subject) / f"{hemi}.all-vertices_fsaverage_space.npy"

    def challenge_labels(self, subject: str, hemi: str, family: str) -> Path:
        return self.roi_masks(subject) / f"{hemi}.{family}_challenge_space.npy"

    def mapping(self, subject: str, family: str) -> Path:
        return self.roi_masks(subject) / f"mapping_{family}.npy"

    def input_files(self, subject: str) -> list[Path]:
        """Every file reading `subject` opens (its images excepted: the features read those)."""
        files = [self.fmri(subject, split, hemi) for split in ("train", "test") for hemi in HEMISPHERES]
        files += [self.noise_ceiling(subject, hemi) for hemi in HEMISPHERES]
        files += [self.all_vertices(subject, hemi) for hemi in HEMISPHERES]
        files += [self.challenge_labels(subject, hemi, f) for f in ROI_FAMILIES for hemi in HEMISPHERES]
        files += [self.mapping(subject, f) for f in ROI_FAMILIES]
        return [path for path in files if path.is_file()]


def is_release(path: str | Path) -> bool:
    """True when `path` is an Algonauts 2023 release folder (subjXX/training_split inside)."""
    return Path(path).is_dir() and bool(AlgonautsLayout(path).subjects())


class ReleaseImages:
    """The release's images by 0-based NSD id, from every subject's PNGs: `missing(ids)`, `images[ids]` -> (n, H,
    W, 3) uint8 (the stimulus brick's interface)."""

    def __init__(self, root: str | Path):
        layout = AlgonautsLayout(root)
        self.root = layout.root
        self.paths = {}
        for subject in layout.subjects():
            for split in ("train", "test"):
                folder = layout.images_dir(subject, split)
                for path in folder.glob("*.png") if folder.is_dir() else []:
                    if (match := IMAGE_NAME.match(path.name)):
                        self.paths.setdefault(int(match.group(3)), path)

    def missing(self, ids: np.ndarray) -> np.ndarray:
        return np.array([i for i in np.asarray(ids).ravel() if int(i) not in self.paths], dtype=np.int64)

    def __getitem__(self, ids) -> np.ndarray:
        from PIL import Image

        return np.stack([np.asarray(Image.open(self.paths[int(i)]).convert("RGB")) for i in np.asarray(ids)])


def image_ids(layout: AlgonautsLayout, subject: str, split: str) -> np.ndarray:
    """0-based NSD ids of a subject's `split` ("train" or "test") images, in file order (the fMRI's row order)."""
    folder = layout.images_dir(subject, split)
    if not folder.is_dir():
        raise InputError(f"Algonauts 2023 release: {folder} does not exist")
    named = sorted((m.group(2), int(m.group(3))) for p in folder.iterdir() if (m := IMAGE_NAME.match(p.name)))
    if not named:
        raise InputError(f"Algonauts 2023 release: no images named like {split}-0001_nsd-00013.png in {folder}")
    return np.array([nsd for _, nsd in named], dtype=np.int64)


def roi_tables(layout: AlgonautsLayout, subject: str) -> dict[str, dict[int, str]]:
    """{family: {label: name}} from the release's mapping files (0, "Unknown", dropped)."""
    tables = {}
    for family in ROI_FAMILIES:
        path = layout.mapping(subject, family)
        if path.is_file():
            mapping = np.load(path, allow_pickle=True).item()
            tables[family] = {int(k): str(v) for k, v in mapping.items() if int(k) > 0}
    return tables


def _load(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"Algonauts 2023 release: {what} {path} does not exist")
    try:
        return np.load(path)
    except (OSError, ValueError) as err:
        raise InputError(f"Algonauts 2023 release: cannot read {what} {path}: {err}") from None


def _rows(layout: AlgonautsLayout, subject: str, split: str, hemi: str, n_images: int) -> np.ndarray:
    """One hemisphere's fMRI of a split, checked to hold a row per image of the split's folder."""
    path = layout.fmri(subject, split, hemi)
    fmri = _load(path, f"{split} fMRI")
    if fmri.ndim != 2 or len(fmri) != n_images:
        raise InputError(f"Algonauts 2023 release: {path} has shape {fmri.shape}, but "
                         f"{layout.images_dir(subject, split)} holds {n_images} images (one row each)")
    return fmri


def validation_images(ids: np.ndarray, share: float, seed: int = 0) -> np.ndarray:
    """(n,) bool: which of the images `ids` (0-based NSD ids) are held out for validation. The draw is per image
    id, not per row, so every subject holds out the same images among those they share (NSD's shared images in
    the training sets): RSA and cross-subject comparisons get common held-out images. About `share` of the
    images; at least 2."""
    chosen = np.random.default_rng(seed).random(N_NSD_IMAGES)[ids] < share
    if chosen.sum() < 2:
        raise InputError(f"algonauts.validation: {share} of {len(ids)} training images holds out {chosen.sum()}; "
                         f"at least 2 are needed")
    return chosen


def read_subject(root: str | Path, subject: str, validation: float = 0.1, seed: int = 0) -> ResponseSet:
    """A subject of the release as a vertex response store (challenge vertices, left hemisphere first).

    Held-out images: the released test images when the release has their fMRI (after the challenge), with the
    release's noise ceiling; else a validation split of about `validation` of the training images drawn with
    `seed` (as the devkit's tutorial carves one; `validation_images`), whose noise ceiling is the release's test one where shipped (the same
    repeat design) and unavailable (NaN) otherwise: attribute `noise_ceiling_source` says which. The release's
    responses are already repeat averages: `repeats` is 1 and there are no single trials.
    """
    layout = AlgonautsLayout(root)
    if not (layout.root / subject).is_dir():
        raise InputError(f"unknown subject {subject!r}: {layout.root} has {', '.join(layout.subjects()) or 'none'}")
    train_ids = image_ids(layout, subject, "train")
    fmri = np.concatenate([_rows(layout, subject, "train", h, len(train_ids)) for h in HEMISPHERES], axis=1)
    masks = [_load(layout.all_vertices(subject, h), "vertex mask").astype(bool) for h in HEMISPHERES]
    counts = [int(m.sum()) for m in masks]
    if fmri.shape[1] != sum(counts):
        raise InputError(f"Algonauts 2023 release: {subject}'s fMRI has {fmri.shape[1]} vertices but its "
                         f"all-vertices masks mark {counts[0]} + {counts[1]}")
    nc_paths = [layout.noise_ceiling(subject, h) for h in HEMISPHERES]
    nc = np.concatenate([_load(p, "noise ceiling") for p in nc_paths]) * 100 if all(p.is_file() for p in nc_paths) \
        else np.full(fmri.shape[1], np.nan)
    released = all(layout.fmri(subject, "test", h).is_file() for h in HEMISPHERES)
    if released:
        test_ids = image_ids(layout, subject, "test")
        test = np.concatenate([_rows(layout, subject, "test", h, len(test_ids)) for h in HEMISPHERES], axis=1)
        ids, responses = np.concatenate([train_ids, test_ids]), np.concatenate([fmri, test])
        is_test = np.r_[np.zeros(len(train_ids), bool), np.ones(len(test_ids), bool)]
        source = "release (test images)"
    else:
        ids, responses = train_ids, fmri
        is_test = validation_images(ids, validation, seed)
        source = "release's test noise ceiling (validation images)" if np.isfinite(nc).all() else "unavailable"
    order = np.argsort(ids, kind="stable")
    hemisphere = np.repeat(np.array(HEMISPHERES), counts)
    rois = RoiSet(hemisphere=hemisphere.astype("<U2"))
    for family, table in roi_tables(layout, subject).items():
        labels = np.concatenate([_load(layout.challenge_labels(subject, h, family), "ROI labels")
                                 for h in HEMISPHERES])
        rois.add_family(family, labels.astype(np.int16), table)
    n_vertices = responses.shape[1]
    return ResponseSet(
        subject=subject, responses=responses[order].astype(np.float32), image_ids=ids[order],
        split=np.where(is_test[order], "test", "train"), repeats=np.ones(len(ids), np.int16),
        ijk=None, affine=None, volume_shape=None, rois=rois,
        ncsnr=np.full(n_vertices, np.nan, np.float32), ncsnr_source="none",
        ncsnr_estimated=np.full(n_vertices, np.nan, np.float32), noise_ceiling=nc.astype(np.float32),
        valid_sessions=None,
        vertex=np.concatenate([np.flatnonzero(m) for m in masks]),
        attrs={"space": "fsaverage", "dataset": "algonauts2023", "study_root": str(root),
               "noise_ceiling_source": source, "test_split": "release test" if released else f"validation {validation}",
               "hemisphere_source": "Algonauts all-vertices masks"})


def write_submission(folder: str | Path, subject: str, predictions: np.ndarray, hemisphere: np.ndarray) -> list[Path]:
    """A subject's test predictions (n_test, n_vertices) in the challenge's format: folder/SUBMISSION_DIR/subjXX/
    {lh,rh}_pred_test.npy, float32, challenge vertices in order; the hemisphere (n_vertices,) of each column
    splits them. Returns the two paths."""
    out = Path(folder) / SUBMISSION_DIR / subject
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for hemi in HEMISPHERES:
        path = out / f"{hemi}_pred_test.npy"
        np.save(path, np.ascontiguousarray(predictions[:, hemisphere == hemi], dtype=np.float32))
        paths.append(path)
    return paths


def score_rows(subject: str, model: str, r: np.ndarray, noise_ceiling: np.ndarray, masks: dict[str, np.ndarray],
               held_out: str, noise_ceiling_source: str) -> list[dict]:
    """Algonauts-style score rows of one subject and model: for all vertices and each ROI (name -> (n,) bool), the
    vertex count, mean Pearson r on the held-out images and the challenge's noise-normalised score
    (`encoding_metrics.algonauts_accuracy`'s mean; NaN where the noise ceiling is unavailable)."""
    from voxelflow.encoding_metrics import algonauts_accuracy

    accuracy = algonauts_accuracy(r, noise_ceiling)
    rows = []
    for roi, mask in {"all vertices": np.ones(len(r), bool), **masks}.items():
        if mask.any():
            rows.append({"subject": subject, "model": model, "roi": roi, "n_vertices": int(mask.sum()),
                         "mean_r": float(np.nanmean(r[mask])), "algonauts_score": float(np.mean(accuracy[mask])),
                         "held_out": held_out, "noise_ceiling": noise_ceiling_source})
    return rows


def score_table(rows: list[dict]) -> pd.DataFrame:
    """`score_rows` of every subject and model, and per model and ROI the challenge's number over subjects: the
    vertex-weighted mean (every vertex of every subject weighs the same), subject "all subjects"; a subject without
    a score (NaN) leaves the mean without one."""
    table = pd.DataFrame(rows)
    weighted = table.assign(r_sum=table.mean_r * table.n_vertices, score_sum=table.algonauts_score * table.n_vertices)

    def total(values: pd.Series) -> float:
        return float(np.sum(values.to_numpy()))  # NaN stays NaN, unlike pandas' sum

    mean = weighted.groupby(["model", "roi"], sort=False).agg(
        n_vertices=("n_vertices", "sum"), r_sum=("r_sum", total), score_sum=("score_sum", total),
        held_out=("held_out", "first"), noise_ceiling=("noise_ceiling", "first")).reset_index()
    mean = mean.assign(subject="all subjects", mean_r=mean.r_sum / mean.n_vertices,
                       algonauts_score=mean.score_sum / mean.n_vertices)
    return pd.concat([table, mean[table.columns]], ignore_index=True)
