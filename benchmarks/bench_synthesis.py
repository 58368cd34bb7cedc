"""Seconds per synthesized image with brain guidance against plain unguided sampling in the same run.

Tiny (always; the demo's sizes): the 32-px pixel generator (random weights, 25 DDIM steps), guided by the Gabor
backbone and a linear voxel model. Real size (on CUDA, or with --real): a Stable Diffusion 1.x-size UNet and VAE
(512 px, 50 steps, half precision on CUDA) built from their configs with random weights, guided by an open_clip
ViT-B/16 image tower and a linear model over 15,000 voxels (BrainDiVE's encoder). Guidance variants: the gradient
with respect to the clean prediction (no backward through the UNet), through the denoiser (BrainDiVE; with
gradient checkpointing at real size), and every 5th step. Printed: s/image, the overhead ratio against
unguided, and peak GPU memory on CUDA.

Usage: python benchmarks/bench_synthesis.py [--images 8] [--device auto] [--real]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from voxelflow.decoders.generator import GeneratorConfig, ImageGenerator, build_unet
from voxelflow.devices import resolve_device
from voxelflow.encoders.backbones import GaborBackbone, OpenClipBackbone
from voxelflow.encoders.linear import LinearEncoder
from voxelflow.synthesis.guidance import BrainGuidance, encoder_objective

VARIANTS = {"unguided": None, "guided (clean prediction)": {}, "guided through denoiser": {"through_denoiser": True},
            "guided every 5th step": {"every": 5}}


def random_linear(n_features: int, n_voxels: int) -> LinearEncoder:
    rng = np.random.default_rng(0)
    return LinearEncoder(rng.normal(size=(n_features, n_voxels)) / np.sqrt(n_features), np.zeros(n_voxels),
                         np.zeros(n_features), np.ones(n_features))


def tiny_setup(device: torch.device):
    config = GeneratorConfig()
    generator = ImageGenerator(config, device=str(device))
    generator.unet, generator.embedding_scale = build_unet(config, 64).to(device).eval(), 1.0
    backbone = GaborBackbone().to(device)
    weights = np.full(2000, 1 / 2000, np.float32)
    n_features = backbone(torch.zeros(1, 3, 64, 64, device=device))[0].shape[1]
    return generator, encoder_objective(backbone, random_linear(n_features, 2000), weights), 25, 8


def real_setup(device: torch.device):
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from voxelflow.synthesis.stable_diffusion import StableDiffusionGenerator

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)  # SD 1.x layout (860M parameters)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                        sample_size=512)
    scheduler = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1,
                 "num_train_timesteps": 1000, "prediction_type": "epsilon"}
    text = torch.randn(1, 77, 768)  # the conditioning of any prompt: a CLIP text tower's width and length
    generator = StableDiffusionGenerator(unet, vae, scheduler, lambda prompts: text.expand(len(prompts), -1, -1),
                                         device=str(device), gradient_checkpointing=True)
    backbone = OpenClipBackbone("ViT-B-16").to(device)
    weights = np.full(15000, 1 / 15000, np.float32)
    return generator, encoder_objective(backbone, random_linear(512, 15000), weights), 50, 4


def time_variants(generator, objective, n_steps: int, batch: int, n_images: int, device: torch.device) -> dict:
    generator.sample(1, n_steps=2, seed=0, batch_size=1)  # warm-up
    results = {}
    for name, options in VARIANTS.items():
        guide = None if options is None else BrainGuidance(objective, 100.0, **options)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        start = time.perf_counter()
        generator.sample(n_images, n_steps=n_steps, seed=0, batch_size=batch, guide=guide)
        if device.type == "cuda":
            torch.cuda.synchronize()
        results[name] = {"s_per_image": (time.perf_counter() - start) / n_images}
        if device.type == "cuda":
            results[name]["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return results


def report(title: str, results: dict) -> None:
    print(title)
    base = results["unguided"]["s_per_image"]
    for name, result in results.items():
        memory = f", peak GPU {result['peak_gpu_gib']:.1f} GiB" if "peak_gpu_gib" in result else ""
        print(f"  {name:28s} {result['s_per_image']:7.3f} s/image  ({result['s_per_image'] / base:.2f}x unguided)"
              f"{memory}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--real", action="store_true", help="real-size components even without CUDA (slow)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    generator, objective, steps, batch = tiny_setup(device)
    report(f"tiny (demo sizes: 32-px pixel UNet, {steps} steps, Gabor + linear 2,000 voxels) on {device}, "
           f"{args.images} images", time_variants(generator, objective, steps, batch, args.images, device))
    if device.type == "cuda" or args.real:
        generator, objective, steps, batch = real_setup(device)
        dtype = "float16" if device.type == "cuda" else "float32"
        report(f"real size (SD 1.x UNet + VAE, 512 px, {steps} steps, {dtype}, ViT-B/16 + linear 15,000 voxels, "
               f"batch {batch}, gradient checkpointing) on {device}, {args.images} images",
               time_variants(generator, objective, steps, batch, args.images, device))


if __name__ == "__main__":
    main()
