"""Snakemake glue: synthesize one target's images for one subject by encoder-guided diffusion; the target
"unguided" samples the same seeds without guidance (rule synthesize)."""

import logging
import time

from voxelflow.devices import resolve_device
from voxelflow.encoders.backbones import build_backbone
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.synthesis.guidance import BrainGuidance, encoder_objective
from voxelflow.synthesis.synthesize import synthesize, write_images
from voxelflow.synthesis.targets import resolve_target
from voxelflow.toolkit.registry import load_encoder, load_generator

log = logging.getLogger("voxelflow")


def main(smk) -> None:
    settings, target = smk.params.settings, smk.wildcards.target
    device = resolve_device(smk.params.device)
    generator = load_generator(smk.input.generator, device=device,
                               gradient_checkpointing=settings["gradient_checkpointing"])
    guidance = None
    if target != "unguided":
        weights = resolve_target(target, smk.params.target_spec, read_responses(smk.input.responses))
        encoder = load_encoder(smk.input.guide, device=device)
        backbone = build_backbone(settings["guide"]["backbone"], smk.params.backbone_spec).to(device)
        guidance = BrainGuidance(encoder_objective(backbone, encoder, weights), settings["scale"],
                                 every=settings["every"], through_denoiser=settings["through_denoiser"])
    start = time.perf_counter()
    images = synthesize(generator, guidance, settings["n_images"], settings["steps"], settings["seed"],
                        settings["batch_size"])
    seconds = (time.perf_counter() - start) / len(images)
    log.info("%s %s: %d images of %d px, %.2f s per image", smk.wildcards.subject, target, len(images),
             images.shape[1], seconds)
    write_images(smk.output.images, images, {
        "subject": smk.wildcards.subject, "target": target, "spec": str(smk.params.target_spec),
        "scale": settings["scale"] if guidance else 0.0, "seed": settings["seed"], "steps": settings["steps"],
        "guide": f"{settings['guide']['encoder']}-{settings['guide']['backbone']}", "seconds_per_image": seconds,
        "generator": str(smk.input.generator), "device": str(device)})


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
