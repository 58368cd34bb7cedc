"""Snakemake glue: reconstruct one subject's test images and draw their grid (rule reconstruct)."""

from voxelflow.decoders.contrastive import ContrastiveDecoder
from voxelflow.decoders.evaluation import candidate_sets
from voxelflow.decoders.low_level import BlurryDecoder
from voxelflow.decoders.prior import DiffusionPrior
from voxelflow.decoders.reconstruction import reconstruct, write_reconstructions
from voxelflow.encoders.backbones import build_backbone
from voxelflow.encoders.features import image_embedder
from voxelflow.figures import reconstruction_grid, save_figure
from voxelflow.images import to_unit_float
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.toolkit.registry import load_generator


def main(smk) -> None:
    settings, device = smk.params.reconstruction, smk.params.device
    responses = read_responses(smk.input.responses)
    ids = responses.image_ids[responses.is_test]
    low_level = BlurryDecoder.load(smk.input.low_level) if "low_level" in smk.input.keys() else None
    out = reconstruct(responses.responses[responses.is_test], ContrastiveDecoder.load(smk.input.decoder, device=device),
                      DiffusionPrior.load(smk.input.prior, device=device),
                      load_generator(smk.input.generator, device=device), low_level,
                      strength=settings["strength"], n_steps=settings["steps"],
                      guidance_scale=settings["guidance_scale"], seed=settings["seed"], n_samples=settings["samples"],
                      embed=image_embedder(build_backbone(smk.params.target, smk.params.target_spec), device,
                                           tokens=smk.params.tokens))
    write_reconstructions(smk.output.images, ids, out, {
        "strength": settings["strength"], "steps": settings["steps"], "seed": settings["seed"],
        "sessions": len(responses.attrs["sessions"]), "test_split": str(responses.attrs["test_split"])})
    truth = to_unit_float(read_stimuli(smk.input.stimuli, ids))
    sets = candidate_sets(out.images, out.blurry, truth.shape[1], best=out.best, n_samples=out.n_samples)
    save_figure(reconstruction_grid(truth, sets, ids, settings["grid_rows"]), smk.output.grid)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
