"""Snakemake glue: captions of each ROI's best-predicted voxels from their ridge weights (BrainSCUBA) and the words
they use (rule caption_voxels)."""

import h5py
import numpy as np
import pandas as pd

from voxelflow import figures
from voxelflow.encoders.features import load_features
from voxelflow.encoders.linear import LinearEncoder
from voxelflow.encoders.voxel_captions import NearestLabelCaptioner, PrefixCaptioner, category_centroids, \
    project_to_images, unit_rows, voxel_directions, word_counts
from voxelflow.encoding_scores import read_scores
from voxelflow.mininsd.scenes import CATEGORIES
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table


def main(smk) -> None:
    settings = smk.params.captions
    responses = read_responses(smk.input.responses)
    train_ids = responses.image_ids[~responses.is_test]
    embeddings = load_features(smk.input.features, train_ids).pooled  # the subject's own natural images
    extra = [load_features(path).pooled for path in settings.get("extra_features", [])]
    natural = np.concatenate([embeddings, *extra])
    if settings["captioner"] == "categories":
        with h5py.File(smk.input.truth) as f:
            has_category = f["images/has_category"][()][train_ids]
        captioner = NearestLabelCaptioner(list(CATEGORIES), category_centroids(embeddings, has_category,
                                                                               list(CATEGORIES)),
                                          unit_rows(natural).mean(0))
    else:
        captioner = PrefixCaptioner(settings["captioner"], device=smk.params.device)
    encoder = LinearEncoder.load(smk.input.model)
    r = read_scores(smk.input.scores).r
    rows = []
    for roi, mask in responses.rois.present(list(settings["rois"]), responses.subject).items():
        voxels = np.flatnonzero(mask)
        voxels = voxels[np.argsort(-r[voxels])[:settings["top_voxels"]]]
        projected = project_to_images(voxel_directions(encoder, voxels), natural, settings["temperature"])
        rows += [{"roi": roi, "voxel": int(v), "test_r": float(r[v]), "caption": caption}
                 for v, caption in zip(voxels, captioner(projected), strict=True)]
    captions = pd.DataFrame(rows, columns=["roi", "voxel", "test_r", "caption"])
    words = word_counts(captions)
    write_table(captions, smk.output.captions, float_format="%.4f")
    write_table(words, smk.output.words, float_format="%.4f")
    figures.save_figure(figures.caption_words(words, responses.subject), smk.output.figure)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
