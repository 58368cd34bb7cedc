"""In-context encoder at NSD scale: voxel models for every voxel of a new subject from k context images,
against voxelwise ridge (RidgeEncoder, 5-fold CV per voxel) on the same k images, in one run.

Data: 15,000 voxels, 512-dimensional embeddings (CLIP ViT-B), k = 100 and 1,000 context images, planted
linear responses; the network is randomly initialised at the configured size (timing does not depend on
its weights). Each (method, k) runs in its own process so that peak resident memory is its own.
Printed: seconds, ratio in-context / ridge, peak RSS (GiB).

Usage: python benchmarks/bench_in_context.py [--voxels 15000] [--ks 100 1000] [--width 64] [--layers 2]
       [--device auto]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
from child_process import run_child


def run(method: str, k: int, args) -> dict:
    import torch

    from voxelflow.devices import resolve_device

    rng = np.random.default_rng(0)
    X = rng.standard_normal((k, args.features), dtype=np.float32)
    W = rng.standard_normal((args.features, args.voxels), dtype=np.float32) / np.sqrt(args.features)
    Y = X @ W + rng.standard_normal((k, args.voxels), dtype=np.float32)
    device = resolve_device(args.device)
    start = time.perf_counter()
    if method == "in-context":
        from voxelflow.encoders.in_context import HyperweightNetwork, InContextConfig, InContextEncoder

        config = InContextConfig(width=args.width, n_layers=args.layers, n_heads=max(1, args.width // 16))
        encoder = InContextEncoder(config, device=args.device)
        encoder.network_ = HyperweightNetwork(args.features, config).to(device).eval()
        encoder.feature_mean_ = np.zeros(args.features, np.float32)
        encoder.feature_scale_ = np.full(args.features, np.sqrt(args.features), np.float32)
        encoder.predict_voxel_models(X, Y)
    else:
        from voxelflow.encoders.ridge import RidgeEncoder

        RidgeEncoder(alphas=tuple(np.logspace(-1, 8, 10)), cv=5, device=args.device).fit(X, Y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    gpu = torch.cuda.max_memory_allocated() / 2 ** 30 if device.type == "cuda" else 0.0
    return {"seconds": seconds, "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
            "gpu_gib": gpu, "device": str(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxels", type=int, default=15000)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--ks", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.child[0], int(args.child[1]), args)))
        return
    print(f"{args.voxels} voxels, {args.features}-d embeddings, network width {args.width} x {args.layers} blocks")
    for k in args.ks:
        results = {}
        for method in ("ridge", "in-context"):
            results[method] = run_child(__file__, ["--child", method, str(k)] + [
                f"--{name}={getattr(args, name)}" for name in ("voxels", "features", "width", "layers", "device")])
        ic, ridge = results["in-context"], results["ridge"]
        print(f"k = {k:5d}: in-context {ic['seconds']:7.1f} s (peak RSS {ic['rss_gib']:.2f} GiB, GPU "
              f"{ic['gpu_gib']:.2f} GiB) | ridge {ridge['seconds']:7.1f} s (peak RSS {ridge['rss_gib']:.2f} GiB) | "
              f"ratio in-context / ridge {ic['seconds'] / ridge['seconds']:.2f} | device {ic['device']}")


if __name__ == "__main__":
    main()
