"""Snakemake glue: retrieval and reconstruction metrics of every subject in one table (rule decoding_summary)."""

import json
from pathlib import Path

import pandas as pd

from voxelflow.atomic_output import atomic_output
from voxelflow.figures import metrics_table, save_figure
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    retrieval = pd.DataFrame([json.loads(Path(path).read_text()) for path in smk.input.retrieval])
    table = retrieval[["subject", "image_retrieval", "brain_retrieval", "chance", "n_candidates"]]
    if smk.input.metrics:
        recon = pd.concat([pd.read_csv(path, sep="\t", na_values="unavailable") for path in smk.input.metrics])
        table = table.merge(recon[recon["images"] == "reconstruction"].drop(columns="images"), on="subject")
    mean = table.drop(columns="subject").mean().to_frame().T.assign(subject="mean")
    table = pd.concat([table, mean], ignore_index=True).astype({"n_candidates": int})
    with atomic_output(smk.output.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="unavailable", float_format="%.4f")
    save_figure(metrics_table(table, "Decoding: top-1 retrieval and reconstruction metrics"), smk.output.figure)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
