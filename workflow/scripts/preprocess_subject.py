"""Snakemake glue: betas of one subject -> results/{subject}/responses.h5 (rule preprocess_subject)."""

from voxelflow.config_check import dataclass_settings
from voxelflow.preprocess import PreprocessOptions, preprocess_study_subject
from voxelflow.responses import write_responses
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    options = dataclass_settings(PreprocessOptions, {**smk.params.preprocess,
                                                     "common_subjects": smk.params.common_subjects})
    write_responses(smk.output.responses,
                    preprocess_study_subject(smk.params.data_root, smk.wildcards.subject, options))


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
