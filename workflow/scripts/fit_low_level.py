"""Snakemake glue: ridge from voxels to blurry training images, the img2img start (rule fit_low_level)."""

from voxelflow.decoders.low_level import BlurryDecoder
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors


def main(smk) -> None:
    responses = read_responses(smk.input.responses)
    train = ~responses.is_test
    images = read_stimuli(smk.input.stimuli, responses.image_ids[train])
    decoder = BlurryDecoder(size=smk.params.size, device=smk.params.device)
    decoder.fit(responses.responses[train], images).save(smk.output.model)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
