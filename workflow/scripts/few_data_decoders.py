"""Snakemake glue: one held-out subject's decoders, from scratch and fine-tuned from the shared model, trained on its
first N sessions for each N of decoders.contrastive.new_subject_sessions (rule few_data_decoders)."""

from voxelflow.config_check import dataclass_settings
from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder
from voxelflow.decoders.few_data import DecoderSetup, decoding_curve
from voxelflow.encoders.features import load_features
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table


def main(smk) -> None:
    settings, device = smk.params.contrastive, smk.params.device
    responses = read_responses(smk.input.responses, trials=True)
    targets = load_features(smk.input.features, responses.image_ids, tokens=settings["tokens"])
    setup = DecoderSetup(dataclass_settings(ContrastiveConfig, settings),
                         ContrastiveDecoder.load(smk.input.shared, device=device), smk.params.start["fine_tune"],
                         smk.params.start["adapter_init"], settings["train_on"], smk.params.retrieval["n_candidates"],
                         smk.params.retrieval["n_draws"], device)
    table = decoding_curve(responses, smk.params.sessions, targets.embeddings(settings["tokens"]), setup)
    table.insert(0, "subject", smk.wildcards.subject)
    write_table(table, smk.output.table)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
