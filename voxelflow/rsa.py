"""Representational geometry of ROIs and models with rsatoolbox: RDMs, model comparisons with noise ceilings,
the geo-topological family (topological RSA, Lin & Kriegeskorte), and ROI identification across subjects.

RDMs are over the test images every subject saw (NSD's shared images). Brain RDMs: the crossnobis distance
(cross-validated Mahalanobis, Walther et al. 2016) between the ROI's patterns over the test images' repeats where
the response store keeps them (preprocess.keep_trials), noise-normalised by the trials' residuals; else the
correlation distance between trial-averaged patterns. Crossnobis is unbiased (zero expected for two images the ROI
does not tell apart, so it can be negative), which repeat averaging's distances are not. Model RDMs: a layer's
features, tokens flattened, in the brain RDMs' distance family (correlation distance; squared Euclidean distance
beside crossnobis). A geo-topological transform (`rsatoolbox.rdm.geotopological_transform`)
sets dissimilarities below the `low` quantile of an RDM to 0, above the `up` quantile to 1, linear between; (0, 1)
is a min-max rescaling, i.e. plain RSA for correlation-based comparisons.
"""

from __future__ import annotations

import logging
from copy import deepcopy

import numpy as np
import pandas as pd
from rsatoolbox.data import Dataset
from rsatoolbox.data.noise import prec_from_residuals
from rsatoolbox.inference import eval_bootstrap_pattern
from rsatoolbox.model import ModelFixed
from rsatoolbox.rdm import RDMs, calc_rdm, compare, concat, geotopological_transform

from voxelflow.errors import InputError
from voxelflow.responses import ResponseSet

log = logging.getLogger(__name__)


def shared_test_images(responses: list[ResponseSet], min_repeats: int = 1) -> np.ndarray:
    """(n,) sorted ids of the test images every subject has, seen at least `min_repeats` times by each (crossnobis
    needs 2); an error naming the subjects when fewer than 3."""
    ids = None
    for data in responses:
        seen = data.image_ids[data.is_test & (data.repeats >= min_repeats)]
        ids = seen if ids is None else np.intersect1d(ids, seen)
    if len(ids) < 3:
        raise InputError(f"RSA needs at least 3 test images common to {', '.join(r.subject for r in responses)}"
                         f"{f' with {min_repeats} or more repeats' if min_repeats > 1 else ''}; they share {len(ids)}")
    return np.unique(ids)


def _rdm(patterns: np.ndarray, image_ids: np.ndarray, labels: dict, method: str = "correlation") -> RDMs:
    """RDM (rsatoolbox `method`) of patterns (n_images, n_channels), pattern descriptor `image`, and `labels` as
    its rdm descriptors (set here: `concat` keeps a dataset descriptor that all its RDMs share out of them)."""
    dataset = Dataset(patterns.reshape(len(patterns), -1).astype(np.float64), obs_descriptors={"image": image_ids})
    rdm = calc_rdm(dataset, method=method, descriptor="image")
    rdm.rdm_descriptors.update({key: [value] for key, value in labels.items()})
    return rdm


def roi_rdms(responses: ResponseSet, rois: list[str], image_ids: np.ndarray, distance: str = "correlation",
             noise: str = "multivariate") -> RDMs:
    """One RDM per ROI of `rois` holding voxels (rdm descriptors `roi`, `subject`) over `image_ids`.

    distance: "correlation" (trial-averaged patterns) or "crossnobis" (the test images' single trials, read with
    `read_responses(..., test_trials=True)`; `repeat_folds` says which); noise: crossnobis's noise normalisation,
    "multivariate" (rsatoolbox's shrinkage covariance of the residuals: n_voxels^2 memory) or "univariate" (each
    voxel by its residual standard deviation)."""
    masks = responses.rois.present(rois, responses.subject)
    labels = {roi: {"roi": roi, "subject": responses.subject} for roi in masks}
    if distance == "correlation":
        patterns = responses.responses[np.searchsorted(responses.image_ids, image_ids)]
        return _stack([_rdm(patterns[:, mask], image_ids, labels[roi]) for roi, mask in masks.items()
                       if mask.sum() >= 2])
    if distance != "crossnobis":
        raise InputError(f"rsa.distance must be correlation or crossnobis, got {distance!r}")
    trials, ids, folds = repeat_folds(responses, image_ids)
    return _stack([crossnobis_rdm(trials[:, mask], ids, folds, noise, labels[roi]) for roi, mask in masks.items()
                   if mask.sum() >= 2])


