"""Snakemake glue: train the pixel-space generator on every subject's training images (never the shared test
images), conditioned on the decoders' target embeddings (rule train_generator)."""

import numpy as np

from voxelflow.config_check import dataclass_settings
from voxelflow.decoders.generator import GeneratorConfig, ImageGenerator
from voxelflow.encoders.features import load_features
from voxelflow.images import resize_images, to_uint8
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_image_ids
from voxelflow.script_runner import run_reporting_errors, training_checkpoint

CHUNK = 512  # images read and downsized at a time, so NSD's 425-px brick never sits in memory whole


def main(smk) -> None:
    train_ids = np.concatenate([read_image_ids(path, "train") for path in smk.input.responses])
    test_ids = np.concatenate([read_image_ids(path, "test") for path in smk.input.responses])
    ids = np.setdiff1d(train_ids, test_ids)  # sorted, unique
    config = dataclass_settings(GeneratorConfig, smk.params.train)
    images = np.concatenate([to_uint8(resize_images(read_stimuli(smk.input.stimuli, ids[i:i + CHUNK]),
                                                     config.image_size)) for i in range(0, len(ids), CHUNK)])
    embeddings = load_features(list(smk.input.features), ids, tokens=smk.params.tokens).embeddings(smk.params.tokens)
    with training_checkpoint(smk.output.generator) as checkpoint:
        generator = ImageGenerator(config, device=smk.params.device, checkpoint=checkpoint)
        generator.fit(images, embeddings).save(smk.output.generator)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
