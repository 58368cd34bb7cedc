"""Snakemake glue: synthesize one target's images for one subject by encoder-guided diffusion; the target
"unguided" samples the same seeds without guidance; the grid puts them beside the natural test images of
highest measured target response (rule synthesize)."""

import logging
import time

import numpy as np

from voxelflow.decoders.generator import to_uint8
from voxelflow.decoding_metrics import resize_images
from voxelflow.devices import resolve_device
from voxelflow.encoders.backbones import build_backbone
from voxelflow.figures import image_rows, save_figure
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.synthesis.evaluation import natural_choices
from voxelflow.synthesis.guidance import BrainGuidance, encoder_objective
from voxelflow.synthesis.synthesize import load_encoder, load_generator, synthesize, write_images
from voxelflow.synthesis.targets import resolve_target

log = logging.getLogger("voxelflow")


def main(smk) -> None:
    settings, target = smk.params.synthesis, smk.wildcards.target
    device = resolve_device(smk.params.device)
    generator = load_generator(smk.input.generator, device=device,
                               gradient_checkpointing=settings["gradient_checkpointing"])
    responses = read_responses(smk.input.responses)
    guidance = weights = None
    if target != "unguided":
        weights = resolve_target(target, settings["targets"][target], responses)
        encoder, tokens = load_encoder(settings["guide"]["encoder"], smk.input.guide, device=device)
        backbone = build_backbone(settings["guide"]["backbone"], smk.params.backbone_spec).to(device)
        guidance = BrainGuidance(encoder_objective(backbone, encoder, weights, tokens), settings["scale"],
                                 every=settings["every"], through_denoiser=settings["through_denoiser"])
    start = time.perf_counter()
    images = synthesize(generator, guidance, settings["n_images"], settings["steps"], settings["seed"],
                        settings["batch_size"])
    seconds = (time.perf_counter() - start) / len(images)
    log.info("%s %s: %d images of %d px, %.2f s per image", smk.wildcards.subject, target, len(images),
             images.shape[1], seconds)
    write_images(smk.output.images, images, {
        "subject": smk.wildcards.subject, "target": target, "spec": str(settings["targets"].get(target, "")),
        "scale": settings["scale"] if guidance else 0.0, "seed": settings["seed"], "steps": settings["steps"],
        "guide": f"{settings['guide']['encoder']}-{settings['guide']['backbone']}", "seconds_per_image": seconds,
        "generator": str(smk.input.generator), "device": str(device)})
    save_figure(beside_natural(images, target, weights, responses, smk.input.stimuli, settings), smk.output.grid)


def beside_natural(images, target, weights, responses, stimuli, settings):
    """Grid figure: the synthesized images (rows of n_natural) over natural test images (bottom row, at their
    size): those of highest measured target response, or for the unguided images (weights None) some at random."""
    test = responses.is_test
    measured = responses.responses[test]
    top, random = natural_choices(measured @ weights if weights is not None else measured[:, 0],
                                  settings["n_natural"], settings["seed"])
    chosen, label = (random, "natural\n(random)") if weights is None else (top, "natural top\n(measured)")
    natural = read_stimuli(stimuli, responses.image_ids[test][chosen])
    n_cols = len(natural)
    n_synthesized_rows = -(-len(images) // n_cols)
    cells = np.full((n_synthesized_rows + 1, n_cols, *natural.shape[1:]), 255, np.uint8)  # white: no image
    cells[:-1].reshape(-1, *natural.shape[1:])[:len(images)] = to_uint8(
        resize_images(images.astype(np.float32) / 255, natural.shape[1]))
    cells[-1] = natural
    return image_rows(cells, [f"synthesized\n{target}"] + [""] * (n_synthesized_rows - 1) + [label])


run_reporting_errors(lambda: main(snakemake), snakemake.log[0])  # noqa: F821 - injected by Snakemake
