"""Snakemake glue: the context images the in-context model of each ROI's best voxel reads most
(rule context_attention)."""

import numpy as np

from voxelflow.encoders.features import load_features
from voxelflow.encoders.in_context import InContextEncoder
from voxelflow.encoders.in_context_probes import top_context_images
from voxelflow.encoding_scores import read_scores
from voxelflow.figures import image_rows, save_figure
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors

N_TOP = 8


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    train = ~responses.is_test
    ids = responses.image_ids[train]
    features = load_features(smk.input.features, ids).pooled
    r = read_scores(smk.input.scores).r
    rois = responses.rois.present(smk.params.rois)
    voxels = np.array([np.flatnonzero(mask)[np.argmax(r[mask])] for mask in rois.values()])
    encoder = InContextEncoder.load(smk.input.network, device="cpu")
    attention = encoder.context_attention(features, responses.responses[train][:, voxels])
    top = top_context_images(attention, np.arange(len(voxels)), N_TOP)
    images = read_stimuli(smk.input.stimuli, ids[top])
    measured = responses.responses[train]
    titles = [[f"y={measured[j, v]:+.1f}" for j in row] for row, v in zip(top, voxels)]
    names = [f"{name}\nr={r[v]:.2f}" for name, v in zip(rois, voxels)]
    save_figure(image_rows(images, names, titles), smk.output[0])


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
