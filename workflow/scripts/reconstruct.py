"""Snakemake glue: reconstruct one subject's test images, score them, draw the grid and the metrics table
(rule reconstruct)."""

import h5py
import numpy as np
import torch

from voxelflow.atomic_output import atomic_output
from voxelflow.decoders.contrastive import ContrastiveDecoder
from voxelflow.decoders.evaluation import candidate_sets, reconstruction_table
from voxelflow.decoders.low_level import BlurryDecoder
from voxelflow.decoders.prior import DiffusionPrior
from voxelflow.decoders.reconstruction import load_generator, reconstruct
from voxelflow.devices import resolve_device
from voxelflow.encoders.backbones import build_backbone, images_to_tensor
from voxelflow.figures import image_rows, metrics_table, save_figure
from voxelflow.images import to_uint8
from voxelflow.nsd_layout import read_stimuli
from voxelflow.responses import read_responses
from voxelflow.script_runner import run_reporting_errors
from voxelflow.tables import write_table


def backbone_embedder(name: str, spec: dict, device: str):
    """images (n, H, W, 3) in [0, 1] -> the backbone's pooled embeddings (n, d), as features.h5 holds them."""
    device = resolve_device(device)
    backbone = build_backbone(name, dict(spec)).to(device).eval()

    def embed(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([backbone(images_to_tensor(to_uint8(images[i:i + 64]), device))[0]
                                   .float().cpu().numpy() for i in range(0, len(images), 64)])
    return embed


def main(smk) -> None:
    settings = smk.params.reconstruction
    responses = read_responses(smk.input.responses)
    test = responses.is_test
    ids = responses.image_ids[test]
    device = smk.params.device
    low_level = BlurryDecoder.load(smk.input.low_level) if "low_level" in smk.input.keys() else None
    out = reconstruct(responses.responses[test], ContrastiveDecoder.load(smk.input.decoder, device=device),
                      DiffusionPrior.load(smk.input.prior, device=device),
                      load_generator(smk.input.generator, device=device), low_level,
                      strength=settings["strength"], n_steps=settings["steps"],
                      guidance_scale=settings["guidance_scale"], seed=settings["seed"])
    truth = read_stimuli(smk.input.stimuli, ids).astype(np.float32) / 255
    sets = candidate_sets(out.images, out.blurry, truth.shape[1])
    table = reconstruction_table(truth, sets, backbone_embedder(smk.params.target, smk.params.target_spec, device),
                                 smk.params.target, settings["metric_networks"], device)
    table.insert(0, "subject", smk.wildcards.subject)
    with atomic_output(smk.output.images) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("image_ids", data=ids)
        f.create_dataset("images", data=to_uint8(out.images))
        f.create_dataset("embeddings", data=out.embeddings)
        if out.blurry is not None:
            f.create_dataset("blurry", data=to_uint8(out.blurry))
        f.attrs.update({"strength": settings["strength"], "steps": settings["steps"], "seed": settings["seed"]})
    write_table(table, smk.output.metrics, float_format="%.4f")
    rows = min(settings["grid_rows"], len(ids))
    columns = ["test image", *sets]
    grid = np.stack([truth[:rows], *(images[:rows] for images in sets.values())], axis=1)
    save_figure(image_rows(to_uint8(grid), [f"#{i}" for i in ids[:rows]], [columns] * rows), smk.output.grid)
    save_figure(metrics_table(table.drop(columns="subject"), f"{smk.wildcards.subject}: reconstruction of "
                              f"{len(ids)} test images"), smk.output.table)


run_reporting_errors(lambda: main(snakemake), snakemake.log[0], snakemake.threads)  # noqa: F821 (Snakemake)
