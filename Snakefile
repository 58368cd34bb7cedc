# voxelflow: one DAG from an fMRI study in NSD's layout to encoders, decoders and figures.
# Run `snakemake -n` for the plan; config.yaml is the one file to edit.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/job_sizes.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/encoders.smk"
include: "workflow/rules/decoders.smk"
include: "workflow/rules/figures.smk"


if SYNTHESIS:

    include: "workflow/rules/synthesis.smk"


if ALGONAUTS:

    include: "workflow/rules/algonauts.smk"


# Cheap plotting and summary rules run where snakemake runs; a cluster never queues them.
localrules:
    all,
    encoding_roi_bars,
    encoding_maps,
    summarize_encoder,
    encoder_comparison,
    decoding_summary,
    few_data_summary,


rule all:
    default_target: True
    input:
        final_outputs(),
