"""Snakemake glue: in-context encoder vs ridge on the same k context images (rule few_shot_curve)."""

from voxelflow.encoders.features import load_features
from voxelflow.encoders.few_shot import few_shot_table
from voxelflow.encoders.in_context import InContextEncoder
from voxelflow.figures import few_shot_curves, save_figure
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    features = load_features(smk.input.features, responses.image_ids).pooled
    encoder = InContextEncoder.load(smk.input.network, device=smk.params.device)
    settings = smk.params.in_context["few_shot"]
    ridge = {**{k: v for k, v in smk.params.ridge.items() if k in ("alphas", "cv")}, "device": smk.params.device}
    table = few_shot_table(encoder, ridge, responses, features, settings["ks"], settings["repeats"],
                           smk.params.rois, seed=smk.params.in_context["seed"])
    write_table(table, smk.output.table)
    save_figure(few_shot_curves(table), smk.output.figure)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
