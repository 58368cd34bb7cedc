"""Snakemake glue: rank ROIs by the in-context voxel models' predicted response to text prompts
(rule text_selectivity)."""

from voxelflow.encoders.backbones import encode_text
from voxelflow.encoders.in_context_probes import text_selectivity
from voxelflow.encoders.linear import LinearEncoder
from voxelflow.figures import save_figure, selectivity_heatmap
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    models = LinearEncoder.load(smk.input.model)
    prompts = list(smk.params.prompts)
    table = text_selectivity(models, encode_text(dict(smk.params.backbone), prompts), prompts,
                             responses.rois.present(smk.params.rois))
    write_table(table, smk.output.table)
    save_figure(selectivity_heatmap(table), smk.output.figure)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
