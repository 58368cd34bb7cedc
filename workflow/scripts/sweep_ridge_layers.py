"""Snakemake glue: one voxelwise ridge per layer of a backbone's features, scored on the test images (rule
sweep_ridge_layers)."""

from voxelflow.encoders.layer_sweep import sweep_layers, write_layer_scores
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    ridge = smk.params.ridge
    scores = sweep_layers(smk.input.features, responses, ridge["alphas"], ridge["cv"], smk.params.device)
    write_layer_scores(smk.output.scores, scores, {"subject": smk.wildcards.subject,
                                                   "backbone": smk.wildcards.backbone})


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
