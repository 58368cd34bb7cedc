"""Snakemake glue: betas of one subject (or the Algonauts release's responses) -> results/{subject}/responses.h5
(rule preprocess_subject)."""

from voxelflow.algonauts import read_subject
from voxelflow.config_check import dataclass_settings
from voxelflow.preprocess import PreprocessOptions, preprocess_study_subject, preprocess_subject
from voxelflow.responses import write_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.study_table import StudyTable


def main(smk) -> None:
    if "algonauts" in smk.params.preprocess:  # dataset algonauts2023: the release's responses are preprocessed
        settings = smk.params.preprocess["algonauts"]
        responses = read_subject(smk.params.data_root, smk.wildcards.subject, settings["validation"],
                                 settings["seed"])
    elif "study_table" in smk.params.preprocess:  # dataset table
        settings = dict(smk.params.preprocess)
        table = StudyTable(settings.pop("study_table"))
        options = dataclass_settings(PreprocessOptions, settings)
        subject = smk.wildcards.subject
        responses = preprocess_subject(table.subject(subject, options.sessions), options.zscore_stats, options.ncsnr,
                                       table.test_ids(subject), keep_trials=options.keep_trials)
        responses.attrs.update(study_root=str(table.path), test_split="study table", mask_roi="study table mask",
                               space="fsaverage" if table.space == "fsaverage" else "study table")
    else:
        options = dataclass_settings(PreprocessOptions, {**smk.params.preprocess,
                                                         "common_subjects": smk.params.common_subjects})
        responses = preprocess_study_subject(smk.params.data_root, smk.wildcards.subject, options)
    write_responses(smk.output.responses, responses)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
