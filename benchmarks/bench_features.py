"""Feature extraction at NSD scale: the whole streaming extraction against a bare forward pass of the same model.

Models: architecture-true, randomly initialised (the same compute as the real ones): open_clip ViT-B/16 (224 px,
197 tokens), timm DINOv2 ViT-B/14 at 434 px (961 patch tokens + the class token, as the transformer brain encoder
used), torchvision ResNet-50 at layer4 (7 x 7 positions). Images: NSD-sized (425 x 425 RGB) in an HDF5 brick.
Per model, each in its own process: images/s of a bare forward pass (preprocessing + model, images already in
memory, nothing written) and of `extract_features` (read from the brick, forward, tokens reduced, written to HDF5,
chunked and compressed) for each token option (all, grid 8 x 8, PCA 256), the ratio
(goal >= 0.9; the PCA option also pays its fitting pass over a tenth of the images, as 1,000 of a subject's 9,000
training images would), peak memory, and bytes per image on disk. Printed last: an extrapolation to NSD's 73,000 images
(and 80,000 rows: the shared 1,000 once per subject), from these measurements, stated as such.

Usage: python benchmarks/bench_features.py [--images 64] [--batch 16] [--device auto] [--models vit,dino,resnet]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from child_process import run_child

MODELS = {
    "vit": ("open_clip ViT-B/16", {"type": "open_clip", "model": "ViT-B-16"}),
    "dino": ("timm DINOv2 ViT-B/14 434 px", {"type": "timm", "model": "vit_base_patch14_dinov2",
                                             "model_args": {"img_size": 434}}),
    "resnet": ("torchvision ResNet-50 layer4", {"type": "torchvision", "model": "resnet50", "layer": "layer4"}),
}
OPTIONS = {"all": None, "grid 8x8": {"grid": 8}, "pca 256": {"pca": 256}}
NSD_IMAGES, NSD_ROWS = 73_000, 80_000


def make_brick(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset("imgBrick", data=rng.integers(0, 256, (n, 425, 425, 3), dtype=np.uint8))


def _peak_memory_mib(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child_step(brick: Path, model: str, option: str, batch: int, device_name: str, out: Path) -> dict:
    import torch

    from voxelflow.devices import resolve_device
    from voxelflow.encoders.backbones import build_backbone
    from voxelflow.encoders.features import embed_layers, extract_features
    from voxelflow.encoders.token_reduction import TokenReduction

    device = resolve_device(device_name)
    backbone = build_backbone(model, MODELS[model][1]).to(device).eval()
    with h5py.File(brick) as f:
        images = f["imgBrick"][()]
    ids = np.arange(len(images))

    def forward(batch_images):
        embed_layers(backbone, batch_images, device)
        if device.type == "cuda":
            torch.cuda.synchronize()

    forward(images[:batch])  # warm-up: first allocations and kernel choices, for both measurements
    start = time.perf_counter()
    if option == "bare":
        for lo in range(0, len(images), batch):
            forward(images[lo:lo + batch])
        result = {}
    else:
        extract_features(backbone, brick, ids, out, batch_size=batch, device=device_name,
                         fit_image_ids=ids[:max(1, len(ids) // 10)],  # NSD: 1,000 of a subject's 9,000 training images
                         reduction=TokenReduction.from_spec(OPTIONS[option], "bench"))
        with h5py.File(out) as f:
            result = {"tokens_shape": list(f["tokens"].shape[1:])}
        result["bytes_per_image"] = out.stat().st_size / len(ids)
    seconds = time.perf_counter() - start
    return {**result, "images_per_s": len(ids) / seconds, "peak_mib": _peak_memory_mib(device),
            "device": str(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64, help="images per measurement (a GPU: 1024)")
    parser.add_argument("--batch", type=int, default=16, help="images per batch (a GPU: 64)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--child", nargs=4, metavar=("BRICK", "MODEL", "OPTION", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        brick, model, option, out = args.child
        print(json.dumps(run_child_step(Path(brick), model, option, args.batch, args.device, Path(out))))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        brick = Path(tmp) / "brick.hdf5"
        make_brick(brick, args.images)
        for model in args.models.split(","):
            common = ["--batch", str(args.batch), "--device", args.device]
            bare = run_child(__file__, ["--child", str(brick), model, "bare", "-", *common])
            for option in OPTIONS:
                out = Path(tmp) / f"{model}-{option.split()[0]}.h5"
                step = run_child(__file__, ["--child", str(brick), model, option, str(out), *common])
                rows.append((model, option, bare, step))
                out.unlink()
    device = rows[0][2]["device"]
    print(f"{args.images} NSD-sized images, batches of {args.batch}, on {device}; random weights, real architectures")
    print(f"{'model':30} {'tokens':9} {'bare img/s':>10} {'extract img/s':>13} {'ratio':>6} {'stored (t, d)':>14} "
          f"{'KiB/image':>10} {'peak MiB':>9}")
    for model, option, bare, step in rows:
        print(f"{MODELS[model][0]:30} {option:9} {bare['images_per_s']:10.2f} {step['images_per_s']:13.2f} "
              f"{step['images_per_s'] / bare['images_per_s']:6.2f} {str(tuple(step['tokens_shape'])):>14} "
              f"{step['bytes_per_image'] / 1024:10.1f} {step['peak_mib']:9.0f}")
    print("goal: extract / bare >= 0.9 (PCA: with its fitting pass over a tenth of the images)")
    print(f"Extrapolation to NSD (not measured: {NSD_IMAGES:,} images at the rates above; disk for {NSD_ROWS:,} "
          "rows, the per-subject files holding the shared images once per subject):")
    for model, option, bare, step in rows:
        hours = NSD_IMAGES / step["images_per_s"] / 3600
        print(f"  {MODELS[model][0]:30} {option:9} {hours:8.1f} h on {device}   "
              f"{step['bytes_per_image'] * NSD_ROWS / 2**30:7.1f} GiB")


if __name__ == "__main__":
    main()
