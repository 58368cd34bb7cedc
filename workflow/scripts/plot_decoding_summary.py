"""Snakemake glue: retrieval and reconstruction metrics of every subject, one table per metric protocol, each
captioned with what it follows (rule decoding_summary)."""

import json
from pathlib import Path

import pandas as pd

from voxelflow.decoders.evaluation import protocol_summary
from voxelflow.decoders.protocols import get_protocol
from voxelflow.figures import metrics_tables, save_figure
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import read_table, write_table


def main(smk) -> None:
    retrieval = pd.DataFrame([json.loads(Path(path).read_text()) for path in smk.input.retrieval])
    metrics = pd.concat([read_table(path) for path in smk.input.metrics]) if smk.input.metrics else None
    tables, sections = [], []
    for protocol in map(get_protocol, smk.params.protocols):
        table, averaged = protocol_summary(protocol, retrieval, metrics)
        tables.append(table.assign(protocol=protocol.name))
        n_test = "/".join(map(str, dict.fromkeys(retrieval["n_test"])))
        sessions = "/".join(map(str, dict.fromkeys(retrieval["sessions"])))
        caption = protocol.describe(n_test, sessions, averaged, smk.params.samples)
        sections.append((f"Decoding, protocol {protocol.name}", table, caption))
    write_table(pd.concat(tables, ignore_index=True), smk.output.table, float_format="%.4f")
    save_figure(metrics_tables(sections), smk.output.figure)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
