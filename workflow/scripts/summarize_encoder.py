"""Snakemake glue: per-ROI summary of an encoder's test scores (rule summarize_encoder)."""

from voxelflow.encoding_scores import save_roi_summary
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    save_roi_summary(smk.input.scores, read_responses(smk.input.responses), list(smk.params.rois),
                     smk.output.summary)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
