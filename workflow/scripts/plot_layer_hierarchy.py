"""Snakemake glue: the per-layer ROI table and the layer-hierarchy figure of one backbone over all subjects, and each
voxel's best layer (rule layer_hierarchy)."""

import numpy as np
import pandas as pd

from voxelflow import figures
from voxelflow.encoders.layer_sweep import best_layer, layer_table, read_layer_scores
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.surface_figures import SurfaceRow, surface_mesh, surface_maps, surface_size
from voxelflow.tables import write_table


def main(smk) -> None:
    backbone = smk.wildcards.backbone
    # a study table's voxel masks, one per subject in order (other studies' backgrounds are found by path)
    anatomy = list(smk.input.anatomy)
    fallbacks = dict(zip(smk.params.subjects, anatomy)) if len(anatomy) == len(smk.params.subjects) else {}
    tables, surface_rows, volume_maps = [], [], []
    for subject, scores_path, responses_path in zip(smk.params.subjects, smk.input.scores, smk.input.responses,
                                                    strict=True):
        scores = read_layer_scores(scores_path)
        layers = list(scores)
        responses = read_responses(responses_path)
        tables.append(layer_table(scores, responses, list(smk.params.rois)).assign(subject=subject))
        best = best_layer(np.stack([layer_scores.nna for layer_scores in scores.values()]))
        if responses.on_surface:  # one row of views per subject
            surface_rows.append(SurfaceRow(subject, np.nan_to_num(best), responses.hemisphere, responses.vertex,
                                           cmap="viridis", vmin=0.5, vmax=len(layers) + 0.5, threshold=0.5,
                                           ticks={i + 1.0: name for i, name in enumerate(layers)}))
            continue
        background = figures.volume_background(smk.params.data_root, smk.params.space, subject,
                                               fallbacks.get(subject))
        volume_maps.append((best, responses.ijk, responses.volume_shape, responses.affine, background,
                            f"{subject} ridge-{backbone}"))
    table = pd.concat(tables, ignore_index=True)
    write_table(table, smk.output.table, float_format="%.4f")
    figures.save_figure(figures.layer_hierarchy(table, backbone), smk.output.figure)
    if surface_rows:
        mesh = surface_mesh(smk.params.data_root, surface_size(smk.params.data_root, responses))
        figures.save_figure(surface_maps(surface_rows, mesh, f"ridge-{backbone}: best layer per vertex (blank: "
                                                             f"none predicts it)"), smk.output.best_layer)
    else:
        figures.save_figure(figures.best_layer_maps(volume_maps, layers), smk.output.best_layer)

run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
