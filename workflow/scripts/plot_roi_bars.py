"""Snakemake glue: the ROI bar plot over subjects, encoders and backbones (rule encoding_roi_bars)."""

import json
from pathlib import Path

import pandas as pd

from voxelflow.figures import roi_bar_plot, save_figure
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    rows = []
    for path in smk.input.summaries:
        summary = json.loads(Path(path).read_text())
        for roi, values in summary["rois"].items():
            rows.append({"subject": summary["subject"], "model": f"{summary['encoder']}-{summary['backbone']}",
                         "roi": roi, **values})
    save_figure(roi_bar_plot(pd.DataFrame(rows)), smk.output[0])


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
