"""Snakemake glue: a subject's voxel models from its training images as context, scored on the test images
(rule fit_in_context). No parameter is fitted on this subject."""

import numpy as np

from voxelflow.encoders.features import load_features
from voxelflow.encoders.in_context import InContextEncoder, sample_context
from voxelflow.encoding_scores import save_test_scores
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    features = load_features(smk.input.features, responses.image_ids).pooled
    train = np.flatnonzero(~responses.is_test)
    size = smk.params.in_context.get("context", "all")
    if size != "all":
        train = train[sample_context(len(train), int(size), np.random.default_rng(smk.params.in_context["seed"]))]
    encoder = InContextEncoder.load(smk.input.network, device=smk.params.device)
    models = encoder.predict_voxel_models(features[train], responses.responses[train])
    models.save(smk.output.model)
    attrs = {"subject": smk.wildcards.subject, "encoder": "in_context", "backbone": smk.wildcards.backbone,
             "meta_trained_on": ",".join(encoder.trained_on_), "context_images": len(train),
             "held_out": smk.wildcards.subject not in encoder.trained_on_}
    save_test_scores(models.predict(features[responses.is_test]), responses, smk.output.scores, attrs)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