def repeat_folds(responses: ResponseSet, image_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test images' single trials as cross-validation folds: (trials (n, n_voxels), their image ids (n,),
    fold (n,)): fold k holds each image's (k+1)-th trial, for as many folds as the image with fewest repeats
    allows (extra repeats of other images are left out, so every fold holds every image once). An error naming
    the subject when its store has no test trials or an image has fewer than 2."""
    stored = responses.test_trials
    if stored is None:
        raise InputError(f"crossnobis RDMs need {responses.subject}'s single trials of the test images: set "
                         f"preprocess.keep_trials: true (or rsa.distance: correlation)")
    chosen = np.flatnonzero(np.isin(stored.image_ids, image_ids))
    ids = stored.image_ids[chosen]
    order = np.argsort(ids, kind="stable")  # trial order within an image
    repeat = np.empty(len(ids), np.int64)
    repeat[order] = np.arange(len(ids)) - np.searchsorted(ids[order], ids[order])
    counts = np.bincount(np.searchsorted(image_ids, ids), minlength=len(image_ids))
    if counts.min() < 2:
        raise InputError(f"crossnobis RDMs need 2 or more repeats of every test image, but {responses.subject} has "
                         f"{counts.min()} of image {image_ids[np.argmin(counts)]} (rsa.distance: correlation)")
    kept = repeat < counts.min()
    return stored.responses[chosen[kept]].astype(np.float64), ids[kept], repeat[kept]


def crossnobis_rdm(trials: np.ndarray, image_ids: np.ndarray, folds: np.ndarray, noise: str,
                   labels: dict) -> RDMs:
    """Crossnobis RDM (rsatoolbox: leave one fold out, divided by n_voxels) of single trials (n, n_voxels) with
    their image ids (n,) and folds (n,) (every fold holding every image once), noise-normalised by the residuals
    around each image's mean (`roi_rdms` says how); rdm descriptors `labels`."""
    _, inverse = np.unique(image_ids, return_inverse=True)
    means = np.zeros((inverse.max() + 1, trials.shape[1]))
    np.add.at(means, inverse, trials)
    means /= np.bincount(inverse)[:, None]
    residuals = trials - means[inverse]
    dof = len(trials) - len(means)
    precision = None
    if noise == "multivariate":
        precision = prec_from_residuals(residuals, dof=dof, method="shrinkage_diag")
    elif noise == "univariate":
        trials = trials / np.maximum(np.sqrt((residuals ** 2).sum(0) / dof), 1e-8)
    else:
        raise InputError(f"rsa.noise must be multivariate or univariate, got {noise!r}")
    dataset = Dataset(trials, obs_descriptors={"image": image_ids, "fold": folds})
    rdm = calc_rdm(dataset, method="crossnobis", descriptor="image", cv_descriptor="fold", noise=precision)
    rdm.descriptors.pop("noise")  # the ROI's precision matrix: RDMs of ROIs of other sizes could not be stacked
    rdm.rdm_descriptors.update({key: [value] for key, value in labels.items()})
    return rdm


def model_rdms(features: dict[str, np.ndarray], image_ids: np.ndarray, distance: str = "correlation") -> RDMs:
    """One RDM per model (name -> features (n_images, ...) in `image_ids` order), rdm descriptor `model`, in the
    distance family of the brain RDMs it is compared with: correlation distance for `distance` correlation,
    squared Euclidean distance per feature for crossnobis (a squared Mahalanobis distance: a correlation-distance
    model would miss what a pattern's overall strength tells, which crossnobis keeps)."""
    method = "correlation" if distance == "correlation" else "euclidean"
    return _stack([_rdm(values, image_ids, {"model": name}, method) for name, values in features.items()])


def _stack(rdms: list[RDMs]) -> RDMs:
    """Several RDMs as one object (rsatoolbox's `concat` of a single RDM drops its rdm descriptors)."""
    return rdms[0] if len(rdms) == 1 else concat(rdms)


def geotopological(rdms: RDMs, low: float, up: float) -> RDMs:
    """Each RDM geo-topologically transformed at its own `low` and `up` quantiles (rsatoolbox's transform
    takes the quantiles over all RDMs it is given, so it is applied one RDM at a time, and on a copy: it
    overwrites the dissimilarities it is given)."""
    if not 0 <= low < up <= 1:
        raise InputError(f"geo-topological thresholds need 0 <= low < up <= 1, got ({low}, {up})")
    out = deepcopy(rdms)
    vectors = rdms.get_vectors()
    out.dissimilarities = np.stack([geotopological_transform(RDMs(vectors[i:i + 1].copy()), low, up).get_vectors()[0]
                                    for i in range(rdms.n_rdm)])
    out.dissimilarity_measure = f"geo-topological ({low:g}, {up:g}) {rdms.dissimilarity_measure}"
    return out


def transformed(rdms: RDMs, thresholds: tuple[float, float] | None) -> RDMs:
    """`rdms` as they are (None: RSA) or geo-topologically transformed at thresholds (low, up) (tRSA)."""
    return rdms if thresholds is None else geotopological(rdms, *thresholds)


