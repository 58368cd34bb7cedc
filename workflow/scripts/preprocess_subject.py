"""Snakemake glue: betas of one subject -> results/{subject}/responses.h5 (rule preprocess_subject)."""

from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import preprocess_subject
from voxelflow.responses import write_responses
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    options = smk.params.preprocess
    study = NSDStudy(smk.params.data_root, options["space"], options["betas_version"], options["betas_format"])
    subject = study.subject(smk.wildcards.subject, mask_roi=options["mask_roi"])
    responses = preprocess_subject(subject, options["zscore_stats"], options["ncsnr"])
    responses.attrs["study_root"] = str(smk.params.data_root)
    write_responses(smk.output.responses, responses)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0])  # noqa: F821 - injected by Snakemake
