"""Snakemake glue: transformer brain encoder on cached patch tokens, scored on the test images (rule fit_transformer)."""

from voxelflow.encoders.features import load_features
from voxelflow.encoders.transformer import TransformerConfig, TransformerEncoder
from voxelflow.encoding_scores import save_test_scores
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors, training_checkpoint


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    tokens = load_features(smk.input.features, responses.image_ids, tokens=True).tokens
    train, test = ~responses.is_test, responses.is_test
    with training_checkpoint(smk.output.model) as checkpoint:
        encoder = TransformerEncoder(TransformerConfig(**smk.params.transformer), device=smk.params.device,
                                     checkpoint=checkpoint)
        encoder.fit(tokens[train], responses.responses[train], responses.rois)
        encoder.save(smk.output.model)
    attrs = {"subject": smk.wildcards.subject, "encoder": "transformer", "backbone": smk.wildcards.backbone}
    save_test_scores(encoder.predict(tokens[test]), responses, smk.output.scores, attrs)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
