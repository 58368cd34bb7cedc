"""Snakemake glue: one backbone over the images of one subject's design (rule extract_features)."""

from pathlib import Path

import numpy as np

from voxelflow import algonauts
from voxelflow.encoders.backbones import build_backbone
from voxelflow.encoders.features import backbone_spec_json, extract_features
from voxelflow.encoders.token_reduction import TokenReduction
from voxelflow.nsd_design import read_expdesign
from voxelflow.nsd_layout import NSDLayout, stimuli_file, subject_number
from voxelflow.script_runner import run_reporting_errors
from voxelflow.study_table import StudyTable


def subject_images(smk) -> tuple[np.ndarray, np.ndarray]:
    """The 0-based ids of every image the subject saw, and of those a token PCA may be fitted on (no test or
    shared image)."""
    if algonauts.is_release(stimuli_file(smk.input.stimuli)):  # dataset algonauts2023: the release's folder
        layout = algonauts.AlgonautsLayout(stimuli_file(smk.input.stimuli))
        train, test = (algonauts.image_ids(layout, smk.wildcards.subject, split) for split in ("train", "test"))
        return np.concatenate([train, test]), train
    designs = [smk.input.design] if isinstance(smk.input.design, str) else list(smk.input.design)
    if Path(designs[0]).suffix in (".yaml", ".yml"):  # dataset table: the study table, the trials
        table = StudyTable(designs[0])
        ids = table.image_ids(smk.wildcards.subject)
        return ids, np.setdiff1d(ids, table.test_ids(smk.wildcards.subject))
    design = Path(designs[0])
    design = NSDLayout(design.parent).expdesign if design.is_dir() else design  # the demo passes nsddata/
    expdesign = read_expdesign(design)
    ids = expdesign.subject_image_ids(subject_number(smk.wildcards.subject))
    return ids, ids[~np.isin(ids, expdesign.sharedix)]


def main(smk) -> None:
    image_ids, fit_ids = subject_images(smk)
    spec = dict(smk.params.spec)
    backbone = build_backbone(smk.wildcards.backbone, spec)
    reduction = TokenReduction.from_spec(spec.get("tokens"), f"backbones.{smk.wildcards.backbone}")
    extract_features(backbone, stimuli_file(smk.input.stimuli), image_ids, smk.output.features,
                     batch_size=smk.params.batch_size, device=smk.params.device,
                     attrs={"backbone": smk.wildcards.backbone, "spec": backbone_spec_json(spec)},
                     reduction=reduction, fit_image_ids=fit_ids)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
