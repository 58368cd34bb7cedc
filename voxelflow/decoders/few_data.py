"""Few-data curves: a held-out subject's encoders and decoders trained on its first N sessions, side by side.

For each session count, on the same training images and the same test images: encoding accuracy of ridge fitted
from scratch against the in-context encoder (BraInCoRL), and decoding by a contrastive decoder trained from
scratch against one fine-tuned from a model pretrained on other subjects (MindEye2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from voxelflow.decoders.contrastive import ContrastiveDecoder, as_tokens
from voxelflow.decoding_metrics import two_way_identification
from voxelflow.encoders.few_shot import score_encoders
from voxelflow.encoders.in_context import InContextEncoder
from voxelflow.encoding_metrics import roi_summary
from voxelflow.encoding_scores import summarize
from voxelflow.errors import InputError
from voxelflow.model_configs import ContrastiveConfig
from voxelflow.responses import ResponseSet, first_sessions, training_pairs

log = logging.getLogger(__name__)

COLUMNS = ["family", "method", "sessions", "n_train", "metric", "roi", "value", "se"]
ALL_VOXELS = "all voxels"
SCRATCH, SHARED = "from scratch", "pretrained + adapter"


@dataclass
class DecoderSetup:
    """How the decoders of a curve are trained: `config` for both; `pretrained` (a shared decoder that never saw
    the held-out subject) starts the second one, its adapter initialised as `adapter_init` says ("ridge" or
    "random") and fine-tuned as `fine_tune` says ("all" or "adapter"); ContrastiveDecoder.fit_subjects."""

    config: ContrastiveConfig
    pretrained: ContrastiveDecoder | None
    fine_tune: str = "all"
    adapter_init: str = "ridge"
    train_on: str = "averages"
    n_candidates: int = 300
    n_draws: int = 30
    device: str = "cpu"


def session_counts(counts: list, n_available: int) -> list[int]:
    """Config session counts (ints, or "all") as sorted distinct ints, each at most the `n_available` sessions."""
    for count in counts:
        if count != "all" and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise InputError(f"decoders.contrastive.new_subject_sessions: {count!r} is not a positive integer or 'all'")
    return sorted({n_available if count == "all" else min(int(count), n_available) for count in counts})


def encoding_curve(responses: ResponseSet, counts: list, features: np.ndarray, ridge: dict,
                   in_context: InContextEncoder | None = None, rois: list[str] = ()) -> pd.DataFrame:
    """Ridge fitted from scratch and (when given) the in-context encoder, each made from the subject's first N
    sessions for each N of `counts`, scored on its test images.

    responses: the held-out subject's store with its single trials; features (n_images, E) rows aligned with
    responses.image_ids; ridge: RidgeEncoder keyword arguments. Returns rows with columns COLUMNS: the median
    noise-normalised accuracy (percent of the noise ceiling, metric "median_nna") of all voxels and of each ROI of
    `rois`; n_train: the training images.
    """
    return pd.DataFrame([row for n, subset, keep in _session_subsets(responses, counts)
                         for row in _encoding_rows(subset, n, features[keep], ridge, in_context, rois)],
                        columns=COLUMNS)


def decoding_curve(responses: ResponseSet, counts: list, targets: np.ndarray, decoders: DecoderSetup) -> pd.DataFrame:
    """A contrastive decoder trained from scratch and (with decoders.pretrained) one fine-tuned from the shared
    model, each on the subject's first N sessions for each N of `counts`, scored on its test images.

    targets (n_images, d) or (n_images, t, d): image embeddings, rows aligned with responses.image_ids. Returns rows
    with columns COLUMNS: brain_to_image and image_to_brain top-1 retrieval (se: binomial over the test queries) and
    the two-way identification of the predicted embeddings among the test images (chance 0.5; no se). n_train: the
    training samples (images, or trials with train_on "trials").
    """
    return pd.DataFrame([row for n, subset, keep in _session_subsets(responses, counts)
                         for row in _decoding_rows(subset, n, targets[keep], decoders)], columns=COLUMNS)


def _session_subsets(responses: ResponseSet, counts: list):
    """(N, the first-N-session ResponseSet, its rows in `responses`) for each session count."""
    sessions = np.asarray(responses.attrs.get("sessions", []))
    if not len(sessions):
        raise InputError(f"{responses.subject}'s response store does not say which sessions it holds")
    for n in session_counts(counts, len(sessions)):
        subset = first_sessions(responses, n)
        yield n, subset, np.isin(responses.image_ids, subset.image_ids)
        log.info("%s: first %d sessions scored", responses.subject, n)


def _encoding_rows(subset: ResponseSet, n: int, features: np.ndarray, ridge: dict,
                   in_context: InContextEncoder | None, rois: list[str]) -> list[dict]:
    train, test = ~subset.is_test, subset.is_test
    rows = []
    scored = score_encoders(in_context, ridge, features[train], subset.responses[train], features[test], subset)
    for method, scores in scored.items():
        summary = roi_summary(scores.r, scores.nna, scores.significant, {ALL_VOXELS: np.ones(len(scores.r), bool)},
                              subset.noise_ceiling)
        summary.update(summarize(scores, subset, list(rois)))
        rows += [{"family": "encoding", "method": method, "sessions": n, "n_train": int(train.sum()),
                  "metric": "median_nna", "roi": roi, "value": values["median_nna"], "se": np.nan}
                 for roi, values in summary.items()]
    return rows


def _decoding_rows(subset: ResponseSet, n: int, targets: np.ndarray, setup: DecoderSetup) -> list[dict]:
    X, Y = training_pairs(subset, targets, setup.train_on)
    test = subset.is_test
    starts = {SCRATCH: None} if setup.pretrained is None else {SCRATCH: None, SHARED: setup.pretrained}
    rows = []
    for method, pretrained in starts.items():
        decoder = ContrastiveDecoder(setup.config, device=setup.device)
        decoder.fit(X, Y, subject=subset.subject, pretrained=pretrained,
                    train=setup.fine_tune if pretrained is not None else "all", adapter_init=setup.adapter_init)
        retrieval = decoder.retrieve(subset.responses[test], targets[test], setup.n_candidates, setup.n_draws)
        identification = two_way_identification(as_tokens(targets[test]), decoder.embed(subset.responses[test]))
        common = {"family": "decoding", "method": method, "sessions": n, "n_train": len(X), "roi": ""}
        n_test = int(test.sum())  # every test image is a query: a binomial standard error over them
        rows += [{**common, "metric": key, "value": retrieval[key],
                  "se": np.sqrt(retrieval[key] * (1 - retrieval[key]) / n_test)}
                 for key in ("brain_to_image", "image_to_brain")]
        rows.append({**common, "metric": "two_way_identification", "value": identification, "se": np.nan})
    return rows


def few_data_summary(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Mean and standard error over subjects of per-subject few-data tables (a `subject` column each): one row per
    (family, method, sessions, metric, roi) with n_subjects, value (the mean), se (over subjects; with one
    subject, that subject's own se) and n_train (the mean)."""
    table = pd.concat(tables, ignore_index=True)
    keys = ["family", "method", "sessions", "metric", "roi"]
    table["roi"] = table["roi"].fillna("")  # decoding rows have no ROI (read back from TSV as missing)
    grouped = table.groupby(keys, sort=False)
    summary = grouped.agg(n_subjects=("subject", "nunique"), value=("value", "mean"), n_train=("n_train", "mean"))
    spread = grouped["value"].std(ddof=1) / np.sqrt(summary["n_subjects"])
    summary["se"] = spread.where(summary["n_subjects"] > 1, grouped["se"].mean())
    return summary.reset_index()
