"""Snakemake glue: one held-out subject's ridge (from scratch) and in-context encoder, made from its first N sessions
for each N of decoders.contrastive.new_subject_sessions (rule few_data_encoders)."""

from voxelflow.decoders.few_data import encoding_curve
from voxelflow.encoders.features import load_features
from voxelflow.encoders.in_context import InContextEncoder
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table


def main(smk) -> None:
    device = smk.params.device
    responses = read_responses(smk.input.responses, trials=True)
    features = load_features(smk.input.features, responses.image_ids).pooled
    in_context = InContextEncoder.load(smk.input.network, device=device) if "network" in smk.input.keys() else None
    ridge = {**{k: v for k, v in smk.params.ridge.items() if k in ("alphas", "cv")}, "device": device}
    table = encoding_curve(responses, smk.params.sessions, features, ridge, in_context, smk.params.rois)
    table.insert(0, "subject", smk.wildcards.subject)
    write_table(table, smk.output.table)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
