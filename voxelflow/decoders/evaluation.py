"""The reconstruction metrics table of one subject's test images, under one metric protocol."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from voxelflow.decoders.metric_networks import network_scores
from voxelflow.decoders.protocols import PIXEL_SIZE, PROTOCOLS, MetricProtocol
from voxelflow.decoding_metrics import pixcorr, ssim, two_way_identification
from voxelflow.images import resize_images

LOW_LEVEL_WEIGHT = 0.25  # MindEye2's "0.75 * enhanced + 0.25 * blurry" blend, reported as its own row
BLEND = "blend 0.75/0.25"


def stored_size(protocol: MetricProtocol, truth_size: int) -> int:
    """The side at which `protocol` keeps images before scoring (its own, or the ground truth's)."""
    return protocol.stored_size or truth_size


def candidate_sets(reconstructions: np.ndarray, blurry: np.ndarray | None, size: int, method: str = "skimage",
                   best: np.ndarray | None = None, n_samples: int = 1) -> dict[str, np.ndarray]:
    """The image sets the table scores, each (n, size, size, 3) in [0, 1], resized by `method`: the (first-sample)
    reconstructions; the best of `n_samples` when given; and with a low-level path, the blurry images and MindEye2's
    blend of the two, made after resizing, as MindEye2 does at 256 px (raw, selected and blended numbers apart)."""
    sets = {"reconstruction": resize_images(reconstructions, size, method)}
    if best is not None:
        sets[f"best of {n_samples}"] = resize_images(best, size, method)
    if blurry is not None:
        sets["low-level"] = resize_images(blurry, size, method)
        sets[BLEND] = (1 - LOW_LEVEL_WEIGHT) * sets["reconstruction"] + LOW_LEVEL_WEIGHT * sets["low-level"]
    return sets


def headline_row(protocol: MetricProtocol, rows: list[str]) -> str:
    """The candidate row `protocol`'s paper reports, among `rows` (the raw reconstruction when it is absent)."""
    if protocol.headline == "best of N":
        return next((row for row in rows if row.startswith("best of")), "reconstruction")
    return protocol.headline if protocol.headline in rows else "reconstruction"


def reconstruction_table(truth: np.ndarray, candidates: dict[str, np.ndarray],
                         embed: Callable[[np.ndarray], np.ndarray], embed_name: str,
                         network_weights: dict[str, str | None], device: str = "auto",
                         protocol: MetricProtocol = PROTOCOLS["voxelflow"]) -> pd.DataFrame:
    """One row per candidate set: PixCorr and SSIM at 425 x 425, two-way identification with the decoders' target
    backbone (`embed`: images (n, H, W, 3) in [0, 1] -> (n, ...) features), and the AlexNet(2), AlexNet(5),
    Inception, CLIP (ViT-L/14), EffNet-B and SwAV columns (NaN where their weights are absent), every image
    brought to each size as `protocol` does; a `headline` column marks the row the protocol's paper reports.

    truth: (n, H, W, 3) in [0, 1] as shipped; candidates: as `candidate_sets` made them for this protocol, row i
    the same test image.
    """
    size = next(iter(candidates.values())).shape[1]
    truth_stored = resize_images(truth, size, protocol.stored_resize)
    truth_pixels = resize_images(truth_stored, PIXEL_SIZE, protocol.pixel_resize)
    truth_features = embed(truth_stored)
    networks = network_scores(truth_stored, candidates, network_weights, device, protocol.network_sizes,
                              protocol.network_resize)
    headline = headline_row(protocol, list(candidates))
    rows = []
    for name, images in candidates.items():
        pixels = resize_images(images, PIXEL_SIZE, protocol.pixel_resize)
        row = {"protocol": protocol.name, "images": name, "headline": name == headline,
               "PixCorr": pixcorr(truth_pixels, pixels), "SSIM": ssim(truth_pixels, pixels, protocol.ssim_mode),
               f"two-way {embed_name} (target)": two_way_identification(truth_features, embed(images))}
        row.update({column: np.nan if value is None else value for column, value in networks[name].items()})
        rows.append(row)
    return pd.DataFrame(rows)


def protocol_summary(protocol: MetricProtocol, retrieval: pd.DataFrame,
                     metrics: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The decoding summary under `protocol`: one row per subject, then "mean" over the protocol's subjects that
    are present (all subjects for a protocol without a fixed list), and the subjects averaged.

    retrieval: one row per subject (subject, brain_to_image, image_to_brain, chance, n_candidates), as
    `retrieval.json` holds; metrics: the subjects' reconstruction tables (`reconstruction_table` rows of any
    protocols, with a subject column) or None. Columns: subject, the protocol's retrieval columns (named by
    direction), chance and n_candidates when it has retrieval, then the headline row's metrics.
    """
    table = retrieval[["subject"]].reset_index(drop=True)
    for column, key in protocol.retrieval.items():
        table[column] = retrieval[key].to_numpy()
    if protocol.retrieval:
        table["chance"] = retrieval["chance"].to_numpy()
        table["n_candidates"] = retrieval["n_candidates"].to_numpy().astype(int)
    if metrics is not None:
        rows = metrics[(metrics["protocol"] == protocol.name) & metrics["headline"].astype(bool)]
        table = table.merge(rows.drop(columns=["protocol", "headline"]), on="subject")
    averaged = [s for s in table["subject"] if protocol.subjects is None or s in protocol.subjects]
    if averaged:
        numeric = table[table["subject"].isin(averaged)].select_dtypes("number").mean().to_frame().T
        mean = numeric.assign(subject="mean")
        if "images" in table:
            mean["images"] = "/".join(dict.fromkeys(table["images"]))
        if "n_candidates" in mean:
            mean["n_candidates"] = int(round(mean["n_candidates"].iloc[0]))
        table = pd.concat([table, mean[table.columns]], ignore_index=True)
    return table, averaged
