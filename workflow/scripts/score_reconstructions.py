"""Snakemake glue: one subject's reconstruction metrics under each configured protocol, as a table and a figure
(rule score_reconstructions)."""

import pandas as pd

from voxelflow.decoders.evaluation import candidate_sets, reconstruction_table, stored_size
from voxelflow.decoders.protocols import get_protocol
from voxelflow.decoders.reconstruction import read_reconstructions
from voxelflow.encoders.backbones import build_backbone
from voxelflow.encoders.features import image_embedder
from voxelflow.figures import metrics_tables, save_figure
from voxelflow.images import to_unit_float
from voxelflow.nsd_layout import read_stimuli
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table


def main(smk) -> None:
    settings, device, subject = smk.params.reconstruction, smk.params.device, smk.wildcards.subject
    ids, out, attrs = read_reconstructions(smk.input.images)
    truth = to_unit_float(read_stimuli(smk.input.stimuli, ids))
    embed = image_embedder(build_backbone(smk.params.target, smk.params.target_spec), device)
    tables, sections = [], []
    for protocol in map(get_protocol, settings["protocols"]):
        sets = candidate_sets(out.images, out.blurry, stored_size(protocol, truth.shape[1]), protocol.stored_resize,
                              out.best, out.n_samples)
        table = reconstruction_table(truth, sets, embed, smk.params.target, settings["metric_networks"], device,
                                     protocol)
        tables.append(table)
        caption = protocol.describe(len(ids), str(attrs["sessions"]), [subject], out.n_samples)
        sections.append((f"{subject}: {protocol.name}", table.drop(columns="protocol"), caption))
    table = pd.concat(tables, ignore_index=True)
    table.insert(0, "subject", subject)
    write_table(table, smk.output.metrics, float_format="%.4f")
    save_figure(metrics_tables(sections), smk.output.table)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
