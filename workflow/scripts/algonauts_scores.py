"""Snakemake glue: the Algonauts 2023 score (and mean r) of every subject, encoder and backbone on the held-out
images, over all vertices and per ROI, with the mean over subjects (rule algonauts_scores)."""

from voxelflow.algonauts import score_rows, score_table
from voxelflow.encoding_scores import read_scores
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table


def main(smk) -> None:
    responses = {data.subject: data for data in map(read_responses, smk.input.responses)}
    rows = []
    for path in smk.input.scores:
        scores = read_scores(path)
        data = responses[scores.attrs["subject"]]
        model = f"{scores.attrs['encoder']}-{scores.attrs['backbone']}"
        rows += score_rows(data.subject, model, scores.r, data.noise_ceiling,
                           data.rois.present(list(smk.params.rois), data.subject),
                           str(data.attrs.get("test_split")), str(data.attrs.get("noise_ceiling_source")))
    table = score_table(rows)
    write_table(table, smk.output.table, float_format="%.4f")


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
