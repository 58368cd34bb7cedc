"""Snakemake glue: voxelwise ridge on one backbone's features, scored on the test images (rule fit_ridge)."""

from voxelflow.encoders.features import load_features
from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.encoding_scores import save_test_scores
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    features = load_features(smk.input.features, responses.image_ids).pooled
    train, test = ~responses.is_test, responses.is_test
    encoder = RidgeEncoder(alphas=tuple(smk.params.ridge["alphas"]), cv=smk.params.ridge["cv"],
                           device=smk.params.device).fit(features[train], responses.responses[train])
    encoder.save(smk.output.model)
    attrs = {"subject": smk.wildcards.subject, "encoder": "ridge", "backbone": smk.wildcards.backbone}
    save_test_scores(encoder.predict(features[test]), responses, smk.output.scores, attrs)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
