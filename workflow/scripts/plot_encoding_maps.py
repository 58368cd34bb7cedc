"""Snakemake glue: per-subject encoding figures of one encoder and backbone (rule encoding_maps)."""

import numpy as np

from voxelflow import figures
from voxelflow.encoding_scores import read_scores
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.surface_figures import SurfaceRow, surface_mesh, surface_maps, surface_size


def main(smk) -> None:
    subject, model = smk.wildcards.subject, f"{smk.wildcards.encoder}-{smk.wildcards.backbone}"
    responses = read_responses(smk.input.responses)
    scores = read_scores(smk.input.scores)
    if responses.on_surface:
        mesh = surface_mesh(smk.params.data_root, surface_size(smk.params.data_root, responses))
        where = (responses.hemisphere, responses.vertex)
        rows = [SurfaceRow("test r", scores.r, *where, threshold=0.1),
                SurfaceRow("noise-normalised accuracy (%)", np.nan_to_num(scores.nna), *where, cmap="hot", vmin=0,
                           vmax=100, threshold=5),
                SurfaceRow("noise ceiling (%)", responses.noise_ceiling, *where, cmap="hot", vmin=0, vmax=100,
                           threshold=5)]
        figures.save_figure(surface_maps(rows, mesh, f"{subject} {model}"),
                            smk.output.surface_map)
    else:
        background = figures.volume_background(smk.params.data_root, smk.params.space, subject,
                                               next(iter(smk.input.anatomy), None))
        volume = (responses.ijk, responses.volume_shape, responses.affine)
        title = f"{subject} {model}: test r"
        figures.save_figure(figures.accuracy_map(scores.r, *volume, background, title), smk.output.accuracy_map)
        figures.save_figure(figures.glass_brain(scores.r, *volume, title), smk.output.glass_brain)
    groups = responses.rois.present(smk.params.rois)
    figures.save_figure(figures.r_vs_noise_ceiling(scores.r, responses.noise_ceiling, groups),
                        smk.output.r_vs_noise_ceiling)
    best = [int(np.flatnonzero(mask)[np.argmax(scores.r[mask])]) for mask in groups.values()]
    titles = [f"{name}: voxel {v}, r = {scores.r[v]:.2f}" for name, v in zip(groups, best, strict=True)]
    measured = responses.responses[responses.is_test]
    figures.save_figure(figures.predicted_vs_measured(scores.predicted[:, best], measured[:, best], titles),
                        smk.output.predicted_vs_measured)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
