"""Snakemake glue: meta-train the in-context encoder on the training subjects' training images
(rule meta_train_in_context)."""

from voxelflow.encoders.features import load_features
from voxelflow.encoders.in_context import InContextConfig, InContextEncoder
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors, training_checkpoint

NETWORK_KEYS = set(InContextConfig.__dataclass_fields__)


def main(smk) -> None:
    datasets = {}
    for subject, path, features in zip(smk.params.subjects, smk.input.responses, smk.input.features):
        responses = read_responses(path)
        train = ~responses.is_test
        datasets[subject] = (load_features(features, responses.image_ids[train]).pooled,
                             responses.responses[train])
    config = InContextConfig(**{k: v for k, v in smk.params.in_context.items() if k in NETWORK_KEYS})
    with training_checkpoint(smk.output.network) as checkpoint:
        encoder = InContextEncoder(config, device=smk.params.device, checkpoint=checkpoint)
        encoder.meta_fit(datasets).save(smk.output.network)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
