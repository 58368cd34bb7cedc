"""Snakemake glue: diffusion prior from the decoder's brain embeddings to the image embeddings (rule fit_prior)."""

from voxelflow.config_check import dataclass_settings
from voxelflow.decoders.contrastive import ContrastiveDecoder
from voxelflow.decoders.prior import DiffusionPrior, PriorConfig
from voxelflow.encoders.features import load_features
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors, training_checkpoint


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    train = ~responses.is_test
    targets = load_features(smk.input.features, responses.image_ids[train], tokens=smk.params.tokens)
    decoder = ContrastiveDecoder.load(smk.input.decoder, device=smk.params.device)
    with training_checkpoint(smk.output.prior) as checkpoint:
        prior = DiffusionPrior(dataclass_settings(PriorConfig, smk.params.prior), device=smk.params.device,
                               checkpoint=checkpoint)
        prior.fit(decoder.embed(responses.responses[train]), targets.embeddings(smk.params.tokens))
        prior.save(smk.output.prior)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
