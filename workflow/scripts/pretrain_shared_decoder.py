"""Snakemake glue: one brain -> image-embedding decoder pretrained on several subjects through per-subject adapters
(MindEye2; rule pretrain_shared_decoder)."""

from dataclasses import replace

from voxelflow.config_check import dataclass_settings
from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder
from voxelflow.encoders.features import load_features
from voxelflow.responses import read_responses, training_pairs
from voxelflow.script_runner import run_reporting_errors, training_checkpoint


def main(smk) -> None:
    settings = smk.params.contrastive
    datasets = {}
    for subject, path, features in zip(smk.params.subjects, smk.input.responses, smk.input.features):
        responses = read_responses(path, trials=settings["train_on"] == "trials")
        targets = load_features(features, responses.image_ids, tokens=settings["tokens"])
        datasets[subject] = training_pairs(responses, targets.embeddings(settings["tokens"]), settings["train_on"])
    config = dataclass_settings(ContrastiveConfig, settings)
    if smk.params.epochs is not None:
        config = replace(config, epochs=smk.params.epochs)
    with training_checkpoint(smk.output.model) as checkpoint:
        decoder = ContrastiveDecoder(config, device=smk.params.device, checkpoint=checkpoint)
        decoder.fit_subjects(datasets).save(smk.output.model)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
