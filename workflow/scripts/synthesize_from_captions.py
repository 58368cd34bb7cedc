"""Snakemake glue: each ROI's images prompted by its voxels' captions (BrainSCUBA), the same seeds unprompted,
scored by the captioned ridge encoder, a validating encoder and (mini-NSD) the planted true brain against
natural test images (rule synthesize_from_captions)."""

import numpy as np

from voxelflow.devices import resolve_device
from voxelflow.figures import image_rows, save_figure, synthesis_responses
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.synthesis.caption_images import UNPROMPTED, caption_prompts, images_from_captions, \
    load_text_to_image, write_caption_images
from voxelflow.synthesis.evaluation import IMAGE_SETS, fitted_encoder_scorer, synthesis_table, true_brain_scorer
from voxelflow.synthesis.targets import target_weights
from voxelflow.tables import read_table, write_table


def main(smk) -> None:
    settings, subject = smk.params.captions["synthesis"], smk.wildcards.subject
    captioned, backbones = smk.params.captions["backbone"], smk.params.backbone_specs
    device = resolve_device(smk.params.device)
    responses = read_responses(smk.input.responses)
    test = responses.is_test
    natural = read_stimuli(smk.input.stimuli, responses.image_ids[test])
    prompts = caption_prompts(read_table(smk.input.captions), settings["n_images"])
    generator = load_text_to_image(smk.input.get("generator", settings["generator"]), natural.shape[1], device)
    images = images_from_captions(generator, prompts, settings["steps"], settings["seed"], settings["text_guidance"],
                                  settings["batch_size"])
    write_caption_images(smk.output.images, images, prompts, {"subject": subject, **settings,
                                                              "validate": str(settings.get("validate"))})

    scorers = {f"ridge-{captioned} (captioned)": fitted_encoder_scorer(smk.input.captioned, captioned,
                                                                        backbones[captioned], device)}
    if "validate" in smk.input.keys():
        choice = settings["validate"]
        scorers[f"{choice['encoder']}-{choice['backbone']} (validate)"] = fitted_encoder_scorer(
            smk.input.validate, choice["backbone"], backbones[choice["backbone"]], device)
    if "truth" in smk.input.keys():
        scorers["true brain"] = true_brain_scorer(smk.input.truth, subject, responses.location_keys,
                                                 responses.on_surface)
    weights = {roi: target_weights(responses.rois, roi) for roi in prompts}
    table = synthesis_table(weights, {roi: images[roi] for roi in prompts}, images[UNPROMPTED], natural,
                            responses.responses[test], scorers, settings["n_natural"], settings["seed"])
    write_table(table, smk.output.scores, float_format="%.4f")
    save_figure(synthesis_responses(table, list(IMAGE_SETS[:5])), smk.output.responses_figure)

    rows = [*prompts, UNPROMPTED]
    cells = np.stack([images[roi] for roi in rows])
    titles = [[p[:18] for p in prompts[roi]] if roi in prompts else [""] * cells.shape[1] for roi in rows]
    save_figure(image_rows(cells, rows, titles), smk.output.grid)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
