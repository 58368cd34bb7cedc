"""Snakemake glue: RSA and topological RSA of every ROI against every backbone layer, ROI identification across
subjects, and their figures (rule rsa)."""

import logging

from voxelflow import figures, rsa
from voxelflow.encoders.features import feature_layers, load_features
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table

log = logging.getLogger("voxelflow")


def main(smk) -> None:
    settings, subjects, backbones = smk.params.rsa, list(smk.params.subjects), list(smk.params.backbones)
    responses = [read_responses(path, test_trials=settings["distance"] != "correlation")
                 for path in smk.input.responses]
    distance = settings["distance"]
    if distance == "auto":
        distance = "crossnobis" if all(data.test_trials is not None for data in responses) else "correlation"
    ids = rsa.shared_test_images(responses, min_repeats=2 if distance == "crossnobis" else 1)
    log.info("RSA over %d shared test images, %s RDMs", len(ids), distance)
    brain = {data.subject: rsa.roi_rdms(data, list(smk.params.rois), ids, distance, settings["noise"])
             for data in responses}
    features = {}
    for b, backbone in enumerate(backbones):
        paths = smk.input.features[b * len(subjects):(b + 1) * len(subjects)]
        for layer in feature_layers(paths[0]):
            features[f"{backbone}/{layer}"] = load_features(list(paths), ids, tokens=True, layer=layer).tokens
    models = rsa.model_rdms(features, ids, distance)
    comparisons, identification = rsa.rsa_tables(brain, models, settings["thresholds"], settings["method"],
                                                 settings["bootstrap"])
    write_table(comparisons.assign(distance=distance), smk.output.comparisons, float_format="%.4f")
    write_table(identification, smk.output.identification, float_format="%.4f")

    first = brain[subjects[0]]
    order = rsa.rdm_order(first.mean() if first.n_rdm > 1 else first)
    panels = {f"{subjects[0]} {roi}": first.subset("roi", roi).get_matrices()[0]
              for roi in first.rdm_descriptors["roi"]}
    panels.update({name: models.subset("model", name).get_matrices()[0] for name in models.rdm_descriptors["model"]})
    figures.save_figure(figures.rdm_panels(panels, order, f"{distance} RDMs of {len(ids)} shared test images (rank "
                                                          "percentiles; images ordered by clustering the ROIs' mean "
                                                          "RDM)"),
                        smk.output.rdms)
    figures.save_figure(figures.rsa_model_bars(comparisons), smk.output.models)
    figures.save_figure(figures.identification_bars(identification), smk.output.identification_figure)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
