"""Brain -> CLIP decoder training throughput and peak memory at NSD scale, and reconstruction speed.

NSD scale: 15,000 voxels -> 257 x 768 CLIP tokens (MindEye's ViT-L/14 target), batch 32, AdamW, the
real training loss (soft-CLIP + MSE). Configurations, each in its own process so that its peak memory
is its own: MindEye's reference MLP (hidden 4096, 4 residual blocks; the baseline) and the
"1024-hidden" variant MindEye2's authors recommend for one 24 GB GPU. Printed: samples/s, parameters,
peak resident memory (and peak GPU memory on CUDA), each against the reference in the same run.
Shared-subject pretraining (MindEye2): the same steps for a model with one adapter per subject (--subjects 7,
each step `batch` samples of every subject), against one single-subject model taking as many samples a step.
New-subject fine-tuning: ContrastiveDecoder.fit of one NSD session (--session-trials 750) from a pretrained shared
model (ridge-initialised adapter, all weights fine-tuned) against the same fit from scratch, --finetune-epochs each
(MindEye2 fine-tunes 150; the time scales with the epochs, so the note extrapolates).
Then images/s of reconstruction (prior + generator, 25 DDIM steps) with the demo-size models.

Usage: python benchmarks/bench_decoder.py [--steps 3] [--device auto] [--hidden 4096 1024] [--subjects 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from child_process import run_child  # noqa: E402
from training_steps import time_loss_steps  # noqa: E402


def decoder_throughput(hidden: int, n_blocks: int, steps: int, batch: int, n_voxels: int, device: str,
                       n_subjects: int = 1) -> dict:
    """AdamW steps of the real loss for a model with `n_subjects` adapters, `batch` samples of each a step."""
    import torch

    from voxelflow.decoders.contrastive import BrainToClip, ContrastiveConfig, _parameter_groups, training_loss
    from voxelflow.devices import resolve_device

    dev = resolve_device(device)
    cfg = ContrastiveConfig(hidden=hidden, n_blocks=n_blocks)
    subjects = [f"subj{i + 1:02d}" for i in range(n_subjects)]
    model = BrainToClip(dict.fromkeys(subjects, n_voxels), 257, 768, cfg).to(dev)
    voxels = {subject: torch.randn(batch, n_voxels, device=dev) for subject in subjects}
    targets = torch.randn(batch * n_subjects, 257, 768, device=dev)
    result = time_loss_steps(lambda: training_loss(model, voxels, targets, targets, cfg, 0.005),
                             _parameter_groups(model, cfg.weight_decay), steps, dev, lr=cfg.lr)
    result.update({"samples_per_s": steps * batch * n_subjects / result["seconds"], "device": str(dev),
                   "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6})
    return result


def fine_tuning_time(start: str, hidden: int, n_voxels: int, n_trials: int, epochs: int, n_subjects: int,
                     device: str) -> dict:
    """Seconds of ContrastiveDecoder.fit on one session (n_trials) from `start` "scratch" or "pretrained": a shared
    model pretrained (one step, on random data: only its shape matters here) on `n_subjects` others. The shared model
    is made either way, so that both processes pay the same first-allocation costs."""
    import numpy as np

    from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder

    rng = np.random.default_rng(0)
    cfg = ContrastiveConfig(hidden=hidden, epochs=epochs)
    targets = rng.normal(size=(n_trials, 257, 768)).astype(np.float32)
    session = rng.normal(size=(n_trials, n_voxels)).astype(np.float32)
    tiny = {f"subj{i + 1:02d}": (rng.normal(size=(cfg.batch_size, n_voxels)).astype(np.float32),
                                 targets[:cfg.batch_size]) for i in range(n_subjects)}
    shared = ContrastiveDecoder(ContrastiveConfig(hidden=hidden, epochs=1), device=device).fit_subjects(tiny)
    began = time.perf_counter()
    ContrastiveDecoder(cfg, device=device).fit(session, targets, "new", pretrained=shared if start == "pretrained"
                                               else None)
    return {"seconds": time.perf_counter() - began, "device": str(shared.device)}


def reconstruction_speed(n_images: int, device: str) -> dict:
    import numpy as np

    from voxelflow.decoders.generator import GeneratorConfig, ImageGenerator
    from voxelflow.decoders.prior import DiffusionPrior, PriorConfig

    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(64, 1, 768)).astype(np.float32)
    prior = DiffusionPrior(PriorConfig(width=64, n_layers=2, n_heads=4, epochs=1), device=device).fit(embeddings,
                                                                                                   embeddings)
    generator = ImageGenerator(GeneratorConfig(steps=1), device=device)
    generator.fit(rng.integers(0, 255, (64, 32, 32, 3), dtype=np.uint8), embeddings)
    brain = rng.normal(size=(n_images, 1, 768)).astype(np.float32)
    start = time.perf_counter()
    generator.generate(prior.sample(brain), n_steps=25)
    return {"images_per_s": n_images / (time.perf_counter() - start), "device": str(generator.device),
            "what": "prior (100 steps) + 32-px generator (25 DDIM steps, guidance), demo sizes"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--voxels", type=int, default=15000)
    parser.add_argument("--hidden", type=int, nargs="+", default=[4096, 1024])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--subjects", type=int, default=7)
    parser.add_argument("--shared-hidden", type=int, default=4096)
    parser.add_argument("--session-trials", type=int, default=750)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "decoder":
            result = decoder_throughput(int(args.child[1]), 4, args.steps, args.batch, args.voxels, args.device,
                                        int(args.child[2]) if len(args.child) > 2 else 1)
        elif args.child[0] == "finetune":
            result = fine_tuning_time(args.child[1], args.shared_hidden, args.voxels, args.session_trials,
                                      args.finetune_epochs, args.subjects, args.device)
        else:
            result = reconstruction_speed(args.images, args.device)
        print(json.dumps(result))
        return
    common = ["--steps", str(args.steps), "--batch", str(args.batch), "--voxels", str(args.voxels),
              "--images", str(args.images), "--device", args.device, "--subjects", str(args.subjects),
              "--shared-hidden", str(args.shared_hidden), "--session-trials", str(args.session_trials),
              "--finetune-epochs", str(args.finetune_epochs)]
    print(f"brain -> CLIP training, {args.voxels} voxels -> 257 x 768, batch {args.batch}, {args.steps} steps")
    reference = None
    for hidden in args.hidden:
        result = run_child(__file__, [*common, "--child", "decoder", str(hidden)])
        reference = reference or result
        memory = f"peak RSS {result['peak_rss_mib'] / 1024:.1f} GiB"
        if "peak_gpu_mib" in result:
            memory += f", peak GPU {result['peak_gpu_mib'] / 1024:.1f} GiB"
        print(f"  hidden {hidden:5d} x 4 blocks ({result['parameters_m']:.0f}M params, {result['device']}): "
              f"{result['samples_per_s']:.1f} samples/s ({result['samples_per_s'] / reference['samples_per_s']:.2f}x "
              f"hidden {args.hidden[0]}), {memory} "
              f"({result['peak_rss_mib'] / reference['peak_rss_mib']:.2f}x)")
    print(f"shared-subject pretraining (MindEye2), hidden {args.shared_hidden}, {args.subjects} subjects x "
          f"{args.voxels} voxels, {args.batch} samples of each subject a step, against one subject's model at "
          f"{args.batch * args.subjects} samples a step:")
    for label, child in (("one subject", [str(args.shared_hidden), "1"]),
                         (f"{args.subjects} subjects", [str(args.shared_hidden), str(args.subjects)])):
        batch = args.batch * args.subjects if label == "one subject" else args.batch
        result = run_child(__file__, [*common, "--batch", str(batch), "--child", "decoder", *child])
        reference = result if label == "one subject" else reference
        memory = f"peak RSS {result['peak_rss_mib'] / 1024:.1f} GiB"
        if "peak_gpu_mib" in result:
            memory += f", peak GPU {result['peak_gpu_mib'] / 1024:.1f} GiB " \
                      f"({result['peak_gpu_mib'] / reference['peak_gpu_mib']:.2f}x)"
        print(f"  {label:12s} ({result['parameters_m']:.0f}M params, {result['device']}): "
              f"{result['samples_per_s']:.1f} samples/s ({result['samples_per_s'] / reference['samples_per_s']:.2f}x)"
              f", {memory}")
    scratch, pretrained = (run_child(__file__, [*common, "--child", "finetune", start])
                           for start in ("scratch", "pretrained"))
    print(f"new subject, one session ({args.session_trials} trials, {args.finetune_epochs} epochs, "
          f"{scratch['device']}, each in its own process): from scratch {scratch['seconds']:.1f} s, from the "
          f"pretrained model (ridge adapter + fine-tuning) {pretrained['seconds']:.1f} s "
          f"({pretrained['seconds'] / scratch['seconds']:.2f}x)")
    result = run_child(__file__, [*common, "--child", "reconstruction"])
    print(f"reconstruction: {result['images_per_s']:.2f} images/s on {result['device']} ({result['what']})")


if __name__ == "__main__":
    main()
