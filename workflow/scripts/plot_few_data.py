"""Snakemake glue: few-data curves averaged over the held-out subjects, as a table and a figure (rule
few_data_summary)."""

from voxelflow.decoders.few_data import few_data_summary
from voxelflow.figures import few_data_curves, save_figure
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import read_table, write_table


def main(smk) -> None:
    summary = few_data_summary([read_table(path) for path in smk.input.tables])
    write_table(summary, smk.output.table)
    save_figure(few_data_curves(summary, smk.params.subjects, smk.params.target), smk.output.figure)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
