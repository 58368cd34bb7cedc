"""Snakemake glue: the per-layer ROI table and the layer-hierarchy figure of one backbone over all subjects, and each
voxel's best layer (rule layer_hierarchy)."""

import nibabel as nib
import numpy as np
import pandas as pd

from voxelflow import figures
from voxelflow.encoders.layer_sweep import best_layer, layer_table, read_layer_scores
from voxelflow.nsd_layout import NSDLayout
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table


def main(smk) -> None:
    backbone = smk.wildcards.backbone
    layout = NSDLayout(smk.params.data_root, smk.params.space)
    tables, maps = [], []
    for subject, scores_path, responses_path in zip(smk.params.subjects, smk.input.scores, smk.input.responses,
                                                    strict=True):
        scores = read_layer_scores(scores_path)
        responses = read_responses(responses_path)
        tables.append(layer_table(scores, responses, list(smk.params.rois)).assign(subject=subject))
        background = layout.mean_epi(subject)
        background = nib.load(background if background.is_file() else layout.brainmask(subject))
        nna = np.stack([layer_scores.nna for layer_scores in scores.values()])
        maps.append((best_layer(nna), responses.ijk, responses.volume_shape, responses.affine, background,
                     f"{subject} ridge-{backbone}"))
    table = pd.concat(tables, ignore_index=True)
    write_table(table, smk.output.table, float_format="%.4f")
    figures.save_figure(figures.layer_hierarchy(table, backbone), smk.output.figure)
    figures.save_figure(figures.best_layer_maps(maps, list(scores)), smk.output.best_layer)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
