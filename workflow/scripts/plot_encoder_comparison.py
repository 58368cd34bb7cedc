"""Snakemake glue: per-voxel test r of the transformer against ridge, per ROI (rule encoder_comparison)."""

from voxelflow.encoding_scores import read_scores
from voxelflow.figures import paired_scatter, save_figure
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    groups = responses.rois.present(smk.params.rois)
    ridge, transformer = read_scores(smk.input.ridge), read_scores(smk.input.transformer)
    save_figure(paired_scatter(ridge.r, transformer.r, groups, "ridge", "transformer"), smk.output[0])


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
