"""Snakemake glue: retrieval and reconstruction metrics of every subject in one table (rule decoding_summary)."""

import json
from pathlib import Path

import pandas as pd

from voxelflow.figures import metrics_table, save_figure
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import read_table, write_table


def main(smk) -> None:
    retrieval = pd.DataFrame([json.loads(Path(path).read_text()) for path in smk.input.retrieval])
    table = retrieval[["subject", "image_retrieval", "brain_retrieval", "chance", "n_candidates"]]
    if smk.input.metrics:
        recon = pd.concat([read_table(path) for path in smk.input.metrics])
        table = table.merge(recon[recon["images"] == "reconstruction"].drop(columns="images"), on="subject")
    mean = table.drop(columns="subject").mean().to_frame().T.assign(subject="mean")
    table = pd.concat([table, mean], ignore_index=True).astype({"n_candidates": int})
    write_table(table, smk.output.table, float_format="%.4f")
    save_figure(metrics_table(table, "Decoding: top-1 retrieval and reconstruction metrics"), smk.output.figure)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
