"""Transformer encoder training throughput and memory at NSD scale, beside ridge on the same data.

NSD scale: 9,000 training images, 257 tokens x 768 (ViT-B/16), 15,000 voxels in
16 query groups (NSD streams x hemispheres). The transformer (voxelflow's
default config) runs `--steps` optimisation steps of batch 32 on random tokens:
images/s and the implied time per epoch are printed. Ridge (bench_ridge.py's
setup: pooled 768-d features, 10 alphas, 5 folds) is fitted on the same number
of images and voxels in the same run. Each runs in its own process; peak
resident memory is reported for both.

Usage: python benchmarks/bench_transformer.py [--steps 10] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_ridge import make_data, run_method  # noqa: E402
from child_process import run_child  # noqa: E402
from training_steps import time_loss_steps  # noqa: E402


def transformer_throughput(steps: int, batch: int, n_voxels: int, device: str) -> dict:
    import torch

    from voxelflow.devices import resolve_device
    from voxelflow.encoders.transformer import BrainTransformer, TransformerConfig

    cfg = TransformerConfig()
    dev = resolve_device(device)
    groups = np.random.default_rng(0).integers(0, 16, n_voxels)
    model = BrainTransformer(257, 768, groups, 16, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.queries_per_roi,
                             cfg.dropout).to(dev)
    tokens = torch.randn(batch, 257, 768, device=dev)
    targets = torch.randn(batch, n_voxels, device=dev)
    result = time_loss_steps(lambda: torch.mean((model(tokens) - targets) ** 2), model.parameters(), steps, dev,
                             lr=cfg.lr)
    result.update({"images_per_s": steps * batch / result["seconds"], "device": str(dev),
                   "config": f"d_model {cfg.d_model}, {cfg.n_layers} layer, {cfg.n_heads} heads, batch {batch}"})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=int, default=9000)
    parser.add_argument("--voxels", type=int, default=15000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "transformer":
            out = transformer_throughput(args.steps, args.batch, args.voxels, args.device)
        else:
            out = run_method(Path(args.child[1]), "voxelflow", args.images, args.device)
        print(json.dumps(out))
        return

    def child(*extra: str) -> dict:
        return run_child(__file__, ["--steps", str(args.steps), "--batch", str(args.batch), "--images",
                                    str(args.images), "--voxels", str(args.voxels), "--device", args.device,
                                    "--child", *extra])

    transformer = child("transformer")
    epoch_s = args.images / transformer["images_per_s"]
    print(f"transformer ({transformer['config']}, {transformer['device']}): {transformer['images_per_s']:.1f} "
          f"images/s -> {epoch_s:.0f} s per epoch of {args.images} images; peak RSS "
          f"{transformer['peak_rss_mib']:.0f} MiB" + (f", peak GPU {transformer['peak_gpu_mib']:.0f} MiB"
                                                        if "peak_gpu_mib" in transformer else ""))
    with tempfile.TemporaryDirectory() as tmp:
        make_data(Path(tmp), args.images, 1000, 768, args.voxels)
        ridge = child("ridge", tmp)
    print(f"ridge (pooled 768-d, 10 alphas, 5 folds): fit {ridge['seconds']:.1f} s; peak RSS "
          f"{ridge['peak_rss_mib']:.0f} MiB")
    print(f"one transformer epoch / one ridge fit: {epoch_s / ridge['seconds']:.2f}")


if __name__ == "__main__":
    main()
