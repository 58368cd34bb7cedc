"""Snakemake glue: score one subject's synthesized images against natural test images with the guiding
encoder, an encoder that never guided, and (mini-NSD) the planted true brain; plot the target responses
(rule score_synthesis)."""

from voxelflow.devices import resolve_device
from voxelflow.figures import save_figure, synthesis_responses
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.synthesis.evaluation import IMAGE_SETS, fitted_encoder_scorer, synthesis_table, true_brain_scorer
from voxelflow.synthesis.synthesize import read_images
from voxelflow.synthesis.targets import resolve_target
from voxelflow.tables import write_table


def main(smk) -> None:
    settings, subject = smk.params.synthesis, smk.wildcards.subject
    device = resolve_device(smk.params.device)
    responses = read_responses(smk.input.responses)
    test = responses.is_test
    natural = read_stimuli(smk.input.stimuli, responses.image_ids[test])
    targets = list(settings["targets"])
    weights = {t: resolve_target(t, settings["targets"][t], responses) for t in targets}
    synthesized = {t: read_images(path)[0] for t, path in zip(targets, smk.input.images)}
    scorers = {}
    for role in ("guide", "validate"):
        choice = settings[role]
        scorers[f"{choice['encoder']}-{choice['backbone']} ({role})"] = fitted_encoder_scorer(
            smk.input[role], choice["backbone"], smk.params.backbone_specs[role], device)
    if "truth" in smk.input.keys():
        scorers["true brain"] = true_brain_scorer(smk.input.truth, subject, responses.location_keys,
                                                 responses.on_surface)
    table = synthesis_table(weights, synthesized, read_images(smk.input.unguided)[0], natural,
                            responses.responses[test], scorers, settings["n_natural"], settings["seed"])
    write_table(table, smk.output.scores, float_format="%.4f")
    save_figure(synthesis_responses(table, list(IMAGE_SETS[:5])), smk.output.responses_figure)

run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
