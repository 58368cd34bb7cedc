"""Voxelwise ridge at NSD scale: voxelflow's RidgeEncoder (himalaya, K-fold CV) vs scikit-learn's RidgeCV.

Data: 9,000 training and 1,000 test images x 768 features x 15,000 voxels,
planted linear responses with per-voxel noise (SNR from 0.05 to 2), 10 alphas.
voxelflow: 5-fold CV, one alpha per voxel (torch backend; torch_cuda on a GPU).
scikit-learn: RidgeCV(alphas, alpha_per_target=True), its efficient
leave-one-out path (alpha_per_target needs cv=None). Each runs in its own
process on the same data; printed: fit time and ratio, median test r of both and
their difference (goal: under 0.005), and peak resident memory.
Goals: faster than scikit-learn on the CPU; >= 10x faster on a GPU.

Usage: python benchmarks/bench_ridge.py [--voxels 15000] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from child_process import run_child

ALPHAS = np.logspace(-1, 8, 10)


def make_data(folder: Path, n_train: int, n_test: int, n_features: int, n_voxels: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_train + n_test, n_features), dtype=np.float32)
    snr = np.exp(rng.uniform(np.log(0.05), np.log(2.0), n_voxels)).astype(np.float32)
    Y = np.empty((len(X), n_voxels), dtype=np.float32)
    for start in range(0, n_voxels, 2000):
        stop = min(start + 2000, n_voxels)
        W = rng.standard_normal((n_features, stop - start), dtype=np.float32) / np.sqrt(n_features)
        signal = X @ W
        Y[:, start:stop] = snr[start:stop] * signal / signal.std(0) + rng.standard_normal(signal.shape,
                                                                                            dtype=np.float32)
    np.save(folder / "X.npy", X)
    np.save(folder / "Y.npy", Y)


def run_method(folder: Path, method: str, n_train: int, device: str) -> dict:
    X, Y = np.load(folder / "X.npy"), np.load(folder / "Y.npy")
    Xtr, Xte, Ytr, Yte = X[:n_train], X[n_train:], Y[:n_train], Y[n_train:]
    from voxelflow.encoding_metrics import pearson_r

    start = time.perf_counter()
    if method == "voxelflow":
        from voxelflow.encoders.ridge import RidgeEncoder

        model = RidgeEncoder(alphas=tuple(ALPHAS), cv=5, device=device).fit(Xtr, Ytr)
        predicted = model.predict(Xte)
    else:
        from sklearn.linear_model import RidgeCV
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(Xtr)
        model = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(scaler.transform(Xtr), Ytr)
        predicted = model.predict(scaler.transform(Xte))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "median_r": float(np.median(pearson_r(predicted, Yte))),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=9000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--features", type=int, default=768)
    parser.add_argument("--voxels", type=int, default=15000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_method(Path(args.child[0]), args.child[1], args.train, args.device)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        make_data(Path(tmp), args.train, args.test, args.features, args.voxels)
        print(f"{args.train} train / {args.test} test images x {args.features} features x {args.voxels} voxels, "
              f"{len(ALPHAS)} alphas")
        results = {}
        for method in ("voxelflow", "sklearn"):
            results[method] = run_child(__file__, ["--child", tmp, method, "--train", str(args.train),
                                                   "--device", args.device])
    ours, theirs = results["voxelflow"], results["sklearn"]
    for name, r in results.items():
        print(f"{name:10} fit+predict {r['seconds']:8.1f} s   median test r {r['median_r']:.4f}   "
              f"peak RSS {r['peak_rss_mib']:8.0f} MiB")
    print(f"time ratio sklearn / voxelflow: {theirs['seconds'] / ours['seconds']:.2f}x "
          f"(goal > 1 on the CPU, >= 10 on a GPU); device {args.device}")
    print(f"median r difference: {abs(ours['median_r'] - theirs['median_r']):.4f} (goal < 0.005)")


if __name__ == "__main__":
    main()
