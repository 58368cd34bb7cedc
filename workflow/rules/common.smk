# Config validation and the input functions every rule file shares.
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from voxelflow.config_check import config_problem

CONFIG_SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
if problem := config_problem(config, CONFIG_SCHEMA):
    raise WorkflowError(problem)
validate(config, CONFIG_SCHEMA)  # fills in the schema's defaults

SUBJECTS = config["subjects"]
DATA_ROOT = config["data_root"]
NSD_TREES = ["nsddata", "nsddata_betas", "nsddata_stimuli"]


wildcard_constraints:
    subject="|".join(SUBJECTS),


def mininsd_outputs():
    """The folders and truth file the mini-NSD generator writes under data_root."""
    return {
        **{tree: f"{DATA_ROOT}/{tree}" for tree in NSD_TREES},
        "truth": f"{DATA_ROOT}/truth/planted.h5",
    }


def study_inputs(wildcards):
    """What preprocessing reads: the generated mini-NSD, or the subject's part of an NSD copy."""
    if config["dataset"] == "demo":
        return mininsd_outputs()
    pre = config["preprocess"]
    return {
        "design": f"{DATA_ROOT}/nsddata/experiments/nsd/nsd_expdesign.mat",
        "betas": f"{DATA_ROOT}/nsddata_betas/ppdata/{wildcards.subject}/{pre['space']}/{pre['betas_version']}",
        "mask": f"{DATA_ROOT}/nsddata/ppdata/{wildcards.subject}/{pre['space']}/roi/{pre['mask_roi']}.nii.gz",
    }


def final_outputs():
    """Every target of `snakemake` with no arguments."""
    return expand("results/{subject}/responses.h5", subject=SUBJECTS)
