"""Snakemake glue: one backbone over every image the subjects saw (rule extract_features)."""

import numpy as np

from voxelflow.encoders.backbones import build_backbone
from voxelflow.encoders.features import backbone_spec_json, extract_features
from voxelflow.nsd_layout import stimuli_file
from voxelflow.responses import read_image_ids
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    stimuli = stimuli_file(smk.input.stimuli)
    image_ids = np.unique(np.concatenate([read_image_ids(path) for path in smk.input.responses]))
    spec = dict(smk.params.spec)
    backbone = build_backbone(smk.wildcards.backbone, spec)
    extract_features(backbone, stimuli, image_ids, smk.output.features,
                     batch_size=smk.params.batch_size, device=smk.params.device,
                     attrs={"backbone": smk.wildcards.backbone, "spec": backbone_spec_json(spec)})


run_reporting_errors(lambda: main(snakemake), snakemake.log[0])  # noqa: F821 - injected by Snakemake
