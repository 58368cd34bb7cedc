"""Snakemake glue: the layer-hierarchy figure of one backbone over all subjects, and each voxel's best layer
(rule layer_hierarchy)."""

import nibabel as nib
import pandas as pd

from voxelflow import figures
from voxelflow.encoders.layer_sweep import best_layer, read_layer_scores
from voxelflow.nsd_layout import NSDLayout
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import read_table, write_table


def main(smk) -> None:
    backbone = smk.wildcards.backbone
    table = pd.concat([read_table(path) for path in smk.input.tables], ignore_index=True)
    write_table(table, smk.output.table, float_format="%.4f")
    figures.save_figure(figures.layer_hierarchy(table, backbone), smk.output.figure)
    layout = NSDLayout(smk.params.data_root, smk.params.space)
    maps = []
    for subject, scores_path, responses_path in zip(smk.params.subjects, smk.input.scores, smk.input.responses,
                                                    strict=True):
        layers, _, nna = read_layer_scores(scores_path)
        responses = read_responses(responses_path)
        background = layout.mean_epi(subject)
        background = nib.load(background if background.is_file() else layout.brainmask(subject))
        maps.append((best_layer(nna), responses.ijk, responses.volume_shape, responses.affine, background,
                     f"{subject} ridge-{backbone}"))
    figures.save_figure(figures.best_layer_maps(maps, layers), smk.output.best_layer)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
