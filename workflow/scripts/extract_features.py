"""Snakemake glue: one backbone over the images of one subject's design (rule extract_features)."""

from pathlib import Path

from voxelflow.encoders.backbones import build_backbone
from voxelflow.encoders.features import backbone_spec_json, extract_features
from voxelflow.nsd_design import read_expdesign
from voxelflow.nsd_layout import NSDLayout, stimuli_file, subject_number
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    design = Path(smk.input.design)
    design = NSDLayout(design.parent).expdesign if design.is_dir() else design  # the demo passes nsddata/
    image_ids = read_expdesign(design).subject_image_ids(subject_number(smk.wildcards.subject))
    spec = dict(smk.params.spec)
    backbone = build_backbone(smk.wildcards.backbone, spec)
    extract_features(backbone, stimuli_file(smk.input.stimuli), image_ids, smk.output.features,
                     batch_size=smk.params.batch_size, device=smk.params.device,
                     attrs={"backbone": smk.wildcards.backbone, "spec": backbone_spec_json(spec)})


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
