"""Snakemake glue: one subject's predictions of the Algonauts release's test images by one encoder, in the
challenge's submission format (rule algonauts_submission)."""

from pathlib import Path

import numpy as np

from voxelflow.algonauts import AlgonautsLayout, image_ids, write_submission
from voxelflow.encoders.features import load_features
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.toolkit.registry import load_encoder


def main(smk) -> None:
    subject = smk.wildcards.subject
    test_ids = image_ids(AlgonautsLayout(smk.params.data_root), subject, "test")
    encoder = load_encoder(smk.input.model, device=smk.params.device)
    features = load_features(smk.input.features, test_ids, tokens=encoder.reads_tokens)
    predictions = np.asarray(encoder.predict(features.tokens if encoder.reads_tokens else features.pooled))
    hemisphere = read_responses(smk.input.responses).hemisphere
    if predictions.shape != (len(test_ids), len(hemisphere)):
        raise ValueError(f"predictions {predictions.shape}, expected {(len(test_ids), len(hemisphere))}")
    folder = Path(smk.output.lh).parents[2]
    write_submission(folder, subject, predictions, hemisphere)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
