"""Snakemake glue: one target's synthesized images beside natural test images (rule synthesis_grid)."""

from voxelflow.figures import save_figure, synthesis_grid
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.synthesis.evaluation import natural_choices
from voxelflow.synthesis.synthesize import read_images
from voxelflow.synthesis.targets import resolve_target


def main(smk) -> None:
    target, responses = smk.wildcards.target, read_responses(smk.input.responses)
    test = responses.is_test
    measured = responses.responses[test]
    if target == "unguided":  # no target: natural images at random
        chosen = natural_choices(measured[:, 0], smk.params.n_natural, smk.params.seed)[1]
        label = "natural\n(random)"
    else:
        weights = resolve_target(target, smk.params.target_spec, responses)
        chosen = natural_choices(measured @ weights, smk.params.n_natural, smk.params.seed)[0]
        label = "natural top\n(measured)"
    natural = read_stimuli(smk.input.stimuli, responses.image_ids[test][chosen])
    save_figure(synthesis_grid(read_images(smk.input.images)[0], f"synthesized\n{target}", natural, label),
                smk.output.grid)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