def compare_models(brain: RDMs, models: RDMs, method: str = "corr", n_bootstrap: int = 200,
                   seed: int = 0) -> pd.DataFrame:
    """How well each model RDM matches an ROI's RDMs (one per subject): rows model, mean (the comparison averaged
    over subjects), se (bootstrap over images), noise_ceiling_lower, noise_ceiling_upper (rsatoolbox's
    leave-one-subject-out and all-subjects ceilings)."""
    np.random.seed(seed)  # rsatoolbox's bootstrap draws from numpy's global generator
    candidates = [ModelFixed(name, models[i]) for i, name in enumerate(models.rdm_descriptors["model"])]
    result = eval_bootstrap_pattern(candidates, brain, method=method, N=n_bootstrap, pattern_descriptor="image",
                                    boot_noise_ceil=False)
    lower, upper = np.asarray(result.noise_ceiling, dtype=np.float64)[:2].reshape(2, -1)[:, 0]
    return pd.DataFrame({"model": models.rdm_descriptors["model"], "mean": result.get_means(),
                         "se": result.get_sem(), "noise_ceiling_lower": lower, "noise_ceiling_upper": upper})


def roi_identification(rdms_by_subject: dict[str, RDMs], method: str = "corr") -> pd.DataFrame:
    """For every ordered pair of subjects (a, b) and ROI of a: is b's most similar ROI RDM the same ROI? Rows
    subject, other, roi, identified (bool), best_match. Chance: 1 / number of ROIs both subjects have."""
    rows = []
    for a, rdms_a in rdms_by_subject.items():
        for b, rdms_b in rdms_by_subject.items():
            if a == b:
                continue
            rois_b = list(rdms_b.rdm_descriptors["roi"])
            similarity = compare(rdms_a, rdms_b, method=method)  # (rois of a, rois of b)
            for i, roi in enumerate(rdms_a.rdm_descriptors["roi"]):
                if roi in rois_b:
                    best = rois_b[int(np.nanargmax(similarity[i]))]
                    rows.append({"subject": a, "other": b, "roi": roi, "identified": best == roi,
                                 "best_match": best, "chance": 1 / len(rois_b)})
    return pd.DataFrame(rows)


def rdm_order(rdm: RDMs) -> np.ndarray:
    """An order of the patterns that puts similar ones together (average-linkage clustering's leaves; crossnobis's
    negative distances, noise around 0, count as 0)."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    return leaves_list(linkage(np.maximum(rdm.get_vectors()[0], 0), method="average"))


def analyses(thresholds: list) -> list[tuple[str, tuple[float, float] | None]]:
    """RSA, then one tRSA per geo-topological (low, up) pair: [(label, thresholds or None)]."""
    return [("RSA", None)] + [(f"tRSA {low:g}-{up:g}", (float(low), float(up))) for low, up in thresholds]


def rsa_tables(rdms_by_subject: dict[str, RDMs], models: RDMs, thresholds: list, method: str = "corr",
               n_bootstrap: int = 200) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every analysis (RSA and each tRSA) of every ROI against every model, and the identification summary.

    comparisons: rows analysis, method, roi, model, mean, se, noise_ceiling_lower, noise_ceiling_upper (ROIs held by
    at least 2 subjects). identification: rows analysis, measure ("same ROI in another subject": is the other
    subject's most similar ROI RDM the same ROI; "same best model in another subject": do both subjects' RDMs of
    the ROI pick the same best-matching model), accuracy, se (binomial), chance, n (ordered subject pairs x ROIs).
    """
    comparisons, identification = [], []
    rois = list(dict.fromkeys(roi for r in rdms_by_subject.values() for roi in r.rdm_descriptors["roi"]))
    for label, chosen in analyses(thresholds):
        brain = {s: transformed(r, chosen) for s, r in rdms_by_subject.items()}
        model_rdms_t = transformed(models, chosen)
        best_model = {}
        for roi in rois:
            held = [r.subset("roi", roi) for r in brain.values() if roi in r.rdm_descriptors["roi"]]
            if len(held) < 2:
                log.warning("RSA: %s is held by fewer than 2 subjects; no noise ceiling, left out", roi)
                continue
            table = compare_models(_stack(held), model_rdms_t, method, n_bootstrap)
            comparisons.append(table.assign(analysis=label, method=method, roi=roi))
            for subject, r in brain.items():
                if roi in r.rdm_descriptors["roi"]:
                    scores = compare(r.subset("roi", roi), model_rdms_t, method=method)[0]
                    best_model[subject, roi] = model_rdms_t.rdm_descriptors["model"][int(np.nanargmax(scores))]
        same_roi = roi_identification(brain, method)
        agree = [best_model[a, roi] == best_model[b, roi] for (a, roi) in best_model for (b, other) in best_model
                 if a != b and other == roi]
        for measure, hits, chance in [("same ROI in another subject", same_roi["identified"].to_numpy(),
                                       float(same_roi["chance"].mean())),
                                      ("same best model in another subject", np.array(agree), 1 / models.n_rdm)]:
            n = len(hits)
            accuracy = float(hits.mean()) if n else float("nan")
            identification.append({"analysis": label, "measure": measure, "accuracy": accuracy,
                                   "se": float(np.sqrt(accuracy * (1 - accuracy) / n)) if n else float("nan"),
                                   "chance": chance, "n": n})
    columns = ["analysis", "method", "roi", "model", "mean", "se", "noise_ceiling_lower", "noise_ceiling_upper"]
    return pd.concat(comparisons, ignore_index=True)[columns], pd.DataFrame(identification)
